//! Scenarios as the guest runs them, and the model both sides share.
//!
//! - [`model`]: cgroups, steps and ops (`ScenarioSpec`), sent in the run
//!   config; the host reads the same types from scenario files.
//! - [`cpuset`]: cpuset specs and their resolution against a topology.
//! - [`event`]: marks the guest sends while it runs a scenario.
//! - [`exec`]: the executor (cgroup v2 files, workload handles).
//! - [`millis`]: durations written as `"2s"` or milliseconds.

mod cgroupfs;
pub mod cpuset;
pub mod event;
pub mod exec;
pub mod millis;
pub mod model;

pub use cpuset::{CpusetError, CpusetSpec};
pub use event::{GroupCpus, Mark, ScenarioEvent};
pub use exec::StepEnv;
pub use millis::Millis;
pub use model::{CgroupDef, Op, ScenarioSpec, Step};

/// ` (did you mean "x"?)` when one of `valid` is close to `name` (a typo:
/// few edits, or a similar spelling), else "".
pub fn suggest(name: &str, valid: &[&str]) -> String {
    let close = |v: &str| {
        let edits = strsim::damerau_levenshtein(name, v);
        edits <= (v.len() / 3).max(1) || strsim::jaro_winkler(name, v) > 0.85
    };
    valid
        .iter()
        .filter(|v| close(v))
        .min_by_key(|v| strsim::damerau_levenshtein(name, v))
        .map(|v| format!(" (did you mean {v:?}?)"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
