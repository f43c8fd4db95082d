//! The `ktstr-vm` binary: parse, dispatch, print the error chain, and exit
//! with the code [`ktstr_vm::exit`] decides.

use std::io::Write;

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
            let code = if e.use_stderr() { ExitCode::Usage } else { ExitCode::Pass };
            return std::process::ExitCode::from(code.code() as u8);
        }
    };
    let code = match dispatch(cli) {
        Ok(code) => code,
        Err(err) => {
            let mut msg = format!("ktstr-vm: error: {err}");
            for cause in err.chain().skip(1) {
                msg.push_str(&format!("\n  caused by: {cause}"));
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
        Some(Command::Kernel { cmd }) => ktstr_vm::kernel::cli::run(cmd, &cache).map(|()| ExitCode::Pass),
        Some(Command::Topo { cmd }) => ktstr_vm::topology::cli::run(cmd).map(|()| ExitCode::Pass),
    }
}

fn run(args: &RunArgs, cache: &CacheDir) -> anyhow::Result<ExitCode> {
    let plan = RunPlan::new(&args.request(), cache)?;
    let done = execute(&plan, cache, RunOptions { quiet: args.quiet })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&done.result)?);
    } else {
        print!("{}", summary::render(&done.result));
    }
    Ok(done.exit)
}
