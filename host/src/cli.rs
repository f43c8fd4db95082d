//! The command line. `run` is the default subcommand, so the headline
//! usage `ktstr-vm --kernel bzImage --scheduler scx_foo` works as written.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::args::RunArgs;
use crate::exit::EXIT_CODES_HELP;

#[derive(Debug, Parser)]
#[command(
    name = "ktstr-vm",
    version,
    about = "Test Linux sched_ext schedulers in a QEMU VM with a synthetic topology",
    after_help = EXIT_CODES_HELP,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// Cache for kernels and initramfs parts [env: KTSTR_VM_CACHE_DIR] [default: ~/.cache/ktstr-vm]
    #[arg(long, global = true, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Boot a kernel, attach a scheduler, run workers, judge (the default)
    #[command(after_help = EXIT_CODES_HELP)]
    Run(RunArgs),
    /// Build, list and locate sched_ext kernels
    Kernel {
        #[command(subcommand)]
        cmd: crate::kernel::cli::KernelCmd,
    },
    /// Find the commit that broke a test, in a kernel tree or a scheduler repository
    #[command(
        after_help = "Runs `git bisect run` with this test at every step. A kernel tree is built in place \
(incrementally); a scheduler repository runs --build and tests the --scheduler path it produced. \
Commits that do not build or boot are skipped (125)."
    )]
    Bisect(crate::commands::bisect::BisectArgs),
    /// One step of `bisect`: build the checked-out commit and test it (used by git bisect run)
    #[command(hide = true)]
    BisectStep(crate::commands::bisect::BisectArgs),
    /// List and show synthetic topologies
    Topo {
        #[command(subcommand)]
        cmd: crate::topology::cli::TopoCmd,
    },
    /// List and show scenarios (canned ones ship in the binary)
    Scenarios {
        #[command(subcommand)]
        cmd: crate::scenario::cli::ScenariosCmd,
    },
    /// Run a test under A and a baseline B N times each and flag significant regressions
    #[command(after_help = crate::compare::cli::COMPARE_HELP)]
    Compare(crate::compare::cli::CompareArgs),
    /// Run a test over kernels x topologies x schedulers x scenarios, in parallel
    #[command(after_help = crate::matrix::cli::MATRIX_HELP)]
    Matrix(crate::matrix::cli::MatrixArgs),
    /// Boot, attach the scheduler, run one command and exit with its code
    #[command(after_help = crate::commands::exec::EXEC_HELP)]
    Exec(crate::commands::exec::ExecArgs),
    /// Boot, attach the scheduler, and give an interactive shell on the console
    Shell(crate::commands::shell::ShellArgs),
    /// Write report.html for a past run from its artifact directory
    Report(crate::report::html::ReportArgs),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{parse_duration, parse_memory};
    use std::time::Duration;

    #[test]
    fn headline_usage_parses_as_run() {
        let cli =
            Cli::try_parse_from(["ktstr-vm", "--kernel", "bzImage", "--scheduler", "scx_foo"])
                .unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.run.vm.kernel.as_deref(), Some("bzImage"));
        assert_eq!(cli.run.vm.scheduler.as_deref(), Some("scx_foo"));
        let req = cli.run.request().unwrap();
        assert_eq!(req.topology, "1n1l4c1t");
    }

    #[test]
    fn scheduler_args_after_double_dash_stay_intact() {
        let cli = Cli::try_parse_from([
            "ktstr-vm",
            "run",
            "-s",
            "scx_qmap",
            "--",
            "-e",
            "100",
            "a b \"c\"",
        ])
        .unwrap();
        let Some(Command::Run(run)) = cli.command else {
            panic!()
        };
        assert_eq!(run.scheduler_args, ["-e", "100", "a b \"c\""]);
    }

    #[test]
    fn sizes_and_durations() {
        assert_eq!(parse_memory("1G"), Ok(1024));
        assert_eq!(parse_memory("512M"), Ok(512));
        assert_eq!(parse_memory("768"), Ok(768));
        assert!(parse_memory("0").is_err() && parse_memory("lots").is_err());
        assert_eq!(parse_duration("1500ms"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("ten").is_err());
    }

    #[test]
    fn cpus_and_topology_conflict() {
        assert!(
            Cli::try_parse_from(["ktstr-vm", "--cpus", "2", "--topology", "1n1l2c1t"]).is_err()
        );
        let cli = Cli::try_parse_from(["ktstr-vm", "--cpus", "8"]).unwrap();
        assert_eq!(cli.run.request().unwrap().topology, "1n1l8c1t");
    }
}
