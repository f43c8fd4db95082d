//! End-to-end failure detection under TCG: real faults in a real kernel,
//! each checked for its class, its evidence and its exit code.
//!
//! The known-bad schedulers are `scx_qmap`'s fault-injection flags; the
//! rest comes from `--inject` (a signal to the scheduler, a sysrq crash, an
//! init that stops answering) and from a kernel whose sched_ext never
//! initialised (`initcall_blacklist=scx_init`). qmap's faults count
//! scheduling events, so every qmap run is busy: 8 workers on 2 vCPUs.
//!
//! Each test prints `fault-to-verdict` (guest fault time to QEMU exit on
//! the host clock); `cargo test --test e2e_failures -- --nocapture` shows them.

mod common;

use common::*;
use serde_json::Value;

/// qmap's watchdog timeout is 5 s (fixed in scx_qmap.bpf.c), so a stall
/// shows 5-11 s after the workload starts (later on a loaded host). The
/// run stops as soon as the kernel disables the scheduler, so this is only
/// the upper bound.
const STALL_DURATION: &str = "30s";

fn busy_qmap(name: &str, duration: &str, qmap_args: &[&str]) -> (i32, Value) {
    let k = kernel_path();
    let mut args = vec![
        "--kernel",
        &k,
        "-s",
        "scx_qmap",
        "--cpus",
        "2",
        "--workers",
        "8",
        "-d",
        duration,
        "--",
    ];
    args.extend_from_slice(qmap_args);
    run_json(name, &args)
}

fn first(r: &Value) -> &Value {
    &r["findings"][0]
}

/// The finding's message and evidence as one text.
fn text(f: &Value) -> String {
    let ev: Vec<&str> = f["evidence"]
        .as_array()
        .map_or(vec![], |a| a.iter().filter_map(Value::as_str).collect());
    format!("{}\n{}", f["message"].as_str().unwrap_or(""), ev.join("\n"))
}

fn timeline_point(r: &Value, point: &str) -> Option<(u64, Option<u64>)> {
    r["timeline"]
        .as_array()?
        .iter()
        .find(|t| t["point"] == point)
        .map(|t| (t["host_ms"].as_u64().unwrap(), t["guest_ms"].as_u64()))
}

/// Seconds from the fault (guest uptime `at_guest_ms`, moved to the host
/// clock) to QEMU's exit on the host. The clocks are tied by the timeline
/// point delivered fastest: the smallest host-minus-guest time. (A point
/// the guest stamped can reach the host seconds later when the fault
/// starves the guest's sender, as a stall does.) So this can come out a
/// few ms short.
fn fault_to_verdict(r: &Value, at_guest_ms: u64) -> Option<f64> {
    let offset = r["timeline"]
        .as_array()?
        .iter()
        .filter_map(|t| Some(t["host_ms"].as_i64()? - t["guest_ms"].as_i64()?))
        .min()?;
    let (exit_host, _) = timeline_point(r, "qemu_exited")?;
    let fault_host = offset + at_guest_ms as i64;
    Some((exit_host as i64 - fault_host) as f64 / 1000.0)
}

fn report_latency(class: &str, r: &Value) {
    let at = first(r)["at_guest_ms"]
        .as_u64()
        .expect("the finding says when the fault happened");
    let secs = fault_to_verdict(r, at).expect("timeline has init and qemu_exited");
    eprintln!(
        "fault-to-verdict {class}: {secs:.2}s (fault at {:.2}s guest uptime)",
        at as f64 / 1000.0
    );
    assert!(
        secs > -0.2 && secs < 30.0,
        "{class}: implausible fault-to-verdict {secs}"
    );
}

#[test]
fn healthy_qmap_under_load_passes() {
    let (code, r) = busy_qmap("qmap-healthy", "4s", &[]);
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(r["findings"].as_array().unwrap().len(), 0, "{r:#}");
    assert_eq!(r["scheduler"]["ops"], "qmap");
    assert_eq!(r["workers"].as_array().unwrap().len(), 8);
}

#[test]
fn qmap_error_is_a_disable_with_reason_message_and_dump() {
    let (code, r) = busy_qmap("qmap-e", "4s", &["-e", "200"]);
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(classes(&r)[0], "scheduler-disabled", "{r:#}");
    let f = first(&r);
    let msg = f["message"].as_str().unwrap();
    assert!(
        msg.contains("(scx_bpf_error): test triggering error"),
        "{msg}"
    );
    let t = text(f);
    // The kernel's lines, then the scheduler's own debug dump.
    assert!(
        t.contains("sched_ext: BPF scheduler \"qmap\" disabled (scx_bpf_error)"),
        "{t}"
    );
    assert!(
        t.contains("scheduler: DEBUG DUMP") && t.contains("exit kind 1025"),
        "{t}"
    );
    report_latency("scheduler-disabled (scx_bpf_error)", &r);
}

