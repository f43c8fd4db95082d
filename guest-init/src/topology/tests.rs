use std::fs;
use std::path::Path;

use tempfile::TempDir;

use super::*;

/// Writes `text` at `root/rel`, creating the parents.
fn put(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

/// A sysfs tree as a kernel on the given layout writes it: L1d/L1i/L2 per
/// SMT group, L3 per LLC group, and node files when `nodes` is not empty.
fn fake_sysfs(online: &str, llcs: &[&str], cores: &[&str], nodes: &[(&str, &str, u64)]) -> TempDir {
    let dir = TempDir::new().unwrap();
    let root = dir.path();
    put(root, "devices/system/cpu/online", &format!("{online}\n"));
    let cpu_groups = |groups: &[&str]| -> Vec<(Vec<u32>, String)> {
        groups
            .iter()
            .map(|g| (parse_cpu_list(g).unwrap(), g.to_string()))
            .collect()
    };
    for (cpus, list) in cpu_groups(cores) {
        for cpu in cpus {
            let base = format!("devices/system/cpu/cpu{cpu}");
            put(
                root,
                &format!("{base}/topology/thread_siblings_list"),
                &format!("{list}\n"),
            );
            for (index, level) in [(0, 1), (1, 1), (2, 2)] {
                put(
                    root,
                    &format!("{base}/cache/index{index}/level"),
                    &format!("{level}\n"),
                );
                put(
                    root,
                    &format!("{base}/cache/index{index}/shared_cpu_list"),
                    &format!("{list}\n"),
                );
            }
        }
    }
    for (cpus, list) in cpu_groups(llcs) {
        for cpu in cpus {
            let base = format!("devices/system/cpu/cpu{cpu}/cache/index3");
            put(root, &format!("{base}/level"), "3\n");
            put(
                root,
                &format!("{base}/shared_cpu_list"),
                &format!("{list}\n"),
            );
        }
    }
    for (id, (cpulist, distance, kib)) in nodes.iter().enumerate() {
        let base = format!("devices/system/node/node{id}");
        put(root, &format!("{base}/cpulist"), &format!("{cpulist}\n"));
        put(root, &format!("{base}/distance"), &format!("{distance}\n"));
        let meminfo =
            format!("Node {id} MemTotal:       {kib} kB\nNode {id} MemFree:         1000 kB\n");
        put(root, &format!("{base}/meminfo"), &meminfo);
    }
    dir
}

#[test]
fn observes_two_nodes_two_llcs_with_smt() {
    let sys = fake_sysfs(
        "0-7",
        &["0-3", "4-7"],
        &["0-1", "2-3", "4-5", "6-7"],
        &[("0-3", "10 20", 500_000), ("4-7", "20 10", 524_288)],
    );
    let topo = observe(sys.path()).unwrap();
    let want = Topology {
        cpus: (0..8).collect(),
        nodes: vec![
            NumaNode {
                id: 0,
                cpus: vec![0, 1, 2, 3],
                distances: vec![10, 20],
                memory_mib: Some(488),
            },
            NumaNode {
                id: 1,
                cpus: vec![4, 5, 6, 7],
                distances: vec![20, 10],
                memory_mib: Some(512),
            },
        ],
        llcs: vec![vec![0, 1, 2, 3], vec![4, 5, 6, 7]],
        cores: vec![vec![0, 1], vec![2, 3], vec![4, 5], vec![6, 7]],
    };
    assert_eq!(topo, want);
}

#[test]
fn groups_sort_numerically_past_cpu_nine() {
    let llcs: Vec<String> = (0..6).map(|i| format!("{}-{}", i * 2, i * 2 + 1)).collect();
    let llcs: Vec<&str> = llcs.iter().map(String::as_str).collect();
    let cores: Vec<String> = (0..12).map(|i| i.to_string()).collect();
    let cores: Vec<&str> = cores.iter().map(String::as_str).collect();
    let sys = fake_sysfs("0-11", &llcs, &cores, &[("0-11", "10", 1024)]);
    let topo = observe(sys.path()).unwrap();
    assert_eq!(topo.llcs.len(), 6);
    assert_eq!(topo.llcs[5], vec![10, 11]);
    assert_eq!(topo.cores[10], vec![10]);
    assert_eq!(topo.nodes[0].cpus, (0..12).collect::<Vec<_>>());
}

#[test]
fn without_l3_the_highest_level_is_the_llc() {
    // No L3 at all: L2 (shared by the SMT pair here) is the last level.
    let sys = fake_sysfs("0-3", &[], &["0-1", "2-3"], &[]);
    let topo = observe(sys.path()).unwrap();
    assert_eq!(topo.llcs, vec![vec![0, 1], vec![2, 3]]);
}

#[test]
fn cache_index_order_does_not_decide_the_level() {
    // index0 is the L3 here: the level file decides, not the index number.
    let sys = fake_sysfs("0-1", &["0-1"], &["0", "1"], &[]);
    for cpu in 0..2 {
        let cache = format!("devices/system/cpu/cpu{cpu}/cache");
        put(sys.path(), &format!("{cache}/index0/level"), "3\n");
        put(
            sys.path(),
            &format!("{cache}/index0/shared_cpu_list"),
            "0-1\n",
        );
        put(sys.path(), &format!("{cache}/index3/level"), "1\n");
        put(
            sys.path(),
            &format!("{cache}/index3/shared_cpu_list"),
            &format!("{cpu}\n"),
        );
    }
    assert_eq!(observe(sys.path()).unwrap().llcs, vec![vec![0, 1]]);
}

#[test]
fn core_cpus_list_is_the_fallback_for_siblings() {
    let sys = fake_sysfs("0-1", &["0-1"], &["0-1"], &[]);
    for cpu in 0..2 {
        let topo = sys
            .path()
            .join(format!("devices/system/cpu/cpu{cpu}/topology"));
        fs::remove_file(topo.join("thread_siblings_list")).unwrap();
        fs::write(topo.join("core_cpus_list"), "0-1\n").unwrap();
    }
    assert_eq!(observe(sys.path()).unwrap().cores, vec![vec![0, 1]]);
}

#[test]
fn offline_cpus_leave_the_groups() {
    let sys = fake_sysfs("0-2", &["0-3"], &["0-1", "2-3"], &[]);
    let topo = observe(sys.path()).unwrap();
    assert_eq!(topo.cpus, vec![0, 1, 2]);
    assert_eq!(topo.llcs, vec![vec![0, 1, 2]]);
    assert_eq!(topo.cores, vec![vec![0, 1], vec![2]]);
}

#[test]
fn no_node_directory_means_no_nodes() {
    let sys = fake_sysfs("0-1", &["0-1"], &["0", "1"], &[]);
    assert!(observe(sys.path()).unwrap().nodes.is_empty());
}

#[test]
fn meminfo_without_mem_total_is_unknown_memory() {
    let sys = fake_sysfs("0", &["0"], &["0"], &[("0", "10", 4096)]);
    put(
        sys.path(),
        "devices/system/node/node0/meminfo",
        "Node 0 MemFree: 1 kB\n",
    );
    assert_eq!(observe(sys.path()).unwrap().nodes[0].memory_mib, None);
}

#[test]
fn errors_name_the_file() {
    let empty = TempDir::new().unwrap();
    let err = observe(empty.path()).unwrap_err();
    assert!(
        matches!(&err, ObserveError::Read { path, .. } if path.ends_with("cpu/online")),
        "{err}"
    );

    let sys = fake_sysfs("0-1", &["0-1"], &["0", "1"], &[("0-1", "10 x", 1024)]);
    let err = observe(sys.path()).unwrap_err();
    assert!(
        matches!(&err, ObserveError::Parse { path, text, .. }
        if path.ends_with("node0/distance") && text == "x"),
        "{err}"
    );

    let sys = fake_sysfs("0-1", &["0-1"], &["0", "1"], &[]);
    put(
        sys.path(),
        "devices/system/cpu/cpu1/topology/thread_siblings_list",
        "1-0\n",
    );
    let err = observe(sys.path()).unwrap_err();
    assert!(err.to_string().contains("runs backwards"), "{err}");

    let sys = fake_sysfs("0-1", &["0-1"], &["0", "1"], &[]);
    fs::remove_dir_all(sys.path().join("devices/system/cpu/cpu1/cache")).unwrap();
    fs::create_dir(sys.path().join("devices/system/cpu/cpu1/cache")).unwrap();
    let err = observe(sys.path()).unwrap_err();
    assert!(matches!(err, ObserveError::NoCache { cpu: 1, .. }), "{err}");
}

/// The machine running the tests is a real sysfs: every online CPU must
/// land in exactly one LLC group, one SMT group and (with NUMA) one node.
#[test]
fn observes_this_machine() {
    let sys = Path::new("/sys");
    if !sys.join("devices/system/cpu/online").exists() {
        return; // not Linux, or sysfs not mounted (some containers)
    }
    let topo = observe(sys).unwrap();
    assert!(!topo.cpus.is_empty());
    let each_once = |groups: Vec<&Vec<u32>>| {
        let mut all: Vec<u32> = groups.into_iter().flatten().copied().collect();
        all.sort_unstable();
        assert_eq!(all, topo.cpus, "{topo:?}");
    };
    each_once(topo.llcs.iter().collect());
    each_once(topo.cores.iter().collect());
    if !topo.nodes.is_empty() {
        each_once(topo.nodes.iter().map(|n| &n.cpus).collect());
        for node in &topo.nodes {
            assert_eq!(node.distances.len(), topo.nodes.len(), "{topo:?}");
            assert!(node.memory_mib.is_some(), "{topo:?}");
        }
    }
}
