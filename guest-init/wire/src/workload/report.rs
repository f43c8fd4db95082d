//! What one worker measured. Sent to the host as [`crate::GuestMsg::Worker`].

use serde::{Deserialize, Serialize};

/// Most migrations kept per worker (the count is always exact).
pub const MAX_MIGRATION_LOG: usize = 256;
/// Gaps shorter than this are not listed in [`WorkerReport::gaps`] (they
/// still count for `max_gap`): a scheduler tick is 1-4 ms.
pub const GAP_FLOOR_NS: u64 = 1_000_000;
/// Most gaps listed per worker: the longest ones over [`GAP_FLOOR_NS`].
pub const MAX_GAPS: usize = 32;
/// Most histogram buckets in one [`LatencySummary`] (an HDR histogram of
/// 2 significant digits from 1 us to a minute has about 2700).
pub const MAX_LATENCY_BUCKETS: usize = 4096;

/// Most trace entries kept per worker.
pub const MAX_TRACE: usize = 256;

/// Measurements of one worker over the run. All times are nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerReport {
    /// Thread id in the guest.
    pub tid: i32,
    /// Index of the [`super::WorkSpec`] this worker belongs to.
    pub group: u32,
    /// Index of the worker within its group.
    pub index: u32,
    /// Cgroup the worker ran in (relative to the run's root; "" = root).
    pub cgroup: String,
    /// Work type name, as in [`super::WorkType::name`].
    pub work_type: String,
    /// Units of useful work done (meaning depends on the work type).
    pub work_units: u64,
    /// Outer-loop iterations.
    pub iterations: u64,
    /// CPU time of the worker thread (`CLOCK_THREAD_CPUTIME_ID`).
    pub cpu_time_ns: u64,
    /// Wall time from release to stop.
    pub wall_time_ns: u64,
    /// Wall time minus CPU time: runnable-but-waiting plus sleeping.
    pub off_cpu_time_ns: u64,
    /// Number of CPU changes seen at checkpoints (exact).
    pub migrations: u64,
    /// First [`MAX_MIGRATION_LOG`] migrations.
    pub migration_log: Vec<Migration>,
    /// Every CPU the worker was seen on, sorted.
    pub cpus_used: Vec<u32>,
    /// Longest wall-clock gap between two progress checkpoints.
    pub max_gap: Option<Gap>,
    /// The longest gaps over [`GAP_FLOOR_NS`] (at most [`MAX_GAPS`], longest
    /// first), each with its time: the host judges a gap outside a freeze
    /// or scheduler switch even when a longer one fell inside it.
    #[serde(default)]
    pub gaps: Vec<Gap>,
    /// How many gaps were over [`GAP_FLOOR_NS`] (exact; `gaps` keeps the
    /// longest of them).
    #[serde(default)]
    pub gaps_over_floor: u64,
    /// Wake-up latencies (for work types that sleep and get woken).
    pub wake_latency: LatencySummary,
    /// `/proc/self/schedstat` deltas over the run.
    pub schedstat: SchedStat,
    /// Resident pages per NUMA node after the run (index = node id).
    pub numa_pages: Vec<u64>,
    /// Settings the kernel refused (affinity, policy, nice, memory policy,
    /// cgroup placement). The worker still ran, without them.
    pub errors: Vec<String>,
    /// Settings or phases the work type walked through, in order (first
    /// [`MAX_TRACE`]): `Sequence` phases, `NiceSweep` values, churned
    /// policies. Empty for work types without steps.
    #[serde(default)]
    pub trace: Vec<String>,
    /// How the worker ended.
    pub exit: WorkerExit,
}

/// One observed CPU change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Migration {
    /// Nanoseconds since the worker was released.
    pub at_ns: u64,
    pub from: u32,
    pub to: u32,
}

/// A gap between progress checkpoints: time the worker did not run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gap {
    pub len_ns: u64,
    /// CPU the worker resumed on.
    pub cpu: u32,
    /// Nanoseconds since release when the gap ended.
    pub at_ns: u64,
}

/// Wake-up latency from every wake-up: percentiles of an HDR histogram
/// (2 significant digits), its non-empty buckets (so the host can merge
/// workers and draw the distribution), and the exact count and maximum.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencySummary {
    pub count: u64,
    pub p50_ns: u64,
    pub p90_ns: u64,
    pub p99_ns: u64,
    pub p999_ns: u64,
    pub max_ns: u64,
    /// Non-empty buckets, by rising upper bound.
    pub buckets: Vec<LatencyBucket>,
}

/// Wake-ups whose latency fell at or below `upper_ns` (and above the
/// previous bucket's bound).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyBucket {
    pub upper_ns: u64,
    pub count: u64,
}

/// Deltas of `/proc/self/schedstat`: time spent runnable but waiting for a
/// CPU, and the number of times the task was scheduled in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchedStat {
    pub run_delay_ns: u64,
    pub run_count: u64,
}

/// How a worker ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WorkerExit {
    /// Stopped when asked and reported normally.
    #[default]
    Completed,
    /// Exited on its own with this code before reporting.
    Exited { code: i32 },
    /// Killed by a signal before reporting.
    Signaled { signal: i32 },
    /// Did not report within the collection deadline; killed.
    TimedOut,
    /// The worker's own code panicked (a harness bug, not the scheduler's
    /// doing); the panic's place and message are on the console.
    Panicked,
}
