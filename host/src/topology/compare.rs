//! The layout the guest reports against the one requested.
//!
//! CPUs, node CPU lists, distances, LLC groups and SMT groups must match
//! exactly. Node memory cannot: the guest's `MemTotal` leaves out what the
//! firmware and the kernel reserve (the kernel image, `struct page` arrays,
//! per-CPU areas), so it may fall short of the request by
//! [`MEMORY_SHORTFALL_PERCENT`] plus [`MEMORY_SHORTFALL_PER_CPU_MIB`] per CPU
//! of the node, and never exceed it.

use std::collections::BTreeSet;
use std::fmt;

use ktstr_wire::topology::{format_cpu_list, NumaNode, Topology};

/// Share of a node's requested memory the guest may not show. Measured
/// (QEMU 7.2, the minimal kernel): node 0 of 128 MiB shows 107 MiB (-16%,
/// it holds the kernel), other 128 MiB nodes 124; 512 MiB nodes 482-503.
pub const MEMORY_SHORTFALL_PERCENT: u64 = 25;
/// Extra shortfall allowed per CPU of the node, for per-CPU areas: 512 MiB
/// with 2 CPUs showed 483 MiB, with 64 CPUs 468 MiB (about 0.25 MiB each).
pub const MEMORY_SHORTFALL_PER_CPU_MIB: u64 = 1;

/// Groups listed in a diff line before "and N more".
const MAX_GROUPS_SHOWN: usize = 8;

/// The guest's layout differs from the request: a harness failure (QEMU or
/// the kernel did not build the topology), not the scheduler's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("topology mismatch: the guest does not have the requested layout\n{}", lines(.differences))]
pub struct TopologyMismatch {
    pub differences: Vec<Difference>,
}

/// One way the observed layout differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Difference {
    Cpus {
        expected: Vec<u32>,
        observed: Vec<u32>,
    },
    /// A node requested but absent, or present but not requested.
    NodeMissing {
        node: u32,
    },
    NodeUnexpected {
        node: u32,
    },
    NodeCpus {
        node: u32,
        expected: Vec<u32>,
        observed: Vec<u32>,
    },
    NodeDistances {
        node: u32,
        expected: Vec<u32>,
        observed: Vec<u32>,
    },
    /// `observed` is outside `min..=expected` MiB.
    NodeMemory {
        node: u32,
        expected: u64,
        observed: u64,
        min: u64,
    },
    Llcs(GroupDiff),
    SmtGroups(GroupDiff),
}

/// CPU groups only one side has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDiff {
    pub missing: Vec<Vec<u32>>,
    pub unexpected: Vec<Vec<u32>>,
}

/// `Ok` when `observed` is the `expected` layout (memory within tolerance;
/// skipped where either side does not know it).
pub fn compare(expected: &Topology, observed: &Topology) -> Result<(), TopologyMismatch> {
    let mut differences = Vec::new();
    if expected.cpus != observed.cpus {
        differences.push(Difference::Cpus {
            expected: expected.cpus.clone(),
            observed: observed.cpus.clone(),
        });
    }
    compare_nodes(&expected.nodes, &observed.nodes, &mut differences);
    if let Some(diff) = group_diff(&expected.llcs, &observed.llcs) {
        differences.push(Difference::Llcs(diff));
    }
    if let Some(diff) = group_diff(&expected.cores, &observed.cores) {
        differences.push(Difference::SmtGroups(diff));
    }
    if differences.is_empty() {
        Ok(())
    } else {
        Err(TopologyMismatch { differences })
    }
}

