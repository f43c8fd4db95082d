//! The numbers `compare` compares, pulled from one run's [`RunResult`]:
//! per scenario, the throughput computed from its worker reports and the
//! values its assertions measured (which already excuse freezes and
//! scheduler switches). A run without scenarios is one pseudo-scenario,
//! `workload`, whose values are computed from the run's workers. Both also
//! get `wake_p99_all`: the p99 of every wake-up of every worker, from their
//! merged latency histograms (steadier between runs than the worst
//! worker's p99, which one unlucky worker decides).

use std::collections::BTreeMap;

use ktstr_wire::workload::{WorkerExit, WorkerReport};
use serde::Serialize;

use crate::report::RunResult;

/// Wake latency needs this many samples before its p99 means anything
/// (the same rule as the `wake_p99` assertion).
const MIN_WAKE_SAMPLES: u64 = 20;
/// The scenario name of a run without `--scenario`.
pub const PLAIN_RUN: &str = "workload";

/// Which way is worse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Better {
    Higher,
    Lower,
}

/// One measured value of one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metric {
    pub scenario: String,
    pub name: String,
    pub unit: &'static str,
    pub better: Better,
    pub value: f64,
}

/// Assertions whose measured value is a comparable metric, with the way
/// that is better; the rest (isolation counts, min_work_rate) are pass/fail.
const FROM_ASSERTIONS: &[(&str, &str, Better)] = &[
    ("not_starved", "min_share_ratio", Better::Higher),
    ("fairness_spread", "fairness_spread", Better::Lower),
    ("max_gap", "max_gap", Better::Lower),
    ("wake_p99", "wake_p99", Better::Lower),
    ("throughput_cv", "throughput_cv", Better::Lower),
];

/// Every metric of one run.
pub fn of_run(result: &RunResult) -> Vec<Metric> {
    let vcpus = result.topology.vcpus.max(1);
    if result.scenarios.is_empty() {
        return plain(&result.workers, vcpus);
    }
    let mut out = Vec::new();
    for s in &result.scenarios {
        out.extend(throughput(&s.name, &s.reports, vcpus));
        out.extend(wake_p99_all(&s.name, &s.reports));
        for a in &s.assertions {
            let Some(&(_, name, better)) = FROM_ASSERTIONS.iter().find(|(n, _, _)| *n == a.name)
            else {
                continue;
            };
            if let Some(value) = a.measured {
                out.push(Metric {
                    scenario: s.name.clone(),
                    name: name.into(),
                    unit: a.unit,
                    better,
                    value,
                });
            }
        }
    }
    out
}

/// The p99 wake-up latency over every wake-up of the completed workers:
/// their histogram buckets merged, then the bucket where 99% is reached.
fn wake_p99_all(scenario: &str, workers: &[WorkerReport]) -> Option<Metric> {
    let mut merged: BTreeMap<u64, u64> = BTreeMap::new();
    for w in workers.iter().filter(|w| w.exit == WorkerExit::Completed) {
        for b in &w.wake_latency.buckets {
            *merged.entry(b.upper_ns).or_default() += b.count;
        }
    }
    let total: u64 = merged.values().sum();
    if total < MIN_WAKE_SAMPLES {
        return None;
    }
    let rank = (total as f64 * 0.99).ceil() as u64;
    let mut seen = 0;
    let upper = merged.iter().find_map(|(&upper, &count)| {
        seen += count;
        (seen >= rank).then_some(upper)
    })?;
    Some(Metric {
        scenario: scenario.into(),
        name: "wake_p99_all".into(),
        unit: "us",
        better: Better::Lower,
        value: upper as f64 / 1e3,
    })
}

fn rate(w: &WorkerReport) -> f64 {
    if w.wall_time_ns == 0 {
        return 0.0;
    }
    w.work_units as f64 / (w.wall_time_ns as f64 / 1e9)
}

