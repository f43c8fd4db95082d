//! What a matrix tells CI: JUnit (one test case per cell), JSON (every
//! cell's result), and on GitHub Actions a step-summary table (kernel and
//! topology by scheduler, with each cell's outcome and failure class) plus
//! an `::error` annotation per failed cell.

use std::collections::BTreeSet;
use std::io::Write;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use serde::Serialize;

use super::result::{CellResult, Status};
use crate::report::summary;

/// `--json` and `matrix.json`.
#[derive(Debug, Serialize)]
pub struct MatrixReport<'a> {
    pub schema: u32,
    pub exit_code: i32,
    pub passed: usize,
    pub failed: usize,
    pub cannot_test: usize,
    pub skipped: usize,
    pub errors: usize,
    pub cells: &'a [CellResult],
}

impl<'a> MatrixReport<'a> {
    pub fn new(cells: &'a [CellResult], exit_code: i32) -> MatrixReport<'a> {
        let count = |s: Status| cells.iter().filter(|c| c.status == s).count();
        MatrixReport {
            schema: 1,
            exit_code,
            passed: count(Status::Pass),
            failed: count(Status::Fail),
            cannot_test: count(Status::CannotTest),
            skipped: count(Status::Skipped),
            errors: count(Status::Error),
            cells,
        }
    }
}

/// One JUnit test case per cell, grouped by kernel (the class name):
/// the failure class and message as the failure message, the findings'
/// evidence and the run summary in system-out, skipped cells skipped.
pub fn junit(results: &[CellResult]) -> String {
    let mut suite = TestSuite::new("ktstr-vm matrix");
    for r in results {
        let mut status = match r.status {
            Status::Pass => TestCaseStatus::success(),
            Status::Skipped => {
                let mut s = TestCaseStatus::skipped();
                if let Some(why) = &r.reason {
                    s.set_message(why.clone());
                }
                s
            }
            Status::Fail => TestCaseStatus::non_success(NonSuccessKind::Failure),
            Status::CannotTest | Status::Error => {
                TestCaseStatus::non_success(NonSuccessKind::Error)
            }
        };
        let mut out = String::new();
        if let (TestCaseStatus::NonSuccess { .. }, Some(res)) = (&status, &r.result) {
            if let Some(first) = res.findings.first() {
                status.set_message(format!("{}: {}", first.class.name(), first.message));
                status.set_type(first.class.name());
            }
            for f in &res.findings {
                out.push_str(&format!("{}: {}\n", f.class.name(), f.message));
                for e in &f.evidence {
                    out.push_str(&format!("  {e}\n"));
                }
            }
        }
        if let (TestCaseStatus::NonSuccess { .. }, None, Some(why)) =
            (&status, &r.result, &r.reason)
        {
            status.set_message(why.clone());
            status.set_type("cell-error");
        }
        if let Some(res) = &r.result {
            out.push_str(&summary::render(res));
        }
        out.push_str(&format!("artifacts: {}\n", r.artifacts.display()));
        let name = match &r.cell.scenarios[..] {
            [] => format!("{} [{}]", r.cell.scheduler_label(), r.cell.topology),
            s => format!(
                "{} [{}] {}",
                r.cell.scheduler_label(),
                r.cell.topology,
                s.join(",")
            ),
        };
        let mut case = TestCase::new(name, status);
        case.set_classname(r.cell.kernel.clone());
        if let Some(res) = &r.result {
            case.set_time(Duration::from_millis(res.wall_ms));
        }
        case.set_system_out(out);
        suite.add_test_case(case);
    }
    let mut report = Report::new("ktstr-vm");
    report.add_test_suite(suite);
    report.to_string().unwrap_or_default()
}

/// `PASS`, `FAIL scheduler-disabled`, `SKIP (excluded: why)`...
fn cell_word(r: &CellResult) -> String {
    let class = r
        .result
        .as_ref()
        .and_then(|res| {
            res.findings
                .iter()
                .find(|f| f.outcome > crate::finding::Outcome::Pass)
        })
        .map(|f| format!(" `{}`", f.class.name()))
        .unwrap_or_default();
    match r.status {
        Status::Pass => "✅ pass".into(),
        Status::Fail => format!("❌ fail{class}"),
        Status::CannotTest => format!("⚠️ cannot test{class}"),
        Status::Skipped => format!("⏭️ skip ({})", r.reason.as_deref().unwrap_or("")),
        Status::Error => format!("💥 error ({})", r.reason.as_deref().unwrap_or("")),
    }
}

/// Markdown for `$GITHUB_STEP_SUMMARY`: a row per kernel, topology and
/// scenario, a column per scheduler.
pub fn step_summary(results: &[CellResult], exit_code: i32) -> String {
    let report = MatrixReport::new(results, exit_code);
    let mut s = format!(
        "### ktstr-vm matrix: {} passed, {} failed, {} cannot test, {} skipped, {} errors (exit {exit_code})\n\n",
        report.passed, report.failed, report.cannot_test, report.skipped, report.errors
    );
    let mut scheds: Vec<String> = Vec::new();
    for r in results {
        let l = r.cell.scheduler_label();
        if !scheds.contains(&l) {
            scheds.push(l);
        }
    }
    let mut rows: Vec<(String, String, String)> = Vec::new();
    let mut seen = BTreeSet::new();
    for r in results {
        let key = (
            r.cell.kernel.clone(),
            r.cell.topology.clone(),
            r.cell.scenarios.join(","),
        );
        if seen.insert(key.clone()) {
            rows.push(key);
        }
    }
    let cell_md = |t: &str| t.replace('|', "\\|").replace('\n', " ");
    s.push_str("| kernel | topology | scenario |");
    for sc in &scheds {
        s.push_str(&format!(" {} |", cell_md(sc)));
    }
    s.push_str("\n|---|---|---|");
    s.push_str(&"---|".repeat(scheds.len()));
    s.push('\n');
    for (k, t, x) in &rows {
        let x_shown = if x.is_empty() { "workload" } else { x.as_str() };
        s.push_str(&format!(
            "| {} | {} | {} |",
            cell_md(k),
            cell_md(t),
            cell_md(x_shown)
        ));
        for sc in &scheds {
            let found = results.iter().find(|r| {
                &r.cell.kernel == k
                    && &r.cell.topology == t
                    && &r.cell.scenarios.join(",") == x
                    && &r.cell.scheduler_label() == sc
            });
            let text = found.map_or(String::new(), cell_word);
            s.push_str(&format!(" {} |", cell_md(&text)));
        }
        s.push('\n');
    }
    s
}

/// `::error` for each failed cell, `::warning` for cells that could not
/// test or start.
pub fn annotations(results: &[CellResult]) -> Vec<String> {
    let esc = |s: &str| {
        s.replace('%', "%25")
            .replace('\r', "%0D")
            .replace('\n', "%0A")
    };
    results
        .iter()
        .filter(|r| matches!(r.status, Status::Fail | Status::CannotTest | Status::Error))
        .map(|r| {
            let level = if r.status == Status::Fail {
                "error"
            } else {
                "warning"
            };
            let what = r
                .result
                .as_ref()
                .and_then(|res| res.findings.first())
                .map(|f| format!("{}: {}", f.class.name(), f.message))
                .or_else(|| r.reason.clone())
                .unwrap_or_default();
            format!(
                "::{level} title=ktstr-vm {}::{}",
                esc(&r.cell.label()).replace([':', ','], " "),
                esc(&what)
            )
        })
        .collect()
}

/// On GitHub Actions: append the table to the step summary and print the
/// annotations on stderr. Elsewhere: nothing.
pub fn github(results: &[CellResult], exit_code: i32) {
    if std::env::var("GITHUB_ACTIONS").as_deref() != Ok("true") {
        return;
    }
    if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY") {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
        {
            let _ = f.write_all(step_summary(results, exit_code).as_bytes());
        }
    }
    for line in annotations(results) {
        eprintln!("{line}");
    }
}

#[cfg(test)]
#[path = "output_tests.rs"]
mod tests;
