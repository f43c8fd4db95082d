//! Newline-delimited JSON framing over any `Write` / `BufRead`.
//!
//! The encoder never emits a raw newline inside a message (serde_json escapes
//! them), so one line is one message. The decoder is written for input from
//! a guest that may be buggy or hostile: lines are capped at
//! [`MAX_LINE_BYTES`](super::MAX_LINE_BYTES) without buffering the excess,
//! and every failure becomes a [`ProtocolError`] the caller records.

use std::io::{self, BufRead, Write};

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Writes messages, one JSON object per line, flushing after each so a
/// crash right after a send still leaves the message on the wire.
#[derive(Debug)]
pub struct Encoder<W: Write> {
    out: W,
}

impl<W: Write> Encoder<W> {
    pub fn new(out: W) -> Self {
        Encoder { out }
    }

    pub fn send<T: Serialize>(&mut self, msg: &T) -> io::Result<()> {
        let mut line = serde_json::to_vec(msg).map_err(io::Error::other)?;
        line.push(b'\n');
        self.out.write_all(&line)?;
        self.out.flush()
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// Why one line of input could not be turned into a message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProtocolError {
    #[error("line {line}: longer than {limit} bytes (dropped)")]
    LineTooLong { line: u64, limit: usize },
    #[error("line {line}: not UTF-8")]
    NotUtf8 { line: u64 },
    #[error("line {line}: {reason}: {excerpt}")]
    Malformed {
        line: u64,
        reason: String,
        excerpt: String,
    },
    #[error("more than {limit} messages: the rest of the stream was ignored")]
    TooManyMessages { limit: usize },
    #[error("more than {limit} bytes: the rest of the stream was ignored")]
    TooManyBytes { limit: u64 },
}

/// One decoded item: a message, or the error for a line that was not one.
pub type Decoded<T> = Result<T, ProtocolError>;

/// Reads bounded lines and decodes each into `T`.
#[derive(Debug)]
pub struct Decoder<R: BufRead> {
    input: R,
    max_line: usize,
    max_messages: usize,
    max_bytes: u64,
    line_no: u64,
    messages: usize,
    bytes: u64,
    flooded: bool,
}

impl<R: BufRead> Decoder<R> {
    pub fn new(input: R) -> Self {
        Self::with_limits(input, super::MAX_LINE_BYTES, super::MAX_MESSAGES)
    }

    pub fn with_limits(input: R, max_line: usize, max_messages: usize) -> Self {
        Decoder {
            input,
            max_line,
            max_messages,
            max_bytes: super::MAX_STREAM_BYTES,
            line_no: 0,
            messages: 0,
            bytes: 0,
            flooded: false,
        }
    }

    /// Caps the total bytes accepted (default [`MAX_STREAM_BYTES`](super::MAX_STREAM_BYTES)).
    pub fn with_max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// Reads one line of at most `max_line` bytes into `buf`; returns
    /// `(bytes consumed, too_long)`, skipping the rest of an over-long line.
    fn read_bounded_line(&mut self, buf: &mut Vec<u8>) -> io::Result<(usize, bool)> {
        let mut consumed = 0;
        let mut too_long = false;
        loop {
            let chunk = match self.input.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                return Ok((consumed, too_long));
            }
            let (take, done) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (chunk.len(), false),
            };
            let data = &chunk[..if done { take - 1 } else { take }];
            if !too_long {
                if buf.len() + data.len() > self.max_line {
                    too_long = true;
                    buf.clear();
                } else {
                    buf.extend_from_slice(data);
                }
            }
            self.input.consume(take);
            consumed += take;
            if done {
                return Ok((consumed, too_long));
            }
        }
    }
}

impl<R: BufRead, T: DeserializeOwned> Iterator for DecoderIter<'_, R, T> {
    type Item = io::Result<Decoded<T>>;

    fn next(&mut self) -> Option<Self::Item> {
        self.decoder.next_msg().transpose()
    }
}

/// Iterator adapter returned by [`Decoder::messages`].
#[derive(Debug)]
pub struct DecoderIter<'a, R: BufRead, T> {
    decoder: &'a mut Decoder<R>,
    _marker: std::marker::PhantomData<T>,
}

impl<R: BufRead> Decoder<R> {
    /// Iterates until end of input. I/O errors end the stream as `Err`.
    pub fn messages<T: DeserializeOwned>(&mut self) -> DecoderIter<'_, R, T> {
        DecoderIter {
            decoder: self,
            _marker: std::marker::PhantomData,
        }
    }

    /// The next message or protocol error; `Ok(None)` at end of input.
    /// Blank lines are skipped. After the message or byte limit it reports
    /// `TooManyMessages`/`TooManyBytes` once, then drains and ignores the
    /// rest, so memory stays bounded whatever the guest sends.
    pub fn next_msg<T: DeserializeOwned>(&mut self) -> io::Result<Option<Decoded<T>>> {
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let (n, too_long) = self.read_bounded_line(&mut buf)?;
            if n == 0 {
                return Ok(None);
            }
            self.line_no += 1;
            self.bytes += n as u64;
            if self.flooded {
                continue;
            }
            if self.bytes > self.max_bytes {
                self.flooded = true;
                return Ok(Some(Err(ProtocolError::TooManyBytes {
                    limit: self.max_bytes,
                })));
            }
            if too_long {
                return Ok(Some(Err(ProtocolError::LineTooLong {
                    line: self.line_no,
                    limit: self.max_line,
                })));
            }
            if buf.iter().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            self.messages += 1;
            if self.messages > self.max_messages {
                self.flooded = true;
                return Ok(Some(Err(ProtocolError::TooManyMessages {
                    limit: self.max_messages,
                })));
            }
            let text = match std::str::from_utf8(&buf) {
                Ok(t) => t,
                Err(_) => return Ok(Some(Err(ProtocolError::NotUtf8 { line: self.line_no }))),
            };
            return Ok(Some(serde_json::from_str(text).map_err(|e| {
                ProtocolError::Malformed {
                    line: self.line_no,
                    reason: e.to_string(),
                    excerpt: excerpt(text, 120),
                }
            })));
        }
    }
}

/// The first `max` characters of `s`, marked when cut.
pub fn excerpt(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests;
