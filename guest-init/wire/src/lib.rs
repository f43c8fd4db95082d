//! What crosses the VM boundary between the host (`ktstr-vm`) and the guest
//! init, in one data-only crate both sides depend on: the messages and the
//! run config, and the model they carry ([`workload`], [`scenario`],
//! [`topology`], durations). No process, file or syscall code lives here, so
//! the host decodes the guest's stream without linking the guest's engine.
//!
//! Direction and sequence, all over the virtio-serial port named
//! [`PORT_NAME`]:
//! 1. Guest -> host: `AwaitingRun`, repeated every
//!    [`AWAIT_RUN_INTERVAL_MS`] until the run arrives. The guest has booted
//!    (or been restored from a snapshot taken at this very point: see
//!    [`HostMsg`]) and has mounted its filesystems, nothing more.
//! 2. Host -> guest, once: a [`HostMsg::Run`] line, then its archive (a
//!    newc cpio: the [`RunConfig`] as JSON at [`RUN_CONFIG_PATH`], the
//!    scheduler and its libraries, included files), which the guest
//!    unpacks into its root.
//! 3. Guest -> host, newline-delimited JSON, one [`GuestMsg`] per line:
//!    `Hello`, then `Topology`, `Phase`, scheduler, kernel-log,
//!    worker-report and error messages as they happen, and `Done` last,
//!    right before it powers off. A stream without `Done` means the guest
//!    died or hung.
//!
//! The host treats the stream as untrusted: [`codec::Decoder`] bounds line
//! length and message count and turns malformed input into a
//! [`codec::ProtocolError`] instead of a panic.

pub mod codec;
pub mod duration;
mod fault;
mod host;
mod message;
mod run_config;
pub mod scenario;
pub mod signal;
pub mod topology;
mod trace;
pub mod workload;

pub use duration::{parse_duration, Millis};
pub use fault::*;
pub use host::*;
pub use message::*;
pub use run_config::*;
pub use trace::*;

/// Bumped on any incompatible change to [`GuestMsg`], [`HostMsg`] or
/// [`RunConfig`].
pub const PROTOCOL_VERSION: u32 = 3;

/// Name of the virtio-serial port carrying [`GuestMsg`]s. The guest finds it
/// under `/sys/class/virtio-ports/*/name`, so port numbering does not matter.
pub const PORT_NAME: &str = "org.ktstr-vm.results";

/// Where the host puts the [`RunConfig`] inside the run archive.
pub const RUN_CONFIG_PATH: &str = "/ktstr-vm/run.json";

/// Longest line the host accepts; longer lines are a protocol error.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// Most messages the host keeps from one run before declaring a flood.
pub const MAX_MESSAGES: usize = 200_000;

/// Most bytes the host accepts from one run (all lines together).
pub const MAX_STREAM_BYTES: u64 = 256 << 20;

/// ` (did you mean "x"?)` when one of `valid` is close to `name` (a typo:
/// few edits, or a similar spelling), else "". Both sides name things the
/// user typed: scenario files on the host, cpuset kinds in the model.
pub fn suggest(name: &str, valid: &[&str]) -> String {
    let close = |v: &str| {
        let edits = strsim::damerau_levenshtein(name, v);
        edits <= (v.len() / 3).max(1) || strsim::jaro_winkler(name, v) > 0.85
    };
    valid
        .iter()
        .filter(|v| close(v))
        .min_by_key(|v| strsim::damerau_levenshtein(name, v))
        .map(|v| format!(" (did you mean {v:?}?)"))
        .unwrap_or_default()
}
