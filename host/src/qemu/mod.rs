//! Everything about QEMU: choosing the accelerator, building the command
//! line (pure functions, one per concern), the guest kernel command line,
//! owning the QEMU process, and talking to it over QMP (snapshots).

pub mod accel;
pub mod args;
pub mod cmdline;
pub mod process;
pub mod qmp;
