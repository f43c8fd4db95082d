//! Cpuset specs: a cgroup's CPUs named by topology (`llc(i)`, `numa(i)`),
//! by share of the machine (`range(0.0, 0.5)`, `disjoint(i, of)`,
//! `overlap(i, of, frac)`) or exactly (`0-3,6`). Resolved against a
//! [`Topology`]: on the host to validate a file, in the guest against the
//! topology the kernel really built.
//!
//! Files may write a spec as a string (`"llc(1)"`, `"0-3"`) or as a table
//! (`{ llc = 1 }`, `{ cpus = [0, 1] }`); both read into the same value.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::topology::{format_cpu_list, parse_cpu_list, Topology};

/// Which CPUs a cgroup (or an affinity op) gets.
#[derive(Debug, Clone, PartialEq)]
pub enum CpusetSpec {
    /// The CPUs sharing last-level cache group `i`.
    Llc(usize),
    /// The CPUs of NUMA node `i`.
    Numa(u32),
    /// The online CPUs from fraction `from` to fraction `to` (0.0..=1.0).
    Range { from: f64, to: f64 },
    /// Part `index` of `of` equal, non-overlapping parts of the online CPUs.
    Disjoint { index: u32, of: u32 },
    /// Part `index` of `of`, grown by `frac` of a part into the next one,
    /// so neighbouring parts share CPUs.
    Overlap { index: u32, of: u32, frac: f64 },
    /// Exactly these CPUs.
    Cpus(Vec<u32>),
}

/// A spec that names CPUs the topology does not have.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CpusetError {
    #[error("llc({index}) does not exist: the topology has {count} LLC group(s), llc(0)..llc({last})", last = count.saturating_sub(1))]
    NoSuchLlc { index: usize, count: usize },
    #[error("numa({node}) does not exist: the topology has node(s) {nodes:?}")]
    NoSuchNode { node: u32, nodes: Vec<u32> },
    #[error("range({from}, {to}): need 0 <= from < to <= 1")]
    BadRange { from: f64, to: f64 },
    #[error("{what}({index}, {of}): need index < of and 1 <= of <= {cpus} (the online CPUs)")]
    BadPart {
        what: &'static str,
        index: u32,
        of: u32,
        cpus: usize,
    },
    #[error("overlap frac {frac}: need 0 <= frac <= 1")]
    BadFrac { frac: f64 },
    #[error("CPU(s) {missing} are not online; online CPUs are {online}")]
    Offline { missing: String, online: String },
    #[error("the CPU list is empty; name at least one CPU")]
    Empty,
}

impl CpusetSpec {
    /// The sorted CPUs this spec names on `topo`.
    pub fn resolve(&self, topo: &Topology) -> Result<Vec<u32>, CpusetError> {
        let online = topo.cpus.clone();
        let n = online.len();
        let cpus = match self {
            CpusetSpec::Llc(i) => topo.llcs.get(*i).cloned().ok_or(CpusetError::NoSuchLlc {
                index: *i,
                count: topo.llcs.len(),
            })?,
            CpusetSpec::Numa(node) => topo
                .nodes
                .iter()
                .find(|x| x.id == *node)
                .map(|x| x.cpus.clone())
                .ok_or_else(|| CpusetError::NoSuchNode {
                    node: *node,
                    nodes: topo.nodes.iter().map(|x| x.id).collect(),
                })?,
            CpusetSpec::Range { from, to } => {
                if !((0.0..1.0).contains(from) && *to > *from && *to <= 1.0) {
                    return Err(CpusetError::BadRange {
                        from: *from,
                        to: *to,
                    });
                }
                let start = ((from * n as f64).round() as usize).min(n - 1);
                let end = ((to * n as f64).round() as usize).clamp(start + 1, n);
                online[start..end].to_vec()
            }
            CpusetSpec::Disjoint { index, of } => {
                let (start, size) = part(*index, *of, n, "disjoint")?;
                let size = if *index + 1 == *of { n - start } else { size };
                online[start..start + size].to_vec()
            }
            CpusetSpec::Overlap { index, of, frac } => {
                if !(0.0..=1.0).contains(frac) {
                    return Err(CpusetError::BadFrac { frac: *frac });
                }
                let (start, size) = part(*index, *of, n, "overlap")?;
                let extra = (frac * size as f64).ceil() as usize;
                (start..start + (size + extra).min(n))
                    .map(|k| online[k % n])
                    .collect()
            }
            CpusetSpec::Cpus(list) => {
                if list.is_empty() {
                    return Err(CpusetError::Empty);
                }
                let missing: Vec<u32> = list
                    .iter()
                    .copied()
                    .filter(|c| !online.contains(c))
                    .collect();
                if !missing.is_empty() {
                    return Err(CpusetError::Offline {
                        missing: format_cpu_list(&missing),
                        online: format_cpu_list(&online),
                    });
                }
                list.clone()
            }
        };
        let mut cpus = cpus;
        cpus.sort_unstable();
        cpus.dedup();
        Ok(cpus)
    }
}

