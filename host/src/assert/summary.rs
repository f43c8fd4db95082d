//! Scenario results in the human-readable summary: one line per scenario,
//! one per assertion with its measured value and threshold, offenders
//! indented under a failure.

use std::fmt::Write;

use super::ScenarioResult;
use crate::finding::Outcome;

/// Offenders shown per failed assertion (all are in result.json).
const SHOWN: usize = 8;

fn word(o: Outcome) -> &'static str {
    match o {
        Outcome::Pass => "pass",
        Outcome::Fail => "FAIL",
        Outcome::Inconclusive => "CANNOT TEST",
        Outcome::Skip => "skip",
    }
}

fn value(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(x) if x.fract() == 0.0 => format!("{x:.0}"),
        Some(x) => format!("{x:.3}"),
    }
}

/// The assertions section of the summary: each scenario's, or the plain
/// workload's (empty when nothing was judged).
pub fn render<'a>(results: impl IntoIterator<Item = &'a ScenarioResult>) -> String {
    let mut s = String::new();
    for r in results {
        let what = if r.name == super::WORKLOAD && r.origin == "plain run" {
            "assertions on the workload".to_string()
        } else {
            format!("scenario {} [{}]", r.name, r.origin)
        };
        let _ = writeln!(s, "{what}: {} ({} workers)", word(r.outcome), r.workers);
        if let Some(why) = &r.not_judged {
            let _ = writeln!(
                s,
                "  not judged: the scheduler left during the scenario ({why}); see the run's findings"
            );
        }
        for a in &r.assertions {
            let _ = writeln!(
                s,
                "  {:<5} {:<17} measured {:>9} threshold {:>9} {}",
                word(a.outcome),
                a.name,
                value(a.measured),
                value(a.threshold),
                a.unit
            );
            if a.outcome == Outcome::Fail {
                for o in a.offenders.iter().take(SHOWN) {
                    let _ = writeln!(s, "        | {o}");
                }
                if a.offenders.len() > SHOWN {
                    let _ = writeln!(
                        s,
                        "        | ... {} more in result.json",
                        a.offenders.len() - SHOWN
                    );
                }
            }
        }
        for p in &r.problems {
            let _ = writeln!(s, "  problem: {p}");
        }
    }
    s
}
