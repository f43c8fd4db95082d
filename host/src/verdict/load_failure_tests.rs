//! Load-failure diagnosis from real scheduler output: each fixture is the
//! stderr of a scheduler that failed to load in the guest (see
//! `fixtures/load_failure/README.md` for how each was made).

use ktstr_wire::{ExitStatus, GuestMsg, Stream};

use super::*;
use crate::events::{Event, TimedEvent};
use crate::finding::{Class, Outcome};
use crate::verdict::{judge, JudgeInput};

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("fixtures/load_failure/", $name, ".stderr"))
    };
}

const VERIFIER: &str = fixture!("verifier_null_deref");
const VERIFIER_MSG: &str = "verifier rejected prog simple_select_cpu: R0 invalid mem access 'map_value_or_null' (scx_bad_verifier.bpf.c:52)";

fn message(text: &str) -> Option<String> {
    diagnose(text.lines()).map(|d| d.cause.to_string())
}

#[test]
fn each_real_failure_reads_as_its_cause() {
    let table: &[(&str, &str, &str)] = &[
        ("verifier, NULL deref", VERIFIER, VERIFIER_MSG),
        (
            "verifier, NULL deref, libbpf debug output on (-v)",
            fixture!("verifier_null_deref_verbose"),
            VERIFIER_MSG,
        ),
        (
            "verifier, out-of-bounds map value: a two-line verdict",
            fixture!("verifier_oob"),
            "verifier rejected prog simple_select_cpu: invalid access to map value, value_size=8 off=8 size=8; R0 min value is outside of the allowed memory range (scx_bad_oob.bpf.c:52)",
        ),
        (
            "missing kfunc",
            fixture!("missing_kfunc"),
            "missing kfunc scx_bpf_dsq_move_to_local: not found in kernel or module BTFs",
        ),
        (
            "unsupported struct_ops member",
            fixture!("struct_ops_member"),
            "unsupported struct_ops member simple_ops.cgroup_set_bandwidth: the kernel's BTF has no such member",
        ),
        (
            "BTF mismatch: a CO-RE relocation with no target",
            fixture!("btf_core_mismatch"),
            "prog simple_enable does not match this kernel's BTF: failed to resolve CO-RE relocation <byte_off> [339] struct task_struct___other.scx_budget (0:0 @ offset 0) (scx_bad_btf.bpf.c:135)",
        ),
        (
            "BTF mismatch, libbpf debug output on (-v)",
            fixture!("btf_core_mismatch_verbose"),
            "prog simple_enable does not match this kernel's BTF: failed to resolve CO-RE relocation <byte_off> [339] struct task_struct___other.scx_budget (0:0 @ offset 0) (scx_bad_btf.bpf.c:135)",
        ),
        (
            "no kernel BTF",
            fixture!("btf_missing"),
            "unusable kernel BTF: kernel BTF is missing at '/sys/kernel/btf/vmlinux', was CONFIG_DEBUG_INFO_BTF enabled?",
        ),
        (
            "map creation",
            fixture!("map_create"),
            "the kernel refused to create map stats: Invalid argument(-22)",
        ),
    ];
    for (what, text, want) in table {
        assert_eq!(message(text).as_deref(), Some(*want), "{what}");
    }
}

/// Causes not captured from a real scheduler, as libbpf's format strings
/// (src/libbpf.c, btf.c) print them: each must still read as its cause.
#[test]
fn other_libbpf_errors_read_as_their_cause() {
    let table = [
        (
            "libbpf: extern (func ksym) 'scx_bpf_foo': func_proto [12] incompatible with vmlinux [3456]",
            "kfunc scx_bpf_foo differs in this kernel: func_proto [12] incompatible with vmlinux [3456]",
        ),
        (
            "libbpf: extern (var ksym) 'runqueues': not found in kernel BTF",
            "missing ksym runqueues: not found in kernel BTF",
        ),
        (
            "libbpf: struct_ops init_kern qmap_ops: Error in size of member flags: 4 != 8(kernel)",
            "struct_ops qmap_ops does not match this kernel: Error in size of member flags: 4 != 8(kernel)",
        ),
        (
            "libbpf: struct_ops init_kern: struct bpf_struct_ops_sched_ext_ops is not found in kernel BTF",
            "unusable kernel BTF: struct_ops init_kern: struct bpf_struct_ops_sched_ext_ops is not found in kernel BTF",
        ),
        (
            "libbpf: Error loading vmlinux BTF: -ESRCH",
            "unusable kernel BTF: Error loading vmlinux BTF: -ESRCH",
        ),
        (
            "libbpf: prog 'qmap_enqueue': relo #3: target candidate search failed for [21] struct task_struct: -22",
            "prog qmap_enqueue does not match this kernel's BTF: relo #3: target candidate search failed for [21] struct task_struct: -22",
        ),
        (
            "libbpf: map 'task_ctx_stor': failed to create: -EINVAL",
            "the kernel refused to create map task_ctx_stor: -EINVAL",
        ),
    ];
    for (line, want) in table {
        assert_eq!(message(line).as_deref(), Some(want), "{line}");
    }
}

