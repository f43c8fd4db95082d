//! The statistics `compare` needs, written out because they are short:
//! a sample summary, Welch's unequal-variance t-test (two-sided p-value
//! from the Student-t distribution through the regularized incomplete
//! beta function), and Fisher's exact test for failure counts.
//!
//! Welch rather than Student: A and B need not have the same variance
//! (one scheduler can be much noisier than the other under TCG).

use serde::Serialize;

/// Mean, spread and range of one metric over a side's runs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Sample {
    pub n: usize,
    pub mean: f64,
    /// Sample standard deviation (n - 1); 0 with one value.
    pub sd: f64,
    pub min: f64,
    pub max: f64,
}

impl Sample {
    /// None for no values.
    pub fn of(values: &[f64]) -> Option<Sample> {
        let n = values.len();
        if n == 0 {
            return None;
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        let var = if n > 1 {
            values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64
        } else {
            0.0
        };
        Some(Sample {
            n,
            mean,
            sd: var.sqrt(),
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        })
    }

    fn var_of_mean(&self) -> f64 {
        self.sd * self.sd / self.n as f64
    }
}

/// Welch's t statistic, its degrees of freedom and the two-sided p-value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Welch {
    pub t: f64,
    pub df: f64,
    pub p: f64,
}

/// Welch's t-test of `a` against `b`; None when a side has fewer than two
/// values (no variance estimate). When both sides have no spread at all,
/// equal means give p = 1 and different means p = 0.
pub fn welch(a: &Sample, b: &Sample) -> Option<Welch> {
    if a.n < 2 || b.n < 2 {
        return None;
    }
    let (va, vb) = (a.var_of_mean(), b.var_of_mean());
    let se2 = va + vb;
    let diff = a.mean - b.mean;
    if se2 == 0.0 {
        let (t, p) = if diff == 0.0 {
            (0.0, 1.0)
        } else {
            (diff.signum() * f64::INFINITY, 0.0)
        };
        return Some(Welch {
            t,
            df: (a.n + b.n - 2) as f64,
            p,
        });
    }
    let t = diff / se2.sqrt();
    let df = se2 * se2 / (va * va / (a.n - 1) as f64 + vb * vb / (b.n - 1) as f64);
    Some(Welch {
        t,
        df,
        p: student_t_two_sided(t, df),
    })
}

/// P(|T| >= |t|) for Student's t with `df` degrees of freedom.
pub fn student_t_two_sided(t: f64, df: f64) -> f64 {
    if !t.is_finite() {
        return 0.0;
    }
    inc_beta(df / (df + t * t), df / 2.0, 0.5).clamp(0.0, 1.0)
}

/// One-sided Fisher's exact test: the probability of `a_fail` or more
/// failures among A's `a_n` runs when `a_fail + b_fail` failures fall at
/// random among all `a_n + b_n` runs.
pub fn fisher_more_failures(a_fail: usize, a_n: usize, b_fail: usize, b_n: usize) -> f64 {
    let (n, k) = (a_n + b_n, a_fail + b_fail);
    let total = ln_choose(n, a_n);
    let p: f64 = (a_fail..=k.min(a_n))
        .filter(|&x| k - x <= b_n)
        .map(|x| (ln_choose(k, x) + ln_choose(n - k, a_n - x) - total).exp())
        .sum();
    p.clamp(0.0, 1.0)
}

fn ln_choose(n: usize, k: usize) -> f64 {
    ln_gamma(n as f64 + 1.0) - ln_gamma(k as f64 + 1.0) - ln_gamma((n - k) as f64 + 1.0)
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7, 9 terms: ~15 significant digits).
fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x)Γ(1-x) = π / sin(πx).
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let t = x + 7.5;
    let sum = G[1..]
        .iter()
        .enumerate()
        .fold(G[0], |s, (i, g)| s + g / (x + i as f64 + 1.0));
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

/// The regularized incomplete beta function I_x(a, b).
fn inc_beta(x: f64, a: f64, b: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    // The continued fraction converges fast on this side; use symmetry otherwise.
    if x < (a + 1.0) / (a + b + 2.0) {
        ln_front.exp() * beta_cf(x, a, b) / a
    } else {
        1.0 - ln_front.exp() * beta_cf(1.0 - x, b, a) / b
    }
}

