//! Scenarios as the guest runs them: the executor ([`exec`]) applies the
//! steps of a [`ktstr_wire::scenario::ScenarioSpec`] over time through
//! cgroup v2 files ([`cgroupfs`]) and workload handles, and reports each
//! step as a mark.

mod cgroupfs;
pub mod exec;

pub use exec::StepEnv;
