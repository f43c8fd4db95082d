//! The individual checks behind [`super::judge`]. Each reads the [`Facts`]
//! digest of the events and returns findings.

use ktstr_wire::workload::WorkerExit;
use ktstr_wire::{ExitStatus, Stage, Stream, PROTOCOL_VERSION};

use super::facts::{digest, Facts, SchedExit};
use super::kernel_log::{self, NORMAL_UNREGISTER};
use super::{health, JudgeInput};
use crate::finding::{Class, Finding, Outcome};
use crate::qemu::process::QemuExit;

/// Lines of scheduler log kept as evidence.
const SCHED_TAIL: usize = 25;
/// Lines of console kept as evidence.
pub(super) const CONSOLE_TAIL: usize = 25;
/// Lines of a sched_ext debug dump kept as evidence.
const DUMP_LINES: usize = 40;
/// Kernel log lines kept after a disable line (message and backtrace).
const DISABLE_CONTEXT: usize = 12;

pub(super) fn all(input: &JudgeInput) -> Vec<Finding> {
    let f = digest(input);
    let mut out = Vec::new();
    if f.interrupted {
        out.push(Finding::new(
            Class::Interrupted,
            "interrupted by the user; QEMU was killed",
            vec![],
        ));
        return out;
    }
    // Before "no init": a guest of another protocol says `awaiting_run`
    // and is refused its run, so it never says hello.
    if let Some(v) = f.guest_protocol.filter(|v| *v != PROTOCOL_VERSION) {
        // Nothing else the guest said can be read with confidence.
        out.push(Finding::new(
            Class::HarnessError,
            format!(
                "the guest speaks protocol {v}, this ktstr-vm speaks {PROTOCOL_VERSION}: its initramfs or snapshot comes from another version (`ktstr-vm kernel clean --snapshots` drops the snapshots, `rm -r ~/.cache/ktstr-vm/initramfs` the built initramfs)"
            ),
            vec![],
        ));
        return out;
    }
    if f.hello.is_none() {
        out.push(no_init(&f, input));
        return out;
    }
    out.extend(harness_errors(&f, input));
    out.extend(topology(&f, input));
    out.extend(scheduler(&f, input));
    out.extend(health::kernel_health(&f, input));
    out.extend(workers(&f));
    out.extend(completion(&f, input, &out));
    if !f.protocol.is_empty() {
        let ev = f.protocol.iter().take(5).map(|s| s.to_string()).collect();
        out.push(Finding::new(
            Class::ProtocolError,
            format!(
                "{} malformed line(s) from the guest",
                f.protocol.len() as u64 + f.protocol_dropped
            ),
            ev,
        ));
    }
    note_injected(&f, &mut out);
    out
}

/// A failure the user asked for (`--inject`) says so first, so nobody
/// hunts for a bug that was put there on purpose.
fn note_injected(f: &Facts, out: &mut [Finding]) {
    let Some(first) = out.iter_mut().find(|x| x.outcome > Outcome::Pass) else {
        return;
    };
    for (i, (fault, at)) in f.injected.iter().enumerate() {
        let line = format!(
            "injected on purpose (--inject): {fault}, at {:.2}s guest uptime",
            *at as f64 / 1000.0
        );
        first.evidence.insert(i, line);
    }
}

