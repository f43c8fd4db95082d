//! The declared workload (ktstr's model): a [`WorkloadConfig`] is a list of
//! [`WorkSpec`]s, one group of workers in one cgroup each, doing a
//! [`WorkType`] with an [`AffinityIntent`], a [`SchedPolicy`] and a
//! [`MemPolicy`]; each worker answers with a [`WorkerReport`].
//!
//! Data and its validation only: the guest's workload engine resolves and
//! runs it, the host writes and judges it.

mod affinity;
mod policy;
mod report;
mod spec;
mod work_type;

pub use affinity::*;
pub use policy::*;
pub use report::*;
pub use spec::*;
pub use work_type::*;

#[cfg(test)]
mod tests;
