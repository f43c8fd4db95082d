use super::*;
use crate::exit::ExitClass;
use crate::kernel::test_support::{fake_entry, write_exe};

fn cache() -> (tempfile::TempDir, CacheDir) {
    let d = tempfile::tempdir().unwrap();
    let c = CacheDir::at(d.path().join("cache"));
    (d, c)
}

/// A built-looking kernel tree under `root/linux`.
fn fake_built_tree(root: &Path) -> PathBuf {
    let tree = root.join("linux");
    fs::create_dir_all(tree.join("arch/x86/boot")).unwrap();
    fs::create_dir_all(tree.join("tools/sched_ext/build/bin")).unwrap();
    fs::create_dir_all(tree.join("include/config")).unwrap();
    fs::write(tree.join("Makefile"), "VERSION = 6\n").unwrap();
    fs::write(tree.join("arch/x86/boot/bzImage"), b"img").unwrap();
    fs::write(tree.join(".config"), "CONFIG_SCHED_CLASS_EXT=y\n").unwrap();
    fs::write(tree.join("include/config/kernel.release"), "6.12.9\n").unwrap();
    write_exe(&tree.join("tools/sched_ext/build/bin/scx_qmap"));
    tree
}

#[test]
fn nothing_cached_says_how_to_build() {
    let (_d, c) = cache();
    let err = resolve_kernel(None, &c).unwrap_err();
    assert!(matches!(err, ResolveError::NoneCached(_)));
    assert!(err.to_string().contains("ktstr-vm kernel build"), "{err}");
}

#[test]
fn no_argument_means_newest_entry() {
    let (_d, c) = cache();
    let store = Store::new(&c);
    fake_entry(&store, "aaa111", 1);
    fake_entry(&store, "bbb222", 5);
    let k = resolve_kernel(None, &c).unwrap();
    assert_eq!(k.key.as_deref(), Some("bbb222"));
    assert_eq!(k.image, store.root().join("bbb222/bzImage"));
    assert_eq!(k.config, Some(store.root().join("bbb222/config")));
    assert_eq!(k.version.as_deref(), Some("6.12.0-test"));
    assert_eq!(
        find_scheduler(&k, "simple"),
        Some(store.root().join("bbb222/sched_ext/scx_simple"))
    );
}

#[test]
fn key_prefixes_table() {
    let (_d, c) = cache();
    let store = Store::new(&c);
    fake_entry(&store, "abc123", 1);
    fake_entry(&store, "abd456", 2);
    assert_eq!(
        resolve_kernel(Some("abc"), &c).unwrap().key.as_deref(),
        Some("abc123")
    );
    assert_eq!(
        resolve_kernel(Some("ABD4"), &c).unwrap().key.as_deref(),
        Some("abd456")
    );
    assert_eq!(
        resolve_kernel(Some(""), &c).unwrap().key.as_deref(),
        Some("abd456")
    );
    match resolve_kernel(Some("ab"), &c).unwrap_err() {
        ResolveError::AmbiguousKey { matches, .. } => assert_eq!(matches.len(), 2),
        e => panic!("want ambiguous, got {e}"),
    }
    assert!(matches!(
        resolve_kernel(Some("ff"), &c),
        Err(ResolveError::UnknownKey { .. })
    ));
}

#[test]
fn missing_path_is_a_clear_error() {
    let (_d, c) = cache();
    let err = resolve_kernel(Some("/nonexistent/bzImage"), &c).unwrap_err();
    assert!(
        matches!(err, ResolveError::Spec(SpecError::PathMissing(_))),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("/nonexistent/bzImage does not exist"),
        "{err}"
    );
}

#[test]
fn image_in_a_tree_brings_config_and_schedulers() {
    let (d, c) = cache();
    let tree = fake_built_tree(d.path()).canonicalize().unwrap();
    let image = tree.join("arch/x86/boot/bzImage");
    let want = ResolvedKernel {
        image: image.clone(),
        config: Some(tree.join(".config")),
        schedulers_dir: Some(tree.join("tools/sched_ext/build/bin")),
        key: None,
        version: Some("6.12.9".into()),
    };
    assert_eq!(
        resolve_kernel(Some(image.to_str().unwrap()), &c).unwrap(),
        want
    );
    assert_eq!(
        resolve_kernel(Some(tree.to_str().unwrap()), &c).unwrap(),
        want
    );
    let k = resolve_kernel(Some(tree.to_str().unwrap()), &c).unwrap();
    assert_eq!(
        find_scheduler(&k, "scx_qmap"),
        Some(tree.join("tools/sched_ext/build/bin/scx_qmap"))
    );
    assert_eq!(find_scheduler(&k, "simple"), None);
}

