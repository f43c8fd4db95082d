//! The human-readable comparison: a header naming A and B and the test,
//! one table row per metric, the failed-run counts, and the conclusion.

use std::fmt::Write;

use super::{Better, Change, CompareReport, MetricComparison};

/// A number with about four significant digits.
fn num(x: f64) -> String {
    let a = x.abs();
    if a >= 1000.0 {
        format!("{x:.0}")
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.3}")
    }
}

fn row(m: &MetricComparison) -> [String; 8] {
    let arrow = match m.better {
        Better::Higher => "^",
        Better::Lower => "v",
    };
    [
        m.scenario.clone(),
        format!("{} {arrow}", m.metric),
        format!("{} ± {}", num(m.a.mean), num(m.a.sd)),
        format!("{} ± {}", num(m.b.mean), num(m.b.sd)),
        m.delta_pct.map_or("-".into(), |d| format!("{d:+.1}%")),
        m.welch.map_or("n/a".into(), |w| format!("{:.4}", w.p)),
        if m.significant { "yes" } else { "no" }.into(),
        match m.change {
            Change::Regression => "REGRESSION".into(),
            Change::Improvement => "improvement".into(),
            Change::None => String::new(),
        },
    ]
}

/// The whole report as text.
pub fn render(r: &CompareReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "ktstr-vm compare: A = {}, B = {}; {} runs each",
        r.a.label, r.b.label, r.runs_per_side
    );
    let _ = writeln!(
        s,
        "test: Welch's t-test, two-sided, alpha {}; a regression is significant, worse for A, and |delta| >= {}%",
        r.criteria.alpha, r.criteria.min_effect_pct
    );
    let _ = writeln!(
        s,
        "(^ higher is better, v lower is better; mean ± sd over usable runs)\n"
    );
    let header = [
        "scenario",
        "metric",
        "A mean ± sd",
        "B mean ± sd",
        "delta",
        "p",
        "significant",
        "regression?",
    ];
    let rows: Vec<[String; 8]> = r.metrics.iter().map(row).collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for cells in &rows {
        for (w, c) in widths.iter_mut().zip(cells) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut l = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            let pad = w - c.chars().count();
            // Names left-aligned, numbers right-aligned.
            if i < 2 || i == 7 {
                l.push_str(&format!("{c}{}  ", " ".repeat(pad)));
            } else {
                l.push_str(&format!("{}{c}  ", " ".repeat(pad)));
            }
        }
        l.trim_end().to_string()
    };
    let _ = writeln!(s, "{}", line(&header.map(String::from)));
    for cells in &rows {
        let _ = writeln!(s, "{}", line(cells));
    }
    if rows.is_empty() {
        let _ = writeln!(s, "(no metric was measured on both sides)");
    }
    let f = &r.failures;
    let _ = writeln!(
        s,
        "\nfailed runs: A {} of {}, B {} of {} (Fisher's exact p {:.4}){}",
        f.a_failed,
        f.a_usable,
        f.b_failed,
        f.b_usable,
        f.p_value,
        if f.regression { ": REGRESSION" } else { "" }
    );
    let skipped = r.runs.iter().filter(|x| !x.usable()).count();
    if skipped > 0 {
        let _ = writeln!(s, "runs that could not test (left out): {skipped}");
    }
    let _ = writeln!(
        s,
        "ktstr-vm compare: {}\nexit code: {}",
        r.reason, r.exit_code
    );
    s
}
