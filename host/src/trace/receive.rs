//! The host end of the trace port: QEMU connects it to a Unix socket we
//! listen on, and a thread copies the guest's frames into the raw file
//! (`trace.raw` in the artifacts) for [`super::convert`].
//!
//! The guest is untrusted: each frame header is checked (magic, length at
//! most [`MAX_FRAME`]), at most `limit` bytes are kept, and everything
//! past that (or past a broken header) is read and thrown away so the
//! guest never blocks on a full port. Where keeping stopped, a note frame
//! ([`NOTE_CPU`]) says why.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ktstr_guest::wire::{FrameError, FrameHeader, FRAME_HEADER_LEN, MAX_FRAME, NOTE_CPU};

/// How long QEMU may take to connect the trace socket once it connected
/// the results socket (it connects both as it starts).
const ACCEPT_WAIT: Duration = Duration::from_secs(5);

/// The listening socket, before QEMU starts.
#[derive(Debug)]
pub struct TraceListener {
    listener: UnixListener,
    path: PathBuf,
}

/// The receiving thread.
#[derive(Debug)]
pub struct Receiver {
    handle: JoinHandle<io::Result<Receipt>>,
}

/// What the receiver kept and dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Receipt {
    pub frames: u64,
    pub kept_bytes: u64,
    pub dropped_bytes: u64,
    /// Why keeping stopped early, if it did.
    pub note: Option<String>,
}

impl TraceListener {
    /// Listens on `dir/trace.sock`.
    pub fn bind(dir: &Path) -> io::Result<TraceListener> {
        let path = dir.join("trace.sock");
        let listener = UnixListener::bind(&path)?;
        listener.set_nonblocking(true)?;
        Ok(TraceListener { listener, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Takes QEMU's connection and starts copying into `out`; `None` when
    /// QEMU never connected (the run goes on without a trace).
    pub fn accept(self, out: &Path, limit: u64) -> Option<Receiver> {
        let deadline = Instant::now() + ACCEPT_WAIT;
        let stream = loop {
            match self.listener.accept() {
                Ok((s, _)) => break s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(_) => return None,
            }
        };
        let _ = stream.set_nonblocking(false);
        let file = File::create(out).ok()?;
        let handle = std::thread::spawn(move || {
            receive(BufReader::new(stream), BufWriter::new(file), limit)
        });
        Some(Receiver { handle })
    }
}

impl Receiver {
    /// Waits up to `wait` for the stream to end (QEMU has exited by now,
    /// so it ends at once unless the copy is still catching up).
    pub fn finish(self, wait: Duration) -> Option<Receipt> {
        let deadline = Instant::now() + wait;
        while !self.handle.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        if !self.handle.is_finished() {
            return None;
        }
        self.handle.join().ok()?.ok()
    }
}

/// Copies frames from `input` to `out` until end of input, keeping at
/// most `limit` bytes (headers included).
pub fn receive<R: Read, W: Write>(mut input: R, mut out: W, limit: u64) -> io::Result<Receipt> {
    let mut r = Receipt::default();
    let mut buf = vec![0u8; MAX_FRAME];
    loop {
        let mut head = [0u8; FRAME_HEADER_LEN];
        if !read_full(&mut input, &mut head)? {
            break;
        }
        let header = match FrameHeader::decode(&head) {
            Ok(h) => h,
            Err(e) => {
                stop(&mut r, &mut out, e.to_string())?;
                r.dropped_bytes += FRAME_HEADER_LEN as u64 + io::copy(&mut input, &mut io::sink())?;
                break;
            }
        };
        let body = &mut buf[..header.len as usize];
        if !read_full(&mut input, body)? {
            break;
        }
        let size = (FRAME_HEADER_LEN + body.len()) as u64;
        if r.note.is_none() && header.cpu != NOTE_CPU && r.kept_bytes + size <= limit {
            out.write_all(&head)?;
            out.write_all(body)?;
            r.kept_bytes += size;
            r.frames += 1;
        } else {
            if r.note.is_none() {
                stop(
                    &mut r,
                    &mut out,
                    format!("host kept its limit of {limit} bytes"),
                )?;
            }
            r.dropped_bytes += size;
        }
    }
    out.flush()?;
    Ok(r)
}

/// Records why keeping stopped, as a note frame in the output.
fn stop(r: &mut Receipt, out: &mut impl Write, why: String) -> io::Result<()> {
    let text = why.as_bytes();
    let header = FrameHeader {
        cpu: NOTE_CPU,
        len: text.len().min(MAX_FRAME) as u32,
    };
    out.write_all(&header.encode())?;
    out.write_all(&text[..header.len as usize])?;
    r.note = Some(why);
    Ok(())
}

/// Fills `buf`; `false` at end of input (a partial frame is dropped).
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> io::Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        match input.read(&mut buf[got..]) {
            Ok(0) => return Ok(false),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// One frame of a raw file: a CPU's page, or a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Page { cpu: u32, bytes: Vec<u8> },
    Note(String),
}

/// Reads the frames of a raw file written by [`receive`].
pub fn frames(mut input: impl Read) -> impl Iterator<Item = Result<Frame, FrameError>> {
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        let mut head = [0u8; FRAME_HEADER_LEN];
        if !read_full(&mut input, &mut head).unwrap_or(false) {
            done = true;
            return None;
        }
        let header = match FrameHeader::decode(&head) {
            Ok(h) => h,
            Err(e) => {
                done = true;
                return Some(Err(e));
            }
        };
        let mut bytes = vec![0u8; header.len as usize];
        if !read_full(&mut input, &mut bytes).unwrap_or(false) {
            done = true;
            return None;
        }
        Some(Ok(if header.cpu == NOTE_CPU {
            Frame::Note(String::from_utf8_lossy(&bytes).into_owned())
        } else {
            Frame::Page {
                cpu: header.cpu,
                bytes,
            }
        }))
    })
}

/// Opens a raw file's frames.
pub fn open(path: &Path) -> io::Result<impl Iterator<Item = Result<Frame, FrameError>>> {
    Ok(frames(BufReader::new(File::open(path)?)))
}
