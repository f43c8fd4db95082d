//! Finding and removing what the kernel cache should not keep: damaged
//! entries, leftovers of interrupted builds, extractions, git exports and
//! downloads, and (with `--keep N`) entries older than the N newest. The
//! VM snapshots of kernels that are gone go with them (`--snapshots`: all).
//!
//! [`scan`] only reads. [`clean`] first takes the cache lock exclusively
//! ([`Store::exclusive`]): every build and download holds it shared, so
//! whatever temporary exists while clean holds it belongs to a process that
//! is gone.

use std::fs;
use std::path::{Path, PathBuf};

use super::download::downloads_dir;
use super::lock::LockError;
use super::store::{Entry, Store, StoreError};
use crate::cache_dir::CacheDir;
use crate::snapshot::{Snapshot, SnapshotStore};

#[derive(Debug, thiserror::Error)]
pub enum CleanError {
    #[error("kernel cache {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl crate::exit::ExitClass for CleanError {
    fn exit_code(&self) -> crate::exit::ExitCode {
        crate::exit::ExitCode::Environment
    }
}

/// A directory under `kernels/` that is meant to be an entry but is not a
/// usable one, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Damaged {
    pub dir: PathBuf,
    pub reason: String,
}

/// The state of a kernel cache.
#[derive(Debug, Default)]
pub struct Scan {
    /// Usable entries, newest first.
    pub entries: Vec<Entry>,
    pub damaged: Vec<Damaged>,
    /// Temporaries of interrupted work (staging dirs, partial downloads).
    pub leftovers: Vec<PathBuf>,
    /// Saved VMs, newest first (each names its kernel's key, if cached).
    pub snapshots: Vec<Snapshot>,
}

/// Reads the cache without changing it.
pub fn scan(cache: &CacheDir) -> Result<Scan, CleanError> {
    let store = Store::new(cache);
    let mut out = Scan {
        entries: store.list()?,
        snapshots: SnapshotStore::new(cache.root()).list(),
        ..Scan::default()
    };
    for (path, name) in children(store.root())? {
        if name.starts_with('.') {
            if name.starts_with(".tmp-") || name.starts_with(".old-") {
                out.leftovers.push(path);
            }
            continue;
        }
        if !path.is_dir() {
            continue;
        }
        let reason = match Entry::load(&path) {
            Ok(Some(e)) if e.meta.key != name => Some(format!(
                "meta.json names key {} but the directory is {name}",
                e.meta.key
            )),
            Ok(Some(_)) => None,
            Ok(None) => Some("no meta.json (not a complete entry)".to_string()),
            Err(StoreError::Damaged { reason, .. }) => Some(reason),
            Err(e) => Some(e.to_string()),
        };
        if let Some(reason) = reason {
            out.damaged.push(Damaged { dir: path, reason });
        }
    }
    for (path, name) in children(&cache.sources())? {
        if name.starts_with(".extract-") || name.starts_with(".export-") {
            out.leftovers.push(path);
        }
    }
    for (dir, _) in children(&downloads_dir(cache))? {
        for (path, name) in children(&dir)? {
            if name.starts_with('.') && name.ends_with(".part") {
                out.leftovers.push(path);
            }
        }
    }
    out.leftovers.sort();
    Ok(out)
}

/// What [`clean`] removed.
#[derive(Debug, Default)]
pub struct Cleaned {
    pub damaged: Vec<Damaged>,
    pub leftovers: Vec<PathBuf>,
    /// Entries beyond `--keep`.
    pub old: Vec<Entry>,
    /// Snapshots removed: of kernels no longer cached, damaged ones, and
    /// with `--snapshots` all of them.
    pub snapshots: usize,
}

/// Removes damaged entries and leftovers, and with `keep` every entry but
/// the `keep` most recently built, and the snapshots of kernels that are
/// gone (with `all_snapshots`, every snapshot). Waits for running builds.
pub fn clean(
    cache: &CacheDir,
    keep: Option<usize>,
    all_snapshots: bool,
) -> Result<Cleaned, CleanError> {
    let store = Store::new(cache);
    let _only_us = store.exclusive()?;
    let scan = scan(cache)?;
    let (kept, old): (Vec<Entry>, Vec<Entry>) = match keep {
        Some(n) => {
            let mut entries = scan.entries;
            let old = entries.split_off(n.min(entries.len()));
            (entries, old)
        }
        None => (scan.entries, Vec::new()),
    };
    let doomed = scan
        .damaged
        .iter()
        .map(|d| d.dir.clone())
        .chain(scan.leftovers.iter().cloned())
        .chain(old.iter().map(|e| e.dir.clone()));
    for path in doomed {
        remove(&path)?;
    }
    let snapshots = SnapshotStore::new(cache.root());
    let snapshots = if all_snapshots {
        snapshots.remove_all()
    } else {
        let keys: Vec<String> = kept.iter().map(|e| e.meta.key.clone()).collect();
        snapshots.prune(&keys)
    };
    Ok(Cleaned {
        damaged: scan.damaged,
        leftovers: scan.leftovers,
        old,
        snapshots,
    })
}

fn remove(path: &Path) -> Result<(), CleanError> {
    let result = match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    };
    result.map_err(|source| CleanError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// (path, file name) of each child of `dir`; nothing when it is missing.
fn children(dir: &Path) -> Result<Vec<(PathBuf, String)>, CleanError> {
    match fs::read_dir(dir) {
        Ok(rd) => Ok(rd
            .filter_map(Result::ok)
            .map(|e| (e.path(), e.file_name().to_string_lossy().into_owned()))
            .collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(source) => Err(CleanError::Io {
            path: dir.to_path_buf(),
            source,
        }),
    }
}

#[cfg(test)]
#[path = "clean_tests.rs"]
mod tests;
