//! `ktstr-vm shell`: the same VM the tests use (topology, scheduler
//! attached, failure detection, artifacts), with busybox's shell on the
//! serial console for debugging by hand.
//!
//! QEMU's stdio chardev (`signal=off`) puts the terminal in raw mode, so
//! Ctrl-C and Ctrl-Z reach the guest shell's job control; the terminal is
//! restored here as well, in case QEMU was killed and could not do it.
//! The scheduler's output is shown as it comes, and the run's summary
//! when the shell exits (the VM then powers off).

use std::io::{IsTerminal, Write};
use std::time::Duration;

use clap::Args;
use ktstr_guest::wire::{GuestMsg, Stream};
use nix::sys::termios::{tcgetattr, tcsetattr, SetArg};

use super::exec::ship_busybox;
use super::{CommandError, VmArgs};
use crate::cache_dir::CacheDir;
use crate::report::summary;
use crate::run::events::TimedEvent;
use crate::run::execute::{execute, RunOptions};
use crate::run::plan::RunPlan;

/// Host-side limit of a shell session (QEMU is killed after it).
const SESSION_LIMIT: Duration = Duration::from_secs(7 * 24 * 3600);

#[derive(Debug, Clone, Args)]
pub struct ShellArgs {
    #[command(flatten)]
    pub vm: VmArgs,
}

/// Runs the session; returns ktstr-vm's exit code for its verdict.
pub fn run(args: &ShellArgs, cache: &CacheDir) -> anyhow::Result<u8> {
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        return Err(CommandError::NoTerminal.into());
    }
    let mut plan = RunPlan::new(&args.vm.request(Duration::from_secs(1))?, cache)?;
    plan.workload.groups.clear();
    plan.shell = true;
    plan.timeout = SESSION_LIMIT;
    ship_busybox(&mut plan)?;
    let _ = writeln!(
        std::io::stderr(),
        "ktstr-vm: shell: `exit` (or Ctrl-D) powers the VM off, Ctrl-A x kills it; the scheduler's output is shown as [sched] lines"
    );
    let saved = tcgetattr(std::io::stdin()).ok();
    let done = execute(
        &plan,
        cache,
        RunOptions {
            quiet: false,
            on_event: Some(show_scheduler_log),
            html: false,
        },
    );
    if let Some(saved) = saved {
        let _ = tcsetattr(std::io::stdin(), SetArg::TCSANOW, &saved);
    }
    let done = done?;
    let _ = write!(std::io::stderr(), "{}", summary::render(&done.result));
    Ok(done.exit.code() as u8)
}

/// The scheduler's lines on stderr as they arrive. `\r\n`: the terminal
/// is in raw mode while QEMU owns it.
fn show_scheduler_log(ev: &TimedEvent) {
    if let Some(GuestMsg::SchedulerLog { stream, line }) = ev.guest() {
        let tag = if *stream == Stream::Stderr {
            "sched!"
        } else {
            "sched"
        };
        let _ = write!(std::io::stderr(), "[{tag}] {line}\r\n");
    }
}
