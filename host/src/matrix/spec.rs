//! What a matrix is made of, as written: the dimensions (kernels,
//! topologies, schedulers with their arguments, scenarios), exclusions
//! with a reason, and the run options every cell shares. It comes from a
//! plan file kept in a repository (`ktstr-vm.toml`), from the command
//! line, or both (a dimension given on the command line replaces the
//! file's).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::exit::{ExitClass, ExitCode};
use crate::scenario::{Format, SyntaxError};

/// The file `ktstr-vm matrix` reads when given no `--plan` and no
/// dimensions: the repository's matrix.
pub const DEFAULT_PLAN: &str = "ktstr-vm.toml";

/// The matrix as written in `ktstr-vm.toml`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatrixSpec {
    /// Kernels: versions (`6.12.117`, `6.13`, `6.12.117+debug`), git refs
    /// (`git+URL#REF`), bzImage paths or cache keys.
    #[serde(default)]
    pub kernels: Vec<String>,
    /// Topologies (`1n2l2c1t`) or preset names; default: 4 flat vCPUs.
    #[serde(default)]
    pub topologies: Vec<String>,
    /// Schedulers with their arguments (`scx_qmap -e 100`), `eevdf` for
    /// the kernel's own, `cargo:NAME@VERSION` for a published scx one.
    #[serde(default)]
    pub schedulers: Vec<SchedulerEntry>,
    /// Scenarios; `a,b` runs both in one boot. None = the plain workload.
    #[serde(default)]
    pub scenarios: Vec<String>,
    /// Cells not to run, each with its reason (reported as skipped).
    #[serde(default)]
    pub exclude: Vec<Exclusion>,
    /// The plain workload's length in every cell (`5s`).
    #[serde(default)]
    pub duration: Option<String>,
    /// `--assert KEY=VALUE` for every cell.
    #[serde(default)]
    pub asserts: Vec<String>,
}

/// A scheduler and its arguments, written as one shell-quoted string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SchedulerEntry {
    pub name: String,
    pub args: Vec<String>,
}

/// One `[[exclude]]`: the cells whose every named field matches are
/// skipped with `reason` (like scx's per-scheduler kernel block lists).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exclusion {
    #[serde(default)]
    pub kernel: Option<String>,
    #[serde(default)]
    pub topology: Option<String>,
    #[serde(default)]
    pub scheduler: Option<String>,
    #[serde(default)]
    pub scenario: Option<String>,
    pub reason: String,
}

/// A matrix that cannot be run as written (exit 129).
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("reading the matrix plan {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Syntax(#[from] SyntaxError),
    #[error("scheduler {0:?}: unbalanced quotes or empty")]
    Scheduler(String),
    #[error("the matrix has no kernels: give --kernel (repeatable) or `kernels = [...]` in {DEFAULT_PLAN}")]
    NoKernels,
    #[error("{file}: exclusion #{index} names no field: it would exclude every cell; name a kernel, topology, scheduler or scenario")]
    EmptyExclusion { file: String, index: usize },
}

impl ExitClass for SpecError {
    fn exit_code(&self) -> ExitCode {
        ExitCode::Usage
    }
}

impl SchedulerEntry {
    /// `scx_qmap -e 100` -> name and arguments; `eevdf` is `None`.
    pub fn parse(text: &str) -> Result<Option<SchedulerEntry>, SpecError> {
        let words = shlex::split(text).ok_or_else(|| SpecError::Scheduler(text.into()))?;
        let (name, args) = words
            .split_first()
            .ok_or_else(|| SpecError::Scheduler(text.into()))?;
        if name.eq_ignore_ascii_case("eevdf") && args.is_empty() {
            return Ok(None);
        }
        Ok(Some(SchedulerEntry {
            name: name.clone(),
            args: args.to_vec(),
        }))
    }

    /// The entry a list item stands for (`eevdf` written as a scheduler).
    pub fn as_entry(&self) -> Option<&SchedulerEntry> {
        (!self.name.is_empty()).then_some(self)
    }

    /// As written: the name and the quoted arguments.
    pub fn label(&self) -> String {
        let mut s = self.name.clone();
        for a in &self.args {
            s.push(' ');
            s.push_str(&shlex::try_quote(a).map_or_else(|_| a.clone(), |q| q.into_owned()));
        }
        s
    }
}

