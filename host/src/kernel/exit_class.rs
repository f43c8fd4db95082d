//! Which exit code each kernel error means (see [`crate::exit`]): a kernel
//! that cannot be found, built or configured cannot be tested (125, so a
//! bisect skips the commit); a missing tool or an unwritable cache is the
//! machine's problem (131); a bad fragment is the user's input (129).

use super::build::BuildError;
use super::fragment::FragmentError;
use super::make::MakeError;
use super::resolve::ResolveError;
use super::source::SourceError;
use super::store::StoreError;
use crate::exit::{ExitClass, ExitCode};

impl ExitClass for ResolveError {
    fn exit_code(&self) -> ExitCode {
        match self {
            ResolveError::Store(e) => e.exit_code(),
            _ => ExitCode::CannotTest,
        }
    }
}

impl ExitClass for StoreError {
    fn exit_code(&self) -> ExitCode {
        ExitCode::Environment
    }
}

impl ExitClass for SourceError {
    fn exit_code(&self) -> ExitCode {
        match self {
            SourceError::NoDefault => ExitCode::Environment,
            SourceError::Missing(_) | SourceError::NotKernelTree(_) => ExitCode::Usage,
            SourceError::TarballLayout(_) => ExitCode::CannotTest,
            SourceError::Io { .. } | SourceError::Command { .. } => ExitCode::Environment,
        }
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

impl ExitClass for BuildError {
    fn exit_code(&self) -> ExitCode {
        match self {
            BuildError::Source(e) => e.exit_code(),
            BuildError::Fragment(e) => e.exit_code(),
            // An option the source cannot give: this kernel cannot be tested.
            BuildError::Verify { .. } | BuildError::MissingOutput { .. } => ExitCode::CannotTest,
            BuildError::Make(e) => e.exit_code(),
            BuildError::Store(e) => e.exit_code(),
            BuildError::Io { .. } | BuildError::MissingTool { .. } => ExitCode::Environment,
        }
    }
}
