use ktstr_wire::scenario::{GroupCpus, Mark, ScenarioEvent};
use ktstr_wire::workload::{
    Gap, LatencySummary, Migration, SchedPolicy, WorkSpec, WorkType, WorkerExit, WorkerReport,
};
use ktstr_wire::GuestMsg;

use super::*;
use crate::events::{Event, TimedEvent};
use crate::qemu::accel::Accel;

const SEC: u64 = 1_000_000_000;
/// Release time of every group (monotonic ns).
const T0: u64 = 100 * SEC;

fn limits() -> Limits {
    Thresholds::defaults(Accel::Kvm).resolve()
}

/// A 4 s spin_wait worker with `share` of a CPU on `cpus`.
fn worker(group: u32, index: u32, share: f64) -> WorkerReport {
    let wall = 4 * SEC;
    WorkerReport {
        tid: 100 + index as i32,
        group,
        index,
        cgroup: format!("cg{group}"),
        work_type: "spin_wait".into(),
        work_units: (share * 1e6) as u64,
        cpu_time_ns: (share * wall as f64) as u64,
        wall_time_ns: wall,
        cpus_used: vec![0],
        max_gap: Some(Gap {
            len_ns: 10_000_000,
            cpu: 0,
            at_ns: SEC,
        }),
        exit: WorkerExit::Completed,
        ..WorkerReport::default()
    }
}

fn mark(mark: Mark, at: u64, allowed: &[(u32, &[u32])]) -> ScenarioEvent {
    ScenarioEvent {
        scenario: 0,
        mark,
        mono_ns: at,
        uptime_ms: 0,
        allowed: allowed
            .iter()
            .map(|(g, c)| GroupCpus {
                group: *g,
                cpus: c.to_vec(),
            })
            .collect(),
        frozen: vec![],
        errors: vec![],
    }
}

fn released(groups: u32, cpus: &[u32]) -> ScenarioEvent {
    let allowed: Vec<(u32, &[u32])> = (0..groups).map(|g| (g, cpus)).collect();
    mark(
        Mark::Released {
            cgroup: "cg".into(),
            first: 0,
            count: groups,
            specs: vec![WorkSpec::new(WorkType::SpinWait); groups as usize],
        },
        T0,
        &allowed,
    )
}

fn run(groups: u32, workers: Vec<WorkerReport>) -> ScenarioRun {
    ScenarioRun {
        marks: vec![
            released(groups, &[0, 1, 2, 3]),
            mark(Mark::Ended, T0 + 4 * SEC, &[]),
        ],
        workers,
        ended: true,
        ..ScenarioRun::default()
    }
}

fn outcome_of(a: &Assertion) -> Outcome {
    a.outcome
}

#[test]
fn not_starved_passes_even_shares_and_names_the_starved() {
    let ok = run(
        1,
        vec![worker(0, 0, 0.5), worker(0, 1, 0.45), worker(0, 2, 0.55)],
    );
    let a = checks::not_starved(&ok, &limits());
    assert_eq!(outcome_of(&a), Outcome::Pass, "{a:?}");
    assert!(a.measured.unwrap() > 0.8);

    let bad = run(
        2,
        vec![
            worker(0, 0, 0.9),
            worker(0, 1, 0.9),
            worker(1, 0, 0.01),
            worker(1, 1, 0.9),
        ],
    );
    let a = checks::not_starved(&bad, &limits());
    assert_eq!(a.outcome, Outcome::Fail);
    assert_eq!(a.offenders.len(), 1);
    assert!(
        a.offenders[0].starts_with("worker 1.0 (spin_wait, cgroup cg1, tid 100)"),
        "{:?}",
        a.offenders
    );

    let mut zero = worker(0, 1, 0.5);
    zero.work_units = 0;
    let a = checks::not_starved(&run(1, vec![worker(0, 0, 0.5), zero]), &limits());
    assert_eq!(a.outcome, Outcome::Fail);
    assert!(a.offenders[0].contains("no progress"));
}

