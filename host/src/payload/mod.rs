//! Payloads: real programs (stress-ng, a benchmark, a test binary) run in
//! the guest beside or instead of the synthetic workers.
//!
//! A [`PayloadSpec`] is the payload as written (CLI `--payload`, a scenario
//! file, `ktstr-vm exec`); [`resolve`] finds each command on the host
//! ([`locate`]), ships it with its shared-library closure, and turns it
//! into the wire [`PayloadConfig`] (the run plan collects the files). After
//! the run, [`result`] collects output and exit status into `result.json`
//! and judges non-zero exits.

pub mod locate;
pub mod result;

use std::time::Duration;

use ktstr_wire::PayloadConfig;

use crate::exit::{ExitClass, ExitCode};
use crate::include::Include;
pub use locate::{locate, Located};
pub use result::{PayloadResult, PAYLOAD_FAILED};

#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    #[error(
        "payload {0:?} is empty: give a command, e.g. --payload 'stress-ng --cpu 2 --timeout 3s'"
    )]
    Empty(String),
    #[error("payload {text:?}: {reason} (quote it as one shell word list, e.g. --payload 'prog --flag \"a b\"')")]
    Syntax { text: String, reason: &'static str },
    #[error("payload command {command:?} not found on the host PATH; give a host path, or a guest path starting with '/' (e.g. one from --include)")]
    NotFound { command: String },
    #[error("payload command {path}: {reason}")]
    NotRunnable { path: String, reason: String },
    #[error("payload {name:?}: cgroup {cgroup:?} must be a relative path without '..'")]
    Cgroup { name: String, cgroup: String },
}

impl ExitClass for PayloadError {
    fn exit_code(&self) -> ExitCode {
        ExitCode::Usage
    }
}

/// One payload as written. Build it with the methods below; every field
/// has a default that fits a command run beside the workers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadSpec {
    /// A name on the host PATH, a host path (both shipped into the guest),
    /// or a guest-only path such as `/bin/busybox` or an `--include`d file.
    pub command: String,
    pub args: Vec<String>,
    /// Name in messages and results; default: the command's file name.
    pub name: Option<String>,
    pub env: Vec<(String, String)>,
    /// Cgroup relative to the run's cgroup root; default: the root.
    pub cgroup: Option<String>,
    /// Killed (and judged timed out) after this long. Default: a
    /// foreground payload gets the run's duration, a background one none.
    pub timeout: Option<Duration>,
    /// The workload phase lasts until every foreground payload ended (at
    /// most the duration); a background payload is stopped when it ends.
    pub foreground: bool,
    /// A non-zero exit (or a timeout) fails the run.
    pub check_exit: bool,
}

impl PayloadSpec {
    /// A background payload whose non-zero exit fails the run.
    pub fn new(command: impl Into<String>) -> PayloadSpec {
        PayloadSpec {
            command: command.into(),
            args: Vec::new(),
            name: None,
            env: Vec::new(),
            cgroup: None,
            timeout: None,
            foreground: false,
            check_exit: true,
        }
    }

