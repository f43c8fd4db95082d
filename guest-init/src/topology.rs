//! The CPU layout as the guest kernel reports it in sysfs.
//!
//! The host builds the *expected* [`Topology`] from the user's spec and the
//! guest sends the *observed* one; the host compares the two. The workload
//! engine resolves topology-aware affinity (`llc(i)`, `numa(i)`, SMT pairs)
//! against the observed one, so specs follow what the kernel really built.

use serde::{Deserialize, Serialize};

/// CPUs, NUMA nodes, LLC groups and SMT sibling groups. Every CPU list is
/// sorted; groups are sorted by their first CPU.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    /// Online CPUs.
    pub cpus: Vec<u32>,
    /// NUMA nodes in id order.
    pub nodes: Vec<NumaNode>,
    /// Groups of CPUs sharing the last-level cache.
    pub llcs: Vec<Vec<u32>>,
    /// Groups of SMT siblings (one group per physical core).
    pub cores: Vec<Vec<u32>>,
}

/// One NUMA node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NumaNode {
    pub id: u32,
    pub cpus: Vec<u32>,
    /// Distance to every node, in node-id order (`node*/distance`).
    pub distances: Vec<u32>,
    /// Memory of the node in MiB (`node*/meminfo` MemTotal), when known.
    pub memory_mib: Option<u64>,
}