fn assert_stall(name: &str, r: &Value, code: i32) {
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(classes(r)[0], "scheduler-disabled", "{r:#}");
    let f = first(r);
    let msg = f["message"].as_str().unwrap();
    assert!(msg.contains("(runnable task stall)"), "{msg}");
    // The kernel names what stalled: "<task>[pid] failed to run for 5.004s"
    // or "watchdog failed to check in".
    assert!(
        msg.contains("failed to run for") || msg.contains("failed to check in"),
        "{msg}"
    );
    assert!(
        text(f).contains("exit kind 1026"),
        "the debug dump is missing: {}",
        text(f)
    );
    report_latency(name, r);
}

#[test]
fn qmap_user_thread_stall_is_caught_by_the_watchdog() {
    let (code, r) = busy_qmap("qmap-t", STALL_DURATION, &["-t", "20"]);
    assert_stall("scheduler-disabled (user stall, -t)", &r, code);
}

#[test]
fn qmap_kernel_thread_stall_is_caught_by_the_watchdog() {
    let (code, r) = busy_qmap("qmap-T", STALL_DURATION, &["-T", "2"]);
    assert_stall("scheduler-disabled (kthread stall, -T)", &r, code);
}

#[test]
fn qmap_dispatch_loop_ends_as_a_stall() {
    let (code, r) = busy_qmap("qmap-l", STALL_DURATION, &["-l", "50"]);
    assert_stall("scheduler-disabled (dispatch loop, -l)", &r, code);
}

#[test]
fn scheduler_killed_mid_run_is_reported_with_the_signal() {
    let k = kernel_path();
    let (code, r) = run_json(
        "killed",
        &[
            "--kernel",
            &k,
            "-s",
            "scx_simple",
            "-d",
            "4s",
            "--inject",
            "kill-scheduler@1s",
        ],
    );
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(classes(&r), ["scheduler-exited"], "{r:#}");
    let f = first(&r);
    let msg = f["message"].as_str().unwrap();
    assert!(
        msg.contains("ended on its own mid-run (killed by SIGKILL)"),
        "{msg}"
    );
    let t = text(f);
    assert!(
        t.contains("injected on purpose (--inject): kill-scheduler:SIGKILL@1000ms"),
        "{t}"
    );
    // The kernel's side: the BPF link went away with the process.
    assert!(t.contains("disabled (unregistered from user space)"), "{t}");
    report_latency("scheduler-exited (SIGKILL)", &r);
}

#[test]
fn kernel_panic_is_caught_from_the_console() {
    let k = kernel_path();
    let (code, r) = run_json(
        "panic",
        &[
            "--kernel",
            &k,
            "-s",
            "scx_simple",
            "-d",
            "4s",
            "--inject",
            "sysrq-c@1s",
        ],
    );
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(classes(&r)[0], "kernel-panic", "{r:#}");
    let f = first(&r);
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("Kernel panic - not syncing: sysrq triggered crash"),
        "{f:#}"
    );
    // What led to it, from before the panic line.
    assert!(text(f).contains("sysrq: Trigger a crash"), "{}", text(f));
    report_latency("kernel-panic (sysrq-c)", &r);
}

#[test]
fn hung_guest_is_ended_by_the_host_timeout() {
    let k = kernel_path();
    let (code, r) = run_json(
        "hang",
        &[
            "--kernel",
            &k,
            "-d",
            "3s",
            "--timeout",
            "20s",
            "--inject",
            "hang@1s",
        ],
    );
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(classes(&r), ["guest-hung"], "{r:#}");
    let f = first(&r);
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("no result within 20.0 s"),
        "{f:#}"
    );
    let t = text(f);
    assert!(
        t.contains("injected on purpose (--inject): hang@1000ms"),
        "{t}"
    );
    assert!(t.contains("last phase reached: WorkloadStarted"), "{t}");
    assert!(timeline_point(&r, "host_timeout").is_some(), "{r:#}");
    report_latency("guest-hung (host timeout 20 s)", &r);
}

