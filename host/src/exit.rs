//! Exit codes, decided in one place, designed for `git bisect run`:
//! 0 = good, 1 = bad, 125 = skip this commit, and >127 aborts the bisect
//! (a usage or environment problem must not be mistaken for "bad").

use crate::verdict::Outcome;

/// The codes ktstr-vm exits with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExitCode {
    /// The scheduler and kernel passed every check.
    Pass = 0,
    /// The scheduler or kernel under test failed.
    Fail = 1,
    /// This kernel/scheduler cannot be tested (no boot to init, no
    /// sched_ext, scheduler binary missing or unusable, topology mismatch).
    CannotTest = 125,
    /// Bad command line or input file: fix the invocation.
    Usage = 129,
    /// Interrupted (Ctrl-C, SIGTERM).
    Interrupted = 130,
    /// The host cannot run tests (QEMU missing, KVM requested but
    /// unusable, an unwritable cache): fix the machine.
    Environment = 131,
}

impl ExitCode {
    pub fn code(self) -> i32 {
        self as i32
    }

    /// From a verdict outcome.
    pub fn from_outcome(outcome: Outcome, interrupted: bool) -> ExitCode {
        match outcome {
            Outcome::Fail => ExitCode::Fail,
            Outcome::Inconclusive if interrupted => ExitCode::Interrupted,
            Outcome::Inconclusive => ExitCode::CannotTest,
            Outcome::Pass | Outcome::Skip => ExitCode::Pass,
        }
    }
}

/// The help text's table, also used by the README.
pub const EXIT_CODES_HELP: &str = "\
Exit codes (for scripts and `git bisect run`):
  0    pass: the scheduler and kernel passed every check
  1    fail: the scheduler or kernel under test failed
  125  cannot test: no boot to init, no sched_ext, scheduler missing or unusable
  129  usage error (bad flag, bad scenario file): a bisect aborts
  130  interrupted
  131  environment error (QEMU missing, KVM unusable, cache unwritable): a bisect aborts";

/// The exit code for an error that stopped a command before a verdict.
pub fn exit_code_for_error(err: &anyhow::Error) -> ExitCode {
    use crate::guest_image::GuestImageError;
    use crate::run::execute::ExecuteError;
    use crate::run::plan::PlanError;
    use crate::run::runner::RunError;
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<crate::kernel::BuildError>() {
            return e.exit_code();
        }
        if let Some(e) = cause.downcast_ref::<crate::kernel::ResolveError>() {
            return e.exit_code();
        }
        if let Some(e) = cause.downcast_ref::<crate::kernel::clean::CleanError>() {
            return e.exit_code();
        }
        if let Some(e) = cause.downcast_ref::<PlanError>() {
            return match e {
                PlanError::Kernel(k) => k.exit_code(),
                PlanError::NotAKernel { .. }
                | PlanError::NoSchedExt { .. }
                | PlanError::SchedulerNotFound { .. } => ExitCode::CannotTest,
                PlanError::Accel(_) => ExitCode::Environment,
                PlanError::Topology(_)
                | PlanError::Cmdline(_)
                | PlanError::Include(..)
                | PlanError::Workload(_)
                | PlanError::Inject { .. }
                | PlanError::Scenario(_) => ExitCode::Usage,
            };
        }
        if let Some(e) = cause.downcast_ref::<ExecuteError>() {
            return match e {
                ExecuteError::Image(img) if img.is_scheduler_problem() => ExitCode::CannotTest,
                ExecuteError::Image(GuestImageError::Include { .. }) => ExitCode::Usage,
                _ => ExitCode::Environment,
            };
        }
        if cause
            .downcast_ref::<crate::payload::PayloadError>()
            .is_some()
        {
            return ExitCode::Usage;
        }
        if let Some(e) = cause.downcast_ref::<crate::commands::bisect::BisectError>() {
            return match e {
                crate::commands::bisect::BisectError::Git { .. } => ExitCode::Environment,
                _ => ExitCode::Usage,
            };
        }
        if cause.downcast_ref::<RunError>().is_some() {
            return ExitCode::Environment;
        }
    }
    ExitCode::Environment
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_mapping() {
        assert_eq!(ExitCode::from_outcome(Outcome::Pass, false).code(), 0);
        assert_eq!(ExitCode::from_outcome(Outcome::Fail, false).code(), 1);
        assert_eq!(
            ExitCode::from_outcome(Outcome::Inconclusive, false).code(),
            125
        );
        assert_eq!(
            ExitCode::from_outcome(Outcome::Inconclusive, true).code(),
            130
        );
        // Usage and environment errors must abort a bisect (> 127).
        assert!(ExitCode::Usage.code() > 127 && ExitCode::Environment.code() > 127);
    }
}
