//! The wire protocol between the host (`ktstr-vm`) and the guest init.
//!
//! Direction and sequence:
//! 1. Host -> guest, once, before boot: a [`RunConfig`] as JSON at
//!    [`RUN_CONFIG_PATH`] inside the initramfs.
//! 2. Guest -> host, streamed over the virtio-serial port named [`PORT_NAME`]:
//!    newline-delimited JSON, one [`GuestMsg`] per line. The guest sends
//!    `Hello` first, then `Topology`, `Phase`, scheduler, kernel-log,
//!    worker-report and error messages as they happen, and `Done` last,
//!    right before it powers off. A stream without `Done` means the guest
//!    died or hung.
//!
//! The host treats the stream as untrusted: [`codec::Decoder`] bounds line
//! length and message count and turns malformed input into a
//! [`codec::ProtocolError`] instead of a panic.

pub mod codec;
mod fault;
mod message;
mod run_config;
mod trace;

pub use fault::*;
pub use message::*;
pub use run_config::*;
pub use trace::*;

/// Bumped on any incompatible change to [`GuestMsg`] or [`RunConfig`].
pub const PROTOCOL_VERSION: u32 = 1;

/// Name of the virtio-serial port carrying [`GuestMsg`]s. The guest finds it
/// under `/sys/class/virtio-ports/*/name`, so port numbering does not matter.
pub const PORT_NAME: &str = "org.ktstr-vm.results";

/// Where the host puts the [`RunConfig`] inside the initramfs.
pub const RUN_CONFIG_PATH: &str = "/ktstr-vm/run.json";

/// Longest line the host accepts; longer lines are a protocol error.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// Most messages the host keeps from one run before declaring a flood.
pub const MAX_MESSAGES: usize = 200_000;

/// Most bytes the host accepts from one run (all lines together).
pub const MAX_STREAM_BYTES: u64 = 256 << 20;
