//! Pieces of the PID 1 sequence, one concern per module. `main.rs` strings
//! them together in order.

pub mod clock;
pub mod cgroup;
pub mod kmsg;
pub mod mounts;
pub mod port;
pub mod power;
pub mod reaper;
pub mod scheduler;
