//! A topology request: `2n4l4c2t` or a preset name on the command line,
//! structured fields in a scenario file.
//!
//! [`TopologySpec`] is the request as written; [`TopologySpec::validate`]
//! turns it, with the run's memory size, into a [`TopologyPlan`] whose
//! numbers are all resolved (memory per node, distance matrix). Limits come
//! from QEMU 7.2's `-M pc`: at most 255 vCPUs, and APIC IDs up to 254
//! without x2APIC, which TCG lacks in 7.2 (QEMU refuses to start otherwise).
//! [`TopologySpec::check_tcg`] adds what TCG can boot in reasonable time.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::presets;

/// Most vCPUs `-M pc` accepts (`Invalid SMP CPUs 256. The max CPUs
/// supported by machine 'pc-i440fx-7.2' is 255`).
pub const MAX_VCPUS: u32 = 255;
/// Most vCPUs worth booting under TCG (one host thread runs them all).
/// Guest uptime at `/init`, minimal kernel, medians on a loaded 2-core
/// host: 2 vCPUs 0.8 s, 8 0.9-1.1 s, 32 2.3-3.4 s, 64 7.1-8.2 s, 128 77 s;
/// 255 never reached `/init` (RCU stalls and soft lockups after 230 s).
pub const MAX_TCG_VCPUS: u32 = 128;
/// Highest APIC ID QEMU accepts without x2APIC (`current -smp configuration
/// requires kernel irqchip and X2APIC API support`). IDs are packed bit
/// fields, so a non-power-of-two count of cores can hit this first.
pub const MAX_APIC_ID: u32 = 254;
/// Smallest memory per NUMA node. Node 0 also holds the kernel and the
/// initramfs: at 128 MiB the guest showed 107 MiB on it (Linux drops nodes
/// under 4 MiB outright).
pub const MIN_NODE_MEMORY_MIB: u64 = 128;
/// Least memory per vCPU. Linux caps threads at one per 128 KiB of RAM
/// and starts about 6 kernel threads per CPU: 255 vCPUs in 256 MiB failed
/// with `workqueue: Failed to create a worker thread: -11`, then a soft
/// lockup. 2 MiB per vCPU leaves room for about 16 threads each.
pub const MIN_MEMORY_PER_VCPU_MIB: u64 = 2;
/// Memory per node when neither the run nor the spec says.
pub const DEFAULT_NODE_MEMORY_MIB: u64 = 512;
/// ACPI SLIT distance of a node to itself.
pub const LOCAL_DISTANCE: u32 = 10;
/// Default distance between two different nodes.
pub const REMOTE_DISTANCE: u32 = 20;
/// Largest SLIT distance that still means reachable (255 = unreachable).
pub const MAX_DISTANCE: u32 = 254;

/// NUMA nodes x LLCs x cores x SMT threads, with optional memory and
/// distances. `llcs` counts all LLCs and is split evenly across nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TopologySpec {
    pub nodes: u32,
    /// LLCs in total (not per node).
    pub llcs: u32,
    pub cores_per_llc: u32,
    pub threads_per_core: u32,
    /// Memory of each node in MiB; default: the run's memory split evenly.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_memory_mib: Option<Vec<u64>>,
    /// `distances[a][b]` from node a to node b; default 10 local, 20 remote.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distances: Option<Vec<Vec<u32>>>,
}

/// A spec with every number resolved: what QEMU is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopologyPlan {
    pub(super) spec: TopologySpec,
    pub(super) node_memory_mib: Vec<u64>,
    pub(super) distances: Vec<Vec<u32>>,
}

