//! End-to-end: `--trace --html` on a 5 s scx_simple run over 2 LLCs. The
//! Perfetto file is decoded and checked (switches on every vCPU, every
//! worker named, the run markers), and the report page is loaded in
//! headless Chromium (no console errors, every plot present, a
//! screenshot `report.png` left in the artifacts).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use ktstr_vm::trace::model::Kind;
use ktstr_vm::trace::perfetto::read::{read, TraceFile};
use ktstr_vm::trace::perfetto::write::{CPU_BASE, LLC_BASE, NODE_BASE};

/// The plots the page must draw (their SVG classes).
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

#[test]
fn traced_run_decodes_and_its_report_renders_in_chromium() {
    let k = kernel_path();
    let (code, r) = run_json(
        "trace",
        &[
            "--kernel",
            &k,
            "-s",
            "scx_simple",
            "-t",
            "1n2l2c1t",
            "-d",
            "5s",
            "--trace",
            "--html",
        ],
    );
    assert_eq!(code, 0, "{r:#}");
    let dir = PathBuf::from(r["artifacts"].as_str().unwrap());
    assert_eq!(
        r["trace"]["file"], "trace.perfetto-trace",
        "{:#}",
        r["trace"]
    );
    assert!(r["trace"]["capped_at_ns"].is_null());
    let bytes = std::fs::read(dir.join("trace.perfetto-trace")).unwrap();
    let t = read(&bytes).expect("the trace decodes");
    assert_eq!(t.bad_packets, 0);
    check_cpus(&t, r["topology"]["vcpus"].as_u64().unwrap() as u32);
    check_workers(&t, r["workers"].as_array().unwrap());
    check_markers(&t);
    assert!(
        !dir.join("trace.raw").exists(),
        "the raw pages are removed once converted"
    );

    let page = dir.join("report.html");
    assert!(page.is_file());
    let shot = dir.join("report.png");
    check_in_chromium(&page, &shot);
    eprintln!("report screenshot: {}", shot.display());
}

fn check_cpus(t: &TraceFile, vcpus: u32) {
    assert_eq!(vcpus, 4);
    for cpu in 0..vcpus {
        let switches = t
            .records
            .iter()
            .filter(|r| r.cpu == cpu && matches!(r.kind, Kind::Switch { .. }))
            .count();
        assert!(switches > 0, "CPU {cpu} has no sched_switch");
        assert!(
            t.slices
                .get(&(CPU_BASE + u64::from(cpu)))
                .is_some_and(|&n| n > 0),
            "CPU {cpu} track has no slices"
        );
    }
    // CPU tracks grouped as the topology lays them out: 2 LLCs in node 0.
    let parent = |uuid| {
        t.tracks
            .iter()
            .find(|tr| tr.uuid == uuid)
            .and_then(|tr| tr.parent)
    };
    for (cpu, llc) in [(0, 0), (1, 0), (2, 1), (3, 1)] {
        assert_eq!(parent(CPU_BASE + cpu), Some(LLC_BASE + llc), "CPU {cpu}");
        assert_eq!(parent(LLC_BASE + llc), Some(NODE_BASE));
    }
}

fn check_workers(t: &TraceFile, workers: &[serde_json::Value]) {
    assert_eq!(workers.len(), 4);
    for w in workers {
        let tid = w["tid"].as_i64().unwrap() as i32;
        let want = format!(
            "g{}.{} {} @/",
            w["group"],
            w["index"],
            w["work_type"].as_str().unwrap()
        );
        assert_eq!(
            t.threads.get(&tid).map(|x| x.1.as_str()),
            Some(want.as_str()),
            "worker {tid}"
        );
        assert!(
            t.records
                .iter()
                .any(|r| matches!(r.kind, Kind::Switch { next_pid, .. } if next_pid == tid)),
            "worker {tid} never ran in the trace"
        );
    }
}

fn check_markers(t: &TraceFile) {
    let names: Vec<&str> = t.markers.iter().map(|m| m.name.as_str()).collect();
    for want in [
        "scheduler attached: simple",
        "phase: workload_started",
        "phase: workload_stopped",
        "scheduler detached: stopped at the end",
    ] {
        assert!(names.contains(&want), "marker {want:?} missing: {names:?}");
    }
    let attached = t
        .markers
        .iter()
        .find(|m| m.name.starts_with("scheduler attached"))
        .unwrap();
    let (first, last) = (
        t.records.first().unwrap().ts,
        t.records.iter().map(|r| r.ts).max().unwrap(),
    );
    assert!(
        (first..=last).contains(&attached.ts),
        "marker off the trace clock: {} not in {first}..{last}",
        attached.ts
    );
}

fn chromium() -> PathBuf {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("this test needs headless Chromium: apt-get install chromium (ci/setup.sh installs it)"))
}

/// Runs Chromium headless on `page` with `extra` flags; returns stdout and
/// stderr (through files: a pipe nobody reads would stall it).
fn headless(page: &Path, extra: &[String]) -> (String, String) {
    let tmp = tempfile::tempdir().unwrap();
    let (out, err) = (tmp.path().join("stdout"), tmp.path().join("stderr"));
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!(
            "--user-data-dir={}",
            tmp.path().join("profile").display()
        ))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .expect("starting chromium");
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let read =
        |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned();
    (read(&out), read(&err))
}

fn console_lines(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.contains(":CONSOLE")).collect()
}

fn check_in_chromium(page: &Path, shot: &Path) {
    // The console check can fail: a page that throws is caught.
    let probe_dir = tempfile::tempdir().unwrap();
    let probe = probe_dir.path().join("probe.html");
    std::fs::write(
        &probe,
        "<html><body><script>throw new Error('probe-error')</script></body></html>",
    )
    .unwrap();
    let (_, err) = headless(&probe, &["--dump-dom".into()]);
    assert!(
        console_lines(&err)
            .iter()
            .any(|l| l.contains("probe-error")),
        "console errors are not seen:\n{err}"
    );

    let (dom, err) = headless(page, &["--dump-dom".into()]);
    assert!(
        console_lines(&err).is_empty(),
        "console output from the report:\n{}",
        console_lines(&err).join("\n")
    );
    assert!(
        dom.contains("data-ready=\"1\""),
        "the page's script did not run to its end"
    );
    for plot in PLOTS {
        assert!(
            dom.contains(&format!("class=\"plot {plot}\"")),
            "plot {plot} missing"
        );
    }
    assert!(
        dom.matches("class=\"run\"").count() > 10,
        "the timeline has no runs"
    );
    assert!(dom.contains("id=\"workers\"") && dom.contains("PASS"));

    let _ = std::fs::remove_file(shot);
    let (_, err) = headless(
        page,
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1280,2600".into(),
        ],
    );
    let png = std::fs::read(shot)
        .unwrap_or_else(|e| panic!("no screenshot at {}: {e}\n{err}", shot.display()));
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "screenshot is not a real PNG ({} bytes)",
        png.len()
    );
}
