//! Exit codes, designed for `git bisect run`: 0 = good, 1 = bad, 125 = skip
//! this commit, and >127 aborts the bisect (a usage or environment problem
//! must not be mistaken for "bad").
//!
//! Every error type says which class it is through [`ExitClass`], so the
//! code of an error is decided where the error is defined; a type without
//! a class cannot reach `main` (see [`crate::error::Error`]).

/// The codes ktstr-vm exits with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
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

    /// The worse of two codes when several runs make one answer (a
    /// repeated run, a matrix): a failure outranks "cannot test", which
    /// outranks a pass; anything that aborts a bisect outranks them all.
    pub fn worst(self, other: ExitCode) -> ExitCode {
        fn rank(c: ExitCode) -> u8 {
            match c {
                ExitCode::Pass => 0,
                ExitCode::CannotTest => 1,
                ExitCode::Fail => 2,
                ExitCode::Interrupted => 3,
                ExitCode::Usage => 4,
                ExitCode::Environment => 5,
            }
        }
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

/// An error that knows which [`ExitCode`] it means. Implemented next to
/// every error type; `?` into [`crate::error::Error`] requires it.
pub trait ExitClass {
    fn exit_code(&self) -> ExitCode;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bisect_meanings() {
        // Usage and environment errors must abort a bisect (> 127).
        assert!(ExitCode::Usage.code() > 127 && ExitCode::Environment.code() > 127);
        assert_eq!(ExitCode::CannotTest.code(), 125);
    }

    #[test]
    fn worst_of_several_runs() {
        use ExitCode::*;
        assert_eq!(Pass.worst(Fail), Fail);
        assert_eq!(Fail.worst(CannotTest), Fail);
        assert_eq!(CannotTest.worst(Pass), CannotTest);
        assert_eq!(Fail.worst(Interrupted), Interrupted);
        assert_eq!(Environment.worst(Usage), Environment);
    }
}
