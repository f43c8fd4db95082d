//! The verdict of a plain run (no scenario) by the default assertions,
//! and of exec failures, from hand-made event lists: no VM needed.

use ktstr_wire::workload::{WorkerExit, WorkerReport};
use ktstr_wire::{ExitStatus, GuestMsg, Phase, Stream};

use super::tests::*;
use super::*;
use crate::finding::*;

/// A plain run (no scenario) whose one worker waited `gap_ms` to run.
fn plain_run_with_gap(gap_ms: u64) -> Vec<TimedEvent> {
    let mut events = healthy_scx();
    let report = |index: u32, gap_ms: u64| {
        g(GuestMsg::Worker(Box::new(WorkerReport {
            tid: 40 + index as i32,
            index,
            work_units: 1_000,
            work_type: "spin_wait".into(),
            cpu_time_ns: 4_000_000_000,
            wall_time_ns: 5_000_000_000,
            max_gap: Some(ktstr_wire::workload::Gap {
                len_ns: gap_ms * 1_000_000,
                cpu: 1,
                at_ns: 4_500_000_000,
            }),
            exit: WorkerExit::Completed,
            ..Default::default()
        })))
    };
    events[5] = report(0, 20);
    events[6] = report(1, gap_ms);
    events.insert(
        7,
        g(GuestMsg::Phase {
            phase: Phase::WorkloadStopped,
            uptime_ms: 8,
        }),
    );
    events
}

#[test]
fn the_plain_run_is_judged_by_the_default_assertions() {
    let specs = vec![ktstr_wire::workload::WorkSpec::default()];
    let lim = crate::assert::Thresholds::defaults(crate::qemu::accel::Accel::Tcg).resolve();
    let judge_gap = |gap_ms| {
        let events = plain_run_with_gap(gap_ms);
        judge(&JudgeInput {
            events: &events,
            scheduler_expected: true,
            expected_workers: Some(2),
            workload: Some((&lim, &specs)),
            ..Default::default()
        })
    };
    // 4 s off the CPU in a 5 s run: under the sched_ext watchdog's 30 s,
    // over the 3 s TCG limit.
    let j = judge_gap(4_000);
    assert_eq!(classes(&j.verdict), [Class::AssertionFailed], "{j:#?}");
    let f = &j.verdict.findings[0];
    assert!(f.message.contains("max_gap"), "{}", f.message);
    assert!(
        f.message.contains("worker 0.1") && f.message.contains("4000 ms"),
        "the finding names the worker and the gap: {}",
        f.message
    );
    let w = j.workload.expect("the workload's assertions");
    let gap = w.assertions.iter().find(|a| a.name == "max_gap").unwrap();
    assert_eq!((gap.measured, gap.threshold), (Some(4000.0), Some(3000.0)));

    let j = judge_gap(30);
    assert_eq!(j.verdict.outcome, Outcome::Pass, "{j:#?}");
    let w = j.workload.unwrap();
    assert!(w
        .assertions
        .iter()
        .any(|a| a.name == "not_starved" && a.outcome == Outcome::Pass));
}

#[test]
fn a_run_where_nothing_was_measured_does_not_pass() {
    let specs = vec![ktstr_wire::workload::WorkSpec::default()];
    // Every assertion off: nothing can pass.
    let lim = crate::assert::Thresholds::from_args(
        &[
            "not_starved=off",
            "max_spread=off",
            "max_gap_ms=off",
            "isolation=off",
            "max_wake_p99_us=off",
            "max_throughput_cv=off",
            "min_work_rate=off",
        ]
        .map(String::from),
    )
    .unwrap()
    .resolve();
    let events = plain_run_with_gap(10);
    let j = judge(&JudgeInput {
        events: &events,
        scheduler_expected: true,
        expected_workers: Some(2),
        workload: Some((&lim, &specs)),
        ..Default::default()
    });
    assert_eq!(j.workload.as_ref().unwrap().outcome, Outcome::Skip);
    assert_eq!(classes(&j.verdict), [Class::NothingMeasured]);
    assert_eq!(j.verdict.outcome, Outcome::Inconclusive);
}

/// A scheduler the guest could not execute is "cannot test"; one that
/// started and then exited is the scheduler's failure.
#[test]
fn exec_failures_cannot_test_but_a_scheduler_that_ran_fails() {
    let started = || {
        g(GuestMsg::SchedulerStarted {
            pid: 5,
            path: "/ktstr-vm/sched/s".into(),
            args: vec![],
            uptime_ms: 1,
        })
    };
    let stderr = |line: &str| {
        g(GuestMsg::SchedulerLog {
            stream: Stream::Stderr,
            line: line.into(),
        })
    };
    let exec_failed = |reason: &str| {
        g(GuestMsg::SchedulerExecFailed {
            path: "/ktstr-vm/sched/s".into(),
            reason: reason.into(),
        })
    };
    let exited = |code| {
        g(GuestMsg::SchedulerExited {
            exit: ExitStatus::Exited { code },
            requested: false,
            uptime_ms: 2,
        })
    };
    let done = || g(GuestMsg::Done { uptime_ms: 3 });
    let loader =
        "/ktstr-vm/sched/s: error while loading shared libraries: libx.so: ELF file OS ABI invalid";
    let cases: Vec<(&str, Vec<TimedEvent>, Class, i32)> = vec![
        (
            "the kernel refused the exec",
            vec![
                hello(),
                exec_failed("exec failed: Exec format error (os error 8), ENOEXEC"),
                done(),
            ],
            Class::SchedulerExecFailed,
            125,
        ),
        (
            "the dynamic loader refused it",
            vec![
                hello(),
                started(),
                stderr(loader),
                exec_failed(&format!(
                    "the dynamic loader refused it (exit code 127): {loader}"
                )),
                done(),
            ],
            Class::SchedulerExecFailed,
            125,
        ),
        (
            "it ran and exited before attaching",
            vec![
                hello(),
                started(),
                stderr("libbpf: failed to load"),
                exited(1),
                done(),
            ],
            Class::SchedulerLoadFailed,
            1,
        ),
        (
            "it ran, attached, then exited",
            vec![
                hello(),
                started(),
                g(GuestMsg::SchedulerAttached {
                    ops: "s".into(),
                    uptime_ms: 2,
                }),
                exited(1),
                done(),
            ],
            Class::SchedulerExited,
            1,
        ),
    ];
    for (what, events, class, code) in cases {
        let v = judge(&JudgeInput {
            events: &events,
            scheduler_expected: true,
            workerless: true,
            ..Default::default()
        })
        .verdict;
        assert_eq!(classes(&v), [class], "{what}: {v:#?}");
        assert_eq!(v.outcome.exit_code(false).code(), code, "{what}");
    }
    let v = judge_events(&[hello(), exec_failed("exec failed: x"), done()], true, "");
    assert!(
        v.findings[0]
            .message
            .contains("could not be executed in the guest: /ktstr-vm/sched/s: exec failed: x"),
        "{}",
        v.findings[0].message
    );
    assert_eq!(Class::SchedulerExecFailed.name(), "scheduler-exec-failed");
}
