//! Payloads: external programs the host asked the guest to run beside (or
//! instead of) the workers, e.g. stress-ng or a scheduler author's own test.
//!
//! Each payload runs in its own process group (so a stop reaches its
//! children too), optionally in a cgroup under the run's root, with stdin
//! on `/dev/null`, stdout on a raw pseudo-terminal (so C stdio
//! line-buffers it, see [`super::pty`]) and stderr on a pipe, with
//! `TERM=dumb` and `NO_COLOR=1` unless its env says otherwise. Its stdout
//! and stderr reach the host as `PayloadOutput`
//! chunks as they arrive (bounded per payload, so a chatty program cannot
//! flood the results port), then one `PayloadExited`. A payload past its
//! timeout is killed and reported `TimedOut`; one still running at the end
//! of the workload is stopped (SIGTERM, then SIGKILL) and reported `stopped`.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Component, Path};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ktstr_wire::{ExitStatus, GuestMsg, PayloadConfig, Stage, Stream};

use super::clock::uptime_ms;
use super::port::Reporter;
use super::pty::raw_pty;

/// Most output bytes forwarded per payload (both streams together).
const MAX_OUTPUT_BYTES: usize = 8 << 20;
/// Most `PayloadOutput` messages per payload: the host keeps at most
/// 200 000 messages per run, and a line-buffered program sends many small ones.
const MAX_OUTPUT_CHUNKS: usize = 20_000;
/// Largest single read, and so the largest chunk.
const READ_SIZE: usize = 16 << 10;
/// How long a payload's last output may take to arrive after it exits (a
/// grandchild still holding the pipe must not hang the run).
const OUTPUT_DRAIN: Duration = Duration::from_millis(500);
/// Shell conventions for a command that could not be started.
const NOT_FOUND: i32 = 127;
const NOT_EXECUTABLE: i32 = 126;

/// The payloads of one run.
#[derive(Debug, Default)]
pub struct Payloads {
    all: Vec<Payload>,
}

#[derive(Debug)]
struct Payload {
    name: String,
    foreground: bool,
    /// `None` once reaped (or when it never started).
    child: Option<Child>,
    deadline: Option<Instant>,
    readers: Vec<JoinHandle<()>>,
}

impl Payloads {
    /// Starts every payload. One that cannot start is reported at once (its
    /// reason on its stderr, exit 127 or 126 like a shell) and counts as ended.
    pub fn start(cfgs: &[PayloadConfig], cgroup_root: Option<&Path>, rep: &Reporter) -> Payloads {
        let all = cfgs
            .iter()
            .map(|cfg| Payload::start(cfg, cgroup_root, rep))
            .collect();
        Payloads { all }
    }

    /// Pids of the payloads still running (the orphan reaper must not take
    /// their exit status).
    pub fn pids(&self) -> Vec<i32> {
        self.all
            .iter()
            .filter_map(|p| p.child.as_ref().map(|c| c.id() as i32))
            .collect()
    }

    /// True when there is a foreground payload and every one has ended: the
    /// workload phase is over.
    pub fn foreground_done(&self) -> bool {
        let mut fg = self.all.iter().filter(|p| p.foreground).peekable();
        fg.peek().is_some() && fg.all(|p| p.child.is_none())
    }

    /// Reports payloads that ended and kills those past their timeout.
    pub fn poll(&mut self, rep: &Reporter) {
        for p in &mut self.all {
            let Some(child) = p.child.as_mut() else {
                continue;
            };
            if let Ok(Some(status)) = child.try_wait() {
                p.finish(ExitStatus::from(status), false, rep);
            } else if p.deadline.is_some_and(|d| Instant::now() >= d) {
                p.kill();
                p.finish(ExitStatus::TimedOut, false, rep);
            }
        }
    }

    /// Ends every payload still running: SIGTERM to its process group, then
    /// SIGKILL after `grace`. A payload past its own timeout by then is
    /// reported `TimedOut`, the others `stopped`.
    pub fn stop_all(&mut self, grace: Duration, rep: &Reporter) {
        self.poll(rep);
        for p in self.all.iter().filter(|p| p.child.is_some()) {
            p.signal(libc::SIGTERM);
        }
        let deadline = Instant::now() + grace;
        while self.all.iter().any(|p| p.child.is_some()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
            for p in &mut self.all {
                let Some(child) = p.child.as_mut() else {
                    continue;
                };
                if let Ok(Some(status)) = child.try_wait() {
                    let timed_out = p.deadline.is_some_and(|d| Instant::now() >= d);
                    let exit = if timed_out {
                        ExitStatus::TimedOut
                    } else {
                        ExitStatus::from(status)
                    };
                    p.finish(exit, !timed_out, rep);
                }
            }
        }
        for p in &mut self.all {
            if p.child.is_some() {
                let status = p.kill();
                p.finish(
                    status.map_or(ExitStatus::TimedOut, ExitStatus::from),
                    true,
                    rep,
                );
            }
        }
    }
}