fn compare_nodes(expected: &[NumaNode], observed: &[NumaNode], out: &mut Vec<Difference>) {
    for want in expected {
        let Some(got) = observed.iter().find(|n| n.id == want.id) else {
            out.push(Difference::NodeMissing { node: want.id });
            continue;
        };
        let node = want.id;
        if want.cpus != got.cpus {
            out.push(Difference::NodeCpus {
                node,
                expected: want.cpus.clone(),
                observed: got.cpus.clone(),
            });
        }
        if want.distances != got.distances {
            out.push(Difference::NodeDistances {
                node,
                expected: want.distances.clone(),
                observed: got.distances.clone(),
            });
        }
        if let (Some(expected), Some(observed)) = (want.memory_mib, got.memory_mib) {
            let shortfall = expected * MEMORY_SHORTFALL_PERCENT / 100
                + want.cpus.len() as u64 * MEMORY_SHORTFALL_PER_CPU_MIB;
            let min = expected.saturating_sub(shortfall);
            if !(min..=expected).contains(&observed) {
                out.push(Difference::NodeMemory {
                    node,
                    expected,
                    observed,
                    min,
                });
            }
        }
    }
    for got in observed {
        if !expected.iter().any(|n| n.id == got.id) {
            out.push(Difference::NodeUnexpected { node: got.id });
        }
    }
}

fn group_diff(expected: &[Vec<u32>], observed: &[Vec<u32>]) -> Option<GroupDiff> {
    let want: BTreeSet<&Vec<u32>> = expected.iter().collect();
    let got: BTreeSet<&Vec<u32>> = observed.iter().collect();
    let diff = GroupDiff {
        missing: want.difference(&got).map(|g| g.to_vec()).collect(),
        unexpected: got.difference(&want).map(|g| g.to_vec()).collect(),
    };
    (!diff.missing.is_empty() || !diff.unexpected.is_empty()).then_some(diff)
}

fn lines(differences: &[Difference]) -> String {
    let lines: Vec<String> = differences.iter().map(|d| format!("  {d}")).collect();
    lines.join("\n")
}

/// `[0-3] [4-7]`, cut after [`MAX_GROUPS_SHOWN`].
fn groups(groups: &[Vec<u32>]) -> String {
    if groups.is_empty() {
        return "none".into();
    }
    let mut shown: Vec<String> = groups
        .iter()
        .take(MAX_GROUPS_SHOWN)
        .map(|g| format!("[{}]", format_cpu_list(g)))
        .collect();
    if groups.len() > MAX_GROUPS_SHOWN {
        shown.push(format!("and {} more", groups.len() - MAX_GROUPS_SHOWN));
    }
    shown.join(" ")
}

fn cpus(list: &[u32]) -> String {
    match list {
        [] => "none".into(),
        _ => format_cpu_list(list),
    }
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Difference::Cpus { expected, observed } => write!(
                f,
                "online CPUs: expected {}, guest has {}",
                cpus(expected),
                cpus(observed)
            ),
            Difference::NodeMissing { node } => {
                write!(f, "NUMA node {node}: expected, guest does not have it")
            }
            Difference::NodeUnexpected { node } => {
                write!(f, "NUMA node {node}: not requested, guest has it")
            }
            Difference::NodeCpus {
                node,
                expected,
                observed,
            } => write!(
                f,
                "NUMA node {node} CPUs: expected {}, guest has {}",
                cpus(expected),
                cpus(observed)
            ),
            Difference::NodeDistances {
                node,
                expected,
                observed,
            } => write!(
                f,
                "NUMA node {node} distances: expected {expected:?}, guest has {observed:?}"
            ),
            Difference::NodeMemory {
                node,
                expected,
                observed,
                min,
            } => write!(
                f,
                "NUMA node {node} memory: expected {min}..={expected} MiB, guest has {observed} MiB"
            ),
            Difference::Llcs(d) => write!(f, "LLC groups: {d}"),
            Difference::SmtGroups(d) => write!(f, "SMT sibling groups: {d}"),
        }
    }
}

impl fmt::Display for GroupDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "expected but missing {}; guest has instead {}",
            groups(&self.missing),
            groups(&self.unexpected)
        )
    }
}

#[cfg(test)]
mod tests;
