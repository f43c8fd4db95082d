use ktstr_wire::scenario::{Mark, ScenarioEvent};
use ktstr_wire::workload::WorkerReport;
use ktstr_wire::{CpuTraceStats, FrameHeader, GuestMsg, TraceStart, TraceStop};

use super::markers::{self, Clock};
use super::model::{Kind, Lost};
use super::perfetto::read::read;
use super::*;
use crate::events::{Event, TimedEvent};
use crate::finding::{Class, Finding};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/tracefs");

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{name}")).unwrap()
}

fn start(clock: &str) -> TraceStart {
    TraceStart {
        clock: clock.into(),
        page_size: 4096,
        header_page: String::from_utf8(fixture("header_page")).unwrap(),
        formats: String::from_utf8(fixture("formats"))
            .unwrap()
            .split("\n=====\n")
            .map(str::to_string)
            .collect(),
        boot_ns: 5_000_000_000,
        mono_ns: 4_000_000_000,
        ..TraceStart::default()
    }
}

fn guest(msg: GuestMsg) -> TimedEvent {
    TimedEvent::new(0, Event::Guest { msg })
}

#[test]
fn guest_clocks_map_onto_the_trace_clock() {
    let boot = Clock::new(&start("boot"));
    assert_eq!(boot.from_uptime_ms(1500), 1_500_000_000);
    assert_eq!(boot.from_mono_ns(1_000), 1_000_001_000);
    let mono = Clock::new(&start("mono"));
    assert_eq!(mono.from_uptime_ms(1500), 500_000_000);
    assert_eq!(mono.from_mono_ns(1_000), 1_000);
    assert_eq!(mono.from_uptime_ms(0), 0, "never below zero");
}

#[test]
fn markers_from_messages_findings_and_gaps() {
    let clock = Clock::new(&start("boot"));
    let events = [
        guest(GuestMsg::SchedulerAttached {
            ops: "simple".into(),
            uptime_ms: 2000,
        }),
        guest(GuestMsg::FaultInjected {
            fault: "kill-scheduler@1s".into(),
            uptime_ms: 3000,
        }),
        guest(GuestMsg::Scenario(Box::new(ScenarioEvent {
            mark: Mark::Step {
                index: 1,
                ops: vec!["cpuset a 0-1".into()],
                apply_ns: 5,
                sched: false,
            },
            mono_ns: 100,
            ..ScenarioEvent::default()
        }))),
        guest(GuestMsg::KernelLog {
            level: 6,
            ts_us: 1,
            line: "info, not a marker".into(),
        }),
    ];
    let got = markers::from_events(&events, &clock);
    let names: Vec<(&str, u64)> = got.iter().map(|m| (m.name.as_str(), m.ts)).collect();
    assert_eq!(
        names,
        [
            ("scheduler attached: simple", 2_000_000_000),
            ("fault injected: kill-scheduler@1s", 3_000_000_000),
            ("scenario 0 step 1", 1_000_000_100)
        ]
    );
    assert_eq!(got[2].detail, "cpuset a 0-1");
    let f = Finding::new(
        Class::WorkerStarved,
        "g0.1 made no progress",
        vec!["ev".into()],
    );
    let timed = f.clone().at(Some(4000));
    let fm = markers::from_findings(&[f, timed], &clock, 9);
    assert_eq!((fm[0].ts, fm[1].ts), (9, 4_000_000_000));
    assert!(fm[0].name.contains("worker-starved"));
    let gaps = markers::from_gaps(
        Some((7, 1 << 20)),
        &[Lost {
            cpu: 2,
            ts: 5,
            count: None,
        }],
        &["host kept its limit".into()],
        9,
    );
    let names: Vec<&str> = gaps.iter().map(|m| m.name.as_str()).collect();
    assert!(names[0].starts_with("trace capped") && names[1] == "CPU 2: some events lost");
    assert!(names[2].contains("host kept its limit"));
}