/// Why a topology request cannot be booted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopologyError {
    #[error("bad topology {input:?}: {reason}; write <nodes>n<llcs>l<cores per LLC>c<threads per core>t (e.g. 2n4l4c2t) or a preset name (`ktstr-vm topo list`)")]
    Syntax { input: String, reason: String },
    #[error("unknown topology preset {name:?}{}; `ktstr-vm topo list` shows them all", did_you_mean(.suggestion))]
    UnknownPreset {
        name: String,
        suggestion: Option<&'static str>,
    },
    #[error("topology needs at least one {what}, got 0")]
    ZeroCount { what: &'static str },
    #[error(
        "{llcs} LLCs cannot be split evenly across {nodes} NUMA nodes; use a multiple of {nodes}"
    )]
    LlcsNotDivisible { llcs: u32, nodes: u32 },
    #[error("topology has {vcpus} vCPUs; QEMU's pc machine supports at most {max}")]
    TooManyVcpus { vcpus: u32, max: u32 },
    #[error("topology has {vcpus} vCPUs; under TCG (no KVM) more than {max} do not boot in reasonable time (64 vCPUs take about 8 s, 128 about 77 s)")]
    TooManyVcpusForTcg { vcpus: u32, max: u32 },
    #[error("topology needs APIC IDs up to {apic_id} (QEMU packs sockets/dies/cores/threads as power-of-two bit fields), above {max} which needs x2APIC; use power-of-two core/thread counts or fewer CPUs")]
    ApicIdTooLarge { apic_id: u32, max: u32 },
    #[error("node_memory_mib has {given} entries for {nodes} NUMA nodes; give one per node")]
    NodeMemoryCount { given: usize, nodes: u32 },
    #[error("NUMA node {node} gets {mib} MiB; each node needs at least {min} MiB")]
    NodeMemoryTooSmall { node: usize, mib: u64, min: u64 },
    #[error("{total} MiB of memory is too little for {vcpus} vCPUs (the kernel cannot start its per-CPU threads); give at least {min} MiB")]
    MemoryTooSmallForVcpus { total: u64, vcpus: u32, min: u64 },
    #[error("{total} MiB of memory cannot be split evenly across {nodes} NUMA nodes; use a multiple of {nodes} or set node_memory_mib")]
    MemoryNotDivisible { total: u64, nodes: u32 },
    #[error("memory is {total} MiB but node_memory_mib adds up to {sum} MiB; set only one or make them agree")]
    MemoryConflict { total: u64, sum: u64 },
    #[error(
        "distance matrix must be {nodes}x{nodes} (one row and column per NUMA node), got {shape}"
    )]
    DistanceShape { nodes: u32, shape: String },
    #[error("distance from node {node} to itself is {value}; it must be {LOCAL_DISTANCE}")]
    DistanceLocal { node: usize, value: u32 },
    #[error("distance from node {from} to node {to} is {value}; remote distances must be {} to {MAX_DISTANCE}", LOCAL_DISTANCE + 1)]
    DistanceRange { from: usize, to: usize, value: u32 },
    #[error(
        "distances are asymmetric: node {a} -> {b} is {ab} but {b} -> {a} is {ba}; make them equal"
    )]
    DistanceAsymmetric {
        a: usize,
        b: usize,
        ab: u32,
        ba: u32,
    },
}

impl crate::exit::ExitClass for TopologyError {
    fn exit_code(&self) -> crate::exit::ExitCode {
        crate::exit::ExitCode::Usage
    }
}

fn did_you_mean(suggestion: &Option<&'static str>) -> String {
    suggestion.map_or_else(String::new, |s| format!(" (did you mean {s:?}?)"))
}

impl TopologySpec {
    /// Counts only, default memory and distances.
    pub fn new(nodes: u32, llcs: u32, cores_per_llc: u32, threads_per_core: u32) -> TopologySpec {
        TopologySpec {
            nodes,
            llcs,
            cores_per_llc,
            threads_per_core,
            node_memory_mib: None,
            distances: None,
        }
    }

