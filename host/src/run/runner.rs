//! Executes a [`RunPlan`]: builds the initramfs, boots QEMU, turns the
//! guest's stream into [`TimedEvent`]s, and enforces every deadline.
//!
//! Waits all have limits and all notice a dead QEMU: the results socket is
//! accepted only while QEMU lives, the event loop checks QEMU each tick,
//! and the host timeout kills it. Ctrl-C kills QEMU and still returns the
//! events so far, so the artifacts of an interrupted run are kept.

use std::fs::File;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use ktstr_wire::GuestMsg;

use super::console::ConsoleCapture;
use super::guest_stream::{read_stream, to_event, Item};
use super::handshake::{Handshake, SaveJob, Seen, RESTORE_ANSWER};
use super::interrupt;
use crate::artifacts::{self, Artifacts};
use crate::events::{Event, TimedEvent};
use crate::plan::RunPlan;
use crate::qemu::args::{self, Console, QemuConfig};
use crate::qemu::process::{qemu_binary, Qemu, QemuError};
use crate::qemu::qmp::Qmp;

/// How often the loop looks at QEMU, the deadline and Ctrl-C.
const TICK: Duration = Duration::from_millis(20);
/// After `Done`, how long the guest gets to power off before QEMU is killed.
const POWEROFF_GRACE: Duration = Duration::from_secs(10);
/// After QEMU exits, how long to wait for the last bytes of the stream.
const DRAIN: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Qemu(#[from] QemuError),
    #[error("results socket {path}: {source}")]
    Socket {
        path: String,
        source: std::io::Error,
    },
    #[error("writing artifact {path}: {source}")]
    Artifact {
        path: String,
        source: std::io::Error,
    },
}

impl crate::exit::ExitClass for RunError {
    fn exit_code(&self) -> crate::exit::ExitCode {
        match self {
            RunError::Qemu(e) => crate::exit::ExitClass::exit_code(e),
            RunError::Socket { .. } | RunError::Artifact { .. } => {
                crate::exit::ExitCode::Environment
            }
        }
    }
}

/// Receives each event as it happens (live progress), before it is stored.
pub trait Observer {
    fn on_event(&mut self, ev: &TimedEvent);
}

impl<F: FnMut(&TimedEvent)> Observer for F {
    fn on_event(&mut self, ev: &TimedEvent) {
        self(ev)
    }
}

/// How the VM starts.
#[derive(Debug)]
pub enum Start {
    /// Boot the kernel; when `save` is set, leave a snapshot at the handover.
    Cold { save: Option<Box<SaveJob>> },
    /// Restore the VM saved in `state`.
    Restore { state: PathBuf },
}

/// Why a run ended before its verdict could be judged.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error(transparent)]
    Run(#[from] RunError),
    /// The snapshot could not be restored; the caller boots cold instead.
    #[error("restoring the snapshot: {0}")]
    RestoreFailed(String),
}

