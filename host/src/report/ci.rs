//! Native CI outputs: JUnit XML (what test-report actions read) and, on
//! GitHub Actions, a markdown job summary plus `::error` annotations.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::{summary, RunResult};
use crate::finding::Outcome;

/// A short name for the run: scheduler @ kernel [topology].
pub fn case_name(r: &RunResult) -> String {
    let sched = r.scheduler.as_ref().map_or("eevdf", |s| s.name.as_str());
    let kernel = r.kernel.release.as_deref().unwrap_or("unknown-kernel");
    format!("{sched}@{kernel} [{} vCPUs]", r.topology.vcpus)
}

/// One JUnit test case per run; findings become the failure message and
/// their evidence the description.
pub fn junit(results: &[RunResult]) -> String {
    let mut suite = TestSuite::new("ktstr-vm");
    for r in results {
        let mut status = match r.outcome {
            Outcome::Pass => TestCaseStatus::success(),
            Outcome::Skip => TestCaseStatus::skipped(),
            Outcome::Fail => TestCaseStatus::non_success(NonSuccessKind::Failure),
            Outcome::Inconclusive => TestCaseStatus::non_success(NonSuccessKind::Error),
        };
        if let Some(first) = r.findings.first() {
            if matches!(status, TestCaseStatus::NonSuccess { .. }) {
                status.set_message(format!("{}: {}", first.class.name(), first.message));
                status.set_type(first.class.name());
                let body: Vec<String> = r
                    .findings
                    .iter()
                    .flat_map(|f| {
                        std::iter::once(format!("{}: {}", f.class.name(), f.message))
                            .chain(f.evidence.iter().cloned())
                    })
                    .collect();
                status.set_description(body.join("\n"));
            }
        }
        let mut case = TestCase::new(case_name(r), status);
        case.set_time(Duration::from_millis(r.wall_ms));
        case.set_system_out(summary::render(r));
        suite.add_test_case(case);
    }
    let mut report = Report::new("ktstr-vm");
    report.add_test_suite(suite);
    report.to_string().unwrap_or_default()
}

/// Writes the JUnit file.
pub fn write_junit(path: &Path, results: &[RunResult]) -> std::io::Result<()> {
    std::fs::write(path, junit(results))
}

/// Markdown for `$GITHUB_STEP_SUMMARY`.
pub fn step_summary(r: &RunResult) -> String {
    let mut s = format!(
        "### ktstr-vm: {} {}\n\n",
        summary::outcome_word(r.outcome),
        case_name(r)
    );
    if r.findings.is_empty() {
        s.push_str("All checks passed.\n");
    }
    for f in &r.findings {
        s.push_str(&format!("- **{}** {}\n", f.class.name(), f.message));
        if !f.evidence.is_empty() {
            s.push_str("\n  ```\n");
            for line in f.evidence.iter().take(20) {
                s.push_str(&format!("  {line}\n"));
            }
            s.push_str("  ```\n");
        }
    }
    s.push_str(&format!("\nArtifacts: `{}`\n", r.artifacts.display()));
    s
}

/// `::error title=..::message` lines, one per failing finding. Newlines and
/// `%` are escaped as the workflow-command syntax requires.
pub fn annotations(r: &RunResult) -> Vec<String> {
    let esc = |s: &str| {
        s.replace('%', "%25")
            .replace('\r', "%0D")
            .replace('\n', "%0A")
    };
    r.findings
        .iter()
        .filter(|f| f.outcome >= Outcome::Inconclusive)
        .map(|f| {
            let level = if f.outcome == Outcome::Fail {
                "error"
            } else {
                "warning"
            };
            format!(
                "::{level} title=ktstr-vm {}::{}",
                esc(&f.class.name()).replace([':', ','], " "),
                esc(&format!("{}: {}", case_name(r), f.message))
            )
        })
        .collect()
}

/// On GitHub Actions (`GITHUB_ACTIONS=true`): append the step summary and
/// print annotations on stderr. Elsewhere: nothing.
pub fn github(r: &RunResult) {
    if std::env::var("GITHUB_ACTIONS").as_deref() != Ok("true") {
        return;
    }
    if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY") {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
        {
            let _ = f.write_all(step_summary(r).as_bytes());
        }
    }
    for line in annotations(r) {
        eprintln!("{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::{Class, Finding};
    use crate::qemu::accel::{Accel, AccelChoice};
    use crate::report::{KernelInfo, TopologyInfo};

    fn result(findings: Vec<Finding>) -> RunResult {
        let outcome = findings
            .iter()
            .map(|f| f.outcome)
            .max()
            .unwrap_or(Outcome::Pass);
        RunResult {
            schema: 1,
            outcome,
            exit_code: 0,
            findings,
            kernel: KernelInfo {
                image: "/k".into(),
                cache_key: None,
                release: Some("6.12.117".into()),
            },
            scheduler: None,
            accel: AccelChoice {
                accel: Accel::Tcg,
                reason: "test".into(),
            },
            topology: TopologyInfo {
                vcpus: 4,
                expected: Default::default(),
                observed: None,
            },
            duration_ms: 1000,
            wall_ms: 3000,
            timeline: vec![],
            workers: vec![],
            payloads: vec![],
            scenarios: vec![],
            workload: None,
            artifacts: "/a".into(),
            trace: None,
        }
    }

    #[test]
    fn junit_has_one_case_with_failure_details() {
        let f = Finding::new(
            Class::SchedulerDisabled,
            "the kernel disabled \"qmap\" <x>",
            vec!["line & 1".into()],
        );
        let xml = junit(&[result(vec![f]), result(vec![])]);
        assert!(xml.contains("tests=\"2\""), "{xml}");
        assert!(xml.contains("failures=\"1\""), "{xml}");
        assert!(xml.contains("eevdf@6.12.117 [4 vCPUs]"));
        assert!(
            xml.contains("&lt;x&gt;") && xml.contains("line &amp; 1"),
            "escaped: {xml}"
        );
    }

    #[test]
    fn annotations_escape_newlines_and_skip_passes() {
        let f = Finding::new(Class::GuestHung, "hung\nfor 50% of it", vec![]);
        let a = annotations(&result(vec![f]));
        assert_eq!(a.len(), 1);
        assert!(
            a[0].starts_with("::error title=ktstr-vm guest-hung::"),
            "{}",
            a[0]
        );
        assert!(a[0].contains("hung%0Afor 50%25 of it"), "{}", a[0]);
        assert!(annotations(&result(vec![])).is_empty());
        let md = step_summary(&result(vec![]));
        assert!(md.contains("PASS") && md.contains("All checks passed"));
    }
}
