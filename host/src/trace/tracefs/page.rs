//! Ring-buffer pages as `trace_pipe_raw` returns them: a header (base
//! timestamp, commit word) and a run of compressed event headers
//! (`events/header_event`: 5 bits type_len, 27 bits time delta) with their
//! payloads. Every offset is checked: a bad page ends early, never panics.

use ktstr_wire::{PageLayout, COMMIT_MISSED_EVENTS, COMMIT_MISSED_STORED};

const TYPE_PADDING: u32 = 29;
const TYPE_TIME_EXTEND: u32 = 30;
const TYPE_TIME_STAMP: u32 = 31;
/// Bits of the time delta in an event header (`TS_SHIFT`).
const TS_SHIFT: u32 = 27;
/// Absolute timestamps keep the top bits of the running time (`TS_MSB`).
const TS_MSB_MASK: u64 = !((1u64 << 59) - 1);

/// One parsed page.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Page<'a> {
    /// Events as (timestamp, payload).
    pub events: Vec<(u64, &'a [u8])>,
    /// Events lost before this page: `Some(None)` lost, count unknown.
    pub missed: Option<Option<u64>>,
    /// The page ended at something that is not a valid event.
    pub malformed: bool,
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 4)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    let s = b.get(at..at + 8)?;
    let mut w = [0u8; 8];
    w.copy_from_slice(s);
    Some(u64::from_le_bytes(w))
}

/// Parses one page (possibly trimmed to its used length).
pub fn parse<'a>(page: &'a [u8], layout: &PageLayout) -> Page<'a> {
    let mut out = Page::default();
    let (Some(mut ts), Some(commit)) = (u64_at(page, 0), layout.commit(page)) else {
        out.malformed = true;
        return out;
    };
    let len = (commit & 0xf_ffff) as usize;
    let start = layout.data_offset;
    let Some(data) = page.get(start..start + len) else {
        out.malformed = true;
        return out;
    };
    if commit & COMMIT_MISSED_EVENTS != 0 {
        let stored = (commit & COMMIT_MISSED_STORED != 0)
            .then(|| {
                let b = page.get(start + len..start + len + layout.commit_size)?;
                let mut w = [0u8; 8];
                w[..b.len()].copy_from_slice(b);
                Some(u64::from_le_bytes(w))
            })
            .flatten();
        out.missed = Some(stored);
    }
    let mut at = 0;
    while at + 4 <= data.len() {
        let Some(header) = u32_at(data, at) else {
            break;
        };
        let type_len = header & 0x1f;
        let delta = u64::from(header >> 5);
        let next = match type_len {
            TYPE_PADDING if delta == 0 => break,
            TYPE_PADDING => u32_at(data, at + 4).map(|n| at + 4 + n as usize),
            TYPE_TIME_EXTEND => u32_at(data, at + 4).map(|hi| {
                ts = ts.wrapping_add((u64::from(hi) << TS_SHIFT) + delta);
                at + 8
            }),
            TYPE_TIME_STAMP => u32_at(data, at + 4).map(|hi| {
                ts = ((u64::from(hi) << TS_SHIFT) | delta) | (ts & TS_MSB_MASK);
                at + 8
            }),
            0 => u32_at(data, at + 4).and_then(|n| {
                let n = n as usize;
                let payload = data.get(at + 8..(at + 4 + n).max(at + 8))?;
                ts = ts.wrapping_add(delta);
                out.events.push((ts, payload));
                Some(at + 4 + ((n + 3) & !3))
            }),
            words => {
                let n = words as usize * 4;
                data.get(at + 4..at + 4 + n).map(|payload| {
                    ts = ts.wrapping_add(delta);
                    out.events.push((ts, payload));
                    at + 4 + n
                })
            }
        };
        match next {
            Some(n) if n > at && n <= data.len() => at = n,
            _ => {
                out.malformed = true;
                break;
            }
        }
    }
    out
}