    /// Parses a preset name or `2n4l4c2t`; the result is checked. When
    /// neither fits, the error is about the syntax if the input looks like
    /// a spec (starts with a digit, at most one character other than
    /// digits and `nlct`), else about the preset name, with the nearest one.
    pub fn parse(input: &str) -> Result<TopologySpec, TopologyError> {
        let input = input.trim();
        let spec = match presets::find(input) {
            Some(preset) => preset.spec(),
            None => parse_counts(input).map_err(|syntax| {
                let foreign = input
                    .chars()
                    .filter(|c| !c.is_ascii_digit() && !"nlct".contains(*c))
                    .count();
                if input.starts_with(|c: char| c.is_ascii_digit()) && foreign <= 1 {
                    syntax
                } else {
                    TopologyError::UnknownPreset {
                        name: input.to_string(),
                        suggestion: presets::nearest(input),
                    }
                }
            })?,
        };
        spec.check()?;
        Ok(spec)
    }

    pub fn vcpus(&self) -> u32 {
        self.llcs * self.cores_per_llc * self.threads_per_core
    }

    pub fn llcs_per_node(&self) -> u32 {
        self.llcs / self.nodes
    }

    /// Checks everything that does not depend on the run's memory size.
    pub fn check(&self) -> Result<(), TopologyError> {
        let counts = [
            ("NUMA node", self.nodes),
            ("LLC", self.llcs),
            ("core per LLC", self.cores_per_llc),
            ("thread per core", self.threads_per_core),
        ];
        if let Some((what, _)) = counts.iter().find(|(_, n)| *n == 0) {
            return Err(TopologyError::ZeroCount { what });
        }
        if !self.llcs.is_multiple_of(self.nodes) {
            return Err(TopologyError::LlcsNotDivisible {
                llcs: self.llcs,
                nodes: self.nodes,
            });
        }
        let vcpus =
            u64::from(self.llcs) * u64::from(self.cores_per_llc) * u64::from(self.threads_per_core);
        if vcpus > u64::from(MAX_VCPUS) {
            return Err(TopologyError::TooManyVcpus {
                vcpus: u32::try_from(vcpus).unwrap_or(u32::MAX),
                max: MAX_VCPUS,
            });
        }
        let apic_id = self.max_apic_id();
        if apic_id > MAX_APIC_ID {
            return Err(TopologyError::ApicIdTooLarge {
                apic_id,
                max: MAX_APIC_ID,
            });
        }
        if let Some(mem) = &self.node_memory_mib {
            check_node_memory(mem, self.nodes)?;
        }
        if let Some(dist) = &self.distances {
            check_distances(dist, self.nodes)?;
        }
        Ok(())
    }

    /// The extra limit of a TCG run: [`MAX_TCG_VCPUS`]. The launcher calls
    /// it once it knows it will not use KVM.
    pub fn check_tcg(&self) -> Result<(), TopologyError> {
        if self.vcpus() > MAX_TCG_VCPUS {
            return Err(TopologyError::TooManyVcpusForTcg {
                vcpus: self.vcpus(),
                max: MAX_TCG_VCPUS,
            });
        }
        Ok(())
    }

    /// The APIC ID QEMU gives the last vCPU: thread, core, die and socket
    /// ids packed into bit fields each as wide as its count needs
    /// (`hw/i386/topology.h`). Call only on non-zero counts.
    pub fn max_apic_id(&self) -> u32 {
        let bits = |count: u32| 32 - (count - 1).leading_zeros();
        let thread_bits = bits(self.threads_per_core);
        let die_offset = thread_bits + bits(self.cores_per_llc);
        let socket_offset = die_offset + bits(self.llcs_per_node());
        ((self.nodes - 1) << socket_offset)
            | ((self.llcs_per_node() - 1) << die_offset)
            | ((self.cores_per_llc - 1) << thread_bits)
            | (self.threads_per_core - 1)
    }

