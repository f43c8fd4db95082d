//! The content-addressed kernel cache: `<cache>/kernels/<key>/`.
//!
//! An entry holds `bzImage`, `config` (the final `.config`), `vmlinux`
//! (DWARF stripped: symbols and BTF stay, for symbolizing and BPF tooling;
//! file:line needs the build tree), `sched_ext/` with the example
//! schedulers, `build.log`, and `meta.json`. It is filled in a `.tmp-*`
//! directory and renamed into place with `meta.json` already written, so a
//! killed build never leaves a half entry: a directory without `meta.json`
//! or starting with `.` is not an entry.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::lock::{self, Lock, LockError, Mode};
use crate::cache_dir::CacheDir;

/// Version of the `meta.json` layout (2: `variant`, `fragments_sha256`).
pub const META_FORMAT: u32 = 2;
pub const META_FILE: &str = "meta.json";
pub const IMAGE_FILE: &str = "bzImage";
pub const CONFIG_FILE: &str = "config";
pub const VMLINUX_FILE: &str = "vmlinux";
pub const SCHED_DIR: &str = "sched_ext";
pub const LOG_FILE: &str = "build.log";

/// Staging directories older than this belong to a killed build.
const STALE_STAGING: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: bad meta.json: {source}")]
    Meta {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("damaged kernel cache entry {}: {reason} (`ktstr-vm kernel clean` removes it)", dir.display())]
    Damaged { dir: PathBuf, reason: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What `meta.json` records about one built kernel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    pub format: u32,
    pub key: String,
    /// `uname -r` of the built kernel.
    pub version: String,
    /// Human description of the source (kind and path).
    pub source: String,
    /// The identity that went into the key.
    pub source_identity: String,
    pub fragments: Vec<String>,
    /// The variant (`default`, `debug`); entries from before variants were default.
    #[serde(default = "default_variant")]
    pub variant: String,
    /// [`super::key::fragments_digest`] of the fragments; empty in old entries.
    #[serde(default)]
    pub fragments_sha256: String,
    /// sha256 of the final `.config`.
    pub config_sha256: String,
    /// Scheduler binaries in `sched_ext/`.
    pub schedulers: Vec<String>,
    pub image_size: u64,
    /// Seconds since the Unix epoch.
    pub built_at: u64,
    pub build_seconds: f64,
    pub builder: String,
}

fn default_variant() -> String {
    super::variant::DEFAULT.to_string()
}

/// One complete cache entry.
#[derive(Debug, Clone)]
pub struct Entry {
    pub dir: PathBuf,
    pub meta: Meta,
}

impl Entry {
    pub fn image(&self) -> PathBuf {
        self.dir.join(IMAGE_FILE)
    }
    pub fn config(&self) -> PathBuf {
        self.dir.join(CONFIG_FILE)
    }
    pub fn vmlinux(&self) -> PathBuf {
        self.dir.join(VMLINUX_FILE)
    }
    pub fn schedulers_dir(&self) -> PathBuf {
        self.dir.join(SCHED_DIR)
    }

    /// Reads the entry in `dir`; `Ok(None)` when `dir` is not an entry at
    /// all (no `meta.json`), an error when it is a damaged one.
    pub fn load(dir: &Path) -> Result<Option<Entry>, StoreError> {
        let meta_path = dir.join(META_FILE);
        let bytes = match fs::read(&meta_path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(StoreError::Io {
                    path: meta_path,
                    source: e,
                })
            }
        };
        let meta = serde_json::from_slice(&bytes).map_err(|source| StoreError::Meta {
            path: meta_path,
            source,
        })?;
        let entry = Entry {
            dir: dir.to_path_buf(),
            meta,
        };
        match entry.damage() {
            None => Ok(Some(entry)),
            Some(reason) => Err(StoreError::Damaged {
                dir: dir.to_path_buf(),
                reason,
            }),
        }
    }

    /// What is wrong with the files of an entry whose `meta.json` reads
    /// (a file deleted or cut short by hand, a full disk, a bad copy), or
    /// `None`. A few `stat`s: cheap enough for every lookup.
    pub fn damage(&self) -> Option<String> {
        let image_len = fs::metadata(self.image()).map(|m| m.len());
        match image_len {
            Err(_) => return Some(format!("{IMAGE_FILE} is missing")),
            Ok(len) if len != self.meta.image_size => {
                return Some(format!(
                    "{IMAGE_FILE} is {len} bytes but meta.json says {}",
                    self.meta.image_size
                ))
            }
            Ok(_) => {}
        }
        let files = [CONFIG_FILE, VMLINUX_FILE].map(|f| (f.to_string(), self.dir.join(f)));
        let scheds = self
            .meta
            .schedulers
            .iter()
            .map(|s| (format!("{SCHED_DIR}/{s}"), self.schedulers_dir().join(s)));
        files
            .into_iter()
            .chain(scheds)
            .find(|(_, p)| !p.is_file())
            .map(|(name, _)| format!("{name} is missing"))
    }
}

