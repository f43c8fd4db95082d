//! The comparison on synthetic runs: what is flagged and what is not.

use super::*;

fn metric(name: &str, better: Better, value: f64) -> Metric {
    Metric {
        scenario: "steady".into(),
        name: name.into(),
        unit: "u",
        better,
        value,
    }
}

/// A run with a throughput (higher is better) and a max gap (lower is better).
fn run(side: Side, i: u32, outcome: Outcome, throughput: f64, gap: f64) -> RunSummary {
    RunSummary {
        side,
        run: i,
        outcome,
        exit_code: 0,
        wall_ms: 1000,
        classes: vec![],
        artifacts: PathBuf::from("x"),
        metrics: vec![
            metric("throughput", Better::Higher, throughput),
            metric("max_gap", Better::Lower, gap),
        ],
    }
}

fn runs(a: &[(f64, f64)], b: &[(f64, f64)]) -> Vec<RunSummary> {
    let side = |s: Side, v: &[(f64, f64)]| -> Vec<RunSummary> {
        v.iter()
            .enumerate()
            .map(|(i, &(t, g))| run(s, i as u32 + 1, Outcome::Pass, t, g))
            .collect()
    };
    [side(Side::A, a), side(Side::B, b)].concat()
}

fn info(label: &str) -> SideInfo {
    SideInfo {
        label: label.into(),
        kernel: PathBuf::from("bzImage"),
        kernel_key: None,
        scheduler: None,
        scheduler_args: vec![],
    }
}

fn report(runs: Vec<RunSummary>) -> CompareReport {
    CompareReport::new(
        info("scx_x"),
        info("EEVDF"),
        5,
        Criteria::default(),
        runs,
        false,
    )
}

fn change(r: &CompareReport, name: &str) -> Change {
    r.metrics.iter().find(|m| m.metric == name).unwrap().change
}

#[test]
fn synthetic_regression_is_flagged() {
    // A does 20% less work and waits 4x longer, consistently.
    let r = report(runs(
        &[
            (800.0, 40.0),
            (810.0, 42.0),
            (795.0, 39.0),
            (805.0, 41.0),
            (790.0, 40.0),
        ],
        &[
            (1000.0, 10.0),
            (1010.0, 11.0),
            (990.0, 9.0),
            (1005.0, 10.0),
            (995.0, 10.5),
        ],
    ));
    assert_eq!(change(&r, "throughput"), Change::Regression);
    assert_eq!(change(&r, "max_gap"), Change::Regression);
    let t = r.metrics.iter().find(|m| m.metric == "throughput").unwrap();
    assert!((t.delta_pct.unwrap() - -20.0).abs() < 0.5, "{t:?}");
    assert_eq!(
        (r.regressions, r.conclusion, r.exit_code),
        (2, Conclusion::Regression, 1)
    );
    let text = render(&r);
    assert!(
        text.contains("REGRESSION")
            && text.contains("throughput ^")
            && text.contains("exit code: 1"),
        "{text}"
    );
}

#[test]
fn the_same_improvement_is_not_a_regression() {
    // Swap the sides: A is now better on both.
    let r = report(runs(
        &[
            (1000.0, 10.0),
            (1010.0, 11.0),
            (990.0, 9.0),
            (1005.0, 10.0),
            (995.0, 10.5),
        ],
        &[
            (800.0, 40.0),
            (810.0, 42.0),
            (795.0, 39.0),
            (805.0, 41.0),
            (790.0, 40.0),
        ],
    ));
    assert_eq!(change(&r, "throughput"), Change::Improvement);
    assert_eq!(change(&r, "max_gap"), Change::Improvement);
    assert_eq!((r.conclusion, r.exit_code), (Conclusion::NoRegression, 0));
}

#[test]
fn noise_is_not_flagged() {
    // Overlapping noisy samples with a 6% lower mean for A.
    let r = report(runs(
        &[
            (900.0, 30.0),
            (1100.0, 12.0),
            (850.0, 25.0),
            (1050.0, 9.0),
            (800.0, 20.0),
        ],
        &[
            (1000.0, 10.0),
            (950.0, 35.0),
            (1150.0, 15.0),
            (900.0, 22.0),
            (1000.0, 18.0),
        ],
    ));
    assert!(
        r.metrics
            .iter()
            .all(|m| m.change == Change::None && !m.significant),
        "{:?}",
        r.metrics
    );
    assert_eq!(r.conclusion, Conclusion::NoRegression);
}

#[test]
fn significant_but_tiny_changes_are_not_flagged() {
    // 1% less throughput with almost no spread: significant, below --min-effect.
    let r = report(runs(
        &[(990.0, 10.0), (990.1, 10.0), (989.9, 10.0)],
        &[(1000.0, 10.0), (1000.1, 10.0), (999.9, 10.0)],
    ));
    let t = r.metrics.iter().find(|m| m.metric == "throughput").unwrap();
    assert!(t.significant && t.change == Change::None, "{t:?}");
    // Identical samples: nothing at all.
    let gap = r.metrics.iter().find(|m| m.metric == "max_gap").unwrap();
    assert!(!gap.significant && gap.welch.unwrap().p == 1.0);
    assert_eq!(r.conclusion, Conclusion::NoRegression);
}

