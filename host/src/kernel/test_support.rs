//! Fixtures shared by the kernel module's unit tests.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::store::{Entry, Meta, Store, META_FORMAT};

/// A complete cache entry with fake files, committed through the store.
pub fn fake_entry(store: &Store, key: &str, built_at: u64) -> Entry {
    let staging = store.stage().unwrap();
    let dir = staging.path();
    fs::write(dir.join("bzImage"), b"image").unwrap();
    fs::write(dir.join("config"), b"CONFIG_SCHED_CLASS_EXT=y\n").unwrap();
    fs::write(dir.join("vmlinux"), b"elf").unwrap();
    fs::create_dir(dir.join("sched_ext")).unwrap();
    write_exe(&dir.join("sched_ext/scx_simple"));
    let meta = Meta {
        format: META_FORMAT,
        key: key.to_string(),
        version: "6.12.0-test".into(),
        source: "tree /x".into(),
        source_identity: "git:abc".into(),
        fragments: vec!["base.config".into()],
        variant: "default".into(),
        fragments_sha256: String::new(),
        config_sha256: "c0ffee".into(),
        schedulers: vec!["scx_simple".into()],
        image_size: 5,
        built_at,
        build_seconds: 1.0,
        builder: "test".into(),
    };
    store.commit(staging, meta).unwrap()
}

/// Writes a small file with mode 0755.
pub fn write_exe(path: &Path) {
    fs::write(path, b"#!/bin/sh\n").unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}
