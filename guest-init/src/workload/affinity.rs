//! Where a worker may run: the intent as written, resolved against the
//! topology the guest observed.
//!
//! Intents name topology objects (`llc`, `numa`, SMT cores) rather than CPU
//! numbers where they can, so a spec keeps its meaning when the VM's CPU
//! numbering changes. Resolution happens in the parent before forking; the
//! worker only applies a CPU list.

use ktstr_wire::topology::Topology;
use ktstr_wire::workload::AffinityIntent;
use serde::{Deserialize, Serialize};

use super::rng::{worker_seed, Rng};

/// A CPU mask ready to apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResolvedAffinity {
    /// Leave the mask alone.
    Inherit,
    /// Restrict to these CPUs (sorted, non-empty).
    Cpus(Vec<u32>),
}

/// An intent that names something the topology does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AffinityError {
    #[error("llc index {index} does not exist: the topology has {count} LLC groups")]
    NoSuchLlc { index: usize, count: usize },
    #[error("NUMA node {node} does not exist: the topology has nodes {nodes:?}")]
    NoSuchNode { node: u32, nodes: Vec<u32> },
    #[error("the topology lists no SMT cores; use single_cpu or cpu_list")]
    NoCores,
    #[error("cpu_list is empty; list at least one CPU")]
    EmptyList,
    #[error(
        "random_subset of {count} CPUs: there are only {online} online CPUs (and 0 is not allowed)"
    )]
    SubsetSize { count: usize, online: usize },
}

/// The online CPUs: the topology's list, or `0..nprocs` when the topology
/// is empty (host tests, or a guest that could not read sysfs).
pub fn online_cpus(topo: &Topology) -> Vec<u32> {
    if !topo.cpus.is_empty() {
        return topo.cpus.clone();
    }
    // SAFETY: sysconf has no memory-safety preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    (0..n.max(1) as u32).collect()
}

/// The mask of worker `index` of a group with this intent.
pub fn resolve_affinity(
    intent: &AffinityIntent,
    topo: &Topology,
    index: u32,
    seed: u64,
) -> Result<ResolvedAffinity, AffinityError> {
    let online = online_cpus(topo);
    let i = index as usize;
    let cpus = match intent {
        AffinityIntent::Inherit => return Ok(ResolvedAffinity::Inherit),
        AffinityIntent::SingleCpu => vec![online[i % online.len()]],
        AffinityIntent::Llc { index } => {
            topo.llcs
                .get(*index)
                .cloned()
                .ok_or(AffinityError::NoSuchLlc {
                    index: *index,
                    count: topo.llcs.len(),
                })?
        }
        AffinityIntent::Numa { node } => topo
            .nodes
            .iter()
            .find(|n| n.id == *node)
            .map(|n| n.cpus.clone())
            .ok_or_else(|| AffinityError::NoSuchNode {
                node: *node,
                nodes: topo.nodes.iter().map(|n| n.id).collect(),
            })?,
        AffinityIntent::SmtSiblings => {
            if topo.cores.is_empty() {
                return Err(AffinityError::NoCores);
            }
            topo.cores[i % topo.cores.len()].clone()
        }
        AffinityIntent::CpuList { cpus } => {
            if cpus.is_empty() {
                return Err(AffinityError::EmptyList);
            }
            cpus.clone()
        }
        AffinityIntent::RandomSubset { count } => {
            if *count == 0 || *count > online.len() {
                return Err(AffinityError::SubsetSize {
                    count: *count,
                    online: online.len(),
                });
            }
            let mut rng = Rng::new(worker_seed(seed, u32::MAX, index));
            let mut pool = online.clone();
            // Partial Fisher-Yates: the first `count` are the subset.
            for k in 0..*count {
                let j = k + rng.below((pool.len() - k) as u64) as usize;
                pool.swap(k, j);
            }
            pool.truncate(*count);
            pool
        }
    };
    let mut cpus = cpus;
    cpus.sort_unstable();
    cpus.dedup();
    Ok(ResolvedAffinity::Cpus(cpus))
}

impl ResolvedAffinity {
    /// Applies the mask to the calling thread.
    pub fn apply(&self) -> Result<(), String> {
        match self {
            ResolvedAffinity::Inherit => Ok(()),
            ResolvedAffinity::Cpus(cpus) => set_thread_affinity(cpus)
                .map_err(|e| format!("sched_setaffinity({cpus:?}) refused: {e}")),
        }
    }
}

/// Restricts the calling thread to `cpus`.
pub fn set_thread_affinity(cpus: &[u32]) -> std::io::Result<()> {
    // SAFETY: cpu_set_t is plain data; zeroed is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &cpu in cpus {
        if (cpu as usize) < libc::CPU_SETSIZE as usize {
            // SAFETY: index checked against the set size.
            unsafe { libc::CPU_SET(cpu as usize, &mut set) };
        }
    }
    // SAFETY: pid 0 = calling thread; the set pointer and size are valid.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The calling thread's allowed CPUs.
pub fn thread_affinity() -> std::io::Result<Vec<u32>> {
    // SAFETY: as in `set_thread_affinity`.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: valid out pointer and size.
    let rc = unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok((0..libc::CPU_SETSIZE as usize)
        // SAFETY: index below the set size.
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .map(|c| c as u32)
        .collect())
}
