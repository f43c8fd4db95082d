//! The guest side of ktstr-vm, and everything the host and guest share.
//!
//! - [`wire`]: the one protocol that crosses the VM boundary (run config in,
//!   newline-delimited JSON messages out). Both sides depend on it, so a
//!   message can never be spelled two ways.
//! - [`workload`]: forked workers (`WorkType`, `WorkSpec`, `WorkerReport`).
//!   Plain Linux processes, so it is tested on the host without a VM.
//! - [`topology`]: the CPU/LLC/NUMA layout as the guest observes it in sysfs.
//! - [`steps`]: scenario steps (cgroup, cpuset, affinity, freeze ops) as
//!   the guest applies them over time.
//! - [`clock`]: the clocks every timestamp comes from.
//!
//! The PID 1 binary (`src/main.rs`) is a thin sequence over these.

pub mod clock;
pub mod steps;
pub mod topology;
pub mod wire;
pub mod workload;
