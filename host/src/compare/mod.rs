//! `ktstr-vm compare`: the same test under A (the scheduler under test)
//! and B (the baseline: EEVDF, another scheduler, or another kernel), N
//! runs each, alternating A and B so drift in the host's load hits both
//! sides alike. Each metric ([`metrics`]) is compared with Welch's t-test
//! ([`stats`]).
//!
//! A metric is a *regression* when all three hold: the difference is
//! significant (two-sided p < alpha, default 0.01; on logarithms when
//! every value is positive, see `judge`), A is worse in the
//! metric's direction, and the change is at least `min_effect` percent of
//! B's mean (default 5%, so a tiny but consistent shift is not flagged).
//! Failed runs are compared too: A failing significantly more often than
//! B (Fisher's exact test), or every A run failing while no B run did, is
//! a regression. Runs that could not test are left out; fewer than two
//! usable runs on a side means the comparison could not test (exit 125).

pub mod cli;
pub mod metrics;
mod render;
pub mod stats;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

use serde::Serialize;

use crate::exit::ExitCode;
use crate::finding::{Class, Outcome};
pub use metrics::{Better, Metric};
pub use render::render;
use stats::{Sample, Welch};

/// Fewest usable runs per side for a comparison.
pub const MIN_RUNS: usize = 2;

/// When a difference counts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Criteria {
    /// Significance level of each test.
    pub alpha: f64,
    /// Smallest |delta| in percent of B's mean that is flagged.
    pub min_effect_pct: f64,
}

impl Default for Criteria {
    fn default() -> Criteria {
        Criteria {
            alpha: 0.01,
            min_effect_pct: 5.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Side {
    A,
    B,
}

/// One run as compare uses it.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub side: Side,
    /// 1-based, per side.
    pub run: u32,
    pub outcome: Outcome,
    pub exit_code: i32,
    pub wall_ms: u64,
    pub classes: Vec<Class>,
    pub artifacts: PathBuf,
    pub metrics: Vec<Metric>,
}

impl RunSummary {
    /// Whether the run tested anything (could-not-test runs are left out).
    pub fn usable(&self) -> bool {
        self.outcome != Outcome::Inconclusive
    }
}

/// What a difference means for A.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    /// Not significant, or smaller than the minimum effect.
    None,
    Regression,
    Improvement,
}

/// One metric of one scenario, A against B.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricComparison {
    pub scenario: String,
    pub metric: String,
    pub unit: &'static str,
    pub better: Better,
    pub a: Sample,
    pub b: Sample,
    /// (A - B) / |B| in percent; none when B's mean is 0.
    pub delta_pct: Option<f64>,
    /// Whether the test ran on logarithms (every value positive).
    pub log_scale: bool,
    /// On the tested scale; none when a side has fewer than two values.
    pub welch: Option<Welch>,
    pub significant: bool,
    pub change: Change,
}

/// Failed runs, A against B.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FailureComparison {
    pub a_failed: usize,
    pub a_usable: usize,
    pub b_failed: usize,
    pub b_usable: usize,
    /// One-sided Fisher's exact test: A fails more often than B.
    pub p_value: f64,
    pub regression: bool,
}

/// Compares every metric both sides measured, in first-seen order.
pub fn compare_metrics(runs: &[RunSummary], crit: &Criteria) -> Vec<MetricComparison> {
    let mut keys: Vec<(&str, &str)> = Vec::new();
    for m in runs.iter().filter(|r| r.usable()).flat_map(|r| &r.metrics) {
        if !keys.contains(&(m.scenario.as_str(), m.name.as_str())) {
            keys.push((&m.scenario, &m.name));
        }
    }
    keys.into_iter()
        .filter_map(|(scenario, name)| {
            let of = |side: Side| -> (Vec<f64>, Option<&Metric>) {
                let ms: Vec<&Metric> = runs
                    .iter()
                    .filter(|r| r.side == side && r.usable())
                    .flat_map(|r| &r.metrics)
                    .filter(|m| m.scenario == scenario && m.name == name)
                    .collect();
                (ms.iter().map(|m| m.value).collect(), ms.first().copied())
            };
            let ((av, first), (bv, _)) = (of(Side::A), of(Side::B));
            judge(scenario, first?, &av, &bv, crit)
        })
        .collect()
}

/// Tests one metric. Scheduling metrics are right-skewed and differ by
/// factors (a gap or a spread doubles), so the test runs on logarithms
/// when every value is positive: a relative difference, like the delta
/// shown. On the runs measured here that sharpened real differences
/// (EEVDF against scx_simple, fairness spread: p 0.028 -> 0.005) and left
/// identical schedulers alone.
fn judge(
    scenario: &str,
    m: &Metric,
    av: &[f64],
    bv: &[f64],
    crit: &Criteria,
) -> Option<MetricComparison> {
    let (a, b) = (Sample::of(av)?, Sample::of(bv)?);
    let log_scale = av.iter().chain(bv).all(|v| *v > 0.0);
    let welch = if log_scale {
        let ln = |v: &[f64]| v.iter().map(|x| x.ln()).collect::<Vec<f64>>();
        stats::welch(&Sample::of(&ln(av))?, &Sample::of(&ln(bv))?)
    } else {
        stats::welch(&a, &b)
    };
    let delta_pct = (b.mean != 0.0).then(|| (a.mean - b.mean) / b.mean.abs() * 100.0);
    let significant = welch.is_some_and(|w| w.p < crit.alpha);
    let big_enough = delta_pct.is_none_or(|d| d.abs() >= crit.min_effect_pct);
    // The direction on the scale that was tested.
    let a_higher = welch.map_or(a.mean > b.mean, |w| w.t > 0.0);
    let a_worse = match m.better {
        Better::Higher => !a_higher,
        Better::Lower => a_higher,
    };
    let change = match (significant && big_enough, a_worse) {
        (false, _) => Change::None,
        (true, true) => Change::Regression,
        (true, false) => Change::Improvement,
    };
    Some(MetricComparison {
        scenario: scenario.into(),
        metric: m.name.clone(),
        unit: m.unit,
        better: m.better,
        a,
        b,
        delta_pct,
        log_scale,
        welch,
        significant,
        change,
    })
}