#[test]
fn not_starved_ignores_rt_workers_and_respects_freezes() {
    // Group 1 is SCHED_FIFO: it is not a peer of the normal workers.
    let mut r = run(
        2,
        vec![worker(0, 0, 0.05), worker(0, 1, 0.05), worker(1, 0, 0.95)],
    );
    if let Mark::Released { specs, .. } = &mut r.marks[0].mark {
        specs[1].policy = SchedPolicy::Fifo { priority: 50 };
    }
    assert_eq!(checks::not_starved(&r, &limits()).outcome, Outcome::Pass);

    // Frozen for 3 of 4 seconds: 0.2 of the wall is 0.8 of the unfrozen time.
    let mut r = run(2, vec![worker(0, 0, 0.8), worker(1, 0, 0.2)]);
    let mut freeze = mark(
        Mark::Step {
            index: 0,
            ops: vec!["freeze".into()],
            apply_ns: 0,
            sched: false,
        },
        T0 + SEC,
        &[],
    );
    freeze.frozen = vec![1];
    r.marks.insert(1, freeze);
    let share = checks::share(&r, &r.workers[1]);
    assert!((share - 0.8).abs() < 1e-9, "{share}");
    assert_eq!(checks::not_starved(&r, &limits()).outcome, Outcome::Pass);
}

#[test]
fn fairness_spread_within_groups() {
    let ok = run(1, vec![worker(0, 0, 0.5), worker(0, 1, 0.6)]);
    let a = checks::fairness(&ok, &limits());
    assert_eq!(a.outcome, Outcome::Pass);
    assert!((a.measured.unwrap() - 0.1).abs() < 1e-9);

    let bad = run(1, vec![worker(0, 0, 0.1), worker(0, 1, 0.9)]);
    let a = checks::fairness(&bad, &limits());
    assert_eq!(a.outcome, Outcome::Fail);
    assert!(a.offenders[0].contains("worker 0.0") && a.offenders[0].contains("worker 0.1"));

    // Different groups are not compared; single workers are skipped.
    let a = checks::fairness(
        &run(2, vec![worker(0, 0, 0.1), worker(1, 0, 0.9)]),
        &limits(),
    );
    assert_eq!(a.outcome, Outcome::Skip);
}

#[test]
fn throughput_cv_within_groups() {
    let ok = run(
        1,
        vec![worker(0, 0, 0.5), worker(0, 1, 0.52), worker(0, 2, 0.48)],
    );
    assert_eq!(checks::throughput_cv(&ok, &limits()).outcome, Outcome::Pass);
    let mut slow = worker(0, 2, 0.5);
    slow.work_units /= 20;
    let bad = run(1, vec![worker(0, 0, 0.5), worker(0, 1, 0.5), slow]);
    let a = checks::throughput_cv(&bad, &limits());
    assert_eq!(a.outcome, Outcome::Fail, "{a:?}");
    assert!(a.offenders[0].contains("slowest worker 0.2"));
}

#[test]
fn min_work_rate_is_off_by_default_and_catches_slow_workers() {
    let r = run(1, vec![worker(0, 0, 0.5), worker(0, 1, 0.01)]);
    assert_eq!(checks::work_rate(&r, &limits()).outcome, Outcome::Skip);
    let lim = Thresholds::defaults(Accel::Kvm)
        .overlay(&Thresholds {
            min_work_rate: Some(10_000.0),
            ..Thresholds::default()
        })
        .resolve();
    let a = checks::work_rate(&r, &lim);
    assert_eq!(a.outcome, Outcome::Fail);
    assert_eq!(a.offenders.len(), 1);
    assert!(a.offenders[0].starts_with("worker 0.1"));
}

#[test]
fn max_gap_fails_long_gaps_except_when_frozen_or_switching() {
    let mut w = worker(0, 0, 0.5);
    let two_s = Gap {
        len_ns: 2 * SEC,
        cpu: 3,
        at_ns: 3 * SEC,
    };
    w.max_gap = Some(two_s);
    w.gaps = vec![two_s];
    w.gaps_over_floor = 1;
    let r = run(1, vec![worker(0, 1, 0.5), w.clone()]);
    let a = checks::max_gap(&r, &limits());
    assert_eq!(a.outcome, Outcome::Fail);
    assert_eq!(a.measured, Some(2000.0));
    assert!(a.offenders[0].contains("2000 ms without running, resumed on CPU 3"));

    // The same gap during a scheduler restart is expected: every other gap
    // was under the 1 ms floor, which is what the worker is judged by.
    let mut r2 = run(1, vec![w.clone()]);
    r2.marks.insert(
        1,
        mark(
            Mark::Step {
                index: 0,
                ops: vec!["restart_scheduler".into()],
                apply_ns: 2 * SEC,
                sched: true,
            },
            T0 + SEC + SEC / 2,
            &[],
        ),
    );
    let a = checks::max_gap(&r2, &limits());
    assert_eq!((a.outcome, a.measured), (Outcome::Pass, Some(1.0)), "{a:?}");

    let mut fine = worker(0, 0, 0.5);
    fine.max_gap.as_mut().unwrap().len_ns = 50_000_000;
    assert_eq!(
        checks::max_gap(&run(1, vec![fine]), &limits()).outcome,
        Outcome::Pass
    );
}

