//! Scheduling class, nice and NUMA memory policy of a worker, as written in
//! a spec. The guest's workload engine applies them with raw syscalls.

use serde::{Deserialize, Serialize};

/// Scheduling class of a worker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "class", rename_all = "snake_case", deny_unknown_fields)]
pub enum SchedPolicy {
    /// `SCHED_NORMAL` (the class sched_ext takes over).
    #[default]
    Normal,
    Batch,
    Idle,
    /// `SCHED_FIFO` at `priority` (1..=99); needs CAP_SYS_NICE.
    Fifo {
        priority: u32,
    },
    /// `SCHED_RR` at `priority` (1..=99); needs CAP_SYS_NICE.
    RoundRobin {
        priority: u32,
    },
    /// `SCHED_DEADLINE`; runtime <= deadline <= period, in nanoseconds.
    Deadline {
        runtime_ns: u64,
        deadline_ns: u64,
        period_ns: u64,
    },
}

/// NUMA memory policy (`set_mempolicy(2)` modes).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum MemPolicy {
    /// Keep the inherited policy.
    #[default]
    Default,
    Bind {
        nodes: Vec<u32>,
    },
    Preferred {
        node: u32,
    },
    Interleave {
        nodes: Vec<u32>,
    },
    /// Allocate on the node of the CPU that faults.
    Local,
    PreferredMany {
        nodes: Vec<u32>,
    },
    WeightedInterleave {
        nodes: Vec<u32>,
    },
}

/// Mode flags OR-ed into the `set_mempolicy` mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MpolFlags {
    /// `MPOL_F_STATIC_NODES`: node ids are physical, not cpuset-relative.
    pub static_nodes: bool,
    /// `MPOL_F_RELATIVE_NODES`: node ids are relative to the cpuset.
    pub relative_nodes: bool,
    /// `MPOL_F_NUMA_BALANCING`: let NUMA balancing move pages (bind only).
    pub numa_balancing: bool,
}
