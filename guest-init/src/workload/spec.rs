//! The declared workload: what to run, how many, where.

use serde::{Deserialize, Serialize};

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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkSpec {
    /// Cgroup name relative to the run's root; empty = no cgroup of its own.
    #[serde(default)]
    pub cgroup: String,
    pub work_type: WorkType,
    /// Worker count; `None` = one per online CPU.
    #[serde(default)]
    pub workers: Option<u32>,
}

/// What a worker does in its loop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum WorkType {
    /// Burn CPU without blocking.
    SpinWait,
}

impl WorkType {
    /// The name used on the command line and in reports.
    pub fn name(&self) -> &'static str {
        match self {
            WorkType::SpinWait => "spin_wait",
        }
    }
}
