//! File locks (flock) around cache work that two processes may want at once:
//! building a kernel, downloading a tarball, extracting or fetching a source.
//!
//! The first process takes the lock and does the work; the second prints
//! who it is waiting for, blocks, and then finds the result in the cache.
//! The kernel drops a flock when its holder dies, even by SIGKILL, so a
//! killed build never leaves a lock behind.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

#[derive(Debug, thiserror::Error)]
#[error("lock {}: {source}", path.display())]
pub struct LockError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

impl crate::exit::ExitClass for LockError {
    fn exit_code(&self) -> crate::exit::ExitCode {
        crate::exit::ExitCode::Environment
    }
}

/// A held lock; released on drop (or when the process dies).
#[derive(Debug)]
pub struct Lock {
    _flock: Flock<File>,
}

/// How a lock is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One holder: the process doing the work.
    Exclusive,
    /// Many holders: work that only must not overlap an exclusive holder.
    Shared,
}

/// Takes the lock at `path` (created if missing). When another process
/// holds it, `waiting` is called once with a message, then this blocks.
pub fn acquire(
    path: &Path,
    mode: Mode,
    what: &str,
    waiting: &dyn Fn(&str),
) -> Result<Lock, LockError> {
    match try_acquire(path, mode)? {
        Ok(lock) => Ok(lock),
        Err(file) => {
            waiting(&format!(
                "waiting for another ktstr-vm that is {what} (lock {})",
                path.display()
            ));
            let arg = match mode {
                Mode::Exclusive => FlockArg::LockExclusive,
                Mode::Shared => FlockArg::LockShared,
            };
            Flock::lock(file, arg)
                .map(|f| Lock { _flock: f })
                .map_err(|(_, e)| LockError {
                    path: path.to_path_buf(),
                    source: e.into(),
                })
        }
    }
}

/// Takes the lock without waiting: `Ok(Err(file))` when someone holds it.
pub fn try_acquire(path: &Path, mode: Mode) -> Result<Result<Lock, File>, LockError> {
    let err = |source| LockError {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(err)?;
    }
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(err)?;
    let arg = match mode {
        Mode::Exclusive => FlockArg::LockExclusiveNonblock,
        Mode::Shared => FlockArg::LockSharedNonblock,
    };
    match Flock::lock(file, arg) {
        Ok(f) => Ok(Ok(Lock { _flock: f })),
        Err((file, nix::errno::Errno::EWOULDBLOCK)) => Ok(Err(file)),
        Err((_, e)) => Err(err(e.into())),
    }
}

/// A lock-file name for an arbitrary string (a path, a URL, a key).
pub fn name_for(text: &str) -> String {
    format!("{}.lock", &super::key::sha256_hex(text.as_bytes())[..16])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn second_holder_waits_with_a_message_then_gets_it() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("x.lock");
        let first = acquire(&path, Mode::Exclusive, "building", &|_| panic!("no wait")).unwrap();
        assert!(try_acquire(&path, Mode::Exclusive).unwrap().is_err());
        assert!(try_acquire(&path, Mode::Shared).unwrap().is_err());
        let messages = Arc::new(AtomicUsize::new(0));
        let m = messages.clone();
        let p = path.clone();
        let waiter = std::thread::spawn(move || {
            let said = |msg: &str| {
                assert!(msg.contains("building") && msg.contains("x.lock"), "{msg}");
                m.fetch_add(1, Ordering::SeqCst);
            };
            acquire(&p, Mode::Exclusive, "building", &said).unwrap()
        });
        std::thread::sleep(Duration::from_millis(200));
        assert!(!waiter.is_finished(), "the second holder must wait");
        drop(first);
        drop(waiter.join().unwrap());
        assert_eq!(messages.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn shared_holders_coexist_and_exclude_an_exclusive_one() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("s.lock");
        let a = try_acquire(&path, Mode::Shared).unwrap().unwrap();
        let b = try_acquire(&path, Mode::Shared).unwrap().unwrap();
        assert!(try_acquire(&path, Mode::Exclusive).unwrap().is_err());
        drop((a, b));
        assert!(try_acquire(&path, Mode::Exclusive).unwrap().is_ok());
    }
}