impl Payload {
    fn start(cfg: &PayloadConfig, cgroup_root: Option<&Path>, rep: &Reporter) -> Payload {
        let mut p = Payload {
            name: cfg.name.clone(),
            foreground: cfg.foreground,
            child: None,
            deadline: cfg
                .timeout_ms
                .map(|ms| Instant::now() + Duration::from_millis(ms)),
            readers: Vec::new(),
        };
        match spawn(cfg, cgroup_root) {
            Ok(Spawned {
                mut child,
                pty,
                pty_error,
            }) => {
                let budget = Arc::new(Budget::default());
                if let Some(e) = pty_error {
                    rep.send(&GuestMsg::PayloadOutput {
                        name: cfg.name.clone(),
                        stream: Stream::Stderr,
                        data: format!(
                            "ktstr-guest-init: no pseudo-terminal ({e}): stdout is a pipe\n"
                        ),
                    });
                }
                let stdout = match pty {
                    Some(master) => Some(Box::new(File::from(master)) as Box<dyn Read + Send>),
                    None => child
                        .stdout
                        .take()
                        .map(|p| Box::new(p) as Box<dyn Read + Send>),
                };
                for (pipe, stream) in [
                    (stdout, Stream::Stdout),
                    (
                        child
                            .stderr
                            .take()
                            .map(|p| Box::new(p) as Box<dyn Read + Send>),
                        Stream::Stderr,
                    ),
                ] {
                    if let Some(pipe) = pipe {
                        let out = Output {
                            name: cfg.name.clone(),
                            stream,
                            rep: rep.clone(),
                            budget: budget.clone(),
                        };
                        p.readers
                            .push(std::thread::spawn(move || out.forward(pipe)));
                    }
                }
                p.child = Some(child);
            }
            Err(StartError::Cgroup(message)) => {
                rep.error(Stage::Payload, format!("{}: {message}", cfg.name));
                p.refuse(NOT_EXECUTABLE, &message, rep);
            }
            Err(StartError::Spawn(e)) => {
                let code = if e.kind() == std::io::ErrorKind::NotFound {
                    NOT_FOUND
                } else {
                    NOT_EXECUTABLE
                };
                p.refuse(code, &format!("cannot start {}: {e}", cfg.path), rep);
            }
        }
        p
    }

    /// Reports a payload that never ran.
    fn refuse(&self, code: i32, message: &str, rep: &Reporter) {
        rep.send(&GuestMsg::PayloadOutput {
            name: self.name.clone(),
            stream: Stream::Stderr,
            data: format!("ktstr-guest-init: {message}\n"),
        });
        rep.send(&GuestMsg::PayloadExited {
            name: self.name.clone(),
            exit: ExitStatus::Exited { code },
            stopped: false,
            uptime_ms: uptime_ms(),
        });
    }

    fn signal(&self, sig: libc::c_int) {
        if let Some(child) = &self.child {
            let pid = child.id() as libc::pid_t;
            // SAFETY: our unreaped child, so neither its pid nor its process
            // group id can have been reused.
            unsafe {
                libc::killpg(pid, sig);
                libc::kill(pid, sig);
            }
        }
    }

    /// SIGKILLs the process group and reaps the payload.
    fn kill(&mut self) -> Option<std::process::ExitStatus> {
        self.signal(libc::SIGKILL);
        self.child.as_mut().and_then(|c| c.wait().ok())
    }

    /// Lets its last output through (bounded), then reports the exit.
    fn finish(&mut self, exit: ExitStatus, stopped: bool, rep: &Reporter) {
        self.child = None;
        let at_ms = uptime_ms();
        super::join_bounded(std::mem::take(&mut self.readers), OUTPUT_DRAIN);
        rep.send(&GuestMsg::PayloadExited {
            name: self.name.clone(),
            exit,
            stopped,
            uptime_ms: at_ms,
        });
    }
}

#[derive(Debug)]
enum StartError {
    Cgroup(String),
    Spawn(std::io::Error),
}

/// A started payload: its stdout is the pseudo-terminal `pty` (master
/// side), or a pipe in `child.stdout` when none could be had.
struct Spawned {
    child: Child,
    pty: Option<OwnedFd>,
    pty_error: Option<nix::Error>,
}

