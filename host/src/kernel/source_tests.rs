use super::*;
use crate::exit::ExitClass;

const MAKEFILE: &str =
    "VERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 7\nEXTRAVERSION = -rc1\nNAME = x\n";

/// A fake kernel tree: enough for identification and the sched_ext check.
fn fake_tree(dir: &Path) {
    fs::create_dir_all(dir.join("kernel")).unwrap();
    fs::write(dir.join("Makefile"), MAKEFILE).unwrap();
    fs::write(dir.join("Kconfig"), "# kconfig\n").unwrap();
    fs::write(
        dir.join("kernel/Kconfig.preempt"),
        "config SCHED_CLASS_EXT\n\tbool \"Extensible Scheduling Class\"\n",
    )
    .unwrap();
}

/// A `.tar.gz` of a fake tree under `top`, plus extra top-level dirs.
fn fake_tarball(work: &Path, tops: &[&str]) -> PathBuf {
    let content = work.join("content");
    for t in tops {
        fake_tree(&content.join(t));
    }
    let tarball = work.join("linux.tar.gz");
    let ok = Command::new("tar")
        .arg("-czf")
        .arg(&tarball)
        .arg("-C")
        .arg(&content)
        .args(tops)
        .status()
        .unwrap();
    assert!(ok.success());
    tarball
}

fn git(dir: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "-c",
            "init.defaultBranch=main",
            "-C",
        ])
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&ok.stderr)
    );
}

#[test]
fn missing_and_non_kernel_paths_are_errors() {
    let d = tempfile::tempdir().unwrap();
    let cache = CacheDir::at(d.path().join("cache"));
    let err = identify(Some(&d.path().join("nope")), &cache).unwrap_err();
    assert!(matches!(err, SourceError::Missing(_)), "{err}");
    let err = identify(Some(d.path()), &cache).unwrap_err();
    assert!(matches!(err, SourceError::NotKernelTree(_)), "{err}");
}

#[test]
fn plain_tree_is_identified_after_its_build() {
    let d = tempfile::tempdir().unwrap();
    fake_tree(&d.path().join("linux"));
    let s = identify(
        Some(&d.path().join("linux")),
        &CacheDir::at(d.path().join("c")),
    )
    .unwrap();
    assert_eq!(s.kind, SourceKind::Dir);
    assert_eq!(s.identity, None);
    assert_eq!(s.tree(&CacheDir::at(d.path())).unwrap(), s.path);
    let image = d.path().join("bzImage");
    fs::write(&image, b"one").unwrap();
    let a = dir_identity_after_build(&s.path, &image).unwrap();
    fs::write(&image, b"two").unwrap();
    assert_ne!(a, dir_identity_after_build(&s.path, &image).unwrap());
}

#[test]
fn tarball_identity_is_its_sha256_and_is_memoized() {
    let d = tempfile::tempdir().unwrap();
    let tarball = fake_tarball(d.path(), &["linux-x"]);
    let cache = CacheDir::at(d.path().join("cache"));
    let s = identify(Some(&tarball), &cache).unwrap();
    let sha = file_sha256(&tarball).unwrap();
    assert_eq!(s.kind, SourceKind::Tarball);
    assert_eq!(
        s.identity.as_deref(),
        Some(format!("tarball:sha256:{sha}").as_str())
    );

    // The memo answers while size and mtime match: plant a fake hash in it.
    let memo_path = cache.kernels().join(".tarball-hashes.json");
    let mut memo: HashMemo = serde_json::from_slice(&fs::read(&memo_path).unwrap()).unwrap();
    memo.values_mut().for_each(|v| v.2 = "planted".into());
    fs::write(&memo_path, serde_json::to_vec(&memo).unwrap()).unwrap();
    let again = identify(Some(&tarball), &cache).unwrap();
    assert_eq!(again.identity.as_deref(), Some("tarball:sha256:planted"));

    // A changed file (new size and mtime) is hashed again.
    let mut bytes = fs::read(&tarball).unwrap();
    bytes.extend_from_slice(&[0; 512]);
    fs::write(&tarball, &bytes).unwrap();
    let changed = identify(Some(&tarball), &cache).unwrap();
    assert_eq!(
        changed.identity.unwrap(),
        format!("tarball:sha256:{}", file_sha256(&tarball).unwrap())
    );
}

