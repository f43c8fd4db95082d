//! The verdict from hand-made event lists: no VM needed.

use ktstr_wire::workload::{WorkerExit, WorkerReport};
use ktstr_wire::{ExitStatus, GuestMsg, Phase, Stage, Stream};

use super::*;
use crate::events::Event;
use crate::finding::*;
use crate::qemu::process::QemuExit;

pub(super) fn g(msg: GuestMsg) -> TimedEvent {
    TimedEvent::new(0, Event::Guest { msg })
}

pub(super) fn hello() -> TimedEvent {
    g(GuestMsg::Hello {
        protocol: ktstr_wire::PROTOCOL_VERSION,
        kernel_release: "6.12".into(),
        uptime_ms: 900,
        sched_ext: true,
    })
}

pub(super) fn worker(units: u64, exit: WorkerExit) -> TimedEvent {
    g(GuestMsg::Worker(Box::new(WorkerReport {
        work_units: units,
        work_type: "spin_wait".into(),
        exit,
        ..Default::default()
    })))
}

pub(super) fn healthy_scx() -> Vec<TimedEvent> {
    vec![
        TimedEvent::new(0, Event::QemuStarted),
        hello(),
        g(GuestMsg::SchedulerStarted {
            pid: 5,
            path: "/s".into(),
            args: vec![],
            uptime_ms: 1,
        }),
        g(GuestMsg::SchedulerAttached {
            ops: "simple".into(),
            uptime_ms: 2,
        }),
        g(GuestMsg::Phase {
            phase: Phase::WorkloadStarted,
            uptime_ms: 3,
        }),
        worker(10, WorkerExit::Completed),
        worker(12, WorkerExit::Completed),
        g(GuestMsg::KernelLog {
            level: 6,
            ts_us: 1,
            line: "sched_ext: BPF scheduler \"simple\" disabled (unregistered from user space)"
                .into(),
        }),
        g(GuestMsg::SchedulerExited {
            exit: ExitStatus::Exited { code: 0 },
            requested: true,
            uptime_ms: 4,
        }),
        g(GuestMsg::Done { uptime_ms: 5 }),
        TimedEvent::new(
            9,
            Event::QemuExited {
                exit: QemuExit::Exited { code: 0 },
            },
        ),
    ]
}

pub(super) fn judge_events(events: &[TimedEvent], sched: bool, console: &str) -> Verdict {
    judge(&JudgeInput {
        events,
        scheduler_expected: sched,
        expected_topology: None,
        console,
        qemu_log: "",
        workerless: false,
        expected_workers: None,
        ..Default::default()
    })
    .verdict
}

pub(super) fn classes(v: &Verdict) -> Vec<Class> {
    v.findings.iter().map(|f| f.class).collect()
}

#[test]
fn healthy_run_passes() {
    let v = judge_events(&healthy_scx(), true, "");
    assert_eq!(v.outcome, Outcome::Pass, "{v:#?}");
    assert!(v.findings.is_empty());
}

#[test]
fn load_failure_quotes_the_scheduler() {
    let events = vec![
        hello(),
        g(GuestMsg::SchedulerStarted {
            pid: 5,
            path: "/s".into(),
            args: vec![],
            uptime_ms: 1,
        }),
        g(GuestMsg::SchedulerLog {
            stream: Stream::Stderr,
            line: "init from non-central CPU".into(),
        }),
        g(GuestMsg::SchedulerExited {
            exit: ExitStatus::Exited { code: 1 },
            requested: false,
            uptime_ms: 2,
        }),
        g(GuestMsg::Done { uptime_ms: 3 }),
    ];
    let v = judge_events(&events, true, "");
    assert_eq!(v.outcome, Outcome::Fail);
    assert_eq!(classes(&v), [Class::SchedulerLoadFailed]);
    assert!(
        v.findings[0].message.contains("init from non-central CPU"),
        "{}",
        v.findings[0].message
    );
}

#[test]
fn kernel_disable_names_reason_and_message() {
    let mut events = healthy_scx();
    events.insert(
        5,
        kernel(
            1,
            "sched_ext: BPF scheduler \"qmap\" disabled (scx_bpf_error)",
        ),
    );
    events.insert(6, kernel(1, "sched_ext: qmap: test triggering error"));
    let v = judge_events(&events, true, "");
    assert_eq!(v.outcome, Outcome::Fail);
    assert_eq!(v.findings[0].class, Class::SchedulerDisabled);
    assert!(v.findings[0]
        .message
        .contains("scx_bpf_error): test triggering error"));
}