#[test]
fn failed_runs_count_as_a_regression_only_when_they_are_not_noise() {
    let mut v = runs(&[(1000.0, 10.0); 5], &[(1000.0, 10.0); 5]);
    // One failure in five: could be a flake.
    v[0].outcome = Outcome::Fail;
    let r = report(v.clone());
    assert!(!r.failures.regression);
    assert_eq!(r.conclusion, Conclusion::NoRegression);
    // Every A run failed, no B run: a regression even at small N.
    for x in v.iter_mut().filter(|x| x.side == Side::A) {
        x.outcome = Outcome::Fail;
    }
    let r = report(v);
    assert!(r.failures.regression && r.failures.p_value < 0.01);
    assert_eq!((r.conclusion, r.exit_code), (Conclusion::Regression, 1));
    let mut two = runs(&[(1.0, 1.0); 2], &[(1.0, 1.0); 2]);
    two[0].outcome = Outcome::Fail;
    two[1].outcome = Outcome::Fail;
    assert!(report(two).failures.regression, "2 of 2 against 0 of 2");
}

#[test]
fn runs_that_could_not_test_are_left_out() {
    let mut v = runs(
        &[(1.0, 1.0), (500.0, 500.0), (1.1, 1.0)],
        &[(1.0, 1.0), (1.05, 1.0), (1.0, 1.1)],
    );
    // The outlier run could not test: it must not weigh in.
    v[1].outcome = Outcome::Inconclusive;
    let r = report(v.clone());
    assert!(
        r.metrics.iter().all(|m| m.a.n == 2 && m.a.max < 2.0),
        "{:?}",
        r.metrics
    );
    // Only one usable A run: cannot test.
    v[0].outcome = Outcome::Inconclusive;
    let r = report(v);
    assert_eq!((r.conclusion, r.exit_code), (Conclusion::CannotTest, 125));
    assert!(r.reason.contains("too few runs"), "{}", r.reason);
}

#[test]
fn interrupted_and_metricless_comparisons() {
    let v = runs(&[(1.0, 1.0); 2], &[(1.0, 1.0); 2]);
    let r = CompareReport::new(
        info("a"),
        info("b"),
        2,
        Criteria::default(),
        v.clone(),
        true,
    );
    assert_eq!((r.conclusion, r.exit_code), (Conclusion::Interrupted, 130));
    let bare: Vec<RunSummary> = v
        .into_iter()
        .map(|x| RunSummary {
            metrics: vec![],
            ..x
        })
        .collect();
    let r = report(bare);
    assert_eq!(r.conclusion, Conclusion::CannotTest);
    assert!(render(&r).contains("no metric was measured"));
}

#[test]
fn metrics_only_one_side_measured_are_not_compared() {
    let mut v = runs(&[(1.0, 1.0); 2], &[(1.0, 1.0); 2]);
    v[0].metrics.push(metric("wake_p99", Better::Lower, 5.0));
    v[1].metrics.push(metric("wake_p99", Better::Lower, 6.0));
    let r = report(v);
    assert!(r.metrics.iter().all(|m| m.metric != "wake_p99"));
}

#[test]
fn skewed_metrics_are_tested_on_logarithms() {
    // Fairness spreads measured here: EEVDF (A) against scx_simple (B) on
    // `steady`, five runs each. A few-fold difference that the linear test
    // misses at alpha 0.01 (p 0.028) and the log test finds (p 0.005).
    let a = [0.1855, 0.1113, 0.0323, 0.1395, 0.0821];
    let b = [0.0423, 0.0304, 0.0134, 0.022, 0.0142];
    let v: Vec<RunSummary> = a
        .iter()
        .map(|x| (Side::A, x))
        .chain(b.iter().map(|x| (Side::B, x)))
        .enumerate()
        .map(|(i, (side, x))| RunSummary {
            metrics: vec![metric("fairness_spread", Better::Lower, *x)],
            ..run(side, i as u32, Outcome::Pass, 1.0, 1.0)
        })
        .collect();
    let r = report(v.clone());
    let m = r
        .metrics
        .iter()
        .find(|m| m.metric == "fairness_spread")
        .unwrap();
    assert!(m.log_scale && m.welch.unwrap().p < 0.01, "{m:?}");
    assert_eq!(m.change, Change::Regression);
    // A zero keeps the test linear: then it is not significant.
    let mut with_zero = v;
    with_zero[0].metrics[0].value = 0.0;
    let r = report(with_zero);
    let m = r
        .metrics
        .iter()
        .find(|m| m.metric == "fairness_spread")
        .unwrap();
    assert!(!m.log_scale && m.welch.unwrap().p > 0.01, "{m:?}");
}
