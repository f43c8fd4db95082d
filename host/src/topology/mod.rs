//! Synthetic topology: NUMA nodes x LLCs x cores x SMT threads.
//!
//! - [`spec`]: the request (`2n4l4c2t`, a preset name, or scenario fields)
//!   and its validation into a [`TopologyPlan`].
//! - [`presets`]: named topologies.
//! - [`qemu`]: the plan as QEMU arguments, and the layout the guest must
//!   then report ([`TopologyPlan::expected`]).
//! - [`compare`]: expected against observed, as a readable diff.
//! - [`cli`]: `ktstr-vm topo list|show`.

pub mod cli;
pub mod compare;
pub mod presets;
pub mod qemu;
pub mod spec;

pub use compare::{compare, TopologyMismatch};
pub use presets::Preset;
pub use spec::{TopologyError, TopologyPlan, TopologySpec};