    /// From one shell-quoted string, `prog --flag 'a b'` (no shell runs it).
    pub fn parse(text: &str) -> Result<PayloadSpec, PayloadError> {
        let words = shlex::split(text).ok_or(PayloadError::Syntax {
            text: text.to_string(),
            reason: "unbalanced quotes or a trailing backslash",
        })?;
        let mut words = words.into_iter();
        let command = words
            .next()
            .ok_or_else(|| PayloadError::Empty(text.to_string()))?;
        Ok(PayloadSpec::new(command).args(words))
    }

    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn cgroup(mut self, cgroup: impl Into<String>) -> Self {
        self.cgroup = Some(cgroup.into());
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    pub fn foreground(mut self, foreground: bool) -> Self {
        self.foreground = foreground;
        self
    }

    pub fn check_exit(mut self, check: bool) -> Self {
        self.check_exit = check;
        self
    }
}

/// A resolved payload: what the guest runs, and how the host judges it.
#[derive(Debug, Clone, PartialEq)]
pub struct PayloadPlan {
    pub config: PayloadConfig,
    /// Host files shipped for it: the binary and a script's interpreter.
    pub shipped: Vec<Include>,
    pub check_exit: bool,
}

/// Resolves one payload on the host: finds its command, ships it with its
/// libraries, and names it uniquely among `taken`. A foreground payload
/// without a timeout gets `workload_duration`.
pub fn resolve(
    spec: &PayloadSpec,
    workload_duration: Duration,
    taken: &[PayloadPlan],
) -> Result<PayloadPlan, PayloadError> {
    let located = locate(&spec.command)?;
    let name = unique_name(spec, &located, taken);
    if let Some(cg) = &spec.cgroup {
        let p = std::path::Path::new(cg);
        if cg.is_empty()
            || !p
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)))
        {
            return Err(PayloadError::Cgroup {
                name,
                cgroup: cg.clone(),
            });
        }
    }
    let timeout = spec
        .timeout
        .or(spec.foreground.then_some(workload_duration));
    Ok(PayloadPlan {
        config: PayloadConfig {
            name,
            path: located.guest_path.clone(),
            args: spec.args.clone(),
            env: spec.env.clone(),
            cgroup: spec.cgroup.clone(),
            timeout_ms: timeout.map(|t| t.as_millis() as u64),
            foreground: spec.foreground,
        },
        shipped: located.shipped,
        check_exit: spec.check_exit,
    })
}

/// The spec's name, or the command's file name, made unique in the run.
fn unique_name(spec: &PayloadSpec, located: &Located, taken: &[PayloadPlan]) -> String {
    let base = spec.name.clone().unwrap_or_else(|| {
        located
            .guest_path
            .rsplit('/')
            .next()
            .filter(|s| !s.is_empty())
            .unwrap_or("payload")
            .to_string()
    });
    let used = |n: &str| taken.iter().any(|p| p.config.name == n);
    if !used(&base) {
        return base;
    }
    (2..)
        .map(|i| format!("{base}-{i}"))
        .find(|n| !used(n))
        .expect("an unused name")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_splits_like_a_shell_without_one() {
        let s = PayloadSpec::parse("stress-ng --cpu 2 --timeout 3s").unwrap();
        assert_eq!(s.command, "stress-ng");
        assert_eq!(s.args, ["--cpu", "2", "--timeout", "3s"]);
        let s = PayloadSpec::parse(r#"sh -c 'echo "a b"; exit 3'"#).unwrap();
        assert_eq!(s.args, ["-c", r#"echo "a b"; exit 3"#]);
        assert!(matches!(
            PayloadSpec::parse("  "),
            Err(PayloadError::Empty(_))
        ));
        assert!(matches!(
            PayloadSpec::parse("sh -c 'x"),
            Err(PayloadError::Syntax { .. })
        ));
    }

    #[test]
    fn cli_payloads_become_specs() {
        use clap::Parser;
        let cli = crate::cli::Cli::try_parse_from([
            "ktstr-vm",
            "--payload",
            "stress-ng --cpu 2",
            "--payload-bg",
            "sleep 9",
            "--payload-ignore-exit",
        ])
        .unwrap();
        let specs = cli.run.payload_specs().unwrap();
        assert_eq!(specs.len(), 2);
        assert!(specs[0].foreground && !specs[1].foreground);
        assert_eq!(specs[1].args, ["9"]);
        assert!(specs.iter().all(|s| !s.check_exit));
    }

    #[test]
    fn builder_defaults() {
        let s = PayloadSpec::new("x")
            .args(["a"])
            .timeout(Duration::from_secs(2))
            .foreground(true);
        assert!(s.check_exit && s.foreground);
        assert_eq!(s.timeout, Some(Duration::from_secs(2)));
        assert!(!PayloadSpec::new("x").foreground);
    }
}
