//! The `ktstr-vm` binary: parse, dispatch, print the error chain, and exit
//! with the code [`ktstr_vm::exit`] decides.

use std::io::Write;

use anyhow::Context;
use clap::Parser;
use ktstr_vm::cache_dir::CacheDir;
use ktstr_vm::cli::{Cli, Command, RunArgs};
use ktstr_vm::exit::{exit_code_for_error, ExitCode};
use ktstr_vm::report::summary;
use ktstr_vm::run::execute::{execute, RunOptions};
use ktstr_vm::run::plan::RunPlan;

fn main() -> std::process::ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            let code = if e.use_stderr() {
                ExitCode::Usage
            } else {
                ExitCode::Pass
            };
            return std::process::ExitCode::from(code.code() as u8);
        }
    };
    if let Some(Command::Exec(_) | Command::Shell(_)) = &cli.command {
        return ktstr_vm::commands::main(cli);
    }
    let code = match dispatch(cli) {
        Ok(code) => code,
        Err(err) => {
            let mut msg = format!("ktstr-vm: error: {err}");
            for cause in err.chain().skip(1) {
                // Errors that already quote their source would repeat it.
                let text = cause.to_string();
                if !msg.contains(&text) {
                    msg.push_str(&format!("\n  caused by: {text}"));
                }
            }
            let code = exit_code_for_error(&err);
            let _ = writeln!(std::io::stderr(), "{msg}\n  (exit code {})", code.code());
            code
        }
    };
    std::process::ExitCode::from(code.code() as u8)
}

fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let cache = CacheDir::resolve(cli.cache_dir.as_deref())?;
    match cli.command {
        None => run(&cli.run, &cache),
        Some(Command::Run(args)) => run(&args, &cache),
        Some(Command::Kernel { cmd }) => {
            ktstr_vm::kernel::cli::run(cmd, &cache).map(|()| ExitCode::Pass)
        }
        Some(Command::Bisect(args)) => bisect(&args),
        Some(Command::BisectStep(args)) => {
            match ktstr_vm::commands::bisect::prepare_step(&args, &cache) {
                Ok(run_args) => run(&run_args, &cache),
                Err(e) => {
                    eprintln!("ktstr-vm bisect-step: {e}; skipping this commit");
                    Ok(ExitCode::CannotTest)
                }
            }
        }
        Some(Command::Topo { cmd }) => ktstr_vm::topology::cli::run(cmd).map(|()| ExitCode::Pass),
        Some(Command::Compare(args)) => ktstr_vm::compare::cli::run(&args, &cache),
        Some(Command::Scenarios { cmd }) => {
            ktstr_vm::scenario::cli::run(cmd).map(|()| ExitCode::Pass)
        }
        Some(Command::Report(args)) => Ok(ktstr_vm::report::html::cli(&args)?),
        Some(Command::Exec(_) | Command::Shell(_)) => {
            unreachable!("exec and shell exit with the guest's code: see main")
        }
    }
}

fn run(args: &RunArgs, cache: &CacheDir) -> anyhow::Result<ExitCode> {
    let mut plan = RunPlan::new(&args.request(), cache)?;
    plan.add_payloads(&args.payload_specs()?)?;
    if args.repeat > 1 || args.retry_infra > 0 {
        let opts = ktstr_vm::run::repeat::RepeatOptions {
            runs: args.repeat,
            retry_infra: args.retry_infra,
        };
        let run_opts = RunOptions {
            quiet: args.quiet,
            html: args.html,
            ..Default::default()
        };
        let series = ktstr_vm::run::repeat::run_cli(&plan, cache, opts, run_opts, args.json)?;
        if let Some(path) = &args.junit {
            let results: Vec<_> = series.runs.iter().map(|r| r.result.clone()).collect();
            ktstr_vm::report::ci::write_junit(path, &results)
                .with_context(|| format!("writing JUnit report {}", path.display()))?;
        }
        return Ok(series.exit);
    }
    let done = execute(
        &plan,
        cache,
        RunOptions {
            quiet: args.quiet,
            html: args.html,
            ..Default::default()
        },
    )?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&done.result)?);
    } else {
        print!("{}", summary::render(&done.result));
    }
    if let Some(path) = &args.junit {
        ktstr_vm::report::ci::write_junit(path, std::slice::from_ref(&done.result))
            .with_context(|| format!("writing JUnit report {}", path.display()))?;
    }
    ktstr_vm::report::ci::github(&done.result);
    Ok(done.exit)
}

fn bisect(args: &ktstr_vm::commands::bisect::BisectArgs) -> anyhow::Result<ExitCode> {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let outcome = ktstr_vm::commands::bisect::drive(args, &argv)?;
    match &outcome.first_bad {
        Some(commit) => {
            println!(
                "ktstr-vm bisect: first bad commit: {commit} {}",
                outcome.subject.as_deref().unwrap_or("")
            );
            Ok(ExitCode::Pass)
        }
        None => {
            println!(
                "ktstr-vm bisect: no single first bad commit (skipped commits or an error):\n{}",
                outcome.log
            );
            Ok(ExitCode::CannotTest)
        }
    }
}
