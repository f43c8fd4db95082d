//! Pieces of the PID 1 sequence, one concern per module. `main.rs` strings
//! them together in order.

pub mod clock;
pub mod cgroup;
pub mod faults;
pub mod kmsg;
pub mod mounts;
pub mod payload;
pub mod port;
pub mod power;
pub mod reaper;
pub mod scheduler;
pub mod shell;
