//! The assertions over one scenario's worker reports. Each returns an
//! [`Assertion`] with what it measured, the threshold, and who offended.

use std::collections::BTreeMap;

use ktstr_wire::workload::{Gap, SchedPolicy, WorkerExit, WorkerReport, GAP_FLOOR_NS};

use super::limits::Limits;
use super::split::ScenarioRun;
use super::Assertion;

/// Wake-up latency needs this many samples before its p99 means anything.
const MIN_WAKE_SAMPLES: u64 = 20;
/// Peers whose median share is below this are not competing for CPU:
/// share ratios among them are noise, so only progress is checked.
const MIN_COMPETING_SHARE: f64 = 0.02;
/// Groups with a median share below this are mostly asleep: spread and
/// CV are not meaningful for them.
const MIN_CPU_BOUND_SHARE: f64 = 0.05;

/// Name of a worker in messages.
pub fn who(w: &WorkerReport) -> String {
    let cg = if w.cgroup.is_empty() { "-" } else { &w.cgroup };
    format!(
        "worker {}.{} ({}, cgroup {cg}, tid {})",
        w.group, w.index, w.work_type, w.tid
    )
}

/// Nanoseconds `w` was frozen during its run.
fn frozen_ns(run: &ScenarioRun, w: &WorkerReport) -> u64 {
    let Some((_, release)) = run.group(w.group) else {
        return 0;
    };
    let end = release.saturating_add(w.wall_time_ns);
    run.frozen(w.group)
        .iter()
        .map(|&(a, b)| b.min(end).saturating_sub(a.max(release)))
        .fold(0, u64::saturating_add)
}

/// CPU time over the wall time it could run (frozen time excluded).
pub fn share(run: &ScenarioRun, w: &WorkerReport) -> f64 {
    let wall = w.wall_time_ns.saturating_sub(frozen_ns(run, w));
    if wall == 0 {
        return 0.0;
    }
    w.cpu_time_ns as f64 / wall as f64
}

