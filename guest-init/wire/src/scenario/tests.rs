use super::*;
use crate::suggest;
use crate::topology::{NumaNode, Topology};

/// 2 nodes x 2 LLCs x 2 CPUs: llcs 0-1, 2-3, 4-5, 6-7; nodes 0-3, 4-7.
fn topo() -> Topology {
    let node = |id, cpus: Vec<u32>| NumaNode {
        id,
        cpus,
        distances: vec![10, 20],
        memory_mib: None,
    };
    Topology {
        cpus: (0..8).collect(),
        nodes: vec![node(0, (0..4).collect()), node(1, (4..8).collect())],
        llcs: vec![vec![0, 1], vec![2, 3], vec![4, 5], vec![6, 7]],
        cores: (0..8).map(|c| vec![c]).collect(),
    }
}

fn r(spec: &str) -> Result<Vec<u32>, CpusetError> {
    spec.parse::<CpusetSpec>().unwrap().resolve(&topo())
}

#[test]
fn cpuset_specs_resolve_against_the_topology() {
    let cases: &[(&str, &[u32])] = &[
        ("llc(1)", &[2, 3]),
        ("numa(1)", &[4, 5, 6, 7]),
        ("range(0, 0.5)", &[0, 1, 2, 3]),
        ("range(0.25, 1)", &[2, 3, 4, 5, 6, 7]),
        ("range(0.9, 1)", &[7]),
        ("disjoint(0, 2)", &[0, 1, 2, 3]),
        ("disjoint(2, 3)", &[4, 5, 6, 7]),
        ("overlap(0, 2, 0.5)", &[0, 1, 2, 3, 4, 5]),
        ("overlap(1, 2, 0.5)", &[0, 1, 4, 5, 6, 7]),
        ("overlap(1, 4, 0)", &[2, 3]),
        ("0-2,6", &[0, 1, 2, 6]),
    ];
    for (spec, want) in cases {
        assert_eq!(r(spec).as_deref(), Ok(*want), "{spec}");
    }
}

#[test]
fn cpuset_specs_name_what_is_missing() {
    assert_eq!(
        r("llc(4)"),
        Err(CpusetError::NoSuchLlc { index: 4, count: 4 })
    );
    assert!(matches!(
        r("numa(2)"),
        Err(CpusetError::NoSuchNode { node: 2, .. })
    ));
    assert!(matches!(
        r("range(0.5, 0.5)"),
        Err(CpusetError::BadRange { .. })
    ));
    assert!(matches!(
        r("disjoint(2, 2)"),
        Err(CpusetError::BadPart { .. })
    ));
    assert!(matches!(
        r("disjoint(0, 9)"),
        Err(CpusetError::BadPart { .. })
    ));
    assert!(matches!(
        r("overlap(0, 2, 1.5)"),
        Err(CpusetError::BadFrac { .. })
    ));
    let off = r("7-9").unwrap_err();
    assert_eq!(
        off.to_string(),
        "CPU(s) 8-9 are not online; online CPUs are 0-7"
    );
}

#[test]
fn cpuset_text_errors_suggest_the_kind() {
    let e = "lcc(0)".parse::<CpusetSpec>().unwrap_err();
    assert!(e.contains("did you mean \"llc\"?"), "{e}");
    assert!("llc(0, 1)"
        .parse::<CpusetSpec>()
        .unwrap_err()
        .contains("takes one index"));
    assert!("llc(0"
        .parse::<CpusetSpec>()
        .unwrap_err()
        .contains("missing ')'"));
    assert!("x-y".parse::<CpusetSpec>().is_err());
}

#[test]
fn cpuset_string_and_table_forms_read_the_same() {
    #[derive(serde::Deserialize)]
    struct W {
        c: CpusetSpec,
    }
    let read = |json: &str| serde_json::from_str::<W>(json).map(|w| w.c);
    assert_eq!(read(r#"{"c": "llc(1)"}"#).unwrap(), CpusetSpec::Llc(1));
    assert_eq!(read(r#"{"c": {"llc": 1}}"#).unwrap(), CpusetSpec::Llc(1));
    assert_eq!(
        read(r#"{"c": [1, 3]}"#).unwrap(),
        CpusetSpec::Cpus(vec![1, 3])
    );
    assert_eq!(
        read(r#"{"c": {"overlap": {"index": 0, "of": 2, "frac": 0.5}}}"#).unwrap(),
        CpusetSpec::Overlap {
            index: 0,
            of: 2,
            frac: 0.5
        }
    );
    assert!(read(r#"{"c": {"lcc": 1}}"#)
        .unwrap_err()
        .to_string()
        .contains("unknown variant"));
    // Serialized as text, read back equal.
    for spec in [
        "llc(1)",
        "numa(0)",
        "range(0.25, 0.75)",
        "disjoint(1, 3)",
        "overlap(0, 2, 0.5)",
        "0-3,6",
    ] {
        let c: CpusetSpec = spec.parse().unwrap();
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(
            serde_json::from_str::<CpusetSpec>(&json).unwrap(),
            c,
            "{spec}"
        );
    }
}

#[test]
fn scenario_spec_round_trips_on_the_wire() {
    let spec: ScenarioSpec = serde_json::from_str(
        r#"{"name": "x", "duration": 3000,
            "cgroups": [{"name": "a", "cpuset": "llc(0)", "workers": [{"work_type": {"type": "spin_wait"}, "workers": 2}]}],
            "steps": [{"hold": "1s", "ops": [
                {"op": "set_cpuset", "cgroup": "a", "cpuset": {"llc": 1}},
                {"op": "add_cgroup", "name": "b", "workers": []},
                {"op": "move_tasks", "from": "a", "to": "b"},
                {"op": "restart_scheduler"}]}]}"#,
    )
    .unwrap();
    assert_eq!(spec.steps[0].ops.len(), 4);
    assert_eq!(spec.run_ms(), 3000);
    assert!(spec.steps[0].ops[3].is_scheduler_op());
    let back: ScenarioSpec = serde_json::from_str(&serde_json::to_string(&spec).unwrap()).unwrap();
    assert_eq!(back, spec);
    let names: Vec<&str> = spec.steps[0].ops.iter().map(Op::name).collect();
    assert!(names.iter().all(|n| model::OP_NAMES.contains(n)));
}

#[test]
fn suggestions_only_for_close_names() {
    assert_eq!(
        suggest("set_cpusett", model::OP_NAMES),
        " (did you mean \"set_cpuset\"?)"
    );
    assert_eq!(suggest("zzz", model::OP_NAMES), "");
}

#[test]
fn scenario_events_round_trip_inside_guest_messages() {
    let ev = ScenarioEvent {
        scenario: 1,
        mark: Mark::Step {
            index: 0,
            ops: vec!["set_cpuset".into()],
            apply_ns: 5,
            sched: false,
        },
        mono_ns: 7,
        uptime_ms: 9,
        allowed: vec![GroupCpus {
            group: 0,
            cpus: vec![0, 1],
        }],
        frozen: vec![0],
        errors: vec![],
    };
    let msg = crate::GuestMsg::Scenario(Box::new(ev));
    let json = serde_json::to_string(&msg).unwrap();
    assert_eq!(serde_json::from_str::<crate::GuestMsg>(&json).unwrap(), msg);
}
