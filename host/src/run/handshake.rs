//! Handing the guest its run: at the guest's first `AwaitingRun` the host
//! saves the VM first when this run is to leave a snapshot behind, then
//! sends one `HostMsg::Run` line and the run archive (from a thread: a
//! guest that stops reading must not stall the run loop's deadlines).
//!
//! After a restore the guest's first `AwaitingRun` is also its sign of
//! life: until it comes nothing is sent (data sent in the first moments
//! after `cont` can be lost), and when it does not come soon the restore
//! has failed and the run boots cold instead.

use std::fs::File;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ktstr_wire::{GuestMsg, HostMsg, PROTOCOL_VERSION};

use crate::events::Event;
use crate::qemu::qmp::{save_uri, Qmp};
use crate::snapshot::store::{Meta, Saving, SnapshotStore};

/// How long a restored guest may take to say `AwaitingRun` after `cont`.
pub const RESTORE_ANSWER: Duration = Duration::from_secs(10);
/// How long a save may take (stop, write the state, finish).
const SAVE_LIMIT: Duration = Duration::from_secs(60);

/// A snapshot to save at the guest's first `AwaitingRun`.
#[derive(Debug)]
pub struct SaveJob {
    pub store: SnapshotStore,
    pub saving: Saving,
    pub meta: Meta,
}

/// The state of handing over the run.
#[derive(Debug)]
pub struct Handshake {
    stream: UnixStream,
    archive: PathBuf,
    restored: bool,
    save: Option<Box<SaveJob>>,
    qmp_socket: PathBuf,
    /// This run's console.log (its boot is saved with the snapshot).
    console_log: PathBuf,
    /// When the restored guest must have answered by (set after `cont`).
    answer_by: Option<Instant>,
    sent: bool,
    /// The guest speaks another protocol: it gets no run.
    refused: bool,
}

/// What a guest message means for the handover.
#[derive(Debug, PartialEq, Eq)]
pub enum Seen {
    /// Record it as any other message.
    Record,
    /// A repeated `AwaitingRun` (a heartbeat): not worth an event each.
    Skip,
}

impl Handshake {
    pub fn new(
        stream: UnixStream,
        archive: &Path,
        restored: bool,
        save: Option<Box<SaveJob>>,
        qmp_socket: &Path,
        console_log: &Path,
    ) -> Handshake {
        Handshake {
            stream,
            archive: archive.to_path_buf(),
            restored,
            save,
            qmp_socket: qmp_socket.to_path_buf(),
            console_log: console_log.to_path_buf(),
            answer_by: restored.then(|| Instant::now() + RESTORE_ANSWER),
            sent: false,
            refused: false,
        }
    }

    /// Whether the restored guest is overdue: the restore failed.
    pub fn restore_overdue(&self) -> bool {
        !self.sent && self.answer_by.is_some_and(|t| Instant::now() > t)
    }

    /// Whether the guest was refused its run (another protocol): nothing
    /// more will happen, so the VM can go.
    pub fn refused(&self) -> bool {
        self.refused
    }

    /// Whether the restore has not been answered yet (QEMU ending now is
    /// the restore failing, not the guest).
    pub fn restore_pending(&self) -> bool {
        self.restored && !self.sent
    }

    /// Acts on a guest message; `push` records events it causes.
    pub fn on_msg(&mut self, msg: &GuestMsg, start: Instant, push: &mut dyn FnMut(Event)) -> Seen {
        let GuestMsg::AwaitingRun {
            protocol,
            uptime_ms,
        } = msg
        else {
            return Seen::Record;
        };
        if self.sent {
            return Seen::Skip;
        }
        self.sent = true;
        if self.restored {
            push(Event::Restored {
                after_ms: start.elapsed().as_millis() as u64,
                guest_ms: *uptime_ms,
            });
        }
        if *protocol != PROTOCOL_VERSION {
            // Recorded: the verdict says so. Nothing it could read is sent,
            // and the run ends now rather than at its timeout.
            self.refused = true;
            return Seen::Record;
        }
        if let Some(job) = self.save.take() {
            push(save(job, &self.qmp_socket, &self.console_log));
        }
        let (stream, archive, restored) =
            (self.stream.try_clone(), self.archive.clone(), self.restored);
        match stream {
            Ok(stream) => {
                std::thread::spawn(move || {
                    if let Err(e) = send_run(stream, &archive, restored) {
                        eprintln!("ktstr-vm: sending the run to the guest: {e}");
                    }
                });
            }
            Err(e) => eprintln!("ktstr-vm: sending the run to the guest: {e}"),
        }
        Seen::Record
    }
}

