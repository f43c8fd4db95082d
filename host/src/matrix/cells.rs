//! The cells of a matrix: the cross product of kernels, topologies,
//! schedulers and scenarios, in a fixed order, each with a stable id (its
//! artifact directory), the exclusions that skip some with a reason, and a
//! deterministic split into CI shards.

use serde::Serialize;

use super::spec::{Exclusion, MatrixSpec, SchedulerEntry};

/// One run of the matrix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cell {
    /// Unique, file-system safe: the cell's artifact directory.
    pub id: String,
    pub kernel: String,
    pub topology: String,
    /// `None` runs the kernel's default scheduler (EEVDF).
    pub scheduler: Option<SchedulerEntry>,
    /// Scenarios run in this cell's one boot; empty = the plain workload.
    pub scenarios: Vec<String>,
    /// Why the cell is not run (a matching `[[exclude]]`), if it is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub excluded: Option<String>,
}

impl Cell {
    /// `scx_simple -v`, or `eevdf`.
    pub fn scheduler_label(&self) -> String {
        self.scheduler
            .as_ref()
            .map_or_else(|| "eevdf".to_string(), SchedulerEntry::label)
    }

    /// `scx_simple on 6.12.117 [1n2l2c1t] steady`.
    pub fn label(&self) -> String {
        let mut s = format!(
            "{} on {} [{}]",
            self.scheduler_label(),
            self.kernel,
            self.topology
        );
        if !self.scenarios.is_empty() {
            s.push(' ');
            s.push_str(&self.scenarios.join(","));
        }
        s
    }
}

/// Every cell of `spec`, kernel-major, with exclusions applied.
pub fn cells(spec: &MatrixSpec) -> Vec<Cell> {
    let scheds: Vec<Option<&SchedulerEntry>> = if spec.schedulers.is_empty() {
        vec![None]
    } else {
        spec.schedulers.iter().map(|s| s.as_entry()).collect()
    };
    let scenarios: Vec<Vec<String>> = if spec.scenarios.is_empty() {
        vec![Vec::new()]
    } else {
        spec.scenarios
            .iter()
            .map(|s| s.split(',').map(|x| x.trim().to_string()).collect())
            .collect()
    };
    let mut out: Vec<Cell> = Vec::new();
    for kernel in &spec.kernels {
        for topology in &spec.topologies {
            for sched in &scheds {
                for scen in &scenarios {
                    let mut cell = Cell {
                        id: String::new(),
                        kernel: kernel.clone(),
                        topology: topology.clone(),
                        scheduler: sched.cloned(),
                        scenarios: scen.clone(),
                        excluded: None,
                    };
                    cell.excluded = spec
                        .exclude
                        .iter()
                        .find(|e| e.matches(&cell))
                        .map(|e| e.reason.clone());
                    cell.id = unique_id(&cell, &out);
                    out.push(cell);
                }
            }
        }
    }
    out
}

/// Every cell `times` times in a row (ids `ID__r01`, `ID__r02`...): the
/// same test repeated to measure its flake rate (`ci/soak.sh -j2`).
pub fn repeat(cells: Vec<Cell>, times: u32) -> Vec<Cell> {
    if times <= 1 {
        return cells;
    }
    cells
        .into_iter()
        .flat_map(|c| {
            (1..=times).map(move |i| Cell {
                id: format!("{}__r{i:02}", c.id),
                ..c.clone()
            })
        })
        .collect()
}

/// `KERNEL__TOPOLOGY__SCHEDULER[__SCENARIOS]`, made safe for a file name,
/// with `-2`, `-3`... when two cells would share it.
fn unique_id(cell: &Cell, taken: &[Cell]) -> String {
    let mut parts = vec![
        cell.kernel.clone(),
        cell.topology.clone(),
        cell.scheduler_label(),
    ];
    if !cell.scenarios.is_empty() {
        parts.push(cell.scenarios.join(","));
    }
    let base: String = parts.iter().map(|p| safe(p)).collect::<Vec<_>>().join("__");
    if !taken.iter().any(|c| c.id == base) {
        return base;
    }
    (2..)
        .map(|i| format!("{base}-{i}"))
        .find(|id| !taken.iter().any(|c| &c.id == id))
        .expect("an unused id")
}

/// Letters, digits, `.`, `_`, `+` and `-` stay; runs of anything else
/// (`/`, spaces, `:`...) and of `-` become one `-`; a leading dot cannot
/// make a hidden directory.
fn safe(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let c = if c.is_ascii_alphanumeric() || "._+".contains(c) {
            c
        } else {
            '-'
        };
        if !(c == '-' && out.ends_with('-')) {
            out.push(c);
        }
    }
    let out = out.trim_start_matches('.').to_string();
    if out.is_empty() {
        "-".into()
    } else {
        out
    }
}

/// A CI shard: the `index`-th (1-based) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl std::str::FromStr for Shard {
    type Err = String;

    /// `I/N` with 1 <= I <= N.
    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("--shard {s:?}: write I/N with 1 <= I <= N, e.g. 1/4");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count): (u32, u32) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if count == 0 || index == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl Shard {
    /// The cells of this shard: every `count`-th, so each shard gets a mix
    /// of kernels and schedulers and the shards together cover every cell
    /// exactly once.
    pub fn select(&self, cells: Vec<Cell>) -> Vec<Cell> {
        cells
            .into_iter()
            .enumerate()
            .filter(|(i, _)| *i as u32 % self.count == self.index - 1)
            .map(|(_, c)| c)
            .collect()
    }
}

impl Exclusion {
    /// Whether every field this exclusion names matches `cell` (`*` in a
    /// pattern matches any text; a scheduler pattern matches its name or
    /// its name with arguments).
    pub fn matches(&self, cell: &Cell) -> bool {
        let ok = |pat: &Option<String>, value: &str| pat.as_deref().is_none_or(|p| glob(p, value));
        let sched_ok = self.scheduler.as_deref().is_none_or(|p| {
            let name = cell.scheduler.as_ref().map_or("eevdf", |s| s.name.as_str());
            glob(p, name) || glob(p, &cell.scheduler_label())
        });
        let scen = cell.scenarios.join(",");
        ok(&self.kernel, &cell.kernel)
            && ok(&self.topology, &cell.topology)
            && sched_ok
            && (self.scenario.is_none()
                || cell.scenarios.iter().any(|s| ok(&self.scenario, s))
                || ok(&self.scenario, &scen))
    }
}

/// Shell-style `*` matching (no other metacharacters).
pub fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
#[path = "cells_tests.rs"]
mod tests;