/// A kernel whose sched_ext never initialised: `scx_init` is a built-in
/// initcall, and `initcall_blacklist=` skips it, so the guest has no
/// `/sys/kernel/sched_ext` and no sched_ext struct_ops, exactly like a
/// kernel built without CONFIG_SCHED_CLASS_EXT. (The host-side check, a
/// `.config` without it, stops the run before boot: see plan.rs.)
#[test]
fn kernel_without_sched_ext_cannot_test() {
    let k = kernel_path();
    let (code, r) = run_json(
        "no-scx",
        &[
            "--kernel",
            &k,
            "-s",
            "scx_simple",
            "-d",
            "2s",
            "--append",
            "initcall_blacklist=scx_init",
        ],
    );
    assert_eq!(code, 125, "{r:#}");
    assert_eq!(classes(&r), ["no-sched-ext"], "{r:#}");
    assert!(
        first(&r)["message"]
            .as_str()
            .unwrap()
            .contains("CONFIG_SCHED_CLASS_EXT"),
        "{r:#}"
    );
    assert_eq!(r["outcome"], "inconclusive");
}

/// `e_machine` of an ELF header, and AArch64's number.
const E_MACHINE: usize = 18;
const EM_AARCH64: u16 = 183;
/// `e_ident[EI_OSABI]`: glibc's loader accepts only SYSV and GNU.
const EI_OSABI: usize = 7;

/// A scheduler for another architecture gets past the host's checks (its
/// ELF header reads fine and it needs no libraries) and the guest kernel
/// refuses to exec it: that scheduler cannot be tested (125), it did not fail.
#[test]
fn scheduler_for_another_architecture_cannot_test() {
    let dir = artifacts("exec-failed-arch-build");
    let sched = cc(
        &dir,
        "scx_other_arch",
        "int main(void) { return 0; }\n",
        &["-static"],
    );
    patch_bytes(&sched, E_MACHINE, &EM_AARCH64.to_le_bytes());
    let k = kernel_path();
    let (code, r) = run_json(
        "exec-failed-arch",
        &["--kernel", &k, "-s", sched.to_str().unwrap(), "-d", "2s"],
    );
    assert_eq!(code, 125, "{r:#}");
    assert_eq!(classes(&r), ["scheduler-exec-failed"], "{r:#}");
    let t = text(first(&r));
    assert!(t.contains("ENOEXEC"), "{t}");
    assert_eq!(r["outcome"], "inconclusive");
}

/// A scheduler whose library the host's closure finds and ships, but that
/// the guest's dynamic loader refuses (an OS ABI it does not accept): the
/// loader exits 127 before `main` with "error while loading shared
/// libraries", and the run is "cannot test" (125), like a library the
/// host could not find at all (see the next test).
#[test]
fn scheduler_whose_library_the_loader_refuses_cannot_test() {
    let dir = artifacts("exec-failed-loader-build");
    let lib = cc(
        &dir,
        "libktstr_e2e.so",
        "int ktstr_e2e(void) { return 0; }\n",
        &["-shared", "-fPIC", "-Wl,-soname,libktstr_e2e.so"],
    );
    let rpath = format!("-Wl,-rpath,{}", dir.display());
    let sched = cc(
        &dir,
        "scx_bad_lib",
        "int ktstr_e2e(void);\nint main(void) { return ktstr_e2e(); }\n",
        &["-L", dir.to_str().unwrap(), "-lktstr_e2e", &rpath],
    );
    patch_bytes(&lib, EI_OSABI, &[0x61]);
    let k = kernel_path();
    let (code, r) = run_json(
        "exec-failed-loader",
        &["--kernel", &k, "-s", sched.to_str().unwrap(), "-d", "2s"],
    );
    assert_eq!(code, 125, "{r:#}");
    assert_eq!(classes(&r), ["scheduler-exec-failed"], "{r:#}");
    let t = text(first(&r));
    assert!(t.contains("error while loading shared libraries"), "{t}");
    assert!(t.contains("exit code 127"), "{t}");
}

/// A library the host cannot find stops the run before boot, with the
/// same answer the guest would give: cannot test (125).
#[test]
fn scheduler_missing_a_library_cannot_test_before_boot() {
    let dir = artifacts("exec-failed-missing-build");
    let lib = cc(
        &dir,
        "libktstr_gone.so",
        "int ktstr_gone(void) { return 0; }\n",
        &["-shared", "-fPIC", "-Wl,-soname,libktstr_gone.so"],
    );
    let sched = cc(
        &dir,
        "scx_missing_lib",
        "int ktstr_gone(void);\nint main(void) { return ktstr_gone(); }\n",
        &["-L", dir.to_str().unwrap(), "-lktstr_gone"],
    );
    std::fs::remove_file(lib).unwrap();
    let k = kernel_path();
    let out = ktstr(&["run", "--kernel", &k, "-s", sched.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(125));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("libktstr_gone.so"), "{err}");
}

