//! Scheduler tracing (`ktstr-vm run --trace`): what the host asks for,
//! what the guest reports about it, and the binary frames on the trace port.
//!
//! Sequence: the host puts a [`TraceConfig`] in the run config. The guest
//! sets up tracefs, sends [`GuestMsg::TraceStarted`](super::GuestMsg) with
//! the event formats it needs the host to decode, then streams raw
//! ring-buffer pages (`per_cpu/cpuN/trace_pipe_raw`) on the second
//! virtio-serial port [`TRACE_PORT_NAME`], one [`FrameHeader`] + page per
//! frame, and ends with [`GuestMsg::TraceStopped`](super::GuestMsg) (its
//! counters). Pages are raw because formatting text in the guest costs far
//! more under TCG (measured: see the trace module in the host).
//!
//! The port carries binary data and nothing else, so the JSON results
//! stream stays small and responsive; the host reads it as untrusted
//! input (frame size and total bytes bounded).

use serde::{Deserialize, Serialize};

/// Name of the virtio-serial port carrying trace frames.
pub const TRACE_PORT_NAME: &str = "org.ktstr-vm.trace";

/// Magic at the start of every frame, so a desynchronised stream is seen.
pub const FRAME_MAGIC: [u8; 4] = *b"KTRC";
/// Bytes in a [`FrameHeader`].
pub const FRAME_HEADER_LEN: usize = 12;
/// Largest frame payload either side accepts: a ring-buffer sub-buffer
/// is 4 KiB by default, and tracefs allows at most 64 KiB.
pub const MAX_FRAME: usize = 64 << 10;
/// `cpu` of a frame that carries a host note (UTF-8 text), not a page:
/// the host marks in its raw file where it stopped keeping data.
pub const NOTE_CPU: u32 = u32::MAX;

/// What to trace and how much. Both sides bound the data by `limit_bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceConfig {
    /// Ring buffer per CPU (`buffer_size_kb`); the guest drains it
    /// continuously, so it only needs to hold a drain interval.
    pub buffer_kb: u32,
    /// Most bytes of pages the guest ships; then it stops tracing and
    /// reports where (the trace is capped, with a marker).
    pub limit_bytes: u64,
}

/// One task that existed when tracing started (from `/proc`), so the host
/// can name threads and group them into processes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskName {
    pub tid: i32,
    pub tgid: i32,
    pub comm: String,
}

/// Sent when tracing starts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceStart {
    /// tracefs `trace_clock` in use (`boot` when the kernel has it, so the
    /// timestamps are `CLOCK_BOOTTIME`, the guest's uptime clock).
    pub clock: String,
    /// Bytes per ring-buffer page (sub-buffer).
    pub page_size: u32,
    /// `events/header_page`: where the page's timestamp, commit and data are.
    pub header_page: String,
    /// `events/<system>/<event>/format` of every enabled event.
    pub formats: Vec<String>,
    /// Events asked for that this kernel does not have.
    pub missing: Vec<String>,
    /// Tasks alive at the start.
    pub tasks: Vec<TaskName>,
    /// `CLOCK_BOOTTIME` and `CLOCK_MONOTONIC` read together, to place
    /// monotonic timestamps (scenario marks) on the trace clock.
    pub boot_ns: u64,
    pub mono_ns: u64,
}

/// One CPU's ring-buffer counters at the end (`per_cpu/cpuN/stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CpuTraceStats {
    pub cpu: u32,
    /// Events the buffer overwrote (overwrite mode) or lost.
    pub overrun: u64,
    /// Events dropped because the buffer was full (the drain fell behind).
    pub dropped: u64,
}

/// Sent when tracing stops (end of run, or the limit was reached).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceStop {
    /// Pages and bytes shipped on the trace port.
    pub pages: u64,
    pub bytes: u64,
    pub limit_bytes: u64,
    /// Trace-clock time at which the limit stopped tracing, if it did.
    pub capped_at_ns: Option<u64>,
    pub cpus: Vec<CpuTraceStats>,
    /// Trace-clock time of the stop.
    pub boot_ns: u64,
    /// Guest CPU time the drain thread used (its cost inside the guest).
    pub drain_cpu_ns: u64,
    /// Why tracing did not start (then nothing else here is set). The
    /// run is still tested, without a trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The 12 bytes before each frame: magic, CPU (or [`NOTE_CPU`]), length,
/// little-endian.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    pub cpu: u32,
    pub len: u32,
}

/// A frame header that cannot be right.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("trace frame without magic (stream out of sync)")]
    BadMagic,
    #[error("trace frame of {len} bytes, more than the {MAX_FRAME} allowed")]
    TooLong { len: u32 },
}

impl FrameHeader {
    pub fn encode(&self) -> [u8; FRAME_HEADER_LEN] {
        let mut out = [0u8; FRAME_HEADER_LEN];
        out[..4].copy_from_slice(&FRAME_MAGIC);
        out[4..8].copy_from_slice(&self.cpu.to_le_bytes());
        out[8..].copy_from_slice(&self.len.to_le_bytes());
        out
    }

    pub fn decode(bytes: &[u8; FRAME_HEADER_LEN]) -> Result<FrameHeader, FrameError> {
        if bytes[..4] != FRAME_MAGIC {
            return Err(FrameError::BadMagic);
        }
        let word =
            |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        let (cpu, len) = (word(4), word(8));
        if len as usize > MAX_FRAME {
            return Err(FrameError::TooLong { len });
        }
        Ok(FrameHeader { cpu, len })
    }
}

/// Where a ring-buffer page keeps its fields, from `events/header_page`
/// (`timestamp` at 0, `commit` at 8 of size 8, `data` at 16 on 64-bit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLayout {
    pub commit_offset: usize,
    pub commit_size: usize,
    pub data_offset: usize,
}

