//! What happened during a run, in order, on the host clock.
//!
//! The runner is the only producer. The verdict, the live progress and the
//! report are consumers, so a verdict is tested from a hand-made
//! `Vec<TimedEvent>` without booting anything.

use ktstr_wire::GuestMsg;
use serde::Serialize;

use crate::qemu::process::QemuExit;

/// One thing that happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// QEMU was spawned.
    QemuStarted,
    /// QEMU connected to the results socket.
    PortConnected,
    /// A well-formed message from the guest.
    Guest { msg: GuestMsg },
    /// A line from the guest that was not a valid message.
    Protocol { error: String },
    /// QEMU ended.
    QemuExited { exit: QemuExit },
    /// The host-side deadline passed and QEMU was killed.
    HostTimeout { limit_ms: u64 },
    /// Malformed lines from the guest beyond the first
    /// `guest_stream::MAX_PROTOCOL_KEPT`: counted, not kept.
    ProtocolDropped { count: u64 },
    /// The user interrupted the run (Ctrl-C / SIGTERM).
    Interrupted,
    /// The VM was restored from a snapshot; the guest answered this long
    /// after QEMU started, at this guest uptime (the snapshot's clock).
    Restored { after_ms: u64, guest_ms: u64 },
    /// This run saved the snapshot later runs restore.
    SnapshotSaved { bytes: u64, save_ms: u64 },
    /// Saving a snapshot failed; the run went on without one.
    SnapshotFailed { why: String },
    /// The guest wrote more to its console than `console.log` keeps: this
    /// many bytes between its head and its tail were dropped.
    ConsoleCut { dropped_bytes: u64 },
}

/// An event with the host time since the run started.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimedEvent {
    pub host_ms: u64,
    #[serde(flatten)]
    pub event: Event,
}

impl TimedEvent {
    pub fn new(host_ms: u64, event: Event) -> Self {
        TimedEvent { host_ms, event }
    }

    /// The guest message, if this is one.
    pub fn guest(&self) -> Option<&GuestMsg> {
        match &self.event {
            Event::Guest { msg } => Some(msg),
            _ => None,
        }
    }
}