/// Work units per second of all completed workers, per vCPU; per work
/// type as well when there are several (their units differ, and a
/// scheduler can trade one type's throughput for another's). Then
/// `worker_cpu`: the share of the vCPUs' time the workers ran. Under TCG
/// the work done per CPU-second swings with the host's load (a CV of
/// 15-50% between runs measured here) while CPU shares stay within a few
/// percent, so `worker_cpu` catches idle CPUs long before throughput can.
fn throughput(scenario: &str, workers: &[WorkerReport], vcpus: u32) -> Vec<Metric> {
    let mut by_type: BTreeMap<&str, f64> = BTreeMap::new();
    let mut busy = 0.0;
    for w in workers.iter().filter(|w| w.exit == WorkerExit::Completed) {
        *by_type.entry(&w.work_type).or_default() += rate(w) / f64::from(vcpus);
        if w.wall_time_ns > 0 {
            busy += w.cpu_time_ns as f64 / w.wall_time_ns as f64 / f64::from(vcpus);
        }
    }
    if by_type.is_empty() {
        return Vec::new();
    }
    let metric = |name: String, unit: &'static str, value: f64| Metric {
        scenario: scenario.into(),
        name,
        unit,
        better: Better::Higher,
        value,
    };
    let per_vcpu = "units/s per vCPU";
    let mut out = vec![
        metric("throughput".into(), per_vcpu, by_type.values().sum()),
        metric("worker_cpu".into(), "share of vCPU time", busy),
    ];
    if by_type.len() > 1 {
        out.extend(
            by_type
                .iter()
                .map(|(t, v)| metric(format!("throughput[{t}]"), per_vcpu, *v)),
        );
    }
    out
}

