//! Content-addressed cache of built base archives, and the concatenation
//! that appends a per-run archive to one.
//!
//! Linux unpacks every archive of a concatenated initrd in turn (later
//! entries replace earlier ones), so the guest init, scheduler, libraries
//! and included files are written once, under a key that hashes their
//! paths, modes and contents ([`Initramfs::digest`]); a run only gzips its
//! few-hundred-byte config and appends it. Files are written to a
//! temporary name and renamed, so a reader never sees half an archive.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use nix::fcntl::{Flock, FlockArg};

use crate::archive::{ArchiveError, Format, Initramfs};

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("initramfs cache {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Archive(#[from] ArchiveError),
}

/// A base archive in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedArchive {
    pub path: PathBuf,
    /// True when an earlier run had already written it.
    pub reused: bool,
}

/// A directory of base archives named by their content digest.
#[derive(Debug, Clone)]
pub struct BaseCache {
    dir: PathBuf,
    format: Format,
}

impl BaseCache {
    /// A cache of gzip'd archives in `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> BaseCache {
        BaseCache::with_format(dir, Format::Gzip)
    }

    /// A cache whose archives are stored in `format` (see [`Format`]).
    pub fn with_format(dir: impl Into<PathBuf>, format: Format) -> BaseCache {
        BaseCache {
            dir: dir.into(),
            format,
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the archive with this digest lives.
    pub fn path_for(&self, digest: &[u8; 32]) -> PathBuf {
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        let ext = self.format.extension();
        self.dir.join(format!("base-{hex}.{ext}"))
    }

    /// The cached archive of `image`, written first if absent.
    pub fn get_or_write(&self, image: &Initramfs) -> Result<CachedArchive, CacheError> {
        let format = self.format;
        self.get_or_build(&image.digest(), |out| image.write(out, format).map(drop))
    }

    /// The archive stored under `key`, built by `build` if absent. `build`
    /// must write the same bytes for the same key.
    pub fn get_or_build(
        &self,
        key: &[u8; 32],
        build: impl FnOnce(&mut dyn Write) -> Result<(), ArchiveError>,
    ) -> Result<CachedArchive, CacheError> {
        let path = self.path_for(key);
        if path.metadata().is_ok_and(|m| m.is_file() && m.len() > 0) {
            // Mark it recently used for `prune`; a read-only cache still works.
            let _ = File::options()
                .write(true)
                .open(&path)
                .and_then(|f| f.set_modified(SystemTime::now()));
            return Ok(CachedArchive { path, reused: true });
        }
        std::fs::create_dir_all(&self.dir).map_err(|source| CacheError::Io {
            path: self.dir.clone(),
            source,
        })?;
        // One writer per archive: a second process waits for the first one
        // and then reuses its archive instead of writing it again.
        let _lock = lock(&path)?;
        if path.metadata().is_ok_and(|m| m.is_file() && m.len() > 0) {
            return Ok(CachedArchive { path, reused: true });
        }
        write_atomic(&path, true, |out| build(out))?;
        Ok(CachedArchive {
            path,
            reused: false,
        })
    }
}

impl BaseCache {
    /// Deletes all but the `keep` most recently used base archives (a reuse
    /// refreshes the file's mtime), so rebuilt schedulers do not fill the
    /// disk. Returns how many were deleted. A missing directory is empty.
    pub fn prune(&self, keep: usize) -> Result<usize, CacheError> {
        let io_err = |source| CacheError::Io {
            path: self.dir.clone(),
            source,
        };
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(io_err(e)),
        };
        let mut archives = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io_err)?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let archive = [Format::Cpio, Format::Gzip]
                .iter()
                .any(|f| name.ends_with(&format!(".{}", f.extension())));
            if name.starts_with("base-") && archive {
                let used = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .map_err(io_err)?;
                archives.push((used, entry.path()));
            }
        }
        // Newest first; the path breaks ties so the choice is stable.
        archives.sort_by(|a, b| b.cmp(a));
        let mut deleted = 0;
        for (_, path) in archives.iter().skip(keep) {
            std::fs::remove_file(path).map_err(|source| CacheError::Io {
                path: path.clone(),
                source,
            })?;
            deleted += 1;
        }
        Ok(deleted)
    }
}

/// Writes `out` = the bytes of `base` (either format) followed by `extra`
/// gzip'd: one initrd that the kernel unpacks as both.
pub fn concat(base: &Path, extra: &Initramfs, out: &Path) -> Result<(), CacheError> {
    let mut src = File::open(base).map_err(|source| CacheError::Io {
        path: base.to_owned(),
        source,
    })?;
    write_atomic(out, false, |w| {
        io::copy(&mut src, w).map_err(ArchiveError::Write)?;
        extra.write_gz(w).map(drop)
    })
}

/// Takes the flock beside `archive` (`.NAME.lock`), saying so on stderr
/// when another process holds it. The kernel releases it when its holder
/// dies, so a killed writer never blocks the next run.
fn lock(archive: &Path) -> Result<Flock<File>, CacheError> {
    let name = archive.file_name().unwrap_or_default().to_string_lossy();
    let path = archive.with_file_name(format!(".{name}.lock"));
    let io_err = |source: io::Error| CacheError::Io {
        path: path.clone(),
        source,
    };
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_err)?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(held) => Ok(held),
        Err((file, _)) => {
            eprintln!(
                "waiting for another ktstr-vm that is writing the initramfs base {name} (lock {})",
                path.display()
            );
            Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, e)| io_err(e.into()))
        }
    }
}

/// Writes `path` through a temporary file in the same directory and a
/// rename. `sync`: flush to disk first (for files reused across runs).
fn write_atomic(
    path: &Path,
    sync: bool,
    write: impl FnOnce(&mut dyn Write) -> Result<(), ArchiveError>,
) -> Result<(), CacheError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let io_err = |path: &Path| {
        let path = path.to_owned();
        move |source| CacheError::Io { path, source }
    };
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = path.with_file_name(format!(".{name}.{}.{n}.tmp", std::process::id()));
    let result = (|| {
        let file = File::create_new(&tmp).map_err(io_err(&tmp))?;
        let mut w = BufWriter::with_capacity(1 << 16, file);
        write(&mut w)?;
        let file = w.into_inner().map_err(|e| io_err(&tmp)(e.into_error()))?;
        if sync {
            file.sync_all().map_err(io_err(&tmp))?;
        }
        std::fs::rename(&tmp, path).map_err(io_err(path))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