#[test]
fn scheduler_exit_mid_run_fails() {
    let mut events = healthy_scx();
    let i = events.len() - 3;
    events[i] = killed(4);
    let v = judge_events(&events, true, "");
    assert_eq!(classes(&v), [Class::SchedulerExited]);
    assert!(
        v.findings[0].message.contains("SIGKILL"),
        "{}",
        v.findings[0].message
    );
}

#[test]
fn starved_and_dead_workers_fail() {
    let mut events = healthy_scx();
    events.insert(5, worker(0, WorkerExit::Completed));
    events.insert(5, worker(3, WorkerExit::Signaled { signal: 9 }));
    let v = judge_events(&events, true, "");
    let c = classes(&v);
    assert!(
        c.contains(&Class::WorkerStarved) && c.contains(&Class::WorkerDied),
        "{c:?}"
    );
}

/// A worker whose own code panicked is the harness's bug: cannot test,
/// never a dead or starved worker blamed on the scheduler.
#[test]
fn a_panicked_worker_is_a_harness_error() {
    let mut events = healthy_scx();
    events.insert(5, worker(0, WorkerExit::Panicked));
    let v = judge_events(&events, true, "");
    assert_eq!(classes(&v), [Class::HarnessError], "{v:#?}");
    assert_eq!(v.outcome, Outcome::Inconclusive);
    assert!(v.findings[0].message.contains("1 worker(s) panicked"));
}

#[test]
fn a_worker_too_starved_to_report_is_starved_not_dead() {
    let mut events = healthy_scx();
    events.insert(5, worker(7, WorkerExit::TimedOut));
    let v = judge_events(&events, true, "");
    assert_eq!(classes(&v), [Class::WorkerStarved]);
    assert!(
        v.findings[0].evidence[0].contains("did not report"),
        "{:?}",
        v.findings[0].evidence
    );
}

#[test]
fn no_hello_is_inconclusive_and_explains() {
    let events = vec![
        TimedEvent::new(0, Event::QemuStarted),
        TimedEvent::new(9, Event::HostTimeout { limit_ms: 30_000 }),
        TimedEvent::new(
            9,
            Event::QemuExited {
                exit: QemuExit::Signaled { signal: 9 },
            },
        ),
    ];
    let v = judge_events(&events, false, "Decompressing Linux...\n");
    assert_eq!(v.outcome, Outcome::Inconclusive);
    assert_eq!(classes(&v), [Class::NoInit]);
    assert!(v.findings[0].message.contains("30.0 s"));
    assert_eq!(v.findings[0].evidence, ["Decompressing Linux..."]);

    let panic = "[ 0.5] Kernel panic - not syncing: VFS: Unable to mount root fs\n";
    let v = judge_events(&events, false, panic);
    assert!(
        v.findings[0].message.contains("panicked"),
        "{}",
        v.findings[0].message
    );
}

#[test]
fn hang_after_init_is_a_failure_with_console_tail() {
    let mut events = healthy_scx();
    events.truncate(5);
    events.push(TimedEvent::new(50, Event::HostTimeout { limit_ms: 40_000 }));
    let v = judge_events(&events, true, "a\nb\n");
    assert_eq!(classes(&v), [Class::GuestHung]);
    assert_eq!(v.outcome, Outcome::Fail);
    assert!(v.findings[0].evidence.contains(&"b".to_string()));
}

#[test]
fn panic_on_console_after_init() {
    let mut events = healthy_scx();
    events.truncate(5);
    events.push(TimedEvent::new(
        50,
        Event::QemuExited {
            exit: QemuExit::Exited { code: 0 },
        },
    ));
    let console = "ok\n[ 3.0] sysrq: Trigger a crash\n[ 3.0] Kernel panic - not syncing: sysrq triggered crash\n[ 3.0] CPU: 0 PID: 1\n";
    let v = judge_events(&events, true, console);
    assert_eq!(classes(&v), [Class::KernelPanic]);
    assert!(v.findings[0]
        .evidence
        .iter()
        .any(|l| l.contains("CPU: 0 PID: 1")));
}

#[test]
fn harness_errors_and_protocol_errors_are_inconclusive() {
    let mut events = healthy_scx();
    events.insert(
        2,
        TimedEvent::new(
            1,
            Event::Protocol {
                error: "line 3: bad".into(),
            },
        ),
    );
    let v = judge_events(&events, true, "");
    assert_eq!(v.outcome, Outcome::Inconclusive);
    assert_eq!(classes(&v), [Class::ProtocolError]);
}

