use super::*;
use crate::finding::{Class, Finding, Outcome};
use crate::matrix::cells::Cell;
use crate::matrix::spec::SchedulerEntry;
use crate::qemu::accel::{Accel, AccelChoice};
use crate::report::{KernelInfo, RunResult, TopologyInfo};

fn run_result(findings: Vec<Finding>) -> RunResult {
    let outcome = findings
        .iter()
        .map(|f| f.outcome)
        .max()
        .unwrap_or(Outcome::Pass);
    RunResult {
        schema: 1,
        outcome,
        exit_code: outcome.exit_code(false).code(),
        findings,
        kernel: KernelInfo {
            image: "/k".into(),
            cache_key: None,
            release: Some("6.12.117".into()),
        },
        scheduler: None,
        accel: AccelChoice {
            accel: Accel::Tcg,
            reason: "test".into(),
        },
        topology: TopologyInfo {
            vcpus: 4,
            expected: Default::default(),
            observed: None,
        },
        duration_ms: 1000,
        wall_ms: 3000,
        timeline: vec![],
        workers: vec![],
        payloads: vec![],
        scenarios: vec![],
        workload: None,
        trace: None,
        artifacts: "/a".into(),
    }
}

fn cell(kernel: &str, sched: &str) -> Cell {
    Cell {
        id: format!("{kernel}__t__{sched}"),
        kernel: kernel.into(),
        topology: "1n2l2c1t".into(),
        scheduler: Some(SchedulerEntry {
            name: sched.into(),
            args: vec![],
        }),
        scenarios: vec![],
        excluded: None,
    }
}

fn results() -> Vec<CellResult> {
    let pass = run_result(vec![]);
    let fail = run_result(vec![Finding::new(
        Class::SchedulerDisabled,
        "the kernel disabled scheduler \"qmap\" (runnable task stall)",
        vec!["sched_ext: BPF scheduler \"qmap\" disabled".into()],
    )]);
    vec![
        CellResult {
            cell: cell("6.12.117", "scx_simple"),
            status: Status::Pass,
            exit_code: 0,
            reason: None,
            result: Some(pass),
            artifacts: "/a/1".into(),
        },
        CellResult {
            cell: cell("6.12.117", "scx_qmap"),
            status: Status::Fail,
            exit_code: 1,
            reason: None,
            result: Some(fail),
            artifacts: "/a/2".into(),
        },
        CellResult {
            cell: cell("6.12.117+debug", "scx_qmap"),
            status: Status::Skipped,
            exit_code: 0,
            reason: Some("excluded: not on debug".into()),
            result: None,
            artifacts: "/a/3".into(),
        },
        CellResult {
            cell: cell("6.12.117+debug", "scx_simple"),
            status: Status::Error,
            exit_code: 125,
            reason: Some("kernel 6.12.117+debug: does not build".into()),
            result: None,
            artifacts: "/a/4".into(),
        },
    ]
}

#[test]
fn junit_has_a_case_per_cell_with_class_summary_and_skips() {
    let xml = junit(&results());
    assert!(xml.contains("tests=\"4\""), "{xml}");
    assert!(xml.contains("failures=\"1\""), "{xml}");
    assert!(xml.contains("errors=\"1\""), "{xml}");
    assert_eq!(xml.matches("<skipped").count(), 1, "{xml}");
    assert!(xml.contains("classname=\"6.12.117+debug\""));
    assert!(xml.contains("scheduler-disabled: the kernel disabled scheduler"));
    assert!(xml.contains("excluded: not on debug"));
    assert!(xml.contains("does not build"));
    // The evidence is in system-out.
    assert!(xml.contains("sched_ext: BPF scheduler"));
}

#[test]
fn the_step_summary_is_a_kernel_by_scheduler_table() {
    let md = step_summary(&results(), 125);
    assert!(
        md.contains("1 passed, 1 failed, 0 cannot test, 1 skipped, 1 errors"),
        "{md}"
    );
    assert!(
        md.contains("| kernel | topology | scenario | scx_simple | scx_qmap |"),
        "{md}"
    );
    assert!(
        md.contains("| 6.12.117 | 1n2l2c1t | workload | ✅ pass | ❌ fail `scheduler-disabled` |"),
        "{md}"
    );
    assert!(md.contains("⏭️ skip (excluded: not on debug)"), "{md}");
}

#[test]
fn annotations_for_failed_and_untested_cells() {
    let a = annotations(&results());
    assert_eq!(a.len(), 2, "{a:?}");
    assert!(
        a[0].starts_with(
            "::error title=ktstr-vm scx_qmap on 6.12.117 [1n2l2c1t]::scheduler-disabled"
        ),
        "{}",
        a[0]
    );
    assert!(a[1].starts_with("::warning "), "{}", a[1]);
}

#[test]
fn the_json_counts_every_status() {
    let r = results();
    let v = serde_json::to_value(MatrixReport::new(&r, 125)).unwrap();
    assert_eq!(v["passed"], 1);
    assert_eq!(v["skipped"], 1);
    assert_eq!(v["cells"][1]["status"], "fail");
    assert_eq!(v["cells"][1]["kernel"], "6.12.117");
    assert_eq!(v["cells"][2]["reason"], "excluded: not on debug");
}
