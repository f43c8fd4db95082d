//! Command-line parsing of the commands that boot a VM by hand.

use std::time::Duration;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::plan::Mode;

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
    let req = args.vm.request(args.mode()).unwrap();
    assert_eq!(req.scheduler_args, ["-e", "100", "a b"]);
    assert_eq!(req.topology, "1n1l2c1t");
    assert_eq!(
        req.mode,
        Mode::Exec {
            command: vec!["sh".into(), "-c".into(), "exit 3".into()],
            timeout: Duration::from_secs(30)
        }
    );
    assert!(
        Cli::try_parse_from(["ktstr-vm", "exec"]).is_err(),
        "a command is required"
    );
    let bad =
        Cli::try_parse_from(["ktstr-vm", "exec", "--sched-args", "'x", "--", "true"]).unwrap();
    let Some(Command::Exec(args)) = bad.command else {
        panic!("not exec")
    };
    assert!(args.vm.request(args.mode()).is_err());
}

#[test]
fn shell_parses_vm_options() {
    let cli =
        Cli::try_parse_from(["ktstr-vm", "shell", "-t", "2n2l2c1t", "-s", "scx_simple"]).unwrap();
    let Some(Command::Shell(args)) = cli.command else {
        panic!("not shell")
    };
    assert_eq!(args.vm.vm.topology.as_deref(), Some("2n2l2c1t"));
    assert_eq!(args.vm.request(Mode::Shell).unwrap().mode, Mode::Shell);
}