pub(super) fn hello_scx(sched_ext: bool) -> TimedEvent {
    g(GuestMsg::Hello {
        protocol: ktstr_wire::PROTOCOL_VERSION,
        kernel_release: "6.12".into(),
        uptime_ms: 900,
        sched_ext,
    })
}

/// "No sched_ext" comes from `Hello` alone, and harness errors are judged
/// by their typed stage: an error whose text mentions sched_ext is still
/// the harness's own failure.
#[test]
fn no_sched_ext_from_hello_and_errors_by_stage() {
    let error = |stage, message: &str| {
        g(GuestMsg::Error {
            stage,
            message: message.into(),
        })
    };
    let done = || g(GuestMsg::Done { uptime_ms: 1 });
    let no_scx = "this kernel has no sched_ext (/sys/kernel/sched_ext is missing)";
    // (what, events, scheduler asked for, classes, text in the first finding)
    type Case<'a> = (&'a str, Vec<TimedEvent>, bool, Vec<Class>, &'a str);
    let cases: Vec<Case> = vec![
        (
            "no sched_ext, scheduler asked for",
            vec![hello_scx(false), done()],
            true,
            vec![Class::NoSchedExt],
            "CONFIG_SCHED_CLASS_EXT",
        ),
        (
            "no sched_ext, EEVDF run",
            vec![hello_scx(false), done()],
            false,
            vec![],
            "",
        ),
        (
            "an error's text is not its class",
            vec![hello_scx(true), error(Stage::Scheduler, no_scx), done()],
            true,
            vec![Class::HarnessError],
            "starting or watching the scheduler",
        ),
        (
            "a panic on a guest thread",
            vec![
                hello_scx(true),
                error(Stage::Panic, "thread 'kmsg' panicked at x.rs:1:1: boom"),
                done(),
            ],
            false,
            vec![Class::HarnessError],
            "the guest harness panicked: thread 'kmsg'",
        ),
        (
            "a cgroup failure",
            vec![
                hello_scx(true),
                error(Stage::Cgroup, "mkdir: EROFS"),
                done(),
            ],
            false,
            vec![Class::HarnessError],
            "guest cgroup: mkdir: EROFS",
        ),
    ];
    for (what, events, sched, want, text) in cases {
        let v = judge(&JudgeInput {
            events: &events,
            scheduler_expected: sched,
            workerless: true,
            ..Default::default()
        })
        .verdict;
        assert_eq!(classes(&v), want, "{what}: {v:#?}");
        if let Some(f) = v.findings.first() {
            assert!(f.message.contains(text), "{what}: {}", f.message);
            assert_eq!(v.outcome, Outcome::Inconclusive, "{what}");
        } else {
            assert_eq!(v.outcome, Outcome::Pass, "{what}");
        }
    }
}

#[test]
fn lattice_order() {
    assert!(Outcome::Fail > Outcome::Inconclusive);
    assert!(Outcome::Inconclusive > Outcome::Pass);
    assert!(Outcome::Pass > Outcome::Skip);
    assert_eq!(Class::SchedulerDisabled.name(), "scheduler-disabled");
}

/// The scheduler killed by SIGKILL mid-run, seen at `uptime_ms`.
pub(super) fn killed(uptime_ms: u64) -> TimedEvent {
    g(GuestMsg::SchedulerExited {
        exit: ExitStatus::Signaled {
            signal: 9,
            core_dumped: false,
        },
        requested: false,
        uptime_ms,
    })
}

/// A kernel log record at error level.
pub(super) fn kernel(ts_us: u64, line: &str) -> TimedEvent {
    g(GuestMsg::KernelLog {
        level: 3,
        ts_us,
        line: line.into(),
    })
}

#[test]
fn disable_is_timed_by_the_kernel() {
    let mut events = healthy_scx();
    events.insert(
        5,
        kernel(
            4_250_000,
            "sched_ext: BPF scheduler \"qmap\" disabled (runnable task stall)",
        ),
    );
    events.insert(
        6,
        kernel(
            4_250_100,
            "sched_ext: qmap: kworker/u8:1[28] failed to run for 5.004s",
        ),
    );
    let v = judge_events(&events, true, "");
    assert_eq!(classes(&v), [Class::SchedulerDisabled]);
    assert_eq!(v.findings[0].at_guest_ms, Some(4250));
    assert!(v.findings[0]
        .message
        .ends_with("(runnable task stall): kworker/u8:1[28] failed to run for 5.004s"));
}

