//! The scenario ops the canned scenarios do not use, in one boot under
//! scx_simple: freeze/unfreeze, swap_cpusets, spawn_workers,
//! stop_workers and restart_scheduler. The run must pass, and each op
//! must be seen to have taken effect in the worker reports
//! (`result.json`) and in the guest's scenario marks (`guest.jsonl`).
//! And the other side: a scheduler the kernel kicks out mid-scenario is
//! one finding, not a pile of assertion failures about its last moments.

mod common;

use common::{kernel_path, run_json};
use serde_json::Value;

/// 4 vCPUs: llc(0) = CPUs 0-1, llc(1) = CPUs 2-3.
const SCENARIO: &str = r#"
description = "freeze/unfreeze, swap_cpusets, spawn/stop workers, restart_scheduler"
topology = "1n2l2c1t"

[[cgroups]]
name = "a"
cpuset = "llc(0)"
workers = [{ work_type = { type = "spin_wait" }, workers = 2 }]

[[cgroups]]
name = "b"
cpuset = "llc(1)"
workers = [{ work_type = { type = "spin_wait" }, workers = 2 }]

[[cgroups]]
name = "f"
workers = [{ work_type = { type = "spin_wait" }, workers = 1 }]

[[cgroups]]
name = "extra"

[[steps]]
hold = "1s"

[[steps]]
hold = "2s"
ops = [
  { op = "freeze", cgroup = "f" },
  { op = "swap_cpusets", a = "a", b = "b" },
  { op = "spawn_workers", cgroup = "extra", workers = [{ work_type = { type = "spin_wait" }, workers = 2 }] },
]

[[steps]]
hold = "2s"
ops = [
  { op = "unfreeze", cgroup = "f" },
  { op = "stop_workers", cgroup = "extra" },
  { op = "restart_scheduler" },
]
"#;

const FREEZE_NS: u64 = 2_000_000_000;

fn reports_in<'a>(scenario: &'a Value, cgroup: &str) -> Vec<&'a Value> {
    scenario["reports"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["cgroup"] == cgroup)
        .collect()
}

