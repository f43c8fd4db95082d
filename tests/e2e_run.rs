//! End-to-end: `ktstr-vm run` boots the cached kernel under TCG with real
//! schedulers from the kernel tree and checks the verdicts.

mod common;

use common::*;

#[test]
fn headline_usage_exactly_as_written() {
    let k = kernel_path();
    let out = ktstr(&["--kernel", &k, "--scheduler", "scx_simple"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("PASS") && stdout.contains("ops simple"),
        "{stdout}"
    );
}

#[test]
fn eevdf_run_passes_with_one_report_per_vcpu() {
    let k = kernel_path();
    let (code, r) = run_json(
        "eevdf",
        &["--kernel", &k, "--duration", "2s", "--cpus", "2"],
    );
    assert_eq!(code, 0, "{r:#}");
    assert!(r["scheduler"].is_null());
    let workers = r["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 2);
    assert!(workers
        .iter()
        .all(|w| w["work_units"].as_u64().unwrap() > 0));
}

#[test]
fn scx_simple_reports_ops_and_workers() {
    let k = kernel_path();
    let (code, r) = run_json(
        "simple",
        &[
            "--kernel",
            &k,
            "-s",
            "scx_simple",
            "--duration",
            "2s",
            "--workers",
            "3",
        ],
    );
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(r["scheduler"]["ops"], "simple");
    let workers = r["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 3);
    for w in workers {
        assert!(w["work_units"].as_u64().unwrap() > 0, "{w}");
        assert!(w["cpu_time_ns"].as_u64().unwrap() > 0, "{w}");
    }
    let points: Vec<&str> = r["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["point"].as_str().unwrap())
        .collect();
    for p in [
        "qemu_started",
        "init",
        "scheduler_attached",
        "workload_started",
        "workload_stopped",
        "powering_off",
        "qemu_exited",
    ] {
        assert!(points.contains(&p), "timeline lacks {p}: {points:?}");
    }
}

#[test]
fn scx_flatcg_passes() {
    let k = kernel_path();
    let (code, r) = run_json(
        "flatcg",
        &["--kernel", &k, "-s", "scx_flatcg", "--duration", "2s"],
    );
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(r["scheduler"]["ops"], "flatcg");
}

/// scx_central on 6.12: its init must run on the central CPU, but the
/// kernel calls it from a helper thread on whichever CPU that lands on.
/// So it attaches on some boots and is disabled on others; either way
/// the verdict must say exactly which, and a failure quotes its reason.
#[test]
fn scx_central_attaches_or_fails_to_load_with_its_own_error() {
    let k = kernel_path();
    let (code, r) = run_json(
        "central",
        &["--kernel", &k, "-s", "scx_central", "--duration", "2s"],
    );
    if code == 0 {
        assert_eq!(r["scheduler"]["ops"], "central", "{r:#}");
        assert_eq!(classes(&r), Vec::<String>::new(), "{r:#}");
        return;
    }
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(classes(&r)[0], "scheduler-load-failed", "{r:#}");
    let f = &r["findings"][0];
    let text = format!("{} {}", f["message"], f["evidence"]);
    assert!(
        text.contains("central") && text.contains("init from non-central CPU"),
        "the finding should quote the scheduler's reason: {text}"
    );
}

#[test]
fn scheduler_arguments_reach_it_intact() {
    // busybox's sh prints each argument in brackets: a shell in between
    // would split "a b" or eat the quotes.
    let k = kernel_path();
    let dir = artifacts("args");
    let out = ktstr(&[
        "run",
        "--kernel",
        &k,
        "--artifacts",
        dir.to_str().unwrap(),
        "--attach-timeout",
        "3s",
        "-s",
        "/bin/busybox",
        "--",
        "sh",
        "-c",
        "printf '<%s>' \"$@\"; echo; exit 3",
        "argv0",
        "a b",
        "c \"d\"",
        "$HOME",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let log = std::fs::read_to_string(dir.join("scheduler.log")).unwrap();
    assert!(log.contains("<a b><c \"d\"><$HOME>"), "{log}");
}

#[test]
fn missing_scheduler_cannot_test() {
    let k = kernel_path();
    let out = ktstr(&["--kernel", &k, "--scheduler", "/nonexistent/scx_nope"]);
    assert_eq!(out.status.code(), Some(125));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("scx_nope") && err.contains("does not exist"),
        "{err}"
    );
    let out = ktstr(&["--kernel", &k, "--scheduler", "/etc/passwd"]);
    assert_eq!(out.status.code(), Some(125));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/etc/passwd is not an ELF binary"), "{err}");
    let out = ktstr(&["--kernel", &k, "--scheduler", "scx_simpel"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains("did you mean \"scx_simple\""));
}

#[test]
fn not_a_kernel_is_a_clear_error() {
    let out = ktstr(&["--kernel", "/etc/passwd"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a bootable x86 kernel image"));
    let out = ktstr(&["--kernel", "/nonexistent/bzImage"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/bzImage"));
}

/// An artifacts directory that cannot be made is the environment's fault
/// (131), named before anything boots. (A full disk names the file it
/// could not write: see the closing note of issue 14 for the tmpfs check.)
#[test]
fn an_artifacts_directory_that_cannot_be_made_is_named() {
    let k = kernel_path();
    let file = tempfile::NamedTempFile::new().unwrap();
    let under_a_file = file.path().join("artifacts");
    let out = ktstr(&[
        "--kernel",
        &k,
        "--artifacts",
        under_a_file.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(131), "{err}");
    assert!(
        err.contains(&format!(
            "creating artifact directory {}",
            under_a_file.display()
        )),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn usage_errors_abort_a_bisect() {
    let out = ktstr(&["--duration", "ten"]);
    assert_eq!(out.status.code(), Some(129));
    let out = ktstr(&["--topology", "3n4l2c1t"]);
    assert_eq!(out.status.code(), Some(129));
}

#[test]
fn a_run_that_tests_nothing_or_asserts_nonsense_is_a_usage_error() {
    let k = kernel_path();
    let cases: &[(&[&str], &str)] = &[
        (&["--workers", "0"], "tests nothing"),
        (&["--duration", "0s"], "tests nothing"),
        (
            &["--assert", "max_gapp_ms=5"],
            "did you mean \"max_gap_ms\"",
        ),
        (&["--assert", "max_gap_ms"], "KEY=VALUE"),
    ];
    for (args, want) in cases {
        let mut all = vec!["--kernel", k.as_str()];
        all.extend_from_slice(args);
        let out = ktstr(&all);
        assert_eq!(out.status.code(), Some(129), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{args:?}: {err}");
    }
}

#[test]
fn ctrl_c_kills_qemu_and_keeps_artifacts() {
    let k = kernel_path();
    let dir = artifacts("interrupt");
    let child = bin()
        .args([
            "run",
            "--kernel",
            &k,
            "--duration",
            "30s",
            "--artifacts",
            dir.to_str().unwrap(),
        ])
        .spawn()
        .unwrap();
    let child_pid = child.id();
    let pid = nix::unistd::Pid::from_raw(child_pid as i32);
    // Wait until the guest is up, so QEMU certainly runs.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !std::fs::read_to_string(dir.join("guest.jsonl"))
        .unwrap_or_default()
        .contains("workload_started")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "guest never started its workload"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // Its QEMU is found by the run's scratch directory (its sockets).
    let qemus = || qemus_of(child_pid).len();
    assert_eq!(qemus(), 1, "the run's QEMU, found by its scratch directory");
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    let result: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("result.json")).unwrap()).unwrap();
    assert_eq!(classes(&result), ["interrupted"]);
    assert_eq!(qemus(), 0, "QEMU left behind");
}