#[test]
fn killed_scheduler_explains_the_state_change_and_the_injection() {
    let mut events = healthy_scx();
    let exit_at = events.len() - 3;
    events[exit_at] = killed(3100);
    events.insert(
        5,
        g(GuestMsg::FaultInjected {
            fault: "kill-scheduler:SIGKILL@1000ms".into(),
            uptime_ms: 3050,
        }),
    );
    events.insert(
        6,
        g(GuestMsg::SchedExtState {
            state: "disabled".into(),
            ops: None,
            uptime_ms: 3080,
        }),
    );
    let v = judge_events(&events, true, "");
    // The process ending explains the state change: one finding, not two.
    assert_eq!(classes(&v), [Class::SchedulerExited]);
    let f = &v.findings[0];
    // First seen in the state change, before the exit was reaped.
    assert_eq!(f.at_guest_ms, Some(3080));
    assert!(
        f.evidence[0].starts_with("injected on purpose (--inject): kill-scheduler:SIGKILL@1000ms"),
        "{:?}",
        f.evidence
    );
    assert!(
        f.evidence
            .iter()
            .any(|l| l.contains("unregistered from user space")),
        "{:?}",
        f.evidence
    );
    assert!(
        f.evidence
            .iter()
            .any(|l| l.contains("state became \"disabled\"")),
        "{:?}",
        f.evidence
    );
}

#[test]
fn state_change_alone_is_its_own_class() {
    let mut events = healthy_scx();
    events.insert(
        5,
        g(GuestMsg::SchedExtState {
            state: "enabled".into(),
            ops: Some("other".into()),
            uptime_ms: 3080,
        }),
    );
    let v = judge_events(&events, true, "");
    assert_eq!(classes(&v), [Class::SchedExtStateChanged]);
    assert_eq!(v.outcome, Outcome::Fail);
}

#[test]
fn panic_evidence_shows_what_led_to_it() {
    let mut events = healthy_scx();
    events.truncate(5);
    events.push(TimedEvent::new(
        50,
        Event::QemuExited {
            exit: QemuExit::Exited { code: 0 },
        },
    ));
    let console = "[    3.000000] Oops: general protection fault\n[    3.001000] RIP: 0010:foo\n[    3.002000] Kernel panic - not syncing: Fatal exception\n[    3.003000] Kernel Offset: disabled\n";
    let v = judge_events(&events, true, console);
    let panic = v
        .findings
        .iter()
        .find(|f| f.class == Class::KernelPanic)
        .expect("a panic finding");
    assert_eq!(panic.at_guest_ms, Some(3002));
    assert!(panic.evidence[0].contains("Oops"), "{:?}", panic.evidence);
    assert!(
        panic.evidence.last().unwrap().contains("Kernel Offset"),
        "{:?}",
        panic.evidence
    );
    assert!(classes(&v).contains(&Class::KernelOops));
}

#[test]
fn hung_guest_is_timed_by_its_last_sign_of_life() {
    let mut events = healthy_scx();
    events.truncate(5);
    events.push(g(GuestMsg::FaultInjected {
        fault: "hang@1000ms".into(),
        uptime_ms: 3500,
    }));
    events.push(TimedEvent::new(50, Event::HostTimeout { limit_ms: 20_000 }));
    let v = judge_events(&events, true, "");
    assert_eq!(classes(&v), [Class::GuestHung]);
    let f = &v.findings[0];
    assert_eq!(f.at_guest_ms, Some(3500));
    assert!(
        f.message
            .contains("last message from init at 3.50s guest uptime)"),
        "{}",
        f.message
    );
    assert!(
        f.evidence
            .iter()
            .any(|l| l.starts_with("last phase reached: WorkloadStarted")),
        "{:?}",
        f.evidence
    );
}

#[test]
fn infrastructure_classes() {
    for class in [Class::NoInit, Class::QemuDied] {
        assert!(class.is_infrastructure() && class.outcome() == Outcome::Inconclusive);
    }
    for class in [
        Class::NoSchedExt,
        Class::SchedulerDisabled,
        Class::GuestHung,
        Class::KernelPanic,
    ] {
        assert!(!class.is_infrastructure(), "{class:?}");
    }
}