fn u64_of(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// The guest's messages, in order.
fn guest_stream(artifacts: &str) -> Vec<Value> {
    std::fs::read_to_string(std::path::Path::new(artifacts).join("guest.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The scenario's `step` mark with this index.
fn step_mark(stream: &[Value], index: u64) -> &Value {
    stream
        .iter()
        .find(|m| {
            m["type"] == "scenario" && m["mark"]["kind"] == "step" && m["mark"]["index"] == index
        })
        .unwrap_or_else(|| panic!("no mark for step {index}"))
}

fn allowed_of(mark: &Value, group: u64) -> Vec<u64> {
    mark["allowed"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["group"] == group)
        .map(|g| g["cpus"].as_array().unwrap().iter().map(u64_of).collect())
        .unwrap_or_else(|| panic!("group {group} not in {mark}"))
}

#[test]
fn every_remaining_op_takes_effect_under_scx_simple() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("scenario-files");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("ops.toml");
    std::fs::write(&file, SCENARIO).unwrap();
    let kernel = kernel_path();
    let (code, result) = run_json(
        "scenario-ops",
        &[
            "--kernel",
            &kernel,
            "-q",
            "--scheduler",
            "scx_simple",
            "--scenario",
            file.to_str().unwrap(),
        ],
    );
    let s = &result["scenarios"][0];
    assert_eq!(s["outcome"], "pass", "{s:#}");
    assert_eq!(s["problems"].as_array().unwrap().len(), 0, "{s:#}");
    assert_eq!(code, 0, "findings {:#}", result["findings"]);
    // 2 + 2 + 1 initial workers and 2 spawned ones, all reported.
    assert_eq!(s["workers"], 7, "{s:#}");

    // spawn_workers / stop_workers: the extra workers ran only during step
    // 1 (2 s), much shorter than the workers that lived through all 5 s.
    let extra = reports_in(s, "extra");
    let full = reports_in(s, "a");
    assert_eq!((extra.len(), full.len()), (2, 2));
    let full_wall = u64_of(&full[0]["wall_time_ns"]);
    for w in &extra {
        let wall = u64_of(&w["wall_time_ns"]);
        assert!(
            u64_of(&w["work_units"]) > 0,
            "a spawned worker did no work: {w}"
        );
        assert!(
            wall + 2_000_000_000 < full_wall,
            "stopped worker ran {wall} ns, a full one {full_wall} ns"
        );
        assert!(w["group"] != full[0]["group"]);
    }

    // freeze / unfreeze: the frozen worker did not run for about the
    // freeze (its longest gap), and ran again afterwards.
    let f = reports_in(s, "f");
    assert_eq!(f.len(), 1);
    let gap = u64_of(&f[0]["max_gap"]["len_ns"]);
    assert!(
        gap >= FREEZE_NS * 3 / 4,
        "frozen worker's longest gap is only {gap} ns"
    );
    assert!(
        u64_of(&f[0]["max_gap"]["at_ns"]) < u64_of(&f[0]["wall_time_ns"]),
        "never resumed"
    );

    // swap_cpusets: a's workers ran on llc(0), then on llc(1); b's the other way.
    for (cg, before, after) in [("a", [0, 1], [2, 3]), ("b", [2, 3], [0, 1])] {
        for w in reports_in(s, cg) {
            let used: Vec<u64> = w["cpus_used"]
                .as_array()
                .unwrap()
                .iter()
                .map(u64_of)
                .collect();
            assert!(
                used.iter().any(|c| before.contains(c)) && used.iter().any(|c| after.contains(c)),
                "cgroup {cg} worker ran only on {used:?}: the swap did not take effect"
            );
        }
    }

    // The guest's marks say the same, and restart_scheduler detached and
    // re-attached scx_simple (two attaches, one requested exit mid-run).
    let stream = guest_stream(result["artifacts"].as_str().unwrap());
    let (ga, gb, gf) = (
        u64_of(&full[0]["group"]),
        u64_of(&reports_in(s, "b")[0]["group"]),
        u64_of(&f[0]["group"]),
    );
    let step1 = step_mark(&stream, 1);
    assert_eq!(step1["frozen"], serde_json::json!([gf]), "{step1}");
    assert_eq!(
        (allowed_of(step1, ga), allowed_of(step1, gb)),
        (vec![2, 3], vec![0, 1])
    );
    let step2 = step_mark(&stream, 2);
    assert_eq!(step2["frozen"], serde_json::json!([]), "{step2}");
    assert_eq!(step2["mark"]["sched"], true, "{step2}");
    for m in [step1, step2] {
        assert_eq!(m["errors"].as_array().unwrap().len(), 0, "{m}");
    }
    let attached = stream
        .iter()
        .filter(|m| m["type"] == "scheduler_attached")
        .count();
    assert_eq!(
        attached, 2,
        "restart_scheduler must attach scx_simple a second time"
    );
    let first_exit = stream
        .iter()
        .position(|m| m["type"] == "scheduler_exited")
        .expect("the restart stopped the scheduler");
    assert_eq!(stream[first_exit]["requested"], true);
    let reattach = stream
        .iter()
        .rposition(|m| m["type"] == "scheduler_attached")
        .unwrap();
    assert!(
        first_exit < reattach,
        "the scheduler exited after its second attach, not before"
    );
}

/// Eight busy workers on 2 vCPUs make qmap enqueue about 200 times a
/// second (measured), the idle boot before the scenario almost never: so
/// `-e 400` fires about 2 s into the 8 s scenario.
const BUSY: &str = r#"
description = "pipe pairs and spinners: many enqueues"
duration = "8s"

[[cgroups]]
name = "busy"
workers = [
  { work_type = { type = "pipe_io" }, workers = 4 },
  { work_type = { type = "spin_wait" }, workers = 4 },
]
"#;

#[test]
fn a_scheduler_disabled_mid_scenario_is_one_finding() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("scenario-files");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("busy.toml");
    std::fs::write(&file, BUSY).unwrap();
    let kernel = kernel_path();
    let (code, result) = run_json(
        "scenario-disrupted",
        &[
            "--kernel",
            &kernel,
            "-q",
            "--cpus",
            "2",
            "--scheduler",
            "scx_qmap",
            "--scenario",
            file.to_str().unwrap(),
            "--",
            "-e",
            "400",
        ],
    );
    assert_eq!(code, 1, "{result:#}");
    let classes = common::classes(&result);
    assert!(
        classes.contains(&"scheduler-disabled".to_string()),
        "{classes:?}"
    );
    assert!(
        !classes.contains(&"assertion-failed".to_string()),
        "{classes:?}"
    );
    let s = &result["scenarios"][0];
    assert_eq!(s["outcome"], "skip", "{s:#}");
    let why = s["not_judged"]
        .as_str()
        .unwrap_or_else(|| panic!("not marked as not judged: {s:#}"));
    // Whichever the guest saw first: the state change, the exit, or the kernel's line.
    assert!(
        [
            "sched_ext state became",
            "exited on its own",
            "BPF scheduler \"qmap\" disabled"
        ]
        .iter()
        .any(|w| why.contains(w)),
        "{why}"
    );
    // Cut short: the workers ran for much less than the planned 8 s.
    let wall = u64_of(&s["reports"][0]["wall_time_ns"]);
    assert!(
        wall < 7_000_000_000,
        "the scenario ran its full length ({wall} ns)"
    );
}
