use std::collections::BTreeMap;
use std::path::Path;

use ktstr_wire::topology::{NumaNode, Topology};
use ktstr_wire::workload::{Gap, Migration, WorkerReport};
use ktstr_wire::GuestMsg;
use serde_json::json;

use super::analysis::{timeline_rows, Cell, Interval, Row, COLUMNS};
use super::*;
use crate::exit::ExitClass;
use crate::trace::model::{Kind, Marker, Record, Wake};
use crate::trace::names::Names;
use crate::trace::perfetto::write::{write, TraceData};

const PLOTS: &[&str] = &[
    "timeline",
    "share-worker",
    "share-cgroup",
    "gaps",
    "wake-latency",
    "migrations",
    "migration-matrix",
    "topology",
];

fn topology() -> Topology {
    Topology {
        cpus: vec![0, 1],
        nodes: vec![NumaNode {
            id: 0,
            cpus: vec![0, 1],
            distances: vec![10],
            memory_mib: None,
        }],
        llcs: vec![vec![0], vec![1]],
        cores: vec![vec![0], vec![1]],
    }
}

fn workers() -> Vec<WorkerReport> {
    (0..2)
        .map(|i| WorkerReport {
            tid: 100 + i,
            group: 0,
            index: i as u32,
            cgroup: if i == 0 {
                String::new()
            } else {
                "cg<b>".into()
            },
            work_type: "spin_wait".into(),
            cpu_time_ns: 900_000_000,
            wall_time_ns: 1_000_000_000,
            migrations: 1,
            migration_log: vec![Migration {
                at_ns: 500_000_000,
                from: i as u32,
                to: 1 - i as u32,
            }],
            cpus_used: vec![0, 1],
            max_gap: Some(Gap {
                len_ns: 3_000_000,
                cpu: 0,
                at_ns: 1,
            }),
            ..Default::default()
        })
        .collect()
}

/// A run directory: result.json (with a finding whose evidence is
/// markup), guest.jsonl, and a trace when `traced`.
fn run_dir(traced: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let result = json!({
        "schema": 1, "outcome": "fail", "exit_code": 1,
        "findings": [{"class": "worker-starved", "outcome": "fail", "message": "g0.1 <stalled>",
                      "at_guest_ms": 1500, "evidence": ["<script>alert(1)</script>", "line 2"]}],
        "kernel": {"image": "/k", "release": "6.12.117"},
        "scheduler": {"name": "scx_simple", "args": [], "ops": "simple"},
        "topology": {"vcpus": 2, "expected": topology(), "observed": topology()},
        "duration_ms": 1000, "wall_ms": 4000, "timeline": [],
        "workers": workers(),
        "a_field_from_a_newer_version": true
    });
    std::fs::write(
        dir.path().join("result.json"),
        serde_json::to_vec(&result).unwrap(),
    )
    .unwrap();
    let msg = GuestMsg::SchedulerAttached {
        ops: "simple".into(),
        uptime_ms: 1,
    };
    std::fs::write(
        dir.path().join("guest.jsonl"),
        format!("{}\nnot json\n", serde_json::to_string(&msg).unwrap()),
    )
    .unwrap();
    if traced {
        write_trace(dir.path());
    }
    dir
}

fn write_trace(dir: &Path) {
    let sw = |ts, cpu, prev: i32, next: i32| Record {
        ts,
        cpu,
        pid: prev,
        kind: Kind::Switch {
            prev_comm: "x".into(),
            prev_pid: prev,
            prev_prio: 120,
            prev_state: 1,
            next_comm: "x".into(),
            next_pid: next,
            next_prio: 120,
        },
    };
    let waking = Record {
        ts: 1_400,
        cpu: 0,
        pid: 0,
        kind: Kind::Waking(Wake {
            pid: 101,
            ..Wake::default()
        }),
    };
    let migrate = Record {
        ts: 1_450,
        cpu: 0,
        pid: 0,
        kind: Kind::Migrate {
            comm: "x".into(),
            pid: 101,
            prio: 120,
            orig_cpu: 1,
            dest_cpu: 0,
        },
    };
    let cpus = BTreeMap::from([
        (
            0,
            vec![
                sw(1_000, 0, 0, 100),
                sw(1_300, 0, 100, 0),
                waking,
                migrate,
                sw(1_500, 0, 0, 101),
                sw(3_000, 0, 101, 0),
            ],
        ),
        (
            1,
            vec![
                sw(1_100, 1, 0, 101),
                sw(1_350, 1, 101, 0),
                sw(1_400, 1, 0, 100),
                sw(3_000, 1, 100, 0),
            ],
        ),
    ]);
    let records: Vec<&Record> = cpus.values().flatten().collect();
    let names = Names::build(&[], &records, &workers(), None);
    let markers = [Marker {
        ts: 1_200,
        category: "finding".into(),
        name: "finding: x".into(),
        detail: String::new(),
    }];
    let topo = topology();
    let data = TraceData {
        cpus: &cpus,
        lost: &[],
        topology: Some(&topo),
        names: &names,
        markers: &markers,
    };
    let mut out = Vec::new();
    write(&data, &mut out).unwrap();
    std::fs::write(dir.join(crate::trace::TRACE_FILE), out).unwrap();
}

