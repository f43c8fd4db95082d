//! Scenario files: a test as data. Which cgroups exist with which cpusets,
//! running which workers, changing how over time (steps), and what must
//! hold (`[assert]`). Users write TOML (or the JSON equivalent) and run it
//! with `ktstr-vm run --scenario FILE`; the canned ones ship in the binary.
//!
//! [`load`] finds and parses a scenario; [`ScenarioFile::check`] validates
//! names, references and worker specs; [`ScenarioFile::check_topology`]
//! resolves every cpuset against the topology the run will boot. The guest
//! gets the [`ScenarioSpec`] part; the host keeps the thresholds.

pub mod canned;
pub mod cli;
mod parse;
#[cfg(test)]
mod tests;
mod validate;

use serde::{Deserialize, Serialize};

use ktstr_wire::scenario::{CgroupDef, ScenarioSpec, Step};
use ktstr_wire::Millis;

use crate::assert::Thresholds;
pub use parse::{line_col, parse, Format, Location, SyntaxError};
pub use validate::CheckError;

/// Run length of a scenario with no duration and no steps.
pub const DEFAULT_DURATION_MS: u64 = 5_000;

/// A scenario as written in a file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// Defaults to the file name without its extension.
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Topology the scenario needs (`1n2l2c1t`), used when the command line
    /// names none.
    #[serde(default)]
    pub topology: Option<String>,
    /// Total run time; default: the steps' holds, or 5 s without steps.
    #[serde(default)]
    pub duration: Option<Millis>,
    #[serde(default)]
    pub cgroups: Vec<CgroupDef>,
    #[serde(default)]
    pub steps: Vec<Step>,
    /// Threshold overrides for this scenario.
    #[serde(default)]
    pub assert: Thresholds,
}

/// A scenario that cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error(
        "scenario {name:?} is neither a canned scenario nor a file{hint}; canned scenarios: {list}"
    )]
    NotFound {
        name: String,
        hint: String,
        list: String,
    },
    #[error("reading scenario file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Syntax(#[from] SyntaxError),
    #[error("{file}: {error}")]
    Check { file: String, error: CheckError },
    #[error(transparent)]
    Assert(#[from] crate::assert::limits::LimitError),
}

impl crate::exit::ExitClass for ScenarioError {
    fn exit_code(&self) -> crate::exit::ExitCode {
        crate::exit::ExitCode::Usage
    }
}

/// A parsed, checked scenario and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    pub file: ScenarioFile,
    /// A path, or `builtin:NAME`.
    pub origin: String,
}

/// A canned name (`steady`) or a path (`my.toml`, `x.json`).
pub fn load(arg: &str) -> Result<Loaded, ScenarioError> {
    if let Some(text) = canned::text(arg) {
        return from_text(text, &format!("builtin:{arg}"), Format::Toml, arg);
    }
    let path = std::path::Path::new(arg);
    if !path.exists() && !arg.contains('/') && !arg.contains('.') {
        return Err(ScenarioError::NotFound {
            name: arg.into(),
            hint: ktstr_wire::suggest(arg, &canned::names()),
            list: canned::names().join(", "),
        });
    }
    let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
        path: arg.into(),
        source,
    })?;
    let stem = path
        .file_stem()
        .map_or("scenario".into(), |s| s.to_string_lossy().into_owned());
    from_text(&text, arg, Format::of(arg), &stem)
}

/// Parses and checks `text`; `default_name` names it when the file does not.
pub fn from_text(
    text: &str,
    origin: &str,
    format: Format,
    default_name: &str,
) -> Result<Loaded, ScenarioError> {
    let mut file: ScenarioFile = parse::parse(text, origin, format)?;
    if file.name.is_empty() {
        file.name = default_name.to_string();
    }
    file.check().map_err(|error| ScenarioError::Check {
        file: origin.to_string(),
        error,
    })?;
    Ok(Loaded {
        file,
        origin: origin.to_string(),
    })
}

impl ScenarioFile {
    /// How long the workers run.
    pub fn duration_ms(&self) -> u64 {
        let steps: u64 = self.steps.iter().map(|s| s.hold.0).sum();
        match self.duration {
            Some(d) => d.0.max(steps),
            None if steps > 0 => steps,
            None => DEFAULT_DURATION_MS,
        }
    }

    /// The part the guest runs.
    pub fn spec(&self) -> ScenarioSpec {
        ScenarioSpec {
            name: self.name.clone(),
            cgroups: self.cgroups.clone(),
            steps: self.steps.clone(),
            duration: Millis(self.duration_ms()),
        }
    }
}

/// Time budget per scenario on top of its duration: forking workers,
/// collecting reports, removing cgroups.
pub const OVERHEAD_MS: u64 = 2_000;

/// A scenario ready to run: checked against the run's topology, with its
/// thresholds resolved (defaults for the accelerator, then the file's
/// `[assert]`, then `--assert`).
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioPlan {
    pub file: ScenarioFile,
    pub origin: String,
    pub limits: crate::assert::Limits,
}

/// Loads, checks and resolves every `--scenario`.
pub fn plan_all(
    names: &[String],
    asserts: &[String],
    topo: &ktstr_wire::topology::Topology,
    accel: crate::qemu::accel::Accel,
) -> Result<Vec<ScenarioPlan>, ScenarioError> {
    let cli = Thresholds::from_args(asserts)?;
    let defaults = Thresholds::defaults(accel);
    names
        .iter()
        .map(|name| {
            let loaded = load(name)?;
            loaded
                .file
                .check_topology(topo)
                .map_err(|error| ScenarioError::Check {
                    file: loaded.origin.clone(),
                    error,
                })?;
            let limits = defaults
                .overlay(&loaded.file.assert)
                .overlay(&cli)
                .resolve();
            Ok(ScenarioPlan {
                file: loaded.file,
                origin: loaded.origin,
                limits,
            })
        })
        .collect()
}

/// Total run time of the scenarios, with [`OVERHEAD_MS`] each.
pub fn run_ms(plans: &[ScenarioPlan]) -> u64 {
    plans
        .iter()
        .map(|p| p.file.duration_ms() + OVERHEAD_MS)
        .sum()
}

/// The topology the first scenario that fixes one asks for (used when the
/// command line names none; errors are reported later, by [`plan_all`]).
pub fn topology_of(names: &[String]) -> Option<String> {
    names
        .iter()
        .find_map(|n| load(n).ok().and_then(|l| l.file.topology))
}

impl ScenarioPlan {
    /// What the assertions need to know about this plan.
    pub fn planned(&self) -> crate::assert::Planned<'_> {
        crate::assert::Planned {
            name: &self.file.name,
            origin: &self.origin,
            limits: &self.limits,
        }
    }
}
