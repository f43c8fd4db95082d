//! The human-readable summary printed after a run. Evidence is shown
//! inline, so nobody has to open `console.log` to learn what happened.

use std::fmt::Write;

use ktstr_wire::workload::{WorkerExit, WorkerReport};

use super::RunResult;
use crate::finding::Outcome;

/// Lines of evidence shown per finding (all of it is in result.json).
const EVIDENCE_LINES: usize = 30;

pub fn outcome_word(o: Outcome) -> &'static str {
    match o {
        Outcome::Pass => "PASS",
        Outcome::Fail => "FAIL",
        Outcome::Inconclusive => "CANNOT TEST",
        Outcome::Skip => "SKIP",
    }
}

fn secs(ms: u64) -> String {
    format!("{:.2}s", ms as f64 / 1000.0)
}

fn ns(v: u64) -> String {
    match v {
        v if v >= 1_000_000_000 => format!("{:.2}s", v as f64 / 1e9),
        v if v >= 1_000_000 => format!("{:.1}ms", v as f64 / 1e6),
        v => format!("{:.0}us", v as f64 / 1e3),
    }
}

/// Compact CPU list: `0-3,6`.
pub fn cpu_list(cpus: &[u32]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let start = cpus[i];
        let mut end = start;
        while i + 1 < cpus.len() && end.checked_add(1) == Some(cpus[i + 1]) {
            i += 1;
            end = cpus[i];
        }
        out.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    out.join(",")
}

/// One line per run, for repeated runs: `FAIL in 6.6s: scheduler-disabled (DIR)`.
pub fn one_line(r: &RunResult) -> String {
    let classes: Vec<String> = r.findings.iter().map(|f| f.class.name()).collect();
    let what = if classes.is_empty() {
        String::new()
    } else {
        format!(": {}", classes.join(", "))
    };
    format!(
        "{} in {:.1}s{what} ({})",
        outcome_word(r.outcome),
        r.wall_ms as f64 / 1000.0,
        r.artifacts.display()
    )
}

/// Renders the whole summary.
pub fn render(r: &RunResult) -> String {
    let mut s = String::new();
    let sched = match &r.scheduler {
        Some(sc) => format!(
            "{} (ops {})",
            sc.name,
            sc.ops.as_deref().unwrap_or("not attached")
        ),
        None => "EEVDF (kernel default)".to_string(),
    };
    let _ = writeln!(
        s,
        "ktstr-vm: {}  {} on {} [{}, {} vCPUs]",
        outcome_word(r.outcome),
        sched,
        r.kernel.release.as_deref().unwrap_or("?"),
        r.accel.accel,
        r.topology.vcpus
    );
    let _ = write!(s, "timeline (host/guest):");
    for t in &r.timeline {
        let _ = match t.guest_ms {
            Some(g) => write!(s, " {} {}/{}", t.point, secs(t.host_ms), secs(g)),
            None => write!(s, " {} {}", t.point, secs(t.host_ms)),
        };
    }
    let _ = writeln!(s);
    if !r.workers.is_empty() {
        s.push_str(&worker_table(&r.workers));
    }
    s.push_str(&crate::assert::summary::render(
        r.scenarios.iter().chain(&r.workload),
    ));
    s.push_str(&crate::payload::result::summary(&r.payloads));
    for f in &r.findings {
        let at = f
            .at_guest_ms
            .map_or(String::new(), |ms| format!(" (guest uptime {})", secs(ms)));
        let _ = writeln!(
            s,
            "{} {}: {}{at}",
            outcome_word(f.outcome),
            f.class.name(),
            f.message
        );
        for line in f.evidence.iter().take(EVIDENCE_LINES) {
            let _ = writeln!(s, "    | {line}");
        }
        if f.evidence.len() > EVIDENCE_LINES {
            let _ = writeln!(
                s,
                "    | ... {} more lines in result.json",
                f.evidence.len() - EVIDENCE_LINES
            );
        }
    }
    let _ = writeln!(s, "artifacts: {}", r.artifacts.display());
    let _ = writeln!(s, "exit code: {}", r.exit_code);
    s
}

fn worker_table(workers: &[WorkerReport]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "  {:<6} {:<14} {:<10} {:>12} {:>9} {:>9} {:>6} {:<10} {:>9} {:>9}",
        "worker",
        "type",
        "cgroup",
        "work units",
        "cpu",
        "off-cpu",
        "migr",
        "cpus",
        "max gap",
        "wake p99"
    );
    for w in workers {
        let exit = match w.exit {
            WorkerExit::Completed => String::new(),
            other => format!("  {other:?}"),
        };
        let _ = writeln!(
            s,
            "  {:<6} {:<14} {:<10} {:>12} {:>9} {:>9} {:>6} {:<10} {:>9} {:>9}{}",
            format!("{}.{}", w.group, w.index),
            w.work_type,
            if w.cgroup.is_empty() { "-" } else { &w.cgroup },
            w.work_units,
            ns(w.cpu_time_ns),
            ns(w.off_cpu_time_ns),
            w.migrations,
            cpu_list(&w.cpus_used),
            w.max_gap.map_or("-".to_string(), |g| ns(g.len_ns)),
            if w.wake_latency.count == 0 {
                "-".to_string()
            } else {
                ns(w.wake_latency.p99_ns)
            },
            exit
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(cpu_list(&[]), "");
        assert_eq!(cpu_list(&[0, 1, 2, 3, 6, 8, 9]), "0-3,6,8-9");
        assert_eq!(cpu_list(&[5]), "5");
    }

    #[test]
    fn durations() {
        assert_eq!(ns(1_500_000_000), "1.50s");
        assert_eq!(ns(2_500_000), "2.5ms");
        assert_eq!(ns(1_500), "2us");
    }
}
