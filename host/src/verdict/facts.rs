//! The events of a run, sorted by kind, for the checks to read.

use ktstr_wire::topology::Topology;
use ktstr_wire::workload::WorkerReport;
use ktstr_wire::{ExitStatus, GuestMsg, Phase, Stage, Stream};

use super::JudgeInput;
use crate::events::Event;
use crate::qemu::process::QemuExit;

/// A kernel log record forwarded from `/dev/kmsg`.
#[derive(Debug, Clone, Copy)]
pub(super) struct KernelLine<'a> {
    pub ts_us: u64,
    pub text: &'a str,
}

/// The scheduler process ended.
#[derive(Debug, Clone, Copy)]
pub(super) struct SchedExit {
    pub exit: ExitStatus,
    /// The guest asked it to stop (end of run, or attach timeout).
    pub requested: bool,
    pub uptime_ms: u64,
}

#[derive(Debug, Default)]
pub(super) struct Facts<'a> {
    pub hello: Option<(&'a str, bool)>,
    /// The protocol version the guest said it speaks.
    pub guest_protocol: Option<u32>,
    /// Harness errors: (what the guest was doing, its message).
    pub errors: Vec<(Stage, &'a str)>,
    /// The scheduler could not be executed: (guest path, why).
    pub exec_failed: Option<(&'a str, &'a str)>,
    pub topology: Option<&'a Topology>,
    pub started: bool,
    pub attached: Option<&'a str>,
    pub attach_timeout: Option<(u64, &'a str)>,
    pub exits: Vec<SchedExit>,
    /// (state, ops, guest uptime ms)
    pub state_changes: Vec<(&'a str, Option<&'a str>, u64)>,
    pub kernel: Vec<KernelLine<'a>>,
    pub sched_log: Vec<(Stream, &'a str)>,
    pub workers: Vec<&'a WorkerReport>,
    pub workload_started: bool,
    /// The last phase the guest reported, and when (guest uptime ms).
    pub last_phase: Option<(Phase, u64)>,
    /// Faults injected on purpose (`--inject`): (fault, guest uptime ms).
    pub injected: Vec<(&'a str, u64)>,
    /// The latest guest uptime init's own messages carried (kernel log
    /// records excluded: the kernel may live on after init hung).
    pub last_alive_ms: Option<u64>,
    /// The latest kernel log timestamp (ms).
    pub last_kernel_ms: Option<u64>,
    pub done: bool,
    pub protocol: Vec<&'a str>,
    /// Malformed lines past those kept in `protocol`.
    pub protocol_dropped: u64,
    pub timeout_ms: Option<u64>,
    pub interrupted: bool,
    pub qemu_exit: Option<QemuExit>,
}

pub(super) fn digest<'a>(input: &'a JudgeInput) -> Facts<'a> {
    let mut f = Facts::default();
    for ev in input.events {
        match &ev.event {
            Event::Guest { msg } => guest(&mut f, msg),
            Event::Protocol { error } => f.protocol.push(error),
            Event::ProtocolDropped { count } => f.protocol_dropped += count,
            Event::HostTimeout { limit_ms } => f.timeout_ms = Some(*limit_ms),
            Event::Interrupted => f.interrupted = true,
            Event::QemuExited { exit } => f.qemu_exit = Some(*exit),
            Event::QemuStarted
            | Event::PortConnected
            | Event::ConsoleCut { .. }
            | Event::Restored { .. }
            | Event::SnapshotSaved { .. }
            | Event::SnapshotFailed { .. } => {}
        }
    }
    f
}

fn guest<'a>(f: &mut Facts<'a>, msg: &'a GuestMsg) {
    match (msg, uptime_ms(msg)) {
        (GuestMsg::KernelLog { .. }, at) => f.last_kernel_ms = f.last_kernel_ms.max(at),
        (_, at) => f.last_alive_ms = f.last_alive_ms.max(at),
    }
    match msg {
        GuestMsg::Hello {
            kernel_release,
            sched_ext,
            protocol,
            ..
        } => {
            f.hello = Some((kernel_release, *sched_ext));
            f.guest_protocol = Some(*protocol);
        }
        // The first thing a guest says: a guest of another protocol is
        // not sent its run, so this may be all there is to go on.
        GuestMsg::AwaitingRun { protocol, .. } => f.guest_protocol = Some(*protocol),
        GuestMsg::Topology(t) => f.topology = Some(t),
        GuestMsg::Phase { phase, uptime_ms } => {
            f.workload_started |= *phase == Phase::WorkloadStarted;
            f.last_phase = Some((*phase, *uptime_ms));
        }
        GuestMsg::SchedulerStarted { .. } => f.started = true,
        GuestMsg::SchedulerAttached { ops, .. } => f.attached = Some(ops),
        GuestMsg::SchedulerAttachTimeout { waited_ms, state } => {
            f.attach_timeout = Some((*waited_ms, state))
        }
        GuestMsg::SchedulerLog { stream, line } => f.sched_log.push((*stream, line)),
        GuestMsg::SchedulerExited {
            exit,
            requested,
            uptime_ms,
        } => f.exits.push(SchedExit {
            exit: *exit,
            requested: *requested,
            uptime_ms: *uptime_ms,
        }),
        GuestMsg::SchedExtState {
            state,
            ops,
            uptime_ms,
        } => f.state_changes.push((state, ops.as_deref(), *uptime_ms)),
        GuestMsg::KernelLog { line, ts_us, .. } => f.kernel.push(KernelLine {
            ts_us: *ts_us,
            text: line,
        }),
        GuestMsg::Worker(r) => f.workers.push(r),
        GuestMsg::FaultInjected { fault, uptime_ms } => f.injected.push((fault, *uptime_ms)),
        GuestMsg::Error { stage, message } => f.errors.push((*stage, message)),
        GuestMsg::SchedulerExecFailed { path, reason } => f.exec_failed = Some((path, reason)),
        GuestMsg::Done { .. } => f.done = true,
        // Payloads and scenarios have their own checks, outside the run's health.
        _ => {}
    }
}

/// The guest uptime a message carries, if any.
fn uptime_ms(msg: &GuestMsg) -> Option<u64> {
    match msg {
        GuestMsg::Hello { uptime_ms, .. }
        | GuestMsg::Phase { uptime_ms, .. }
        | GuestMsg::SchedulerStarted { uptime_ms, .. }
        | GuestMsg::SchedulerAttached { uptime_ms, .. }
        | GuestMsg::SchedulerExited { uptime_ms, .. }
        | GuestMsg::SchedExtState { uptime_ms, .. }
        | GuestMsg::FaultInjected { uptime_ms, .. }
        | GuestMsg::Done { uptime_ms } => Some(*uptime_ms),
        GuestMsg::KernelLog { ts_us, .. } => Some(ts_us / 1000),
        _ => None,
    }
}
