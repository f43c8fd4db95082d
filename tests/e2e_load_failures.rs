//! End-to-end load failures: real schedulers that the kernel refuses, each
//! a one-edit variant of the kernel tree's scx_simple built with the tree's
//! own libbpf (`tests/bad-schedulers/build.sh`, once, cached under the
//! target dir). Each must fail (exit 1, `scheduler-load-failed`) with a
//! message that says why, in `result.json`, in the summary and in the JUnit
//! failure message.
//!
//! The kfunc and struct_ops variants use what 6.12 lacks (a 6.13 kfunc, a
//! 6.17 ops member): they are written for the 6.12 kernel `ci/build-kernel.sh`
//! builds. The kernel tree is the cached kernel's source (an extracted
//! tarball under `<cache>/src/`, or the tree it was built from), or
//! `KTSTR_VM_KERNEL_TREE`.

mod common;

use std::path::PathBuf;

use common::bad_schedulers::bad_schedulers;
use common::*;

/// The line number of the first line of a variant's BPF source that
/// contains `code`, as the verifier will name it.
fn source_line(variant: &str, code: &str) -> String {
    let file = format!("{variant}.bpf.c");
    let path = bad_schedulers().join("work/tools/sched_ext").join(&file);
    let text = std::fs::read_to_string(&path).expect("the variant's source");
    let n = text
        .lines()
        .position(|l| l.contains(code))
        .unwrap_or_else(|| panic!("{code:?} is not in {}", path.display()));
    format!("({file}:{})", n + 1)
}

/// Runs `variant` and checks what every failure shares: exit 1, one
/// `scheduler-load-failed` finding first, its message in the summary line
/// and the JUnit failure. Returns the message.
fn load_failure(variant: &str) -> String {
    let bin = bad_schedulers().join("bin").join(variant);
    let junit = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("e2e")
        .join(format!("{variant}.junit.xml"));
    let _ = std::fs::remove_file(&junit);
    let k = kernel_path();
    let (code, r) = run_json(
        variant,
        &[
            "--kernel",
            &k,
            "-s",
            bin.to_str().unwrap(),
            "-d",
            "2s",
            "--junit",
            junit.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(classes(&r)[0], "scheduler-load-failed", "{r:#}");
    let message = r["findings"][0]["message"].as_str().unwrap().to_string();
    let xml = std::fs::read_to_string(&junit).expect("the JUnit report");
    let failure = junit_failure_message(&xml).expect("a <failure message=...> in the JUnit report");
    assert_eq!(
        failure,
        format!("scheduler-load-failed: {message}"),
        "{xml}"
    );
    // The JUnit case's system-out is the printed summary.
    let summary_line = format!("FAIL scheduler-load-failed: {message}");
    assert!(
        unescape(&xml).contains(&summary_line),
        "the summary lacks {summary_line:?}:\n{xml}"
    );
    eprintln!("{variant}: {message}");
    message
}

/// The `message` attribute of the first `<failure>` element.
fn junit_failure_message(xml: &str) -> Option<String> {
    let failure = &xml[xml.find("<failure")?..];
    let start = failure.find("message=\"")? + "message=\"".len();
    let len = failure[start..].find('"')?;
    Some(unescape(&failure[start..start + len]))
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn first_finding(message: &str, starts: &str, contains: &[&str], ends: &str) {
    assert!(
        message.starts_with(starts),
        "{message:?} should start with {starts:?}"
    );
    for c in contains {
        assert!(message.contains(c), "{message:?} should contain {c:?}");
    }
    assert!(
        message.ends_with(ends),
        "{message:?} should end with {ends:?}"
    );
}

/// The verifier's verdict names the program (stat_inc is inlined into
/// select_cpu and enqueue; libbpf loads select_cpu first) and the line.
#[test]
fn verifier_rejection_names_prog_reason_and_line() {
    let msg = load_failure("scx_bad_verifier");
    first_finding(
        &msg,
        "verifier rejected prog simple_select_cpu: ",
        &["invalid mem access 'map_value_or_null'"],
        &source_line("scx_bad_verifier", "(*cnt_p)++;"),
    );
}

#[test]
fn out_of_bounds_access_gives_the_whole_verdict() {
    let msg = load_failure("scx_bad_oob");
    first_finding(
        &msg,
        "verifier rejected prog simple_select_cpu: ",
        &[
            "invalid access to map value, value_size=8 off=8 size=8; ",
            "min value is outside of the allowed memory range",
        ],
        &source_line("scx_bad_oob", "cnt_p[1]++;"),
    );
}

#[test]
fn missing_kfunc_is_named() {
    let msg = load_failure("scx_bad_kfunc");
    assert_eq!(
        msg,
        "missing kfunc scx_bpf_dsq_move_to_local: not found in kernel or module BTFs"
    );
}

#[test]
fn unsupported_struct_ops_member_is_named() {
    let msg = load_failure("scx_bad_ops");
    assert_eq!(
        msg,
        "unsupported struct_ops member simple_ops.cgroup_set_bandwidth: the kernel's BTF has no such member"
    );
}

#[test]
fn btf_mismatch_names_prog_field_and_line() {
    let msg = load_failure("scx_bad_btf");
    first_finding(
        &msg,
        "prog simple_enable does not match this kernel's BTF: failed to resolve CO-RE relocation ",
        &["struct task_struct___other.scx_budget"],
        &source_line("scx_bad_btf", "->scx_budget;"),
    );
}

#[test]
fn map_creation_failure_names_the_map() {
    let msg = load_failure("scx_bad_map");
    first_finding(
        &msg,
        "the kernel refused to create map stats: Invalid argument",
        &[],
        "",
    );
}