#[test]
fn sizes_and_options() {
    assert_eq!(parse_size("16M"), Ok(16 << 20));
    assert_eq!(parse_size("512k"), Ok(512 << 10));
    assert_eq!(parse_size("1G"), Ok(1 << 30));
    assert!(
        parse_size("1K").is_err()
            && parse_size("lots").is_err()
            && parse_size("99999999999G").is_err()
    );
    assert_eq!(TraceOpts::default().config(), None);
    let on = TraceOpts {
        trace: true,
        trace_limit: Some(1 << 20),
    }
    .config()
    .unwrap();
    assert_eq!((on.limit_bytes, on.buffer_kb), (1 << 20, BUFFER_KB));
}

/// The host half of the pipeline on pages from a real guest: raw file in,
/// Perfetto file out, raw file gone, markers and names in place.
#[test]
fn convert_turns_fixture_pages_into_a_trace() {
    let dir = tempfile::tempdir().unwrap();
    let mut raw = Vec::new();
    for cpu in [0u32, 1] {
        for page in fixture(&format!("cpu{cpu}.pages")).chunks(4096) {
            raw.extend_from_slice(
                &FrameHeader {
                    cpu,
                    len: page.len() as u32,
                }
                .encode(),
            );
            raw.extend_from_slice(page);
        }
    }
    std::fs::write(dir.path().join(RAW_FILE), &raw).unwrap();
    let worker = WorkerReport {
        tid: 4242,
        group: 0,
        index: 1,
        work_type: "spin_wait".into(),
        ..Default::default()
    };
    let events = [
        guest(GuestMsg::TraceStarted(Box::new(start("boot")))),
        guest(GuestMsg::SchedulerAttached {
            ops: "simple".into(),
            uptime_ms: 3500,
        }),
        guest(GuestMsg::Worker(Box::new(worker))),
        guest(GuestMsg::TraceStopped(Box::new(TraceStop {
            bytes: raw.len() as u64,
            limit_bytes: 1 << 20,
            capped_at_ns: Some(4_000_000_000),
            cpus: vec![CpuTraceStats {
                cpu: 0,
                overrun: 0,
                dropped: 2,
            }],
            ..TraceStop::default()
        }))),
    ];
    let finding = Finding::new(Class::KernelWarning, "WARNING in ext.c", vec![]);
    let s = convert(dir.path(), &events, &[finding]).unwrap();
    assert!(s.problems.is_empty(), "{:?}", s.problems);
    assert!(!dir.path().join(RAW_FILE).exists());
    assert_eq!((s.lost_events, s.capped_at_ns), (2, Some(4_000_000_000)));
    let t = read(&std::fs::read(dir.path().join(TRACE_FILE)).unwrap()).unwrap();
    assert_eq!(t.records.len() as u64, s.records);
    for cpu in [0, 1] {
        assert!(t
            .records
            .iter()
            .any(|r| r.cpu == cpu && matches!(r.kind, Kind::Switch { .. })));
    }
    let names: Vec<&str> = t.markers.iter().map(|m| m.name.as_str()).collect();
    for want in [
        "scheduler attached: simple",
        "finding: kernel-warning: WARNING in ext.c",
    ] {
        assert!(names.contains(&want), "{names:?}");
    }
    assert!(names.iter().any(|n| n.starts_with("trace capped")));
    assert_eq!(t.threads[&4242].1, "g0.1 spin_wait @/");
}

#[test]
fn no_trace_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let failed = [guest(GuestMsg::TraceStopped(Box::new(TraceStop {
        error: Some("tracefs is not mounted".into()),
        ..TraceStop::default()
    })))];
    let s = convert(dir.path(), &failed, &[]).unwrap();
    assert_eq!(s.file, None);
    assert!(s.problems[0].contains("tracefs is not mounted"));
    let s = convert(dir.path(), &[], &[]).unwrap();
    assert!(s.problems[0].contains("never started"));
    // Started, but no data arrived (the guest died at once).
    let s = convert(
        dir.path(),
        &[guest(GuestMsg::TraceStarted(Box::new(start("boot"))))],
        &[],
    )
    .unwrap();
    assert!(s.file.is_some() && s.records == 0);
    assert!(
        s.problems.iter().any(|p| p.contains("no trace data")),
        "{:?}",
        s.problems
    );
}