/// A run of group 0 frozen from 1.5 s to 3.5 s after release.
fn frozen_run(workers: Vec<WorkerReport>) -> ScenarioRun {
    let mut r = run(1, workers);
    let step = |index, at| {
        mark(
            Mark::Step {
                index,
                ops: vec!["freeze".into()],
                apply_ns: 0,
                sched: false,
            },
            at,
            &[],
        )
    };
    let mut freeze = step(0, T0 + 3 * SEC / 2);
    freeze.frozen = vec![0];
    r.marks.insert(1, freeze);
    r.marks.insert(2, step(1, T0 + 7 * SEC / 2));
    r
}

/// A worker whose longest gap (2 s) fell inside the freeze, with `kept`
/// further gaps over the floor and `over` counted in all.
fn frozen_worker(index: u32, kept: &[(u64, u64)], over: u64) -> WorkerReport {
    let mut w = worker(0, index, 0.5);
    let gap = |len_ns, at_ns| Gap {
        len_ns,
        cpu: 1,
        at_ns,
    };
    let inside = gap(2 * SEC, 3 * SEC + SEC / 2);
    w.max_gap = Some(inside);
    w.gaps = std::iter::once(inside)
        .chain(kept.iter().map(|&(len, at)| gap(len, at)))
        .collect();
    w.gaps_over_floor = over;
    w
}

/// No gap hides behind an excused one: the longest gap outside the
/// freeze is judged, and a worker whose every kept gap is excused while
/// others were dropped is named as not judged, never passed.
#[test]
fn max_gap_judges_the_longest_gap_outside_excused_windows() {
    const MS: u64 = 1_000_000;
    // (what, kept besides the 2 s one as (len, end), over-floor count,
    //  outcome, measured ms, text in an offender or the message)
    type Case<'a> = (
        &'a str,
        &'a [(u64, u64)],
        u64,
        Outcome,
        Option<f64>,
        &'a str,
    );
    let cases: &[Case] = &[
        (
            "a 700 ms gap before the freeze",
            &[(700 * MS, SEC), (5 * MS, 2 * SEC)],
            3,
            Outcome::Fail,
            Some(700.0),
            "700 ms without running",
        ),
        (
            "a 700 ms gap inside the freeze, a 30 ms one after it",
            &[(700 * MS, 2 * SEC), (30 * MS, 3_900 * MS)],
            3,
            Outcome::Pass,
            Some(30.0),
            "",
        ),
        (
            "every kept gap excused, none dropped",
            &[(700 * MS, 2 * SEC)],
            2,
            Outcome::Pass,
            Some(1.0),
            "",
        ),
        (
            "every kept gap excused, 40 dropped",
            &[(700 * MS, 2 * SEC)],
            42,
            Outcome::Skip,
            None,
            "1 worker(s) not judged: worker 0.0 (spin_wait, cgroup cg0, tid 100): its 2 longest gaps over 1 ms all overlap a freeze or scheduler switch, and 40 more were not kept",
        ),
    ];
    for (what, kept, over, outcome, measured, text) in cases {
        let r = frozen_run(vec![frozen_worker(0, kept, *over)]);
        let a = checks::max_gap(&r, &limits());
        assert_eq!(
            (a.outcome, a.measured),
            (*outcome, *measured),
            "{what}: {a:?}"
        );
        let said = format!("{} {}", a.message, a.offenders.join(" "));
        assert!(said.contains(text), "{what}: {said}");
    }
    // A worker that cannot be judged is named even when another is judged.
    let r = frozen_run(vec![
        frozen_worker(0, &[(700 * MS, 2 * SEC)], 42),
        frozen_worker(1, &[(30 * MS, 3_900 * MS)], 2),
    ]);
    let a = checks::max_gap(&r, &limits());
    assert_eq!(
        (a.outcome, a.measured),
        (Outcome::Pass, Some(30.0)),
        "{a:?}"
    );
    assert!(
        a.message.contains("not judged: worker 0.0"),
        "{}",
        a.message
    );
}

