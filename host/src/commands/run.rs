//! `ktstr-vm run` (and the bare `ktstr-vm --scheduler ...`): one run, or
//! `--repeat`/`--retry-infra` runs, with the summary or `--json` on stdout,
//! `--junit`, and the GitHub Actions outputs.

use crate::args::RunArgs;
use crate::cache_dir::CacheDir;
use crate::error::{Classify, Result};
use crate::exit::ExitCode;
use crate::plan::RunPlan;
use crate::report::{ci, summary};
use crate::run::execute::{execute, RunOptions};
use crate::run::repeat::{self, RepeatOptions};

/// Runs what `args` ask for; returns the exit code of the verdict.
pub fn run(args: &RunArgs, cache: &CacheDir) -> Result<ExitCode> {
    let plan = RunPlan::new(&args.request()?, cache)?;
    let run_opts = RunOptions {
        quiet: args.quiet,
        html: args.html,
        ..Default::default()
    };
    if args.repeat > 1 || args.retry_infra > 0 {
        let opts = RepeatOptions {
            runs: args.repeat,
            retry_infra: args.retry_infra,
        };
        let series = repeat::run_cli(&plan, cache, opts, run_opts, args.json)?;
        if let Some(path) = &args.junit {
            let results: Vec<_> = series.runs.iter().map(|r| r.result.clone()).collect();
            ci::write_junit(path, &results).classify(
                ExitCode::Environment,
                format!("writing JUnit report {}", path.display()),
            )?;
        }
        return Ok(series.exit);
    }
    let done = execute(&plan, cache, run_opts)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&done.result).expect("result serializes")
        );
    } else {
        print!("{}", summary::render(&done.result));
    }
    if let Some(path) = &args.junit {
        ci::write_junit(path, std::slice::from_ref(&done.result)).classify(
            ExitCode::Environment,
            format!("writing JUnit report {}", path.display()),
        )?;
    }
    ci::github(&done.result);
    Ok(done.exit)
}
