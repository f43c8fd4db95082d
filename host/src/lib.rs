//! ktstr-vm as a library, so integration tests drive the same code as the CLI.
//!
//! Data flows: [`kernel`] (build/resolve a kernel) -> [`guest_image`] (the
//! initramfs for one run) -> [`qemu`] (boot it with a [`topology`]) ->
//! [`run`] (stream guest messages into events) -> [`verdict`] (findings
//! from the events) and [`assert`] (scenario assertions on the reports) ->
//! [`report`], with [`exit`] deciding the process exit code.
//!
//! What a run contains: [`scenario`] files, [`payload`] programs. Commands
//! built on whole runs: [`commands`] (`exec`, `shell`, `bisect`) and
//! [`compare`]. [`cli`] holds the flags they share.

pub mod assert;
pub mod cache_dir;
pub mod cli;
pub mod commands;
pub mod compare;
pub mod exit;
pub mod guest_image;
pub mod kernel;
pub mod payload;
pub mod qemu;
pub mod report;
pub mod run;
pub mod scenario;
pub mod topology;
pub mod trace;
pub mod verdict;
pub mod which;

/// The static guest init, built by `build.rs` and embedded here.
pub static GUEST_INIT: &[u8] = include_bytes!(env!("KTSTR_GUEST_INIT"));
