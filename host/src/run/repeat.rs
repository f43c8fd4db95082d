//! `--repeat N` and `--retry-infra N`: flakes made visible, and kept out of
//! a bisect.
//!
//! `--repeat` runs the same plan N times and fails if any run fails; the
//! failure rate and every run's verdict are reported, and the exit code is
//! the worst run's. `--retry-infra` re-runs a run only when the test
//! infrastructure failed ([`Class::is_infrastructure`]: the boot never
//! reached init, QEMU died), never when the kernel or scheduler did, so a
//! retry cannot hide a real failure. Discarded attempts are listed too.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;

use super::execute::{execute, Completed, ExecuteError, RunOptions};
use crate::artifacts::{Artifacts, ArtifactsError};
use crate::cache_dir::CacheDir;
use crate::exit::ExitCode;
use crate::finding::{Class, Finding, Outcome};
use crate::plan::RunPlan;
use crate::report::{summary, RunResult};

/// How many runs, and how many infrastructure retries per run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RepeatOptions {
    pub runs: u32,
    pub retry_infra: u32,
}

/// A run attempt thrown away because the infrastructure failed.
#[derive(Debug, Clone, Serialize)]
pub struct DiscardedAttempt {
    pub outcome: Outcome,
    pub classes: Vec<Class>,
    pub message: String,
    pub artifacts: PathBuf,
}

/// One counted run: its result, after any infrastructure retries.
#[derive(Debug, Clone, Serialize)]
pub struct RepeatRun {
    /// 1-based.
    pub run: u32,
    pub infra_retries: Vec<DiscardedAttempt>,
    pub result: RunResult,
}

/// Every run and the totals; the `--json` output of a repeated run.
#[derive(Debug, Clone, Serialize)]
pub struct RepeatResult {
    pub outcome: Outcome,
    #[serde(skip)]
    pub exit: ExitCode,
    pub exit_code: i32,
    pub runs_requested: u32,
    pub passed: u32,
    pub failed: u32,
    pub cannot_test: u32,
    /// `failed / runs done`: runs where the scheduler or kernel failed.
    pub failure_rate: f64,
    /// Attempts re-run because the infrastructure failed.
    pub infra_retries: u32,
    /// Stopped early by an interrupt.
    pub interrupted: bool,
    pub runs: Vec<RepeatRun>,
}

/// Whether a run could not test only because the infrastructure failed:
/// every finding that made it inconclusive blames the infrastructure.
pub fn is_infra_failure(outcome: Outcome, findings: &[Finding]) -> bool {
    outcome == Outcome::Inconclusive
        && findings
            .iter()
            .filter(|f| f.outcome >= Outcome::Inconclusive)
            .all(|f| f.class.is_infrastructure())
}

/// Runs `plan` as `opts` says, calling `on_run` after each counted run.
pub fn repeat(
    plan: &RunPlan,
    cache: &CacheDir,
    opts: RepeatOptions,
    run_opts: RunOptions,
    on_run: &mut dyn FnMut(&RepeatRun, &RepeatOptions),
) -> Result<RepeatResult, ExecuteError> {
    let base = artifacts_base(plan, cache)?;
    let mut runs: Vec<RepeatRun> = Vec::new();
    let mut interrupted = false;
    for run in 1..=opts.runs {
        let mut discarded = Vec::new();
        let done = loop {
            let attempt = discarded.len();
            let name = if attempt == 0 {
                format!("run-{run:02}")
            } else {
                format!("run-{run:02}-retry-{attempt}")
            };
            let opts_here = RunOptions {
                artifacts: Some(base.join(name)),
                ..run_opts.clone()
            };
            let done: Completed = execute(plan, cache, opts_here)?;
            if attempt < opts.retry_infra as usize
                && is_infra_failure(done.result.outcome, &done.result.findings)
            {
                discarded.push(DiscardedAttempt {
                    outcome: done.result.outcome,
                    classes: done.result.findings.iter().map(|f| f.class).collect(),
                    message: done
                        .result
                        .findings
                        .first()
                        .map(|f| f.message.clone())
                        .unwrap_or_default(),
                    artifacts: done.result.artifacts.clone(),
                });
                continue;
            }
            break done;
        };
        interrupted = done.exit == ExitCode::Interrupted;
        let entry = RepeatRun {
            run,
            infra_retries: discarded,
            result: done.result,
        };
        on_run(&entry, &opts);
        runs.push(entry);
        if interrupted {
            break;
        }
    }
    Ok(totals(opts, runs, interrupted))
}

/// `--artifacts DIR` as given, else one fresh directory in the cache for
/// the whole series (`run-01`, `run-01-retry-1`, ... inside).
fn artifacts_base(plan: &RunPlan, cache: &CacheDir) -> Result<PathBuf, ArtifactsError> {
    if let Some(dir) = plan.artifacts() {
        return Ok(dir.to_path_buf());
    }
    let label = plan.scheduler().map_or("eevdf", |s| s.name.as_str());
    Ok(
        Artifacts::fresh(&cache.root().join("runs"), &format!("{label}-repeat"))?
            .dir()
            .to_path_buf(),
    )
}

