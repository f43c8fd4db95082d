//! Snapshots in the cache: `<cache>/snapshots/<key>/{state,meta.json}`.
//!
//! An entry appears only whole: it is saved into a staging directory and
//! renamed into place with its `meta.json`, under a per-key lock, so two
//! runs never save the same snapshot twice and a save killed half-way
//! leaves nothing a later run would trust (the staging directory is swept
//! like any scratch directory). Restores only read, so any number run at
//! once; removing an entry while one restores is safe (the open file lives
//! on).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

/// The saved VM state inside an entry.
pub const STATE: &str = "state";
const META: &str = "meta.json";

/// What `meta.json` records about a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    pub format: String,
    pub key: String,
    /// The kernel's cache key, when it came from the cache (removing the
    /// kernel removes its snapshots).
    pub kernel_key: Option<String>,
    pub kernel_image: PathBuf,
    pub vcpus: u32,
    pub memory_mib: u64,
    pub accel: String,
    pub qemu_version: String,
    /// Bytes of the state file.
    pub bytes: u64,
    /// Milliseconds the save took (stop, write, finish).
    pub save_ms: u64,
    /// Seconds since the epoch.
    pub created: u64,
}

/// A snapshot ready to restore.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub dir: PathBuf,
    pub meta: Meta,
}

impl Snapshot {
    pub fn state(&self) -> PathBuf {
        self.dir.join(STATE)
    }
}

/// The snapshots of one cache.
#[derive(Debug, Clone)]
pub struct SnapshotStore {
    root: PathBuf,
}

/// A save in progress: it holds the key's lock and a staging directory.
#[derive(Debug)]
pub struct Saving {
    key: String,
    staging: tempfile::TempDir,
    _lock: Flock<File>,
}

impl Saving {
    /// Where QEMU writes the state.
    pub fn state_path(&self) -> PathBuf {
        self.staging.path().join(STATE)
    }
}

