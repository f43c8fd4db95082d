//! The vocabulary of a verdict: an [`Outcome`] on the lattice
//! Fail > Inconclusive > Pass > Skip, the [`Class`] of each failure, and
//! the [`Finding`]s that carry the evidence. Every source of findings
//! (health checks, assertions, payloads) and every consumer (reports,
//! repeat, compare) speaks it; it depends on nothing else in the crate.

use serde::Serialize;

use crate::exit::ExitCode;

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
    /// The guest reset or powered off before it finished (the kernel under
    /// test died without a panic message, e.g. a triple fault).
    GuestReset,
    // The workload.
    WorkerStarved,
    WorkerDied,
    /// A scenario assertion failed (see `crate::assert`).
    AssertionFailed,
    /// A payload exited non-zero, was killed, or timed out (see `crate::payload`).
    PayloadFailed,
    // Could not test.
    /// Every assertion was skipped: nothing was measured, so nothing passed.
    NothingMeasured,
    NoInit,
    NoSchedExt,
    /// The scheduler binary could not be executed in the guest (wrong
    /// architecture, a library missing or unusable): not its failure.
    SchedulerExecFailed,
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
            NothingMeasured | NoInit | NoSchedExt | SchedulerExecFailed | QemuDied
            | TopologyMismatch | HarnessError | ProtocolError | Interrupted => {
                Outcome::Inconclusive
            }
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

impl Outcome {
    /// The exit code of a run with this outcome. "Inconclusive" means the
    /// harness could not test (125), never that the scheduler failed;
    /// an interrupted run that could not finish says so (130).
    pub fn exit_code(self, interrupted: bool) -> ExitCode {
        match self {
            Outcome::Fail => ExitCode::Fail,
            Outcome::Inconclusive if interrupted => ExitCode::Interrupted,
            Outcome::Inconclusive => ExitCode::CannotTest,
            Outcome::Pass | Outcome::Skip => ExitCode::Pass,
        }
    }
}

impl Verdict {
    /// The verdict of these findings: the worst outcome, at least Pass.
    pub fn of(findings: Vec<Finding>) -> Verdict {
        let outcome = findings
            .iter()
            .map(|f| f.outcome)
            .max()
            .unwrap_or(Outcome::Pass)
            .max(Outcome::Pass);
        Verdict { outcome, findings }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_mapping() {
        assert_eq!(Outcome::Pass.exit_code(false).code(), 0);
        assert_eq!(Outcome::Skip.exit_code(false).code(), 0);
        assert_eq!(Outcome::Fail.exit_code(false).code(), 1);
        assert_eq!(Outcome::Fail.exit_code(true).code(), 1);
        assert_eq!(Outcome::Inconclusive.exit_code(false).code(), 125);
        assert_eq!(Outcome::Inconclusive.exit_code(true).code(), 130);
    }

    #[test]
    fn verdict_is_the_worst_finding() {
        assert_eq!(Verdict::of(Vec::new()).outcome, Outcome::Pass);
        let f = |c| Finding::new(c, "x", Vec::new());
        let v = Verdict::of(vec![f(Class::NoInit), f(Class::KernelPanic)]);
        assert_eq!(v.outcome, Outcome::Fail);
    }
}
