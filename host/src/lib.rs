//! ktstr-vm as a library, so integration tests drive the same code as the CLI.
//!
//! Data flows: [`plan`] (a validated run: [`kernel`], [`topology`],
//! [`qemu`] accelerator, [`scenario`]s and [`payload`]s) -> [`guest_image`]
//! (the initramfs) -> [`run`] (boot QEMU, stream the guest's messages into
//! [`events`]) -> [`verdict`] (the one judge: health checks, [`assert`]ions
//! and payloads make [`finding`]s) -> [`report`], with [`exit`] and
//! [`error`] deciding the process exit code.
//!
//! Commands built on runs: [`commands`] (`run`, `exec`, `shell`, `bisect`),
//! [`compare`] and [`matrix`]; [`cli`] assembles them, [`args`] holds the
//! options they share. The groups below go from leaves to commands: a
//! module uses only its own group and the groups above it.

// Leaves: vocabulary and helpers.
pub mod artifacts;
pub mod cache_dir;
pub mod error;
pub mod exit;
pub mod finding;
pub mod guard;
pub mod include;
pub mod scratch;
pub mod which;
// What a run is made of, and the options that ask for one.
pub mod args;
pub mod assert;
pub mod events;
pub mod guest_image;
pub mod kernel;
pub mod payload;
pub mod plan;
pub mod qemu;
pub mod scenario;
pub mod snapshot;
pub mod topology;
pub mod trace;
// Judging and reporting a run.
pub mod report;
pub mod verdict;
// Running it.
pub mod compare;
pub mod matrix;
pub mod run;
// The command line.
pub mod cli;
pub mod commands;

/// The static guest init, built by `build.rs` and embedded here.
pub static GUEST_INIT: &[u8] = include_bytes!(env!("KTSTR_GUEST_INIT"));
