use super::*;
use crate::kernel::test_support::fake_entry;

fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(&CacheDir::at(dir.path()));
    (dir, store)
}

#[test]
fn empty_or_missing_cache_lists_nothing() {
    let (_d, store) = temp_store();
    assert!(store.list().unwrap().is_empty());
    assert!(store.get("abc").unwrap().is_none());
}

#[test]
fn commit_makes_a_complete_entry_and_removes_staging() {
    let (_d, store) = temp_store();
    let e = fake_entry(&store, "aaaa", 10);
    assert_eq!(e.dir, store.root().join("aaaa"));
    let got = store.get("aaaa").unwrap().expect("committed entry");
    assert_eq!(got.meta, e.meta);
    assert!(got.image().is_file() && got.schedulers_dir().is_dir());
    let leftovers: Vec<_> = fs::read_dir(store.root())
        .unwrap()
        .filter_map(Result::ok)
        .map(|d| d.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".tmp-") || n.starts_with(".old-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn unfinished_builds_are_not_entries() {
    let (_d, store) = temp_store();
    fake_entry(&store, "done", 1);
    // A staging dir dropped without commit (a failed build) vanishes.
    let staging = store.stage().unwrap();
    fs::write(staging.path().join("bzImage"), b"half").unwrap();
    let staged = staging.path().to_path_buf();
    drop(staging);
    assert!(!staged.exists());
    // A killed build's staging dir, or a dir without meta.json, is ignored.
    fs::create_dir_all(store.root().join(".tmp-killed")).unwrap();
    fs::write(store.root().join(".tmp-killed/meta.json"), b"{}").unwrap();
    fs::create_dir_all(store.root().join("nometa")).unwrap();
    let keys: Vec<String> = store
        .list()
        .unwrap()
        .into_iter()
        .map(|e| e.meta.key)
        .collect();
    assert_eq!(keys, ["done"]);
}

#[test]
fn list_is_newest_first_and_skips_broken_meta() {
    let (_d, store) = temp_store();
    fake_entry(&store, "old", 100);
    fake_entry(&store, "new", 300);
    fake_entry(&store, "mid", 200);
    fs::create_dir_all(store.root().join("broken")).unwrap();
    fs::write(store.root().join("broken/meta.json"), b"not json").unwrap();
    let keys: Vec<String> = store
        .list()
        .unwrap()
        .into_iter()
        .map(|e| e.meta.key)
        .collect();
    assert_eq!(keys, ["new", "mid", "old"]);
    // A damaged entry is not found (so it is rebuilt), and loading it says why.
    assert!(store.get("broken").unwrap().is_none());
    assert!(matches!(
        Entry::load(&store.root().join("broken")),
        Err(StoreError::Meta { .. })
    ));
}

#[test]
fn commit_replaces_an_entry_of_the_same_key() {
    let (_d, store) = temp_store();
    fake_entry(&store, "k", 1);
    fake_entry(&store, "k", 2);
    let all = store.list().unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].meta.built_at, 2);
}
