//! `ktstr-vm scenarios list|show NAME`.

use std::io::Write;

use clap::Subcommand;

use super::{canned, load};
use crate::error::{Classify, Result};
use crate::exit::ExitCode;

#[derive(Debug, Clone, Subcommand)]
pub enum ScenariosCmd {
    /// List the canned scenarios
    List,
    /// Print a scenario (canned name or file) as TOML, or as JSON with --json
    Show {
        /// Canned scenario name or file path
        name: String,
        /// Print the parsed scenario as JSON instead of its TOML text
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: ScenariosCmd) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let stdout = |r: std::io::Result<()>| r.classify(ExitCode::Environment, "writing to stdout");
    match cmd {
        ScenariosCmd::List => {
            for name in canned::names() {
                let loaded = load(name)?;
                let f = &loaded.file;
                let topo = f.topology.as_deref().unwrap_or("any");
                let secs = f.duration_ms() as f64 / 1000.0;
                stdout(writeln!(
                    out,
                    "{name:<26} {topo:<10} {secs:>4.1}s  {}",
                    f.description
                ))?;
            }
        }
        ScenariosCmd::Show { name, json } => {
            let loaded = load(&name)?;
            if json {
                let json = serde_json::to_string_pretty(&loaded.file).expect("JSON serializes");
                stdout(writeln!(out, "{json}"))?;
            } else if let Some(text) = canned::text(&name) {
                stdout(write!(out, "{text}"))?;
            } else {
                let text = std::fs::read_to_string(&name)
                    .classify(ExitCode::Usage, format!("reading {name}"))?;
                stdout(write!(out, "{text}"))?;
            }
        }
    }
    Ok(())
}
