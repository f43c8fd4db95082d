//! `ktstr-vm compare` end to end: scx_simple against EEVDF on the steady
//! scenario, two runs each, prints the table and a consistent
//! `compare.json`; A and B being the same run is a usage error before any
//! boot. (Which differences get flagged is unit-tested on synthetic runs
//! in `host/src/compare/tests.rs`: real runs cannot promise a regression.)

mod common;

use common::{artifacts, kernel_path, ktstr};
use serde_json::Value;

#[test]
fn scx_simple_against_eevdf_prints_the_table() {
    let kernel = kernel_path();
    let dir = artifacts("compare-steady");
    let out = ktstr(&[
        "compare",
        "--kernel",
        &kernel,
        "--scheduler",
        "scx_simple",
        "--scenario",
        "steady",
        "--topology",
        "1n2l2c1t",
        "--runs",
        "2",
        "--artifacts",
        dir.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let code = out.status.code().unwrap_or(-1);
    // Two runs per side rarely reach significance, but a real difference
    // may: both answers are legitimate, "could not test" is not.
    assert!(code == 0 || code == 1, "exit {code}");
    assert!(
        stdout.contains("A = scx_simple, B = EEVDF; 2 runs each"),
        "{stdout}"
    );
    for col in [
        "metric",
        "A mean ± sd",
        "B mean ± sd",
        "delta",
        "significant",
        "regression?",
    ] {
        assert!(stdout.contains(col), "column {col} missing:\n{stdout}");
    }
    for metric in [
        "throughput ^",
        "max_gap v",
        "fairness_spread v",
        "min_share_ratio ^",
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with("steady") && l.contains(metric)),
            "no row for {metric}:\n{stdout}"
        );
    }
    assert!(stdout.contains(&format!("exit code: {code}")), "{stdout}");
    // One short progress line per run, A and B alternating.
    let progress: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains(" 1/2: ") || l.contains(" 2/2: "))
        .collect();
    assert_eq!(progress.len(), 4, "{stderr}");
    assert!(
        progress[0].contains("A 1/2") && progress[1].contains("B 1/2"),
        "{progress:?}"
    );
    assert!(!stderr.contains("booting"), "runs must be quiet:\n{stderr}");

    let report: Value =
        serde_json::from_slice(&std::fs::read(dir.join("compare.json")).unwrap()).unwrap();
    assert_eq!(report["exit_code"], code);
    assert_eq!(report["b"]["scheduler"], Value::Null);
    assert_eq!(report["a"]["scheduler"], "scx_simple");
    let runs = report["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 4);
    for r in runs {
        assert_eq!(r["outcome"], "pass", "a healthy run failed: {r:#}");
        let art = r["artifacts"].as_str().unwrap();
        assert!(
            std::path::Path::new(art).join("result.json").exists(),
            "{art}"
        );
    }
    let metrics = report["metrics"].as_array().unwrap();
    let throughput = metrics
        .iter()
        .find(|m| m["metric"] == "throughput")
        .unwrap();
    assert_eq!(throughput["a"]["n"], 2);
    assert!(
        throughput["a"]["mean"].as_f64().unwrap() > 0.0
            && throughput["b"]["mean"].as_f64().unwrap() > 0.0
    );
    let flagged = metrics
        .iter()
        .filter(|m| m["change"] == "regression")
        .count();
    assert_eq!(report["regressions"].as_u64().unwrap() as usize, flagged);
    assert_eq!(
        code == 1,
        flagged > 0,
        "exit code and flagged regressions disagree"
    );
}

#[test]
fn the_same_run_twice_is_a_usage_error() {
    let out = ktstr(&["compare", "--scenario", "steady", "--runs", "2"]);
    assert_eq!(out.status.code(), Some(129));
    assert!(String::from_utf8_lossy(&out.stderr).contains("A and B are the same run"));
    let out = ktstr(&["compare", "--scheduler", "scx_simple", "--runs", "1"]);
    assert_eq!(out.status.code(), Some(129), "--runs 1 cannot be tested");
}
