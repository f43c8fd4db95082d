//! Temporary directories that survive nothing: one per process use, under
//! the cache (`<cache>/tmp/<pid>-<n>/`), private to the user (0700), each
//! holding a lock for as long as its owner lives.
//!
//! A ktstr-vm killed with SIGKILL cannot clean up after itself, so every
//! command first [`sweep`]s the directories whose lock nobody holds any
//! more: a killed run's sockets and half-written files are gone by the
//! next run, and a live run's are never touched (the lock, not the pid,
//! says who is alive, so a reused pid cannot fool it).

use std::fs::File;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use nix::fcntl::{Flock, FlockArg};

/// Longest path a unix socket can have (`sun_path` is 108 bytes with its NUL).
pub const MAX_SOCKET_PATH: usize = 107;

const LOCK: &str = ".owner.lock";

/// A private temporary directory, removed on drop.
#[derive(Debug)]
pub struct Scratch {
    dir: PathBuf,
    _lock: Flock<File>,
}

/// Where scratch directories live: `<cache>/tmp`, or a per-user directory
/// under the system's temp dir when the cache path is too long for the
/// sockets inside them.
pub fn root(cache_root: &Path) -> PathBuf {
    let under_cache = cache_root.join("tmp");
    // `<root>/<pid>-<n>/results.sock` must fit in a socket address.
    if under_cache.as_os_str().len() + 40 <= MAX_SOCKET_PATH {
        return under_cache;
    }
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    std::env::temp_dir().join(format!("ktstr-vm-{uid}"))
}

impl Scratch {
    /// A fresh directory under [`root`].
    pub fn new(cache_root: &Path) -> std::io::Result<Scratch> {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let parent = root(cache_root);
        private_dir_all(&parent)?;
        loop {
            let n = SEQ.fetch_add(1, Ordering::Relaxed);
            let dir = parent.join(format!("{}-{n}", std::process::id()));
            match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
            let file = File::create(dir.join(LOCK))?;
            let lock = Flock::lock(file, FlockArg::LockExclusiveNonblock)
                .map_err(|(_, e)| std::io::Error::from(e))?;
            return Ok(Scratch { dir, _lock: lock });
        }
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Removes the scratch directories of processes that are gone; returns
/// how many. Never fails: what cannot be removed now is tried next time.
pub fn sweep(cache_root: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(root(cache_root)) else {
        return 0;
    };
    let mut removed = 0;
    for e in entries.flatten() {
        let dir = e.path();
        if !dir.is_dir() {
            continue;
        }
        let owned = File::open(dir.join(LOCK))
            .ok()
            .map(|f| Flock::lock(f, FlockArg::LockExclusiveNonblock).is_err());
        // Held: alive. Missing lock file: being created, or left by a kill
        // between mkdir and lock; only the latter is old.
        let stale = match owned {
            Some(held) => !held,
            None => e
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().is_ok_and(|age| age.as_secs() > 60)),
        };
        if stale && std::fs::remove_dir_all(&dir).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// `mkdir -p` whose new directories are 0700. Existing directories keep
/// their mode: the user may have chosen it (`--artifacts ~/runs`).
pub fn private_dir_all(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn private_and_removed_on_drop() {
        let cache = tempfile::tempdir().unwrap();
        let s = Scratch::new(cache.path()).unwrap();
        let dir = s.path().to_path_buf();
        assert!(dir.starts_with(cache.path().join("tmp")));
        assert_eq!(
            std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        drop(s);
        assert!(!dir.exists());
    }

    #[test]
    fn sweep_removes_only_what_nobody_holds() {
        let cache = tempfile::tempdir().unwrap();
        let live = Scratch::new(cache.path()).unwrap();
        // A killed process's directory: its lock file is there, unheld.
        let dead = root(cache.path()).join("999999-0");
        std::fs::create_dir_all(&dead).unwrap();
        std::fs::write(dead.join(LOCK), "").unwrap();
        std::fs::write(dead.join("results.sock"), "").unwrap();
        assert_eq!(sweep(cache.path()), 1);
        assert!(!dead.exists());
        assert!(live.path().exists(), "a live run's directory stays");
        // A just-made directory without its lock yet is left alone.
        let young = root(cache.path()).join("999998-0");
        std::fs::create_dir_all(&young).unwrap();
        assert_eq!(sweep(cache.path()), 0);
        assert!(young.exists());
    }

    #[test]
    fn sweeping_a_missing_root_is_nothing() {
        let cache = tempfile::tempdir().unwrap();
        assert_eq!(sweep(&cache.path().join("none")), 0);
    }

    #[test]
    fn long_cache_paths_fall_back_for_sockets() {
        let long = PathBuf::from("/").join("x".repeat(120));
        let r = root(&long);
        assert!(r.as_os_str().len() + 40 <= MAX_SOCKET_PATH, "{r:?}");
    }
}
