//! The workload engine: forked workers that load the scheduler and measure
//! what each task experienced.
//!
//! A [`WorkloadConfig`] is a list of [`WorkSpec`]s (one group of workers in
//! one cgroup each). [`WorkloadHandle::spawn`] forks every worker, places it,
//! and parks it on a start barrier; [`WorkloadHandle::start`] releases them
//! together; [`WorkloadHandle::stop`] signals them and collects one
//! [`WorkerReport`] per worker (a sentinel for a worker that died).
//!
//! Layout: `spec`/`work_type`/`affinity`/`policy` are the declared model;
//! `plan` resolves it before forking; `spawn`/`collect` are the parent,
//! `worker` the child; `measure` is the checkpoint and counters; `types`
//! holds the work loops by family.

mod affinity;
mod collect;
mod error;
pub mod measure;
mod plan;
mod policy;
mod report;
mod rng;
mod shared;
mod spawn;
mod spec;
mod types;
mod work_type;
mod worker;

pub use affinity::*;
pub use error::WorkloadError;
pub use policy::*;
pub use report::*;
pub use spawn::WorkloadHandle;
pub use spec::*;
pub use work_type::*;

#[cfg(test)]
mod tests;
