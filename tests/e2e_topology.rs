//! End-to-end: the guest really has the requested topology (nodes, LLCs,
//! SMT siblings, distances), and impossible requests fail before booting.

mod common;

use common::*;

/// Boots `spec` and checks the verdict passed with observed == expected.
fn boots_as_requested(spec: &str, extra: &[&str]) {
    let k = kernel_path();
    let mut args = vec![
        "--kernel",
        &k,
        "--topology",
        spec,
        "--duration",
        "1s",
        "--workers",
        "2",
    ];
    args.extend_from_slice(extra);
    let (code, r) = run_json(&format!("topo-{spec}"), &args);
    assert_eq!(code, 0, "{spec}: {r:#}");
    let (want, got) = (&r["topology"]["expected"], &r["topology"]["observed"]);
    for field in ["cpus", "llcs", "cores"] {
        assert_eq!(got[field], want[field], "{spec}: guest saw other {field}");
    }
    let (wn, gn) = (
        want["nodes"].as_array().unwrap(),
        got["nodes"].as_array().unwrap(),
    );
    assert_eq!(gn.len(), wn.len(), "{spec}: node count");
    for (w, g) in wn.iter().zip(gn) {
        assert_eq!(
            (&g["id"], &g["cpus"], &g["distances"]),
            (&w["id"], &w["cpus"], &w["distances"]),
            "{spec}"
        );
        // The kernel keeps some of each node's memory for itself.
        let (wm, gm) = (
            w["memory_mib"].as_u64().unwrap(),
            g["memory_mib"].as_u64().unwrap(),
        );
        assert!(
            gm <= wm && gm * 4 >= wm * 3,
            "{spec}: node memory {gm} MiB of {wm}"
        );
    }
    assert!(!classes(&r).contains(&"topology-mismatch".to_string()));
}

#[test]
fn flat_two_cpus() {
    boots_as_requested("1n1l2c1t", &[]);
}

#[test]
fn two_llcs_with_smt() {
    boots_as_requested("1n2l2c2t", &[]);
}

#[test]
fn two_numa_nodes() {
    boots_as_requested("2n2l2c1t", &[]);
}

#[test]
fn two_nodes_four_llcs_smt_with_distances() {
    boots_as_requested("2n4l2c2t", &[]);
    let k = kernel_path();
    let (code, r) = run_json(
        "topo-2n4l2c2t",
        &["--kernel", &k, "-t", "2n4l2c2t", "-d", "1s", "-w", "2"],
    );
    assert_eq!(code, 0);
    let nodes = r["topology"]["observed"]["nodes"].as_array().unwrap();
    assert_eq!(nodes[0]["distances"], serde_json::json!([10, 20]));
    assert_eq!(
        r["topology"]["observed"]["llcs"].as_array().unwrap().len(),
        4
    );
}

#[test]
fn thirty_two_vcpus() {
    boots_as_requested("2n4l4c2t", &["--memory", "2G"]);
}

#[test]
fn impossible_topologies_are_refused_before_boot() {
    let k = kernel_path();
    for (spec, needle) in [
        ("3n4l2c1t", "cannot be split evenly across 3 NUMA nodes"),
        ("1n0l2c1t", "at least one"),
        ("2n2l2c1t --memory 1001M", "cannot be split evenly"),
        ("tinyy", "did you mean"),
    ] {
        let mut args = vec!["--kernel", k.as_str(), "--topology"];
        args.extend(spec.split(' '));
        let out = ktstr(&args);
        assert_eq!(out.status.code(), Some(129), "{spec}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{spec}: {err}");
    }
}
