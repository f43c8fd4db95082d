//! End-to-end: a scheduler that loads, stays attached and never trips the
//! kernel's watchdog, yet treats one task badly. Only the runner's own
//! assertions can catch it, and the plain run (no scenario, no `--assert`)
//! must: `scx_gap` (tests/bad-schedulers/gap_jail.inc.c) holds one forked
//! worker off the CPU for 6 s, over the 3 s max_gap limit under TCG and far
//! under sched_ext's 30 s watchdog.

mod common;

use common::bad_schedulers::variant;
use common::*;

#[test]
fn a_worker_held_off_the_cpu_below_the_watchdog_fails_the_plain_run() {
    let k = kernel_path();
    let sched = variant("scx_gap");
    let (code, r) = run_json(
        "scx-gap",
        &["--kernel", &k, "-s", &sched, "--cpus", "2", "-d", "10s"],
    );
    assert_eq!(code, 1, "{r:#}");
    let found = classes(&r);
    assert!(
        !found.iter().any(|c| c == "scheduler-disabled"),
        "the watchdog must not be what caught it: {found:?}"
    );
    let gap = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["message"].as_str().is_some_and(|m| m.contains("max_gap")))
        .unwrap_or_else(|| panic!("no max_gap finding: {r:#}"));
    let msg = gap["message"].as_str().unwrap();
    assert_eq!(gap["class"], "assertion-failed", "{gap:#}");
    assert!(
        msg.contains("worker "),
        "the finding names the worker: {msg}"
    );
    // The gap it measured: about the 6 s jail, far over the 3 s limit.
    let assertion = r["workload"]["assertions"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["name"] == "max_gap"))
        .unwrap_or_else(|| panic!("no max_gap assertion in {:#}", r["workload"]));
    let measured = assertion["measured"].as_f64().unwrap();
    assert!(
        (5000.0..9000.0).contains(&measured),
        "max_gap measured {measured} ms: {assertion:#}"
    );
    // The scheduler itself stayed attached to the end.
    assert_eq!(r["scheduler"]["ops"], "simple", "{r:#}");
}
