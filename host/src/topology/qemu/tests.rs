use std::collections::BTreeSet;

use ktstr_wire::topology::parse_cpu_list;

use super::super::presets;
use super::*;

fn strings(args: &[OsString]) -> Vec<String> {
    args.iter()
        .map(|a| a.to_str().unwrap().to_string())
        .collect()
}

fn plan(spec: &str, memory: Option<u64>) -> TopologyPlan {
    TopologySpec::parse(spec).unwrap().validate(memory).unwrap()
}

#[test]
fn two_nodes_map_to_sockets_with_backends_and_distances() {
    assert_eq!(
        strings(&plan("2n2l2c1t", Some(1024)).qemu_args()),
        [
            "-m",
            "1024M",
            "-smp",
            "cpus=4,sockets=2,dies=1,cores=2,threads=1",
            "-object",
            "memory-backend-ram,id=m0,size=512M",
            "-numa",
            "node,nodeid=0,cpus=0-1,memdev=m0",
            "-object",
            "memory-backend-ram,id=m1,size=512M",
            "-numa",
            "node,nodeid=1,cpus=2-3,memdev=m1",
            "-numa",
            "dist,src=0,dst=1,val=20",
            "-numa",
            "dist,src=1,dst=0,val=20",
        ]
    );
}

#[test]
fn each_llc_is_a_die() {
    let args = strings(&smp_args(&TopologySpec::parse("2n4l4c2t").unwrap()));
    assert_eq!(args, ["-smp", "cpus=32,sockets=2,dies=2,cores=4,threads=2"]);
    let args = strings(&smp_args(&TopologySpec::parse("1n8l2c1t").unwrap()));
    assert_eq!(args, ["-smp", "cpus=16,sockets=1,dies=8,cores=2,threads=1"]);
}

#[test]
fn one_node_gets_no_numa_options() {
    assert_eq!(
        strings(&plan("1n2l2c2t", Some(768)).qemu_args()),
        [
            "-m",
            "768M",
            "-smp",
            "cpus=8,sockets=1,dies=2,cores=2,threads=2"
        ]
    );
}

#[test]
fn custom_memory_and_distances_reach_qemu() {
    let spec = TopologySpec {
        node_memory_mib: Some(vec![256, 768]),
        distances: Some(vec![vec![10, 32], vec![32, 10]]),
        ..TopologySpec::new(2, 2, 1, 1)
    };
    let args = strings(&spec.validate(None).unwrap().qemu_args());
    assert_eq!(&args[..2], ["-m", "1024M"]);
    assert!(args.contains(&"memory-backend-ram,id=m0,size=256M".to_string()));
    assert!(args.contains(&"memory-backend-ram,id=m1,size=768M".to_string()));
    assert!(args.contains(&"dist,src=0,dst=1,val=32".to_string()));
    assert!(args.contains(&"dist,src=1,dst=0,val=32".to_string()));
}

#[test]
fn machine_and_cpu_model() {
    assert_eq!(strings(&machine_args()), ["-M", "pc"]);
    assert_eq!(
        strings(&cpu_model_args()),
        ["-cpu", "max,vendor=GenuineIntel"]
    );
}

#[test]
fn expected_numbers_threads_then_cores_dies_sockets() {
    let topo = plan("2n4l2c2t", Some(2048)).expected();
    assert_eq!(topo.cpus, (0..16).collect::<Vec<_>>());
    assert_eq!(
        topo.nodes,
        [
            NumaNode {
                id: 0,
                cpus: (0..8).collect(),
                distances: vec![10, 20],
                memory_mib: Some(1024)
            },
            NumaNode {
                id: 1,
                cpus: (8..16).collect(),
                distances: vec![20, 10],
                memory_mib: Some(1024)
            },
        ]
    );
    assert_eq!(
        topo.llcs,
        [
            vec![0, 1, 2, 3],
            vec![4, 5, 6, 7],
            vec![8, 9, 10, 11],
            vec![12, 13, 14, 15]
        ]
    );
    let cores: Vec<Vec<u32>> = (0..8).map(|i| vec![2 * i, 2 * i + 1]).collect();
    assert_eq!(topo.cores, cores);

    let one = plan("1n1l2c1t", Some(512)).expected();
    assert_eq!(one.nodes.len(), 1);
    assert_eq!(one.nodes[0].distances, [10]);
    assert_eq!(one.nodes[0].memory_mib, Some(512));
    assert_eq!(one.llcs, [vec![0, 1]]);
    assert_eq!(one.cores, [vec![0], vec![1]]);
}

/// Value of `key=` in a comma-separated QEMU option.
fn field<'a>(option: &'a str, key: &str) -> &'a str {
    option
        .split(',')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {key}= in {option}"))
}

/// For every preset: the `-numa node` CPU ranges partition the vCPUs as
/// `expected()` says, the backends add up to `-m`, every remote pair has a
/// distance, and every LLC and SMT group lies inside one node.
#[test]
fn every_preset_maps_consistently() {
    for preset in presets::list() {
        let spec = preset.spec();
        let plan = spec.validate(None).unwrap();
        let args = strings(&plan.qemu_args());
        let expected = plan.expected();
        let name = preset.name;
        assert_eq!(expected.cpus.len() as u32, spec.vcpus(), "{name}");
        assert_eq!(expected.llcs.len() as u32, spec.llcs, "{name}");
        assert_eq!(
            expected.cores.len() as u32,
            spec.vcpus() / spec.threads_per_core,
            "{name}"
        );

        let smp = &args[args.iter().position(|a| a == "-smp").unwrap() + 1];
        let product: u32 = ["sockets", "dies", "cores", "threads"]
            .iter()
            .map(|k| field(smp, k).parse::<u32>().unwrap())
            .product();
        assert_eq!(product.to_string(), field(smp, "cpus"), "{name}");
        assert_eq!(field(smp, "sockets"), spec.nodes.to_string(), "{name}");

        let options = |prefix: &str| -> Vec<&String> {
            args.windows(2)
                .filter(|w| w[1].starts_with(prefix) && (w[0] == "-numa" || w[0] == "-object"))
                .map(|w| &w[1])
                .collect()
        };
        let nodes = options("node,");
        let backends = options("memory-backend-ram,");
        let dists = options("dist,");
        if spec.nodes == 1 {
            assert!(
                nodes.is_empty() && backends.is_empty() && dists.is_empty(),
                "{name}"
            );
            continue;
        }
        assert_eq!(nodes.len() as u32, spec.nodes, "{name}");
        assert_eq!(dists.len() as u32, spec.nodes * (spec.nodes - 1), "{name}");
        let total: u64 = backends
            .iter()
            .map(|b| {
                field(b, "size")
                    .trim_end_matches('M')
                    .parse::<u64>()
                    .unwrap()
            })
            .sum();
        assert_eq!(format!("{total}M"), args[1], "{name}");
        for (node, option) in expected.nodes.iter().zip(&nodes) {
            assert_eq!(field(option, "nodeid"), node.id.to_string(), "{name}");
            assert_eq!(
                parse_cpu_list(field(option, "cpus")).unwrap(),
                node.cpus,
                "{name}"
            );
        }
        for group in expected.llcs.iter().chain(&expected.cores) {
            let inside = expected.nodes.iter().filter(|n| {
                let cpus: BTreeSet<&u32> = n.cpus.iter().collect();
                group.iter().all(|c| cpus.contains(c))
            });
            assert_eq!(inside.count(), 1, "{name}: {group:?}");
        }
    }
}