#[test]
fn repeat_counts_failures_and_never_retries_a_scheduler_failure() {
    let k = kernel_path();
    let dir = artifacts("repeat-fail");
    let (code, r) = repeat_json(&[
        "run",
        "--json",
        "--artifacts",
        dir.to_str().unwrap(),
        "--kernel",
        &k,
        "-s",
        "scx_simple",
        "-d",
        "2s",
        "--inject",
        "kill-scheduler@500ms",
        "--repeat",
        "2",
        "--retry-infra",
        "2",
    ]);
    assert_eq!(code, Some(1));
    assert_eq!(r["failed"], 2, "{r:#}");
    assert_eq!(r["failure_rate"], 1.0, "{r:#}");
    assert_eq!(
        r["infra_retries"], 0,
        "a scheduler failure must not be retried: {r:#}"
    );
    let runs = r["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    for (i, run) in runs.iter().enumerate() {
        assert_eq!(run["run"], i + 1);
        assert_eq!(
            run["result"]["findings"][0]["class"], "scheduler-exited",
            "{run:#}"
        );
        assert!(dir
            .join(format!("run-{:02}", i + 1))
            .join("result.json")
            .is_file());
    }
}

#[test]
fn repeat_of_a_healthy_run_passes_with_zero_failure_rate() {
    let k = kernel_path();
    let (code, r) = repeat_json(&[
        "run",
        "--json",
        "--kernel",
        &k,
        "-s",
        "scx_simple",
        "-d",
        "1s",
        "--repeat",
        "2",
    ]);
    assert_eq!(code, Some(0));
    assert_eq!(
        (r["passed"].as_u64(), r["failed"].as_u64()),
        (Some(2), Some(0)),
        "{r:#}"
    );
    assert_eq!(r["failure_rate"], 0.0);
    assert_eq!(r["exit_code"], 0);
}

#[test]
fn infrastructure_failures_are_retried_then_cannot_test() {
    // A host timeout shorter than any boot: the kernel never reaches init.
    // (A cold boot: a restored guest can answer within 300 ms.)
    let k = kernel_path();
    let (code, r) = repeat_json(&[
        "run",
        "--json",
        "--cold-boot",
        "--kernel",
        &k,
        "--timeout",
        "300ms",
        "--repeat",
        "2",
        "--retry-infra",
        "1",
    ]);
    assert_eq!(code, Some(125));
    assert_eq!(r["cannot_test"], 2, "{r:#}");
    assert_eq!(r["infra_retries"], 2, "{r:#}");
    assert_eq!(
        r["failure_rate"], 0.0,
        "could-not-test is not a scheduler failure: {r:#}"
    );
    for run in r["runs"].as_array().unwrap() {
        assert_eq!(run["infra_retries"][0]["classes"][0], "no-init", "{run:#}");
        assert_eq!(run["result"]["findings"][0]["class"], "no-init", "{run:#}");
    }
}

#[test]
fn scheduler_that_does_not_attach_in_time_fails() {
    // scx_qmap needs about 1.9 s from launch to `enabled` under TCG.
    let k = kernel_path();
    let (code, r) = run_json(
        "attach-timeout",
        &[
            "--kernel",
            &k,
            "-s",
            "scx_qmap",
            "-d",
            "2s",
            "--attach-timeout",
            "300ms",
        ],
    );
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(classes(&r)[0], "scheduler-attach-timeout", "{r:#}");
    let msg = first(&r)["message"].as_str().unwrap();
    assert!(msg.contains("did not attach within 0.3 s"), "{msg}");
}

#[test]
fn impossible_injections_are_usage_errors() {
    let k = kernel_path();
    let cases: &[(&[&str], &str)] = &[
        (
            &["--inject", "hang@5s", "-d", "2s"],
            "would fire after the 2000 ms workload ended",
        ),
        (
            &["--inject", "kill-scheduler@1s", "-d", "2s"],
            "no scheduler to kill",
        ),
        (&["--inject", "reboot@1s"], "unknown kind"),
    ];
    for (args, want) in cases {
        let mut all = vec!["run", "--kernel", &k];
        all.extend_from_slice(args);
        let out = ktstr(&all);
        assert_eq!(out.status.code(), Some(129), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{args:?}: {err}");
    }
}

/// Runs a `--repeat` command and parses its JSON summary.
fn repeat_json(args: &[&str]) -> (Option<i32>, Value) {
    let out = ktstr(args);
    let r = serde_json::from_slice(&out.stdout).expect("repeat JSON");
    (out.status.code(), r)
}
