//! What a worker does in its loop, by name.
//!
//! Names are snake_case and are what the command line, scenario files and
//! reports use. `Churn` types pick a random setting each iteration (seeded,
//! so a rerun repeats the choices); `Sweep` types walk an ordered range.
//! Every parameter has a default, so `{type = "bursty"}` is complete.

use serde::{Deserialize, Serialize};

/// What a worker does in its loop.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum WorkType {
    /// Burn CPU without blocking.
    #[default]
    #[serde(alias = "SpinWait")]
    SpinWait,
    /// Short spins, each followed by `sched_yield()`.
    #[serde(alias = "YieldHeavy")]
    YieldHeavy,
    /// Spin, yield, and now and then a short sleep.
    #[serde(alias = "Mixed")]
    Mixed,
    /// Spin `burst_us`, sleep `sleep_us`, repeat. Wake latency = oversleep.
    #[serde(alias = "Bursty")]
    Bursty {
        #[serde(default = "d_1000")]
        burst_us: u64,
        #[serde(default = "d_1000")]
        sleep_us: u64,
    },
    /// Random short sleeps (10 us - 1 ms) with almost no work: CPUs keep
    /// going idle and waking.
    #[serde(alias = "IdleChurn")]
    IdleChurn,
    /// Pairs bouncing a timestamp through two pipes.
    #[serde(alias = "PipeIo")]
    PipeIo,
    /// Pairs handing a turn back and forth through a futex.
    #[serde(alias = "FutexPingPong")]
    FutexPingPong,
    /// One waker and `fan_out` waiters woken together; the waker waits
    /// until all are done.
    #[serde(alias = "FutexFanOut")]
    FutexFanOut {
        #[serde(default = "d_4")]
        fan_out: u32,
    },
    /// Like `futex_fan_out`, with a CPU batch per woken waiter.
    #[serde(alias = "FanOutCompute")]
    FanOutCompute {
        #[serde(default = "d_4")]
        fan_out: u32,
    },
    /// Walk a `size_kib` buffer with `stride` bytes between touches.
    #[serde(alias = "CachePressure")]
    CachePressure {
        #[serde(default = "d_1024")]
        size_kib: u64,
        #[serde(default = "d_64")]
        stride: u64,
    },
    /// One cache walk, then `sched_yield()`.
    #[serde(alias = "CacheYield")]
    CacheYield {
        #[serde(default = "d_256")]
        size_kib: u64,
    },
    /// Pairs exchanging pipe messages, each walking its buffer in between.
    #[serde(alias = "CachePipe")]
    CachePipe {
        #[serde(default = "d_256")]
        size_kib: u64,
    },
    /// Write `size_kib` to a private file and `fdatasync` it, repeat.
    #[serde(alias = "IoSyncWrite")]
    IoSyncWrite {
        #[serde(default = "d_4")]
        size_kib: u32,
    },
    /// Phases run in order, cycling.
    #[serde(alias = "Sequence")]
    Sequence {
        #[serde(default = "default_phases")]
        phases: Vec<Phase>,
    },
    /// Fork a child that exits at once; reap it; repeat.
    #[serde(alias = "ForkExit")]
    ForkExit,
    /// Churn: pin to a random allowed CPU every iteration.
    #[serde(alias = "AffinityChurn")]
    AffinityChurn,
    /// Churn: switch to a random scheduling class every iteration.
    #[serde(alias = "PolicyChurn")]
    PolicyChurn,
    /// Sweep: nice `from`..=`to` in order, `step_ms` of spinning at each.
    #[serde(alias = "NiceSweep")]
    NiceSweep {
        #[serde(default)]
        from: i32,
        #[serde(default = "d_19")]
        to: i32,
        #[serde(default = "d_5")]
        step_ms: u64,
    },
    /// Map, touch and unmap `size_kib` of anonymous memory, repeat.
    #[serde(alias = "PageFaultChurn")]
    PageFaultChurn {
        #[serde(default = "d_1024")]
        size_kib: u64,
    },
    /// Sweep: bind a fresh `size_kib` working set to each NUMA node in
    /// turn, `step_ms` at each.
    #[serde(alias = "NumaWorkingSetSweep")]
    NumaWorkingSetSweep {
        #[serde(default = "d_1024")]
        size_kib: u64,
        #[serde(default = "d_10")]
        step_ms: u64,
    },
    /// `contenders` workers sharing one futex mutex.
    #[serde(alias = "MutexContention")]
    MutexContention {
        #[serde(default = "d_4")]
        contenders: u32,
    },
    /// A token passed around a ring of `depth` workers.
    #[serde(alias = "WakeChain")]
    WakeChain {
        #[serde(default = "d_4")]
        depth: u32,
    },
    /// One waker releases `waiters` workers at once every millisecond.
    #[serde(alias = "ThunderingHerd")]
    ThunderingHerd {
        #[serde(default = "d_8")]
        waiters: u32,
    },
    /// 100 us timer wake-ups each followed by a 20 us spin: a storm of
    /// wake-up preemptions for whatever else runs.
    #[serde(alias = "PreemptStorm")]
    PreemptStorm,
    /// `SCHED_FIFO` spinner (`run_us` on, `sleep_us` off) that starves the
    /// fair/ext class on its CPU; needs CAP_SYS_NICE.
    #[serde(alias = "RtStarvation")]
    RtStarvation {
        #[serde(default = "d_50000")]
        run_us: u64,
        #[serde(default = "d_10000")]
        sleep_us: u64,
    },
}

