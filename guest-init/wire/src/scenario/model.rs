//! What a scenario asks the guest to do: cgroups with cpusets and workers,
//! then steps that change them, each held for a while. The host reads it
//! from a scenario file (adding its own assertion settings) and sends this
//! part in the run config; the guest executes it (`exec`).

use serde::{Deserialize, Serialize};

use super::cpuset::CpusetSpec;
use crate::duration::Millis;
use crate::workload::WorkSpec;

/// One scenario as the guest runs it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioSpec {
    pub name: String,
    /// Cgroups created (with their workers) before the first step.
    #[serde(default)]
    pub cgroups: Vec<CgroupDef>,
    /// Changes applied in order; each is held for its `hold`.
    #[serde(default)]
    pub steps: Vec<Step>,
    /// How long the workers run in total. When the steps' holds add up to
    /// less, the last state is held for the rest.
    pub duration: Millis,
}

/// A cgroup under the run's root. A name with `/` nests (`outer/inner`);
/// missing parents are created with the controllers enabled.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CgroupDef {
    pub name: String,
    /// CPUs of the cgroup; none = everything its parent has.
    #[serde(default)]
    pub cpuset: Option<CpusetSpec>,
    /// Groups of workers started in the cgroup (their `cgroup` field must
    /// be left empty: it is this cgroup).
    #[serde(default)]
    pub workers: Vec<WorkSpec>,
}

/// Ops applied together, then held.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    #[serde(default)]
    pub ops: Vec<Op>,
    pub hold: Millis,
}

/// One change to the running system.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Op {
    /// Create a cgroup and start its workers.
    AddCgroup(CgroupDef),
    /// Stop the cgroup's workers (their reports are kept) and remove it.
    RemoveCgroup { cgroup: String },
    /// Write the cgroup's `cpuset.cpus`.
    SetCpuset { cgroup: String, cpuset: CpusetSpec },
    /// Empty `cpuset.cpus`: the cgroup gets its parent's CPUs again.
    ClearCpuset { cgroup: String },
    /// Exchange the cpusets of two cgroups.
    SwapCpusets { a: String, b: String },
    /// Move every task of `from` into `to` (`cgroup.procs`).
    MoveTasks { from: String, to: String },
    /// `sched_setaffinity` on every task of the cgroup; no `cpus` = all online.
    SetAffinity {
        cgroup: String,
        #[serde(default)]
        cpus: Option<CpusetSpec>,
    },
    /// Start more workers in an existing cgroup.
    SpawnWorkers {
        cgroup: String,
        workers: Vec<WorkSpec>,
    },
    /// Stop the cgroup's workers (reports kept); the cgroup stays.
    StopWorkers { cgroup: String },
    /// `cgroup.freeze` = 1.
    Freeze { cgroup: String },
    /// `cgroup.freeze` = 0.
    Unfreeze { cgroup: String },
    /// Stop the scheduler under test (tasks fall back to the fair class).
    DetachScheduler,
    /// Start the scheduler under test again and wait for it to attach.
    AttachScheduler,
    /// Detach, then attach.
    RestartScheduler,
}

/// Op names as files spell them (for typo suggestions).
pub const OP_NAMES: &[&str] = &[
    "add_cgroup",
    "remove_cgroup",
    "set_cpuset",
    "clear_cpuset",
    "swap_cpusets",
    "move_tasks",
    "set_affinity",
    "spawn_workers",
    "stop_workers",
    "freeze",
    "unfreeze",
    "detach_scheduler",
    "attach_scheduler",
    "restart_scheduler",
];

impl Op {
    /// The op's name as written in files.
    pub fn name(&self) -> &'static str {
        use Op::*;
        match self {
            AddCgroup(_) => "add_cgroup",
            RemoveCgroup { .. } => "remove_cgroup",
            SetCpuset { .. } => "set_cpuset",
            ClearCpuset { .. } => "clear_cpuset",
            SwapCpusets { .. } => "swap_cpusets",
            MoveTasks { .. } => "move_tasks",
            SetAffinity { .. } => "set_affinity",
            SpawnWorkers { .. } => "spawn_workers",
            StopWorkers { .. } => "stop_workers",
            Freeze { .. } => "freeze",
            Unfreeze { .. } => "unfreeze",
            DetachScheduler => "detach_scheduler",
            AttachScheduler => "attach_scheduler",
            RestartScheduler => "restart_scheduler",
        }
    }

    /// Whether the op touches the scheduler (gaps around it are expected).
    pub fn is_scheduler_op(&self) -> bool {
        matches!(
            self,
            Op::DetachScheduler | Op::AttachScheduler | Op::RestartScheduler
        )
    }
}

impl ScenarioSpec {
    /// Sum of the steps' holds.
    pub fn steps_ms(&self) -> u64 {
        self.steps.iter().map(|s| s.hold.0).sum()
    }

    /// How long the scenario runs: its duration, or the steps if longer.
    pub fn run_ms(&self) -> u64 {
        self.duration.0.max(self.steps_ms())
    }
}
