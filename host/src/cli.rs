//! The command line. `run` is the default subcommand, so the headline
//! usage `ktstr-vm --kernel bzImage --scheduler scx_foo` works as written.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::exit::EXIT_CODES_HELP;
use crate::qemu::accel::AccelRequest;
use crate::run::plan::RunRequest;

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
    /// Boot, attach the scheduler, run one command and exit with its code
    #[command(after_help = crate::commands::exec::EXEC_HELP)]
    Exec(crate::commands::exec::ExecArgs),
    /// Boot, attach the scheduler, and give an interactive shell on the console
    Shell(crate::commands::shell::ShellArgs),
}

/// The VM every command boots: kernel, scheduler, topology, memory,
/// accelerator and extra files. Shared by `run`, `exec`, `shell`, `compare`
/// and `bisect`, so each option has one name and one default everywhere.
#[derive(Debug, Clone, Args)]
pub struct VmOpts {
    /// Kernel: bzImage path, VERSION[+debug] (cached, else built), git+URL#REF, cache key; none = newest cached
    #[arg(long, short = 'k', env = "KTSTR_VM_KERNEL", value_name = "KERNEL")]
    pub kernel: Option<String>,
    /// Scheduler: a path, a name on PATH, or a kernel example (scx_simple); none = EEVDF
    #[arg(long, short = 's', value_name = "NAME|PATH")]
    pub scheduler: Option<String>,
    /// Topology: <n>n<l>l<c>c<t>t (e.g. 2n4l4c2t) or a preset (`ktstr-vm topo list`)
    #[arg(long, short = 't', conflicts_with = "cpus")]
    pub topology: Option<String>,
    /// Shorthand for a flat topology of N vCPUs (1 node, 1 LLC)
    #[arg(long)]
    pub cpus: Option<u32>,
    /// Guest memory (e.g. 512M, 1G)
    #[arg(long, short = 'm', default_value = "1G", value_parser = parse_memory)]
    pub memory: u64,
    /// Accelerator; auto picks KVM only where it can boot a stock kernel
    #[arg(long, value_enum, default_value = "auto")]
    pub accel: AccelRequest,
    /// How long the scheduler may take to attach [default: 30s under TCG]
    #[arg(long, value_parser = parse_duration)]
    pub attach_timeout: Option<Duration>,
    /// Copy a host file or directory into the guest (repeatable)
    #[arg(long, value_name = "HOST[:GUEST]")]
    pub include: Vec<String>,
    /// Extra kernel command-line parameters
    #[arg(long, value_name = "PARAMS")]
    pub append: Option<String>,
    /// Directory for console.log, scheduler.log, guest.jsonl, result.json
    #[arg(long, value_name = "DIR")]
    pub artifacts: Option<PathBuf>,
}

impl VmOpts {
    /// `--topology`, else `--cpus N` as a flat topology, else `fallback`,
    /// else [`DEFAULT_CPUS`] flat.
    pub fn topology_spec(&self, fallback: Option<String>) -> String {
        match (&self.topology, self.cpus) {
            (Some(t), _) => t.clone(),
            (None, Some(n)) => format!("1n1l{n}c1t"),
            (None, None) => fallback.unwrap_or_else(|| format!("1n1l{DEFAULT_CPUS}c1t")),
        }
    }