/// Normal class, default nice: comparable to each other.
fn plain(run: &ScenarioRun, w: &WorkerReport) -> bool {
    run.group(w.group)
        .is_none_or(|(s, _)| s.policy == SchedPolicy::Normal && s.nice.unwrap_or(0) == 0)
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// Every worker made progress and got a fair fraction of its peers' share.
pub fn not_starved(run: &ScenarioRun, lim: &Limits) -> Assertion {
    let mut a = Assertion::new("not_starved", "ratio to peers' median share");
    if !lim.not_starved {
        return a.off();
    }
    let mut by_type: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for w in run
        .workers
        .iter()
        .filter(|w| plain(run, w) && w.exit == WorkerExit::Completed)
    {
        by_type.entry(&w.work_type).or_default().push(share(run, w));
    }
    let medians: BTreeMap<&str, f64> = by_type.into_iter().map(|(k, v)| (k, median(v))).collect();
    let mut worst: Option<f64> = None;
    for w in &run.workers {
        if w.exit == WorkerExit::TimedOut {
            // Starved so hard it could not even report before the deadline.
            a.offenders.push(format!(
                "{}: did not report within the collection deadline",
                who(w)
            ));
            worst = Some(0.0);
            continue;
        }
        if w.exit != WorkerExit::Completed {
            continue; // the verdict reports dead workers
        }
        if w.work_units == 0 {
            a.offenders
                .push(format!("{}: no progress at all (0 work units)", who(w)));
            worst = Some(0.0);
            continue;
        }
        let med = medians.get(w.work_type.as_str()).copied().unwrap_or(0.0);
        if !plain(run, w) || med < MIN_COMPETING_SHARE {
            continue;
        }
        let s = share(run, w);
        let ratio = s / med;
        worst = Some(worst.map_or(ratio, |x: f64| x.min(ratio)));
        if ratio < lim.min_share_ratio {
            a.offenders.push(format!(
                "{}: CPU share {} is {:.3} of its peers' median {}",
                who(w),
                pct(s),
                ratio,
                pct(med)
            ));
        }
    }
    a.measured = worst;
    a.threshold = Some(lim.min_share_ratio);
    a.judge(format!(
        "every worker progressed with >= {} of its peers' median CPU share",
        lim.min_share_ratio
    ))
}

/// Worker groups (same cgroup, same spec) with at least two CPU-bound members.
fn groups(run: &ScenarioRun) -> Vec<Vec<&WorkerReport>> {
    let mut map: BTreeMap<u32, Vec<&WorkerReport>> = BTreeMap::new();
    for w in run
        .workers
        .iter()
        .filter(|w| w.exit == WorkerExit::Completed && plain(run, w))
    {
        map.entry(w.group).or_default().push(w);
    }
    map.into_values()
        .filter(|g| {
            g.len() >= 2 && median(g.iter().map(|w| share(run, w)).collect()) >= MIN_CPU_BOUND_SHARE
        })
        .collect()
}

/// Max-min CPU share within each worker group.
pub fn fairness(run: &ScenarioRun, lim: &Limits) -> Assertion {
    let mut a = Assertion::new("fairness_spread", "share spread");
    let Some(limit) = lim.max_spread else {
        return a.off();
    };
    let mut worst = None;
    for g in groups(run) {
        let shares: Vec<(f64, &WorkerReport)> = g.iter().map(|w| (share(run, w), *w)).collect();
        let (lo, lo_w) = shares
            .iter()
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .copied()
            .unwrap();
        let (hi, hi_w) = shares
            .iter()
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .copied()
            .unwrap();
        let spread = hi - lo;
        worst = Some(f64::max(worst.unwrap_or(0.0), spread));
        if spread > limit {
            a.offenders.push(format!(
                "group {} in cgroup {}: {} got {} but {} got {}",
                lo_w.group,
                lo_w.cgroup,
                who(lo_w),
                pct(lo),
                who(hi_w),
                pct(hi)
            ));
        }
    }
    a.measured = worst;
    a.threshold = Some(limit);
    a.judge(format!("CPU share spread within each group <= {limit}"))
}

/// Coefficient of variation of work rate within each worker group.
pub fn throughput_cv(run: &ScenarioRun, lim: &Limits) -> Assertion {
    let mut a = Assertion::new("throughput_cv", "coefficient of variation");
    let Some(limit) = lim.max_throughput_cv else {
        return a.off();
    };
    let mut worst = None;
    for g in groups(run) {
        let rates: Vec<f64> = g.iter().map(|w| rate(w)).collect();
        let mean = rates.iter().sum::<f64>() / rates.len() as f64;
        if mean <= 0.0 {
            continue;
        }
        let var = rates.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (rates.len() - 1) as f64;
        let cv = var.sqrt() / mean;
        worst = Some(f64::max(worst.unwrap_or(0.0), cv));
        if cv > limit {
            let slowest = g.iter().min_by(|x, y| rate(x).total_cmp(&rate(y))).unwrap();
            a.offenders.push(format!(
                "group {} in cgroup {}: CV {cv:.2}, slowest {} at {:.0} units/s vs mean {mean:.0}",
                slowest.group,
                slowest.cgroup,
                who(slowest),
                rate(slowest)
            ));
        }
    }
    a.measured = worst;
    a.threshold = Some(limit);
    a.judge(format!("work-rate CV within each group <= {limit}"))
}

/// Work units per second of wall time.
pub fn rate(w: &WorkerReport) -> f64 {
    if w.wall_time_ns == 0 {
        return 0.0;
    }
    w.work_units as f64 / (w.wall_time_ns as f64 / 1e9)
}

/// Smallest work rate of any worker.
pub fn work_rate(run: &ScenarioRun, lim: &Limits) -> Assertion {
    let mut a = Assertion::new("min_work_rate", "units/s");
    let Some(limit) = lim.min_work_rate else {
        return a.off();
    };
    let mut worst = None;
    for w in run
        .workers
        .iter()
        .filter(|w| w.exit == WorkerExit::Completed)
    {
        let r = rate(w);
        worst = Some(worst.map_or(r, |x: f64| x.min(r)));
        if r < limit {
            a.offenders.push(format!("{}: {r:.0} units/s", who(w)));
        }
    }
    a.measured = worst;
    a.threshold = Some(limit);
    a.judge(format!("every worker does >= {limit} work units/s"))
}

/// Longest time without running, outside freezes and scheduler switches.
///
/// Each worker is judged by its longest gap that overlaps no excused window
/// (a freeze of its group, a scheduler op), from its longest gap and the
/// longest gaps over the floor it kept. Any kept gap is at least as long as
/// every dropped one, so when one outside the windows was kept, it is the
/// worker's longest outside them. When every kept gap was excused:
/// - and none was dropped, every other gap was under the floor, which
///   stands as the worker's value (an upper bound);
/// - and some were dropped, the worker cannot be judged: it is named in
///   the message, never passed in silence.
pub fn max_gap(run: &ScenarioRun, lim: &Limits) -> Assertion {
    let mut a = Assertion::new("max_gap", "ms");
    let Some(limit) = lim.max_gap_ms else {
        return a.off();
    };
    let windows = run.sched_windows((lim.isolation_grace_ms * 1e6) as u64);
    let mut worst = None;
    let mut unjudged = Vec::new();
    for w in run
        .workers
        .iter()
        .filter(|w| w.exit == WorkerExit::Completed)
    {
        let gap = match longest_unexcused_gap(run, w, &windows) {
            GapJudgement::Gap(gap) => gap,
            GapJudgement::UnderFloor => Gap {
                len_ns: GAP_FLOOR_NS,
                ..Gap::default()
            },
            GapJudgement::NoGaps => continue,
            GapJudgement::Unjudged => {
                unjudged.push(format!(
                    "{}: its {} longest gaps over {} ms all overlap a freeze or scheduler switch, and {} more were not kept",
                    who(w),
                    w.gaps.len(),
                    GAP_FLOOR_NS / 1_000_000,
                    w.gaps_over_floor.saturating_sub(w.gaps.len() as u64)
                ));
                continue;
            }
        };
        let ms = gap.len_ns as f64 / 1e6;
        worst = Some(f64::max(worst.unwrap_or(0.0), ms));
        if ms > limit {
            a.offenders.push(format!(
                "{}: {ms:.0} ms without running, resumed on CPU {} at {:.2} s",
                who(w),
                gap.cpu,
                gap.at_ns as f64 / 1e9
            ));
        }
    }
    a.measured = worst;
    a.threshold = Some(limit);
    let mut a = a.judge(format!("no worker waits longer than {limit} ms to run"));
    if !unjudged.is_empty() {
        a.message = format!(
            "{}; {} worker(s) not judged: {}",
            a.message,
            unjudged.len(),
            unjudged.join("; ")
        );
    }
    a
}

/// What one worker's gaps say once excused windows are taken out.
#[derive(Debug, PartialEq)]
enum GapJudgement {
    /// Its longest gap outside every excused window.
    Gap(Gap),
    /// Every gap outside the windows was shorter than the floor.
    UnderFloor,
    /// It reported no gap at all.
    NoGaps,
    /// Every gap it kept is excused and some it did not keep may not be.
    Unjudged,
}

fn longest_unexcused_gap(
    run: &ScenarioRun,
    w: &WorkerReport,
    windows: &[(u64, u64)],
) -> GapJudgement {
    let excused = |gap: &Gap| {
        let Some((_, release)) = run.group(w.group) else {
            return false;
        };
        let end = release.saturating_add(gap.at_ns);
        let start = end.saturating_sub(gap.len_ns);
        run.frozen(w.group)
            .into_iter()
            .chain(windows.iter().copied())
            .any(|(a, b)| start < b && a < end)
    };
    let candidates: Vec<&Gap> = w.max_gap.iter().chain(&w.gaps).collect();
    if candidates.is_empty() {
        return GapJudgement::NoGaps;
    }
    if let Some(gap) = candidates
        .iter()
        .filter(|g| !excused(g))
        .max_by_key(|g| g.len_ns)
    {
        return GapJudgement::Gap(**gap);
    }
    if w.gaps_over_floor > w.gaps.len() as u64 {
        GapJudgement::Unjudged
    } else {
        GapJudgement::UnderFloor
    }
}

/// p99 wake-up latency of workers that sleep and get woken.
pub fn wake_latency(run: &ScenarioRun, lim: &Limits) -> Assertion {
    let mut a = Assertion::new("wake_p99", "us");
    let Some(limit) = lim.max_wake_p99_us else {
        return a.off();
    };
    let mut worst = None;
    for w in run
        .workers
        .iter()
        .filter(|w| w.wake_latency.count >= MIN_WAKE_SAMPLES)
    {
        let us = w.wake_latency.p99_ns as f64 / 1e3;
        worst = Some(f64::max(worst.unwrap_or(0.0), us));
        if us > limit {
            a.offenders.push(format!(
                "{}: p99 {us:.0} us over {} wake-ups (p99.9 {:.0} us, max {:.0} us)",
                who(w),
                w.wake_latency.count,
                w.wake_latency.p999_ns as f64 / 1e3,
                w.wake_latency.max_ns as f64 / 1e3
            ));
        }
    }
    a.measured = worst;
    a.threshold = Some(limit);
    a.judge(format!("p99 wake-up latency <= {limit} us"))
}
