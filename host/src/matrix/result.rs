//! What one cell of a matrix came to: its status, exit code, the reason
//! it was skipped or could not start, and its run's result. Shared by the
//! runner, the progress display and the outputs.

use std::path::PathBuf;

use serde::Serialize;

use super::cells::Cell;
use crate::error::Error;
use crate::exit::ExitCode;
use crate::report::RunResult;

/// How a cell ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Pass,
    /// The scheduler or kernel under test failed.
    Fail,
    /// The run could not test (no boot, no sched_ext, harness trouble).
    CannotTest,
    /// Excluded by the plan, or not run (fail-fast, interrupt).
    Skipped,
    /// The cell could not start: its kernel or scheduler could not be
    /// prepared, or its options are wrong.
    Error,
}

/// One cell's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct CellResult {
    #[serde(flatten)]
    pub cell: Cell,
    pub status: Status,
    pub exit_code: i32,
    /// Why it was skipped, or the error that kept it from starting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The run's result (absent for skipped and errored cells).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<RunResult>,
    pub artifacts: PathBuf,
}

impl CellResult {
    pub(super) fn skipped(cell: Cell, reason: String, artifacts: PathBuf) -> CellResult {
        CellResult {
            cell,
            status: Status::Skipped,
            exit_code: ExitCode::Pass.code(),
            reason: Some(reason),
            result: None,
            artifacts,
        }
    }

    pub(super) fn error(cell: Cell, err: &Error, artifacts: PathBuf) -> CellResult {
        CellResult {
            cell,
            status: Status::Error,
            exit_code: err.exit_code().code(),
            reason: Some(err.to_string()),
            result: None,
            artifacts,
        }
    }

    /// The process exit code this cell asks for.
    pub fn exit(&self) -> ExitCode {
        match self.exit_code {
            0 => ExitCode::Pass,
            1 => ExitCode::Fail,
            125 => ExitCode::CannotTest,
            129 => ExitCode::Usage,
            130 => ExitCode::Interrupted,
            _ => ExitCode::Environment,
        }
    }
}
