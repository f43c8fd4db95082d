//! Messages the guest sends to the host.

use serde::{Deserialize, Serialize};

use crate::scenario::ScenarioEvent;
use crate::topology::Topology;
use crate::workload::WorkerReport;

/// One line on the results port. `type` names the variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum GuestMsg {
    /// The guest is up and waits for its run (see [`crate::HostMsg`]);
    /// repeated until the run arrives.
    AwaitingRun { protocol: u32, uptime_ms: u64 },
    /// First message of the run: who is talking and what kernel it runs on.
    Hello {
        protocol: u32,
        /// `uname -r` of the guest kernel.
        kernel_release: String,
        /// Guest uptime when init started, in milliseconds.
        uptime_ms: u64,
        /// Whether `/sys/kernel/sched_ext` exists (the kernel has sched_ext).
        sched_ext: bool,
    },
    /// The CPU layout the guest kernel reports in sysfs.
    Topology(Topology),
    /// A phase of the run ended, with the guest's uptime at that moment.
    Phase { phase: Phase, uptime_ms: u64 },
    /// The scheduler process was started.
    SchedulerStarted {
        pid: i32,
        path: String,
        args: Vec<String>,
        uptime_ms: u64,
    },
    /// `/sys/kernel/sched_ext/state` became `enabled` with these ops.
    SchedulerAttached { ops: String, uptime_ms: u64 },
    /// The scheduler binary could not be executed at all: the kernel
    /// refused it (wrong architecture, not executable, a missing ELF
    /// interpreter) or the dynamic loader did (a library missing or
    /// unusable). This scheduler cannot be tested here, unlike one that ran
    /// and failed. Sent instead of [`GuestMsg::SchedulerExited`] when the
    /// loader failed after [`GuestMsg::SchedulerStarted`].
    SchedulerExecFailed { path: String, reason: String },
    /// The scheduler did not attach within its timeout.
    SchedulerAttachTimeout { waited_ms: u64, state: String },
    /// One line the scheduler printed.
    SchedulerLog { stream: Stream, line: String },
    /// The scheduler process ended (on its own, or after the guest stopped it).
    SchedulerExited {
        exit: ExitStatus,
        /// True when the guest asked it to stop (end of run).
        requested: bool,
        uptime_ms: u64,
    },
    /// sched_ext state or ops changed while the test ran.
    SchedExtState {
        state: String,
        ops: Option<String>,
        uptime_ms: u64,
    },
    /// A kernel log record from `/dev/kmsg` that matters to the verdict.
    KernelLog {
        /// syslog priority, 0 (emerg) .. 7 (debug).
        level: u8,
        /// Kernel timestamp, microseconds since boot.
        ts_us: u64,
        line: String,
    },
    /// A worker's measurements (or its sentinel when it died).
    Worker(Box<WorkerReport>),
    /// Output of a payload program (a chunk of text, not necessarily a line).
    PayloadOutput {
        name: String,
        stream: Stream,
        data: String,
    },
    /// `bytes` of a payload's output were dropped to stay within the
    /// guest's byte cap: the head was sent before this message, the tail
    /// (the end of the output) follows it.
    PayloadOutputDropped {
        name: String,
        stream: Stream,
        bytes: u64,
    },
    /// A payload program ended.
    PayloadExited {
        name: String,
        exit: ExitStatus,
        /// True when the guest ended it at the end of the workload (a
        /// background payload), so its exit status is not its own verdict.
        #[serde(default)]
        stopped: bool,
        uptime_ms: u64,
    },
    /// A fault from [`RunConfig::faults`](super::RunConfig) is being injected now.
    FaultInjected { fault: String, uptime_ms: u64 },
    /// A point in a scenario's execution (start, release, step, end).
    Scenario(Box<ScenarioEvent>),
    /// Something in the guest harness failed while doing `stage`: the
    /// harness's fault, never the scheduler's (the host says "cannot test").
    /// The host judges by `stage`, never by the message's text.
    Error { stage: Stage, message: String },
    /// A forwarded log hit its cap and later lines of it were not sent
    /// (kernel warnings and worse still reach the console). Not a failure:
    /// the run was tested.
    LogCut { log: String, kept: u64 },
    /// Tracing (`--trace`) started: formats and tasks the host needs to
    /// decode the pages that follow on the trace port.
    TraceStarted(Box<super::TraceStart>),
    /// Tracing stopped: what was shipped and what was lost.
    TraceStopped(Box<super::TraceStop>),
    /// Last message: the guest is about to power off.
    Done { uptime_ms: u64 },
}

/// Points in a run that the timeline records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// The guest init started (kernel reached userspace).
    Init,
    /// Filesystems mounted, results port open.
    Ready,
    /// The scheduler reported `enabled`.
    SchedulerAttached,
    /// Workers released from the start barrier.
    WorkloadStarted,
    /// Workers told to stop.
    WorkloadStopped,
    /// Every report collected.
    ReportsCollected,
    /// The scheduler process was stopped.
    SchedulerStopped,
}

/// What the guest harness was doing when it failed ([`GuestMsg::Error`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Mounting the kernel filesystems.
    Mount,
    /// Reading the run config.
    Config,
    /// Reading the topology from sysfs.
    Topology,
    /// Forwarding `/dev/kmsg`.
    Kmsg,
    /// Raising resource limits.
    Rlimit,
    /// Setting up the run's cgroup.
    Cgroup,
    /// Starting the scheduler (other than exec failures) or watching it.
    Scheduler,
    /// Forking or collecting the workers.
    Workload,
    /// Running a scenario's steps.
    Scenario,
    /// Starting or watching a payload.
    Payload,
    /// The interactive shell.
    Shell,
    /// Injecting a fault (`--inject`).
    Inject,
    /// A panic in any guest thread.
    Panic,
}

impl Stage {
    /// The snake_case name, as on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Mount => "mount",
            Stage::Config => "config",
            Stage::Topology => "topology",
            Stage::Kmsg => "kmsg",
            Stage::Rlimit => "rlimit",
            Stage::Cgroup => "cgroup",
            Stage::Scheduler => "scheduler",
            Stage::Workload => "workload",
            Stage::Scenario => "scenario",
            Stage::Payload => "payload",
            Stage::Shell => "shell",
            Stage::Inject => "inject",
            Stage::Panic => "panic",
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Which output stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stream {
    Stdout,
    Stderr,
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ExitStatus {
    /// Exited with this code.
    Exited { code: i32 },
    /// Killed by this signal.
    Signaled { signal: i32, core_dumped: bool },
    /// Did not end before its deadline and was killed.
    TimedOut,
}

impl ExitStatus {
    /// Exit code 0.
    pub fn success(&self) -> bool {
        matches!(self, ExitStatus::Exited { code: 0 })
    }
}

impl From<std::process::ExitStatus> for ExitStatus {
    fn from(status: std::process::ExitStatus) -> ExitStatus {
        use std::os::unix::process::ExitStatusExt;
        match (status.code(), status.signal()) {
            (Some(code), _) => ExitStatus::Exited { code },
            (None, Some(signal)) => ExitStatus::Signaled {
                signal,
                core_dumped: status.core_dumped(),
            },
            (None, None) => ExitStatus::Exited { code: -1 },
        }
    }
}

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitStatus::Exited { code } => write!(f, "exit code {code}"),
            ExitStatus::Signaled {
                signal,
                core_dumped,
            } => {
                write!(f, "killed by {}", crate::signal::signal_name(*signal))?;
                if *core_dumped {
                    write!(f, " (core dumped)")?;
                }
                Ok(())
            }
            ExitStatus::TimedOut => write!(f, "timed out"),
        }
    }
}
