//! Reading the guest's results stream on its own thread: decoded (bounded,
//! untrusted), sanitized, its bulk text held to a budget, its raw bytes
//! copied to `guest.jsonl`, and handed to the run loop as [`Item`]s.
//!
//! Everything kept here stays in memory until the run is judged, so every
//! kind of item is bounded: messages by the decoder's caps, log and output
//! text by [`TextBudget`], malformed lines by [`MAX_PROTOCOL_KEPT`] (past
//! it they are only counted: the verdict needs the number and a few
//! examples, not 40 000 copies).

use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::mpsc::Sender;

use ktstr_wire::codec::Decoder;
use ktstr_wire::GuestMsg;

use super::sanitize::sanitize;
use super::text_budget::{TextBudget, Verdict, MAX_TEXT_BYTES};
use crate::events::Event;

/// Largest raw guest stream kept on disk.
const MAX_RAW_BYTES: u64 = 64 << 20;
/// Malformed lines kept one by one; the rest are counted.
pub const MAX_PROTOCOL_KEPT: u64 = 100;

/// Items from the reader thread.
pub(super) enum Item {
    Msg(GuestMsg),
    Protocol(String),
    /// Malformed lines beyond [`MAX_PROTOCOL_KEPT`]: counted, not kept.
    ProtocolUncounted(u64),
}

pub(super) fn to_event(item: Item) -> Event {
    match item {
        Item::Msg(msg) => Event::Guest { msg },
        Item::Protocol(error) => Event::Protocol { error },
        Item::ProtocolUncounted(count) => Event::ProtocolDropped { count },
    }
}

/// The sending end, which keeps the first malformed lines and counts the
/// rest.
struct Sink {
    tx: Sender<Item>,
    protocol_errors: u64,
}

impl Sink {
    /// False when the receiver is gone.
    fn send(&mut self, item: Item) -> bool {
        if let Item::Protocol(_) = item {
            self.protocol_errors += 1;
            if self.protocol_errors > MAX_PROTOCOL_KEPT {
                return true;
            }
        }
        self.tx.send(item).is_ok()
    }

    /// At the end of the stream: how many malformed lines were not kept.
    fn finish(self) {
        let dropped = self.protocol_errors.saturating_sub(MAX_PROTOCOL_KEPT);
        if dropped > 0 {
            let _ = self.tx.send(Item::ProtocolUncounted(dropped));
        }
    }
}

/// Decodes the stream while copying the raw bytes to the artifact file.
/// Ends at EOF or when the receiver is gone.
pub(super) fn read_stream(stream: UnixStream, raw: File, tx: Sender<Item>) {
    let tee = Tee {
        inner: stream,
        copy: raw,
        left: MAX_RAW_BYTES,
    };
    let mut sink = Sink {
        tx,
        protocol_errors: 0,
    };
    let mut dec = Decoder::new(BufReader::new(tee));
    let mut budget = TextBudget::new(MAX_TEXT_BYTES);
    loop {
        let item = match dec.next_msg::<GuestMsg>() {
            Ok(None) | Err(_) => break,
            Ok(Some(Ok(mut msg))) => {
                if let Some(cut) = sanitize(&mut msg) {
                    if !sink.send(Item::Protocol(cut)) {
                        break;
                    }
                }
                match budget.admit(&msg) {
                    Verdict::Keep => Item::Msg(msg),
                    Verdict::DropFirst(cut) => Item::Msg(cut),
                    Verdict::Drop => continue,
                }
            }
            Ok(Some(Err(e))) => Item::Protocol(e.to_string()),
        };
        if !sink.send(item) {
            break;
        }
    }
    sink.finish();
}

/// A reader that copies what it reads into `copy`, up to `left` bytes.
struct Tee<R, W> {
    inner: R,
    copy: W,
    left: u64,
}

impl<R: Read, W: Write> Read for Tee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let keep = (n as u64).min(self.left) as usize;
        if keep > 0 && self.copy.write_all(&buf[..keep]).is_ok() {
            self.left -= keep as u64;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    #[test]
    fn tee_copies_up_to_the_cap() {
        let mut t = Tee {
            inner: &b"hello world"[..],
            copy: Vec::new(),
            left: 5,
        };
        let mut out = String::new();
        t.read_to_string(&mut out).unwrap();
        assert_eq!(out, "hello world");
        assert_eq!(t.copy, b"hello");
    }

    #[test]
    fn malformed_lines_past_the_first_hundred_are_counted_not_kept() {
        let (guest, host) = UnixStream::pair().unwrap();
        let raw = tempfile::tempfile().unwrap();
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || read_stream(host, raw, tx));
        let mut w = guest;
        for i in 0..1000 {
            writeln!(w, "not json {i}").unwrap();
        }
        writeln!(w, r#"{{"type":"done","uptime_ms":5}}"#).unwrap();
        drop(w);
        reader.join().unwrap();
        let items: Vec<Item> = rx.iter().collect();
        let kept = items
            .iter()
            .filter(|i| matches!(i, Item::Protocol(_)))
            .count();
        assert_eq!(kept as u64, MAX_PROTOCOL_KEPT);
        assert!(items
            .iter()
            .any(|i| matches!(i, Item::Msg(GuestMsg::Done { .. }))));
        assert!(matches!(items.last(), Some(Item::ProtocolUncounted(900))));
    }
}