/// Boots (or restores) the VM, hands the guest its run (`archive`), and
/// collects events until QEMU is gone. `initrd` is the base initramfs;
/// `scratch` is the run's private temporary directory (its sockets).
pub fn boot(
    plan: &RunPlan,
    initrd: &Path,
    archive: &Path,
    arts: &Artifacts,
    scratch: &Path,
    start: Start,
    observer: &mut dyn Observer,
) -> Result<Vec<TimedEvent>, BootError> {
    let results_sock = scratch.join("results.sock");
    let listener = listen(&results_sock)?;
    // The console: the host reads it (capped), except in an interactive
    // shell, where it is the terminal.
    let console_sock = scratch.join("console.sock");
    let (console, console_listener) = if plan.shell() {
        let logfile = arts.path(artifacts::CONSOLE_LOG);
        (Console::Stdio { logfile }, None)
    } else {
        let l = listen(&console_sock)?;
        (Console::Socket(console_sock.clone()), Some(l))
    };

    let trace =
        match plan.trace() {
            Some(_) => Some(crate::trace::receive::TraceListener::bind(scratch).map_err(
                |source| RunError::Socket {
                    path: scratch.join("trace.sock").display().to_string(),
                    source,
                },
            )?),
            None => None,
        };
    let qmp_socket = scratch.join("qmp.sock");
    let (incoming, save) = match start {
        Start::Restore { state } => (Some(state), None),
        Start::Cold { save } => (None, save),
    };
    let restoring = incoming.is_some();
    let boot_console = incoming.as_deref().map(restored_boot).unwrap_or_default();
    let cfg = QemuConfig {
        accel: plan.accel().accel,
        topology: plan.topology().qemu_args(),
        kernel: plan.kernel().image.clone(),
        initrd: initrd.to_path_buf(),
        cmdline: plan.cmdline().to_string(),
        console,
        results_socket: results_sock.clone(),
        trace_socket: trace.as_ref().map(|t| t.path().to_path_buf()),
        qmp_socket: qmp_socket.clone(),
        incoming,
    };
    let binary = qemu_binary().map_err(RunError::from)?;
    let argv = args::build(&cfg);
    write_cmdline(arts, &binary, &argv)?;

    let mut rec = Recorder {
        start: Instant::now(),
        events: Vec::new(),
        observer,
    };
    interrupt::install();
    let deadline = rec.start + plan.timeout();
    let capture = match console_listener {
        Some(l) => Some(
            ConsoleCapture::start(
                l,
                &arts.path(artifacts::CONSOLE_LOG),
                &boot_console,
                deadline,
            )
            .map_err(|source| RunError::Artifact {
                path: arts.path(artifacts::CONSOLE_LOG).display().to_string(),
                source,
            })?,
        ),
        None => None,
    };
    let mut qemu = Qemu::spawn(
        &binary,
        &argv,
        &arts.path(artifacts::QEMU_LOG),
        plan.shell(),
    )
    .map_err(RunError::from)?;
    rec.push(Event::QemuStarted);

    match accept(&listener, &mut qemu, deadline) {
        Accept::Connected(stream) => {
            rec.push(Event::PortConnected);
            let writer = stream.try_clone().map_err(|source| RunError::Socket {
                path: results_sock.display().to_string(),
                source,
            })?;
            if restoring {
                if let Err(why) = resume(&qmp_socket, &mut qemu, &arts.path(artifacts::QEMU_LOG)) {
                    let _ = qemu.kill();
                    return Err(BootError::RestoreFailed(why));
                }
            }
            let mut hs = Handshake::new(
                writer,
                archive,
                restoring,
                save,
                &qmp_socket,
                &arts.path(artifacts::CONSOLE_LOG),
            );
            let raw = File::create(arts.path(artifacts::GUEST_STREAM)).map_err(|source| {
                RunError::Artifact {
                    path: arts.path(artifacts::GUEST_STREAM).display().to_string(),
                    source,
                }
            })?;
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || read_stream(stream, raw, tx));
            // QEMU connected this socket as it started, with the results one.
            let trace = trace.zip(plan.trace()).and_then(|(t, cfg)| {
                let limit = cfg.limit_bytes.saturating_add(crate::trace::HOST_SLACK);
                t.accept(&arts.path(crate::trace::RAW_FILE), limit)
            });
            let ended = event_loop(&mut rec, &mut qemu, &rx, deadline, plan.timeout(), &mut hs);
            if let Some(t) = trace {
                t.finish(DRAIN);
            }
            if let Err(why) = ended {
                return Err(BootError::RestoreFailed(why));
            }
        }
        Accept::Ended(end) => finish_without_stream(&mut rec, &mut qemu, end, plan.timeout()),
    }
    // QEMU is gone: its end of the console closed; the reader ends soon.
    if let Some(dropped) = capture.and_then(|c| c.finish(DRAIN)) {
        if dropped > 0 {
            rec.push(Event::ConsoleCut {
                dropped_bytes: dropped,
            });
        }
    }
    Ok(rec.events)
}

