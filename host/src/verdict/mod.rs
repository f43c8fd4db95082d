//! From a run's events to a verdict a user can trust.
//!
//! Each check looks at the events (and the console log, for what the guest
//! could not send) and adds [`Finding`]s. The verdict is the worst finding
//! on the lattice Fail > Inconclusive > Pass > Skip. "Inconclusive" means
//! the harness could not test (exit 125), never that the scheduler failed.

mod checks;
mod facts;
mod health;
pub mod kernel_log;
#[cfg(test)]
mod tests;

use ktstr_wire::topology::Topology;
use serde::Serialize;

use crate::run::events::TimedEvent;

/// Outcomes, ordered so that `max` is the combined verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Skip,
    Pass,
    Inconclusive,
    Fail,
}

/// What went wrong, one verdict reason each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Class {
    // The scheduler under test.
    SchedulerLoadFailed,
    SchedulerAttachTimeout,
    SchedulerDisabled,
    SchedulerExited,
    SchedExtStateChanged,
    // The kernel under test.
    KernelPanic,
    KernelOops,
    KernelBug,
    KernelWarning,
    RcuStall,
    SoftLockup,
    HardLockup,
    HungTask,
    GuestHung,
    // The workload.
    WorkerStarved,
    WorkerDied,
    /// A scenario assertion failed (see `crate::assert`).
    AssertionFailed,
    /// A payload exited non-zero, was killed, or timed out (see `crate::payload`).
    PayloadFailed,
    // Could not test.
    NoInit,
    NoSchedExt,
    QemuDied,
    TopologyMismatch,
    HarnessError,
    ProtocolError,
    Interrupted,
}

impl Class {
    /// Whether this class means the scheduler or kernel under test failed
    /// (as opposed to "could not test").
    pub fn outcome(self) -> Outcome {
        use Class::*;
        match self {
            NoInit | NoSchedExt | QemuDied | TopologyMismatch | HarnessError | ProtocolError
            | Interrupted => Outcome::Inconclusive,
            _ => Outcome::Fail,
        }
    }

    /// Whether this class blames the test infrastructure (the boot never
    /// reached init, QEMU died) rather than the kernel or scheduler, so a
    /// re-run (`--retry-infra`) may give an answer.
    pub fn is_infrastructure(self) -> bool {
        matches!(self, Class::NoInit | Class::QemuDied)
    }

    /// The kebab-case name used in JSON and summaries.
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }
}

/// One reason for the verdict, with what proves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub class: Class,
    pub outcome: Outcome,
    pub message: String,
    /// Guest uptime (ms) when the failure happened, when known: the kernel's
    /// timestamp of its log line, or when the guest saw the process end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_guest_ms: Option<u64>,
    /// Excerpts (kernel lines, scheduler log, console tail), most telling first.
    pub evidence: Vec<String>,
}

impl Finding {
    pub fn new(class: Class, message: impl Into<String>, evidence: Vec<String>) -> Finding {
        Finding {
            class,
            outcome: class.outcome(),
            message: message.into(),
            at_guest_ms: None,
            evidence,
        }
    }

    /// The same finding, timed at `ms` of guest uptime.
    pub fn at(mut self, ms: Option<u64>) -> Finding {
        self.at_guest_ms = ms;
        self
    }
}

/// The combined verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub outcome: Outcome,
    pub findings: Vec<Finding>,
}

/// What the checks need besides the events.
#[derive(Debug, Clone, Default)]
pub struct JudgeInput<'a> {
    pub events: &'a [TimedEvent],
    /// A scheduler was requested (so it must attach and stay attached).
    pub scheduler_expected: bool,
    /// The topology the guest must report, when one was requested.
    pub expected_topology: Option<&'a Topology>,
    /// The serial console log (may be empty).
    pub console: &'a str,
    /// QEMU's own stderr (may be empty).
    pub qemu_log: &'a str,
    /// The plan has no worker groups (`exec`, `shell`): no reports are due.
    pub workerless: bool,
    /// How many worker reports are due, when the plan fixes it (a guest
    /// that says `Done` with fewer has lost some: not a pass).
    pub expected_workers: Option<usize>,
}

/// Judges a run.
pub fn judge(input: &JudgeInput) -> Verdict {
    let findings = checks::all(input);
    let outcome = findings
        .iter()
        .map(|f| f.outcome)
        .max()
        .unwrap_or(Outcome::Pass)
        .max(Outcome::Pass);
    Verdict { outcome, findings }
}