    /// Resolves memory and distances. `total_memory_mib` is the run's
    /// memory if the user set it; without it the node sizes from the spec
    /// count, else [`DEFAULT_NODE_MEMORY_MIB`] per node.
    pub fn validate(&self, total_memory_mib: Option<u64>) -> Result<TopologyPlan, TopologyError> {
        self.check()?;
        let nodes = u64::from(self.nodes);
        let node_memory_mib = match (&self.node_memory_mib, total_memory_mib) {
            (Some(mem), Some(total)) if mem.iter().sum::<u64>() != total => {
                return Err(TopologyError::MemoryConflict {
                    total,
                    sum: mem.iter().sum(),
                })
            }
            (Some(mem), _) => mem.clone(),
            (None, Some(total)) if !total.is_multiple_of(nodes) => {
                return Err(TopologyError::MemoryNotDivisible {
                    total,
                    nodes: self.nodes,
                })
            }
            (None, Some(total)) => vec![total / nodes; self.nodes as usize],
            (None, None) => vec![DEFAULT_NODE_MEMORY_MIB; self.nodes as usize],
        };
        check_node_memory(&node_memory_mib, self.nodes)?;
        let total: u64 = node_memory_mib.iter().sum();
        let min = u64::from(self.vcpus()) * MIN_MEMORY_PER_VCPU_MIB;
        if total < min {
            return Err(TopologyError::MemoryTooSmallForVcpus {
                total,
                vcpus: self.vcpus(),
                min,
            });
        }
        let distances = self
            .distances
            .clone()
            .unwrap_or_else(|| default_distances(self.nodes));
        Ok(TopologyPlan {
            spec: self.clone(),
            node_memory_mib,
            distances,
        })
    }
}

impl TopologyPlan {
    pub fn spec(&self) -> &TopologySpec {
        &self.spec
    }

    pub fn vcpus(&self) -> u32 {
        self.spec.vcpus()
    }

    /// Memory of each node in MiB.
    pub fn node_memory_mib(&self) -> &[u64] {
        &self.node_memory_mib
    }

    /// The VM's memory in MiB: QEMU's `-m` must be exactly this, because
    /// QEMU requires the node backends to add up to `-m`.
    pub fn memory_mib(&self) -> u64 {
        self.node_memory_mib.iter().sum()
    }

    /// `distances()[a][b]`, node a to node b.
    pub fn distances(&self) -> &[Vec<u32>] {
        &self.distances
    }
}

/// [`LOCAL_DISTANCE`] on the diagonal, [`REMOTE_DISTANCE`] elsewhere.
fn default_distances(nodes: u32) -> Vec<Vec<u32>> {
    let distance = |a, b| match a == b {
        true => LOCAL_DISTANCE,
        false => REMOTE_DISTANCE,
    };
    (0..nodes)
        .map(|a| (0..nodes).map(|b| distance(a, b)).collect())
        .collect()
}

/// `<N>n<L>l<C>c<T>t`, all four parts, in that order.
fn parse_counts(input: &str) -> Result<TopologySpec, TopologyError> {
    let syntax = |reason: String| TopologyError::Syntax {
        input: input.to_string(),
        reason,
    };
    let mut rest = input;
    let mut counts = [0u32; 4];
    for (count, unit) in counts.iter_mut().zip(['n', 'l', 'c', 't']) {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return Err(syntax(format!(
                "expected a number before '{unit}' at {rest:?}"
            )));
        }
        *count = rest[..digits]
            .parse()
            .map_err(|_| syntax(format!("{} is too large", &rest[..digits])))?;
        rest = rest[digits..]
            .strip_prefix(unit)
            .ok_or_else(|| syntax(format!("expected '{unit}' after {}", &rest[..digits])))?;
    }
    if !rest.is_empty() {
        return Err(syntax(format!("unexpected {rest:?} at the end")));
    }
    let [nodes, llcs, cores, threads] = counts;
    Ok(TopologySpec::new(nodes, llcs, cores, threads))
}