/// The boot console saved with the snapshot whose state is `state`, and a
/// line marking where the restore took over (empty when there is none).
fn restored_boot(state: &Path) -> Vec<u8> {
    let path = state.with_file_name(crate::snapshot::store::BOOT_CONSOLE);
    let mut boot = std::fs::read(path).unwrap_or_default();
    boot.truncate(crate::run::console::HEAD as usize);
    if !boot.is_empty() {
        if !boot.ends_with(b"\n") {
            boot.push(b'\n');
        }
        boot.extend_from_slice(
            b"[ktstr-vm: the boot above is the snapshot's; this run was restored here]\n",
        );
    }
    boot
}

/// After a restore: waits until QEMU has loaded the state, then lets the
/// guest run. A QEMU that refuses the state exits (its log says why) or
/// never gets there.
fn resume(qmp_socket: &Path, qemu: &mut Qemu, qemu_log: &Path) -> Result<(), String> {
    let deadline = Instant::now() + RESTORE_ANSWER;
    let why = |qemu: &mut Qemu, e: String| {
        // A refused stream ends QEMU right after the QMP error: give it a
        // moment, so the reason is QEMU's own and not "connection reset".
        let until = Instant::now() + Duration::from_secs(1);
        while qemu.try_wait().is_none() && Instant::now() < until {
            std::thread::sleep(TICK);
        }
        match qemu.try_wait() {
            Some(exit) => {
                let log = std::fs::read_to_string(qemu_log).unwrap_or_default();
                let last = log.lines().rev().find(|l| !l.trim().is_empty());
                format!(
                    "QEMU ended ({exit:?}) loading it: {}",
                    last.map_or(e, |l| l.trim().chars().take(300).collect())
                )
            }
            None => e,
        }
    };
    let mut q = match Qmp::connect(qmp_socket, deadline) {
        Ok(q) => q,
        Err(e) => return Err(why(qemu, e.to_string())),
    };
    if let Err(e) = q.wait_status(&["paused", "postmigrate", "running"], deadline) {
        return Err(why(qemu, e.to_string()));
    }
    q.cont().map_err(|e| why(qemu, e.to_string()))
}

/// A listening, non-blocking unix socket at `path`.
fn listen(path: &Path) -> Result<UnixListener, RunError> {
    let err = |source| RunError::Socket {
        path: path.display().to_string(),
        source,
    };
    let listener = UnixListener::bind(path).map_err(err)?;
    listener.set_nonblocking(true).map_err(err)?;
    Ok(listener)
}

/// Collects events with host timestamps and shows each to the observer.
struct Recorder<'a> {
    start: Instant,
    events: Vec<TimedEvent>,
    observer: &'a mut dyn Observer,
}

impl Recorder<'_> {
    fn push(&mut self, event: Event) {
        let ev = TimedEvent::new(self.start.elapsed().as_millis() as u64, event);
        self.observer.on_event(&ev);
        self.events.push(ev);
    }
}

enum Accept {
    Connected(UnixStream),
    Ended(End),
}

/// Why the loop stopped without a clean power-off.
enum End {
    Exited,
    Timeout,
    Interrupted,
}

