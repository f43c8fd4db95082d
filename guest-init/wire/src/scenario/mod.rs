//! The scenario model both sides share: cgroups, steps and ops
//! ([`ScenarioSpec`], sent in the run config; the host reads the same types
//! from scenario files), cpuset specs and their resolution against a
//! topology ([`CpusetSpec`]), and the marks the guest sends while it runs
//! one ([`ScenarioEvent`]).

pub mod cpuset;
pub mod event;
pub mod model;

pub use cpuset::{CpusetError, CpusetSpec, CPUSET_KINDS};
pub use event::{GroupCpus, Mark, ScenarioEvent};
pub use model::{CgroupDef, Op, ScenarioSpec, Step, OP_NAMES};

#[cfg(test)]
mod tests;
