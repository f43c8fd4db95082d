//! `ktstr-vm compare`: the command line, the two run plans, the runs
//! (A and B alternating, one progress line each), and the report.

use std::path::{Path, PathBuf};

use clap::Args;

use super::{metrics, CompareReport, Criteria, RunSummary, Side, SideInfo};
use crate::args::RunArgs;
use crate::artifacts::Artifacts;
use crate::cache_dir::CacheDir;
use crate::error::{Classify, Result};
use crate::exit::ExitCode;
use crate::plan::{RunPlan, RunRequest};
use crate::report::summary;
use crate::run::execute::{execute, Completed, RunOptions};
use crate::run::repeat::is_infra_failure;

/// Help text after the options.
pub const COMPARE_HELP: &str = "\
A is the run the other options describe; B is EEVDF on the same kernel unless --scheduler-b or
--kernel-b say otherwise (with only --kernel-b, B runs A's scheduler on that kernel). Runs
alternate A, B, A, B... Per scenario, throughput, workers' CPU share, p99 wake latency, max gap,
fairness spread, throughput CV and the smallest share ratio are compared with Welch's t-test (on
logarithms when all values are positive); a regression is significant (p < --alpha), worse for
A, and at least --min-effect percent of B's mean.

Exit codes: 0 no significant regression, 1 a significant regression of A against B,
125 too few runs could test, 129 usage error, 130 interrupted.";

#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    /// Runs per side
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(2..))]
    pub runs: u32,
    /// Side B's scheduler: a name, a path, or `eevdf` [default: EEVDF, or A's with --kernel-b]
    #[arg(long, value_name = "NAME|PATH")]
    pub scheduler_b: Option<String>,
    /// Arguments for side B's scheduler, as one shell-quoted string
    #[arg(long, value_name = "'ARGS'", allow_hyphen_values = true)]
    pub scheduler_b_args: Option<String>,
    /// Side B's kernel: a bzImage path or a cache key [default: A's]
    #[arg(long, value_name = "PATH|KEY")]
    pub kernel_b: Option<String>,
    /// Significance level of each metric's test
    #[arg(long, default_value_t = 0.01)]
    pub alpha: f64,
    /// Smallest change flagged, in percent of B's mean
    #[arg(long, default_value_t = 5.0, value_name = "PERCENT")]
    pub min_effect: f64,
    #[command(flatten)]
    pub run: RunArgs,
}

