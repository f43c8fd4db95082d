//! Where a worker may run, as written in a spec.
//!
//! Intents name topology objects (`llc`, `numa`, SMT cores) rather than CPU
//! numbers where they can, so a spec keeps its meaning when the VM's CPU
//! numbering changes. The guest resolves them against the topology it
//! observed, in the parent before forking.

use serde::{Deserialize, Serialize};

/// Where a worker may run, as written in the spec.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum AffinityIntent {
    /// Keep the parent's mask.
    #[default]
    Inherit,
    /// Each worker on one CPU, spread round-robin over the online CPUs.
    SingleCpu,
    /// The CPUs sharing last-level cache group `index`.
    Llc { index: usize },
    /// The CPUs of NUMA node `node`.
    Numa { node: u32 },
    /// Each worker on one physical core (its SMT siblings), round-robin.
    SmtSiblings,
    /// Exactly these CPUs.
    CpuList { cpus: Vec<u32> },
    /// A seeded random subset of `count` online CPUs, drawn per worker.
    RandomSubset { count: usize },
}
