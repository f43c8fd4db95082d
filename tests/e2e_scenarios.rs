//! Scenarios end to end: every canned scenario passes under EEVDF and
//! scx_simple on a 2-LLC topology (all of them in one boot per scheduler),
//! a SCHED_FIFO hog starving a cgroup fails `not_starved` naming the
//! victims, an isolation violation built on purpose is caught, and a
//! malformed file is a located usage error.

mod common;

use common::{kernel_path, ktstr, run_json};
use serde_json::Value;

const TOPOLOGY: &str = "1n2l2c1t";

fn scenario<'a>(result: &'a Value, name: &str) -> &'a Value {
    result["scenarios"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["name"] == name))
        .unwrap_or_else(|| panic!("no scenario {name} in the result"))
}

fn assertion<'a>(s: &'a Value, name: &str) -> &'a Value {
    s["assertions"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["name"] == name))
        .unwrap_or_else(|| panic!("no assertion {name}"))
}

fn canned() -> Vec<String> {
    let out = ktstr(&["scenarios", "list"]);
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

fn all_canned_pass(label: &str, scheduler: &[&str]) {
    let kernel = kernel_path();
    let names = canned();
    assert!(names.len() >= 15, "{names:?}");
    let mut args = vec!["--kernel", &kernel, "--topology", TOPOLOGY, "-q"];
    args.extend_from_slice(scheduler);
    for n in &names {
        args.extend(["--scenario", n.as_str()]);
    }
    let (code, result) = run_json(label, &args);
    let scenarios = result["scenarios"]
        .as_array()
        .expect("scenarios in the result");
    assert_eq!(scenarios.len(), names.len());
    for s in scenarios {
        assert_eq!(
            s["outcome"], "pass",
            "{label}: scenario {} did not pass: {s:#}",
            s["name"]
        );
        assert!(s["workers"].as_u64().unwrap() > 0);
        // Nothing passes by being skipped: something was measured and held.
        let measured_pass = s["assertions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["outcome"] == "pass" && a["measured"].is_number());
        assert!(
            measured_pass,
            "{label}: scenario {} passed with no measured, passing assertion: {s:#}",
            s["name"]
        );
    }
    assert_eq!(code, 0, "{label}: findings {:#}", result["findings"]);
}

#[test]
fn every_canned_scenario_passes_under_eevdf() {
    all_canned_pass("scenarios-eevdf", &[]);
}

#[test]
fn every_canned_scenario_passes_under_scx_simple() {
    all_canned_pass("scenarios-scx-simple", &["--scheduler", "scx_simple"]);
}

fn write(name: &str, text: &str) -> String {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("scenario-files");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// Two victims share CPU 3 with a SCHED_FIFO spinner; a control group has
/// CPUs 0-2 to itself. Only RT throttling's leftovers reach the victims.
const FIFO_HOG: &str = r#"
description = "a SCHED_FIFO hog on the victims' only CPU"
duration = "4s"

[[cgroups]]
name = "victim"
cpuset = "3"
workers = [{ work_type = { type = "spin_wait" }, workers = 2 }]

[[cgroups]]
name = "hog"
cpuset = "3"
workers = [{ work_type = { type = "spin_wait" }, workers = 1, policy = { class = "fifo", priority = 50 } }]

[[cgroups]]
name = "control"
cpuset = "0-2"
workers = [{ work_type = { type = "spin_wait" }, workers = 3 }]
"#;

#[test]
fn a_fifo_hog_fails_not_starved_and_names_the_victims() {
    let kernel = kernel_path();
    let file = write("fifo_hog.toml", FIFO_HOG);
    let (code, result) = run_json(
        "scenario-fifo-hog",
        &[
            "--kernel",
            &kernel,
            "--topology",
            TOPOLOGY,
            "-q",
            "--scenario",
            &file,
        ],
    );
    assert_eq!(code, 1, "findings {:#}", result["findings"]);
    let s = scenario(&result, "fifo_hog");
    assert_eq!(s["outcome"], "fail");
    let a = assertion(s, "not_starved");
    assert_eq!(a["outcome"], "fail", "{a:#}");
    let offenders: Vec<&str> = a["offenders"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(offenders.len(), 2, "{offenders:?}");
    assert!(
        offenders.iter().all(|o| o.contains("cgroup victim")),
        "{offenders:?}"
    );
    assert!(a["measured"].as_f64().unwrap() < a["threshold"].as_f64().unwrap());
    // The control group and the hog are not blamed; the finding says why.
    let finding = result["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["class"] == "assertion-failed")
        .expect("an assertion-failed finding");
    assert!(finding["message"]
        .as_str()
        .unwrap()
        .contains("not_starved failed"));
}

/// Workers pinned to CPU 3 whose cgroup is then confined to CPUs 0-1: the
/// kernel moves them, but only after the write. With zero grace, the
/// moment they are still on CPU 3 is a violation; with the default grace
/// the same run passes, so the detector is neither blind nor trigger-happy.
const PINNED_THEN_CONFINED: &str = r#"
description = "pinned workers whose cgroup loses their CPU"
topology = "1n2l2c1t"

[[cgroups]]
name = "pinned"
workers = [{ work_type = { type = "spin_wait" }, workers = 2, affinity = { kind = "cpu_list", cpus = [3] } }]

[[steps]]
hold = "1s"

[[steps]]
hold = "2s"
ops = [{ op = "set_cpuset", cgroup = "pinned", cpuset = "0-1" }]
"#;

#[test]
fn an_isolation_violation_is_detected() {
    let kernel = kernel_path();
    let file = write("pinned_then_confined.toml", PINNED_THEN_CONFINED);
    let base = [
        "--kernel",
        kernel.as_str(),
        "-q",
        "--scenario",
        file.as_str(),
    ];
    let mut strict = base.to_vec();
    strict.extend(["--assert", "isolation_grace_ms=0"]);
    let (code, result) = run_json("scenario-isolation-strict", &strict);
    let s = scenario(&result, "pinned_then_confined");
    let a = assertion(s, "cpuset_isolation");
    assert_eq!(a["outcome"], "fail", "{a:#}");
    assert_eq!(code, 1);
    let offenders: Vec<&str> = a["offenders"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        offenders
            .iter()
            .any(|o| o.contains("still on CPU 3") && o.contains("became 0-1")),
        "{offenders:?}"
    );

    let (code, result) = run_json("scenario-isolation-default", &base);
    let a = assertion(
        scenario(&result, "pinned_then_confined"),
        "cpuset_isolation",
    );
    assert_eq!(a["outcome"], "pass", "{a:#}");
    assert_eq!(code, 0, "findings {:#}", result["findings"]);
}

#[test]
fn a_malformed_scenario_is_a_located_usage_error() {
    let file = write(
        "typo.toml",
        "[[cgroups]]\nname = \"a\"\ncpusett = \"llc(0)\"\n",
    );
    let out = ktstr(&["run", "--scenario", &file]);
    assert_eq!(out.status.code(), Some(129));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{file}:3:1: unknown field `cpusett`")),
        "{err}"
    );
    assert!(err.contains("did you mean \"cpuset\""), "{err}");

    let out = ktstr(&["run", "--scenario", "stedy"]);
    assert_eq!(out.status.code(), Some(129));
    assert!(String::from_utf8_lossy(&out.stderr).contains("did you mean \"steady\""));

    let out = ktstr(&["run", "--scenario", "steady", "--assert", "max_gap=5"]);
    assert_eq!(out.status.code(), Some(129));
    assert!(String::from_utf8_lossy(&out.stderr).contains("did you mean \"max_gap_ms\""));
}
