//! The declared workload: what to run, how many, where, and with which
//! scheduling settings. Hosts write it as JSON (inside the run config) or
//! TOML (scenario files); every optional field has a serde default so that
//! `{work_type: {type: spin_wait}}` is a complete spec.

use serde::{Deserialize, Serialize};

use super::affinity::AffinityIntent;
use super::policy::{MemPolicy, MpolFlags, SchedPolicy};
use super::work_type::WorkType;

/// Everything the guest runs in one boot.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadConfig {
    /// How long workers run after release, in milliseconds.
    pub duration_ms: u64,
    /// Groups of workers; empty means no workers (payload-only runs).
    pub groups: Vec<WorkSpec>,
}

/// One group of identical workers sharing a cgroup.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkSpec {
    /// Cgroup name relative to the run's root; empty = no cgroup of its own.
    #[serde(default)]
    pub cgroup: String,
    pub work_type: WorkType,
    /// Worker count; `None` = one per online CPU.
    #[serde(default)]
    pub workers: Option<u32>,
    /// Where each worker may run.
    #[serde(default)]
    pub affinity: AffinityIntent,
    /// Scheduling class and its parameters.
    #[serde(default)]
    pub policy: SchedPolicy,
    /// Nice value (-20..=19); `None` keeps the inherited one.
    #[serde(default)]
    pub nice: Option<i32>,
    /// NUMA memory policy of each worker.
    #[serde(default)]
    pub mem_policy: MemPolicy,
    /// Mode flags for `mem_policy`.
    #[serde(default)]
    pub mpol_flags: MpolFlags,
    /// Processes (default) or threads of one process.
    #[serde(default)]
    pub clone_mode: CloneMode,
    /// Seed for every random choice the group's workers make.
    #[serde(default)]
    pub seed: u64,
}

/// How workers of a group are created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloneMode {
    /// One forked process per worker (own pid, own process group).
    #[default]
    Fork,
    /// Threads of one forked process per group: exercises thread wake-ups
    /// and shared-mm placement. Cgroup placement is per process.
    Thread,
}

/// A workload the engine cannot run as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error(
        "group {group} ({work_type}): {workers} workers is not a multiple of the group \
         size {size}; use a multiple of {size}"
    )]
    GroupSize {
        group: usize,
        work_type: &'static str,
        workers: u32,
        size: u32,
    },
    #[error("group {group}: nice {nice} is outside -20..=19")]
    Nice { group: usize, nice: i32 },
    #[error("group {group}: cgroup name {name:?} must be a relative path without '..'")]
    CgroupName { group: usize, name: String },
    #[error("group {group} ({work_type}): {problem}")]
    Parameter {
        group: usize,
        work_type: &'static str,
        problem: String,
    },
}

impl WorkloadConfig {
    /// Checks what can be checked without the guest's topology: group
    /// sizes of explicit worker counts, nice range, cgroup names, work-type
    /// parameters. `workers: None` groups are checked again at spawn time,
    /// against the CPUs the guest really has.
    pub fn validate(&self) -> Result<(), SpecError> {
        for (group, spec) in self.groups.iter().enumerate() {
            spec.validate(group, spec.workers)?;
        }
        Ok(())
    }

    /// [`validate`](Self::validate) with `workers: None` resolved to `cpus`.
    pub fn validate_for_cpus(&self, cpus: u32) -> Result<(), SpecError> {
        for (group, spec) in self.groups.iter().enumerate() {
            spec.validate(group, Some(spec.worker_count(cpus)))?;
        }
        Ok(())
    }
}

impl WorkSpec {
    /// A group of `work_type` workers (one per CPU), everything else default.
    pub fn new(work_type: WorkType) -> Self {
        WorkSpec {
            work_type,
            ..WorkSpec::default()
        }
    }

    /// The same spec with an explicit worker count.
    pub fn workers(self, n: u32) -> Self {
        WorkSpec {
            workers: Some(n),
            ..self
        }
    }

    /// The worker count, with `None` meaning `cpus`.
    pub fn worker_count(&self, cpus: u32) -> u32 {
        self.workers.unwrap_or(cpus)
    }

    fn validate(&self, group: usize, workers: Option<u32>) -> Result<(), SpecError> {
        let size = self.work_type.group_size();
        if let Some(workers) = workers.filter(|w| !w.is_multiple_of(size)) {
            return Err(SpecError::GroupSize {
                group,
                work_type: self.work_type.name(),
                workers,
                size,
            });
        }
        if let Some(nice) = self.nice {
            if !(-20..=19).contains(&nice) {
                return Err(SpecError::Nice { group, nice });
            }
        }
        let path = std::path::Path::new(&self.cgroup);
        if path.is_absolute()
            || path
                .components()
                .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            return Err(SpecError::CgroupName {
                group,
                name: self.cgroup.clone(),
            });
        }
        self.work_type
            .check_parameters()
            .map_err(|problem| SpecError::Parameter {
                group,
                work_type: self.work_type.name(),
                problem,
            })
    }
}