/// Lentz's continued fraction for the incomplete beta function.
fn beta_cf(x: f64, a: f64, b: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let mut c = 1.0;
    let mut d = 1.0 - (a + b) * x / (a + 1.0);
    d = 1.0 / if d.abs() < TINY { TINY } else { d };
    let mut h = d;
    for m in 1..300 {
        let m = m as f64;
        let m2 = 2.0 * m;
        for num in [
            m * (b - m) * x / ((a + m2 - 1.0) * (a + m2)),
            -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0)),
        ] {
            d = 1.0 + num * d;
            d = 1.0 / if d.abs() < TINY { TINY } else { d };
            c = 1.0 + num / c;
            if c.abs() < TINY {
                c = TINY;
            }
            h *= d * c;
            if (d * c - 1.0).abs() < 1e-15 {
                return h;
            }
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn sample_summary() {
        let s = Sample::of(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]).unwrap();
        assert_eq!((s.n, s.mean, s.min, s.max), (8, 5.0, 2.0, 9.0));
        assert!(close(s.sd, (32.0f64 / 7.0).sqrt(), 1e-12));
        assert_eq!(Sample::of(&[3.0]).unwrap().sd, 0.0);
        assert!(Sample::of(&[]).is_none());
    }

    #[test]
    fn student_t_matches_tables() {
        // Two-sided critical values: (t, df, p).
        let table = [
            (12.706, 1.0, 0.05),
            (4.303, 2.0, 0.05),
            (2.776, 4.0, 0.05),
            (2.228, 10.0, 0.05),
            (3.169, 10.0, 0.01),
            (1.960, 1e6, 0.05),
            (0.0, 5.0, 1.0),
        ];
        for (t, df, p) in table {
            let got = student_t_two_sided(t, df);
            assert!(close(got, p, 5e-4), "t={t} df={df}: p {got}, want {p}");
            assert!(close(student_t_two_sided(-t, df), got, 1e-12));
        }
    }

    #[test]
    fn identical_samples_are_not_significant() {
        let a = Sample::of(&[10.0, 11.0, 9.0, 10.5, 9.5]).unwrap();
        let w = welch(&a, &a).unwrap();
        assert_eq!(w.t, 0.0);
        assert!(close(w.p, 1.0, 1e-12));
        let flat = Sample::of(&[3.0, 3.0]).unwrap();
        assert_eq!(welch(&flat, &flat).unwrap().p, 1.0);
    }

    #[test]
    fn overlapping_noisy_samples_are_not_significant() {
        let a = Sample::of(&[100.0, 130.0, 90.0, 120.0, 110.0]).unwrap();
        let b = Sample::of(&[105.0, 125.0, 95.0, 115.0, 100.0]).unwrap();
        assert!(welch(&a, &b).unwrap().p > 0.5);
    }

    #[test]
    fn clearly_separated_samples_are_significant() {
        let a = Sample::of(&[10.0, 10.2, 9.9, 10.1, 10.0]).unwrap();
        let b = Sample::of(&[12.0, 12.1, 11.8, 12.2, 11.9]).unwrap();
        let w = welch(&a, &b).unwrap();
        assert!(w.t < 0.0 && w.p < 1e-6, "{w:?}");
        let flat_a = Sample::of(&[1.0, 1.0]).unwrap();
        let flat_b = Sample::of(&[2.0, 2.0]).unwrap();
        assert_eq!(welch(&flat_a, &flat_b).unwrap().p, 0.0);
    }

    #[test]
    fn welch_with_unequal_variances() {
        // By hand: var-of-means 2.5/5 = 0.5 and 4/3; se^2 = 11/6;
        // t = -1 / sqrt(11/6); df = (11/6)^2 / (0.5^2/4 + (4/3)^2/2).
        let a = Sample::of(&[1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
        let b = Sample::of(&[2.0, 4.0, 6.0]).unwrap();
        let w = welch(&a, &b).unwrap();
        assert!(close(w.t, -1.0 / (11.0f64 / 6.0).sqrt(), 1e-12), "{w:?}");
        let df = (11.0f64 / 6.0).powi(2) / (0.25 / 4.0 + (16.0 / 9.0) / 2.0);
        assert!(close(w.df, df, 1e-12), "{w:?}");
        assert!(w.p > 0.4 && w.p < 0.6, "{w:?}");
    }

    #[test]
    fn one_value_cannot_be_tested() {
        let a = Sample::of(&[1.0]).unwrap();
        let b = Sample::of(&[2.0, 3.0]).unwrap();
        assert!(welch(&a, &b).is_none());
    }

    #[test]
    fn fisher_exact() {
        // 5 of 5 failures against 0 of 5: only one arrangement of 252.
        assert!(close(fisher_more_failures(5, 5, 0, 5), 1.0 / 252.0, 1e-12));
        // 3 of 5 against 0 of 5: C(5,3)/C(10,3) = 10/120.
        assert!(close(fisher_more_failures(3, 5, 0, 5), 10.0 / 120.0, 1e-12));
        // No failures anywhere, or fewer in A: nothing to see.
        assert!(close(fisher_more_failures(0, 5, 0, 5), 1.0, 1e-12));
        assert!(fisher_more_failures(0, 5, 3, 5) > 0.99);
    }
}