#[test]
fn wake_latency_p99() {
    let mut w = worker(0, 0, 0.1);
    w.wake_latency = LatencySummary {
        count: 1000,
        p99_ns: 5_000_000,
        max_ns: 9_000_000,
        ..LatencySummary::default()
    };
    assert_eq!(
        checks::wake_latency(&run(1, vec![w.clone()]), &limits()).outcome,
        Outcome::Pass
    );
    w.wake_latency.p99_ns = 90_000_000;
    w.wake_latency.p999_ns = 95_000_000;
    let a = checks::wake_latency(&run(1, vec![w.clone()]), &limits());
    assert_eq!(a.outcome, Outcome::Fail);
    assert!(
        a.offenders[0].contains("p99 90000 us over 1000 wake-ups (p99.9 95000 us, max 9000 us)"),
        "{}",
        a.offenders[0]
    );
    // Too few samples: not judged.
    w.wake_latency.count = 3;
    assert_eq!(
        checks::wake_latency(&run(1, vec![w]), &limits()).outcome,
        Outcome::Skip
    );
}

/// Group 0 allowed 0-1, then 2-3 from 2 s on.
fn moved_run(w: WorkerReport) -> ScenarioRun {
    let mut r = run(1, vec![w]);
    r.marks[0] = released(1, &[0, 1]);
    r.marks.insert(
        1,
        mark(
            Mark::Step {
                index: 0,
                ops: vec!["set_cpuset".into()],
                apply_ns: 1000,
                sched: false,
            },
            T0 + 2 * SEC,
            &[(0, &[2, 3])],
        ),
    );
    r
}

fn migration(at_ns: u64, from: u32, to: u32) -> Migration {
    Migration { at_ns, from, to }
}

#[test]
fn isolation_follows_cpuset_changes_over_time() {
    let mut w = worker(0, 0, 0.9);
    w.migration_log = vec![
        migration(SEC, 0, 1),
        migration(2 * SEC + 1000, 1, 2),
        migration(3 * SEC, 2, 3),
    ];
    w.cpus_used = vec![0, 1, 2, 3];
    let a = isolation::isolation(&moved_run(w.clone()), &limits());
    assert_eq!(a.outcome, Outcome::Pass, "{a:?}");
    assert_eq!(a.measured, Some(0.0));

    // On CPU 2 before it was allowed.
    w.migration_log[0] = migration(SEC, 0, 2);
    let a = isolation::isolation(&moved_run(w.clone()), &limits());
    assert_eq!(a.outcome, Outcome::Fail);
    assert!(
        a.offenders[0].contains("on CPU 2 at 1.000 s, allowed 0-1"),
        "{:?}",
        a.offenders
    );

    // Still seen on an old CPU long after the change.
    w.migration_log = vec![migration(2 * SEC + 1000, 0, 2), migration(3 * SEC, 2, 1)];
    let a = isolation::isolation(&moved_run(w.clone()), &limits());
    assert_eq!(a.outcome, Outcome::Fail);
    assert!(a.offenders[0].contains("on CPU 1 at 3.000 s, allowed 2-3"));

    // Seen on the old CPU just after the change (within the grace): fine.
    w.migration_log = vec![
        migration(2 * SEC + 10_000_000, 0, 1),
        migration(2 * SEC + 20_000_000, 1, 3),
    ];
    assert_eq!(
        isolation::isolation(&moved_run(w.clone()), &limits()).outcome,
        Outcome::Pass
    );

    // Past the log's cap only the set of CPUs is known.
    w.migration_log.clear();
    w.cpus_used = vec![0, 5];
    let a = isolation::isolation(&moved_run(w), &limits());
    assert_eq!(a.outcome, Outcome::Fail);
    assert!(a.offenders[0].contains("ran on CPU(s) 5 that were never allowed"));
}