/// Stops the VM, writes its state, publishes the snapshot, continues.
fn save(job: Box<SaveJob>, qmp_socket: &Path, console_log: &Path) -> Event {
    let job = *job;
    let t = Instant::now();
    let deadline = t + SAVE_LIMIT;
    let outcome = Qmp::connect(qmp_socket, deadline).and_then(|mut q| {
        let saved = q.save(&save_uri(&job.saving.state_path()), deadline);
        // Whatever happened, the run goes on.
        let resumed = q.cont();
        saved.and(resumed)
    });
    let save_ms = t.elapsed().as_millis() as u64;
    match outcome {
        Ok(()) => {
            // The boot so far (a missing console, as in a shell, is none).
            let _ = std::fs::copy(console_log, job.saving.boot_console_path());
            let meta = Meta {
                save_ms,
                ..job.meta
            };
            match job.store.commit(job.saving, meta) {
                Ok(snap) => Event::SnapshotSaved {
                    bytes: snap.meta.bytes,
                    save_ms,
                },
                Err(e) => Event::SnapshotFailed {
                    why: format!("storing the snapshot: {e}"),
                },
            }
        }
        Err(e) => Event::SnapshotFailed {
            why: format!("saving the VM: {e}"),
        },
    }
}

/// The `HostMsg::Run` line, then the archive.
fn send_run(mut stream: UnixStream, archive: &Path, restored: bool) -> std::io::Result<()> {
    let mut file = File::open(archive)?;
    let bytes = file.metadata()?.len();
    let msg = HostMsg::Run {
        protocol: PROTOCOL_VERSION,
        archive_bytes: bytes,
        entropy: entropy_hex(),
        restored,
    };
    let mut line = serde_json::to_vec(&msg).expect("the run line serializes");
    line.push(b'\n');
    stream.write_all(&line)?;
    std::io::copy(&mut file, &mut stream)?;
    stream.flush()
}

/// 32 random bytes from the host, as hex.
fn entropy_hex() -> String {
    let mut buf = [0u8; 32];
    let _ =
        File::open("/dev/urandom").and_then(|mut f| std::io::Read::read_exact(&mut f, &mut buf));
    crate::kernel::key::hex(&buf)
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Read};

    use super::*;

    /// A handshake over a socket pair, handing over an archive of `body`;
    /// the directory holds the archive, the guest end reads what is sent.
    fn handshake(body: &[u8], restored: bool) -> (tempfile::TempDir, Handshake, UnixStream) {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("run.cpio");
        std::fs::write(&archive, body).unwrap();
        let (host, guest) = UnixStream::pair().unwrap();
        let hs = Handshake::new(
            host,
            &archive,
            restored,
            None,
            &dir.path().join("qmp"),
            &dir.path().join("console.log"),
        );
        (dir, hs, guest)
    }

    fn awaiting(protocol: u32) -> GuestMsg {
        GuestMsg::AwaitingRun {
            protocol,
            uptime_ms: 1,
        }
    }

    #[test]
    fn the_first_awaiting_run_gets_the_run_once() {
        let (_dir, mut hs, guest) = handshake(b"ARCHIVE", false);
        let mut events = Vec::new();
        let mut push = |e: Event| events.push(e);
        let start = Instant::now();
        assert_eq!(
            hs.on_msg(&GuestMsg::Done { uptime_ms: 1 }, start, &mut push),
            Seen::Record
        );
        assert_eq!(
            hs.on_msg(&awaiting(PROTOCOL_VERSION), start, &mut push),
            Seen::Record
        );
        assert_eq!(
            hs.on_msg(&awaiting(PROTOCOL_VERSION), start, &mut push),
            Seen::Skip
        );
        let mut r = BufReader::new(guest);
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        let HostMsg::Run {
            archive_bytes,
            entropy,
            restored,
            ..
        } = serde_json::from_str(&line).unwrap();
        assert_eq!((archive_bytes, restored), (7, false));
        assert_eq!(entropy.len(), 64);
        let mut body = vec![0u8; 7];
        r.read_exact(&mut body).unwrap();
        assert_eq!(body, b"ARCHIVE");
        assert!(events.is_empty(), "a cold boot records no restore");
    }

    #[test]
    fn a_restore_is_timed_and_overdue_without_an_answer() {
        let (_dir, mut hs, _guest) = handshake(b"x", true);
        assert!(hs.restore_pending() && !hs.restore_overdue());
        hs.answer_by = Some(Instant::now() - Duration::from_millis(1));
        assert!(hs.restore_overdue());
        let mut events = Vec::new();
        hs.on_msg(&awaiting(PROTOCOL_VERSION), Instant::now(), &mut |e| {
            events.push(e)
        });
        assert!(matches!(events[0], Event::Restored { .. }));
        assert!(!hs.restore_pending() && !hs.restore_overdue());
    }

    #[test]
    fn another_protocol_gets_nothing() {
        let (_dir, mut hs, guest) = handshake(b"x", false);
        hs.on_msg(&awaiting(PROTOCOL_VERSION + 1), Instant::now(), &mut |_| {});
        assert!(hs.refused());
        guest
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut buf = [0u8; 1];
        assert!((&guest).read(&mut buf).is_err(), "nothing was sent");
    }
}
