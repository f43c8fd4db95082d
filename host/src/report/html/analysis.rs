//! What the plots show, computed from the trace when there is one, else
//! from the workers' own reports: who ran on which CPU when, CPU share
//! over time, off-CPU gaps, wake latency and migrations.

use std::collections::{BTreeMap, HashMap};

use ktstr_wire::workload::WorkerReport;

use super::model::Run;
use crate::trace::model::{Kind, Marker, Record};

/// Most wake-latency values drawn from the workers' histograms.
const WAKE_VALUES: usize = 200_000;

/// Columns of the per-CPU timeline (one task shown per column per CPU).
pub const COLUMNS: usize = 1000;
/// Time bins of the share-over-time plots.
pub const BINS: usize = 100;
/// Most samples kept per distribution.
const MAX_SAMPLES: usize = 200_000;

/// A stretch of the timeline: columns `x0..x1` of a row ran `tid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cell {
    pub x0: u32,
    pub x1: u32,
    pub tid: i32,
}

/// One timeline row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub cpu: u32,
    pub cells: Vec<Cell>,
}

/// A task on a CPU: `(cpu, start, end, tid)`.
pub type Interval = (u32, u64, u64, i32);

/// Where the data came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Trace,
    Reports,
}

#[derive(Debug, Clone)]
pub struct Analysis {
    pub source: Source,
    /// Time range, nanoseconds (trace clock, or since release).
    pub t0: u64,
    pub t1: u64,
    pub rows: Vec<Row>,
    /// tid -> share of one CPU per bin (trace only).
    pub share: BTreeMap<i32, Vec<f64>>,
    /// cgroup -> CPUs used per bin (trace only).
    pub cgroup_share: BTreeMap<String, Vec<f64>>,
    pub wake_ns: Vec<u64>,
    pub gap_ns: Vec<u64>,
    /// tid -> migrations.
    pub migrations: BTreeMap<i32, u64>,
    /// (from, to) -> count.
    pub matrix: BTreeMap<(u32, u32), u64>,
    pub markers: Vec<Marker>,
}

impl Analysis {
    pub fn of(run: &Run) -> Analysis {
        match &run.trace {
            Some(t) if !t.records.is_empty() => from_trace(&t.records, &t.markers, &run.workers),
            _ => from_reports(&run.workers),
        }
    }
}

/// Run intervals `(cpu, start, end, tid)` from switches, per CPU in order.
fn intervals(records: &[Record], end: u64) -> Vec<Interval> {
    let mut open: HashMap<u32, (u64, i32)> = HashMap::new();
    let mut out = Vec::new();
    for r in records {
        if let Kind::Switch { next_pid, .. } = r.kind {
            if let Some((start, tid)) = open.remove(&r.cpu) {
                out.push((r.cpu, start, r.ts, tid));
            }
            if next_pid != 0 {
                open.insert(r.cpu, (r.ts, next_pid));
            }
        }
    }
    out.extend(
        open.into_iter()
            .map(|(cpu, (start, tid))| (cpu, start, end, tid)),
    );
    out
}

fn from_trace(records: &[Record], markers: &[Marker], workers: &[WorkerReport]) -> Analysis {
    let mut sorted: Vec<&Record> = records.iter().collect();
    sorted.sort_by_key(|r| r.ts);
    let t0 = sorted.first().map_or(0, |r| r.ts);
    let t1 = sorted.last().map_or(0, |r| r.ts).max(t0 + 1);
    let owned: Vec<Record> = sorted.iter().map(|r| (*r).clone()).collect();
    let runs = intervals(&owned, t1);
    let worker_tids: HashMap<i32, &WorkerReport> = workers.iter().map(|w| (w.tid, w)).collect();
    let mut a = Analysis {
        source: Source::Trace,
        t0,
        t1,
        rows: Vec::new(),
        share: BTreeMap::new(),
        cgroup_share: BTreeMap::new(),
        wake_ns: Vec::new(),
        gap_ns: Vec::new(),
        migrations: BTreeMap::new(),
        matrix: BTreeMap::new(),
        markers: markers.to_vec(),
    };
    a.rows = timeline_rows(&runs, t0, t1);
    let bin = (t1 - t0) as f64 / BINS as f64;
    for &(_, s, e, tid) in &runs {
        let Some(w) = worker_tids.get(&tid) else {
            continue;
        };
        let per_tid = a.share.entry(tid).or_insert_with(|| vec![0.0; BINS]);
        let per_cg = a
            .cgroup_share
            .entry(cgroup_name(&w.cgroup))
            .or_insert_with(|| vec![0.0; BINS]);
        spread(s - t0, e - t0, bin, |i, ns| {
            per_tid[i] += ns / bin;
            per_cg[i] += ns / bin;
        });
    }
    let counted = |tid: i32| worker_tids.is_empty() || worker_tids.contains_key(&tid);
    let mut woken: HashMap<i32, u64> = HashMap::new();
    let mut left: HashMap<i32, u64> = HashMap::new();
    for r in &sorted {
        match &r.kind {
            Kind::Waking(w) | Kind::Wakeup(w) | Kind::WakeupNew(w) if counted(w.pid) => {
                woken.entry(w.pid).or_insert(r.ts);
            }
            Kind::Switch {
                prev_pid, next_pid, ..
            } => {
                if counted(*prev_pid) && *prev_pid != 0 {
                    left.insert(*prev_pid, r.ts);
                }
                if let Some(w) = woken.remove(next_pid) {
                    push(&mut a.wake_ns, r.ts.saturating_sub(w));
                }
                if let Some(l) = left.remove(next_pid) {
                    push(&mut a.gap_ns, r.ts.saturating_sub(l));
                }
            }
            Kind::Migrate {
                pid,
                orig_cpu,
                dest_cpu,
                ..
            } if counted(*pid) && *pid != 0 => {
                *a.migrations.entry(*pid).or_default() += 1;
                *a.matrix
                    .entry((*orig_cpu as u32, *dest_cpu as u32))
                    .or_default() += 1;
            }
            _ => {}
        }
    }
    a
}

