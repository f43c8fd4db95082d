//! Named topologies, so a test can say `2numa` instead of `2n2l2c1t`.
//!
//! Each preset is a spec string plus a line on what it exercises; a name is
//! accepted wherever a spec is (`TopologySpec::parse`, which also gives
//! `Preset::spec`). A plain table: it depends on nothing.

/// A named topology.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preset {
    pub name: &'static str,
    /// In spec syntax (`2n4l4c2t`).
    pub spec: &'static str,
    pub description: &'static str,
}

const PRESETS: &[Preset] = &[
    Preset {
        name: "tiny",
        spec: "1n1l2c1t",
        description: "2 CPUs sharing one LLC: the fastest boot",
    },
    Preset {
        name: "smt-pair",
        spec: "1n1l1c2t",
        description: "one core with two SMT siblings",
    },
    Preset {
        name: "quad",
        spec: "1n1l4c1t",
        description: "4 cores on one LLC, no SMT",
    },
    Preset {
        name: "smt4",
        spec: "1n1l2c2t",
        description: "2 SMT cores on one LLC",
    },
    Preset {
        name: "2llc",
        spec: "1n2l2c1t",
        description: "two LLCs of 2 cores: cross-LLC migration",
    },
    Preset {
        name: "2llc-smt",
        spec: "1n2l2c2t",
        description: "two LLCs of 2 SMT cores",
    },
    Preset {
        name: "4llc",
        spec: "1n4l4c1t",
        description: "four LLCs of 4 cores on one node (chiplet-like)",
    },
    Preset {
        name: "8llc",
        spec: "1n8l2c1t",
        description: "eight small LLCs: many scheduling domains, few CPUs",
    },
    Preset {
        name: "2numa",
        spec: "2n2l2c1t",
        description: "two NUMA nodes of one LLC each",
    },
    Preset {
        name: "2numa-smt",
        spec: "2n4l2c2t",
        description: "two nodes, two LLCs each, SMT cores",
    },
    Preset {
        name: "2numa-32",
        spec: "2n4l4c2t",
        description: "32 CPUs: two nodes, four LLCs, SMT",
    },
    Preset {
        name: "numa4",
        spec: "4n4l2c1t",
        description: "four NUMA nodes of 2 cores",
    },
    Preset {
        name: "numa4-llc8",
        spec: "4n8l4c2t",
        description: "64 CPUs: four nodes, two LLCs each, SMT",
    },
    Preset {
        name: "big64",
        spec: "1n4l8c2t",
        description: "64 CPUs on one node: four LLCs of 8 SMT cores",
    },
    Preset {
        name: "flat64",
        spec: "1n1l64c1t",
        description: "64 cores on one LLC: one big runqueue domain",
    },
];

/// Every preset, smallest first.
pub fn list() -> &'static [Preset] {
    PRESETS
}

/// The preset called `name` (exact, case-insensitive).
pub fn find(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name.eq_ignore_ascii_case(name))
}

/// The preset name closest to a misspelt `name`, if any is close enough.
pub fn nearest(name: &str) -> Option<&'static str> {
    let name = name.to_ascii_lowercase();
    PRESETS
        .iter()
        .map(|p| (strsim::jaro_winkler(&name, p.name), p.name))
        .filter(|(score, _)| *score >= 0.7)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, n)| n)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::topology::TopologySpec;

    #[test]
    fn presets_are_valid_unique_and_span_the_range() {
        assert!(list().len() >= 12);
        let names: BTreeSet<&str> = list().iter().map(|p| p.name).collect();
        assert_eq!(names.len(), list().len(), "duplicate preset name");
        for p in list() {
            let spec = TopologySpec::parse(p.spec).unwrap_or_else(|e| panic!("{}: {e}", p.name));
            assert_eq!(
                spec.to_string(),
                p.spec,
                "{}: not in canonical form",
                p.name
            );
            spec.validate(None)
                .unwrap_or_else(|e| panic!("{}: {e}", p.name));
            // A name must never read as spec syntax.
            assert!(
                TopologySpec::parse(p.name).is_ok_and(|s| s == spec),
                "{}",
                p.name
            );
        }
        let specs: BTreeSet<&str> = list().iter().map(|p| p.spec).collect();
        assert!(specs.contains("1n1l2c1t") && specs.contains("4n8l4c2t"));
        assert!(list()
            .iter()
            .any(|p| p.spec().nodes == 1 && p.spec().vcpus() >= 64));
    }

    #[test]
    fn names_are_found_and_misspellings_suggested() {
        assert_eq!(find("Big64").map(|p| p.spec), Some("1n4l8c2t"));
        assert_eq!(find("big"), None);
        let cases = [
            ("smt-piar", "smt-pair"),
            ("numa4-llc", "numa4-llc8"),
            ("tinny", "tiny"),
        ];
        for (typo, want) in cases {
            assert_eq!(nearest(typo), Some(want), "{typo}");
        }
        assert_eq!(nearest("zzzzzzzz"), None);
    }
}
