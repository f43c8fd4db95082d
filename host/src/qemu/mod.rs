//! Everything about QEMU: choosing the accelerator, building the command
//! line (pure functions, one per concern), the guest kernel command line,
//! and owning the QEMU process.

pub mod accel;
pub mod args;
pub mod cmdline;
pub mod process;