#[test]
fn unrecognised_output_gives_no_cause() {
    for (what, text) in [
        (
            "scx_simple given a bad flag",
            fixture!("unrecognised_bad_flag"),
        ),
        ("nothing printed", ""),
        (
            "libbpf's non-fatal warnings only",
            "libbpf: object 'x': failed (-95) to create BPF token from '/sys/fs/bpf', skipping optional step...\n\
             libbpf: Error in bpf_create_map_xattr(stats): Invalid argument(-22). Retrying without BTF.\n\
             libbpf: struct_ops init_kern simple_ops: type_id:350 kern_type_id:10233 kern_vtype_id:10393",
        ),
    ] {
        assert_eq!(message(text), None, "{what}");
    }
}

/// Rust schedulers log libbpf through `log`: a prefix before `libbpf: `,
/// and the verifier log (one message) unprefixed after its first line.
#[test]
fn a_logger_prefix_is_looked_past() {
    let prefixed: Vec<String> = VERIFIER
        .lines()
        .map(|l| match l.starts_with("libbpf: ") {
            true => format!("12:01:02 [WARN] {l}"),
            false => l.to_string(),
        })
        .collect();
    let d = diagnose(prefixed.iter().map(String::as_str)).unwrap();
    assert_eq!(d.cause.to_string(), VERIFIER_MSG);
}

#[test]
fn a_cut_log_claims_no_reason() {
    let lines: Vec<&str> = VERIFIER.lines().collect();
    let end = lines.iter().position(|l| l.contains("END PROG LOAD LOG"));
    let table = [
        ("cut before its end", &lines[..end.unwrap()]),
        ("no log at all", &lines[..1]),
    ];
    for (what, cut) in table {
        let d = diagnose(cut.iter().copied()).unwrap();
        assert_eq!(
            d.cause.to_string(),
            "the kernel rejected prog simple_select_cpu: Permission denied (the verifier's log is missing or was cut before its end)",
            "{what}"
        );
    }
}

/// (what, verifier log, its verdict, the source file and line it names)
type LogCase<'a> = (
    &'a str,
    &'a [&'a str],
    Option<&'a str>,
    Option<(&'a str, u32)>,
);

#[test]
fn the_verdict_and_its_source_line_are_read_from_the_log() {
    let table: &[LogCase] = &[
        (
            "the message before `processed`, the annotation before it",
            &[
                "; x = *p; @ a.bpf.c:7",
                "3: (79) r1 = *(u64 *)(r0 +0)",
                "R0 invalid mem access 'scalar'",
                "processed 4 insns (limit 1000000) max_states_per_insn 0",
            ],
            Some("R0 invalid mem access 'scalar'"),
            Some(("a.bpf.c", 7)),
        ),
        (
            "stats lines after the verdict are skipped",
            &[
                "5: (95) exit",
                "At program exit the register R0 has unknown scalar value should have been in [0, 1]",
                "verification time 20 usec",
                "stack depth 0",
                "processed 6 insns (limit 1000000)",
            ],
            Some("At program exit the register R0 has unknown scalar value should have been in [0, 1]"),
            None,
        ),
        (
            "only trace lines: no verdict",
            &["0: R1=ctx() R10=fp0", "from 4 to 6: R0=0", "processed 2 insns"],
            None,
            None,
        ),
        (
            "at most three message lines",
            &["0: (95) exit", "a", "b", "c", "d", "processed 1 insns"],
            Some("b; c; d"),
            None,
        ),
    ];
    for (what, log, reason, at) in table {
        let v = verdict(log);
        assert_eq!(
            v.as_ref().map(|v| v.lines.join("; ")).as_deref(),
            *reason,
            "{what}"
        );
        let source = v.and_then(|v| source_before(&log[..v.start]));
        assert_eq!(
            source.as_ref().map(|s| (s.file.as_str(), s.line)),
            *at,
            "{what}"
        );
    }
}

