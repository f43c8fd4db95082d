//! What the host sends the guest: one [`HostMsg`] line on the results port,
//! answering the guest's `AwaitingRun`, followed by raw bytes it announces.
//!
//! Why over the port and not in the initramfs: a VM saved while it waits
//! here (a snapshot) is the same for every run of a kernel and topology,
//! so each run restores it and sends only what differs, its scheduler,
//! files and config. A cold boot takes the same path, so there is one.

use serde::{Deserialize, Serialize};

/// How often the guest says `AwaitingRun` while it waits: after a restore
/// the host waits for one before it sends (data sent in the first moments
/// after `cont` can be lost), so this bounds the handshake's latency.
pub const AWAIT_RUN_INTERVAL_MS: u64 = 50;

/// Largest run archive either side accepts.
pub const MAX_RUN_ARCHIVE: u64 = 2 << 30;

/// Longest [`HostMsg`] line.
pub const MAX_HOST_LINE: usize = 4096;

/// A message from the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum HostMsg {
    /// The run: `archive_bytes` of newc cpio follow this line.
    Run {
        protocol: u32,
        archive_bytes: u64,
        /// Hex bytes the guest mixes into its entropy pool: a restored
        /// guest would otherwise start every run from the same random state.
        entropy: String,
        /// The guest was restored from a snapshot (its clock and state are
        /// the snapshot's, not a fresh boot's).
        restored: bool,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_each() {
        let m = HostMsg::Run {
            protocol: 3,
            archive_bytes: 1234,
            entropy: "00ff".into(),
            restored: true,
        };
        let line = serde_json::to_string(&m).unwrap();
        assert!(!line.contains('\n') && line.len() < MAX_HOST_LINE);
        assert!(line.starts_with(r#"{"type":"run""#), "{line}");
        assert_eq!(serde_json::from_str::<HostMsg>(&line).unwrap(), m);
        assert!(serde_json::from_str::<HostMsg>(r#"{"type":"run","x":1}"#).is_err());
    }
}