#[test]
fn lone_image_has_nothing_else() {
    let (d, c) = cache();
    let image = d.path().join("vmlinuz");
    fs::write(&image, b"img").unwrap();
    let k = resolve_kernel(Some(image.to_str().unwrap()), &c).unwrap();
    assert_eq!((k.config, k.schedulers_dir, k.key), (None, None, None));
    let err = resolve_kernel(Some(d.path().to_str().unwrap()), &c).unwrap_err();
    assert!(matches!(err, ResolveError::NotAKernelDir(_)), "{err}");
}

#[test]
fn image_inside_a_cache_entry_is_that_entry() {
    let (_d, c) = cache();
    let e = fake_entry(&Store::new(&c), "cafe01", 1);
    let k = resolve_kernel(Some(e.image().to_str().unwrap()), &c).unwrap();
    assert_eq!(k.key.as_deref(), Some("cafe01"));
}

#[test]
fn sched_ext_detection_table() {
    let cases = [
        ("CONFIG_SCHED_CLASS_EXT=y\n", true),
        ("CONFIG_A=y\n  CONFIG_SCHED_CLASS_EXT=y  \n", true),
        ("# CONFIG_SCHED_CLASS_EXT is not set\n", false),
        ("CONFIG_SCHED_CLASS_EXT=m\n", false),
        ("CONFIG_SCHED_CLASS_EXTRA=y\n", false),
        ("", false),
    ];
    for (text, want) in cases {
        assert_eq!(has_sched_ext(text), want, "{text:?}");
    }
}

#[test]
fn non_executable_scheduler_is_not_found() {
    let (d, _c) = cache();
    fs::write(d.path().join("scx_simple"), b"x").unwrap();
    let k = ResolvedKernel {
        image: d.path().join("bzImage"),
        config: None,
        schedulers_dir: Some(d.path().to_path_buf()),
        key: None,
        version: None,
    };
    assert_eq!(find_scheduler(&k, "simple"), None);
}

/// A fake entry with a chosen version and variant; `current` = built from
/// this binary's fragments for that variant.
fn versioned(store: &Store, key: &str, version: &str, variant: &str, current: bool, built_at: u64) {
    let e = fake_entry(store, key, built_at);
    let mut meta = e.meta.clone();
    meta.version = version.into();
    meta.variant = variant.into();
    let v: Variant = variant.parse().unwrap();
    meta.fragments_sha256 = if current {
        fragments_digest(&v.fragments())
    } else {
        "stale".into()
    };
    fs::write(e.dir.join("meta.json"), serde_json::to_vec(&meta).unwrap()).unwrap();
}

#[test]
fn versions_resolve_from_the_cache_without_network() {
    let (_d, c) = cache();
    let store = Store::new(&c);
    versioned(&store, "a1", "6.12.117", "default", true, 1);
    versioned(&store, "a2", "6.12.117", "debug", true, 2);
    versioned(&store, "a3", "6.12.9", "default", true, 3);
    versioned(&store, "a4", "6.12.118", "default", false, 4);
    versioned(&store, "a5", "6.13.0", "default", true, 5);
    // The mirror is a port nothing listens on: a network access would fail.
    std::env::set_var(crate::kernel::release::MIRROR_ENV, "http://127.0.0.1:9");
    let cases = [
        ("6.12.117", "a1"),
        ("6.12.117+debug", "a2"),
        // The newest cached patch of the series; a4 has stale fragments.
        ("6.12", "a1"),
        ("6.12+debug", "a2"),
        ("6.13", "a5"),
    ];
    for (arg, key) in cases {
        let k = resolve_kernel(Some(arg), &c).unwrap_or_else(|e| panic!("{arg}: {e}"));
        assert_eq!(k.key.as_deref(), Some(key), "{arg}");
    }
    // Nothing cached for 6.11: the mirror is asked, and it is unreachable.
    let err = resolve_kernel(Some("6.11.3"), &c).unwrap_err();
    assert!(err.to_string().contains("127.0.0.1:9"), "{err}");
    assert_eq!(err.exit_code(), crate::exit::ExitCode::Environment);
}

#[test]
fn newest_prefers_the_default_variant() {
    let (_d, c) = cache();
    let store = Store::new(&c);
    versioned(&store, "d1", "6.12.117", "default", true, 1);
    versioned(&store, "d2", "6.12.117", "debug", true, 9);
    assert_eq!(resolve_kernel(None, &c).unwrap().key.as_deref(), Some("d1"));
}