#[test]
fn evidence_is_the_cause_its_source_and_the_log_around_the_verdict_in_order() {
    let d = diagnose(VERIFIER.lines()).unwrap();
    let fixture: Vec<&str> = VERIFIER.lines().collect();
    assert_eq!(d.evidence[0], fixture[0]);
    assert_eq!(
        d.evidence[1],
        "source: scx_bad_verifier.bpf.c:52: (*cnt_p)++;"
    );
    // Then the fixture's own lines, in its order: the last of the trace,
    // the verdict, and everything after it.
    let verdict = fixture
        .iter()
        .position(|l| *l == "R0 invalid mem access 'map_value_or_null'")
        .unwrap();
    let quoted = &d.evidence[2..];
    assert_eq!(quoted.len(), LOG_TAIL + fixture.len() - verdict - 1);
    assert_eq!(quoted, &fixture[verdict + 1 - LOG_TAIL..]);
}

#[test]
fn long_output_after_the_cause_is_quoted_by_its_ends() {
    let mut text = fixture!("missing_kfunc").to_string();
    for i in 0..30 {
        text.push_str(&format!("line {i}\n"));
    }
    let d = diagnose(text.lines()).unwrap();
    assert_eq!(d.evidence.len(), 1 + AFTER_LINES);
    assert!(d
        .evidence
        .contains(&"... 23 more lines in scheduler.log".to_string()));
    assert_eq!(d.evidence.last().map(String::as_str), Some("line 29"));
}

fn log_event(stream: Stream, line: &str) -> TimedEvent {
    guest(GuestMsg::SchedulerLog {
        stream,
        line: line.to_string(),
    })
}

fn guest(msg: GuestMsg) -> TimedEvent {
    TimedEvent::new(0, Event::Guest { msg })
}

/// A run whose scheduler printed `stderr` (and `stdout`) and exited 1
/// before attaching.
fn failed_load(stderr: &str, stdout: &str) -> Vec<TimedEvent> {
    let mut events = vec![
        guest(GuestMsg::Hello {
            protocol: ktstr_wire::PROTOCOL_VERSION,
            kernel_release: "6.12.117".into(),
            uptime_ms: 900,
            sched_ext: true,
        }),
        guest(GuestMsg::SchedulerStarted {
            pid: 5,
            path: "/ktstr-vm/sched/scx_bad".into(),
            args: vec![],
            uptime_ms: 1000,
        }),
    ];
    events.extend(stdout.lines().map(|l| log_event(Stream::Stdout, l)));
    events.extend(stderr.lines().map(|l| log_event(Stream::Stderr, l)));
    events.push(guest(GuestMsg::SchedulerExited {
        exit: ExitStatus::Exited { code: 1 },
        requested: false,
        uptime_ms: 1200,
    }));
    events.push(guest(GuestMsg::Done { uptime_ms: 1300 }));
    events
}

fn judged(events: &[TimedEvent]) -> crate::finding::Finding {
    let j = judge(&JudgeInput {
        events,
        scheduler_expected: true,
        ..Default::default()
    });
    assert_eq!(j.verdict.outcome, Outcome::Fail, "{:#?}", j.verdict);
    let f = j.verdict.findings[0].clone();
    assert_eq!(f.class, Class::SchedulerLoadFailed);
    f
}

#[test]
fn the_finding_says_why_and_keeps_the_exit_in_its_evidence() {
    let f = judged(&failed_load(VERIFIER, ""));
    assert_eq!(f.message, VERIFIER_MSG);
    assert_eq!(
        f.evidence[0],
        "the scheduler ended (exit code 1) before sched_ext enabled it"
    );
    assert!(f
        .evidence
        .contains(&"scheduler: source: scx_bad_verifier.bpf.c:52: (*cnt_p)++;".to_string()));
    assert!(f
        .evidence
        .contains(&"scheduler: Failed to load skel".to_string()));
    let unique: std::collections::HashSet<_> = f.evidence.iter().collect();
    assert_eq!(unique.len(), f.evidence.len(), "{:#?}", f.evidence);
}

#[test]
fn a_cause_on_stdout_is_found_and_stderr_noise_is_not_one() {
    let f = judged(&failed_load(
        "Error: loading failed",
        fixture!("missing_kfunc"),
    ));
    assert_eq!(
        f.message,
        "missing kfunc scx_bpf_dsq_move_to_local: not found in kernel or module BTFs"
    );
}

#[test]
fn unrecognised_output_keeps_the_exit_status_and_last_line() {
    let f = judged(&failed_load(fixture!("unrecognised_bad_flag"), ""));
    assert_eq!(
        f.message,
        "the scheduler failed to load (exit code 1): -h            Display this help and exit"
    );
}
