//! The `ktstr-vm` binary: parse, dispatch to the command, and exit with the
//! code it decided, or print the error chain and exit with the error's
//! class (see `ktstr_vm::exit` and `ktstr_vm::error`).

use clap::Parser;
use ktstr_vm::cache_dir::CacheDir;
use ktstr_vm::cli::{Cli, Command};
use ktstr_vm::commands;
use ktstr_vm::error::Result;
use ktstr_vm::exit::ExitCode;

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
    match dispatch(cli) {
        Ok(code) => std::process::ExitCode::from(code),
        Err(err) => {
            eprintln!("{}", err.render());
            std::process::ExitCode::from(err.exit_code().code() as u8)
        }
    }
}

/// Runs the command; its process exit code (`exec` passes its command's on).
fn dispatch(cli: Cli) -> Result<u8> {
    let cache = CacheDir::resolve(cli.cache_dir.as_deref())?;
    // What killed runs left behind (their sockets, half-written files).
    ktstr_vm::scratch::sweep(cache.root());
    let code = |c: ExitCode| c.code() as u8;
    Ok(match cli.command {
        None => code(commands::run::run(&cli.run, &cache)?),
        Some(Command::Run(args)) => code(commands::run::run(&args, &cache)?),
        Some(Command::Exec(args)) => commands::exec::run(&args, &cache)?,
        Some(Command::Shell(args)) => code(commands::shell::run(&args, &cache)?),
        Some(Command::Kernel { cmd }) => {
            ktstr_vm::kernel::cli::run(cmd, &cache)?;
            0
        }
        Some(Command::Bisect(args)) => code(commands::bisect::run(&args)?),
        Some(Command::BisectStep(args)) => code(commands::bisect::step(&args, &cache)?),
        Some(Command::Topo { cmd }) => {
            ktstr_vm::topology::cli::run(cmd)?;
            0
        }
        Some(Command::Compare(args)) => code(ktstr_vm::compare::cli::run(&args, &cache)?),
        Some(Command::Matrix(args)) => code(ktstr_vm::matrix::cli::run(&args, &cache)?),
        Some(Command::Report(args)) => code(ktstr_vm::report::html::cli(&args)?),
        Some(Command::Scenarios { cmd }) => {
            ktstr_vm::scenario::cli::run(cmd)?;
            0
        }
    })
}
