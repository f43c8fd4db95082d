//! The workload engine: forked workers that load the scheduler and measure
//! what each task experienced.
//!
//! It runs the model declared in [`ktstr_wire::workload`]: a
//! `WorkloadConfig` is a list of `WorkSpec`s (one group of workers in one
//! cgroup each). [`WorkloadHandle::spawn`] forks every worker, places it,
//! and parks it on a start barrier; [`WorkloadHandle::start`] releases them
//! together; [`WorkloadHandle::stop`] signals them and collects one
//! `WorkerReport` per worker (a sentinel for a worker that died).
//!
//! Layout: `affinity`/`policy` resolve and apply the declared settings;
//! `plan` resolves the whole spec before forking; `spawn`/`collect` are the parent,
//! `worker` the child; `measure` is the checkpoint and counters, `gaps` what it keeps of the gaps, `latency` the wake-up histogram; `types`
//! holds the work loops by family.

mod affinity;
mod collect;
mod error;
mod gaps;
mod handle;
mod latency;
pub mod measure;
mod plan;
mod policy;
mod rng;
mod shared;
mod spawn;
mod types;
mod worker;

pub use affinity::*;
pub use error::WorkloadError;
pub use handle::WorkloadHandle;
pub use policy::*;

#[cfg(test)]
mod tests;
