//! The drain thread: empties each CPU's ring buffer (`trace_pipe_raw`)
//! when one is half full or every [`DRAIN_EVERY`], and ships the pages in
//! frames on the trace port, within the byte limit.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ktstr_guest::clock::{clock_ns, thread_cpu_ns};
use ktstr_wire::{FrameHeader, PageLayout};

/// How often the drain thread empties the ring buffers anyway (each read
/// costs about 1 ms of guest time under TCG, however little it returns),
/// and how often it checks for the stop.
const DRAIN_EVERY: Duration = Duration::from_secs(1);
const STOP_TICK: Duration = Duration::from_millis(200);
/// Frames are written to the port in batches of about this many bytes
/// (a virtio port takes at most 32 KiB per write).
const BATCH: usize = 32 << 10;
/// Longest the port may stay full before the host is taken as gone.
const PORT_STALL: Duration = Duration::from_secs(10);
/// Longest the final drain may take before the run goes on without it.
const FINAL_DRAIN: Duration = Duration::from_secs(5);

/// What the drain thread shipped.
#[derive(Debug, Default)]
pub struct Drained {
    pub pages: u64,
    pub bytes: u64,
    pub capped_at_ns: Option<u64>,
    pub cpu_ns: u64,
}

/// The trace port, written in batches without blocking.
struct Port {
    file: File,
    batch: Vec<u8>,
}

impl Port {
    /// Queues `parts` as one frame, writing the batch when it is full.
    fn send(&mut self, parts: &[&[u8]]) -> io::Result<()> {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if self.batch.len() + len > BATCH {
            self.flush()?;
        }
        for p in parts {
            self.batch.extend_from_slice(p);
        }
        Ok(())
    }

    /// Writes the batch, waiting (poll) while the port is full.
    fn flush(&mut self) -> io::Result<()> {
        let mut done = 0;
        let mut stalled_since = Instant::now();
        while done < self.batch.len() {
            match self.file.write(&self.batch[done..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    done += n;
                    stalled_since = Instant::now();
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if stalled_since.elapsed() > PORT_STALL {
                        return Err(e);
                    }
                    wait_writable(&self.file);
                }
                Err(e) => return Err(e),
            }
        }
        self.batch.clear();
        Ok(())
    }
}

/// Waits up to 100 ms for `file` to take more data.
fn wait_writable(file: &File) {
    use std::os::fd::AsRawFd;
    let mut fd = libc::pollfd {
        fd: file.as_raw_fd(),
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the duration of the call.
    unsafe { libc::poll(&mut fd, 1, 100) };
}

/// The drain thread's state: readers, the port, and the byte budget.
pub struct Drain {
    readers: Vec<(u32, File)>,
    port: Port,
    layout: PageLayout,
    page: Vec<u8>,
    limit: u64,
    sent: u64,
    pages: u64,
    capped_at_ns: Option<u64>,
    tracing_on: PathBuf,
}

impl Drain {
    /// `readers` are the CPUs' `trace_pipe_raw` (non-blocking), `port` the
    /// trace port (non-blocking), `tracing_on` the file that stops tracing.
    pub fn new(
        readers: Vec<(u32, File)>,
        port: File,
        layout: PageLayout,
        page_size: usize,
        limit: u64,
        tracing_on: PathBuf,
    ) -> Drain {
        Drain {
            readers,
            port: Port {
                file: port,
                batch: Vec::with_capacity(BATCH),
            },
            layout,
            page: vec![0; page_size],
            limit,
            sent: 0,
            pages: 0,
            capped_at_ns: None,
            tracing_on,
        }
    }

    pub fn run(mut self, stop: &AtomicBool) -> Drained {
        let cpu_start = thread_cpu_ns();
        let mut last = Instant::now();
        while !stop.load(Ordering::Relaxed) && self.capped_at_ns.is_none() {
            if self.half_full(STOP_TICK) || last.elapsed() >= DRAIN_EVERY {
                self.pump(None);
                last = Instant::now();
            }
        }
        // Tracing is off now (or capped): take what the buffers still hold.
        self.pump(Some(Instant::now() + FINAL_DRAIN));
        Drained {
            pages: self.pages,
            bytes: self.sent,
            capped_at_ns: self.capped_at_ns,
            cpu_ns: thread_cpu_ns().saturating_sub(cpu_start),
        }
    }

    /// Waits up to `wait` for a buffer to pass [`WAKE_PERCENT`].
    fn half_full(&self, wait: Duration) -> bool {
        use std::os::fd::AsRawFd;
        let mut fds: Vec<libc::pollfd> = self
            .readers
            .iter()
            .map(|(_, f)| libc::pollfd {
                fd: f.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        // SAFETY: `fds` is a valid array of `fds.len()` pollfds for the call.
        let n = unsafe {
            libc::poll(
                fds.as_mut_ptr(),
                fds.len() as libc::nfds_t,
                wait.as_millis() as i32,
            )
        };
        n > 0
    }

    /// Reads every CPU until it has nothing more (or the deadline), and
    /// ships the pages. Stops tracing at the byte limit.
    fn pump(&mut self, deadline: Option<Instant>) {
        self.read_all(deadline);
        if self.port.flush().is_err() && self.capped_at_ns.is_none() {
            // The host is gone; nothing more can be shipped.
            self.capped_at_ns = Some(clock_ns(libc::CLOCK_BOOTTIME));
        }
    }

    fn read_all(&mut self, deadline: Option<Instant>) {
        for i in 0..self.readers.len() {
            loop {
                if self.capped_at_ns.is_some() || deadline.is_some_and(|d| Instant::now() >= d) {
                    return;
                }
                let (cpu, file) = &mut self.readers[i];
                let n = match file.read(&mut self.page) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                };
                let cpu = *cpu;
                let used = self.layout.used_len(&self.page[..n]);
                let frame = FRAME_HEADER_LEN_U64 + used as u64;
                if self.sent + frame > self.limit {
                    let _ = std::fs::write(&self.tracing_on, "0");
                    self.capped_at_ns = Some(clock_ns(libc::CLOCK_BOOTTIME));
                    return;
                }
                let header = FrameHeader {
                    cpu,
                    len: used as u32,
                };
                if self
                    .port
                    .send(&[&header.encode(), &self.page[..used]])
                    .is_err()
                {
                    // The host is gone; nothing more can be shipped.
                    self.capped_at_ns = Some(clock_ns(libc::CLOCK_BOOTTIME));
                    return;
                }
                self.sent += frame;
                self.pages += 1;
            }
        }
    }
}

const FRAME_HEADER_LEN_U64: u64 = ktstr_wire::FRAME_HEADER_LEN as u64;