impl<'de> Deserialize<'de> for SchedulerEntry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<SchedulerEntry, D::Error> {
        let text = String::deserialize(d)?;
        // `eevdf` is kept as an entry with no name (see `as_entry`).
        SchedulerEntry::parse(&text)
            .map(|e| {
                e.unwrap_or(SchedulerEntry {
                    name: String::new(),
                    args: Vec::new(),
                })
            })
            .map_err(serde::de::Error::custom)
    }
}

impl MatrixSpec {
    /// Reads a plan file; its exclusions must each name something.
    pub fn load(path: &Path) -> Result<MatrixSpec, SpecError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| SpecError::Read {
            path: file.clone(),
            source,
        })?;
        let spec: MatrixSpec = crate::scenario::parse(&text, &file, Format::of(&file))?;
        for (i, e) in spec.exclude.iter().enumerate() {
            if e.kernel.is_none()
                && e.topology.is_none()
                && e.scheduler.is_none()
                && e.scenario.is_none()
            {
                return Err(SpecError::EmptyExclusion { file, index: i + 1 });
            }
        }
        Ok(spec)
    }

    /// `self` with every dimension `over` gives replaced by `over`'s.
    pub fn overlay(mut self, over: MatrixSpec) -> MatrixSpec {
        macro_rules! take {
            ($($f:ident),*) => { $( if !over.$f.is_empty() { self.$f = over.$f; } )* };
        }
        take!(kernels, topologies, schedulers, scenarios, asserts);
        self.exclude.extend(over.exclude);
        if over.duration.is_some() {
            self.duration = over.duration;
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduler_entries() {
        let e = |t: &str| SchedulerEntry::parse(t).unwrap();
        assert_eq!(e("eevdf"), None);
        assert_eq!(e("EEVDF"), None);
        let q = e("scx_qmap -e 100 'a b'").unwrap();
        assert_eq!(q.name, "scx_qmap");
        assert_eq!(q.args, ["-e", "100", "a b"]);
        assert_eq!(q.label(), "scx_qmap -e 100 'a b'");
        assert!(SchedulerEntry::parse("").is_err());
        assert!(SchedulerEntry::parse("x 'open").is_err());
    }

    #[test]
    fn plan_file_with_located_errors() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("ktstr-vm.toml");
        std::fs::write(
            &good,
            r#"
kernels = ["6.12.117", "6.12.117+debug"]
topologies = ["1n2l2c1t"]
schedulers = ["scx_simple", "eevdf", "scx_qmap -e 100"]
duration = "3s"

[[exclude]]
kernel = "*+debug"
scheduler = "scx_qmap"
reason = "qmap's error injection is not what the debug kernel tests"
"#,
        )
        .unwrap();
        let spec = MatrixSpec::load(&good).unwrap();
        assert_eq!(spec.kernels.len(), 2);
        assert_eq!(spec.schedulers[1].as_entry(), None);
        assert_eq!(spec.exclude[0].kernel.as_deref(), Some("*+debug"));

        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "kernels = [\"6.12\"]\nschedulerz = [\"x\"]\n").unwrap();
        let err = MatrixSpec::load(&bad).unwrap_err().to_string();
        assert!(err.contains(":2:1: unknown field `schedulerz`"), "{err}");
        assert!(err.contains("did you mean \"schedulers\""), "{err}");

        std::fs::write(&bad, "kernels = [\"6.12\"]\n[[exclude]]\nreason = \"x\"\n").unwrap();
        assert!(matches!(
            MatrixSpec::load(&bad),
            Err(SpecError::EmptyExclusion { index: 1, .. })
        ));
    }

    #[test]
    fn command_line_dimensions_replace_the_files() {
        let file = MatrixSpec {
            kernels: vec!["a".into()],
            topologies: vec!["t".into()],
            ..MatrixSpec::default()
        };
        let cli = MatrixSpec {
            kernels: vec!["b".into(), "c".into()],
            ..MatrixSpec::default()
        };
        let m = file.overlay(cli);
        assert_eq!(m.kernels, ["b", "c"]);
        assert_eq!(m.topologies, ["t"]);
    }
}
