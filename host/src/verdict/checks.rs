//! The individual checks behind [`super::judge`]. Each reads a [`Facts`]
//! digest of the events and returns findings.

use ktstr_guest::topology::Topology;
use ktstr_guest::wire::{ExitStatus, GuestMsg, Stream};
use ktstr_guest::workload::{WorkerExit, WorkerReport};

use super::kernel_log::{self, NORMAL_UNREGISTER};
use super::{Class, Finding, JudgeInput};
use crate::run::events::Event;

/// Lines of scheduler log kept as evidence.
const SCHED_TAIL: usize = 25;
/// Lines of console kept as evidence.
const CONSOLE_TAIL: usize = 25;
/// Lines of a sched_ext debug dump kept as evidence.
const DUMP_LINES: usize = 40;

/// The events, sorted by kind.
#[derive(Debug, Default)]
struct Facts<'a> {
    hello: Option<(&'a str, bool)>,
    errors: Vec<(&'a str, &'a str)>,
    topology: Option<&'a Topology>,
    started: bool,
    attached: Option<&'a str>,
    attach_timeout: Option<(u64, &'a str)>,
    exits: Vec<(ExitStatus, bool)>,
    state_changes: Vec<(&'a str, Option<&'a str>)>,
    kernel: Vec<&'a str>,
    sched_log: Vec<(Stream, &'a str)>,
    workers: Vec<&'a WorkerReport>,
    workload_started: bool,
    done: bool,
    protocol: Vec<&'a str>,
    timeout_ms: Option<u64>,
    interrupted: bool,
    qemu_exit: Option<crate::qemu::process::QemuExit>,
}

fn digest<'a>(input: &'a JudgeInput) -> Facts<'a> {
    let mut f = Facts::default();
    for ev in input.events {
        match &ev.event {
            Event::Guest { msg } => match msg {
                GuestMsg::Hello { kernel_release, sched_ext, .. } => f.hello = Some((kernel_release, *sched_ext)),
                GuestMsg::Topology(t) => f.topology = Some(t),
                GuestMsg::Phase { phase, .. } => {
                    f.workload_started |= *phase == ktstr_guest::wire::Phase::WorkloadStarted
                }
                GuestMsg::SchedulerStarted { .. } => f.started = true,
                GuestMsg::SchedulerAttached { ops, .. } => f.attached = Some(ops),
                GuestMsg::SchedulerAttachTimeout { waited_ms, state } => f.attach_timeout = Some((*waited_ms, state)),
                GuestMsg::SchedulerLog { stream, line } => f.sched_log.push((*stream, line)),
                GuestMsg::SchedulerExited { exit, requested, .. } => f.exits.push((*exit, *requested)),
                GuestMsg::SchedExtState { state, ops, .. } => f.state_changes.push((state, ops.as_deref())),
                GuestMsg::KernelLog { line, .. } => f.kernel.push(line),
                GuestMsg::Worker(r) => f.workers.push(r),
                GuestMsg::Error { stage, message } => f.errors.push((stage, message)),
                GuestMsg::Done { .. } => f.done = true,
                GuestMsg::PayloadOutput { .. } | GuestMsg::PayloadExited { .. } => {}
            },
            Event::Protocol { error } => f.protocol.push(error),
            Event::HostTimeout { limit_ms } => f.timeout_ms = Some(*limit_ms),
            Event::Interrupted => f.interrupted = true,
            Event::QemuExited { exit } => f.qemu_exit = Some(*exit),
            Event::QemuStarted | Event::PortConnected => {}
        }
    }
    f
}

pub(super) fn all(input: &JudgeInput) -> Vec<Finding> {
    let f = digest(input);
    let mut out = Vec::new();
    if f.interrupted {
        out.push(Finding::new(Class::Interrupted, "interrupted by the user; QEMU was killed", vec![]));
        return out;
    }
    if f.hello.is_none() {
        out.push(no_init(&f, input));
        return out;
    }
    out.extend(harness_errors(&f, input));
    out.extend(topology(&f, input));
    out.extend(scheduler(&f, input));
    out.extend(kernel_health(&f, input));
    out.extend(workers(&f));
    out.extend(completion(&f, input, &out));
    if !f.protocol.is_empty() {
        let ev = f.protocol.iter().take(5).map(|s| s.to_string()).collect();
        out.push(Finding::new(
            Class::ProtocolError,
            format!("{} malformed line(s) from the guest", f.protocol.len()),
            ev,
        ));
    }
    out
}

fn tail(text: &str, n: usize) -> Vec<String> {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].iter().map(|s| s.to_string()).collect()
}