fn page(traced: bool) -> String {
    let dir = run_dir(traced);
    let path = write_report(dir.path()).unwrap();
    assert_eq!(path, dir.path().join(REPORT_FILE));
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn a_traced_run_has_every_plot_and_the_timeline_from_the_trace() {
    let html = page(true);
    for p in PLOTS {
        assert!(
            html.contains(&format!("class=\"plot {p}\"")),
            "plot {p} missing"
        );
    }
    assert!(html.contains("From the trace (sched_switch)"));
    assert!(
        html.matches("class=\"run\"").count() >= 4,
        "one run per task per CPU at least"
    );
    assert!(html.contains("class=\"marker\""), "markers on the timeline");
    assert!(
        html.contains("g0.1 spin_wait @cg&lt;b&gt; [101]"),
        "workers named and escaped"
    );
    assert!(html.contains("dataset.ready"), "the script is there");
}

#[test]
fn an_untraced_run_falls_back_to_the_reports() {
    let html = page(false);
    for p in PLOTS {
        assert!(
            html.contains(&format!("class=\"plot {p}\"")),
            "plot {p} missing"
        );
    }
    assert!(html.contains("No trace in this run"));
    assert!(
        html.matches("class=\"run\"").count() >= 2,
        "runs from the migration logs"
    );
}

#[test]
fn the_page_is_self_contained_and_escapes_what_the_guest_wrote() {
    for html in [page(true), page(false)] {
        assert!(!html.contains("<script>alert"), "evidence is escaped");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("g0.1 &lt;stalled&gt;"));
        for external in ["http://", "https://", "<link", " src=", "@import"] {
            assert!(!html.contains(external), "loads {external}");
        }
        assert_eq!(
            html.matches("<script>").count(),
            1,
            "only the page's own script"
        );
        assert!(html.contains("lines of guest.jsonl were not messages"));
    }
}

#[test]
fn missing_or_bad_results_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let e = write_report(dir.path()).unwrap_err();
    assert!(
        matches!(e, HtmlError::NoResult { .. }) && e.exit_code() == crate::exit::ExitCode::Usage
    );
    std::fs::write(dir.path().join("result.json"), "[not a result").unwrap();
    let e = write_report(dir.path()).unwrap_err();
    assert!(matches!(e, HtmlError::BadResult { .. }), "{e}");
    assert!(!dir.path().join(REPORT_FILE).exists());
}

#[test]
fn the_index_links_pages_relatively() {
    let entries = [
        IndexEntry {
            label: "A run 1".into(),
            outcome: "pass".into(),
            href: "a-1/report.html".into(),
            detail: "6.1 s".into(),
        },
        IndexEntry {
            label: "B <run> 1".into(),
            outcome: "fail".into(),
            href: "b 1/report.html".into(),
            detail: "worker-starved".into(),
        },
    ];
    let html = index_html("compare", &entries);
    assert!(html.contains(r#"<a href="a-1/report.html">A run 1</a>"#));
    assert!(html.contains("B &lt;run&gt; 1") && html.contains(r#"class="fail""#));
    let dir = tempfile::tempdir().unwrap();
    write_index(&dir.path().join("index.html"), "compare", &entries).unwrap();
    assert!(dir.path().join("index.html").is_file());
}

#[test]
fn timeline_columns_show_the_task_that_ran_most() {
    let t1 = COLUMNS as u64 * 10; // 10 ns per column
    let cases: &[(&[Interval], Vec<Row>)] = &[
        (&[], vec![]),
        (
            &[(0, 0, 30, 7)],
            vec![Row {
                cpu: 0,
                cells: vec![Cell {
                    x0: 0,
                    x1: 3,
                    tid: 7,
                }],
            }],
        ),
        // 4 ns of 8 and 6 ns of 9 in column 0: 9 wins it.
        (
            &[(0, 0, 4, 8), (0, 4, 20, 9)],
            vec![Row {
                cpu: 0,
                cells: vec![Cell {
                    x0: 0,
                    x1: 2,
                    tid: 9,
                }],
            }],
        ),
        // Runs past the end are clipped; CPUs come out in order.
        (
            &[(1, t1 - 10, t1 + 500, 5), (0, 10, 20, 6)],
            vec![
                Row {
                    cpu: 0,
                    cells: vec![Cell {
                        x0: 1,
                        x1: 2,
                        tid: 6,
                    }],
                },
                Row {
                    cpu: 1,
                    cells: vec![Cell {
                        x0: COLUMNS as u32 - 1,
                        x1: COLUMNS as u32,
                        tid: 5,
                    }],
                },
            ],
        ),
    ];
    for (runs, want) in cases {
        assert_eq!(&timeline_rows(runs, 0, t1), want, "{runs:?}");
    }
}

#[test]
fn histograms_without_samples_say_so() {
    let svg = super::svg::histogram("gaps", &[], "gaps");
    assert!(svg.contains("no samples") && svg.ends_with("</svg>"));
    // 0 ns counts with 1 ns (log bins start at 1): three bars.
    let svg = super::svg::histogram("gaps", &[0, 1, 1_000, 1_000_000_000], "gaps");
    assert_eq!(svg.matches("class=\"bar\"").count(), 3);
    assert!(svg.contains("count (n=4)"));
}
