//! The VM options `exec` and `shell` share with `run` (same names, same
//! defaults). Scheduler arguments come as one quoted `--sched-args` string,
//! because `--` belongs to the command.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::CommandError;
use crate::cli::{parse_duration, parse_memory, DEFAULT_CPUS};
use crate::qemu::accel::AccelRequest;
use crate::run::plan::RunRequest;

#[derive(Debug, Clone, Args)]
pub struct VmArgs {
    /// Kernel: a bzImage path, a cache key (prefix), or none for the newest cached
    #[arg(long, short = 'k', env = "KTSTR_VM_KERNEL", value_name = "PATH|KEY")]
    pub kernel: Option<String>,
    /// Scheduler: a path, a name on PATH, or a kernel example (scx_simple); none = EEVDF
    #[arg(long, short = 's', value_name = "NAME|PATH")]
    pub scheduler: Option<String>,
    /// Arguments for the scheduler, as one shell-quoted string
    #[arg(long, value_name = "'ARGS'", allow_hyphen_values = true)]
    pub sched_args: Option<String>,
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

impl VmArgs {
    /// A run request for these options, whose workload lasts `duration`.
    pub fn request(&self, duration: Duration) -> Result<RunRequest, CommandError> {
        let scheduler_args = match &self.sched_args {
            None => Vec::new(),
            Some(s) => shlex::split(s).ok_or_else(|| CommandError::SchedArgs(s.clone()))?,
        };
        let topology = match (&self.topology, self.cpus) {
            (Some(t), _) => t.clone(),
            (None, Some(n)) => format!("1n1l{n}c1t"),
            (None, None) => format!("1n1l{DEFAULT_CPUS}c1t"),
        };
        Ok(RunRequest {
            kernel: self.kernel.clone(),
            scheduler: self.scheduler.clone(),
            scheduler_args,
            duration,
            workers: None,
            work_types: Vec::new(),
            topology,
            memory_mib: self.memory,
            accel: self.accel,
            timeout: None,
            attach_timeout: self.attach_timeout,
            artifacts: self.artifacts.clone(),
            includes: self.include.clone(),
            append: self.append.clone(),
            scenarios: Vec::new(),
            asserts: Vec::new(),
            faults: Vec::new(),
        })
    }
}