fn totals(opts: RepeatOptions, runs: Vec<RepeatRun>, interrupted: bool) -> RepeatResult {
    let count = |o: Outcome| runs.iter().filter(|r| r.result.outcome == o).count() as u32;
    let (failed, cannot_test) = (count(Outcome::Fail), count(Outcome::Inconclusive));
    let passed = runs.len() as u32 - failed - cannot_test;
    let outcome = runs
        .iter()
        .map(|r| r.result.outcome)
        .max()
        .unwrap_or(Outcome::Inconclusive);
    let exit = outcome.exit_code(interrupted);
    RepeatResult {
        outcome,
        exit,
        exit_code: exit.code(),
        runs_requested: opts.runs,
        passed,
        failed,
        cannot_test,
        failure_rate: if runs.is_empty() {
            0.0
        } else {
            f64::from(failed) / runs.len() as f64
        },
        infra_retries: runs.iter().map(|r| r.infra_retries.len() as u32).sum(),
        interrupted,
        runs,
    }
}

/// One line per run; the full summary for a run that did not pass.
pub fn render_run(r: &RepeatRun, opts: &RepeatOptions) -> String {
    let mut s = String::new();
    for d in &r.infra_retries {
        let _ = writeln!(
            s,
            "run {}/{}: infrastructure failure, retrying: {} ({})",
            r.run,
            opts.runs,
            d.message,
            d.artifacts.display()
        );
    }
    let res = &r.result;
    let _ = writeln!(s, "run {}/{}: {}", r.run, opts.runs, summary::one_line(res));
    if res.outcome != Outcome::Pass {
        for line in summary::render(res).lines() {
            let _ = writeln!(s, "    {line}");
        }
    }
    s
}

/// The closing totals.
pub fn render_totals(r: &RepeatResult) -> String {
    format!(
        "ktstr-vm: {} after {} of {} runs: {} passed, {} failed ({:.1}% failure rate), {} could not test, {} infrastructure retries{}\nexit code: {}\n",
        summary::outcome_word(r.outcome),
        r.runs.len(),
        r.runs_requested,
        r.passed,
        r.failed,
        r.failure_rate * 100.0,
        r.cannot_test,
        r.infra_retries,
        if r.interrupted { " (interrupted)" } else { "" },
        r.exit_code
    )
}

/// `ktstr-vm run --repeat/--retry-infra`: runs, prints, returns the
/// series (its `exit` is the process's). With one run the output is a
/// plain run's (summary or result JSON); with more, the series'.
pub fn run_cli(
    plan: &RunPlan,
    cache: &CacheDir,
    opts: RepeatOptions,
    run_opts: RunOptions,
    json: bool,
) -> Result<RepeatResult, ExecuteError> {
    let mut print_run = |r: &RepeatRun, o: &RepeatOptions| {
        if json {
            return;
        }
        if o.runs == 1 {
            for d in &r.infra_retries {
                println!(
                    "ktstr-vm: infrastructure failure, re-run: {} ({})",
                    d.message,
                    d.artifacts.display()
                );
            }
            print!("{}", summary::render(&r.result));
        } else {
            print!("{}", render_run(r, o));
        }
    };
    let result = repeat(plan, cache, opts, run_opts, &mut print_run)?;
    if json {
        let text = match (opts.runs, result.runs.first()) {
            (1, Some(only)) => serde_json::to_string_pretty(&only.result),
            _ => serde_json::to_string_pretty(&result),
        }
        .expect("results serialize");
        println!("{text}");
    } else if opts.runs > 1 {
        print!("{}", render_totals(&result));
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(class: Class) -> Finding {
        Finding::new(class, "x", vec![])
    }

    #[test]
    fn only_infrastructure_failures_are_retried() {
        let cases: &[(Outcome, &[Class], bool)] = &[
            (Outcome::Inconclusive, &[Class::NoInit], true),
            (Outcome::Inconclusive, &[Class::QemuDied], true),
            // The scheduler failed: never hidden by a retry.
            (Outcome::Fail, &[Class::SchedulerDisabled], false),
            (Outcome::Fail, &[Class::KernelPanic, Class::QemuDied], false),
            (Outcome::Fail, &[Class::GuestHung], false),
            // Could not test, but not for infrastructure reasons: a re-run gives the same answer.
            (Outcome::Inconclusive, &[Class::NoSchedExt], false),
            (
                Outcome::Inconclusive,
                &[Class::QemuDied, Class::TopologyMismatch],
                false,
            ),
            (Outcome::Pass, &[], false),
        ];
        for (outcome, classes, want) in cases {
            let findings: Vec<Finding> = classes.iter().map(|c| finding(*c)).collect();
            assert_eq!(
                is_infra_failure(*outcome, &findings),
                *want,
                "{outcome:?} {classes:?}"
            );
        }
    }
}