    /// A request for this VM with the default workload (spin_wait, one
    /// worker per vCPU) for `duration`; callers change what they need.
    pub fn request(&self, scheduler_args: Vec<String>, duration: Duration) -> RunRequest {
        RunRequest {
            kernel: self.kernel.clone(),
            scheduler: self.scheduler.clone(),
            scheduler_args,
            duration,
            workers: None,
            work_types: Vec::new(),
            topology: self.topology_spec(None),
            memory_mib: self.memory,
            accel: self.accel,
            timeout: None,
            attach_timeout: self.attach_timeout,
            artifacts: self.artifacts.clone(),
            includes: self.include.clone(),
            append: self.append.clone(),
            faults: Vec::new(),
            scenarios: Vec::new(),
            asserts: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub vm: VmOpts,
    /// Arguments for the scheduler, after `--`, passed as they are
    #[arg(last = true, value_name = "SCHED_ARGS")]
    pub scheduler_args: Vec<String>,
    /// How long the workload runs
    #[arg(long, short = 'd', default_value = "5s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Workers per work type [default: one per vCPU]
    #[arg(long, short = 'w')]
    pub workers: Option<u32>,
    /// Work type(s) to run (repeatable) [default: spin_wait]
    #[arg(long = "work-type", value_name = "NAME")]
    pub work_types: Vec<String>,
    /// Host-side limit for the whole run [default: derived from the duration]
    #[arg(long, value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// Print the full result as JSON on stdout
    #[arg(long)]
    pub json: bool,
    /// Also write a JUnit XML report here (for CI test-report actions)
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// No progress lines
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Scenario: a canned name (`ktstr-vm scenarios list`) or a TOML/JSON file; repeatable (one boot, one result each)
    #[arg(long, value_name = "NAME|FILE")]
    pub scenario: Vec<String>,
    /// Override a scenario threshold, e.g. max_gap_ms=500 or isolation=off (repeatable)
    #[arg(long = "assert", value_name = "KEY=VALUE")]
    pub asserts: Vec<String>,
    /// Run a program in the guest, e.g. 'stress-ng --cpu 2 --timeout 3s' (repeatable); the workload lasts until it exits (at most --duration)
    #[arg(long, value_name = "'CMD ARGS'")]
    pub payload: Vec<String>,
    /// Run a program beside the workers; it is stopped when the workload ends (repeatable)
    #[arg(long, value_name = "'CMD ARGS'")]
    pub payload_bg: Vec<String>,
    /// A payload's non-zero exit does not fail the run
    #[arg(long)]
    pub payload_ignore_exit: bool,
    /// Break the run on purpose to see how it is reported (repeatable):
    /// kill-scheduler[:SIG]@T, sysrq-KEY@T, hang@T; T after the workload starts
    #[arg(long, value_name = "FAULT@T")]
    pub inject: Vec<ktstr_guest::wire::Fault>,
    /// Run N times; fail if any run fails, and report the failure rate
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub repeat: u32,
    /// Re-run up to N times when a run could not test for infrastructure reasons (no init, QEMU died)
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub retry_infra: u32,
}

/// Default flat topology when neither --topology nor --cpus is given.
pub const DEFAULT_CPUS: u32 = 4;

impl RunArgs {
    /// `--payload` (foreground) and `--payload-bg` as specs for
    /// [`RunPlan::add_payloads`](crate::run::plan::RunPlan::add_payloads).
    pub fn payload_specs(
        &self,
    ) -> Result<Vec<crate::payload::PayloadSpec>, crate::payload::PayloadError> {
        let fg = self.payload.iter().map(|p| (p, true));
        let bg = self.payload_bg.iter().map(|p| (p, false));
        fg.chain(bg)
            .map(|(text, foreground)| {
                crate::payload::PayloadSpec::parse(text).map(|s| {
                    s.foreground(foreground)
                        .check_exit(!self.payload_ignore_exit)
                })
            })
            .collect()
    }
}

impl RunArgs {
    pub fn request(&self) -> RunRequest {
        RunRequest {
            topology: self
                .vm
                .topology_spec(crate::scenario::topology_of(&self.scenario)),
            workers: self.workers,
            work_types: self.work_types.clone(),
            timeout: self.timeout,
            faults: self.inject.clone(),
            scenarios: self.scenario.clone(),
            asserts: self.asserts.clone(),
            ..self.vm.request(self.scheduler_args.clone(), self.duration)
        }
    }
}

pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (write e.g. 500ms, 10s, 2m)"))
}

/// `512M`, `1G`, `1536` (MiB) -> MiB.
pub fn parse_memory(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last() {
        Some((i, 'G' | 'g')) => (&s[..i], 1024),
        Some((i, 'M' | 'm')) => (&s[..i], 1),
        _ => (s, 1),
    };
    match num.trim().parse::<u64>() {
        Ok(n) if n > 0 => Ok(n * mult),
        _ => Err(format!("bad memory size {s:?}: write e.g. 512M or 2G")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headline_usage_parses_as_run() {
        let cli =
            Cli::try_parse_from(["ktstr-vm", "--kernel", "bzImage", "--scheduler", "scx_foo"])
                .unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.run.vm.kernel.as_deref(), Some("bzImage"));
        assert_eq!(cli.run.vm.scheduler.as_deref(), Some("scx_foo"));
        let req = cli.run.request();
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
        assert_eq!(cli.run.request().topology, "1n1l8c1t");
    }
}
