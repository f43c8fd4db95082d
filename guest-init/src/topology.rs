//! The CPU layout as the guest kernel reports it in sysfs.
//!
//! [`observe`] reads a sysfs tree given by its root (`/sys` in the guest, a
//! temp dir in tests) into the shared [`Topology`]. The host compares it with
//! the topology it asked QEMU for; the workload engine resolves
//! topology-aware affinity (`llc(i)`, `numa(i)`, SMT pairs) against it, so
//! specs follow what the kernel really built.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use ktstr_wire::topology::{parse_cpu_list, NumaNode, Topology};

/// Why the guest's layout could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ObserveError {
    #[error("cannot read {path}: {source} (is sysfs mounted?)")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}: cannot parse {text:?}: {reason}")]
    Parse {
        path: PathBuf,
        text: String,
        reason: String,
    },
    #[error("{path}: CPU {cpu} exports no cache levels; the kernel has no cacheinfo for it")]
    NoCache { cpu: u32, path: PathBuf },
}

/// Reads the layout from the sysfs tree at `sysfs_root` (`/sys` in the
/// guest). LLC groups come from the highest cache level each CPU exports
/// (L3 on x86 QEMU). Without `devices/system/node` (a kernel built without
/// `CONFIG_NUMA`) the node list is empty.
pub fn observe(sysfs_root: &Path) -> Result<Topology, ObserveError> {
    let cpu_dir = sysfs_root.join("devices/system/cpu");
    let cpus = read_cpu_list(&cpu_dir.join("online"))?;
    let online: BTreeSet<u32> = cpus.iter().copied().collect();
    let mut llcs = BTreeSet::new();
    let mut cores = BTreeSet::new();
    for &cpu in &cpus {
        let dir = cpu_dir.join(format!("cpu{cpu}"));
        cores.insert(only_online(read_siblings(&dir)?, &online));
        llcs.insert(only_online(read_llc(cpu, &dir)?, &online));
    }
    Ok(Topology {
        cpus,
        nodes: read_nodes(&sysfs_root.join("devices/system/node"))?,
        llcs: llcs.into_iter().collect(),
        cores: cores.into_iter().collect(),
    })
}

/// Groups are compared by their online members: a sibling that is offline
/// would otherwise make the same core look different on two CPUs.
fn only_online(group: Vec<u32>, online: &BTreeSet<u32>) -> Vec<u32> {
    group.into_iter().filter(|c| online.contains(c)).collect()
}

/// SMT siblings of one CPU; `core_cpus_list` is the newer name that some
/// kernels export alone.
fn read_siblings(cpu_dir: &Path) -> Result<Vec<u32>, ObserveError> {
    let topo = cpu_dir.join("topology");
    let old = topo.join("thread_siblings_list");
    match read_cpu_list(&old) {
        Err(ObserveError::Read { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            read_cpu_list(&topo.join("core_cpus_list"))
        }
        other => other,
    }
}

/// `shared_cpu_list` of the highest-level cache of one CPU.
fn read_llc(cpu: u32, cpu_dir: &Path) -> Result<Vec<u32>, ObserveError> {
    let cache_dir = cpu_dir.join("cache");
    let mut levels = Vec::new();
    for index in list_numbered(&cache_dir, "index")? {
        let dir = cache_dir.join(format!("index{index}"));
        let level_path = dir.join("level");
        levels.push((parse_number::<u32>(&level_path, &read(&level_path)?)?, dir));
    }
    let (_, dir) =
        levels
            .into_iter()
            .max_by_key(|(level, _)| *level)
            .ok_or(ObserveError::NoCache {
                cpu,
                path: cache_dir,
            })?;
    read_cpu_list(&dir.join("shared_cpu_list"))
}

fn read_nodes(node_root: &Path) -> Result<Vec<NumaNode>, ObserveError> {
    if !node_root.exists() {
        return Ok(Vec::new());
    }
    let mut nodes = Vec::new();
    for id in list_numbered(node_root, "node")? {
        let dir = node_root.join(format!("node{id}"));
        let dist_path = dir.join("distance");
        let distances = read(&dist_path)?
            .split_whitespace()
            .map(|d| parse_number(&dist_path, d))
            .collect::<Result<_, _>>()?;
        nodes.push(NumaNode {
            id,
            cpus: read_cpu_list(&dir.join("cpulist"))?,
            distances,
            memory_mib: read_mem_total_mib(&dir.join("meminfo"))?,
        });
    }
    Ok(nodes)
}

/// `Node 0 MemTotal:  1014516 kB` in `node*/meminfo`, in MiB (rounded
/// down). `None` when the file lacks the line.
fn read_mem_total_mib(path: &Path) -> Result<Option<u64>, ObserveError> {
    let text = read(path)?;
    let Some(line) = text.lines().find(|l| l.contains("MemTotal:")) else {
        return Ok(None);
    };
    let value = line.split_whitespace().rev().nth(1).unwrap_or("");
    let kib: u64 = parse_number(path, value)?;
    Ok(Some(kib / 1024))
}

/// Ids `N` of the entries `<prefix>N` in `dir`, sorted numerically.
fn list_numbered(dir: &Path, prefix: &str) -> Result<Vec<u32>, ObserveError> {
    let entries = fs::read_dir(dir).map_err(|source| ObserveError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut ids: Vec<u32> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.strip_prefix(prefix)?.parse().ok())
        .collect();
    ids.sort_unstable();
    Ok(ids)
}

fn read(path: &Path) -> Result<String, ObserveError> {
    fs::read_to_string(path).map_err(|source| ObserveError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn read_cpu_list(path: &Path) -> Result<Vec<u32>, ObserveError> {
    let text = read(path)?;
    parse_cpu_list(&text).map_err(|e| ObserveError::Parse {
        path: path.to_path_buf(),
        text: text.trim().to_string(),
        reason: e.to_string(),
    })
}

fn parse_number<T: std::str::FromStr>(path: &Path, text: &str) -> Result<T, ObserveError> {
    text.trim().parse().map_err(|_| ObserveError::Parse {
        path: path.to_path_buf(),
        text: text.trim().to_string(),
        reason: "not a number".into(),
    })
}

#[cfg(test)]
mod tests;