/// Failed runs of A against B's.
pub fn compare_failures(runs: &[RunSummary], crit: &Criteria) -> FailureComparison {
    let count = |side: Side, failed: bool| {
        runs.iter()
            .filter(|r| r.side == side && r.usable() && (!failed || r.outcome == Outcome::Fail))
            .count()
    };
    let (a_failed, a_usable, b_failed, b_usable) = (
        count(Side::A, true),
        count(Side::A, false),
        count(Side::B, true),
        count(Side::B, false),
    );
    let p_value = stats::fisher_more_failures(a_failed, a_usable, b_failed, b_usable);
    // A handful of runs cannot reach significance; failing every one of
    // them against a clean baseline is not noise either.
    let always = a_usable >= MIN_RUNS && a_failed == a_usable && b_failed == 0;
    FailureComparison {
        a_failed,
        a_usable,
        b_failed,
        b_usable,
        p_value,
        regression: a_failed > b_failed && (p_value < crit.alpha || always),
    }
}

/// One side as the report names it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SideInfo {
    pub label: String,
    pub kernel: PathBuf,
    pub kernel_key: Option<String>,
    /// None: EEVDF.
    pub scheduler: Option<String>,
    pub scheduler_args: Vec<String>,
}

/// The answer, and the exit code that goes with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Conclusion {
    NoRegression,
    Regression,
    CannotTest,
    Interrupted,
}

impl Conclusion {
    pub fn exit(self) -> ExitCode {
        match self {
            Conclusion::NoRegression => ExitCode::Pass,
            Conclusion::Regression => ExitCode::Fail,
            Conclusion::CannotTest => ExitCode::CannotTest,
            Conclusion::Interrupted => ExitCode::Interrupted,
        }
    }
}

/// Everything `compare` found; its `--json` output.
#[derive(Debug, Clone, Serialize)]
pub struct CompareReport {
    pub a: SideInfo,
    pub b: SideInfo,
    pub runs_per_side: u32,
    pub criteria: Criteria,
    pub conclusion: Conclusion,
    pub exit_code: i32,
    /// Why, in one line.
    pub reason: String,
    pub regressions: usize,
    pub metrics: Vec<MetricComparison>,
    pub failures: FailureComparison,
    pub runs: Vec<RunSummary>,
}

impl CompareReport {
    /// Judges the runs done so far.
    pub fn new(
        a: SideInfo,
        b: SideInfo,
        runs_per_side: u32,
        criteria: Criteria,
        runs: Vec<RunSummary>,
        interrupted: bool,
    ) -> CompareReport {
        let metrics = compare_metrics(&runs, &criteria);
        let failures = compare_failures(&runs, &criteria);
        let regressions = metrics
            .iter()
            .filter(|m| m.change == Change::Regression)
            .count()
            + usize::from(failures.regression);
        let tested = metrics.iter().any(|m| m.welch.is_some());
        let (conclusion, reason) = if interrupted {
            (
                Conclusion::Interrupted,
                "interrupted before all runs were done".to_string(),
            )
        } else if failures.regression {
            (
                Conclusion::Regression,
                format!(
                    "A failed {} of {} runs, B {} of {}",
                    failures.a_failed, failures.a_usable, failures.b_failed, failures.b_usable
                ),
            )
        } else if failures.a_usable < MIN_RUNS || failures.b_usable < MIN_RUNS {
            (
                Conclusion::CannotTest,
                format!(
                    "too few runs could test: A {} and B {} of {runs_per_side} each (need {MIN_RUNS})",
                    failures.a_usable, failures.b_usable
                ),
            )
        } else if regressions > 0 {
            (
                Conclusion::Regression,
                format!("{regressions} significant regression(s) of A against B"),
            )
        } else if !tested {
            (
                Conclusion::CannotTest,
                "no metric was measured on both sides at least twice".to_string(),
            )
        } else {
            let better = metrics
                .iter()
                .filter(|m| m.change == Change::Improvement)
                .count();
            (
                Conclusion::NoRegression,
                format!("no significant regression ({better} significant improvement(s))"),
            )
        };
        CompareReport {
            a,
            b,
            runs_per_side,
            criteria,
            conclusion,
            exit_code: conclusion.exit().code(),
            reason,
            regressions,
            metrics,
            failures,
            runs,
        }
    }
}