/// First CPU position and size of part `index` of `of`.
fn part(index: u32, of: u32, n: usize, what: &'static str) -> Result<(usize, usize), CpusetError> {
    if of == 0 || index >= of || of as usize > n {
        return Err(CpusetError::BadPart {
            what,
            index,
            of,
            cpus: n,
        });
    }
    let size = n / of as usize;
    Ok((index as usize * size, size))
}

impl std::fmt::Display for CpusetSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CpusetSpec::Llc(i) => write!(f, "llc({i})"),
            CpusetSpec::Numa(i) => write!(f, "numa({i})"),
            CpusetSpec::Range { from, to } => write!(f, "range({from}, {to})"),
            CpusetSpec::Disjoint { index, of } => write!(f, "disjoint({index}, {of})"),
            CpusetSpec::Overlap { index, of, frac } => write!(f, "overlap({index}, {of}, {frac})"),
            CpusetSpec::Cpus(list) => f.write_str(&format_cpu_list(list)),
        }
    }
}

/// Names accepted as `name(args)` strings and as table keys.
pub const CPUSET_KINDS: &[&str] = &["llc", "numa", "range", "disjoint", "overlap", "cpus"];

impl std::str::FromStr for CpusetSpec {
    type Err = String;

    /// `llc(1)`, `numa(0)`, `range(0, 0.5)`, `disjoint(0, 2)`,
    /// `overlap(0, 2, 0.5)`, or a cpulist such as `0-3,6`.
    fn from_str(text: &str) -> Result<CpusetSpec, String> {
        let t = text.trim();
        let Some((name, rest)) = t.split_once('(') else {
            return parse_cpu_list(t)
                .map_err(|e| format!("cpuset {t:?}: {e}; write a cpulist like \"0-3,6\" or llc(0), numa(0), range(0, 0.5), disjoint(0, 2), overlap(0, 2, 0.5)"))
                .map(CpusetSpec::Cpus);
        };
        let args_text = rest
            .strip_suffix(')')
            .ok_or_else(|| format!("cpuset {t:?}: missing ')'"))?;
        let args: Vec<&str> = args_text
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .collect();
        let name = name.trim();
        let bad = |want: &str| format!("cpuset {t:?}: {name} takes {want}");
        let int = |s: &str| s.parse::<u32>().map_err(|_| bad("whole numbers here"));
        let num = |s: &str| s.parse::<f64>().map_err(|_| bad("numbers here"));
        match (name, args.as_slice()) {
            ("llc", [i]) => Ok(CpusetSpec::Llc(int(i)? as usize)),
            ("numa", [i]) => Ok(CpusetSpec::Numa(int(i)?)),
            ("range", [a, b]) => Ok(CpusetSpec::Range {
                from: num(a)?,
                to: num(b)?,
            }),
            ("disjoint", [i, of]) => Ok(CpusetSpec::Disjoint {
                index: int(i)?,
                of: int(of)?,
            }),
            ("overlap", [i, of, fr]) => Ok(CpusetSpec::Overlap {
                index: int(i)?,
                of: int(of)?,
                frac: num(fr)?,
            }),
            ("llc" | "numa", _) => Err(bad("one index")),
            ("range", _) => Err(bad("(from, to)")),
            ("disjoint", _) => Err(bad("(index, of)")),
            ("overlap", _) => Err(bad("(index, of, frac)")),
            _ => Err(format!(
                "cpuset {t:?}: unknown kind {name:?}{}; expected one of {}",
                crate::suggest(name, CPUSET_KINDS),
                CPUSET_KINDS.join(", ")
            )),
        }
    }
}

impl Serialize for CpusetSpec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The table form, as serde derives it for an externally tagged enum.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum Table {
    Llc(usize),
    Numa(u32),
    Range { from: f64, to: f64 },
    Disjoint { index: u32, of: u32 },
    Overlap { index: u32, of: u32, frac: f64 },
    Cpus(Vec<u32>),
}

impl<'de> Deserialize<'de> for CpusetSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<CpusetSpec, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = CpusetSpec;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a cpuset: \"llc(0)\", \"numa(0)\", \"range(0, 0.5)\", \"disjoint(0, 2)\", \"overlap(0, 2, 0.5)\", \"0-3\", or a table like { llc = 0 }")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<CpusetSpec, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<CpusetSpec, A::Error> {
                let mut cpus = Vec::new();
                while let Some(c) = seq.next_element::<u32>()? {
                    cpus.push(c);
                }
                Ok(CpusetSpec::Cpus(cpus))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<CpusetSpec, A::Error> {
                let t = Table::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(match t {
                    Table::Llc(i) => CpusetSpec::Llc(i),
                    Table::Numa(i) => CpusetSpec::Numa(i),
                    Table::Range { from, to } => CpusetSpec::Range { from, to },
                    Table::Disjoint { index, of } => CpusetSpec::Disjoint { index, of },
                    Table::Overlap { index, of, frac } => CpusetSpec::Overlap { index, of, frac },
                    Table::Cpus(c) => CpusetSpec::Cpus(c),
                })
            }
        }
        d.deserialize_any(V)
    }
}
