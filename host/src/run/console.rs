//! The serial console, read by the host instead of written by QEMU, so a
//! guest that floods it cannot fill the disk: `console.log` keeps the first
//! [`HEAD`] bytes and the last [`TAIL`] bytes (where a panic is), with a
//! marker saying how much was dropped between them.
//!
//! QEMU connects its serial chardev to a socket the host listens on; a
//! thread drains it continuously (a console nobody reads would stall the
//! guest's printk), so memory stays bounded by the tail buffer.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Bytes kept from the start of the console (the boot).
pub const HEAD: u64 = 4 << 20;
/// Bytes kept from the end of the console (what led to the end).
pub const TAIL: usize = 4 << 20;

/// Writes what it is given to `out`, keeping the head and the tail.
#[derive(Debug)]
pub struct CappedLog<W: Write> {
    out: W,
    written: u64,
    tail: VecDeque<u8>,
    dropped: u64,
    head: u64,
    tail_cap: usize,
}

impl<W: Write> CappedLog<W> {
    pub fn new(out: W, head: u64, tail_cap: usize) -> CappedLog<W> {
        CappedLog {
            out,
            written: 0,
            tail: VecDeque::new(),
            dropped: 0,
            head,
            tail_cap,
        }
    }

    pub fn push(&mut self, mut buf: &[u8]) -> std::io::Result<()> {
        if self.written < self.head {
            let n = buf.len().min((self.head - self.written) as usize);
            self.out.write_all(&buf[..n])?;
            self.written += n as u64;
            buf = &buf[n..];
        }
        self.tail.extend(buf);
        let over = self.tail.len().saturating_sub(self.tail_cap);
        if over > 0 {
            self.tail.drain(..over);
            self.dropped += over as u64;
        }
        Ok(())
    }

    /// Writes the marker (when something was dropped) and the tail.
    pub fn finish(mut self) -> std::io::Result<u64> {
        if self.dropped > 0 {
            write!(
                self.out,
                "\n[ktstr-vm: {} bytes of console output dropped here; the first {} and the last {} are kept]\n",
                self.dropped, self.head, self.tail_cap
            )?;
        }
        let (a, b) = self.tail.as_slices();
        self.out.write_all(a)?;
        self.out.write_all(b)?;
        self.out.flush()?;
        Ok(self.dropped)
    }
}

/// A console being captured into a file.
#[derive(Debug)]
pub struct ConsoleCapture {
    thread: Option<JoinHandle<std::io::Result<u64>>>,
}

impl ConsoleCapture {
    /// Accepts QEMU's connection on `listener` (until `deadline`) and
    /// copies the console to `log`, capped, until QEMU closes it. `prefix`
    /// goes first (a restored run's boot, from its snapshot).
    ///
    /// Unbuffered: the file is complete up to the last read at any time,
    /// so a snapshot taken mid-run can copy the boot from it.
    pub fn start(
        listener: UnixListener,
        log: &Path,
        prefix: &[u8],
        deadline: Instant,
    ) -> std::io::Result<ConsoleCapture> {
        let file = std::fs::File::create(log)?;
        listener.set_nonblocking(true)?;
        let prefix = prefix.to_vec();
        let thread = std::thread::spawn(move || {
            let mut sink = CappedLog::new(file, HEAD, TAIL);
            sink.push(&prefix)?;
            let mut stream = loop {
                match listener.accept() {
                    Ok((s, _)) => break s,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        if Instant::now() >= deadline {
                            return sink.finish();
                        }
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(e) => return Err(e),
                }
            };
            stream.set_nonblocking(false)?;
            let mut buf = vec![0u8; 64 << 10];
            loop {
                match stream.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => sink.push(&buf[..n])?,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                }
            }
            sink.finish()
        });
        Ok(ConsoleCapture {
            thread: Some(thread),
        })
    }

    /// Waits (at most `wait`) for the copy to end after QEMU is gone;
    /// returns the bytes dropped, if it ended.
    pub fn finish(mut self, wait: Duration) -> Option<u64> {
        let thread = self.thread.take()?;
        let deadline = Instant::now() + wait;
        while !thread.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        if thread.is_finished() {
            thread.join().ok()?.ok()
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_output_is_kept_whole() {
        let mut out = Vec::new();
        let mut log = CappedLog::new(&mut out, 10, 5);
        log.push(b"hello").unwrap();
        log.push(b" you").unwrap();
        let dropped = log.finish().unwrap();
        assert_eq!(dropped, 0);
        assert_eq!(out, b"hello you");
    }

    #[test]
    fn a_flood_keeps_head_and_tail_with_a_marker() {
        let mut out = Vec::new();
        let mut log = CappedLog::new(&mut out, 8, 6);
        log.push(b"BOOT-OK:").unwrap();
        for _ in 0..1000 {
            log.push(b"spam spam spam\n").unwrap();
        }
        log.push(b"PANIC!").unwrap();
        let dropped = log.finish().unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("BOOT-OK:\n[ktstr-vm: "), "{text}");
        assert!(text.ends_with("]\nPANIC!"), "{text}");
        assert_eq!(dropped, 15_000);
        assert!(text.contains("15000 bytes of console output dropped"));
    }

    #[test]
    fn capture_reads_a_socket_to_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("con.sock");
        let log = dir.path().join("console.log");
        let listener = UnixListener::bind(&sock).unwrap();
        let cap =
            ConsoleCapture::start(listener, &log, b"", Instant::now() + Duration::from_secs(5))
                .unwrap();
        let mut client = std::os::unix::net::UnixStream::connect(&sock).unwrap();
        client.write_all(b"[ 0.1] Linux version\n").unwrap();
        drop(client);
        assert_eq!(cap.finish(Duration::from_secs(5)), Some(0));
        assert_eq!(std::fs::read(&log).unwrap(), b"[ 0.1] Linux version\n");
    }
}