/// A problem with the command line (exit 129).
#[derive(Debug, thiserror::Error)]
pub enum CompareUsage {
    #[error("--alpha {0} must be between 0 and 1 (e.g. 0.01)")]
    Alpha(f64),
    #[error("--min-effect {0} must be a percentage >= 0")]
    MinEffect(f64),
    #[error("--{0} does not apply to compare (use --runs; --json prints the comparison)")]
    NotForCompare(&'static str),
    #[error("--scheduler-b-args {0:?}: unbalanced quotes")]
    BArgs(String),
    #[error("A and B are the same run: give --scheduler (A), --scheduler-b or --kernel-b")]
    Same,
    #[error(transparent)]
    Payload(#[from] crate::payload::PayloadError),
}

impl crate::exit::ExitClass for CompareUsage {
    fn exit_code(&self) -> crate::exit::ExitCode {
        crate::exit::ExitCode::Usage
    }
}

impl CompareArgs {
    fn criteria(&self) -> Result<Criteria, CompareUsage> {
        if self.alpha.is_nan() || self.alpha <= 0.0 || self.alpha >= 1.0 {
            return Err(CompareUsage::Alpha(self.alpha));
        }
        if self.min_effect.is_nan() || self.min_effect < 0.0 {
            return Err(CompareUsage::MinEffect(self.min_effect));
        }
        if self.run.repeat > 1 {
            return Err(CompareUsage::NotForCompare("repeat"));
        }
        if self.run.junit.is_some() {
            return Err(CompareUsage::NotForCompare("junit"));
        }
        Ok(Criteria {
            alpha: self.alpha,
            min_effect_pct: self.min_effect,
        })
    }

    /// A's request and B's.
    pub fn requests(&self) -> Result<(RunRequest, RunRequest), CompareUsage> {
        let a = self.run.request()?;
        let mut b = a.clone();
        b.kernel = self.kernel_b.clone().or_else(|| a.kernel.clone());
        let same_scheduler = self.scheduler_b.is_none() && self.kernel_b.is_some();
        b.scheduler = match &self.scheduler_b {
            Some(s) if s.eq_ignore_ascii_case("eevdf") => None,
            Some(s) => Some(s.clone()),
            None if same_scheduler => a.scheduler.clone(),
            None => None,
        };
        b.scheduler_args = match &self.scheduler_b_args {
            Some(text) => shlex::split(text).ok_or_else(|| CompareUsage::BArgs(text.clone()))?,
            None if same_scheduler => a.scheduler_args.clone(),
            None => Vec::new(),
        };
        if b.kernel == a.kernel
            && b.scheduler == a.scheduler
            && b.scheduler_args == a.scheduler_args
        {
            return Err(CompareUsage::Same);
        }
        Ok((a, b))
    }
}

/// Cache-key characters shown in a label.
const SHORT_KEY: usize = 12;

/// The side's scheduler and arguments, and its kernel when the sides'
/// kernels differ.
fn side_info(plan: &RunPlan, other: &RunPlan) -> SideInfo {
    let sched = plan.scheduler();
    let mut label = sched.map_or("EEVDF".to_string(), |s| s.name.clone());
    if let Some(s) = sched.filter(|s| !s.args.is_empty()) {
        label.push_str(&format!(
            " {}",
            shlex::try_join(s.args.iter().map(String::as_str)).unwrap_or_default()
        ));
    }
    if plan.kernel().image != other.kernel().image {
        let kernel = match &plan.kernel().key {
            Some(key) => format!("kernel {}", key.chars().take(SHORT_KEY).collect::<String>()),
            None => plan.kernel().image.display().to_string(),
        };
        label.push_str(&format!(" on {kernel}"));
    }
    SideInfo {
        label,
        kernel: plan.kernel().image.clone(),
        kernel_key: plan.kernel().key.clone(),
        scheduler: sched.map(|s| s.name.clone()),
        scheduler_args: sched.map(|s| s.args.clone()).unwrap_or_default(),
    }
}

/// `ktstr-vm compare`: runs both sides, prints the table (or JSON),
/// returns the exit code.
pub fn run(args: &CompareArgs, cache: &CacheDir) -> Result<ExitCode> {
    let criteria = args.criteria()?;
    let (req_a, req_b) = args.requests()?;
    let plan_a = RunPlan::new(&req_a, cache)?;
    let plan_b = RunPlan::new(&req_b, cache)?;
    let base = match &args.run.vm.artifacts {
        Some(dir) => dir.clone(),
        None => Artifacts::fresh(&cache.root().join("runs"), "compare")?
            .dir()
            .to_path_buf(),
    };
    let (info_a, info_b) = (side_info(&plan_a, &plan_b), side_info(&plan_b, &plan_a));
    let quiet = args.run.quiet;
    if !quiet {
        eprintln!(
            "ktstr-vm compare: A = {}, B = {}; {} runs each, artifacts in {}",
            info_a.label,
            info_b.label,
            args.runs,
            base.display()
        );
    }
    let mut runs = Vec::new();
    let mut interrupted = false;
    'outer: for i in 1..=args.runs {
        for (side, plan) in [(Side::A, &plan_a), (Side::B, &plan_b)] {
            let opts = RunOptions {
                quiet,
                html: args.run.html,
                ..Default::default()
            };
            let done = run_one(plan, cache, &base, (side, i), args.run.retry_infra, opts)?;
            interrupted = done.exit == ExitCode::Interrupted;
            let res = &done.result;
            let summary = RunSummary {
                side,
                run: i,
                outcome: res.outcome,
                exit_code: res.exit_code,
                wall_ms: res.wall_ms,
                classes: res.findings.iter().map(|f| f.class).collect(),
                artifacts: res.artifacts.clone(),
                metrics: metrics::of_run(res),
            };
            if !quiet {
                eprintln!(
                    "ktstr-vm compare: {side:?} {i}/{}: {}",
                    args.runs,
                    summary::one_line(res)
                );
            }
            runs.push(summary);
            if interrupted {
                break 'outer;
            }
        }
    }
    let report = CompareReport::new(info_a, info_b, args.runs, criteria, runs, interrupted);
    let json = serde_json::to_string_pretty(&report).expect("the report serializes");
    if args.run.json {
        println!("{json}");
    } else {
        print!("{}", super::render(&report));
    }
    let path = base.join("compare.json");
    std::fs::write(&path, json)
        .classify(ExitCode::Environment, format!("writing {}", path.display()))?;
    Ok(report.conclusion.exit())
}

/// One run of one side, re-run up to `retry_infra` times when only the
/// infrastructure failed (never when the kernel or scheduler did).
fn run_one(
    plan: &RunPlan,
    cache: &CacheDir,
    base: &Path,
    (side, i): (Side, u32),
    retry_infra: u32,
    opts: RunOptions,
) -> Result<Completed> {
    let quiet = opts.quiet;
    let tag = match side {
        Side::A => "a",
        Side::B => "b",
    };
    let mut attempt = 0;
    loop {
        let name: PathBuf = match attempt {
            0 => format!("{tag}-{i:02}").into(),
            n => format!("{tag}-{i:02}-retry-{n}").into(),
        };
        let done = execute(
            plan,
            cache,
            // The runs' own progress is never shown; compare prints one line each.
            RunOptions {
                quiet: true,
                artifacts: Some(base.join(name)),
                ..opts.clone()
            },
        )?;
        if attempt < retry_infra && is_infra_failure(done.result.outcome, &done.result.findings) {
            if !quiet {
                eprintln!(
                    "ktstr-vm compare: {side:?} {i}: infrastructure failure, retrying ({})",
                    done.result.artifacts.display()
                );
            }
            attempt += 1;
            continue;
        }
        return Ok(done);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct T {
        #[command(flatten)]
        c: CompareArgs,
    }

    fn parse(args: &[&str]) -> CompareArgs {
        T::try_parse_from(std::iter::once("compare").chain(args.iter().copied()))
            .unwrap()
            .c
    }

    /// (argv, B's kernel, B's scheduler, B's arguments)
    type Case<'a> = (
        &'a [&'a str],
        Option<&'a str>,
        Option<&'a str>,
        &'a [&'a str],
    );

    #[test]
    fn side_b_follows_the_flags() {
        let cases: &[Case] = &[
            (&["-s", "scx_simple"], None, None, &[]),
            (
                &[
                    "-s",
                    "scx_simple",
                    "--scheduler-b",
                    "scx_qmap",
                    "--scheduler-b-args",
                    "-e '1 0'",
                ],
                None,
                Some("scx_qmap"),
                &["-e", "1 0"],
            ),
            // Only another kernel: the same scheduler, with its arguments.
            (
                &["-s", "scx_simple", "--kernel-b", "k2", "--", "-v"],
                Some("k2"),
                Some("scx_simple"),
                &["-v"],
            ),
            (
                &[
                    "-s",
                    "scx_simple",
                    "--kernel-b",
                    "k2",
                    "--scheduler-b",
                    "EEVDF",
                ],
                Some("k2"),
                None,
                &[],
            ),
            // A may be the baseline-looking side.
            (
                &["--scheduler-b", "scx_simple"],
                None,
                Some("scx_simple"),
                &[],
            ),
        ];
        for (argv, kernel, sched, sched_args) in cases {
            let (a, b) = parse(argv).requests().unwrap();
            assert_eq!(b.kernel.as_deref(), *kernel, "{argv:?}");
            assert_eq!(b.scheduler.as_deref(), *sched, "{argv:?}");
            assert_eq!(b.scheduler_args, *sched_args, "{argv:?}");
            assert_eq!(a.scenarios, b.scenarios);
        }
    }

    #[test]
    fn usage_errors() {
        let same = parse(&["--scenario", "steady"]).requests();
        assert!(matches!(same, Err(CompareUsage::Same)), "{same:?}");
        let same = parse(&["-s", "x", "--scheduler-b", "x"]).requests();
        assert!(matches!(same, Err(CompareUsage::Same)), "{same:?}");
        let quotes = parse(&["-s", "x", "--scheduler-b-args", "'open"]).requests();
        assert!(matches!(quotes, Err(CompareUsage::BArgs(_))), "{quotes:?}");
        for (argv, want) in [
            (&["--alpha", "0"][..], "--alpha 0"),
            (&["--alpha", "1.5"], "--alpha 1.5"),
            (&["--min-effect=-1"], "--min-effect -1"),
            (&["--repeat", "3"], "--repeat"),
            (&["--junit", "j.xml"], "--junit"),
        ] {
            let err = parse(argv).criteria().unwrap_err().to_string();
            assert!(err.starts_with(want), "{argv:?}: {err}");
        }
        let ok = parse(&["--alpha", "0.05", "--min-effect", "0"])
            .criteria()
            .unwrap();
        assert_eq!((ok.alpha, ok.min_effect_pct), (0.05, 0.0));
        assert!(
            T::try_parse_from(["compare", "--runs", "1"]).is_err(),
            "one run per side cannot be tested"
        );
    }
}
