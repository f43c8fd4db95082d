//! Which exit code each kernel error means (see [`crate::exit`]): a kernel
//! that cannot be found, built or configured cannot be tested (125, so a
//! bisect skips the commit); a missing tool or an unwritable cache is the
//! machine's problem (131); a bad fragment is the user's input (129).

use super::fragment::FragmentError;
use super::make::MakeError;
use super::store::StoreError;
use crate::exit::{ExitClass, ExitCode};

impl ExitClass for StoreError {
    fn exit_code(&self) -> ExitCode {
        ExitCode::Environment
    }
}

impl ExitClass for FragmentError {
    fn exit_code(&self) -> ExitCode {
        ExitCode::Usage
    }
}

impl ExitClass for MakeError {
    fn exit_code(&self) -> ExitCode {
        match self {
            // The tree does not build: this commit cannot be tested.
            MakeError::Failed { .. } => ExitCode::CannotTest,
            MakeError::Spawn { .. } | MakeError::Log { .. } => ExitCode::Environment,
        }
    }
}