/// One step of a [`WorkType::Sequence`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case", deny_unknown_fields)]
pub enum Phase {
    Spin { ms: u64 },
    Sleep { ms: u64 },
    Yield { ms: u64 },
    Io { ms: u64 },
}

impl Phase {
    /// Name and length, for the report's trace.
    pub fn label(&self) -> String {
        match self {
            Phase::Spin { ms } => format!("spin {ms}ms"),
            Phase::Sleep { ms } => format!("sleep {ms}ms"),
            Phase::Yield { ms } => format!("yield {ms}ms"),
            Phase::Io { ms } => format!("io {ms}ms"),
        }
    }

    pub fn ms(&self) -> u64 {
        match self {
            Phase::Spin { ms } | Phase::Sleep { ms } | Phase::Yield { ms } | Phase::Io { ms } => {
                *ms
            }
        }
    }
}

fn default_phases() -> Vec<Phase> {
    vec![
        Phase::Spin { ms: 10 },
        Phase::Sleep { ms: 5 },
        Phase::Yield { ms: 5 },
        Phase::Io { ms: 5 },
    ]
}

fn d_4<T: From<u8>>() -> T {
    T::from(4)
}
fn d_5() -> u64 {
    5
}
fn d_8() -> u32 {
    8
}
fn d_10() -> u64 {
    10
}
fn d_19() -> i32 {
    19
}
fn d_64() -> u64 {
    64
}
fn d_256() -> u64 {
    256
}
fn d_1000() -> u64 {
    1000
}
fn d_1024() -> u64 {
    1024
}
fn d_10000() -> u64 {
    10_000
}
fn d_50000() -> u64 {
    50_000
}

/// Every work type name, in declaration order.
pub const ALL_NAMES: &[&str] = &[
    "spin_wait",
    "yield_heavy",
    "mixed",
    "bursty",
    "idle_churn",
    "pipe_io",
    "futex_ping_pong",
    "futex_fan_out",
    "fan_out_compute",
    "cache_pressure",
    "cache_yield",
    "cache_pipe",
    "io_sync_write",
    "sequence",
    "fork_exit",
    "affinity_churn",
    "policy_churn",
    "nice_sweep",
    "page_fault_churn",
    "numa_working_set_sweep",
    "mutex_contention",
    "wake_chain",
    "thundering_herd",
    "preempt_storm",
    "rt_starvation",
];

