//! Finds the results port by name and wraps it in a thread-safe reporter.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

use ktstr_wire::codec::Encoder;
use ktstr_wire::{GuestMsg, Stage};

/// Looks for a virtio port whose `name` is `wanted` under `class_dir`
/// (normally `/sys/class/virtio-ports`) and returns its `/dev` node.
pub fn find_port(class_dir: &Path, wanted: &str) -> Option<PathBuf> {
    let entries = std::fs::read_dir(class_dir).ok()?;
    for entry in entries.flatten() {
        let name = std::fs::read_to_string(entry.path().join("name")).unwrap_or_default();
        if name.trim() == wanted {
            return Some(Path::new("/dev").join(entry.file_name()));
        }
    }
    None
}

/// Waits up to `timeout` for the port to appear (the driver may bind it a
/// moment after init starts).
pub fn wait_for_port(wanted: &str, timeout: Duration) -> Option<PathBuf> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(p) = find_port(Path::new("/sys/class/virtio-ports"), wanted) {
            if p.exists() {
                return Some(p);
            }
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Sends messages to the host from any thread. Send failures go to the
/// console: the reporter must never take PID 1 down.
#[derive(Clone, Debug)]
pub struct Reporter {
    inner: Arc<Mutex<Option<Encoder<File>>>>,
}

impl Reporter {
    /// Opens the port for both directions (a virtio port opens once) and
    /// returns the reporter and the reading side (the host's run arrives
    /// on it).
    pub fn open(path: &Path) -> std::io::Result<(Reporter, File)> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        let reader = file.try_clone()?;
        let rep = Reporter {
            inner: Arc::new(Mutex::new(Some(Encoder::new(file)))),
        };
        Ok((rep, reader))
    }

    /// A reporter with no port: everything goes to the console.
    pub fn console_only() -> Reporter {
        Reporter {
            inner: Arc::new(Mutex::new(None)),
        }
    }

    pub fn send(&self, msg: &GuestMsg) {
        let guard = match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        Self::write(guard, msg);
    }

    /// Sends unless the port stays locked for `wait`; then the message
    /// goes to the console only. For the panic hook: the panicking thread
    /// may hold the lock itself, and must not wait for it forever.
    /// Returns whether the message was handed to the port.
    pub fn send_within(&self, msg: &GuestMsg, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        loop {
            match self.inner.try_lock() {
                Ok(guard) => return Self::write(guard, msg),
                Err(TryLockError::Poisoned(p)) => return Self::write(p.into_inner(), msg),
                Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(TryLockError::WouldBlock) => {
                    let line = format!("ktstr-guest-init: results port busy, not sent: {msg:?}\n");
                    // SAFETY: write(2) from a valid buffer; no std lock taken.
                    unsafe { libc::write(2, line.as_ptr().cast(), line.len()) };
                    return false;
                }
            }
        }
    }

    fn write(mut guard: MutexGuard<'_, Option<Encoder<File>>>, msg: &GuestMsg) -> bool {
        match guard.as_mut() {
            Some(enc) => {
                if let Err(e) = enc.send(msg) {
                    // One write: a line the console gets whole or not at all.
                    let line = format!("ktstr-guest-init: results port: {e} ({})\n", kind(msg));
                    let _ = std::io::stderr().write_all(line.as_bytes());
                    return false;
                }
                true
            }
            None => {
                let _ = writeln!(std::io::stderr(), "ktstr-guest-init: {msg:?}");
                false
            }
        }
    }

    /// Reports a harness failure in `stage`.
    pub fn error(&self, stage: Stage, message: impl Into<String>) {
        self.send(&GuestMsg::Error {
            stage,
            message: message.into(),
        });
    }
}

/// The message's kind, for a console line about it.
fn kind(msg: &GuestMsg) -> String {
    let json = serde_json::to_string(msg).unwrap_or_default();
    json.split('"').nth(3).unwrap_or("?").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_port_by_name_not_number() {
        let dir = tempfile::tempdir().unwrap();
        for (dev, name) in [
            ("vport0p1", "other"),
            ("vport0p2", "org.ktstr-vm.results\n"),
        ] {
            std::fs::create_dir(dir.path().join(dev)).unwrap();
            std::fs::write(dir.path().join(dev).join("name"), name).unwrap();
        }
        assert_eq!(
            find_port(dir.path(), "org.ktstr-vm.results"),
            Some(PathBuf::from("/dev/vport0p2"))
        );
        assert_eq!(find_port(dir.path(), "missing"), None);
    }

    fn error_line(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap_or_default()
    }

    /// The panic hook's path: a port held by another thread (or by the
    /// panicking thread itself) is given up on after the wait, never
    /// waited for forever; a free or poisoned one is used.
    #[test]
    fn send_within_gives_up_on_a_held_port() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("port");
        std::fs::write(&path, "").unwrap();
        let (rep, _reader) = Reporter::open(&path).unwrap();
        let msg = GuestMsg::Error {
            stage: Stage::Panic,
            message: "boom".into(),
        };
        let held = rep.inner.lock().unwrap();
        let t = Instant::now();
        assert!(!rep.send_within(&msg, Duration::from_millis(50)));
        assert!(t.elapsed() >= Duration::from_millis(50));
        drop(held);
        assert!(error_line(&path).is_empty());
        assert!(rep.send_within(&msg, Duration::from_millis(50)));
        assert!(error_line(&path).contains(r#""stage":"panic""#));
        let r2 = rep.clone();
        let _ = std::thread::spawn(move || {
            let _g = r2.inner.lock().unwrap();
            panic!("poison the port");
        })
        .join();
        assert!(rep.inner.is_poisoned());
        assert!(rep.send_within(&msg, Duration::from_millis(50)));
    }
}
