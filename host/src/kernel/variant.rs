//! Kernel variants: named sets of the built-in Kconfig fragments.
//!
//! The default variant is the minimal sched_ext kernel; `debug` adds the
//! lock and atomicity checks of `kernels/debug.config`. A variant is chosen
//! with `--variant NAME` or a `+NAME` suffix wherever a kernel is named
//! (`6.12.117+debug`). Its fragments go into the cache key, so each variant
//! is its own entry, and the default's key depends only on the fragments it
//! merges: editing `debug.config` never invalidates default kernels.

use std::fmt;
use std::str::FromStr;

use super::fragment::{self, Fragment};

/// Every variant: name, one-line purpose, fragments in merge order.
const VARIANTS: &[(&str, &str, &[&str])] = &[
    (
        "default",
        "minimal sched_ext kernel with detectors and symbols",
        &["base.config", "sched_ext.config", "diagnostics.config"],
    ),
    (
        "debug",
        "default plus lockdep, atomic-sleep, RCU and list checks (slower)",
        &[
            "base.config",
            "sched_ext.config",
            "diagnostics.config",
            "debug.config",
        ],
    ),
];

/// The name of the variant a bare version or source gets.
pub const DEFAULT: &str = "default";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown kernel variant {name:?} (known: {})", known())]
pub struct UnknownVariant {
    pub name: String,
}

impl crate::exit::ExitClass for UnknownVariant {
    fn exit_code(&self) -> crate::exit::ExitCode {
        crate::exit::ExitCode::Usage
    }
}

/// One of [`VARIANTS`], by index; the default is the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Variant(usize);

impl Variant {
    pub fn name(self) -> &'static str {
        VARIANTS[self.0].0
    }

    pub fn is_default(self) -> bool {
        self.0 == 0
    }

    /// The variant's fragments, in merge order.
    pub fn fragments(self) -> Vec<Fragment> {
        VARIANTS[self.0]
            .2
            .iter()
            .map(|n| fragment::builtin(n).expect("every variant fragment is built in"))
            .collect()
    }

    /// Every variant, default first.
    pub fn all() -> impl Iterator<Item = Variant> {
        (0..VARIANTS.len()).map(Variant)
    }

    /// A line per variant for `--help` texts.
    pub fn help() -> String {
        VARIANTS
            .iter()
            .map(|(n, why, _)| format!("{n}: {why}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

fn known() -> String {
    VARIANTS.iter().map(|v| v.0).collect::<Vec<_>>().join(", ")
}

impl FromStr for Variant {
    type Err = UnknownVariant;

    fn from_str(s: &str) -> Result<Variant, UnknownVariant> {
        VARIANTS
            .iter()
            .position(|v| v.0 == s)
            .map(Variant)
            .ok_or_else(|| UnknownVariant {
                name: s.to_string(),
            })
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Splits a trailing `+VARIANT` off a kernel name: `6.12.117+debug` ->
/// (`6.12.117`, debug). A `+` followed by something that is not a variant
/// name stays part of the name (git refs may contain `+`).
pub fn split_suffix(arg: &str) -> (&str, Option<Variant>) {
    match arg.rsplit_once('+') {
        Some((base, name)) if !base.is_empty() => match name.parse() {
            Ok(v) => (base, Some(v)),
            Err(_) => (arg, None),
        },
        _ => (arg, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::key::cache_key;

    #[test]
    fn suffix_table() {
        let debug: Variant = "debug".parse().unwrap();
        let cases: &[(&str, &str, Option<Variant>)] = &[
            ("6.12.117", "6.12.117", None),
            ("6.12.117+debug", "6.12.117", Some(debug)),
            ("6.12+default", "6.12", Some(Variant::default())),
            (
                "git+file:///x#main+debug",
                "git+file:///x#main",
                Some(debug),
            ),
            ("git+file:///x#v1+rc", "git+file:///x#v1+rc", None),
            ("+debug", "+debug", None),
            ("abc123+debug", "abc123", Some(debug)),
        ];
        for (arg, base, variant) in cases {
            assert_eq!(split_suffix(arg), (*base, *variant), "{arg}");
        }
    }

    #[test]
    fn names_parse_and_unknown_ones_list_the_known() {
        for v in Variant::all() {
            assert_eq!(v.name().parse::<Variant>().unwrap(), v);
        }
        let err = "fast".parse::<Variant>().unwrap_err().to_string();
        assert!(
            err.contains("\"fast\"") && err.contains("default, debug"),
            "{err}"
        );
    }

    #[test]
    fn debug_adds_to_default_and_keys_differ() {
        let default = Variant::default().fragments();
        let debug = "debug".parse::<Variant>().unwrap().fragments();
        assert_eq!(debug[..default.len()], default[..]);
        assert!(debug.len() > default.len());
        assert_ne!(cache_key("s", &default), cache_key("s", &debug));
    }

    #[test]
    fn default_key_ignores_fragments_it_does_not_use() {
        let names: Vec<String> = Variant::default()
            .fragments()
            .into_iter()
            .map(|f| f.name)
            .collect();
        assert!(!names.iter().any(|n| n == "debug.config"), "{names:?}");
    }
}