#[test]
fn isolation_checks_the_starting_cpu() {
    let mut w = worker(0, 0, 0.9);
    w.cpus_used = vec![3];
    let a = isolation::isolation(&moved_run(w), &limits());
    assert_eq!(a.outcome, Outcome::Fail);
    assert!(a.offenders[0].contains("started on CPU 3, allowed 0-1"));
}

fn ev(msg: GuestMsg) -> TimedEvent {
    TimedEvent::new(0, Event::Guest { msg })
}

#[test]
fn events_split_per_scenario_and_failures_become_findings() {
    let mut second = released(1, &[0, 1, 2, 3]);
    second.scenario = 1;
    let mut second_end = mark(Mark::Ended, T0 + 4 * SEC, &[]);
    second_end.scenario = 1;
    let events = vec![
        ev(GuestMsg::Scenario(Box::new(released(1, &[0, 1, 2, 3])))),
        ev(GuestMsg::Worker(Box::new(worker(0, 0, 0.5)))),
        ev(GuestMsg::Worker(Box::new(worker(0, 1, 0.5)))),
        ev(GuestMsg::Scenario(Box::new(mark(
            Mark::Ended,
            T0 + 4 * SEC,
            &[],
        )))),
        ev(GuestMsg::Scenario(Box::new(second))),
        ev(GuestMsg::Worker(Box::new(worker(0, 0, 0.9)))),
        ev(GuestMsg::Worker(Box::new(worker(0, 1, 0.0)))),
        ev(GuestMsg::Scenario(Box::new(second_end))),
    ];
    let runs = split(&events, 2);
    assert_eq!((runs[0].workers.len(), runs[1].workers.len()), (2, 2));
    let lim = limits();
    let plans = [
        Planned {
            name: "one",
            origin: "builtin:one",
            limits: &lim,
        },
        Planned {
            name: "two",
            origin: "two.toml",
            limits: &lim,
        },
    ];
    let results = judge_all(&plans, &events, false);
    assert_eq!(results[0].outcome, Outcome::Pass);
    assert_eq!(results[1].outcome, Outcome::Fail);
    let f = findings(&results);
    assert!(f.iter().all(|f| f.class == Class::AssertionFailed));
    assert!(
        f[0].message.starts_with("scenario two: not_starved failed"),
        "{}",
        f[0].message
    );
    let text = summary::render(&results);
    assert!(text.contains("scenario two [two.toml]: FAIL"), "{text}");
    assert!(text.contains("| worker 0.1"), "{text}");
}

#[test]
fn step_errors_and_unfinished_scenarios_are_inconclusive() {
    let mut r = run(1, vec![worker(0, 0, 0.5)]);
    r.marks[0]
        .errors
        .push("set_cpuset: write cpuset.cpus: Permission denied".into());
    let lim = limits();
    let p = Planned {
        name: "x",
        origin: "x",
        limits: &lim,
    };
    assert_eq!(judge_scenario(&p, &r, false).outcome, Outcome::Inconclusive);
    let mut r = run(1, vec![worker(0, 0, 0.5)]);
    r.ended = false;
    let res = judge_scenario(&p, &r, false);
    assert_eq!(res.outcome, Outcome::Inconclusive);
    assert_eq!(findings(&[res])[0].class, Class::HarnessError);
    // When the run already failed (scheduler died), that is the reason.
    assert!(judge_scenario(&p, &r, true).problems.is_empty());
}

#[test]
fn isolation_flags_a_worker_that_stays_on_a_lost_cpu() {
    // On CPU 1 from the start; its CPUs become 2-3 at 2 s; it never moves.
    let mut w = worker(0, 0, 0.9);
    w.cpus_used = vec![1];
    let a = isolation::isolation(&moved_run(w.clone()), &limits());
    assert_eq!(a.outcome, Outcome::Fail);
    assert!(
        a.offenders[0].contains("still on CPU 1 at 2.100 s, 100 ms after its CPUs became 2-3"),
        "{:?}",
        a.offenders
    );
    // Moved within the grace: fine.
    w.cpus_used = vec![1, 2];
    w.migration_log = vec![migration(2 * SEC + 50_000_000, 1, 2)];
    assert_eq!(
        isolation::isolation(&moved_run(w), &limits()).outcome,
        Outcome::Pass
    );
}

