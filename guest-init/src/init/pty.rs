//! A pseudo-terminal for a payload's stdout. C stdio line-buffers a
//! terminal and fully buffers a pipe: on a pipe, a test runner that prints
//! a header and then forks a child per test has every child flush its own
//! copy of the header, and nothing shows until a buffer fills. On a
//! terminal each line goes out as it is printed.
//!
//! The terminal is raw: no `\n` to `\r\n`, no echo, bytes as written.

use std::os::fd::{AsRawFd, OwnedFd};

use nix::pty::{openpty, Winsize};
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};

/// A size for programs that lay out their output (a 0x0 terminal makes
/// some divide by zero).
const SIZE: Winsize = Winsize {
    ws_row: 24,
    ws_col: 80,
    ws_xpixel: 0,
    ws_ypixel: 0,
};

/// A raw pseudo-terminal: `(master, slave)`, both close-on-exec (the
/// child gets the slave as its stdout through `dup2`, which clears it).
pub fn raw_pty() -> nix::Result<(OwnedFd, OwnedFd)> {
    let pty = openpty(&SIZE, None)?;
    let mut t = tcgetattr(&pty.slave)?;
    cfmakeraw(&mut t);
    tcsetattr(&pty.slave, SetArg::TCSANOW, &t)?;
    for fd in [&pty.master, &pty.slave] {
        // SAFETY: fcntl on an fd we own.
        unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    Ok((pty.master, pty.slave))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// Bytes written on the slave come out of the master unchanged, and
    /// the slave is a terminal to `isatty` (what C stdio asks).
    #[test]
    fn raw_pty_passes_bytes_through() {
        let (master, slave) = raw_pty().expect("a pseudo-terminal (/dev/ptmx)");
        // SAFETY: isatty on a valid fd.
        assert_eq!(unsafe { libc::isatty(slave.as_raw_fd()) }, 1);
        let mut w = std::fs::File::from(slave);
        w.write_all(b"a\nb\r\n\x01").unwrap();
        drop(w);
        let mut r = std::fs::File::from(master);
        let mut got = Vec::new();
        let mut buf = [0u8; 64];
        // The master reads EIO once the slave is closed and drained.
        while let Ok(n) = r.read(&mut buf) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, b"a\nb\r\n\x01");
    }
}
