//! Payloads: external programs the host asked the guest to run beside (or
//! instead of) the workers, e.g. stress-ng or a scheduler author's own test.
//!
//! Each payload runs in its own process group (so a stop reaches its
//! children too), optionally in a cgroup under the run's root, with stdin
//! on `/dev/null`, stdout on a raw pseudo-terminal (so C stdio
//! line-buffers it, see [`super::pty`]) and stderr on a pipe, with
//! `TERM=dumb` and `NO_COLOR=1` unless its env says otherwise. Its stdout
//! and stderr reach the host as `PayloadOutput` chunks as they arrive, up
//! to a byte cap per stream that keeps the end of the output (see
//! [`super::output`]), then one `PayloadExited`. A payload past its
//! timeout is killed and reported `TimedOut`; one still running at the end
//! of the workload is stopped (SIGTERM, then SIGKILL) and reported `stopped`.

use std::fs::{File, OpenOptions};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Component, Path};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ktstr_wire::{ExitStatus, GuestMsg, PayloadConfig, Stage, Stream};

use super::clock::uptime_ms;
use super::output::{Budget, Output};
use super::port::Reporter;
use super::pty::raw_pty;

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
                let stdout = pty.or_else(|| child.stdout.take().map(OwnedFd::from));
                let stderr = child.stderr.take().map(OwnedFd::from);
                for (fd, stream) in [(stdout, Stream::Stdout), (stderr, Stream::Stderr)] {
                    let pipe = fd.map(File::from);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_cgroup_names_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["", "../x", "/abs", "a/../b"] {
            assert!(open_cgroup(Some(dir.path()), bad).is_err(), "{bad:?}");
        }
        assert!(open_cgroup(None, "x").is_err());
    }
}
