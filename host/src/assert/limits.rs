//! Assertion thresholds: defaults scaled for the accelerator, then a
//! scenario's `[assert]` table, then `--assert KEY=VALUE` from the command
//! line, each overriding the one before.
//!
//! Emulation stretches time: under TCG every vCPU runs in one host thread
//! that the host itself time-slices, so a healthy scheduler still shows
//! scheduling gaps and wake-up latencies of hundreds of milliseconds. Time
//! thresholds are therefore written for KVM and multiplied by
//! [`TCG_TIME_SCALE`] under TCG; share and ratio thresholds are not scaled
//! (TCG stretches every task alike). `0` (or `off` on the command line)
//! turns a check off.

use serde::{Deserialize, Serialize};

use crate::qemu::accel::Accel;

/// Time thresholds are multiplied by this under TCG.
pub const TCG_TIME_SCALE: f64 = 5.0;

/// Thresholds as written in a scenario file or on the command line; unset
/// fields keep the value from the level below.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// Every worker made progress and got at least `min_share_ratio` of
    /// the median CPU share of its peers (same work type, normal policy).
    pub not_starved: Option<bool>,
    pub min_share_ratio: Option<f64>,
    /// Largest max-min spread of CPU share (0..1) within one worker group.
    pub max_spread: Option<f64>,
    /// Longest time a worker may go without running, in milliseconds.
    pub max_gap_ms: Option<f64>,
    /// No worker ran on a CPU outside its cgroup's cpuset (and affinity).
    pub isolation: Option<bool>,
    /// After a cpuset change, how long a worker may still be seen on an old CPU.
    pub isolation_grace_ms: Option<f64>,
    /// Largest p99 wake-up latency of a worker, in microseconds.
    pub max_wake_p99_us: Option<f64>,
    /// Largest coefficient of variation of work rate within a worker group.
    pub max_throughput_cv: Option<f64>,
    /// Smallest work rate of any worker, in work units per second (0 = off).
    pub min_work_rate: Option<f64>,
}

/// Names of the settings, for `--assert` and typo suggestions.
pub const KEYS: &[&str] = &[
    "not_starved",
    "min_share_ratio",
    "max_spread",
    "max_gap_ms",
    "isolation",
    "isolation_grace_ms",
    "max_wake_p99_us",
    "max_throughput_cv",
    "min_work_rate",
];

/// Resolved thresholds; `None` = the check is off.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Limits {
    pub not_starved: bool,
    pub min_share_ratio: f64,
    pub max_spread: Option<f64>,
    pub max_gap_ms: Option<f64>,
    pub isolation: bool,
    pub isolation_grace_ms: f64,
    pub max_wake_p99_us: Option<f64>,
    pub max_throughput_cv: Option<f64>,
    pub min_work_rate: Option<f64>,
}

/// A bad `--assert` argument.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("--assert {0:?}: write KEY=VALUE, e.g. max_gap_ms=500 (keys: {keys})", keys = KEYS.join(", "))]
    Syntax(String),
    #[error("--assert {key:?}: unknown key{hint}; keys are {keys}", keys = KEYS.join(", "))]
    UnknownKey { key: String, hint: String },
    #[error("--assert {key}={value:?}: {want}")]
    Value {
        key: String,
        value: String,
        want: &'static str,
    },
}

impl Thresholds {
    /// The KVM defaults, with time thresholds scaled for `accel`.
    pub fn defaults(accel: Accel) -> Thresholds {
        let t = if accel == Accel::Tcg {
            TCG_TIME_SCALE
        } else {
            1.0
        };
        Thresholds {
            not_starved: Some(true),
            min_share_ratio: Some(0.1),
            // EEVDF leaves two CPU hogs stacked on one CPU beside a CPU of
            // sleepers for seconds: 0.52 measured in a healthy soak run.
            max_spread: Some(0.75),
            max_gap_ms: Some(600.0 * t),
            isolation: Some(true),
            isolation_grace_ms: Some(100.0 * t),
            // 108 ms p99 measured under TCG for a healthy EEVDF run on a
            // busy host (2 VMs on 2 cores): 40 ms x 5 leaves headroom.
            max_wake_p99_us: Some(40_000.0 * t),
            // Work per CPU-second itself varies by vCPU under TCG (the
            // host thread's time is split unevenly): measured CV up to 0.49
            // for healthy EEVDF, so TCG gets twice the KVM limit.
            max_throughput_cv: Some(if accel == Accel::Tcg { 1.0 } else { 0.5 }),
            min_work_rate: Some(0.0),
        }
    }

    /// `self` with every field `over` sets replaced.
    pub fn overlay(&self, over: &Thresholds) -> Thresholds {
        macro_rules! pick {
            ($($f:ident),*) => { Thresholds { $($f: over.$f.or(self.$f)),* } };
        }
        pick!(
            not_starved,
            min_share_ratio,
            max_spread,
            max_gap_ms,
            isolation,
            isolation_grace_ms,
            max_wake_p99_us,
            max_throughput_cv,
            min_work_rate
        )
    }

    /// Parses `--assert` arguments (`KEY=VALUE`; `off` turns a check off).
    pub fn from_args(args: &[String]) -> Result<Thresholds, LimitError> {
        let mut t = Thresholds::default();
        for arg in args {
            let (key, value) = arg
                .split_once('=')
                .ok_or_else(|| LimitError::Syntax(arg.clone()))?;
            let (key, value) = (key.trim(), value.trim());
            let bad = |want| LimitError::Value {
                key: key.into(),
                value: value.into(),
                want,
            };
            let flag = || match value {
                "true" | "on" | "1" => Ok(Some(true)),
                "false" | "off" | "0" => Ok(Some(false)),
                _ => Err(bad("write true or false")),
            };
            let num = || match value {
                "off" => Ok(Some(0.0)),
                v => v
                    .parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite() && *x >= 0.0)
                    .map(Some)
                    .ok_or(bad("write a number >= 0, or off")),
            };
            match key {
                "not_starved" => t.not_starved = flag()?,
                "isolation" => t.isolation = flag()?,
                "min_share_ratio" => t.min_share_ratio = num()?,
                "max_spread" => t.max_spread = num()?,
                "max_gap_ms" => t.max_gap_ms = num()?,
                "isolation_grace_ms" => t.isolation_grace_ms = num()?,
                "max_wake_p99_us" => t.max_wake_p99_us = num()?,
                "max_throughput_cv" => t.max_throughput_cv = num()?,
                "min_work_rate" => t.min_work_rate = num()?,
                other => {
                    return Err(LimitError::UnknownKey {
                        key: other.into(),
                        hint: ktstr_wire::suggest(other, KEYS),
                    })
                }
            }
        }
        Ok(t)
    }

    /// Concrete limits (call on a fully overlaid value).
    pub fn resolve(&self) -> Limits {
        let on = |v: Option<f64>| v.filter(|x| *x > 0.0);
        Limits {
            not_starved: self.not_starved.unwrap_or(true),
            min_share_ratio: self.min_share_ratio.unwrap_or(0.0),
            max_spread: on(self.max_spread),
            max_gap_ms: on(self.max_gap_ms),
            isolation: self.isolation.unwrap_or(true),
            isolation_grace_ms: self.isolation_grace_ms.unwrap_or(0.0),
            max_wake_p99_us: on(self.max_wake_p99_us),
            max_throughput_cv: on(self.max_throughput_cv),
            min_work_rate: on(self.min_work_rate),
        }
    }
}
