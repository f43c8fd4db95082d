//! Assertions on a scenario's worker reports: not starved, fairness spread,
//! max scheduling gap, cpuset isolation over time, p99 wake latency,
//! throughput CV, minimum work rate. Each reports its measured value, its
//! threshold and the offending workers; a scenario's outcome is the worst
//! of its assertions on the verdict lattice, and failures join the run's
//! verdict as findings (see [`findings`], called by the one judge in
//! [`crate::verdict`]). This module owns the thresholds ([`limits`]).

mod checks;
mod isolation;
pub mod limits;
mod split;
pub mod summary;
#[cfg(test)]
mod tests;

use serde::Serialize;

pub use limits::{Limits, Thresholds, TCG_TIME_SCALE};
pub use split::{plain_run, split, ScenarioRun};

use crate::events::TimedEvent;
use crate::finding::{Class, Finding, Outcome};

/// Offenders listed per assertion (all are counted).
const MAX_OFFENDERS: usize = 20;

/// One assertion's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assertion {
    pub name: &'static str,
    pub outcome: Outcome,
    /// The worst value seen (none when nothing was eligible).
    pub measured: Option<f64>,
    pub threshold: Option<f64>,
    pub unit: &'static str,
    pub message: String,
    pub offenders: Vec<String>,
}

impl Assertion {
    fn new(name: &'static str, unit: &'static str) -> Assertion {
        Assertion {
            name,
            outcome: Outcome::Skip,
            measured: None,
            threshold: None,
            unit,
            message: String::new(),
            offenders: Vec::new(),
        }
    }

    fn off(mut self) -> Assertion {
        self.message = "turned off".into();
        self
    }

    fn judge(mut self, what: String) -> Assertion {
        self.outcome = match (self.measured, self.offenders.is_empty()) {
            (_, false) => Outcome::Fail,
            (None, true) => Outcome::Skip,
            (Some(_), true) => Outcome::Pass,
        };
        self.message = match self.outcome {
            Outcome::Skip => format!("{what}: no eligible workers"),
            _ => what,
        };
        if self.offenders.len() > MAX_OFFENDERS {
            let more = self.offenders.len() - MAX_OFFENDERS;
            self.offenders.truncate(MAX_OFFENDERS);
            self.offenders.push(format!("... and {more} more"));
        }
        self
    }
}

/// One scenario's judgement (or the plain workload's: name `workload`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScenarioResult {
    pub name: String,
    pub origin: String,
    pub outcome: Outcome,
    pub limits: Limits,
    pub workers: usize,
    pub assertions: Vec<Assertion>,
    /// Ops the guest could not apply, and other reasons the scenario did
    /// not run as written (these make it inconclusive).
    pub problems: Vec<String>,
    /// The scenario's worker reports (`result.json` has them per scenario;
    /// the plain workload's are the run's `workers`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reports: Vec<ktstr_wire::workload::WorkerReport>,
    /// Set when the scheduler left during the scenario (see
    /// [`ScenarioRun::disrupted`]): the assertions were measured but not
    /// judged, so a scheduler failure is reported once, as itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_judged: Option<String>,
}

/// What [`judge_scenario`] needs about one planned scenario.
#[derive(Debug, Clone)]
pub struct Planned<'a> {
    pub name: &'a str,
    pub origin: &'a str,
    pub limits: &'a Limits,
}

/// The name the plain workload's judgement goes by.
pub const WORKLOAD: &str = "workload";

/// Every assertion on one scenario's run.
pub fn judge_scenario(plan: &Planned, run: &ScenarioRun, run_failed: bool) -> ScenarioResult {
    let lim = plan.limits;
    let mut assertions = vec![
        checks::not_starved(run, lim),
        checks::fairness(run, lim),
        checks::max_gap(run, lim),
        isolation::isolation(run, lim),
        checks::wake_latency(run, lim),
        checks::throughput_cv(run, lim),
        checks::work_rate(run, lim),
    ];
    let mut problems: Vec<String> = run
        .marks
        .iter()
        .flat_map(|m| m.errors.iter().cloned())
        .collect();
    if !run.ended && !run_failed {
        problems.push("the scenario did not run to its end".into());
    }
    if run.workers.is_empty() && !run_failed {
        problems.push("no worker of the scenario reported".into());
    }
    problems.extend(run.overflow.iter().cloned());
    // Nothing passes by being skipped: a scenario whose every assertion
    // was skipped (or off) measured nothing, and says so.
    let mut outcome = assertions
        .iter()
        .map(|a| a.outcome)
        .max()
        .unwrap_or(Outcome::Skip);
    if !problems.is_empty() {
        outcome = outcome.max(Outcome::Inconclusive);
    }
    if run.marks.is_empty() && run.workers.is_empty() && run_failed {
        // Never started: the run's own findings say why.
        outcome = Outcome::Skip;
    }
    if let Some(why) = &run.disrupted {
        for a in assertions.iter_mut().filter(|a| a.outcome != Outcome::Skip) {
            a.outcome = Outcome::Skip;
            a.message = format!("not judged ({why}): {}", a.message);
        }
        outcome = Outcome::Skip;
    }
    ScenarioResult {
        name: plan.name.to_string(),
        origin: plan.origin.to_string(),
        outcome,
        limits: lim.clone(),
        workers: run.workers.len(),
        assertions,
        problems,
        reports: run.workers.clone(),
        not_judged: run.disrupted.clone(),
    }
}

/// Judges the plain workload (no `--scenario`) as a scenario without
/// steps, with the default assertions and `--assert` overrides.
pub fn judge_workload(
    limits: &Limits,
    specs: &[ktstr_wire::workload::WorkSpec],
    events: &[TimedEvent],
    run_failed: bool,
) -> ScenarioResult {
    let plan = Planned {
        name: WORKLOAD,
        origin: "plain run",
        limits,
    };
    let mut result = judge_scenario(&plan, &plain_run(events, specs), run_failed);
    result.reports.clear();
    result
}

/// Judges every planned scenario from the run's events.
pub fn judge_all(
    plans: &[Planned],
    events: &[TimedEvent],
    run_failed: bool,
) -> Vec<ScenarioResult> {
    let runs = split(events, plans.len());
    plans
        .iter()
        .zip(&runs)
        .map(|(p, r)| judge_scenario(p, r, run_failed))
        .collect()
}

/// Verdict findings for failed assertions and scenarios that did not run
/// as written.
pub fn findings<'a>(results: impl IntoIterator<Item = &'a ScenarioResult>) -> Vec<Finding> {
    let mut out = Vec::new();
    for r in results {
        let what = if r.name == WORKLOAD && r.origin == "plain run" {
            "the workload".to_string()
        } else {
            format!("scenario {}", r.name)
        };
        for a in r.assertions.iter().filter(|a| a.outcome == Outcome::Fail) {
            let value = a.measured.map_or("-".into(), |m| format!("{m:.3}"));
            let limit = a.threshold.map_or("-".into(), |t| format!("{t}"));
            // The worst offender names the worker and its value.
            let worst = a
                .offenders
                .first()
                .map(|o| format!(": {o}"))
                .unwrap_or_default();
            out.push(Finding::new(
                Class::AssertionFailed,
                format!(
                    "{what}: {} failed: measured {value} {}, threshold {limit}{worst}",
                    a.name, a.unit
                ),
                a.offenders.clone(),
            ));
        }
        if !r.problems.is_empty() {
            out.push(Finding::new(
                Class::HarnessError,
                format!("{what} did not run as written"),
                r.problems.clone(),
            ));
        }
    }
    out
}