/// Accepts QEMU's connection to the results socket while QEMU lives.
fn accept(listener: &UnixListener, qemu: &mut Qemu, deadline: Instant) -> Accept {
    loop {
        match listener.accept() {
            Ok((s, _)) => {
                let _ = s.set_nonblocking(false);
                return Accept::Connected(s);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => return Accept::Ended(End::Exited),
        }
        if qemu.try_wait().is_some() {
            return Accept::Ended(End::Exited);
        }
        if interrupt::requested() {
            return Accept::Ended(End::Interrupted);
        }
        if Instant::now() >= deadline {
            return Accept::Ended(End::Timeout);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn finish_without_stream(rec: &mut Recorder, qemu: &mut Qemu, end: End, limit: Duration) {
    match end {
        End::Timeout => rec.push(Event::HostTimeout {
            limit_ms: limit.as_millis() as u64,
        }),
        End::Interrupted => rec.push(Event::Interrupted),
        End::Exited => {}
    }
    if let Some(exit) = qemu.kill() {
        rec.push(Event::QemuExited { exit });
    }
}

/// Runs until QEMU is gone; `Err` when a restore turned out to have
/// failed (the guest never answered), which the caller retries cold.
fn event_loop(
    rec: &mut Recorder,
    qemu: &mut Qemu,
    rx: &Receiver<Item>,
    deadline: Instant,
    limit: Duration,
    hs: &mut Handshake,
) -> Result<(), String> {
    let mut done_at: Option<Instant> = None;
    let mut stream_open = true;
    loop {
        if stream_open {
            match rx.recv_timeout(TICK) {
                // No `continue`: a guest that talks all the time must still
                // meet the deadline, Ctrl-C and QEMU's exit below.
                Ok(item) => {
                    let is_done = matches!(item, Item::Msg(GuestMsg::Done { .. }));
                    let seen = match &item {
                        Item::Msg(m) => {
                            let start = rec.start;
                            hs.on_msg(m, start, &mut |e| rec.push(e))
                        }
                        Item::Protocol(_) | Item::ProtocolUncounted(_) => Seen::Record,
                    };
                    if seen == Seen::Record {
                        rec.push(to_event(item));
                    }
                    if is_done {
                        done_at = Some(Instant::now());
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => stream_open = false,
            }
        } else {
            std::thread::sleep(TICK);
        }
        if hs.refused() {
            let _ = qemu.kill();
        }
        if hs.restore_overdue() {
            let _ = qemu.kill();
            return Err(format!(
                "the restored guest did not answer within {RESTORE_ANSWER:?}"
            ));
        }
        if let Some(exit) = qemu.try_wait() {
            if hs.restore_pending() {
                return Err(format!(
                    "QEMU ended ({exit:?}) before the restored guest answered"
                ));
            }
            drain(rec, rx);
            rec.push(Event::QemuExited { exit });
            return Ok(());
        }
        let end = if interrupt::requested() {
            Some(End::Interrupted)
        } else if done_at.is_some_and(|t| t.elapsed() > POWEROFF_GRACE) {
            Some(End::Exited)
        } else if done_at.is_none() && Instant::now() >= deadline {
            Some(End::Timeout)
        } else {
            None
        };
        if let Some(end) = end {
            finish_without_stream(rec, qemu, end, limit);
            drain(rec, rx);
            return Ok(());
        }
    }
}

/// Takes what the reader still has, up to [`DRAIN`].
fn drain(rec: &mut Recorder, rx: &Receiver<Item>) {
    let until = Instant::now() + DRAIN;
    while let Ok(item) = rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
        rec.push(to_event(item));
    }
}

fn write_cmdline(
    arts: &Artifacts,
    binary: &Path,
    argv: &[std::ffi::OsString],
) -> Result<(), RunError> {
    let path = arts.path(artifacts::QEMU_CMDLINE);
    let mut text = shell_quote(&binary.display().to_string());
    for a in argv {
        text.push(' ');
        text.push_str(&shell_quote(&a.to_string_lossy()));
    }
    text.push('\n');
    std::fs::write(&path, text).map_err(|source| RunError::Artifact {
        path: path.display().to_string(),
        source,
    })
}

/// Quotes for a POSIX shell (shlex), so `qemu.cmdline` can be pasted to
/// reproduce; an argument shlex cannot quote (a NUL byte) is shown lossily.
pub fn shell_quote(s: &str) -> String {
    shlex::try_quote(s).map_or_else(|_| s.replace('\0', "\\0"), |q| q.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("-m"), "-m");
        for arg in [
            "a b",
            "it's",
            "",
            "$HOME",
            "x\"y",
            "-append console=ttyS0 quiet",
        ] {
            let quoted = shell_quote(arg);
            assert_eq!(
                shlex::split(&quoted),
                Some(vec![arg.to_string()]),
                "{quoted}"
            );
        }
    }
}
