//! `ktstr-vm topo list` and `ktstr-vm topo show SPEC`.

use std::ffi::OsString;

use ktstr_wire::topology::format_cpu_list;
use serde::Serialize;

use super::presets::{self, Preset};
use super::qemu::{cpu_model_args, machine_args};
use super::spec::TopologySpec;

/// Topology presets and what a spec boots.
#[derive(clap::Subcommand, Debug)]
pub enum TopoCmd {
    /// List the named topology presets.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show the layout and QEMU arguments of a spec or preset.
    Show {
        /// `2n4l4c2t` (nodes, LLCs, cores per LLC, threads per core) or a preset name.
        spec: String,
    },
}

pub fn run(cmd: TopoCmd) -> crate::error::Result<()> {
    match cmd {
        TopoCmd::List { json: false } => print!("{}", preset_table(presets::list())),
        TopoCmd::List { json: true } => {
            let rows: Vec<PresetRow> = presets::list().iter().map(PresetRow::from).collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&rows).expect("JSON serializes")
            );
        }
        TopoCmd::Show { spec } => {
            let spec = TopologySpec::parse(&spec)?;
            print!("{}", show(&spec)?);
        }
    }
    Ok(())
}

/// One preset as `topo list --json` prints it.
#[derive(Debug, Serialize)]
struct PresetRow {
    name: &'static str,
    spec: &'static str,
    vcpus: u32,
    nodes: u32,
    llcs: u32,
    description: &'static str,
}

impl From<&Preset> for PresetRow {
    fn from(p: &Preset) -> PresetRow {
        let spec = p.spec();
        PresetRow {
            name: p.name,
            spec: p.spec,
            vcpus: spec.vcpus(),
            nodes: spec.nodes,
            llcs: spec.llcs,
            description: p.description,
        }
    }
}

/// Aligned columns: name, spec, vCPUs, nodes, LLCs, description.
fn preset_table(presets: &[Preset]) -> String {
    let mut rows =
        vec![["NAME", "SPEC", "VCPUS", "NODES", "LLCS", "DESCRIPTION"].map(String::from)];
    for p in presets.iter().map(PresetRow::from) {
        rows.push([
            p.name.into(),
            p.spec.into(),
            p.vcpus.to_string(),
            p.nodes.to_string(),
            p.llcs.to_string(),
            p.description.into(),
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|col| rows.iter().map(|r| r[col].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// The resolved layout (default memory) and the QEMU arguments for it.
fn show(spec: &TopologySpec) -> crate::error::Result<String> {
    use crate::error::Context;
    let plan = spec.validate(None).context(format!("topology {spec}"))?;
    let expected = plan.expected();
    let groups = |gs: &[Vec<u32>]| -> String {
        let gs: Vec<String> = gs
            .iter()
            .map(|g| format!("[{}]", format_cpu_list(g)))
            .collect();
        gs.join(" ")
    };
    let mut out = format!(
        "{spec}: {} vCPUs, {} NUMA nodes, {} LLCs ({} per node), {} cores per LLC, {} threads per core\n",
        spec.vcpus(),
        spec.nodes,
        spec.llcs,
        spec.llcs_per_node(),
        spec.cores_per_llc,
        spec.threads_per_core
    );
    for node in &expected.nodes {
        out.push_str(&format!(
            "  node {}: CPUs {}, {} MiB, distances {:?}\n",
            node.id,
            format_cpu_list(&node.cpus),
            node.memory_mib.unwrap_or(0),
            node.distances
        ));
    }
    out.push_str(&format!("  LLCs: {}\n", groups(&expected.llcs)));
    out.push_str(&format!("  SMT groups: {}\n", groups(&expected.cores)));
    let mut args = machine_args();
    args.extend(cpu_model_args());
    args.extend(plan.qemu_args());
    out.push_str(&format!("  QEMU: {}\n", join(&args)));
    Ok(out)
}

fn join(args: &[OsString]) -> String {
    let args: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    args.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_has_a_row_per_preset() {
        let table = preset_table(presets::list());
        let mut lines = table.lines();
        let header = lines.next().unwrap();
        assert!(
            header.starts_with("NAME") && header.ends_with("DESCRIPTION"),
            "{header}"
        );
        let rows: Vec<&str> = lines.collect();
        assert_eq!(rows.len(), presets::list().len());
        let numa = rows.iter().find(|r| r.starts_with("numa4-llc8 ")).unwrap();
        let cells: Vec<&str> = numa.split_whitespace().take(5).collect();
        assert_eq!(cells, ["numa4-llc8", "4n8l4c2t", "64", "4", "8"]);
        // Columns line up: every row has its spec at the header's SPEC column.
        let col = header.find("SPEC").unwrap();
        for (row, p) in rows.iter().zip(presets::list()) {
            assert_eq!(&row[col..col + p.spec.len()], p.spec, "{row}");
        }
    }

    #[test]
    fn list_json_has_the_counts() {
        let rows: Vec<PresetRow> = presets::list().iter().map(PresetRow::from).collect();
        let json: serde_json::Value = serde_json::to_value(&rows).unwrap();
        let tiny = &json.as_array().unwrap()[0];
        assert_eq!(
            *tiny,
            serde_json::json!({"name": "tiny", "spec": "1n1l2c1t", "vcpus": 2, "nodes": 1,
                "llcs": 1, "description": presets::list()[0].description})
        );
    }

    #[test]
    fn show_prints_layout_and_qemu_arguments() {
        let text = show(&TopologySpec::parse("2numa").unwrap()).unwrap();
        assert_eq!(
            text,
            "2n2l2c1t: 4 vCPUs, 2 NUMA nodes, 2 LLCs (1 per node), 2 cores per LLC, 1 threads per core\n  \
             node 0: CPUs 0-1, 512 MiB, distances [10, 20]\n  \
             node 1: CPUs 2-3, 512 MiB, distances [20, 10]\n  \
             LLCs: [0-1] [2-3]\n  \
             SMT groups: [0] [1] [2] [3]\n  \
             QEMU: -M pc -cpu max,vendor=GenuineIntel -m 1024M -smp cpus=4,sockets=2,dies=1,cores=2,threads=1 \
             -object memory-backend-ram,id=m0,size=512M -numa node,nodeid=0,cpus=0-1,memdev=m0 \
             -object memory-backend-ram,id=m1,size=512M -numa node,nodeid=1,cpus=2-3,memdev=m1 \
             -numa dist,src=0,dst=1,val=20 -numa dist,src=1,dst=0,val=20\n"
        );
    }

    #[test]
    fn show_rejects_a_bad_spec() {
        let err = run(TopoCmd::Show {
            spec: "2n3l1c1t".into(),
        })
        .unwrap_err();
        assert!(err.to_string().contains("cannot be split evenly"), "{err}");
    }
}