#[test]
fn a_done_without_the_work_is_not_a_pass() {
    // Hello then Done: the scheduler never started.
    let events = vec![hello(), g(GuestMsg::Done { uptime_ms: 1 })];
    let v = judge_events(&events, true, "");
    assert_eq!(classes(&v), [Class::HarnessError]);
    assert_eq!(v.outcome, Outcome::Inconclusive);

    // Two reports of the three due.
    let events = healthy_scx();
    let v = judge(&JudgeInput {
        events: &events,
        scheduler_expected: true,
        expected_workers: Some(3),
        ..Default::default()
    })
    .verdict;
    assert_eq!(classes(&v), [Class::HarnessError]);
    assert!(
        v.findings[0].message.contains("2 of 3 workers reported"),
        "{}",
        v.findings[0].message
    );
    let v = judge(&JudgeInput {
        events: &events,
        scheduler_expected: true,
        expected_workers: Some(2),
        ..Default::default()
    })
    .verdict;
    assert_eq!(v.outcome, Outcome::Pass, "{v:#?}");
}

#[test]
fn a_guest_of_another_protocol_is_not_read() {
    let mut events = healthy_scx();
    events[1] = g(GuestMsg::Hello {
        protocol: ktstr_wire::PROTOCOL_VERSION + 7,
        kernel_release: "6.12".into(),
        uptime_ms: 900,
        sched_ext: true,
    });
    let v = judge_events(&events, true, "");
    assert_eq!(classes(&v), [Class::HarnessError]);
    assert!(v.findings[0].message.contains("protocol"), "{v:?}");
}

#[test]
fn a_guest_of_another_protocol_is_refused_at_its_first_word() {
    // What a guest of another version says first, before any Hello: the
    // host sends it no run, so this is all the verdict has.
    let events = vec![
        TimedEvent::new(0, Event::QemuStarted),
        g(GuestMsg::AwaitingRun {
            protocol: ktstr_wire::PROTOCOL_VERSION + 1,
            uptime_ms: 800,
        }),
        TimedEvent::new(
            900,
            Event::QemuExited {
                exit: QemuExit::Signaled { signal: 9 },
            },
        ),
    ];
    let v = judge_events(&events, true, "");
    assert_eq!(classes(&v), [Class::HarnessError], "{v:#?}");
    assert!(v.findings[0].message.contains("protocol"), "{v:?}");
}

#[test]
fn init_dying_is_the_harness_not_the_kernel() {
    let mut events = healthy_scx();
    events.truncate(5);
    events.push(TimedEvent::new(
        50,
        Event::QemuExited {
            exit: QemuExit::Exited { code: 0 },
        },
    ));
    let console = "[ 3.0] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100\n[ 3.0] CPU: 1 PID: 1 Comm: init\n";
    let v = judge_events(&events, true, console);
    assert_eq!(classes(&v), [Class::HarnessError], "{v:#?}");
    assert_eq!(v.outcome, Outcome::Inconclusive);
    assert!(v.findings[0].message.contains("guest init (PID 1) died"));
}

#[test]
fn a_guest_that_resets_mid_run_failed_itself() {
    // QEMU exits 0 on a guest reset (-no-reboot): no panic on the console,
    // no Done. Not infrastructure to retry: the kernel under test died.
    let mut events = healthy_scx();
    events.truncate(5);
    events.push(TimedEvent::new(
        50,
        Event::QemuExited {
            exit: QemuExit::Exited { code: 0 },
        },
    ));
    let v = judge_events(&events, true, "[ 2.0] just booted\n");
    assert_eq!(classes(&v), [Class::GuestReset]);
    assert_eq!(v.outcome, Outcome::Fail);
    assert!(!Class::GuestReset.is_infrastructure());
    // QEMU itself failing (non-zero) stays infrastructure.
    events.pop();
    events.push(TimedEvent::new(
        50,
        Event::QemuExited {
            exit: QemuExit::Exited { code: 1 },
        },
    ));
    let v = judge_events(&events, true, "");
    assert_eq!(classes(&v), [Class::QemuDied]);
}

#[test]
fn a_shell_session_scans_only_the_kernel_lines() {
    let events = healthy_scx();
    // The user typed it, or a program printed it: not the kernel.
    let typed = "/ # echo 'BUG: pretend'\nBUG: pretend\n";
    let judge = |shell: bool, console: &str| {
        judge(&JudgeInput {
            events: &events,
            scheduler_expected: true,
            console,
            shell,
            ..Default::default()
        })
        .verdict
    };
    assert_eq!(judge(true, typed).outcome, Outcome::Pass);
    assert_eq!(classes(&judge(false, typed)), [Class::KernelBug]);
    let kernel = "[ 4.2] BUG: scheduling while atomic\n";
    assert_eq!(classes(&judge(true, kernel)), [Class::KernelBug]);
}
