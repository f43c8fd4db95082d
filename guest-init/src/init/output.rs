//! A payload's stdout or stderr, on its way to the host.
//!
//! Caps count bytes, not write calls, per payload and stream: the first
//! [`HEAD_BYTES`] go out live; after that the last [`TAIL_BYTES`] are kept
//! in a ring, and at the end the host gets `PayloadOutputDropped` (how many
//! bytes fell between head and tail) and then the tail, so the end of the
//! output, where summaries are, always arrives. Live chunks gather what
//! arrives within [`LINGER`] (at most [`CHUNK_BYTES`]) so a line-buffered
//! program does not send one message per line; a payload's two streams
//! share [`MAX_MESSAGES`] live messages (the host keeps 200 000 per run),
//! after which the rest goes to the tail as well.

use std::collections::VecDeque;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ktstr_wire::{GuestMsg, Stream};

use super::port::Reporter;

/// Bytes per stream forwarded live.
pub const HEAD_BYTES: usize = 4 << 20;
/// Bytes per stream kept from the end once the head is spent.
pub const TAIL_BYTES: usize = 256 << 10;
/// Largest message, and largest read.
const CHUNK_BYTES: usize = 16 << 10;
/// Live messages per payload, both streams together.
pub const MAX_MESSAGES: usize = 20_000;
/// How long a chunk waits for more output before it is sent.
const LINGER: Duration = Duration::from_millis(10);

/// Where one stream's bytes go: live while the head lasts, then the ring.
#[derive(Debug)]
pub struct Capped {
    head_left: usize,
    tail: VecDeque<u8>,
    tail_max: usize,
    dropped: u64,
}

impl Capped {
    pub fn new(head: usize, tail: usize) -> Capped {
        Capped {
            head_left: head,
            tail: VecDeque::new(),
            tail_max: tail,
            dropped: 0,
        }
    }

    /// Whether bytes may still go out live.
    pub fn head_open(&self) -> bool {
        self.head_left > 0
    }

    /// Takes `data` and returns the part to send now. `may_send` false
    /// (no live messages left) ends the head early. Once anything went to
    /// the tail, nothing more is sent live, so the output stays in order.
    pub fn take<'a>(&mut self, data: &'a [u8], may_send: bool) -> &'a [u8] {
        if !may_send {
            self.head_left = 0;
        }
        let live = data.len().min(self.head_left);
        self.head_left -= live;
        if live < data.len() {
            self.head_left = 0;
            self.keep(&data[live..]);
        }
        &data[..live]
    }

    fn keep(&mut self, data: &[u8]) {
        self.tail.extend(data);
        let over = self.tail.len().saturating_sub(self.tail_max);
        if over > 0 {
            self.tail.drain(..over);
            self.dropped += over as u64;
        }
    }

    /// Bytes dropped between head and tail, and the tail. A tail that
    /// starts inside a UTF-8 character loses that character's rest too.
    pub fn finish(mut self) -> (u64, Vec<u8>) {
        if self.dropped > 0 {
            let partial = self
                .tail
                .iter()
                .take(3)
                .take_while(|&&b| b & 0xC0 == 0x80)
                .count();
            self.tail.drain(..partial);
            self.dropped += partial as u64;
        }
        (self.dropped, self.tail.into())
    }
}

/// Live messages a payload may still send.
#[derive(Debug)]
pub struct Budget(AtomicUsize);

impl Default for Budget {
    fn default() -> Self {
        Budget(AtomicUsize::new(MAX_MESSAGES))
    }
}

impl Budget {
    /// Takes one message from the budget; false when none is left.
    fn take(&self) -> bool {
        self.0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
    }
}

/// One stream of one payload.
#[derive(Debug)]
pub struct Output {
    pub name: String,
    pub stream: Stream,
    pub rep: Reporter,
    pub budget: Arc<Budget>,
}

impl Output {
    /// Reads until end of file (or EIO, a terminal whose other side is
    /// closed), forwarding as described in the module doc. Never stops
    /// reading early: a blocked writer would hang the payload.
    pub fn forward<R: Read + AsRawFd>(self, mut from: R) {
        let mut cap = Capped::new(HEAD_BYTES, TAIL_BYTES);
        let mut pending = Vec::new();
        let mut buf = vec![0u8; CHUNK_BYTES];
        loop {
            let n = fill(&mut from, &mut buf);
            if n == 0 {
                break;
            }
            // A message is reserved before the bytes are split, so no
            // live text is ever left without one.
            let may_send = cap.head_open() && self.budget.take();
            let live = cap.take(&buf[..n], may_send);
            if !live.is_empty() {
                pending.extend_from_slice(live);
                self.send(take_text(&mut pending, false));
            }
        }
        self.send(take_text(&mut pending, true));
        let (dropped, tail) = cap.finish();
        if dropped > 0 {
            self.rep.send(&GuestMsg::PayloadOutputDropped {
                name: self.name.clone(),
                stream: self.stream,
                bytes: dropped,
            });
        }
        for chunk in tail.chunks(CHUNK_BYTES) {
            pending.extend_from_slice(chunk);
            self.send(take_text(&mut pending, false));
        }
        self.send(take_text(&mut pending, true));
    }

    fn send(&self, data: String) {
        if !data.is_empty() {
            self.rep.send(&GuestMsg::PayloadOutput {
                name: self.name.clone(),
                stream: self.stream,
                data,
            });
        }
    }
}

