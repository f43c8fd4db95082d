//! `ktstr-vm exec -- CMD ARGS...`: boot, attach the scheduler (if any), run
//! one command as the only (foreground) payload, stream its output live,
//! and exit with its exit code, like `vng --exec`, with our topology,
//! failure detection and artifacts.
//!
//! The command is found like any payload ([`crate::payload::locate`]): a
//! host `PATH` name or host path is shipped with its libraries. A bare `sh`
//! is busybox's (shipped from the host), whose applets make
//! `exec -- sh -c 'cat /sys/...'` work in a guest that has no coreutils.

use std::io::Write;
use std::time::Duration;

use clap::Args;
use ktstr_guest::wire::ExitStatus;

use super::{CommandError, VmArgs};
use crate::cache_dir::CacheDir;
use crate::cli::parse_duration;
use crate::exit::ExitCode;
use crate::payload::{locate, PayloadSpec};
use crate::report::summary;
use crate::run::execute::{execute, RunOptions};
use crate::run::plan::{Include, RunPlan};

/// Where busybox goes in the guest (the guest shell looks there too).
pub const GUEST_BUSYBOX: &str = "/bin/busybox";
/// Exit code of a command killed at `--timeout`, as coreutils `timeout` does.
pub const TIMED_OUT: u8 = 124;
/// The workload outlives the command's own timeout by this much, so the
/// guest reports the command as timed out rather than stopped.
const SLACK: Duration = Duration::from_secs(2);

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

/// Runs the command; returns the exit code (see [`EXEC_HELP`]).
pub fn run(args: &ExecArgs, cache: &CacheDir) -> anyhow::Result<u8> {
    let mut plan = RunPlan::new(&args.vm.request(args.timeout + SLACK)?, cache)?;
    plan.workload.groups.clear();
    let spec = command_spec(&args.command, &mut plan)?
        .foreground(true)
        .timeout(args.timeout)
        .check_exit(false);
    plan.add_payloads(&[spec])?;
    let opts = RunOptions {
        quiet: !args.verbose,
        on_event: Some(crate::payload::result::show_live),
        html: false,
    };
    let done = execute(&plan, cache, opts)?;
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

/// The payload for `command`; a bare `sh` becomes busybox's sh.
fn command_spec(command: &[String], plan: &mut RunPlan) -> Result<PayloadSpec, CommandError> {
    let (first, rest) = command.split_first().expect("clap requires a command");
    if first != "sh" {
        return Ok(PayloadSpec::new(first.as_str()).args(rest.iter().cloned()));
    }
    ship_busybox(plan)?;
    Ok(PayloadSpec::new(GUEST_BUSYBOX)
        .name("sh")
        .args(std::iter::once("sh".to_string()).chain(rest.iter().cloned())))
}

/// Adds the host's busybox at [`GUEST_BUSYBOX`].
pub fn ship_busybox(plan: &mut RunPlan) -> Result<(), CommandError> {
    let host = locate("busybox")
        .ok()
        .and_then(|l| l.shipped.into_iter().next())
        .ok_or(CommandError::NoBusybox)?;
    if !plan.includes.iter().any(|i| i.guest == GUEST_BUSYBOX) {
        plan.includes.push(Include {
            host: host.host,
            guest: GUEST_BUSYBOX.to_string(),
        });
    }
    Ok(())
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
