//! `ktstr-vm scenarios list|show NAME`.

use std::io::Write;

use clap::Subcommand;

use super::{canned, load};

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

pub fn run(cmd: ScenariosCmd) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match cmd {
        ScenariosCmd::List => {
            for name in canned::names() {
                let loaded = load(name)?;
                let f = &loaded.file;
                let topo = f.topology.as_deref().unwrap_or("any");
                let secs = f.duration_ms() as f64 / 1000.0;
                writeln!(out, "{name:<26} {topo:<10} {secs:>4.1}s  {}", f.description)?;
            }
        }
        ScenariosCmd::Show { name, json } => {
            let loaded = load(&name)?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&loaded.file)?)?;
            } else if let Some(text) = canned::text(&name) {
                write!(out, "{text}")?;
            } else {
                write!(out, "{}", std::fs::read_to_string(&name)?)?;
            }
        }
    }
    Ok(())
}