fn no_init(f: &Facts, input: &JudgeInput) -> Finding {
    let mut evidence = tail(input.console, CONSOLE_TAIL);
    let panic = input.console.lines().find(|l| kernel_log::classify(l) == Some(Class::KernelPanic));
    let why = match (f.timeout_ms, panic, f.qemu_exit) {
        (_, Some(p), _) => format!("the kernel panicked before reaching init: {}", p.trim()),
        (Some(ms), _, _) => format!("the kernel did not reach init within {:.1} s (host timeout)", ms as f64 / 1000.0),
        (None, None, Some(exit)) => {
            evidence.splice(0..0, tail(input.qemu_log, 10));
            if input.qemu_log.trim().is_empty() {
                format!("QEMU ended ({exit:?}) before the guest init started")
            } else {
                return Finding::new(
                    Class::QemuDied,
                    format!("QEMU failed before the guest init started: {}", input.qemu_log.trim().lines().last().unwrap_or("")),
                    evidence,
                );
            }
        }
        (None, None, None) => "the guest init never said hello".to_string(),
    };
    Finding::new(Class::NoInit, why, evidence)
}

fn harness_errors(f: &Facts, _input: &JudgeInput) -> Vec<Finding> {
    let mut out = Vec::new();
    for (stage, message) in &f.errors {
        let finding = if *stage == "scheduler" && message.contains("no sched_ext") {
            Finding::new(Class::NoSchedExt, message.to_string(), vec![])
        } else if *stage == "scheduler" {
            Finding::new(Class::SchedulerLoadFailed, message.to_string(), vec![])
        } else {
            Finding::new(Class::HarnessError, format!("guest {stage}: {message}"), vec![])
        };
        out.push(finding);
    }
    if let Some((_, false)) = f.hello {
        if input_needs_scx(f) && !out.iter().any(|x| x.class == Class::NoSchedExt) {
            out.push(Finding::new(Class::NoSchedExt, "the kernel has no sched_ext", vec![]));
        }
    }
    out
}

fn input_needs_scx(f: &Facts) -> bool {
    f.started || f.attach_timeout.is_some()
}

fn topology(f: &Facts, input: &JudgeInput) -> Vec<Finding> {
    let (Some(expected), Some(observed)) = (input.expected_topology, f.topology) else {
        return vec![];
    };
    match crate::topology::compare(expected, observed) {
        Ok(()) => vec![],
        Err(mismatch) => vec![Finding::new(
            Class::TopologyMismatch,
            "the guest's CPU topology differs from the one requested (a harness problem, not the scheduler's)",
            mismatch.to_string().lines().map(str::to_string).collect(),
        )],
    }
}

/// The scheduler's last log lines, and its debug dump when it printed one.
fn sched_evidence(f: &Facts) -> Vec<String> {
    let lines: Vec<&str> = f.sched_log.iter().map(|(_, l)| *l).collect();
    let mut ev = Vec::new();
    if let Some(i) = lines.iter().position(|l| l.contains("DEBUG DUMP")) {
        ev.extend(lines[i..].iter().take(DUMP_LINES).map(|s| format!("scheduler: {s}")));
    }
    let start = lines.len().saturating_sub(SCHED_TAIL);
    for l in &lines[start..] {
        let s = format!("scheduler: {l}");
        if !ev.contains(&s) {
            ev.push(s);
        }
    }
    ev
}

fn scheduler(f: &Facts, input: &JudgeInput) -> Vec<Finding> {
    if !input.scheduler_expected || !f.started {
        return vec![];
    }
    let mut out = Vec::new();
    // The kernel's own account of a disable, with its reason and message.
    let mut disabled = None;
    for (i, line) in f.kernel.iter().enumerate() {
        if let Some((name, reason)) = kernel_log::scx_disabled(line) {
            if reason != NORMAL_UNREGISTER {
                let msg = f.kernel[i + 1..]
                    .iter()
                    .find_map(|l| kernel_log::scx_message(l, &name))
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default();
                let mut ev = vec![line.to_string()];
                ev.extend(f.kernel[i + 1..].iter().take(12).map(|s| s.to_string()));
                ev.extend(sched_evidence(f));
                disabled = Some(Finding::new(
                    Class::SchedulerDisabled,
                    format!("the kernel disabled scheduler {name:?} ({reason}){msg}"),
                    ev,
                ));
                break;
            }
        }
    }
    match (f.attached, f.attach_timeout) {
        (None, Some((waited, state))) => out.push(Finding::new(
            Class::SchedulerAttachTimeout,
            format!("the scheduler did not attach within {:.1} s (sched_ext state: {state})", waited as f64 / 1000.0),
            sched_evidence(f),
        )),
        (None, None) => {
            let how = f
                .exits
                .first()
                .map(|(e, _)| format!(" ({e})"))
                .unwrap_or_default();
            let last_err = f
                .sched_log
                .iter()
                .rev()
                .find(|(s, l)| *s == Stream::Stderr && !l.trim().is_empty())
                .or_else(|| f.sched_log.last())
                .map(|(_, l)| format!(": {}", l.trim()))
                .unwrap_or_default();
            if !f.exits.is_empty() || disabled.is_some() {
                out.push(Finding::new(
                    Class::SchedulerLoadFailed,
                    format!("the scheduler failed to load{how}{last_err}"),
                    sched_evidence(f),
                ));
            }
        }
        (Some(_), _) => {
            if let Some((state, ops)) = f.state_changes.first() {
                if disabled.is_none() {
                    out.push(Finding::new(
                        Class::SchedExtStateChanged,
                        format!(
                            "sched_ext changed under the test: state {state}, ops {}",
                            ops.unwrap_or("none")
                        ),
                        sched_evidence(f),
                    ));
                }
            }
            for (exit, requested) in &f.exits {
                if !requested && disabled.is_none() {
                    out.push(Finding::new(
                        Class::SchedulerExited,
                        format!("the scheduler process ended on its own mid-run ({exit})"),
                        sched_evidence(f),
                    ));
                } else if *requested && !exit.success() && disabled.is_none() && !is_sigint(exit) {
                    out.push(Finding::new(
                        Class::SchedulerExited,
                        format!("the scheduler ended with {exit} when asked to stop"),
                        sched_evidence(f),
                    ));
                }
            }
        }
    }
    if let Some(mut d) = disabled {
        // Disabled before it ever attached: it failed to load, for the
        // kernel's reason (e.g. a BPF error in its init callback).
        if f.attached.is_none() {
            out.retain(|x| x.class != Class::SchedulerLoadFailed);
            d.class = Class::SchedulerLoadFailed;
            d.message = format!("the scheduler failed to load: {}", d.message);
        }
        out.insert(0, d);
    }
    out
}

