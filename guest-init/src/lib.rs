//! The guest side of ktstr-vm: what PID 1 (`src/main.rs`, with its pieces in
//! `src/init/`) runs inside the VM. What crosses the VM boundary (messages,
//! run config, the workload/scenario/topology model) is the `ktstr-wire`
//! crate, which the host shares.
//!
//! - [`workload`]: the engine that forks workers for a `WorkloadConfig` and
//!   measures them. Plain Linux processes, so it is tested on the host
//!   without a VM.
//! - [`topology`]: reads the CPU/LLC/NUMA layout the kernel built from sysfs.
//! - [`steps`]: applies scenario steps (cgroups, cpusets, affinity, freezes)
//!   over time.
//! - [`clock`]: the clocks every timestamp comes from.
//! - [`panic_hook`]: the one panic hook, safe in forked workers.

pub mod clock;
pub mod panic_hook;
pub mod steps;
pub mod topology;
pub mod workload;
