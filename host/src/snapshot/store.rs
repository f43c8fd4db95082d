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
/// The console up to the save: a restored run's console.log starts with
/// it, so its artifacts show the boot as a cold run's do.
pub const BOOT_CONSOLE: &str = "console.log";
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

/// Most snapshots kept: each is tens of MB (a 1 GiB guest saves ~55 MB),
/// and a bisect or a matrix over many kernels makes one per kernel and
/// topology. Beyond this the least recently used go.
pub const MAX_SNAPSHOTS: usize = 24;

/// What [`SnapshotStore::lookup`] found.
#[derive(Debug)]
pub enum Lookup {
    Whole(Snapshot),
    Missing,
    /// An entry that must not be restored, and why.
    Damaged(String),
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

    /// Where the boot's console goes.
    pub fn boot_console_path(&self) -> PathBuf {
        self.staging.path().join(BOOT_CONSOLE)
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
        match self.lookup(key) {
            Lookup::Whole(s) => Some(s),
            Lookup::Missing | Lookup::Damaged(_) => None,
        }
    }

    /// Whether `key` has a whole snapshot, none, or a damaged one (and why).
    pub fn lookup(&self, key: &str) -> Lookup {
        let dir = self.root.join(key);
        if !dir.exists() {
            return Lookup::Missing;
        }
        let meta: Meta = match std::fs::read(dir.join(META)) {
            Ok(bytes) => match serde_json::from_slice(&bytes) {
                Ok(m) => m,
                Err(e) => return Lookup::Damaged(format!("its {META} does not parse: {e}")),
            },
            Err(e) => return Lookup::Damaged(format!("reading its {META}: {e}")),
        };
        let size = match std::fs::metadata(dir.join(STATE)) {
            Ok(m) => m.len(),
            Err(e) => return Lookup::Damaged(format!("its {STATE} file: {e}")),
        };
        if meta.key != key || meta.format != super::FORMAT {
            return Lookup::Damaged(format!(
                "its {META} is for key {} in format {}",
                meta.key, meta.format
            ));
        }
        if meta.bytes != size {
            return Lookup::Damaged(format!(
                "its {STATE} file has {size} bytes, {} were saved",
                meta.bytes
            ));
        }
        Lookup::Whole(Snapshot { dir, meta })
    }

    /// Marks `snap` as used now: [`SnapshotStore::commit`] drops the least
    /// recently used beyond [`MAX_SNAPSHOTS`].
    pub fn touch(&self, snap: &Snapshot) {
        let _ = File::open(snap.dir.join(META)).and_then(|f| f.set_modified(SystemTime::now()));
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
        match self.lookup(key) {
            Lookup::Whole(_) => return Ok(None),
            // Under the lock nobody restores from a damaged entry any more
            // (a restore that found it damaged is why we are here).
            Lookup::Damaged(_) => self.remove(key)?,
            Lookup::Missing => {}
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
        self.drop_least_recently_used(MAX_SNAPSHOTS);
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
        out.sort_by_key(|s| std::cmp::Reverse(s.meta.created));
        out
    }

    /// Removes the snapshot `key` (a damaged one, or its kernel's gone).
    pub fn remove(&self, key: &str) -> std::io::Result<()> {
        match std::fs::remove_dir_all(self.root.join(key)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Removes every snapshot but the `keep` most recently used (a save
    /// in progress or a restore holding the key's lock is left alone).
    fn drop_least_recently_used(&self, keep: usize) -> usize {
        let used = |s: &Snapshot| {
            std::fs::metadata(s.dir.join(META))
                .and_then(|m| m.modified())
                .unwrap_or(UNIX_EPOCH)
        };
        let mut all = self.list();
        all.sort_by_key(|s| std::cmp::Reverse(used(s)));
        all.iter()
            .skip(keep)
            .filter(|s| self.unlocked(&s.meta.key) && self.remove(&s.meta.key).is_ok())
            .count()
    }

    /// Removes every snapshot (`kernel clean --snapshots`); returns how many.
    pub fn remove_all(&self) -> usize {
        self.prune_with(&|_| true)
    }

    /// Removes the snapshots of kernels not in `kernel_keys`, and staging
    /// directories no save holds (a killed save); returns how many.
    pub fn prune(&self, kernel_keys: &[String]) -> usize {
        self.prune_with(&|m: &Meta| match &m.kernel_key {
            Some(k) => !kernel_keys.contains(k),
            // A kernel from outside the cache: orphaned once its image is
            // gone (a rebuilt image has another key, so its old snapshot
            // is only dropped by the LRU bound or `--snapshots`).
            None => !m.kernel_image.exists(),
        })
    }

    /// Removes damaged entries, dead staging directories and the whole
    /// snapshots `orphan` picks; returns how many.
    fn prune_with(&self, orphan: &dyn Fn(&Meta) -> bool) -> usize {
        let mut removed = 0;
        for e in std::fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(rest) = name.strip_prefix('.') {
                if let Some((key, _)) = rest.split_once(".saving-") {
                    if self.unlocked(key) {
                        removed += usize::from(std::fs::remove_dir_all(e.path()).is_ok());
                    }
                }
                continue;
            }
            let doomed = match self.lookup(&name) {
                Lookup::Whole(s) => orphan(&s.meta),
                Lookup::Missing | Lookup::Damaged(_) => true,
            };
            if doomed && self.unlocked(&name) {
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
    fn a_damaged_entry_says_why_and_a_new_save_replaces_it() {
        let cache = tempfile::tempdir().unwrap();
        let store = SnapshotStore::new(cache.path());
        assert!(matches!(store.lookup("k1"), Lookup::Missing));
        let snap = save(&store, "k1", "kern");
        std::fs::write(snap.state(), b"short").unwrap();
        match store.lookup("k1") {
            Lookup::Damaged(why) => assert!(why.contains("5 bytes, 1000 were saved"), "{why}"),
            other => panic!("{other:?}"),
        }
        std::fs::write(snap.dir.join(META), b"{").unwrap();
        assert!(matches!(store.lookup("k1"), Lookup::Damaged(w) if w.contains("does not parse")));
        // The next save removes it (before, a rename onto it failed forever).
        let again = save(&store, "k1", "kern");
        assert_eq!(again.meta.bytes, 1000);
        assert!(store.get("k1").is_some());
    }

    #[test]
    fn the_least_recently_used_go_beyond_the_bound() {
        let cache = tempfile::tempdir().unwrap();
        let store = SnapshotStore::new(cache.path());
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        for i in 0..MAX_SNAPSHOTS {
            let s = save(&store, &format!("k{i}"), "kern");
            let f = File::open(s.dir.join(META)).unwrap();
            f.set_modified(old + std::time::Duration::from_secs(i as u64))
                .unwrap();
        }
        // k0 is the oldest, but used just now: k1 goes instead.
        store.touch(&store.get("k0").unwrap());
        save(&store, "new", "kern");
        assert_eq!(store.list().len(), MAX_SNAPSHOTS);
        assert!(store.get("k0").is_some() && store.get("new").is_some());
        assert!(store.get("k1").is_none());
        assert_eq!(store.remove_all(), MAX_SNAPSHOTS);
        assert!(store.list().is_empty());
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
