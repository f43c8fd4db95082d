use std::time::Duration;

use super::*;
use crate::kernel::test_support::fake_entry;
use crate::snapshot::SnapshotStore;

fn names(paths: impl IntoIterator<Item = PathBuf>) -> Vec<String> {
    let mut v: Vec<String> = paths
        .into_iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// A cache with two good entries, every kind of damage and every kind of
/// leftover an interrupted process can leave.
fn damaged_cache() -> (tempfile::TempDir, CacheDir) {
    let d = tempfile::tempdir().unwrap();
    let cache = CacheDir::at(d.path());
    let store = Store::new(&cache);
    fake_entry(&store, "good-old", 1);
    fake_entry(&store, "good-new", 2);
    let cut = fake_entry(&store, "cut", 3);
    fs::write(cut.image(), b"im").unwrap();
    let nosched = fake_entry(&store, "nosched", 4);
    fs::remove_file(nosched.schedulers_dir().join("scx_simple")).unwrap();
    let moved = fake_entry(&store, "moved", 5);
    fs::rename(&moved.dir, store.root().join("renamed")).unwrap();
    fs::create_dir_all(store.root().join("nometa")).unwrap();
    fs::create_dir_all(store.root().join("badmeta")).unwrap();
    fs::write(store.root().join("badmeta/meta.json"), b"{").unwrap();
    for dir in [
        store.root().join(".tmp-killed"),
        cache.sources().join(".extract-killed"),
        cache.sources().join(".export-killed"),
        cache.sources().join("585a4a074597aefa"),
    ] {
        fs::create_dir_all(dir).unwrap();
    }
    let dl = cache.root().join("downloads/v6.x");
    fs::create_dir_all(&dl).unwrap();
    fs::write(dl.join(".linux-6.12.1.tar.xz.part"), b"half").unwrap();
    fs::write(dl.join("linux-6.12.2.tar.xz"), b"whole").unwrap();
    (d, cache)
}

#[test]
fn scan_flags_every_damage_and_leftover() {
    let (_d, cache) = damaged_cache();
    let s = scan(&cache).unwrap();
    let good: Vec<&str> = s.entries.iter().map(|e| e.meta.key.as_str()).collect();
    assert_eq!(good, ["good-new", "good-old"]);
    let mut damaged: Vec<(String, String)> = s
        .damaged
        .iter()
        .map(|d| (names([d.dir.clone()]).remove(0), d.reason.clone()))
        .collect();
    damaged.sort();
    let want = [
        ("badmeta", "bad meta.json"),
        ("cut", "bzImage is 2 bytes but meta.json says 5"),
        ("nometa", "no meta.json"),
        ("nosched", "sched_ext/scx_simple is missing"),
        ("renamed", "meta.json names key moved"),
    ];
    assert_eq!(damaged.len(), want.len(), "{damaged:?}");
    for ((name, reason), (want_name, want_reason)) in damaged.iter().zip(want) {
        assert_eq!(name, want_name);
        assert!(reason.contains(want_reason), "{name}: {reason}");
    }
    assert_eq!(
        names(s.leftovers),
        [
            ".export-killed",
            ".extract-killed",
            ".linux-6.12.1.tar.xz.part",
            ".tmp-killed"
        ]
    );
}

#[test]
fn clean_removes_damage_and_leftovers_and_keeps_the_rest() {
    let (_d, cache) = damaged_cache();
    let done = clean(&cache, None, false).unwrap();
    assert_eq!(done.damaged.len(), 5);
    assert_eq!(done.leftovers.len(), 4);
    assert!(done.old.is_empty());
    let after = scan(&cache).unwrap();
    assert!(
        after.damaged.is_empty() && after.leftovers.is_empty(),
        "{after:?}"
    );
    assert_eq!(after.entries.len(), 2);
    assert!(cache
        .root()
        .join("downloads/v6.x/linux-6.12.2.tar.xz")
        .is_file());
    assert!(cache.sources().join("585a4a074597aefa").is_dir());
}

#[test]
fn keep_n_removes_all_but_the_newest() {
    let (_d, cache) = damaged_cache();
    let done = clean(&cache, Some(1), false).unwrap();
    let old: Vec<&str> = done.old.iter().map(|e| e.meta.key.as_str()).collect();
    assert_eq!(old, ["good-old"]);
    let left: Vec<String> = scan(&cache)
        .unwrap()
        .entries
        .into_iter()
        .map(|e| e.meta.key)
        .collect();
    assert_eq!(left, ["good-new"]);
}

/// A whole snapshot of the kernel cached under `kernel_key`.
fn snapshot_of(cache: &CacheDir, key: &str, kernel_key: &str, vcpus: u32) {
    let store = SnapshotStore::new(cache.root());
    let saving = store.begin(key).unwrap().unwrap();
    std::fs::write(saving.state_path(), vec![0u8; 4096]).unwrap();
    let meta = crate::snapshot::Meta {
        format: crate::snapshot::FORMAT.into(),
        key: key.into(),
        kernel_key: Some(kernel_key.into()),
        kernel_image: "/nonexistent/bzImage".into(),
        vcpus,
        memory_mib: 1024,
        accel: "tcg".into(),
        qemu_version: "QEMU emulator version 7.2".into(),
        bytes: 0,
        save_ms: 1,
        created: 0,
    };
    store.commit(saving, meta).unwrap();
}

#[test]
fn snapshots_are_listed_with_their_kernel_and_go_with_it() {
    let (_d, cache) = damaged_cache();
    snapshot_of(&cache, "snap-old", "good-old", 2);
    snapshot_of(&cache, "snap-new-2", "good-new", 2);
    snapshot_of(&cache, "snap-new-8", "good-new", 8);
    let s = scan(&cache).unwrap();
    let table = crate::kernel::listing::table(&s);
    assert!(table.contains("2 (2,8 vCPUs)"), "{table}");
    assert!(table.contains("snapshots: 3"), "{table}");
    let json = crate::kernel::listing::json(&s);
    let new = json
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["key"] == "good-new")
        .unwrap();
    assert_eq!(new["snapshots"].as_array().unwrap().len(), 2);

    let done = clean(&cache, Some(1), false).unwrap();
    assert_eq!(
        done.snapshots, 1,
        "the removed kernel's snapshot goes with it"
    );
    let store = SnapshotStore::new(cache.root());
    assert!(store.get("snap-old").is_none() && store.get("snap-new-8").is_some());
    assert_eq!(clean(&cache, None, true).unwrap().snapshots, 2);
    assert!(store.list().is_empty());
}

#[test]
fn clean_waits_for_a_running_build() {
    let (_d, cache) = damaged_cache();
    let build = Store::new(&cache).in_use().unwrap();
    let c = cache.clone();
    let cleaner = std::thread::spawn(move || clean(&c, None, false).unwrap());
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !cleaner.is_finished(),
        "clean must wait while a build holds the cache"
    );
    assert!(
        cache.sources().join(".extract-killed").is_dir(),
        "nothing removed while the build runs"
    );
    drop(build);
    assert_eq!(cleaner.join().unwrap().leftovers.len(), 4);
}