impl SnapshotStore {
    pub fn new(cache_root: &Path) -> SnapshotStore {
        SnapshotStore {
            root: cache_root.join("snapshots"),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The snapshot for `key`, if a whole one exists (its state file has
    /// the size its meta recorded).
    pub fn get(&self, key: &str) -> Option<Snapshot> {
        let dir = self.root.join(key);
        let meta: Meta = serde_json::from_slice(&std::fs::read(dir.join(META)).ok()?).ok()?;
        let size = std::fs::metadata(dir.join(STATE)).ok()?.len();
        (meta.key == key && meta.bytes == size).then_some(Snapshot { dir, meta })
    }

    /// Starts saving `key`, unless it exists or another process is saving
    /// it right now (that run will have it; this one need not wait).
    pub fn begin(&self, key: &str) -> std::io::Result<Option<Saving>> {
        crate::scratch::private_dir_all(&self.root)?;
        let lock_file = File::create(self.root.join(format!(".{key}.lock")))?;
        let lock = match Flock::lock(lock_file, FlockArg::LockExclusiveNonblock) {
            Ok(l) => l,
            Err(_) => return Ok(None),
        };
        if self.get(key).is_some() {
            return Ok(None);
        }
        let staging = tempfile::Builder::new()
            .prefix(&format!(".{key}.saving-"))
            .tempdir_in(&self.root)?;
        Ok(Some(Saving {
            key: key.to_string(),
            staging,
            _lock: lock,
        }))
    }

    /// Publishes a finished save with its meta (its `bytes` are measured
    /// here from the state file).
    pub fn commit(&self, saving: Saving, mut meta: Meta) -> std::io::Result<Snapshot> {
        meta.bytes = std::fs::metadata(saving.state_path())?.len();
        meta.key = saving.key.clone();
        meta.created = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        std::fs::write(
            saving.staging.path().join(META),
            serde_json::to_vec_pretty(&meta).expect("meta serializes"),
        )?;
        let dir = self.root.join(&saving.key);
        let staged = saving.staging.keep();
        std::fs::rename(&staged, &dir).inspect_err(|_| {
            let _ = std::fs::remove_dir_all(&staged);
        })?;
        Ok(Snapshot { dir, meta })
    }

    /// Every whole snapshot, newest first.
    pub fn list(&self) -> Vec<Snapshot> {
        let mut out: Vec<Snapshot> = std::fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                (!name.starts_with('.')).then(|| self.get(&name)).flatten()
            })
            .collect();
        out.sort_by(|a, b| b.meta.created.cmp(&a.meta.created));
        out
    }

    /// Removes the snapshot `key` (a damaged one, or its kernel's gone).
    pub fn remove(&self, key: &str) -> std::io::Result<()> {
        match std::fs::remove_dir_all(self.root.join(key)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Removes the snapshots of kernels not in `kernel_keys`, and staging
    /// directories no save holds (a killed save); returns how many.
    pub fn prune(&self, kernel_keys: &[String]) -> usize {
        let mut removed = 0;
        for e in std::fs::read_dir(&self.root).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(key) = name.strip_prefix('.').and_then(|n| n.split(".saving-").next()) {
                if name.contains(".saving-") && self.unlocked(key) {
                    removed += usize::from(std::fs::remove_dir_all(e.path()).is_ok());
                }
                continue;
            }
            let orphan = match self.get(&name) {
                Some(s) => s
                    .meta
                    .kernel_key
                    .as_ref()
                    .is_some_and(|k| !kernel_keys.contains(k)),
                None => true,
            };
            if orphan && self.unlocked(&name) {
                removed += usize::from(self.remove(&name).is_ok());
            }
        }
        removed
    }

    /// Whether no process holds `key`'s lock.
    fn unlocked(&self, key: &str) -> bool {
        File::create(self.root.join(format!(".{key}.lock")))
            .ok()
            .and_then(|f| Flock::lock(f, FlockArg::LockExclusiveNonblock).ok())
            .is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(kernel_key: &str) -> Meta {
        Meta {
            format: super::super::FORMAT.into(),
            key: String::new(),
            kernel_key: Some(kernel_key.into()),
            kernel_image: "/k".into(),
            vcpus: 2,
            memory_mib: 1024,
            accel: "tcg".into(),
            qemu_version: "7.2".into(),
            bytes: 0,
            save_ms: 300,
            created: 0,
        }
    }

    fn save(store: &SnapshotStore, key: &str, kernel: &str) -> Snapshot {
        let s = store.begin(key).unwrap().expect("not saved yet");
        std::fs::write(s.state_path(), vec![7u8; 1000]).unwrap();
        store.commit(s, meta(kernel)).unwrap()
    }

    #[test]
    fn saved_whole_then_found() {
        let cache = tempfile::tempdir().unwrap();
        let store = SnapshotStore::new(cache.path());
        assert!(store.get("k1").is_none());
        let snap = save(&store, "k1", "kern");
        assert_eq!(snap.meta.bytes, 1000);
        assert_eq!(store.get("k1").unwrap().state(), snap.state());
        // Saved already: no second save.
        assert!(store.begin("k1").unwrap().is_none());
        assert_eq!(store.list().len(), 1);
    }

    #[test]
    fn a_damaged_or_half_written_entry_is_not_trusted() {
        let cache = tempfile::tempdir().unwrap();
        let store = SnapshotStore::new(cache.path());
        let snap = save(&store, "k1", "kern");
        // Truncated state: the size no longer matches the meta.
        std::fs::write(snap.state(), b"short").unwrap();
        assert!(store.get("k1").is_none());
        // A save killed before commit leaves only a staging directory.
        let s = store.begin("k2").unwrap().unwrap();
        std::fs::write(s.state_path(), b"partial").unwrap();
        let staged = s.staging.path().to_path_buf();
        std::mem::forget(s); // as if killed: no cleanup
        assert!(store.get("k2").is_none());
        assert!(staged.exists());
    }

    #[test]
    fn one_saver_per_key_at_a_time() {
        let cache = tempfile::tempdir().unwrap();
        let store = SnapshotStore::new(cache.path());
        let first = store.begin("k1").unwrap().unwrap();
        assert!(store.begin("k1").unwrap().is_none(), "someone is saving it");
        drop(first);
        assert!(store.begin("k1").unwrap().is_some());
    }

    #[test]
    fn prune_removes_orphans_and_dead_staging() {
        let cache = tempfile::tempdir().unwrap();
        let store = SnapshotStore::new(cache.path());
        save(&store, "keep", "kern-a");
        save(&store, "gone", "kern-b");
        // What a save killed half-way leaves: a staging directory whose
        // lock nobody holds any more.
        let staged = store.root().join(".killed.saving-abc");
        std::fs::create_dir_all(&staged).unwrap();
        std::fs::write(staged.join(STATE), b"partial").unwrap();
        // A save in progress is left alone.
        let live = store.begin("live").unwrap().unwrap();
        assert_eq!(store.prune(&["kern-a".to_string()]), 2);
        assert!(live.staging.path().exists());
        assert!(store.get("keep").is_some());
        assert!(store.get("gone").is_none());
        assert!(!staged.exists());
    }
}