/// One read, then more for as long as output keeps coming within
/// [`LINGER`] and `buf` has room. 0 at the end of the stream.
fn fill<R: Read + AsRawFd>(from: &mut R, buf: &mut [u8]) -> usize {
    let mut n = match from.read(buf) {
        Ok(n) => n,
        Err(_) => return 0,
    };
    if n == 0 {
        return 0;
    }
    let end = Instant::now() + LINGER;
    while n < buf.len() {
        let left = end.saturating_duration_since(Instant::now());
        let mut pfd = libc::pollfd {
            fd: from.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: polling one valid pollfd.
        let ready = unsafe { libc::poll(&mut pfd, 1, left.as_millis() as libc::c_int) };
        if ready <= 0 || pfd.revents & libc::POLLIN == 0 {
            break;
        }
        match from.read(&mut buf[n..]) {
            Ok(0) | Err(_) => break,
            Ok(more) => n += more,
        }
    }
    n
}

/// Takes the text out of `pending`, keeping back a UTF-8 sequence cut by
/// the read boundary (unless `at_end`) so a character split across two
/// reads is not mangled. Invalid bytes become U+FFFD.
pub fn take_text(pending: &mut Vec<u8>, at_end: bool) -> String {
    let mut cut = pending.len();
    if !at_end {
        for i in (pending.len().saturating_sub(3)..pending.len()).rev() {
            let b = pending[i];
            if b < 0x80 {
                break;
            }
            if b >= 0xC0 {
                let need = match b {
                    0xF0.. => 4,
                    0xE0.. => 3,
                    _ => 2,
                };
                if i + need > pending.len() {
                    cut = i;
                }
                break;
            }
        }
    }
    let text = String::from_utf8_lossy(&pending[..cut]).into_owned();
    pending.drain(..cut);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_keeps_a_split_character_for_the_next_read() {
        let cases: &[(&[u8], bool, &str, &[u8])] = &[
            (b"plain\n", false, "plain\n", b""),
            ("a\u{e9}".as_bytes(), false, "a\u{e9}", b""),
            (&[b'a', 0xC3], false, "a", &[0xC3]),
            (&[b'a', 0xE2, 0x82], false, "a", &[0xE2, 0x82]),
            (&[0xF0, 0x9F, 0x98], false, "", &[0xF0, 0x9F, 0x98]),
            (&[b'a', 0xC3], true, "a\u{fffd}", b""),
            (&[0xFF, b'b'], false, "\u{fffd}b", b""),
        ];
        for (input, at_end, text, left) in cases {
            let mut pending = input.to_vec();
            assert_eq!(take_text(&mut pending, *at_end), *text, "{input:?}");
            assert_eq!(pending, *left, "{input:?}");
        }
    }

    /// Feeds `writes` through a cap of head 10, tail 6 and returns what
    /// went live, the dropped count and the tail.
    fn through(writes: &[&[u8]], may_send: &[bool]) -> (Vec<u8>, u64, Vec<u8>) {
        let mut cap = Capped::new(10, 6);
        let mut live = Vec::new();
        for (i, w) in writes.iter().enumerate() {
            live.extend_from_slice(cap.take(w, may_send.get(i).copied().unwrap_or(true)));
        }
        let (dropped, tail) = cap.finish();
        (live, dropped, tail)
    }

    #[test]
    fn caps_count_bytes_and_keep_the_end() {
        // (what, writes, may_send per write, sent live, dropped, tail)
        type Case<'a> = (&'a str, &'a [&'a [u8]], &'a [bool], &'a [u8], u64, &'a [u8]);
        let cases: &[Case] = &[
            ("fits", &[b"abc", b"def"], &[], b"abcdef", 0, b""),
            (
                "exactly the head",
                &[b"0123456789"],
                &[],
                b"0123456789",
                0,
                b"",
            ),
            // Many one-byte writes count as bytes, not as writes.
            (
                "one byte at a time",
                &[
                    b"0", b"1", b"2", b"3", b"4", b"5", b"6", b"7", b"8", b"9", b"a", b"b",
                ],
                &[],
                b"0123456789",
                0,
                b"ab",
            ),
            (
                "the end survives",
                &[b"0123456789", b"xxxxxxxx", b"SUM:ok"],
                &[],
                b"0123456789",
                8,
                b"SUM:ok",
            ),
            (
                "a write split across head and tail",
                &[b"01234567", b"89ab"],
                &[],
                b"0123456789",
                0,
                b"ab",
            ),
            (
                "no messages left ends the head",
                &[b"abc", b"def", b"ghi"],
                &[true, false, true],
                b"abc",
                0,
                b"defghi",
            ),
        ];
        for (what, writes, may_send, live, dropped, tail) in cases {
            let got = through(writes, may_send);
            assert_eq!(got, (live.to_vec(), *dropped, tail.to_vec()), "{what}");
        }
    }

    #[test]
    fn a_tail_never_starts_inside_a_character() {
        let mut cap = Capped::new(0, 3);
        assert!(cap.take("x\u{e9}\u{e9}".as_bytes(), true).is_empty());
        // 5 bytes, the last 3 kept: 0xA9 (the rest of an é), then é.
        let (dropped, tail) = cap.finish();
        assert_eq!((dropped, tail), (3, "\u{e9}".as_bytes().to_vec()));
    }

    #[test]
    fn the_message_budget_is_shared_and_runs_out() {
        let b = Budget::default();
        assert!((0..MAX_MESSAGES).all(|_| b.take()));
        assert!(!b.take());
    }
}
