//! Plan checks that need no kernel.

use super::*;

#[test]
fn boot_header_check() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad");
    std::fs::write(&bad, b"not a kernel").unwrap();
    assert!(matches!(
        check_boot_header(&bad),
        Err(PlanError::NotAKernel { .. })
    ));
    let good = dir.path().join("good");
    let mut bytes = vec![0u8; 0x300];
    bytes[0x202..0x206].copy_from_slice(b"HdrS");
    std::fs::write(&good, bytes).unwrap();
    assert!(check_boot_header(&good).is_ok());
    assert!(check_boot_header(&dir.path().join("missing")).is_err());
}

#[test]
fn timeout_grows_with_vcpus_and_duration() {
    let d = |v, secs| {
        default_timeout(
            true,
            v,
            Duration::from_secs(secs),
            Duration::from_secs(30),
            Duration::from_secs(3),
        )
    };
    assert!(d(64, 5) > d(2, 5));
    assert!(d(2, 60) > d(2, 5));
}

#[test]
fn a_workload_run_must_test_something() {
    let groups = |n: usize, ms: u64| WorkloadConfig {
        duration_ms: ms,
        groups: vec![WorkSpec::default(); n],
    };
    let ok = |mode: &Mode, w: &WorkloadConfig| check_tests_something(mode, w, &[], &[]).is_ok();
    assert!(ok(&Mode::Workload, &groups(1, 5000)));
    assert!(
        !ok(&Mode::Workload, &groups(0, 5000)),
        "--workers 0, no payload"
    );
    assert!(!ok(&Mode::Workload, &groups(1, 0)), "--duration 0s");
    // exec and shell run no workers on purpose.
    assert!(ok(&Mode::Shell, &groups(0, 1000)));
    let exec = Mode::Exec {
        command: vec!["true".into()],
        timeout: Duration::from_secs(1),
    };
    assert!(ok(&exec, &groups(0, 3000)));
}