fn check_node_memory(mem: &[u64], nodes: u32) -> Result<(), TopologyError> {
    if mem.len() != nodes as usize {
        return Err(TopologyError::NodeMemoryCount {
            given: mem.len(),
            nodes,
        });
    }
    match mem.iter().position(|&m| m < MIN_NODE_MEMORY_MIB) {
        Some(node) => Err(TopologyError::NodeMemoryTooSmall {
            node,
            mib: mem[node],
            min: MIN_NODE_MEMORY_MIB,
        }),
        None => Ok(()),
    }
}

fn check_distances(dist: &[Vec<u32>], nodes: u32) -> Result<(), TopologyError> {
    let n = nodes as usize;
    if dist.len() != n || dist.iter().any(|row| row.len() != n) {
        let widths: Vec<String> = dist.iter().map(|r| r.len().to_string()).collect();
        return Err(TopologyError::DistanceShape {
            nodes,
            shape: format!("{} rows of lengths [{}]", dist.len(), widths.join(", ")),
        });
    }
    for (a, row) in dist.iter().enumerate() {
        if row[a] != LOCAL_DISTANCE {
            return Err(TopologyError::DistanceLocal {
                node: a,
                value: row[a],
            });
        }
        for (b, &value) in row.iter().enumerate().filter(|(b, _)| *b != a) {
            if !(LOCAL_DISTANCE + 1..=MAX_DISTANCE).contains(&value) {
                return Err(TopologyError::DistanceRange {
                    from: a,
                    to: b,
                    value,
                });
            }
            if value != dist[b][a] {
                return Err(TopologyError::DistanceAsymmetric {
                    a,
                    b,
                    ab: value,
                    ba: dist[b][a],
                });
            }
        }
    }
    Ok(())
}

impl FromStr for TopologySpec {
    type Err = TopologyError;

    fn from_str(s: &str) -> Result<TopologySpec, TopologyError> {
        TopologySpec::parse(s)
    }
}

/// The counts in spec syntax (`2n4l4c2t`); memory and distances are not shown.
impl fmt::Display for TopologySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let TopologySpec {
            nodes,
            llcs,
            cores_per_llc: c,
            threads_per_core: t,
            ..
        } = self;
        write!(f, "{nodes}n{llcs}l{c}c{t}t")
    }
}

/// The structured form of a scenario file's `topology` table.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Fields {
    nodes: u32,
    llcs: u32,
    cores_per_llc: u32,
    threads_per_core: u32,
    #[serde(default)]
    node_memory_mib: Option<Vec<u64>>,
    #[serde(default)]
    distances: Option<Vec<Vec<u32>>>,
}

/// Accepts a string (spec syntax or preset name) or a table of fields
/// (unknown fields rejected), and checks the result.
impl<'de> Deserialize<'de> for TopologySpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<TopologySpec, D::Error> {
        struct SpecVisitor;

        impl<'de> Visitor<'de> for SpecVisitor {
            type Value = TopologySpec;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a topology like \"2n4l4c2t\", a preset name, or a table with nodes, llcs, cores_per_llc, threads_per_core")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<TopologySpec, E> {
                TopologySpec::parse(v).map_err(E::custom)
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<TopologySpec, A::Error> {
                let f = Fields::deserialize(de::value::MapAccessDeserializer::new(map))?;
                let spec = TopologySpec {
                    node_memory_mib: f.node_memory_mib,
                    distances: f.distances,
                    ..TopologySpec::new(f.nodes, f.llcs, f.cores_per_llc, f.threads_per_core)
                };
                spec.check().map_err(de::Error::custom)?;
                Ok(spec)
            }
        }

        deserializer.deserialize_any(SpecVisitor)
    }
}

impl presets::Preset {
    /// The parsed spec (every preset is checked by a unit test).
    pub fn spec(&self) -> TopologySpec {
        TopologySpec::parse(self.spec).expect("presets are valid specs")
    }
}

#[cfg(test)]
mod tests;
