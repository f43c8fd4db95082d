//! The options commands share: the VM every command boots ([`VmOpts`]),
//! `run`'s workload flags ([`RunArgs`], also `compare`'s and `bisect`'s),
//! and `exec`/`shell`'s scheduler arguments ([`VmArgs`]). A leaf of the
//! command line: `cli` assembles the commands, the commands read these.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::exit::{ExitClass, ExitCode};
use crate::plan::{Mode, RunRequest};
use crate::qemu::accel::AccelRequest;

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
    /// Boot the kernel even when a saved snapshot of this machine could be restored
    #[arg(long)]
    pub cold_boot: bool,
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

    /// A request for this VM doing `mode`, with the default workload
    /// (spin_wait, one worker per vCPU) for `duration`.
    pub fn request(
        &self,
        mode: Mode,
        scheduler_args: Vec<String>,
        duration: Duration,
    ) -> RunRequest {
        RunRequest {
            mode,
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
            payloads: Vec::new(),
            trace: None,
            cold_boot: self.cold_boot,
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
    pub inject: Vec<ktstr_wire::Fault>,
    /// Run N times; fail if any run fails, and report the failure rate
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub repeat: u32,
    /// Re-run up to N times when a run could not test for infrastructure reasons (no init, QEMU died)
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub retry_infra: u32,
    #[command(flatten)]
    pub trace: crate::trace::TraceOpts,
    /// Also write report.html (verdict, workers, plots) into the artifacts
    #[arg(long)]
    pub html: bool,
}

/// Default flat topology when neither --topology nor --cpus is given.
pub const DEFAULT_CPUS: u32 = 4;

impl RunArgs {
    /// `--payload` (foreground) and `--payload-bg` as payload specs.
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
    /// The run these flags ask for.
    pub fn request(&self) -> Result<RunRequest, crate::payload::PayloadError> {
        Ok(RunRequest {
            topology: self
                .vm
                .topology_spec(crate::scenario::topology_of(&self.scenario)),
            workers: self.workers,
            work_types: self.work_types.clone(),
            timeout: self.timeout,
            faults: self.inject.clone(),
            scenarios: self.scenario.clone(),
            asserts: self.asserts.clone(),
            payloads: self.payload_specs()?,
            trace: self.trace.config(),
            ..self
                .vm
                .request(Mode::Workload, self.scheduler_args.clone(), self.duration)
        })
    }
}

pub fn parse_duration(s: &str) -> Result<Duration, String> {
    ktstr_wire::parse_duration(s)
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

/// `exec`'s and `shell`'s VM: [`VmOpts`] plus the scheduler's arguments as
/// one quoted `--sched-args` string, because `--` belongs to the command.
#[derive(Debug, Clone, Args)]
pub struct VmArgs {
    #[command(flatten)]
    pub vm: VmOpts,
    /// Arguments for the scheduler, as one shell-quoted string
    #[arg(long, value_name = "'ARGS'", allow_hyphen_values = true)]
    pub sched_args: Option<String>,
}

/// Flags that parse but do not make sense (exit 129).
#[derive(Debug, thiserror::Error)]
pub enum ArgsError {
    #[error("--sched-args {0:?}: unbalanced quotes or a trailing backslash")]
    SchedArgs(String),
}

impl ExitClass for ArgsError {
    fn exit_code(&self) -> ExitCode {
        ExitCode::Usage
    }
}

impl VmArgs {
    /// A request for this VM doing `mode`.
    pub fn request(&self, mode: Mode) -> Result<RunRequest, ArgsError> {
        let scheduler_args = match &self.sched_args {
            None => Vec::new(),
            Some(s) => shlex::split(s).ok_or_else(|| ArgsError::SchedArgs(s.clone()))?,
        };
        Ok(self
            .vm
            .request(mode, scheduler_args, Duration::from_secs(1)))
    }
}