/// A run without scenarios: throughput, the worst p99 wake latency, the
/// longest gap, and the widest CPU-share spread within a worker group.
fn plain(workers: &[WorkerReport], vcpus: u32) -> Vec<Metric> {
    let mut out = throughput(PLAIN_RUN, workers, vcpus);
    let done: Vec<&WorkerReport> = workers
        .iter()
        .filter(|w| w.exit == WorkerExit::Completed)
        .collect();
    let metric = |name: &str, unit: &'static str, value: f64| Metric {
        scenario: PLAIN_RUN.into(),
        name: name.into(),
        unit,
        better: Better::Lower,
        value,
    };
    let p99 = done
        .iter()
        .filter(|w| w.wake_latency.count >= MIN_WAKE_SAMPLES)
        .map(|w| w.wake_latency.p99_ns as f64 / 1e3)
        .reduce(f64::max);
    if let Some(us) = p99 {
        out.push(metric("wake_p99", "us", us));
    }
    out.extend(wake_p99_all(PLAIN_RUN, workers));
    if let Some(ms) = done
        .iter()
        .filter_map(|w| w.max_gap)
        .map(|g| g.len_ns as f64 / 1e6)
        .reduce(f64::max)
    {
        out.push(metric("max_gap", "ms", ms));
    }
    let mut shares: BTreeMap<u32, Vec<f64>> = BTreeMap::new();
    for w in done.iter().filter(|w| w.wall_time_ns > 0) {
        shares
            .entry(w.group)
            .or_default()
            .push(w.cpu_time_ns as f64 / w.wall_time_ns as f64);
    }
    let spread = shares
        .values()
        .filter(|s| s.len() >= 2)
        .map(|s| {
            s.iter().copied().fold(f64::MIN, f64::max) - s.iter().copied().fold(f64::MAX, f64::min)
        })
        .reduce(f64::max);
    if let Some(spread) = spread {
        out.push(metric("fairness_spread", "share spread", spread));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ktstr_wire::workload::{Gap, LatencyBucket};

    fn buckets(spec: &[(u64, u64)]) -> Vec<LatencyBucket> {
        spec.iter()
            .map(|&(upper_ns, count)| LatencyBucket { upper_ns, count })
            .collect()
    }

    fn worker(group: u32, work_type: &str, units: u64, cpu_ms: u64) -> WorkerReport {
        WorkerReport {
            group,
            work_type: work_type.into(),
            work_units: units,
            cpu_time_ns: cpu_ms * 1_000_000,
            wall_time_ns: 2_000_000_000,
            exit: WorkerExit::Completed,
            ..Default::default()
        }
    }

    #[test]
    fn plain_run_metrics() {
        let mut a = worker(0, "spin_wait", 4000, 1800);
        a.max_gap = Some(Gap {
            len_ns: 30_000_000,
            cpu: 1,
            at_ns: 0,
        });
        let b = worker(0, "spin_wait", 2000, 1000);
        let mut c = worker(1, "pipe_io", 600, 200);
        c.wake_latency.count = 50;
        c.wake_latency.p99_ns = 250_000;
        c.wake_latency.buckets = buckets(&[(10_000, 49), (250_000, 1)]);
        let mut dead = worker(1, "pipe_io", 1_000_000, 2000);
        dead.exit = WorkerExit::TimedOut;
        let m = plain(&[a, b, c, dead], 2);
        let get = |n: &str| m.iter().find(|x| x.name == n).map(|x| x.value);
        // (2000 + 1000 + 300) units/s over 2 vCPUs; the killed worker does not count.
        assert_eq!(get("throughput"), Some(1650.0));
        assert_eq!(get("throughput[spin_wait]"), Some(1500.0));
        assert_eq!(get("throughput[pipe_io]"), Some(150.0));
        // (0.9 + 0.5 + 0.1) of 2 vCPUs.
        assert!((get("worker_cpu").unwrap() - 0.75).abs() < 1e-12);
        assert_eq!(get("wake_p99"), Some(250.0));
        // 49 of 50 wake-ups by 10 us: p99 needs the 50th, at 250 us.
        assert_eq!(get("wake_p99_all"), Some(250.0));
        assert_eq!(get("max_gap"), Some(30.0));
        // Group 0: 0.9 - 0.5; group 1 has one completed worker.
        assert!((get("fairness_spread").unwrap() - 0.4).abs() < 1e-12);
        assert!(m.iter().all(|x| x.scenario == PLAIN_RUN));
    }

    #[test]
    fn one_work_type_has_only_the_totals() {
        let m = throughput(
            "s",
            &[
                worker(0, "spin_wait", 100, 1),
                worker(0, "spin_wait", 100, 1),
            ],
            1,
        );
        let names: Vec<&str> = m.iter().map(|x| x.name.as_str()).collect();
        assert_eq!(names, ["throughput", "worker_cpu"]);
        assert_eq!(m[0].value, 100.0);
        assert!(throughput("s", &[], 1).is_empty());
    }

    /// Every wake-up of every worker counts, not the worst worker's p99.
    #[test]
    fn wake_p99_all_merges_the_histograms() {
        let mut a = worker(0, "pipe_io", 1, 1);
        a.wake_latency.buckets = buckets(&[(10_000, 980), (90_000, 20)]);
        let mut b = worker(0, "pipe_io", 1, 1);
        b.wake_latency.buckets = buckets(&[(10_000, 1000)]);
        let mut dead = worker(0, "pipe_io", 1, 1);
        dead.exit = WorkerExit::TimedOut;
        dead.wake_latency.buckets = buckets(&[(9_000_000, 1000)]);
        let m = wake_p99_all("s", &[a.clone(), b, dead]).unwrap();
        assert_eq!((m.name.as_str(), m.value), ("wake_p99_all", 10.0));
        // Alone, the slow 2% of `a` is its p99.
        assert_eq!(wake_p99_all("s", &[a]).unwrap().value, 90.0);
        let mut few = worker(0, "pipe_io", 1, 1);
        few.wake_latency.buckets = buckets(&[(10_000, 5)]);
        assert_eq!(wake_p99_all("s", &[few]), None);
    }
}