/// Flags in a page's commit word: events were lost before this page, and
/// their count is stored after the data.
pub const COMMIT_MISSED_EVENTS: u64 = 1 << 31;
pub const COMMIT_MISSED_STORED: u64 = 1 << 30;

impl PageLayout {
    /// Parses `events/header_page`; `None` when a field is missing.
    pub fn parse(text: &str) -> Option<PageLayout> {
        let field = |name: &str| -> Option<(usize, usize)> {
            let line = text.lines().find(|l| {
                l.split(';')
                    .next()
                    .is_some_and(|f| f.trim_end().ends_with(name))
            })?;
            let num = |key: &str| -> Option<usize> {
                line.split(';')
                    .find_map(|p| p.trim().strip_prefix(key))
                    .and_then(|v| v.trim().parse().ok())
            };
            Some((num("offset:")?, num("size:")?))
        };
        let (commit_offset, commit_size) = field(" commit")?;
        let (data_offset, _) = field(" data")?;
        if !(commit_size == 4 || commit_size == 8) {
            return None;
        }
        Some(PageLayout {
            commit_offset,
            commit_size,
            data_offset,
        })
    }

    /// The commit word of `page`, if the page is long enough.
    pub fn commit(&self, page: &[u8]) -> Option<u64> {
        let raw = page.get(self.commit_offset..self.commit_offset + self.commit_size)?;
        let mut word = [0u8; 8];
        word[..raw.len()].copy_from_slice(raw);
        Some(u64::from_le_bytes(word))
    }

    /// Bytes of `page` that hold data: header, committed events, and the
    /// stored missed-event count. The rest of a page read is zero fill,
    /// so the guest ships only this much.
    pub fn used_len(&self, page: &[u8]) -> usize {
        let Some(commit) = self.commit(page) else {
            return page.len();
        };
        let data = (commit & 0xf_ffff) as usize;
        let stored = if commit & COMMIT_MISSED_STORED != 0 {
            self.commit_size
        } else {
            0
        };
        (self.data_offset + data + stored).min(page.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER_PAGE: &str = "\tfield: u64 timestamp;\toffset:0;\tsize:8;\tsigned:0;\n\
\tfield: local_t commit;\toffset:8;\tsize:8;\tsigned:1;\n\
\tfield: int overwrite;\toffset:8;\tsize:1;\tsigned:1;\n\
\tfield: char data;\toffset:16;\tsize:4080;\tsigned:0;\n";

    #[test]
    fn header_page_layout() {
        let l = PageLayout::parse(HEADER_PAGE).unwrap();
        assert_eq!(
            l,
            PageLayout {
                commit_offset: 8,
                commit_size: 8,
                data_offset: 16
            }
        );
        assert_eq!(PageLayout::parse("nonsense"), None);
    }

    #[test]
    fn used_length_of_pages() {
        let l = PageLayout::parse(HEADER_PAGE).unwrap();
        let page = |commit: u64| {
            let mut p = vec![0u8; 4096];
            p[8..16].copy_from_slice(&commit.to_le_bytes());
            p
        };
        for (commit, want) in [
            (0, 16),
            (100, 116),
            (100 | COMMIT_MISSED_EVENTS, 116),
            (100 | COMMIT_MISSED_EVENTS | COMMIT_MISSED_STORED, 124),
            (0xf_ffff, 4096),
        ] {
            assert_eq!(l.used_len(&page(commit)), want, "commit {commit:#x}");
        }
        assert_eq!(l.used_len(&[0u8; 4]), 4);
    }

    #[test]
    fn trace_messages_round_trip_as_json_lines() {
        use crate::GuestMsg;
        let msgs = [
            GuestMsg::TraceStarted(Box::new(TraceStart {
                clock: "boot".into(),
                page_size: 4096,
                header_page: HEADER_PAGE.into(),
                formats: vec!["name: sched_switch\nID: 113\n".into()],
                missing: vec!["sched_ext/none".into()],
                tasks: vec![TaskName {
                    tid: 1,
                    tgid: 1,
                    comm: "init".into(),
                }],
                boot_ns: 2,
                mono_ns: 1,
            })),
            GuestMsg::TraceStopped(Box::new(TraceStop {
                pages: 3,
                capped_at_ns: Some(9),
                cpus: vec![CpuTraceStats {
                    cpu: 1,
                    overrun: 0,
                    dropped: 4,
                }],
                ..TraceStop::default()
            })),
            GuestMsg::TraceStopped(Box::new(TraceStop {
                error: Some("no tracefs".into()),
                ..TraceStop::default()
            })),
        ];
        for m in msgs {
            let line = serde_json::to_string(&m).unwrap();
            assert!(!line.contains('\n'));
            assert_eq!(serde_json::from_str::<GuestMsg>(&line).unwrap(), m);
        }
        let cfg = TraceConfig {
            buffer_kb: 1024,
            limit_bytes: 1 << 20,
        };
        let json = serde_json::to_string(&cfg).unwrap();
        assert_eq!(serde_json::from_str::<TraceConfig>(&json).unwrap(), cfg);
    }

    #[test]
    fn frame_headers() {
        let h = FrameHeader { cpu: 3, len: 4096 };
        assert_eq!(FrameHeader::decode(&h.encode()), Ok(h));
        let mut bad = h.encode();
        bad[0] = b'X';
        assert_eq!(FrameHeader::decode(&bad), Err(FrameError::BadMagic));
        let long = FrameHeader {
            cpu: 0,
            len: MAX_FRAME as u32 + 1,
        };
        assert!(matches!(
            FrameHeader::decode(&long.encode()),
            Err(FrameError::TooLong { .. })
        ));
    }
}
