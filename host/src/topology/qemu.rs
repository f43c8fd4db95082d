//! A [`TopologyPlan`] as QEMU arguments, and the layout the guest must then
//! report.
//!
//! Mapping (QEMU 7.2, x86): one socket per NUMA node, one die per LLC
//! (QEMU shares the L3 per die, so each die is one LLC in the guest), then
//! cores and SMT threads. QEMU numbers vCPUs threads first, then cores,
//! dies, sockets; Linux keeps that order, so node `n` holds a contiguous
//! range of CPUs and [`TopologyPlan::expected`] can be computed here.
//!
//! Machine type: `pc`. It gives ACPI SRAT/SLIT (NUMA nodes, distances) and
//! `dies=`; `q35` boots within noise of it but adds a PCIe root and AHCI for
//! nothing, and its higher CPU limit (288) needs x2APIC, which TCG in QEMU
//! 7.2 lacks. `microvm` boots faster but refuses `dies=` (no multi-LLC
//! layouts) and hung in 4 of about 107 boots (see NOTES).

use std::ffi::OsString;

use ktstr_wire::topology::{format_cpu_list, NumaNode, Topology};

use super::spec::{TopologyPlan, TopologySpec};

/// The machine type every run uses (see the module doc).
pub const MACHINE: &str = "pc";

/// The CPU model. `max` alone looks like an old AMD CPU under TCG: Linux
/// then reports `die_id` 0 everywhere, calibrates the delay loop on every
/// CPU and QEMU warns about SMT. With the Intel vendor the cache leaves
/// (L2 per core, L3 per die) and die ids come out right.
pub const CPU_MODEL: &str = "max,vendor=GenuineIntel";

/// `-M pc`.
pub fn machine_args() -> Vec<OsString> {
    vec!["-M".into(), MACHINE.into()]
}

/// `-cpu max,vendor=GenuineIntel`: required for the LLC mapping to hold.
pub fn cpu_model_args() -> Vec<OsString> {
    vec!["-cpu".into(), CPU_MODEL.into()]
}

/// `-smp`: sockets = NUMA nodes, dies = LLCs per node.
pub fn smp_args(spec: &TopologySpec) -> Vec<OsString> {
    let value = format!(
        "cpus={},sockets={},dies={},cores={},threads={}",
        spec.vcpus(),
        spec.nodes,
        spec.llcs_per_node(),
        spec.cores_per_llc,
        spec.threads_per_core
    );
    vec!["-smp".into(), value.into()]
}

/// `-m`: the sum of the node sizes, which QEMU requires.
pub fn memory_args(plan: &TopologyPlan) -> Vec<OsString> {
    vec!["-m".into(), format!("{}M", plan.memory_mib()).into()]
}

/// One RAM backend and one `-numa node` per node, then every remote
/// distance both ways. A single node gets no `-numa` at all: without SRAT
/// Linux still makes node 0 with all CPUs and memory (checked in a guest),
/// and the boot time is the same either way (0.9-1.1 s at 8 vCPUs).
pub fn numa_args(plan: &TopologyPlan) -> Vec<OsString> {
    let spec = plan.spec();
    if spec.nodes == 1 {
        return Vec::new();
    }
    let mut args: Vec<String> = Vec::new();
    for (node, mib) in plan.node_memory_mib().iter().enumerate() {
        args.push("-object".into());
        args.push(format!("memory-backend-ram,id=m{node},size={mib}M"));
        args.push("-numa".into());
        let cpus = format_cpu_list(&node_cpus(spec, node as u32));
        args.push(format!("node,nodeid={node},cpus={cpus},memdev=m{node}"));
    }
    for (src, row) in plan.distances().iter().enumerate() {
        for (dst, val) in row.iter().enumerate().filter(|(dst, _)| *dst != src) {
            args.push("-numa".into());
            args.push(format!("dist,src={src},dst={dst},val={val}"));
        }
    }
    args.into_iter().map(OsString::from).collect()
}

/// vCPU ids of one node: a contiguous range, since sockets are outermost.
fn node_cpus(spec: &TopologySpec, node: u32) -> Vec<u32> {
    let per_node = spec.vcpus() / spec.nodes;
    (node * per_node..(node + 1) * per_node).collect()
}

/// Consecutive vCPU ids in groups of `size` (LLCs, SMT cores).
fn chunks(vcpus: u32, size: u32) -> Vec<Vec<u32>> {
    (0..vcpus / size)
        .map(|i| (i * size..(i + 1) * size).collect())
        .collect()
}

impl TopologyPlan {
    /// Everything the topology decides: `-m`, `-smp` and the `-numa`
    /// options. The launcher adds [`machine_args`] and [`cpu_model_args`]
    /// and must not pass its own `-m` or `-smp`.
    pub fn qemu_args(&self) -> Vec<OsString> {
        let mut args = memory_args(self);
        args.extend(smp_args(self.spec()));
        args.extend(numa_args(self));
        args
    }

    /// The layout a guest booted with [`qemu_args`](Self::qemu_args) must
    /// report. Node memory is what was requested; the guest sees a little
    /// less (see [`compare`](super::compare)).
    pub fn expected(&self) -> Topology {
        let spec = self.spec();
        let vcpus = spec.vcpus();
        let nodes = (0..spec.nodes)
            .map(|id| NumaNode {
                id,
                cpus: node_cpus(spec, id),
                distances: self.distances()[id as usize].clone(),
                memory_mib: Some(self.node_memory_mib()[id as usize]),
            })
            .collect();
        Topology {
            cpus: (0..vcpus).collect(),
            nodes,
            llcs: chunks(vcpus, spec.cores_per_llc * spec.threads_per_core),
            cores: chunks(vcpus, spec.threads_per_core),
        }
    }
}

#[cfg(test)]
mod tests;
