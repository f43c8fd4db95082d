//! `ktstr-vm matrix`: one test over the cross product of kernels,
//! topologies, schedulers (with their arguments) and scenarios, the way a
//! scheduler repository's CI tests every change on several kernels (and a
//! kernel developer tests one kernel change against every scheduler).
//!
//! [`spec`] reads the dimensions from a plan file (`ktstr-vm.toml`) and the
//! command line; [`cells`] makes the cells (exclusions, shards); [`run`]
//! prepares each kernel and cargo-built scheduler once and runs the cells
//! `-j` at a time; [`output`] writes JUnit, JSON and the GitHub summary.

pub mod cargo_sched;
pub mod cells;
pub mod cli;
pub mod output;
pub mod progress;
pub mod result;
pub mod run;
pub mod spec;

pub use cells::{Cell, Shard};
pub use result::{CellResult, Status};
pub use spec::{Exclusion, MatrixSpec, SchedulerEntry};
