//! ktstr-vm as a library, so integration tests drive the same code as the CLI.
//!
//! Data flows: [`plan`] (a validated run: [`kernel`], [`topology`],
//! [`qemu`] accelerator, [`scenario`]s and [`payload`]s) -> [`guest_image`]
//! (the initramfs) -> [`run`] (boot QEMU, stream the guest's messages into
//! [`events`]) -> [`verdict`] (the one judge: health checks, [`assert`]ions
//! and payloads make [`finding`]s) -> [`report`], with [`exit`] and
//! [`error`] deciding the process exit code.
//!
//! Commands built on runs: [`commands`] (`run`, `exec`, `shell`, `bisect`)
//! and [`compare`]; [`cli`] assembles them, [`args`] holds the options they
//! share. Modules are listed leaves first: each uses only those above it.

// Leaves: vocabulary and helpers.
pub mod cache_dir;
pub mod error;
pub mod exit;
pub mod finding;
pub mod include;
pub mod which;
// What a run is made of.
pub mod assert;
pub mod events;
pub mod guest_image;
pub mod kernel;
pub mod payload;
pub mod plan;
pub mod qemu;
pub mod scenario;
pub mod topology;
// Judging and reporting a run.
pub mod report;
pub mod verdict;
// Running it.
pub mod compare;
pub mod run;
// The command line.
pub mod args;
pub mod cli;
pub mod commands;

/// The static guest init, built by `build.rs` and embedded here.
pub static GUEST_INIT: &[u8] = include_bytes!(env!("KTSTR_GUEST_INIT"));