fn push(v: &mut Vec<u64>, x: u64) {
    if v.len() < MAX_SAMPLES {
        v.push(x);
    }
}

pub fn cgroup_name(cg: &str) -> String {
    if cg.is_empty() {
        "/".into()
    } else {
        cg.to_string()
    }
}

/// Calls `f(bin, ns)` for each bin `[s, e)` overlaps.
fn spread(s: u64, e: u64, bin: f64, mut f: impl FnMut(usize, f64)) {
    if e <= s || bin <= 0.0 {
        return;
    }
    let first = ((s as f64 / bin) as usize).min(BINS - 1);
    let last = ((e as f64 / bin) as usize).min(BINS - 1);
    for i in first..=last {
        let lo = (i as f64 * bin).max(s as f64);
        let hi = ((i + 1) as f64 * bin).min(e as f64);
        if hi > lo {
            f(i, hi - lo);
        }
    }
}

/// Per CPU, the task with the most time in each column, run-length merged.
pub fn timeline_rows(runs: &[Interval], t0: u64, t1: u64) -> Vec<Row> {
    let col = (t1.saturating_sub(t0)).max(1) as f64 / COLUMNS as f64;
    let mut per_cpu: BTreeMap<u32, Vec<HashMap<i32, f64>>> = BTreeMap::new();
    for &(cpu, s, e, tid) in runs {
        let cols = per_cpu
            .entry(cpu)
            .or_insert_with(|| vec![HashMap::new(); COLUMNS]);
        let (s, e) = (s.saturating_sub(t0), e.min(t1).saturating_sub(t0));
        if e <= s {
            continue;
        }
        let first = ((s as f64 / col) as usize).min(COLUMNS - 1);
        let last = ((e as f64 / col) as usize).min(COLUMNS - 1);
        for (i, c) in cols.iter_mut().enumerate().take(last + 1).skip(first) {
            let lo = (i as f64 * col).max(s as f64);
            let hi = ((i + 1) as f64 * col).min(e as f64);
            if hi > lo {
                *c.entry(tid).or_default() += hi - lo;
            }
        }
    }
    per_cpu
        .into_iter()
        .map(|(cpu, cols)| {
            let mut cells: Vec<Cell> = Vec::new();
            for (i, c) in cols.iter().enumerate() {
                let Some((&tid, _)) = c
                    .iter()
                    .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(a.0)))
                else {
                    continue;
                };
                match cells.last_mut() {
                    Some(last) if last.tid == tid && last.x1 == i as u32 => last.x1 += 1,
                    _ => cells.push(Cell {
                        x0: i as u32,
                        x1: i as u32 + 1,
                        tid,
                    }),
                }
            }
            Row { cpu, cells }
        })
        .collect()
}

/// Without a trace: where each worker was (from its migration log),
/// its wake samples, its longest gap, and its migrations.
fn from_reports(workers: &[WorkerReport]) -> Analysis {
    let t1 = workers
        .iter()
        .map(|w| w.wall_time_ns)
        .max()
        .unwrap_or(1)
        .max(1);
    let mut runs = Vec::new();
    let mut a = Analysis {
        source: Source::Reports,
        t0: 0,
        t1,
        rows: Vec::new(),
        share: BTreeMap::new(),
        cgroup_share: BTreeMap::new(),
        wake_ns: Vec::new(),
        gap_ns: Vec::new(),
        migrations: BTreeMap::new(),
        matrix: BTreeMap::new(),
        markers: Vec::new(),
    };
    for w in workers {
        let mut cpu = w
            .migration_log
            .first()
            .map(|m| m.from)
            .or_else(|| w.cpus_used.first().copied());
        let mut at = 0;
        for m in &w.migration_log {
            if let Some(c) = cpu {
                runs.push((c, at, m.at_ns, w.tid));
            }
            cpu = Some(m.to);
            at = m.at_ns;
            *a.matrix.entry((m.from, m.to)).or_default() += 1;
        }
        if let Some(c) = cpu {
            runs.push((c, at, w.wall_time_ns.max(at), w.tid));
        }
        a.migrations.insert(w.tid, w.migrations);
        // Every wake-up, from the worker's histogram buckets (each at its
        // bucket's bound), at most WAKE_VALUES in all.
        for b in &w.wake_latency.buckets {
            let room = WAKE_VALUES.saturating_sub(a.wake_ns.len());
            a.wake_ns.extend(std::iter::repeat_n(
                b.upper_ns,
                (b.count as usize).min(room),
            ));
        }
        if w.gaps.is_empty() {
            a.gap_ns.extend(w.max_gap.map(|g| g.len_ns));
        } else {
            a.gap_ns.extend(w.gaps.iter().map(|g| g.len_ns));
        }
    }
    a.rows = timeline_rows(&runs, 0, t1);
    a
}