fn tail(text: &str, n: usize) -> Vec<String> {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

fn no_init(f: &Facts, input: &JudgeInput) -> Finding {
    let mut evidence = tail(input.console, CONSOLE_TAIL);
    let panic = input
        .console
        .lines()
        .find(|l| kernel_log::classify(l) == Some(Class::KernelPanic));
    let why = match (f.timeout_ms, panic, f.qemu_exit) {
        (_, Some(p), _) => format!("the kernel panicked before reaching init: {}", p.trim()),
        (Some(ms), _, _) => format!(
            "the kernel did not reach init within {:.1} s (host timeout)",
            ms as f64 / 1000.0
        ),
        (None, None, Some(exit)) => {
            evidence.splice(0..0, tail(input.qemu_log, 10));
            if input.qemu_log.trim().is_empty() {
                format!("QEMU ended ({exit:?}) before the guest init started")
            } else {
                return Finding::new(
                    Class::QemuDied,
                    format!(
                        "QEMU failed before the guest init started: {}",
                        input.qemu_log.trim().lines().last().unwrap_or("")
                    ),
                    evidence,
                );
            }
        }
        (None, None, None) => "the guest init never said hello".to_string(),
    };
    Finding::new(Class::NoInit, why, evidence).at(panic.and_then(kernel_log::console_ts_ms))
}

/// What stopped the guest from testing at all: "no sched_ext", decided
/// here only, from `Hello.sched_ext` when a scheduler was asked for (the
/// guest then skips the scheduler and workload without an error of its
/// own); a scheduler binary the guest could not execute (the guest sends
/// that instead of its exit, so no scheduler check fires); and the
/// harness's own errors, judged by their typed stage, never by text.
fn harness_errors(f: &Facts, input: &JudgeInput) -> Vec<Finding> {
    let mut out = Vec::new();
    if let Some((release, false)) = f.hello {
        if input.scheduler_expected {
            out.push(Finding::new(
                Class::NoSchedExt,
                "this kernel has no sched_ext (/sys/kernel/sched_ext is missing): build it with CONFIG_SCHED_CLASS_EXT=y",
                vec![format!("guest kernel {release}: /sys/kernel/sched_ext does not exist, so no scheduler can attach")],
            ));
        }
    }
    if let Some((path, reason)) = f.exec_failed {
        out.push(Finding::new(
            Class::SchedulerExecFailed,
            format!("the scheduler could not be executed in the guest: {path}: {reason}"),
            std::iter::once(
                "the binary never ran: the kernel or the dynamic loader refused it (wrong architecture, a library missing or unusable), so this scheduler cannot be tested here".to_string(),
            )
            .chain(sched_evidence(f))
            .collect(),
        ));
    }
    for (stage, message) in &f.errors {
        let message = match stage {
            Stage::Panic => format!("the guest harness panicked: {message}"),
            Stage::Scheduler => {
                format!("guest harness, starting or watching the scheduler: {message}")
            }
            other => format!("guest {other}: {message}"),
        };
        out.push(Finding::new(Class::HarnessError, message, vec![]));
    }
    out
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
        ev.extend(
            lines[i..]
                .iter()
                .take(DUMP_LINES)
                .map(|s| format!("scheduler: {s}")),
        );
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
    let disabled = kernel_disable(f);
    let mut out = match (f.attached, f.attach_timeout) {
        (None, Some((waited, state))) => vec![Finding::new(
            Class::SchedulerAttachTimeout,
            format!(
                "the scheduler did not attach within {:.1} s (sched_ext state: {state})",
                waited as f64 / 1000.0
            ),
            sched_evidence(f),
        )],
        (None, None) => match &disabled {
            // Disabled before it ever attached: it failed to load, for the
            // kernel's reason (e.g. a BPF error in its init callback).
            Some(d) => {
                let mut d = d.clone();
                d.class = Class::SchedulerLoadFailed;
                d.outcome = d.class.outcome();
                d.message = format!("the scheduler failed to load: {}", d.message);
                return vec![d];
            }
            None => load_failure(f),
        },
        (Some(_), _) => match &disabled {
            Some(_) => vec![],
            None => ended_mid_run(f),
        },
    };
    if let Some(d) = disabled {
        out.insert(0, d);
    }
    out
}

/// The kernel's own account of a disable, with its reason and message.
fn kernel_disable(f: &Facts) -> Option<Finding> {
    let (i, line, name, reason) = f.kernel.iter().enumerate().find_map(|(i, l)| {
        let (name, reason) = kernel_log::scx_disabled(l.text)?;
        (reason != NORMAL_UNREGISTER).then_some((i, l, name, reason))
    })?;
    let after = &f.kernel[i + 1..];
    let msg = after
        .iter()
        .find_map(|l| kernel_log::scx_message(l.text, &name))
        .map(|m| format!(": {m}"))
        .unwrap_or_default();
    let mut ev = vec![line.text.to_string()];
    ev.extend(
        after
            .iter()
            .take(DISABLE_CONTEXT)
            .map(|l| l.text.to_string()),
    );
    ev.extend(sched_evidence(f));
    let finding = Finding::new(
        Class::SchedulerDisabled,
        format!("the kernel disabled scheduler {name:?} ({reason}){msg}"),
        ev,
    );
    Some(finding.at(Some(line.ts_us / 1000)))
}

/// The process ended before sched_ext said `enabled`: why, when libbpf's
/// log says ([`super::load_failure`]), else the exit status and last line.
fn load_failure(f: &Facts) -> Vec<Finding> {
    let Some(first) = f.exits.first() else {
        return vec![];
    };
    let last_err = f
        .sched_log
        .iter()
        .rev()
        .find(|(s, l)| *s == Stream::Stderr && !l.trim().is_empty())
        .or_else(|| f.sched_log.last())
        .map(|(_, l)| format!(": {}", l.trim()))
        .unwrap_or_default();
    let (message, evidence) = super::load_failure::explain(&f.sched_log, &first.exit)
        .unwrap_or_else(|| {
            let generic = format!("the scheduler failed to load ({}){last_err}", first.exit);
            (generic, sched_evidence(f))
        });
    vec![Finding::new(Class::SchedulerLoadFailed, message, evidence).at(Some(first.uptime_ms))]
}

/// After a good attach: the process ended on its own, ended badly when
/// asked to stop, or sched_ext changed under the test. A process that
/// ended explains a state change, so the change is then only evidence.
fn ended_mid_run(f: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    for e in &f.exits {
        let SchedExit {
            exit,
            requested,
            uptime_ms,
        } = *e;
        let message = if !requested {
            format!("the scheduler process ended on its own mid-run ({exit})")
        } else if !exit.success() && !is_sigint(&exit) {
            format!("the scheduler ended with {exit} when asked to stop")
        } else {
            continue;
        };
        let mut ev = scx_kernel_lines(f);
        ev.extend(
            f.state_changes
                .iter()
                .map(|(state, ops, at)| state_line(state, *ops, *at)),
        );
        ev.extend(sched_evidence(f));
        // A dying scheduler may show in sched_ext's state before its exit is reaped.
        let first_seen = f.state_changes.iter().map(|s| s.2).chain([uptime_ms]).min();
        out.push(Finding::new(Class::SchedulerExited, message, ev).at(first_seen));
    }
    if out.is_empty() {
        if let Some((state, ops, at)) = f.state_changes.first() {
            let mut ev = scx_kernel_lines(f);
            ev.extend(sched_evidence(f));
            out.push(
                Finding::new(
                    Class::SchedExtStateChanged,
                    format!(
                        "sched_ext changed under the test: state {state}, ops {}",
                        ops.unwrap_or("none")
                    ),
                    ev,
                )
                .at(Some(*at)),
            );
        }
    }
    out
}

fn state_line(state: &str, ops: Option<&str>, at_ms: u64) -> String {
    format!(
        "guest: sched_ext state became {state:?} (ops {}) at {:.2}s",
        ops.unwrap_or("none"),
        at_ms as f64 / 1000.0
    )
}

/// What the kernel said about sched_ext (enable, disable, its messages).
fn scx_kernel_lines(f: &Facts) -> Vec<String> {
    f.kernel
        .iter()
        .filter(|l| l.text.contains("sched_ext"))
        .take(SCHED_TAIL)
        .map(|l| format!("kernel [{:.3}]: {}", l.ts_us as f64 / 1e6, l.text))
        .collect()
}

/// A scheduler without a SIGINT handler dies of it: a normal stop.
fn is_sigint(exit: &ExitStatus) -> bool {
    matches!(exit, ExitStatus::Signaled { signal, .. } if *signal == libc::SIGINT)
}

fn workers(f: &Facts) -> Vec<Finding> {
    let mut died = Vec::new();
    let mut starved = Vec::new();
    let mut panicked = Vec::new();
    for w in &f.workers {
        let who = format!(
            "worker {}.{} (tid {}, {}, cgroup {:?})",
            w.group, w.index, w.tid, w.work_type, w.cgroup
        );
        match w.exit {
            WorkerExit::Completed => {
                if w.work_units == 0 {
                    starved.push(format!("{who}: 0 work units, {} ns CPU", w.cpu_time_ns));
                }
            }
            // Alive but unable to hand in its report before the deadline:
            // it got no CPU time to do so (or hung), which is starvation
            // from the scheduler's side, not a crash.
            WorkerExit::TimedOut => starved.push(format!(
                "{who}: did not report within the collection deadline (no CPU time, or hung); killed"
            )),
            // The harness's own bug: never the scheduler's failure.
            WorkerExit::Panicked => panicked.push(format!("{who}: panicked (see the console)")),
            other => died.push(format!("{who}: {other:?}")),
        }
    }
    let mut out = Vec::new();
    if !panicked.is_empty() {
        out.push(Finding::new(
            Class::HarnessError,
            format!(
                "{} worker(s) panicked: a bug in the harness",
                panicked.len()
            ),
            panicked,
        ));
    }
    if !died.is_empty() {
        out.push(Finding::new(
            Class::WorkerDied,
            format!("{} worker(s) died or did not report", died.len()),
            died,
        ));
    }
    if !starved.is_empty() {
        out.push(Finding::new(
            Class::WorkerStarved,
            format!(
                "{} worker(s) starved: no progress, or no report before the deadline",
                starved.len()
            ),
            starved,
        ));
    }
    out
}

/// A run that did not end with `Done`: hung or died after init.
fn completion(f: &Facts, input: &JudgeInput, so_far: &[Finding]) -> Vec<Finding> {
    if f.done {
        // A clean `Done` is only a pass when everything due arrived; a
        // guest that skipped steps (or lost messages) could not test.
        if so_far.iter().any(|x| x.outcome >= Outcome::Inconclusive) {
            return vec![];
        }
        if input.scheduler_expected && !f.started {
            return vec![Finding::new(
                Class::HarnessError,
                "the guest finished without starting the scheduler",
                vec![],
            )];
        }
        let reported = f.workers.len();
        let missing = match input.expected_workers {
            _ if input.workerless => None,
            Some(due) if reported < due => Some(format!("{reported} of {due} workers reported")),
            None if f.workload_started && reported == 0 => {
                Some("the workload ran but no worker reported".into())
            }
            _ => None,
        };
        return missing
            .map(|m| vec![Finding::new(Class::HarnessError, m, vec![])])
            .unwrap_or_default();
    }
    // A panic (the kernel's, or init's death: a harness error) already
    // says why the guest ended.
    if so_far
        .iter()
        .any(|x| matches!(x.class, Class::KernelPanic | Class::HarnessError))
    {
        return vec![];
    }
    let mut ev = Vec::new();
    if let Some((phase, at)) = f.last_phase {
        ev.push(format!(
            "last phase reached: {phase:?} at {:.2}s guest uptime",
            at as f64 / 1000.0
        ));
    }
    if let Some((ev_at, last)) = input
        .events
        .iter()
        .rev()
        .find_map(|e| e.guest().map(|m| (e.host_ms, m)))
    {
        ev.push(format!(
            "last guest message ({:.2}s after QEMU started): {}",
            ev_at as f64 / 1000.0,
            serde_json::to_string(last).unwrap_or_default()
        ));
    }
    match f.timeout_ms {
        Some(ms) => {
            ev.push("console tail:".to_string());
            ev.extend(tail(input.console, CONSOLE_TAIL));
            let mut last = f.last_alive_ms.map_or(String::new(), |at| {
                format!(
                    " (last message from init at {:.2}s guest uptime",
                    at as f64 / 1000.0
                )
            });
            if !last.is_empty() {
                if let Some(k) = f.last_kernel_ms.filter(|k| Some(*k) > f.last_alive_ms) {
                    last.push_str(&format!(
                        "; the kernel still logged at {:.2}s",
                        k as f64 / 1000.0
                    ));
                }
                last.push(')');
            }
            vec![Finding::new(
                Class::GuestHung,
                format!(
                    "the guest stopped responding: no result within {:.1} s, QEMU killed{last}",
                    ms as f64 / 1000.0
                ),
                ev,
            )
            .at(f.last_alive_ms)]
        }
        None => {
            ev.extend(
                tail(input.qemu_log, 10)
                    .into_iter()
                    .map(|l| format!("qemu: {l}")),
            );
            ev.push("console tail:".to_string());
            ev.extend(tail(input.console, CONSOLE_TAIL));
            // QEMU exits 0 when the guest resets or powers off (with
            // -no-reboot): the guest ended itself, which its init never
            // does before `Done`, so the kernel under test died.
            if f.qemu_exit == Some(QemuExit::Exited { code: 0 }) {
                return vec![Finding::new(
                    Class::GuestReset,
                    "the guest reset or powered off before it finished, with no panic message (the kernel under test died, e.g. a triple fault)",
                    ev,
                )
                .at(f.last_alive_ms)];
            }
            let how = f
                .qemu_exit
                .map_or("no exit status".to_string(), |e| format!("{e:?}"));
            vec![Finding::new(
                Class::QemuDied,
                format!("QEMU ended before the guest finished ({how})"),
                ev,
            )]
        }
    }
}