#[test]
fn a_scheduler_that_leaves_mid_scenario_is_reported_once_not_per_assertion() {
    // The kernel disabled the scheduler 0.3 s into the scenario: the
    // guest cut it short, and the shares of its last moments are uneven.
    let kernel = GuestMsg::KernelLog {
        level: 3,
        ts_us: 0,
        line: "sched_ext: BPF scheduler \"flatcg\" disabled (runnable task stall)".into(),
    };
    let events = vec![
        ev(GuestMsg::Scenario(Box::new(released(1, &[0, 1, 2, 3])))),
        ev(kernel),
        ev(GuestMsg::Worker(Box::new(worker(0, 0, 0.9)))),
        ev(GuestMsg::Worker(Box::new(worker(0, 1, 0.02)))),
        ev(GuestMsg::Scenario(Box::new(mark(
            Mark::Ended,
            T0 + SEC / 3,
            &[],
        )))),
    ];
    let runs = split(&events, 1);
    assert!(runs[0]
        .disrupted
        .as_deref()
        .unwrap()
        .contains("runnable task stall"));
    let lim = limits();
    let p = Planned {
        name: "x",
        origin: "x",
        limits: &lim,
    };
    let res = judge_scenario(&p, &runs[0], true);
    assert_eq!(res.outcome, Outcome::Skip);
    assert!(res.assertions.iter().all(|a| a.outcome == Outcome::Skip));
    // Still measured, for whoever looks.
    let starved = res
        .assertions
        .iter()
        .find(|a| a.name == "not_starved")
        .unwrap();
    assert!(starved.measured.unwrap() < 0.1 && starved.message.starts_with("not judged ("));
    assert!(findings(std::slice::from_ref(&res)).is_empty());
    assert!(summary::render(&[res]).contains("not judged: the scheduler left"));

    // Ops that detach or restart the scheduler are not a disruption: the
    // guest reports a requested exit, and the kernel logs it at info level.
    let detach = vec![
        ev(GuestMsg::Scenario(Box::new(released(1, &[0, 1, 2, 3])))),
        ev(GuestMsg::SchedulerExited {
            exit: ktstr_wire::ExitStatus::Exited { code: 0 },
            requested: true,
            uptime_ms: 0,
        }),
        ev(GuestMsg::KernelLog {
            level: 6,
            ts_us: 0,
            line: "sched_ext: BPF scheduler \"simple\" disabled (unregistered from user space)"
                .into(),
        }),
        ev(GuestMsg::Scenario(Box::new(mark(
            Mark::Ended,
            T0 + 4 * SEC,
            &[],
        )))),
    ];
    assert!(split(&detach, 1)[0].disrupted.is_none());
    // A disable between scenarios belongs to none of them.
    let mut after = events[..1].to_vec();
    after.push(events[4].clone());
    after.push(events[1].clone());
    assert!(split(&after, 1)[0].disrupted.is_none());
}

#[test]
fn a_flood_of_marks_or_reports_is_capped_and_makes_the_run_inconclusive() {
    let mut events = vec![ev(GuestMsg::Scenario(Box::new(released(1, &[0, 1]))))];
    for i in 0..10_050u32 {
        events.push(ev(GuestMsg::Worker(Box::new(worker(0, i, 0.5)))));
    }
    events.push(ev(GuestMsg::Scenario(Box::new(mark(
        Mark::Ended,
        T0 + 4 * SEC,
        &[],
    )))));
    let runs = split(&events, 1);
    assert_eq!(runs[0].workers.len(), 10_000);
    assert!(runs[0]
        .overflow
        .as_deref()
        .unwrap_or("")
        .contains("more than 10000"));
    let lim = limits();
    let plan = Planned {
        name: "s",
        origin: "t",
        limits: &lim,
    };
    let res = judge_scenario(&plan, &runs[0], false);
    assert_eq!(res.outcome, Outcome::Inconclusive);
    let f = findings(&[res]);
    assert!(f.iter().any(|f| f.class == Class::HarnessError
        && f.evidence.iter().any(|e| e.contains("more than 10000"))));
}
