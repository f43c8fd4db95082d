//! Kconfig fragments: parse them, merge them in order, and verify a final
//! `.config` against what they asked for.
//!
//! `make olddefconfig` silently drops an option whose dependencies are not
//! met, so a kernel can build without the feature a test relies on.
//! [`verify`] turns every such drop into an error naming the option.

use std::collections::BTreeMap;
use std::fmt;

/// The fragments built into the binary, so an installed `ktstr-vm` needs no
/// files from the source checkout. Which of them a kernel gets, and in what
/// order, is its variant's choice ([`super::variant`]).
pub const BUILTIN_FRAGMENTS: &[(&str, &str)] = &[
    ("base.config", include_str!("../../../kernels/base.config")),
    (
        "sched_ext.config",
        include_str!("../../../kernels/sched_ext.config"),
    ),
    (
        "diagnostics.config",
        include_str!("../../../kernels/diagnostics.config"),
    ),
    (
        "debug.config",
        include_str!("../../../kernels/debug.config"),
    ),
];

/// One fragment: a name for messages and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    pub name: String,
    pub text: String,
}

impl Fragment {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Fragment {
        Fragment {
            name: name.into(),
            text: text.into(),
        }
    }
}

/// The built-in fragment `name`, if there is one.
pub fn builtin(name: &str) -> Option<Fragment> {
    BUILTIN_FRAGMENTS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(n, t)| Fragment::new(*n, *t))
}

/// What a fragment asks of one option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Want {
    /// `CONFIG_X=value`: the final value must be exactly this text.
    Set(String),
    /// `# CONFIG_X is not set`: the final option must be off or absent.
    Unset,
}

impl fmt::Display for Want {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Want::Set(v) => write!(f, "={v}"),
            Want::Unset => f.write_str(" off"),
        }
    }
}

/// One requested option and the fragment that asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// Full symbol name, `CONFIG_` prefix included.
    pub symbol: String,
    pub want: Want,
    pub fragment: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FragmentError {
    #[error("{fragment}:{line}: not a Kconfig line (want `CONFIG_X=value` or `# CONFIG_X is not set`): {text}")]
    BadLine {
        fragment: String,
        line: usize,
        text: String,
    },
}

/// Parses one fragment. Blank lines and comments are skipped; any other line
/// that is not an assignment is an error, so a typo cannot vanish.
pub fn parse(fragment: &Fragment) -> Result<Vec<Requirement>, FragmentError> {
    let mut out = Vec::new();
    for (i, raw) in fragment.text.lines().enumerate() {
        let line = raw.trim();
        let entry = match parse_config_line(line) {
            Some(e) => e,
            None if line.is_empty() || line.starts_with('#') => continue,
            None => {
                return Err(FragmentError::BadLine {
                    fragment: fragment.name.clone(),
                    line: i + 1,
                    text: line.to_string(),
                })
            }
        };
        let (symbol, value) = entry;
        let want = value.map_or(Want::Unset, |v| Want::Set(v.to_string()));
        out.push(Requirement {
            symbol: symbol.to_string(),
            want,
            fragment: fragment.name.clone(),
        });
    }
    Ok(out)
}

/// Merges fragments in order; a later fragment overrides an earlier one, as
/// `merge_config.sh` does.
pub fn merge(fragments: &[Fragment]) -> Result<BTreeMap<String, Requirement>, FragmentError> {
    let mut merged = BTreeMap::new();
    for f in fragments {
        for r in parse(f)? {
            merged.insert(r.symbol.clone(), r);
        }
    }
    Ok(merged)
}

/// Parses a `.config`: symbol -> `Some(value)`, or `None` for "is not set".
pub fn parse_config(text: &str) -> BTreeMap<String, Option<String>> {
    text.lines()
        .filter_map(|l| parse_config_line(l.trim()))
        .map(|(s, v)| (s.to_string(), v.map(str::to_string)))
        .collect()
}

/// `CONFIG_X=v` -> `(CONFIG_X, Some(v))`; `# CONFIG_X is not set` -> `(CONFIG_X, None)`.
fn parse_config_line(line: &str) -> Option<(&str, Option<&str>)> {
    if let Some(rest) = line.strip_prefix("# ") {
        let symbol = rest.strip_suffix(" is not set")?;
        return is_symbol(symbol).then_some((symbol, None));
    }
    let (symbol, value) = line.split_once('=')?;
    is_symbol(symbol).then_some((symbol, Some(value)))
}

fn is_symbol(s: &str) -> bool {
    s.strip_prefix("CONFIG_")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
}

/// One requested option the final `.config` does not honour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub requirement: Requirement,
    /// The final state: `None` absent, `Some(None)` "is not set", `Some(Some(v))` set to v.
    pub actual: Option<Option<String>>,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.requirement;
        let actual = match &self.actual {
            None => "absent".to_string(),
            Some(None) => "not set".to_string(),
            Some(Some(v)) => format!("={v}"),
        };
        write!(
            f,
            "{}{} (from {}) but the final .config has it {actual}",
            r.symbol, r.want, r.fragment
        )
    }
}

/// Options that `olddefconfig` dropped or changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{} requested kernel option(s) not in the final .config (a dependency is missing or conflicts; \
     fix the fragment): {}",
    .0.len(),
    .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
)]
pub struct VerifyError(pub Vec<Mismatch>);

/// Checks every requirement against the final `.config` text.
pub fn verify(
    required: &BTreeMap<String, Requirement>,
    config_text: &str,
) -> Result<(), VerifyError> {
    let config = parse_config(config_text);
    let mismatches: Vec<Mismatch> = required
        .values()
        .filter_map(|r| {
            let actual = config.get(&r.symbol).cloned();
            let ok = match (&r.want, &actual) {
                (Want::Set(v), Some(Some(a))) => v == a,
                (Want::Set(_), _) => false,
                (Want::Unset, Some(Some(a))) => a != "y" && a != "m",
                (Want::Unset, _) => true,
            };
            (!ok).then(|| Mismatch {
                requirement: r.clone(),
                actual,
            })
        })
        .collect();
    if mismatches.is_empty() {
        Ok(())
    } else {
        Err(VerifyError(mismatches))
    }
}

#[cfg(test)]
#[path = "fragment_tests.rs"]
mod tests;
