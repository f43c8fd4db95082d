//! The workload engine: forked workers that load the scheduler and measure
//! what each task experienced.
//!
//! A [`WorkloadConfig`] is a list of [`WorkSpec`]s (one group of workers in
//! one cgroup each). [`WorkloadHandle::spawn`] forks every worker, places it,
//! and parks it on a start barrier; [`WorkloadHandle::start`] releases them
//! together; [`WorkloadHandle::stop`] signals them and collects one
//! [`WorkerReport`] per worker (a sentinel for a worker that died).

mod report;
mod spec;

pub use report::*;
pub use spec::*;
