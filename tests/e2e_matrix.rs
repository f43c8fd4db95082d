//! `ktstr-vm matrix` end to end: two kernels (6.12.117 and its debug
//! variant) x two topologies x two schedulers at -j2, with one cell
//! excluded by the plan file; JUnit parsed back, JSON and the summary
//! checked; shards 1/2 and 2/2 cover every cell exactly once.

mod common;

use std::collections::BTreeMap;

use common::{artifacts, ktstr};
use serde_json::Value;

const PLAN: &str = r#"
kernels = ["6.12.117", "6.12.117+debug"]
topologies = ["1n2l2c1t", "1n1l2c1t"]
schedulers = ["scx_simple", "eevdf"]
duration = "2s"

[[exclude]]
kernel = "*+debug"
topology = "1n1l2c1t"
scheduler = "eevdf"
reason = "the debug kernel's EEVDF run is covered on 2 LLCs"
"#;

fn plan_file() -> String {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("matrix-plan");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ktstr-vm.toml");
    std::fs::write(&path, PLAN).unwrap();
    path.display().to_string()
}

/// (test case name, classname, outcome) of every JUnit test case.
fn junit_cases(xml: &str) -> Vec<(String, String, String)> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut out: Vec<(String, String, String)> = Vec::new();
    let attr = |e: &quick_xml::events::BytesStart, key: &[u8]| {
        e.attributes()
            .flatten()
            .find(|a| a.key.as_ref() == key)
            .map(|a| String::from_utf8_lossy(&a.value).into_owned())
            .unwrap_or_default()
    };
    loop {
        match reader.read_event().expect("JUnit is well-formed XML") {
            Event::Start(e) | Event::Empty(e) => match e.name().as_ref() {
                b"testcase" => out.push((attr(&e, b"name"), attr(&e, b"classname"), "pass".into())),
                b"failure" => out.last_mut().unwrap().2 = "fail".into(),
                b"error" => out.last_mut().unwrap().2 = "error".into(),
                b"skipped" => out.last_mut().unwrap().2 = "skipped".into(),
                _ => {}
            },
            Event::Eof => return out,
            _ => {}
        }
    }
}

#[test]
fn two_kernels_two_topologies_two_schedulers_at_j2() {
    common::kernel_path();
    let plan = plan_file();
    let dir = artifacts("matrix");
    let junit = dir.with_extension("xml");
    let out = ktstr(&[
        "matrix",
        "--plan",
        &plan,
        "-j",
        "2",
        "--json",
        "--artifacts",
        dir.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    let report: Value = serde_json::from_slice(&out.stdout).expect("--json prints the report");
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    let cells = report["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 8);
    assert_eq!(
        (report["passed"].as_u64(), report["skipped"].as_u64()),
        (Some(7), Some(1))
    );
    let skipped: Vec<&Value> = cells.iter().filter(|c| c["status"] == "skipped").collect();
    assert_eq!(skipped[0]["kernel"], "6.12.117+debug");
    assert_eq!(skipped[0]["topology"], "1n1l2c1t");
    assert!(skipped[0]["reason"]
        .as_str()
        .unwrap()
        .contains("covered on 2 LLCs"));
    for c in cells.iter().filter(|c| c["status"] == "pass") {
        let id = c["id"].as_str().unwrap();
        assert!(
            dir.join(id).join("result.json").is_file(),
            "artifacts of {id}"
        );
        assert_eq!(c["result"]["outcome"], "pass");
    }
    // The debug variant really is another kernel.
    let keys: std::collections::BTreeSet<&str> = cells
        .iter()
        .filter_map(|c| c["result"]["kernel"]["cache_key"].as_str())
        .collect();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(dir.join("matrix.json").is_file());

    let cases = junit_cases(&std::fs::read_to_string(&junit).unwrap());
    assert_eq!(cases.len(), 8, "{cases:?}");
    let by_outcome = cases.iter().fold(BTreeMap::new(), |mut m, c| {
        *m.entry(c.2.as_str()).or_insert(0) += 1;
        m
    });
    assert_eq!(by_outcome, BTreeMap::from([("pass", 7), ("skipped", 1)]));
    assert!(cases
        .iter()
        .any(|c| c.1 == "6.12.117+debug" && c.0 == "scx_simple [1n2l2c1t]"));

    let out = common::bin()
        .args(["matrix", "--plan", &plan, "--list"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let listed = String::from_utf8_lossy(&out.stdout);
    assert_eq!(listed.lines().count(), 8, "{listed}");
    assert!(listed.contains("(excluded: the debug kernel"), "{listed}");
}

#[test]
fn shards_split_the_cells_and_cover_them_once() {
    let plan = plan_file();
    let list = |shard: &str| -> Vec<String> {
        let out = ktstr(&[
            "matrix", "--plan", &plan, "--list", "--json", "--shard", shard,
        ]);
        assert!(out.status.success());
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v["include"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect()
    };
    let (a, b) = (list("1/2"), list("2/2"));
    assert_eq!(a.len() + b.len(), 8);
    assert!(a.iter().all(|id| !b.contains(id)), "{a:?} {b:?}");
    let mut all = a.clone();
    all.extend(b);
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 8);
    let out = ktstr(&["matrix", "--plan", &plan, "--list", "--shard", "3/2"]);
    assert_eq!(out.status.code(), Some(129));
}

#[test]
fn github_outputs_on_a_failing_cell() {
    common::kernel_path();
    let dir = artifacts("matrix-github");
    let summary = dir.with_extension("md");
    let _ = std::fs::remove_file(&summary);
    // scx_qmap stalling every 4th user thread fails; scx_simple passes.
    let out = common::bin()
        .args([
            "matrix",
            "--plan",
            "/dev/null",
            "-k",
            "6.12.117",
            "-t",
            "1n1l2c1t",
            "-s",
            "scx_simple",
            "-s",
            "scx_qmap -t 4",
            "-d",
            "8s",
            "-w",
            "4",
            "-j",
            "2",
            "--artifacts",
            dir.to_str().unwrap(),
        ])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(
        md.contains("| kernel | topology | scenario | scx_simple | scx_qmap -t 4 |"),
        "{md}"
    );
    assert!(md.contains("✅ pass") && md.contains("❌ fail"), "{md}");
    assert!(
        stderr.contains("::error title=ktstr-vm scx_qmap -t 4 on 6.12.117 [1n1l2c1t]::"),
        "{stderr}"
    );
}