/// A name that is not a work type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown work type {name:?}; did you mean {suggestion:?}? (all: {})", ALL_NAMES.join(", "))]
pub struct UnknownWorkType {
    pub name: String,
    /// The closest known name.
    pub suggestion: &'static str,
}

/// Pipes, futex words and 64-bit cells one cooperating unit (a pair, a
/// fan-out group) shares; declared per work type beside it, so the engine
/// only allocates what [`WorkType::unit_resources`] says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnitResources {
    pub pipes: usize,
    pub words: usize,
    pub cells: usize,
}

impl WorkType {
    /// The name used on the command line and in reports.
    pub fn name(&self) -> &'static str {
        match self {
            WorkType::SpinWait => "spin_wait",
            WorkType::YieldHeavy => "yield_heavy",
            WorkType::Mixed => "mixed",
            WorkType::Bursty { .. } => "bursty",
            WorkType::IdleChurn => "idle_churn",
            WorkType::PipeIo => "pipe_io",
            WorkType::FutexPingPong => "futex_ping_pong",
            WorkType::FutexFanOut { .. } => "futex_fan_out",
            WorkType::FanOutCompute { .. } => "fan_out_compute",
            WorkType::CachePressure { .. } => "cache_pressure",
            WorkType::CacheYield { .. } => "cache_yield",
            WorkType::CachePipe { .. } => "cache_pipe",
            WorkType::IoSyncWrite { .. } => "io_sync_write",
            WorkType::Sequence { .. } => "sequence",
            WorkType::ForkExit => "fork_exit",
            WorkType::AffinityChurn => "affinity_churn",
            WorkType::PolicyChurn => "policy_churn",
            WorkType::NiceSweep { .. } => "nice_sweep",
            WorkType::PageFaultChurn { .. } => "page_fault_churn",
            WorkType::NumaWorkingSetSweep { .. } => "numa_working_set_sweep",
            WorkType::MutexContention { .. } => "mutex_contention",
            WorkType::WakeChain { .. } => "wake_chain",
            WorkType::ThunderingHerd { .. } => "thundering_herd",
            WorkType::PreemptStorm => "preempt_storm",
            WorkType::RtStarvation { .. } => "rt_starvation",
        }
    }

    /// The work type called `name`, with default parameters. Accepts `-`
    /// for `_`, any case, and ktstr's CamelCase (`PipeIo` = `pipe_io`).
    pub fn from_name(name: &str) -> Result<WorkType, UnknownWorkType> {
        let norm = snake_case(name.trim()).replace('-', "_");
        if ALL_NAMES.contains(&norm.as_str()) {
            // Every name deserializes with its defaults.
            let json = format!(r#"{{"type":"{norm}"}}"#);
            if let Ok(wt) = serde_json::from_str(&json) {
                return Ok(wt);
            }
        }
        let suggestion = ALL_NAMES
            .iter()
            .copied()
            .max_by(|a, b| {
                strsim::jaro_winkler(&norm, a).total_cmp(&strsim::jaro_winkler(&norm, b))
            })
            .unwrap_or("spin_wait");
        Err(UnknownWorkType {
            name: name.to_string(),
            suggestion,
        })
    }

    /// Workers that cooperate as one unit (a pipe pair, a fan-out group);
    /// a group's worker count must be a multiple of it.
    pub fn group_size(&self) -> u32 {
        match self {
            WorkType::PipeIo | WorkType::FutexPingPong | WorkType::CachePipe { .. } => 2,
            WorkType::FutexFanOut { fan_out } | WorkType::FanOutCompute { fan_out } => 1 + fan_out,
            WorkType::ThunderingHerd { waiters } => 1 + waiters,
            WorkType::MutexContention { contenders } => *contenders,
            WorkType::WakeChain { depth } => *depth,
            _ => 1,
        }
    }

    /// Pipes and shared cells one unit of this type needs.
    pub fn unit_resources(&self) -> UnitResources {
        let n = self.group_size() as usize;
        match self {
            WorkType::PipeIo | WorkType::CachePipe { .. } => UnitResources {
                pipes: 2,
                ..UnitResources::default()
            },
            // Word 0: turn; cell 0: hand-off timestamp.
            WorkType::FutexPingPong => UnitResources {
                pipes: 0,
                words: 1,
                cells: 1,
            },
            // Words: generation, done count; cell: wake timestamp.
            WorkType::FutexFanOut { .. }
            | WorkType::FanOutCompute { .. }
            | WorkType::ThunderingHerd { .. } => UnitResources {
                pipes: 0,
                words: 2,
                cells: 1,
            },
            // Word 0: the lock; cell 0: time of the last release.
            WorkType::MutexContention { .. } => UnitResources {
                pipes: 0,
                words: 1,
                cells: 1,
            },
            // One word and one timestamp per ring member.
            WorkType::WakeChain { .. } => UnitResources {
                pipes: 0,
                words: n,
                cells: n,
            },
            _ => UnitResources::default(),
        }
    }

    /// A description of the first bad parameter, if any.
    pub fn check_parameters(&self) -> Result<(), String> {
        let bad = |ok: bool, what: &str| if ok { Ok(()) } else { Err(what.to_string()) };
        match self {
            WorkType::Bursty { burst_us, .. } => bad(*burst_us > 0, "burst_us must be > 0"),
            WorkType::FutexFanOut { fan_out } | WorkType::FanOutCompute { fan_out } => {
                bad((1..=1024).contains(fan_out), "fan_out must be in 1..=1024")
            }
            WorkType::ThunderingHerd { waiters } => {
                bad((1..=1024).contains(waiters), "waiters must be in 1..=1024")
            }
            WorkType::MutexContention { contenders } => bad(
                (2..=1024).contains(contenders),
                "contenders must be in 2..=1024",
            ),
            WorkType::WakeChain { depth } => {
                bad((2..=1024).contains(depth), "depth must be in 2..=1024")
            }
            WorkType::CachePressure { size_kib, stride } => {
                bad(*size_kib >= 4, "size_kib must be >= 4")?;
                bad(
                    (8..=size_kib * 1024).contains(stride),
                    "stride must be >= 8 and not larger than the buffer",
                )
            }
            WorkType::CacheYield { size_kib }
            | WorkType::CachePipe { size_kib }
            | WorkType::PageFaultChurn { size_kib }
            | WorkType::NumaWorkingSetSweep { size_kib, .. } => {
                bad(*size_kib >= 4, "size_kib must be >= 4")
            }
            WorkType::IoSyncWrite { size_kib } => bad(
                (1..=65536).contains(size_kib),
                "size_kib must be in 1..=65536",
            ),
            WorkType::Sequence { phases } => {
                bad(!phases.is_empty(), "phases must not be empty")?;
                bad(
                    phases.iter().any(|p| p.ms() > 0),
                    "at least one phase must last > 0 ms",
                )
            }
            WorkType::NiceSweep { from, to, .. } => bad(
                (-20..=19).contains(from) && (-20..=19).contains(to) && from <= to,
                "from and to must be in -20..=19 with from <= to",
            ),
            WorkType::RtStarvation { run_us, .. } => bad(*run_us > 0, "run_us must be > 0"),
            _ => Ok(()),
        }
    }
}

/// `PipeIo` -> `pipe_io`; names without an upper-case letter after a lower
/// one are only lower-cased (`SPIN_WAIT`, `spin-wait` stay one word each).
fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    let mut prev_lower = false;
    for c in name.chars() {
        if c.is_ascii_uppercase() && prev_lower {
            out.push('_');
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        out.push(c.to_ascii_lowercase());
    }
    out
}
