//! What a worker measures while it runs: the progress checkpoint (migrations,
//! gaps (kept in [`super::gaps`]), stop flag), wake-up latencies (an HDR
//! histogram, [`super::latency`]), and the kernel's own counters read
//! before and after (`schedstat`, `numa_maps`).
//!
//! The checkpoint is the hot path: a vDSO `clock_gettime`, a `sched_getcpu`
//! (glibc reads it from the rseq area), and a relaxed atomic load. Work types
//! call it every [`Meter::units_per_checkpoint`] work units, a number the
//! parent calibrates once so a checkpoint lands every
//! [`CHECKPOINT_TARGET_NS`] of work; `benches/checkpoint.rs` shows the cost.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::gaps::{GapLog, GapSummary};
pub use super::latency::Latency;
use super::shared::{now_ns, thread_cpu_ns};
use ktstr_wire::workload::{Gap, LatencySummary, Migration, SchedStat, MAX_MIGRATION_LOG};

/// Work time between two checkpoints. Short enough to resolve a scheduler
/// tick (1-4 ms) and most preemptions, long enough that the ~50 ns
/// checkpoint costs well under 2% of the work.
pub const CHECKPOINT_TARGET_NS: u64 = 25_000;

/// Highest CPU number tracked in `cpus_used` (exclusive).
const MAX_CPUS: usize = 1024;

/// Progress checkpoint state of one worker.
#[derive(Debug)]
pub struct Meter<'a> {
    stop: &'a AtomicU32,
    release_ns: u64,
    last_ns: u64,
    last_cpu: u32,
    migrations: u64,
    migration_log: Vec<Migration>,
    cpus_seen: Box<[u64; MAX_CPUS / 64]>,
    gaps: GapLog,
    /// Units of work done; work types add to it.
    pub work_units: u64,
    /// Outer-loop iterations; work types add to it.
    pub iterations: u64,
    /// Checkpoint cadence for CPU-bound loops, from calibration.
    pub units_per_checkpoint: u64,
    /// Wake-up latencies seen by this worker.
    pub latency: Latency,
}

impl<'a> Meter<'a> {
    /// A meter that starts counting now. `release_ns` is when the start
    /// barrier opened (gaps and migrations are timed from it).
    pub fn new(stop: &'a AtomicU32, release_ns: u64, units_per_checkpoint: u64) -> Self {
        let mut meter = Meter {
            stop,
            release_ns,
            last_ns: now_ns(),
            last_cpu: current_cpu(),
            migrations: 0,
            migration_log: Vec::with_capacity(MAX_MIGRATION_LOG),
            cpus_seen: Box::new([0; MAX_CPUS / 64]),
            gaps: GapLog::default(),
            work_units: 0,
            iterations: 0,
            units_per_checkpoint: units_per_checkpoint.max(1),
            latency: Latency::default(),
        };
        meter.mark_cpu(meter.last_cpu);
        meter
    }

    /// Records progress; returns `false` once the worker should stop.
    #[inline]
    pub fn checkpoint(&mut self) -> bool {
        // The CPU first, then the time: the worker was on `cpu` at or
        // before `now`, which is what the host's isolation check assumes
        // (a move is noticed after it happened). The other order let a
        // worker preempted between the reads log a CPU it reached only
        // after an affinity change as seen before it.
        let cpu = current_cpu();
        let now = now_ns();
        let gap = now.saturating_sub(self.last_ns);
        if self.gaps.wants(gap) {
            self.gaps.record(Gap {
                len_ns: gap,
                cpu,
                at_ns: now.saturating_sub(self.release_ns),
            });
        }
        if cpu != self.last_cpu {
            self.migrated(now, cpu);
        }
        self.last_ns = now;
        self.stop.load(Ordering::Relaxed) == 0
    }

    /// Restarts gap timing without recording a gap: for work types that
    /// sleep on purpose, so a deliberate sleep is not reported as a stall.
    #[inline]
    pub fn resume_after_sleep(&mut self) {
        let cpu = current_cpu();
        self.last_ns = now_ns();
        if cpu != self.last_cpu {
            self.migrated(self.last_ns, cpu);
        }
    }

