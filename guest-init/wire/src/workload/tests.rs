//! Model tests: serde forms, defaults, names and validation, no processes.

use super::*;

fn config(groups: Vec<WorkSpec>) -> WorkloadConfig {
    WorkloadConfig {
        duration_ms: 0,
        groups,
    }
}

#[test]
fn minimal_spec_json_is_valid() {
    let spec: WorkSpec = serde_json::from_str(r#"{"work_type":{"type":"spin_wait"}}"#).unwrap();
    assert_eq!(spec, WorkSpec::default());
    let err = serde_json::from_str::<WorkSpec>(r#"{"work_type":{"type":"spin_wait"},"x":1}"#);
    assert!(err.is_err(), "unknown fields are rejected");
}

#[test]
fn a_full_spec_round_trips_through_json() {
    let spec = WorkSpec {
        cgroup: "a/b".into(),
        work_type: WorkType::Sequence {
            phases: vec![Phase::Spin { ms: 1 }, Phase::Io { ms: 2 }],
        },
        workers: Some(4),
        affinity: AffinityIntent::Llc { index: 1 },
        policy: SchedPolicy::Deadline {
            runtime_ns: 1,
            deadline_ns: 2,
            period_ns: 3,
        },
        nice: Some(-5),
        mem_policy: MemPolicy::Interleave { nodes: vec![0, 1] },
        mpol_flags: MpolFlags {
            static_nodes: true,
            ..MpolFlags::default()
        },
        clone_mode: CloneMode::Thread,
        seed: 42,
    };
    let json = serde_json::to_string(&spec).unwrap();
    assert_eq!(
        serde_json::from_str::<WorkSpec>(&json).unwrap(),
        spec,
        "{json}"
    );
    let bursty: WorkType = serde_json::from_str(r#"{"type":"bursty","sleep_us":7}"#).unwrap();
    assert_eq!(
        bursty,
        WorkType::Bursty {
            burst_us: 1000,
            sleep_us: 7
        }
    );
}

#[test]
fn validation_names_the_problem() {
    let cases: Vec<(WorkSpec, &str)> = vec![
        (
            WorkSpec::new(WorkType::FutexFanOut { fan_out: 4 }).workers(6),
            "multiple of the group size 5",
        ),
        (
            WorkSpec {
                nice: Some(25),
                ..WorkSpec::default()
            },
            "nice 25",
        ),
        (
            WorkSpec {
                cgroup: "../escape".into(),
                ..WorkSpec::default()
            },
            "without '..'",
        ),
        (
            WorkSpec::new(WorkType::CachePressure {
                size_kib: 4,
                stride: 1,
            })
            .workers(1),
            "stride",
        ),
        (
            WorkSpec::new(WorkType::Sequence { phases: vec![] }).workers(1),
            "phases must not be empty",
        ),
    ];
    for (spec, want) in cases {
        let err = config(vec![spec])
            .validate_for_cpus(4)
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "{err:?} should mention {want:?}");
    }
    // One worker per CPU: only the real CPU count can tell.
    let per_cpu = config(vec![WorkSpec::new(WorkType::PipeIo)]);
    assert!(per_cpu.validate().is_ok());
    assert!(per_cpu.validate_for_cpus(3).is_err());
    assert!(per_cpu.validate_for_cpus(4).is_ok());
    assert!(config(vec![WorkSpec::new(WorkType::PipeIo).workers(4)])
        .validate_for_cpus(4)
        .is_ok());
}

#[test]
fn camel_case_names_as_ktstr_writes_them() {
    let cases: &[(&str, &str)] = &[
        ("PipeIo", "pipe_io"),
        ("pipe_io", "pipe_io"),
        ("pipe-io", "pipe_io"),
        ("SpinWait", "spin_wait"),
        ("SPIN_WAIT", "spin_wait"),
        ("IoSyncWrite", "io_sync_write"),
        ("NumaWorkingSetSweep", "numa_working_set_sweep"),
    ];
    for (name, want) in cases {
        assert_eq!(
            WorkType::from_name(name).map(|w| w.name()),
            Ok(*want),
            "{name}"
        );
    }
    assert!(WorkType::from_name("PipeIoo").is_err());
    let wt: WorkType = serde_json::from_str(r#"{"type":"FutexFanOut","fan_out":2}"#).unwrap();
    assert_eq!(wt, WorkType::FutexFanOut { fan_out: 2 });
    for name in ALL_NAMES {
        let camel: String = name
            .split('_')
            .map(|w| w[..1].to_uppercase() + &w[1..])
            .collect();
        let json = format!(r#"{{"type":"{camel}"}}"#);
        let from_file: WorkType = serde_json::from_str(&json).unwrap();
        assert_eq!(from_file.name(), *name, "{camel}");
        assert_eq!(WorkType::from_name(&camel).unwrap().name(), *name);
    }
}