#[test]
fn tarball_is_extracted_once_and_reused() {
    let d = tempfile::tempdir().unwrap();
    let tarball = fake_tarball(d.path(), &["linux-x"]);
    let cache = CacheDir::at(d.path().join("cache"));
    let s = identify(Some(&tarball), &cache).unwrap();
    let tree = s.tree(&cache).unwrap();
    assert!(tree.starts_with(cache.sources()));
    assert!(tree.join("Makefile").is_file());
    assert_eq!(makefile_version(&tree).as_deref(), Some("6.12.7-rc1"));
    fs::write(tree.join("built-marker"), b"").unwrap();
    assert_eq!(s.tree(&cache).unwrap(), tree);
    assert!(
        tree.join("built-marker").exists(),
        "second call must reuse the tree, not re-extract"
    );
    let extracting: Vec<_> = fs::read_dir(cache.sources())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(".extract-"))
        .collect();
    assert!(extracting.is_empty());
}

#[test]
fn tarball_with_two_top_dirs_is_rejected() {
    let d = tempfile::tempdir().unwrap();
    let tarball = fake_tarball(d.path(), &["a", "b"]);
    let cache = CacheDir::at(d.path().join("cache"));
    let err = identify(Some(&tarball), &cache)
        .unwrap()
        .tree(&cache)
        .unwrap_err();
    assert!(matches!(err, SourceError::TarballLayout(_)), "{err}");
}

#[test]
fn git_identity_follows_head_and_tracked_changes() {
    let d = tempfile::tempdir().unwrap();
    let tree = d.path().join("linux");
    fake_tree(&tree);
    git(&tree, &["init", "-q"]);
    git(&tree, &["add", "."]);
    git(&tree, &["commit", "-qm", "one"]);
    let cache = CacheDir::at(d.path().join("cache"));
    let id = || identify(Some(&tree), &cache).unwrap().identity.unwrap();

    let clean = id();
    assert!(
        clean.starts_with("git:") && !clean.contains("+diff:"),
        "{clean}"
    );
    fs::write(tree.join("untracked.c"), b"x").unwrap();
    assert_eq!(id(), clean, "untracked files are not part of the identity");

    fs::write(tree.join("Kconfig"), "# changed\n").unwrap();
    let dirty = id();
    assert!(dirty.starts_with(&format!("{clean}+diff:")), "{dirty}");
    fs::write(tree.join("Kconfig"), "# changed again\n").unwrap();
    assert_ne!(id(), dirty);

    git(&tree, &["commit", "-qam", "two"]);
    let next = id();
    assert!(!next.contains("+diff:") && next != clean, "{next}");
}

#[test]
fn makefile_version_needs_a_version_line() {
    let d = tempfile::tempdir().unwrap();
    fs::write(d.path().join("Makefile"), "all:\n").unwrap();
    assert_eq!(makefile_version(d.path()), None);
}

#[test]
fn sched_ext_check_finds_the_symbol_or_names_the_version() {
    let d = tempfile::tempdir().unwrap();
    let tree = d.path().join("linux");
    fake_tree(&tree);
    check_sched_ext(&tree).unwrap();
    // Defined elsewhere under kernel/ (a later kernel may move it): found.
    fs::write(tree.join("kernel/Kconfig.preempt"), "config PREEMPT\n").unwrap();
    fs::create_dir_all(tree.join("kernel/sched")).unwrap();
    fs::write(
        tree.join("kernel/sched/Kconfig"),
        "config SCHED_CLASS_EXT\n",
    )
    .unwrap();
    check_sched_ext(&tree).unwrap();
    // A mention is not a definition.
    fs::write(
        tree.join("kernel/sched/Kconfig"),
        "\tdepends on SCHED_CLASS_EXT\n",
    )
    .unwrap();
    let err = check_sched_ext(&tree).unwrap_err();
    let first = err.to_string().lines().next().unwrap().to_string();
    assert!(
        first.contains("6.12.7-rc1") && first.contains("too old for sched_ext"),
        "{first}"
    );
    assert_eq!(err.exit_code(), crate::exit::ExitCode::CannotTest);
}

#[test]
fn too_old_tarball_is_refused_and_not_kept() {
    let d = tempfile::tempdir().unwrap();
    let tarball = fake_tarball(d.path(), &["linux-old"]);
    // Rebuild the tarball without the sched_ext Kconfig.
    fs::remove_file(d.path().join("content/linux-old/kernel/Kconfig.preempt")).unwrap();
    let ok = Command::new("tar")
        .arg("-czf")
        .arg(&tarball)
        .arg("-C")
        .arg(d.path().join("content"))
        .arg("linux-old")
        .status()
        .unwrap();
    assert!(ok.success());
    let cache = CacheDir::at(d.path().join("cache"));
    let err = identify(Some(&tarball), &cache)
        .unwrap()
        .tree(&cache)
        .unwrap_err();
    assert!(matches!(err, SourceError::TooOld { .. }), "{err}");
    assert!(
        err.to_string().contains(&tarball.display().to_string()),
        "{err}"
    );
    let kept: Vec<_> = fs::read_dir(cache.sources())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(
        kept.is_empty(),
        "a refused tree must not stay in the cache: {kept:?}"
    );
}
