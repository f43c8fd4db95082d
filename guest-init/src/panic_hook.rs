//! One panic hook for the whole guest, installed by PID 1 before any
//! thread exists (so no thread can hold the hook's own lock at a fork).
//!
//! - In a forked worker ([`enter_forked_child`] was called right after the
//!   fork), the hook touches no lock: the parent's other threads may have
//!   held stderr's lock, or any other, at fork time, and only the forking
//!   thread lives on in the child, so such a lock stays taken forever. std's
//!   default hook locks stderr: the worker would hang until the collection
//!   deadline and be reported as starved, the scheduler blamed for the
//!   harness's bug. The hook writes the panic's place and message raw to
//!   fd 2 and leaves with `_exit(PANIC_EXIT)` (the parent reports it).
//! - On any PID 1 thread, the hook writes the same raw line to the console
//!   and hands the text to the reporter given to [`install`], so a panic
//!   on any thread reaches the host as a harness error, not only one that
//!   unwinds out of `main`.

use std::panic::PanicHookInfo;
use std::sync::atomic::{AtomicBool, Ordering};

/// Exit code of a forked worker whose code panicked.
pub const PANIC_EXIT: i32 = 101;

/// Set in a forked worker, before it runs any of its own code.
static IN_FORKED_CHILD: AtomicBool = AtomicBool::new(false);

/// Installs the hook. `report` receives the panic's text on PID 1's
/// threads; it must not block forever (the reporter's lock may be held by
/// the panicking thread itself). Call once, before spawning any thread.
pub fn install(report: impl Fn(&str) + Send + Sync + 'static) {
    std::panic::set_hook(Box::new(move |info| {
        if IN_FORKED_CHILD.load(Ordering::Relaxed) {
            die_in_child(info);
        }
        let thread = std::thread::current();
        let text = format!(
            "thread '{}' panicked at {}: {}",
            thread.name().unwrap_or("<unnamed>"),
            info.location()
                .map_or("?".to_string(), |l| format!("{}:{}", l.file(), l.line())),
            message(info)
        );
        write_raw(format!("ktstr-guest-init: {text}\n").as_bytes());
        report(&text);
    }));
}

/// Marks this process as a forked worker: from now on a panic exits it at
/// once, touching no lock. Async-signal-safe (one atomic store).
pub fn enter_forked_child() {
    IN_FORKED_CHILD.store(true, Ordering::Relaxed);
}

/// A worker's panic: one line on fd 2 built in a stack buffer, then `_exit`.
fn die_in_child(info: &PanicHookInfo<'_>) -> ! {
    let mut line = RawLine::default();
    line.push(b"ktstr-guest-init: worker panicked at ");
    match info.location() {
        Some(l) => {
            line.push(l.file().as_bytes());
            line.push(b":");
            line.push_number(l.line());
        }
        None => line.push(b"?"),
    }
    line.push(b": ");
    line.push(message(info).as_bytes());
    line.push(b"\n");
    write_raw(line.as_bytes());
    // SAFETY: leaving without running the parent's atexit handlers or
    // destructors, which belong to the parent.
    unsafe { libc::_exit(PANIC_EXIT) }
}

/// The panic's message: `panic!` gives a `&str` or a `String` payload.
fn message<'a>(info: &'a PanicHookInfo<'_>) -> &'a str {
    let payload = info.payload();
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

/// Writes to fd 2 with `write(2)` only: no std lock, no buffering.
fn write_raw(mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: writing from a valid buffer of the given length.
        let n = unsafe { libc::write(2, bytes.as_ptr().cast(), bytes.len()) };
        if n <= 0 {
            return;
        }
        bytes = &bytes[n as usize..];
    }
}

/// A fixed-size line: what does not fit is cut.
struct RawLine {
    buf: [u8; 512],
    len: usize,
}

impl Default for RawLine {
    fn default() -> Self {
        RawLine {
            buf: [0; 512],
            len: 0,
        }
    }
}

impl RawLine {
    fn push(&mut self, bytes: &[u8]) {
        let n = bytes.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
        self.len += n;
    }

    fn push_number(&mut self, mut n: u32) {
        let mut digits = [0u8; 10];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.push(&digits[i..]);
    }

    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_lines_format_numbers_and_cut_at_their_size() {
        let mut l = RawLine::default();
        l.push(b"at x.rs:");
        l.push_number(0);
        l.push(b",");
        l.push_number(4_294_967_295);
        assert_eq!(l.as_bytes(), b"at x.rs:0,4294967295");
        let mut l = RawLine::default();
        l.push(&[b'a'; 600]);
        l.push(b"more");
        assert_eq!(l.as_bytes().len(), 512);
    }
}
