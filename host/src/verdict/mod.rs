//! From a run's facts to a verdict a user can trust: the one judge.
//!
//! [`judge`] asks every source of [`Finding`](crate::finding::Finding)s in turn: the health checks
//! here (scheduler, kernel log, console, topology, completion), the
//! payloads' exits ([`crate::payload::result`]) and the assertions on the
//! workers' reports ([`crate::assert`]). The verdict is the worst finding
//! on the lattice Fail > Inconclusive > Pass > Skip. "Inconclusive" means
//! the harness could not test (exit 125), never that the scheduler failed.

mod checks;
mod facts;
mod health;
pub mod kernel_log;
mod load_failure;
#[cfg(test)]
mod plain_tests;
#[cfg(test)]
mod tests;

use ktstr_wire::topology::Topology;

use ktstr_wire::workload::WorkSpec;

use crate::assert::{Limits, Planned, ScenarioResult};
use crate::events::TimedEvent;
use crate::finding::{Class, Finding, Outcome, Verdict};
use crate::payload::PayloadResult;

/// What the checks need besides the events.
#[derive(Debug, Clone, Default)]
pub struct JudgeInput<'a> {
    pub events: &'a [TimedEvent],
    /// A scheduler was requested (so it must attach and stay attached).
    pub scheduler_expected: bool,
    /// The topology the guest must report, when one was requested.
    pub expected_topology: Option<&'a Topology>,
    /// The serial console log (may be empty).
    pub console: &'a str,
    /// QEMU's own stderr (may be empty).
    pub qemu_log: &'a str,
    /// The plan has no worker groups (`exec`, `shell`): no reports are due.
    pub workerless: bool,
    /// How many worker reports are due, when the plan fixes it (a guest
    /// that says `Done` with fewer has lost some: not a pass).
    pub expected_workers: Option<usize>,
    /// What each payload did (from the events, see
    /// [`crate::payload::result::results`]).
    pub payloads: &'a [PayloadResult],
    /// The scenarios the guest was asked to run, with their thresholds.
    pub scenarios: &'a [Planned<'a>],
    /// The plain workload's thresholds and groups, when it ran without
    /// scenarios: it is judged with the same assertions.
    pub workload: Option<(&'a Limits, &'a [WorkSpec])>,
    /// An interactive shell: the console also carries what the user typed
    /// and printed, so only kernel lines (timestamped) are scanned there.
    pub shell: bool,
}

/// The verdict, and the assertions of each scenario or the plain workload.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    pub verdict: Verdict,
    pub scenarios: Vec<ScenarioResult>,
    pub workload: Option<ScenarioResult>,
}

/// Judges a run: every source's findings, one verdict.
pub fn judge(input: &JudgeInput) -> Judgement {
    let mut findings = checks::all(input);
    findings.extend(crate::payload::result::findings(input.payloads));
    // Assertions are not judged on a run that already failed: its workers
    // were measured under a broken scheduler or kernel.
    let run_failed = findings.iter().any(|f| f.outcome > Outcome::Pass);
    let scenarios = crate::assert::judge_all(input.scenarios, input.events, run_failed);
    let workload =
        match input.workload {
            Some((limits, specs)) if input.scenarios.is_empty() => Some(
                crate::assert::judge_workload(limits, specs, input.events, run_failed),
            ),
            _ => None,
        };
    let judged: Vec<&ScenarioResult> = scenarios.iter().chain(&workload).collect();
    findings.extend(crate::assert::findings(judged.iter().copied()));
    if !run_failed && !judged.is_empty() && judged.iter().all(|r| r.outcome == Outcome::Skip) {
        findings.push(nothing_measured(&judged));
    }
    Judgement {
        verdict: Verdict::of(findings),
        scenarios,
        workload,
    }
}

/// Every assertion was skipped: say why each was, since a pass would lie.
fn nothing_measured(judged: &[&ScenarioResult]) -> Finding {
    let evidence = judged
        .iter()
        .flat_map(|r| {
            r.assertions
                .iter()
                .map(move |a| format!("{}: {}: {}", r.name, a.name, a.message))
        })
        .collect();
    Finding::new(
        Class::NothingMeasured,
        "no assertion measured anything (every one was skipped or off), so the run proves nothing",
        evidence,
    )
}
