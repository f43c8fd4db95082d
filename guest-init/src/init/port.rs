//! Finds the results port by name and wraps it in a thread-safe reporter.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
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
    pub fn open(path: &Path) -> std::io::Result<Reporter> {
        let file = OpenOptions::new().write(true).open(path)?;
        Ok(Reporter {
            inner: Arc::new(Mutex::new(Some(Encoder::new(file)))),
        })
    }

    /// A reporter with no port: everything goes to the console.
    pub fn console_only() -> Reporter {
        Reporter {
            inner: Arc::new(Mutex::new(None)),
        }
    }

    pub fn send(&self, msg: &GuestMsg) {
        let mut guard = match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        match guard.as_mut() {
            Some(enc) => {
                if let Err(e) = enc.send(msg) {
                    let _ = writeln!(std::io::stderr(), "ktstr-guest-init: results port: {e}");
                }
            }
            None => {
                let _ = writeln!(std::io::stderr(), "ktstr-guest-init: {msg:?}");
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
}
