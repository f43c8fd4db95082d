//! Commands built on whole runs. `exec` and `shell` are the test VM used by
//! hand: both boot through the same plan, initramfs, runner and verdict as
//! `run`, with no workers; `exec` runs one command as a foreground payload
//! and exits with its code, `shell` gives the console to a busybox shell.
//! `bisect` drives `git bisect run` with a run at every step.

pub mod bisect;
pub mod exec;
pub mod shell;
mod vm_args;

use std::io::Write;

pub use vm_args::VmArgs;

use crate::cache_dir::CacheDir;
use crate::cli::{Cli, Command};
use crate::exit::{exit_code_for_error, ExitCode};

/// Problems of these commands themselves, before anything boots.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("`ktstr-vm shell` needs a terminal on stdin and stdout; for scripts use `ktstr-vm exec -- CMD`")]
    NoTerminal,
    #[error("no busybox on the host PATH: the guest shell is busybox (Debian: apt-get install busybox-static)")]
    NoBusybox,
    #[error("--sched-args {0:?}: unbalanced quotes or a trailing backslash")]
    SchedArgs(String),
}

impl CommandError {
    fn exit_code(&self) -> ExitCode {
        match self {
            CommandError::NoTerminal | CommandError::SchedArgs(_) => ExitCode::Usage,
            CommandError::NoBusybox => ExitCode::Environment,
        }
    }
}

/// Runs `exec` or `shell` and returns the process exit code: the guest
/// command's own for `exec`, else ktstr-vm's (see [`crate::exit`]).
pub fn main(cli: Cli) -> std::process::ExitCode {
    let outcome = CacheDir::resolve(cli.cache_dir.as_deref())
        .map_err(anyhow::Error::from)
        .and_then(|cache| match &cli.command {
            Some(Command::Exec(args)) => exec::run(args, &cache),
            Some(Command::Shell(args)) => shell::run(args, &cache),
            _ => unreachable!("commands::main handles exec and shell only"),
        });
    let code = match outcome {
        Ok(code) => code,
        Err(err) => {
            let mut msg = format!("ktstr-vm: error: {err}");
            for cause in err.chain().skip(1) {
                msg.push_str(&format!("\n  caused by: {cause}"));
            }
            let code = match err.downcast_ref::<CommandError>() {
                Some(e) => e.exit_code(),
                None => exit_code_for_error(&err),
            };
            let _ = writeln!(std::io::stderr(), "{msg}\n  (exit code {})", code.code());
            code.code() as u8
        }
    };
    std::process::ExitCode::from(code)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use clap::Parser;

    use crate::cli::{Cli, Command};

    #[test]
    fn exec_takes_the_command_after_double_dash() {
        let cli = Cli::try_parse_from([
            "ktstr-vm",
            "exec",
            "--cpus",
            "2",
            "-s",
            "scx_qmap",
            "--sched-args",
            "-e 100 'a b'",
            "--timeout",
            "30s",
            "--",
            "sh",
            "-c",
            "exit 3",
        ])
        .unwrap();
        let Some(Command::Exec(args)) = cli.command else {
            panic!("not exec")
        };
        assert_eq!(args.command, ["sh", "-c", "exit 3"]);
        assert_eq!(args.timeout, Duration::from_secs(30));
        let req = args.vm.request(Duration::from_secs(1)).unwrap();
        assert_eq!(req.scheduler_args, ["-e", "100", "a b"]);
        assert_eq!(req.topology, "1n1l2c1t");
        assert!(
            Cli::try_parse_from(["ktstr-vm", "exec"]).is_err(),
            "a command is required"
        );
        let bad =
            Cli::try_parse_from(["ktstr-vm", "exec", "--sched-args", "'x", "--", "true"]).unwrap();
        let Some(Command::Exec(args)) = bad.command else {
            panic!("not exec")
        };
        assert!(args.vm.request(Duration::from_secs(1)).is_err());
    }

    #[test]
    fn shell_parses_vm_options() {
        let cli = Cli::try_parse_from(["ktstr-vm", "shell", "-t", "2n2l2c1t", "-s", "scx_simple"])
            .unwrap();
        let Some(Command::Shell(args)) = cli.command else {
            panic!("not shell")
        };
        assert_eq!(args.vm.vm.topology.as_deref(), Some("2n2l2c1t"));
    }
}
