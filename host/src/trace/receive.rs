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

use ktstr_wire::{FrameError, FrameHeader, FRAME_HEADER_LEN, MAX_FRAME, NOTE_CPU};

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
        if r.note.is_none() && header.cpu == NOTE_CPU {
            stop(
                &mut r,
                &mut out,
                "the guest sent a frame for the reserved CPU number".into(),
            )?;
        }
        if r.note.is_none() && r.kept_bytes + size <= limit {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(cpu: u32, body: &[u8]) -> Vec<u8> {
        let mut v = FrameHeader {
            cpu,
            len: body.len() as u32,
        }
        .encode()
        .to_vec();
        v.extend_from_slice(body);
        v
    }

    fn read_back(raw: &[u8]) -> Vec<Frame> {
        frames(raw).collect::<Result<_, _>>().unwrap()
    }

    #[test]
    fn frames_are_kept_up_to_the_limit_then_noted_and_drained() {
        let input = [
            frame(0, &[1; 100]),
            frame(1, &[2; 100]),
            frame(0, &[3; 100]),
        ]
        .concat();
        for (limit, kept) in [(1000, 3), (224, 2), (112, 1), (50, 0)] {
            let mut out = Vec::new();
            let r = receive(&input[..], &mut out, limit).unwrap();
            assert_eq!(r.frames, kept, "limit {limit}");
            assert_eq!(r.kept_bytes, kept * 112);
            assert_eq!(r.kept_bytes + r.dropped_bytes, input.len() as u64);
            let back = read_back(&out);
            assert_eq!(back.len() as u64, kept + u64::from(kept < 3));
            if kept < 3 {
                assert!(matches!(back.last(), Some(Frame::Note(n)) if n.contains("limit")));
            }
        }
    }

    #[test]
    fn a_broken_header_stops_keeping_and_drains_the_rest() {
        let mut input = frame(0, b"page");
        input.extend_from_slice(b"garbage that is not a frame header at all");
        input.extend(frame(1, b"never kept"));
        let mut out = Vec::new();
        let r = receive(&input[..], &mut out, 1 << 20).unwrap();
        assert_eq!(r.frames, 1);
        assert!(r.note.unwrap().contains("magic"));
        let back = read_back(&out);
        assert_eq!(
            back[0],
            Frame::Page {
                cpu: 0,
                bytes: b"page".to_vec()
            }
        );
        assert!(matches!(&back[1], Frame::Note(_)));
        assert_eq!(r.kept_bytes + r.dropped_bytes, input.len() as u64);
    }

    #[test]
    fn oversized_frames_and_guest_notes_are_refused() {
        let mut big = FrameHeader { cpu: 0, len: 0 }.encode();
        big[8..].copy_from_slice(&(MAX_FRAME as u32 + 1).to_le_bytes());
        let mut out = Vec::new();
        let r = receive(&big[..], &mut out, 1 << 20).unwrap();
        assert_eq!(r.frames, 0);
        assert!(r.note.unwrap().contains("more than"));
        // A guest cannot forge the host's notes.
        let mut out = Vec::new();
        let r = receive(&frame(NOTE_CPU, b"forged")[..], &mut out, 1 << 20).unwrap();
        assert_eq!(r.frames, 0);
        assert!(!read_back(&out).contains(&Frame::Note("forged".into())));
    }

    #[test]
    fn a_partial_last_frame_is_dropped() {
        let input = [frame(0, b"whole"), frame(1, b"cut short")[..15].to_vec()].concat();
        let mut out = Vec::new();
        receive(&input[..], &mut out, 1 << 20).unwrap();
        assert_eq!(
            read_back(&out),
            [Frame::Page {
                cpu: 0,
                bytes: b"whole".to_vec()
            }]
        );
    }
}