fn spawn(cfg: &PayloadConfig, cgroup_root: Option<&Path>) -> Result<Spawned, StartError> {
    let procs = match &cfg.cgroup {
        None => None,
        Some(rel) => Some(open_cgroup(cgroup_root, rel).map_err(StartError::Cgroup)?),
    };
    let (pty, stdout, pty_error) = match raw_pty() {
        Ok((master, slave)) => (Some(master), Stdio::from(slave), None),
        Err(e) => (None, Stdio::piped(), Some(e)),
    };
    let mut cmd = Command::new(&cfg.path);
    cmd.args(&cfg.args)
        .env("TERM", "dumb")
        .env("NO_COLOR", "1")
        .envs(cfg.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::piped())
        .process_group(0);
    if let Some(procs) = &procs {
        let fd = procs.as_raw_fd();
        // SAFETY: write(2) on an fd opened before the fork is
        // async-signal-safe; nothing is allocated between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    // `procs` stays open until the child has moved itself; the slave side
    // closes with `cmd`, so the master sees the end when the payload's
    // processes close theirs.
    let child = cmd.spawn().map_err(StartError::Spawn)?;
    Ok(Spawned {
        child,
        pty,
        pty_error,
    })
}

/// Creates the payload's cgroup under the run's root and opens its
/// `cgroup.procs`, so the child can move itself there before exec.
fn open_cgroup(root: Option<&Path>, rel: &str) -> Result<File, String> {
    let root =
        root.ok_or_else(|| format!("cgroup {rel:?} requested but the run has no cgroup root"))?;
    let path = Path::new(rel);
    if path.as_os_str().is_empty() || !path.components().all(|c| matches!(c, Component::Normal(_)))
    {
        return Err(format!(
            "cgroup {rel:?} must be a relative path without '..'"
        ));
    }
    let dir = root.join(path);
    std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let procs = dir.join("cgroup.procs");
    OpenOptions::new()
        .write(true)
        .open(&procs)
        .map_err(|e| format!("open {}: {e}", procs.display()))
}

/// Output limits shared by a payload's two streams.
#[derive(Debug, Default)]
struct Budget {
    bytes: AtomicUsize,
    chunks: AtomicUsize,
    cut: AtomicBool,
}

impl Budget {
    /// Whether a chunk of `len` bytes may still be forwarded.
    fn take(&self, len: usize) -> bool {
        let bytes = self.bytes.fetch_add(len, Ordering::Relaxed) + len;
        let chunks = self.chunks.fetch_add(1, Ordering::Relaxed) + 1;
        bytes <= MAX_OUTPUT_BYTES && chunks <= MAX_OUTPUT_CHUNKS
    }
}

/// One stream of one payload, forwarded as text chunks.
struct Output {
    name: String,
    stream: Stream,
    rep: Reporter,
    budget: Arc<Budget>,
}

impl Output {
    /// Reads until end of file. Beyond the budget the output is read and
    /// dropped (a blocked writer would hang the payload), with one notice.
    fn forward(self, mut pipe: impl Read) {
        let mut buf = vec![0u8; READ_SIZE];
        let mut pending = Vec::new();
        loop {
            let n = match pipe.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            pending.extend_from_slice(&buf[..n]);
            let text = take_text(&mut pending, false);
            self.send(text);
        }
        let text = take_text(&mut pending, true);
        self.send(text);
    }

    fn send(&self, data: String) {
        if data.is_empty() {
            return;
        }
        if self.budget.take(data.len()) {
            self.rep.send(&GuestMsg::PayloadOutput {
                name: self.name.clone(),
                stream: self.stream,
                data,
            });
        } else if !self.budget.cut.swap(true, Ordering::Relaxed) {
            self.rep.send(&GuestMsg::PayloadOutput {
                name: self.name.clone(),
                stream: Stream::Stderr,
                data: format!(
                    "\n[ktstr-guest-init: output of {} cut after {MAX_OUTPUT_BYTES} bytes or {MAX_OUTPUT_CHUNKS} chunks]\n",
                    self.name
                ),
            });
        }
    }
}

/// Takes the text out of `pending`, keeping back a UTF-8 sequence cut by
/// the read boundary (unless `at_end`) so a character split across two
/// reads is not mangled. Invalid bytes become U+FFFD.
fn take_text(pending: &mut Vec<u8>, at_end: bool) -> String {
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

    #[test]
    fn budget_counts_bytes_and_chunks() {
        let b = Budget::default();
        assert!(b.take(MAX_OUTPUT_BYTES));
        assert!(!b.take(1));
        let b = Budget::default();
        assert!((0..MAX_OUTPUT_CHUNKS).all(|_| b.take(1)));
        assert!(!b.take(1));
    }

    #[test]
    fn bad_cgroup_names_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["", "../x", "/abs", "a/../b"] {
            assert!(open_cgroup(Some(dir.path()), bad).is_err(), "{bad:?}");
        }
        assert!(open_cgroup(None, "x").is_err());
    }
}
