//! `ktstr-vm exec -- CMD ARGS...`: boot, attach the scheduler (if any), run
//! one command as the only (foreground) payload, stream its output live,
//! and exit with its exit code, like `vng --exec`, with our topology,
//! failure detection and artifacts.
//!
//! The command is found like any payload ([`crate::payload::locate`]): a
//! host `PATH` name or host path is shipped with its libraries. A bare `sh`
//! is busybox's (see [`crate::plan::Mode::Exec`]).

use std::io::Write;
use std::time::Duration;

use clap::Args;
use ktstr_wire::ExitStatus;

use crate::args::{parse_duration, VmArgs};
use crate::cache_dir::CacheDir;
use crate::error::Result;
use crate::exit::ExitCode;
use crate::plan::{Mode, RunPlan};
use crate::report::summary;
use crate::run::execute::{execute, EventHook, RunOptions};
use crate::run::live::LiveOutput;

/// How long the live output may take to drain after the run.
const LIVE_DRAIN: Duration = Duration::from_secs(5);
/// Exit code of a command killed at `--timeout`, as coreutils `timeout` does.
pub const TIMED_OUT: u8 = 124;

pub const EXEC_HELP: &str = "\
Exit code: the command's own (128+N when killed by signal N, 124 after --timeout);
when the VM or the scheduler failed instead: 1 (scheduler or kernel failed, with a
summary on stderr), 125 (cannot test), 129 (usage), 131 (environment).

A bare `sh` is busybox's sh, with its applets (cat, grep, ls...).";

#[derive(Debug, Clone, Args)]
pub struct ExecArgs {
    #[command(flatten)]
    pub vm: VmArgs,
    /// Kill the command after this long (exit code 124)
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Progress lines and the run summary on stderr
    #[arg(long, short = 'v')]
    pub verbose: bool,
    /// The command and its arguments, after `--`
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
}

impl ExecArgs {
    /// The plan's mode for this command.
    pub fn mode(&self) -> Mode {
        Mode::Exec {
            command: self.command.clone(),
            timeout: self.timeout,
        }
    }
}

/// Runs the command; returns the exit code (see [`EXEC_HELP`]).
pub fn run(args: &ExecArgs, cache: &CacheDir) -> Result<u8> {
    let plan = RunPlan::new(&args.vm.request(args.mode())?, cache)?;
    let live = LiveOutput::start(std::io::stdout(), std::io::stderr());
    let opts = RunOptions {
        quiet: !args.verbose,
        on_event: Some(EventHook::new(live.observer())),
        ..Default::default()
    };
    let done = execute(&plan, cache, opts);
    let unshown = live.finish(LIVE_DRAIN);
    let done = done?;
    if unshown > 0 {
        let _ = writeln!(
            std::io::stderr(),
            "ktstr-vm: {unshown} chunk(s) of the command's output were not shown live (stdout was not being read); the whole output is in {}",
            done.result.artifacts.display()
        );
    }
    if args.verbose || done.exit != ExitCode::Pass {
        let _ = write!(std::io::stderr(), "{}", summary::render(&done.result));
    }
    if done.exit != ExitCode::Pass {
        return Ok(done.exit.code() as u8);
    }
    let exit = done.result.payloads.first().and_then(|p| p.exit);
    Ok(match exit {
        Some(status) => exit_code(status, args.timeout),
        None => {
            let _ = writeln!(
                std::io::stderr(),
                "ktstr-vm: the guest never reported how the command ended; artifacts in {}",
                done.result.artifacts.display()
            );
            ExitCode::CannotTest.code() as u8
        }
    })
}

/// A shell's view of how the command ended.
fn exit_code(status: ExitStatus, timeout: Duration) -> u8 {
    match status {
        ExitStatus::Exited { code } => code as u8,
        ExitStatus::Signaled { signal, .. } => 128u8.wrapping_add(signal as u8),
        ExitStatus::TimedOut => {
            let _ = writeln!(
                std::io::stderr(),
                "ktstr-vm: the command did not finish within --timeout {}; killed",
                humantime::format_duration(timeout)
            );
            TIMED_OUT
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_shell() {
        let t = Duration::from_secs(1);
        assert_eq!(exit_code(ExitStatus::Exited { code: 0 }, t), 0);
        assert_eq!(exit_code(ExitStatus::Exited { code: 3 }, t), 3);
        assert_eq!(exit_code(ExitStatus::Exited { code: 256 + 7 }, t), 7);
        assert_eq!(
            exit_code(
                ExitStatus::Signaled {
                    signal: 9,
                    core_dumped: false
                },
                t
            ),
            137
        );
        assert_eq!(exit_code(ExitStatus::TimedOut, t), TIMED_OUT);
    }
}
