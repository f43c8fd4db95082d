//! Cpuset isolation over time: no worker seen on a CPU its cgroup (and
//! any affinity op) did not allow at that moment.
//!
//! Workers log where they run at checkpoints: the CPU at release, then
//! every change with its time since release. The guest records, with
//! monotonic times, the CPUs each worker group may use from every mark on.
//! A worker seen arriving on CPU `c` at time `t` is fine when `c` was
//! allowed at any moment in `[t - grace, t]`: a checkpoint notices a move
//! only after it happened. CPUs beyond the migration log's cap are checked
//! against every CPU the group was ever allowed.

use std::collections::BTreeSet;

use ktstr_wire::workload::WorkerReport;

use super::checks::who;
use super::limits::Limits;
use super::split::ScenarioRun;
use super::Assertion;
use ktstr_wire::topology::format_cpu_list;

pub fn isolation(run: &ScenarioRun, lim: &Limits) -> Assertion {
    let mut a = Assertion::new("cpuset_isolation", "violations");
    if !lim.isolation {
        return a.off();
    }
    let grace = (lim.isolation_grace_ms * 1e6) as u64;
    let mut checked = 0;
    let mut violations = 0;
    for w in &run.workers {
        let Some((_, release)) = run.group(w.group) else {
            continue;
        };
        let mut timeline = run.allowed(w.group);
        if timeline.is_empty() || timeline.iter().all(|(_, c)| c.is_empty()) {
            continue;
        }
        timeline.sort_by_key(|(t, _)| *t);
        checked += 1;
        for v in worker_violations(w, release, &timeline, grace) {
            violations += 1;
            a.offenders.push(format!("{}: {v}", who(w)));
        }
    }
    a.measured = (checked > 0).then_some(violations as f64);
    a.threshold = Some(0.0);
    a.judge("no worker ran outside its cgroup's CPUs".to_string())
}

/// Where `w` was seen outside its allowed CPUs.
pub fn worker_violations(
    w: &WorkerReport,
    release: u64,
    timeline: &[(u64, &[u32])],
    grace: u64,
) -> Vec<String> {
    // The allowed set in force at `t` and just before it (within grace).
    let ok = |cpu: u32, t: u64| {
        let lo = t.saturating_sub(grace);
        timeline.iter().enumerate().any(|(i, (start, cpus))| {
            let end = timeline.get(i + 1).map_or(u64::MAX, |n| n.0);
            // Before the first mark, the first set applies.
            let start = if i == 0 { 0 } else { *start };
            start <= t && end >= lo && (cpus.is_empty() || cpus.contains(&cpu))
        })
    };
    let mut out = Vec::new();
    let first = w.migration_log.first().map(|m| m.from).or_else(|| {
        // No migration: the worker stayed on its only CPU.
        (w.cpus_used.len() == 1).then(|| w.cpus_used[0])
    });
    if let Some(cpu) = first {
        if !ok(cpu, release) {
            out.push(format!(
                "started on CPU {cpu}, allowed {}",
                allowed_at(timeline, release)
            ));
        }
    }
    for m in &w.migration_log {
        let t = release.saturating_add(m.at_ns);
        if !ok(m.to, t) {
            out.push(format!(
                "on CPU {} at {:.3} s, allowed {}",
                m.to,
                m.at_ns as f64 / 1e9,
                allowed_at(timeline, t)
            ));
        }
    }
    // A worker that stays on a CPU its cgroup lost logs no migration: check
    // where it was `grace` after every change of its allowed CPUs.
    for (i, (at, cpus)) in timeline.iter().enumerate().skip(1) {
        let t = at.saturating_add(grace);
        if cpus.is_empty() || timeline.get(i + 1).is_some_and(|next| next.0 <= t) {
            continue;
        }
        let since = t.saturating_sub(release);
        let cpu = w
            .migration_log
            .iter()
            .take_while(|m| m.at_ns <= since)
            .last()
            .map(|m| m.to)
            .or(first);
        match cpu {
            // Beyond the log's cap the CPU at `t` is unknown.
            _ if w.migration_log.len() >= ktstr_wire::workload::MAX_MIGRATION_LOG => {}
            Some(cpu) if !cpus.contains(&cpu) => out.push(format!(
                "still on CPU {cpu} at {:.3} s, {:.0} ms after its CPUs became {}",
                since as f64 / 1e9,
                grace as f64 / 1e6,
                format_cpu_list(cpus)
            )),
            _ => {}
        }
    }
    let ever: BTreeSet<u32> = timeline
        .iter()
        .flat_map(|(_, c)| c.iter().copied())
        .collect();
    let never: Vec<u32> = w
        .cpus_used
        .iter()
        .copied()
        .filter(|c| !ever.contains(c))
        .collect();
    // Past the migration log's cap only the set of CPUs is known.
    if !never.is_empty() && !ever.is_empty() && out.is_empty() {
        out.push(format!(
            "ran on CPU(s) {} that were never allowed (allowed at some point: {})",
            format_cpu_list(&never),
            format_cpu_list(&ever.into_iter().collect::<Vec<_>>())
        ));
    }
    out
}

fn allowed_at(timeline: &[(u64, &[u32])], t: u64) -> String {
    let cpus = timeline
        .iter()
        .rev()
        .find(|(start, _)| *start <= t)
        .or(timeline.first())
        .map_or(&[][..], |(_, c)| c);
    format_cpu_list(cpus)
}
