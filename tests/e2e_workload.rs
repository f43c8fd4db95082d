//! End-to-end: the workload engine inside the VM, under a real scheduler.

mod common;

use common::*;
use serde_json::Value;

fn workers_of<'a>(r: &'a Value, work_type: &str) -> Vec<&'a Value> {
    r["workers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["work_type"] == work_type)
        .collect()
}

#[test]
fn mixed_work_types_under_scx_simple_report_sensibly() {
    let k = kernel_path();
    let (code, r) = run_json(
        "mix",
        &[
            "--kernel",
            &k,
            "-s",
            "scx_simple",
            "--cpus",
            "4",
            "-d",
            "3s",
            "--work-type",
            "spin_wait",
            "--work-type",
            "pipe_io",
            "--work-type",
            "bursty",
            "--work-type",
            "futex_fan_out",
        ],
    );
    assert_eq!(code, 0, "{r:#}");
    for t in ["spin_wait", "pipe_io", "bursty", "futex_fan_out"] {
        let ws = workers_of(&r, t);
        assert!(!ws.is_empty(), "no {t} workers");
        for w in ws {
            assert_eq!(w["exit"]["kind"], "completed", "{w}");
            assert!(w["work_units"].as_u64().unwrap() > 0, "{w}");
            assert!(w["cpu_time_ns"].as_u64().unwrap() > 0, "{w}");
            assert!(!w["cpus_used"].as_array().unwrap().is_empty(), "{w}");
        }
    }
    // Pipe partners both sleep and get woken; in a fan-out the waiters do
    // (the waker itself is never woken).
    let woken = |t: &str| {
        workers_of(&r, t)
            .iter()
            .filter(|w| {
                let lat = &w["wake_latency"];
                let at = |k: &str| lat[k].as_u64().unwrap();
                // Every wake-up is in the histogram the percentiles come from.
                let bucketed: u64 = lat["buckets"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|b| b["count"].as_u64().unwrap())
                    .sum();
                assert_eq!(bucketed, at("count"), "{lat}");
                at("count") > 0
                    && at("p50_ns") <= at("p90_ns")
                    && at("p90_ns") <= at("p99_ns")
                    && at("p99_ns") <= at("p999_ns")
                    && at("p999_ns") <= at("max_ns")
            })
            .count()
    };
    assert_eq!(woken("pipe_io"), 4, "every pipe_io worker records wake-ups");
    assert!(
        woken("futex_fan_out") >= 4,
        "the fan-out's waiters record wake-ups"
    );
    // Four busy workers per vCPU are preempted for longer than the 1 ms
    // floor: each lists its longest gaps, longest first, under the count.
    for w in workers_of(&r, "spin_wait") {
        let gaps: Vec<u64> = w["gaps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["len_ns"].as_u64().unwrap())
            .collect();
        assert!(!gaps.is_empty(), "{w}");
        assert!(gaps.windows(2).all(|p| p[0] >= p[1]), "{gaps:?}");
        assert!(w["gaps_over_floor"].as_u64().unwrap() >= gaps.len() as u64);
        assert_eq!(w["max_gap"]["len_ns"].as_u64(), Some(gaps[0]), "{w}");
    }
    // futex_fan_out's default group is 1 + 4: five workers, not four.
    assert_eq!(workers_of(&r, "futex_fan_out").len(), 5);
}

#[test]
fn every_work_type_runs_in_the_guest() {
    let k = kernel_path();
    let names: Vec<String> = ktstr_wire::workload::ALL_NAMES
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut args = vec![
        "--kernel".to_string(),
        k,
        "--cpus".into(),
        "2".into(),
        "-d".into(),
        "3s".into(),
    ];
    for n in &names {
        args.push("--work-type".into());
        args.push(n.clone());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (_code, r) = run_json("all-types", &args);
    for n in &names {
        let ws = workers_of(&r, n);
        assert!(!ws.is_empty(), "{n}: no reports");
        assert!(
            ws.iter().any(|w| w["work_units"].as_u64().unwrap_or(0) > 0),
            "{n}: no worker did any work: {ws:?}"
        );
        for w in ws {
            assert_eq!(w["exit"]["kind"], "completed", "{n}: {w}");
        }
    }
}

#[test]
fn unknown_work_type_suggests_the_nearest() {
    let out = ktstr(&["--work-type", "pipe_ioo"]);
    assert_eq!(out.status.code(), Some(129));
    assert!(String::from_utf8_lossy(&out.stderr).contains("pipe_io"));
}
