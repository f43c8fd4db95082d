//! Starts, watches and stops the scheduler under test.
//!
//! The scheduler runs with its arguments passed as they are (no shell). Its
//! stdout and stderr are forwarded line by line; sched_ext's own view
//! (`/sys/kernel/sched_ext/state`, `root/ops`) decides whether it attached.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ktstr_wire::{ExitStatus, GuestMsg, SchedulerConfig, Stream};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::clock::uptime_ms;
use super::port::Reporter;

const STATE: &str = "/sys/kernel/sched_ext/state";
const OPS: &str = "/sys/kernel/sched_ext/root/ops";
/// Longest forwarded scheduler log line (bytes); the rest is cut.
const MAX_LOG_LINE: usize = 4096;
/// Most lines forwarded per stream (scx_qmap prints a few per second).
const MAX_LOG_LINES: usize = 20_000;
/// How often the attach wait looks at sysfs and the process.
const POLL: Duration = Duration::from_millis(5);

/// sched_ext's state and the ops name of the attached scheduler, if any.
pub fn sched_ext_state() -> (String, Option<String>) {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .ok()
            .map(|s| s.trim().to_string())
    };
    let state = read(STATE).unwrap_or_else(|| "unavailable".to_string());
    let ops = read(OPS).filter(|s| !s.is_empty());
    (state, ops)
}

/// After a scheduler failure, how long to let the kernel finish logging it.
const FAILURE_SETTLE: Duration = Duration::from_millis(300);

/// The health check of a running test: false when the scheduler process
/// ended or sched_ext is no longer in the `expected` state (which is then
/// reported), after a short settle so the kernel's account of it arrives.
/// The process's exit is reported once, later, by [`Scheduler::stop`].
pub fn still_expected(
    sched: Option<&mut Scheduler>,
    expected: &(String, Option<String>),
    rep: &Reporter,
) -> bool {
    if sched.is_some_and(|s| s.poll_exit().is_some()) {
        std::thread::sleep(FAILURE_SETTLE);
        return false;
    }
    let now = sched_ext_state();
    if now != *expected {
        rep.send(&GuestMsg::SchedExtState {
            state: now.0,
            ops: now.1,
            uptime_ms: uptime_ms(),
        });
        std::thread::sleep(FAILURE_SETTLE);
        return false;
    }
    true
}

/// The outcome of waiting for the scheduler to attach.
#[derive(Debug)]
pub enum Attach {
    Attached {
        ops: String,
    },
    /// The process ended before sched_ext said `enabled`.
    Exited(ExitStatus),
    TimedOut {
        state: String,
    },
}

/// A running scheduler process and its log forwarders.
#[derive(Debug)]
pub struct Scheduler {
    child: Child,
    logs: Vec<JoinHandle<()>>,
    /// The first line on its stderr: where the dynamic loader says why it
    /// gave up (see [`super::exec_failure`]).
    first_stderr: Arc<OnceLock<String>>,
    exited: Option<ExitStatus>,
    /// Guest uptime when the exit was first seen.
    exited_at_ms: u64,
}

impl Scheduler {
    pub fn start(cfg: &SchedulerConfig, rep: &Reporter) -> std::io::Result<Scheduler> {
        // No colour: the log is read as text (the host strips any left).
        let mut child = Command::new(&cfg.path)
            .args(&cfg.args)
            .env("NO_COLOR", "1")
            .env("TERM", "dumb")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let mut logs = Vec::new();
        let first_stderr = Arc::new(OnceLock::new());
        if let Some(out) = child.stdout.take() {
            logs.push(forward_lines(out, Stream::Stdout, rep.clone(), None));
        }
        if let Some(err) = child.stderr.take() {
            let first = Some(first_stderr.clone());
            logs.push(forward_lines(err, Stream::Stderr, rep.clone(), first));
        }
        rep.send(&GuestMsg::SchedulerStarted {
            pid: child.id() as i32,
            path: cfg.path.clone(),
            args: cfg.args.clone(),
            uptime_ms: uptime_ms(),
        });
        Ok(Scheduler {
            child,
            logs,
            first_stderr,
            exited: None,
            exited_at_ms: 0,
        })
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// The first line the scheduler printed on stderr, if any yet.
    pub fn first_stderr_line(&self) -> Option<&str> {
        self.first_stderr.get().map(String::as_str)
    }

    /// Polls sched_ext until `enabled`, the process exits, or `timeout`.
    pub fn wait_attached(&mut self, timeout: Duration) -> Attach {
        let deadline = Instant::now() + timeout;
        loop {
            let (state, ops) = sched_ext_state();
            if state == "enabled" {
                return Attach::Attached {
                    ops: ops.unwrap_or_default(),
                };
            }
            if let Some(status) = self.poll_exit() {
                return Attach::Exited(status);
            }
            if Instant::now() >= deadline {
                return Attach::TimedOut { state };
            }
            std::thread::sleep(POLL);
        }
    }

    /// The exit status if the process has ended (it is reaped once).
    pub fn poll_exit(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.exited = Some(ExitStatus::from(status));
                self.exited_at_ms = uptime_ms();
            }
        }
        self.exited
    }

    /// Stops the scheduler: SIGINT, then SIGKILL after `grace`. Waits for
    /// the log forwarders (bounded) so its last words reach the host first.
    /// Returns how it ended, whether we asked it to, and when it ended.
    pub fn stop(mut self, grace: Duration) -> (ExitStatus, bool, u64) {
        let requested = self.poll_exit().is_none();
        if requested {
            let _ = kill(Pid::from_raw(self.pid()), Signal::SIGINT);
            let deadline = Instant::now() + grace;
            while self.poll_exit().is_none() && Instant::now() < deadline {
                std::thread::sleep(POLL);
            }
            if self.poll_exit().is_none() {
                let _ = self.child.kill();
                if let Ok(status) = self.child.wait() {
                    self.exited = Some(ExitStatus::from(status));
                    self.exited_at_ms = uptime_ms();
                }
            }
        }
        self.join_logs(Duration::from_millis(500));
        let exit = self.exited.unwrap_or(ExitStatus::TimedOut);
        (exit, requested, self.exited_at_ms)
    }

    /// Waits for the log threads to see end-of-file, at most `limit`
    /// (a grandchild holding the pipe must not hang the run).
    pub fn join_logs(&mut self, limit: Duration) {
        super::join_bounded(std::mem::take(&mut self.logs), limit);
    }
}

/// Forwards each line of `pipe`; the first one also goes into `first`.
fn forward_lines(
    pipe: impl Read + Send + 'static,
    stream: Stream,
    rep: Reporter,
    first: Option<Arc<OnceLock<String>>>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut buf = Vec::new();
        let mut lines = 0usize;
        loop {
            buf.clear();
            match (&mut reader)
                .take(MAX_LOG_LINE as u64)
                .read_until(b'\n', &mut buf)
            {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            // Keep draining past the cap so the scheduler never blocks on
            // a full pipe, but stop sending: a chatty scheduler must not
            // crowd the verdict's messages out of the stream.
            lines += 1;
            if lines > MAX_LOG_LINES {
                if lines == MAX_LOG_LINES + 1 {
                    rep.send(&GuestMsg::LogCut {
                        log: format!("scheduler {stream:?}"),
                        kept: MAX_LOG_LINES as u64,
                    });
                }
                continue;
            }
            let line = String::from_utf8_lossy(&buf);
            let line = line.trim_end_matches(['\n', '\r']).to_string();
            if let Some(first) = &first {
                let _ = first.set(line.clone());
            }
            rep.send(&GuestMsg::SchedulerLog { stream, line });
        }
    })
}
