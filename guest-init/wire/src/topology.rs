//! The CPU layout: what the host expects from the user's spec and what the
//! guest observes in sysfs, in one shape so the two compare field by field.
//!
//! [`parse_cpu_list`] and [`format_cpu_list`] speak the kernel's cpulist
//! syntax (`0-3,8,10-11`) for both sides.

use std::collections::BTreeSet;

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

/// A malformed cpulist (`0-3,8`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CpuListError {
    #[error("{0:?} is not a CPU number")]
    NotANumber(String),
    #[error("range {0}-{1} runs backwards")]
    Backwards(u32, u32),
}

/// Parses the kernel's cpulist syntax: comma-separated CPUs and inclusive
/// ranges (`0-3,8,10-11`). Empty text is an empty list (a CPU-less node).
/// The result is sorted and free of duplicates.
pub fn parse_cpu_list(text: &str) -> Result<Vec<u32>, CpuListError> {
    let mut cpus = BTreeSet::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        let num = |s: &str| {
            s.trim()
                .parse::<u32>()
                .map_err(|_| CpuListError::NotANumber(s.to_string()))
        };
        match part.split_once('-') {
            Some((lo, hi)) => {
                let (lo, hi) = (num(lo)?, num(hi)?);
                if lo > hi {
                    return Err(CpuListError::Backwards(lo, hi));
                }
                cpus.extend(lo..=hi);
            }
            None => {
                cpus.insert(num(part)?);
            }
        }
    }
    Ok(cpus.into_iter().collect())
}

/// Formats sorted CPUs in cpulist syntax, runs folded into ranges: the
/// inverse of [`parse_cpu_list`], and what QEMU's `cpus=` wants per range.
pub fn format_cpu_list(cpus: &[u32]) -> String {
    let mut out = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let start = cpus[i];
        while i + 1 < cpus.len() && cpus[i].checked_add(1) == Some(cpus[i + 1]) {
            i += 1;
        }
        match cpus[i] {
            end if end == start => out.push(start.to_string()),
            end => out.push(format!("{start}-{end}")),
        }
        i += 1;
    }
    out.join(",")
}

#[cfg(test)]
mod tests;