/// The kernels directory of a cache.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    pub fn new(cache: &CacheDir) -> Store {
        Store {
            root: cache.kernels(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The entry for `key`, if complete and undamaged. A damaged entry is
    /// not an error here: the caller builds it again and the commit
    /// replaces it.
    pub fn get(&self, key: &str) -> Result<Option<Entry>, StoreError> {
        match Entry::load(&self.root.join(key)) {
            Err(StoreError::Damaged { .. } | StoreError::Meta { .. }) => Ok(None),
            other => other,
        }
    }

    /// Every complete entry, newest build first. Damaged entries are
    /// skipped (one broken entry must not hide the others); [`super::clean`]
    /// lists and removes them.
    pub fn list(&self) -> Result<Vec<Entry>, StoreError> {
        let rd = match fs::read_dir(&self.root) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(StoreError::Io {
                    path: self.root.clone(),
                    source: e,
                })
            }
        };
        let mut entries: Vec<Entry> = rd
            .filter_map(Result::ok)
            .filter(|d| !d.file_name().to_string_lossy().starts_with('.'))
            .filter_map(|d| Entry::load(&d.path()).ok().flatten())
            .filter(|e| e.dir.file_name().is_some_and(|n| *n == *e.meta.key))
            .collect();
        entries.sort_by(|a, b| {
            b.meta
                .built_at
                .cmp(&a.meta.built_at)
                .then(a.meta.key.cmp(&b.meta.key))
        });
        Ok(entries)
    }

    /// Where build logs live while a build runs (kept after a failure).
    pub fn log_path(&self, key: &str) -> PathBuf {
        self.root.join(".logs").join(format!("{key}.log"))
    }

    /// Where per-tree build locks live.
    pub fn locks_dir(&self) -> PathBuf {
        self.root.join(".locks")
    }

    /// A shared hold on the cache for one build or download: `kernel clean`
    /// takes the same lock exclusively, so it never removes a staging
    /// directory, a partial download or a source tree that is in use.
    pub fn in_use(&self) -> Result<Lock, LockError> {
        lock::acquire(
            &self.cache_lock(),
            Mode::Shared,
            "cleaning the kernel cache",
            &|m| eprintln!("{m}"),
        )
    }

    /// The exclusive hold `kernel clean` takes (waits for running builds).
    pub fn exclusive(&self) -> Result<Lock, LockError> {
        lock::acquire(
            &self.cache_lock(),
            Mode::Exclusive,
            "building or downloading a kernel",
            &|m| eprintln!("{m}"),
        )
    }

    fn cache_lock(&self) -> PathBuf {
        self.locks_dir().join("cache.lock")
    }

    /// A fresh staging directory to fill; removed on drop unless committed.
    pub fn stage(&self) -> Result<tempfile::TempDir, StoreError> {
        fs::create_dir_all(&self.root).map_err(io(&self.root))?;
        self.remove_stale_staging();
        tempfile::Builder::new()
            .prefix(".tmp-")
            .tempdir_in(&self.root)
            .map_err(io(&self.root))
    }

    /// Writes `meta.json` into `staging` and renames it to `<key>/`,
    /// replacing an older entry of the same key (a `--force` rebuild).
    pub fn commit(&self, staging: tempfile::TempDir, meta: Meta) -> Result<Entry, StoreError> {
        let meta_path = staging.path().join(META_FILE);
        let json = serde_json::to_vec_pretty(&meta).expect("Meta serializes");
        fs::write(&meta_path, json).map_err(io(&meta_path))?;
        let dest = self.root.join(&meta.key);
        let staged = staging.keep();
        let old = self
            .root
            .join(format!(".old-{}-{}", meta.key, std::process::id()));
        let had_old = dest.exists();
        if had_old {
            fs::rename(&dest, &old).map_err(io(&dest))?;
        }
        fs::rename(&staged, &dest).map_err(io(&dest))?;
        if had_old {
            let _ = fs::remove_dir_all(&old);
        }
        Ok(Entry { dir: dest, meta })
    }

    /// Removes `.tmp-*` and `.old-*` directories left by killed builds.
    fn remove_stale_staging(&self) {
        let Ok(rd) = fs::read_dir(&self.root) else {
            return;
        };
        for d in rd.filter_map(Result::ok) {
            let name = d.file_name().to_string_lossy().into_owned();
            if !(name.starts_with(".tmp-") || name.starts_with(".old-")) {
                continue;
            }
            let age = d
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| SystemTime::now().duration_since(t).ok());
            if age.is_some_and(|a| a > STALE_STAGING) {
                let _ = fs::remove_dir_all(d.path());
            }
        }
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