/// A scheduler without a SIGINT handler dies of it: a normal stop.
fn is_sigint(exit: &ExitStatus) -> bool {
    matches!(exit, ExitStatus::Signaled { signal, .. } if *signal == libc::SIGINT)
}

fn kernel_health(f: &Facts, input: &JudgeInput) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::new();
    let console_lines = input.console.lines().map(|l| l.trim_end());
    let kmsg_lines = f.kernel.iter().copied();
    for line in kmsg_lines.chain(console_lines) {
        let Some(class) = kernel_log::classify(line) else {
            continue;
        };
        if out.iter().any(|x| x.class == class) {
            continue;
        }
        let mut ev = vec![line.to_string()];
        if let Some(pos) = input.console.find(line.trim()) {
            ev.extend(input.console[pos..].lines().skip(1).take(15).map(str::to_string));
        }
        out.push(Finding::new(class, format!("kernel: {}", line.trim()), ev));
    }
    out
}

fn workers(f: &Facts) -> Vec<Finding> {
    let mut died = Vec::new();
    let mut starved = Vec::new();
    for w in &f.workers {
        let who = format!("worker {}.{} (tid {}, {}, cgroup {:?})", w.group, w.index, w.tid, w.work_type, w.cgroup);
        match w.exit {
            WorkerExit::Completed => {
                if w.work_units == 0 {
                    starved.push(format!("{who}: 0 work units, {} ns CPU", w.cpu_time_ns));
                }
            }
            other => died.push(format!("{who}: {other:?}")),
        }
    }
    let mut out = Vec::new();
    if !died.is_empty() {
        out.push(Finding::new(Class::WorkerDied, format!("{} worker(s) died or did not report", died.len()), died));
    }
    if !starved.is_empty() {
        out.push(Finding::new(
            Class::WorkerStarved,
            format!("{} worker(s) never ran", starved.len()),
            starved,
        ));
    }
    out
}

/// A run that did not end with `Done`: hung or died after init.
fn completion(f: &Facts, input: &JudgeInput, so_far: &[Finding]) -> Vec<Finding> {
    if f.done {
        if f.workload_started && f.workers.is_empty() && !so_far.iter().any(|x| x.outcome == super::Outcome::Fail) {
            return vec![Finding::new(Class::HarnessError, "the workload ran but no worker reported", vec![])];
        }
        return vec![];
    }
    if so_far.iter().any(|x| x.class == Class::KernelPanic) {
        return vec![];
    }
    let mut ev = Vec::new();
    if let Some(last) = input.events.iter().rev().find_map(|e| e.guest()) {
        ev.push(format!("last guest message: {}", serde_json::to_string(last).unwrap_or_default()));
    }
    ev.extend(tail(input.console, CONSOLE_TAIL));
    match f.timeout_ms {
        Some(ms) => vec![Finding::new(
            Class::GuestHung,
            format!("the guest stopped responding: no result within {:.1} s, QEMU killed", ms as f64 / 1000.0),
            ev,
        )],
        None => vec![Finding::new(
            Class::QemuDied,
            format!("QEMU ended before the guest finished ({:?})", f.qemu_exit),
            ev,
        )],
    }
}