    /// Whether the parent asked to stop (no checkpoint bookkeeping).
    #[inline]
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed) != 0
    }

    #[cold]
    fn migrated(&mut self, now: u64, cpu: u32) {
        self.migrations += 1;
        if self.migration_log.len() < MAX_MIGRATION_LOG {
            self.migration_log.push(Migration {
                at_ns: now.saturating_sub(self.release_ns),
                from: self.last_cpu,
                to: cpu,
            });
        }
        self.last_cpu = cpu;
        self.mark_cpu(cpu);
    }

    fn mark_cpu(&mut self, cpu: u32) {
        if let Some(word) = self.cpus_seen.get_mut(cpu as usize / 64) {
            *word |= 1 << (cpu % 64);
        }
    }

    /// Migration count, log, CPUs used (sorted) and the gaps.
    pub(crate) fn finish(self) -> MeterResult {
        let mut cpus_used = Vec::new();
        for (w, word) in self.cpus_seen.iter().enumerate() {
            for bit in 0..64 {
                if word & (1 << bit) != 0 {
                    cpus_used.push((w * 64 + bit) as u32);
                }
            }
        }
        MeterResult {
            work_units: self.work_units,
            iterations: self.iterations,
            migrations: self.migrations,
            migration_log: self.migration_log,
            cpus_used,
            gaps: self.gaps.finish(),
            wake_latency: self.latency.summary(),
        }
    }
}

/// What [`Meter::finish`] hands to the report.
#[derive(Debug)]
pub(crate) struct MeterResult {
    pub work_units: u64,
    pub iterations: u64,
    pub migrations: u64,
    pub migration_log: Vec<Migration>,
    pub cpus_used: Vec<u32>,
    pub gaps: GapSummary,
    pub wake_latency: LatencySummary,
}

/// The CPU the calling thread runs on.
#[inline]
pub fn current_cpu() -> u32 {
    // SAFETY: no arguments; returns -1 only if unsupported.
    let cpu = unsafe { libc::sched_getcpu() };
    cpu.max(0) as u32
}

/// `(cpu time, run delay, run count)` of the calling thread from
/// `/proc/thread-self/schedstat`; `None` without `CONFIG_SCHEDSTATS`-style
/// support or `/proc`.
pub(crate) fn read_schedstat() -> Option<[u64; 3]> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    parse_schedstat(&text)
}

pub(crate) fn parse_schedstat(text: &str) -> Option<[u64; 3]> {
    let mut it = text.split_whitespace().map(|f| f.parse::<u64>().ok());
    Some([it.next()??, it.next()??, it.next()??])
}

/// Difference of two schedstat readings.
pub(crate) fn schedstat_delta(before: Option<[u64; 3]>, after: Option<[u64; 3]>) -> SchedStat {
    match (before, after) {
        (Some(b), Some(a)) => SchedStat {
            run_delay_ns: a[1].saturating_sub(b[1]),
            run_count: a[2].saturating_sub(b[2]),
        },
        _ => SchedStat::default(),
    }
}

/// Resident pages per NUMA node of the calling process, summed over every
/// mapping's `N<node>=<pages>`; empty when `numa_maps` is missing
/// (kernels without `CONFIG_NUMA`).
pub(crate) fn read_numa_pages() -> Vec<u64> {
    std::fs::read_to_string("/proc/self/numa_maps")
        .map(|t| parse_numa_maps(&t))
        .unwrap_or_default()
}

pub(crate) fn parse_numa_maps(text: &str) -> Vec<u64> {
    let mut pages: Vec<u64> = Vec::new();
    for field in text.split_whitespace() {
        let Some(rest) = field.strip_prefix('N') else {
            continue;
        };
        let Some((node, count)) = rest.split_once('=') else {
            continue;
        };
        let (Ok(node), Ok(count)) = (node.parse::<usize>(), count.parse::<u64>()) else {
            continue;
        };
        if node >= pages.len() {
            pages.resize(node + 1, 0);
        }
        pages[node] += count;
    }
    pages
}

/// One unit of CPU-bound work: 32 dependent xorshift steps (about
/// 60-70 ns on a current core). Xorshift, unlike a multiply-add chain,
/// cannot be folded by the compiler into one closed-form step.
#[inline]
pub fn spin_unit(state: &mut u64) {
    let mut x = *state | 1;
    for _ in 0..32 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    *state = std::hint::black_box(x);
}

/// Spin units that take [`CHECKPOINT_TARGET_NS`] of CPU time on this
/// machine. Measured once per process on the thread CPU clock (so a
/// preemption during calibration does not skew it) and cached; call it
/// before forking so workers inherit the number.
pub fn units_per_checkpoint() -> u64 {
    static CACHED: AtomicU64 = AtomicU64::new(0);
    let cached = CACHED.load(Ordering::Relaxed);
    if cached != 0 {
        return cached;
    }
    let mut state = 1;
    let mut units = 0u64;
    let start = thread_cpu_ns();
    // Two milliseconds of spinning is enough for a stable rate.
    while thread_cpu_ns() - start < 2_000_000 {
        for _ in 0..64 {
            spin_unit(&mut state);
        }
        units += 64;
    }
    let elapsed = (thread_cpu_ns() - start).max(1);
    let per = (units * CHECKPOINT_TARGET_NS / elapsed).max(1);
    CACHED.store(per, Ordering::Relaxed);
    per
}
