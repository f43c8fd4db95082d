//! The VM options `exec` and `shell` share with `run` (same names, same
//! defaults). Scheduler arguments come as one quoted `--sched-args` string,
//! because `--` belongs to the command.

use std::time::Duration;

use clap::Args;

use super::CommandError;
use crate::cli::VmOpts;
use crate::run::plan::RunRequest;

#[derive(Debug, Clone, Args)]
pub struct VmArgs {
    #[command(flatten)]
    pub vm: VmOpts,
    /// Arguments for the scheduler, as one shell-quoted string
    #[arg(long, value_name = "'ARGS'", allow_hyphen_values = true)]
    pub sched_args: Option<String>,
}

impl VmArgs {
    /// A run request for these options, whose workload lasts `duration`.
    pub fn request(&self, duration: Duration) -> Result<RunRequest, CommandError> {
        let scheduler_args = match &self.sched_args {
            None => Vec::new(),
            Some(s) => shlex::split(s).ok_or_else(|| CommandError::SchedArgs(s.clone()))?,
        };
        Ok(self.vm.request(scheduler_args, duration))
    }
}
