//! The writer: round trips, determinism, conflicts, caching, concatenation.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{find, names, read_initrd};
use ktstr_initramfs::{concat, ArchiveError, BaseCache, Format, Initramfs};

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
const S_IFCHR: u32 = 0o020000;

fn sample() -> Initramfs {
    let mut i = Initramfs::new();
    i.add_init_bytes(b"#init".to_vec()).unwrap();
    i.add_file_bytes("/etc/ktstr/run.json", b"{}".to_vec(), 0o644)
        .unwrap();
    i.add_symlink("/bin/sh", "/init").unwrap();
    i.add_dir("/var/empty", 0o700).unwrap();
    i
}

#[test]
fn round_trip_names_modes_contents() {
    let (items, archives) = read_initrd(&sample().write_gz(Vec::new()).unwrap());
    assert_eq!(archives, 1);
    let want: &[(&str, u32, &[u8])] = &[
        ("bin", S_IFDIR | 0o755, b""),
        ("bin/sh", S_IFLNK | 0o777, b"/init"),
        ("dev", S_IFDIR | 0o755, b""),
        ("dev/console", S_IFCHR | 0o600, b""),
        ("etc", S_IFDIR | 0o755, b""),
        ("etc/ktstr", S_IFDIR | 0o755, b""),
        ("etc/ktstr/run.json", S_IFREG | 0o644, b"{}"),
        ("init", S_IFREG | 0o755, b"#init"),
        ("proc", S_IFDIR | 0o555, b""),
        ("run", S_IFDIR | 0o755, b""),
        ("sys", S_IFDIR | 0o555, b""),
        ("tmp", S_IFDIR | 0o1777, b""),
        ("var", S_IFDIR | 0o755, b""),
        ("var/empty", S_IFDIR | 0o700, b""),
    ];
    let got: Vec<(&str, u32, &[u8])> = items
        .iter()
        .map(|i| (i.name.as_str(), i.mode, i.data.as_slice()))
        .collect();
    assert_eq!(got, want);
    assert_eq!(find(&items, "dev/console").rdev, (5, 1));
    let mut inos: Vec<u32> = items.iter().map(|i| i.ino).collect();
    inos.dedup();
    assert_eq!(inos.len(), items.len(), "inode numbers are unique");
    assert!(items.iter().all(|i| (i.uid, i.gid, i.mtime) == (0, 0, 0)));
}

#[test]
fn same_inputs_same_bytes_in_any_insertion_order() {
    let a = sample();
    let mut b = Initramfs::new();
    b.add_dir("/var/empty", 0o700).unwrap();
    b.add_symlink("/bin/sh", "/init").unwrap();
    b.add_file_bytes("/etc/ktstr/run.json", b"{}".to_vec(), 0o644)
        .unwrap();
    b.add_init_bytes(b"#init".to_vec()).unwrap();
    assert_eq!(
        a.write_gz(Vec::new()).unwrap(),
        b.write_gz(Vec::new()).unwrap()
    );
    assert_eq!(
        a.write_cpio(Vec::new()).unwrap(),
        b.write_cpio(Vec::new()).unwrap()
    );
    assert_eq!(a.digest(), b.digest());

    // Any change to content or mode changes the digest.
    let mut c = sample();
    c.add_file_bytes("/x", b"1".to_vec(), 0o644).unwrap();
    let mut d = sample();
    d.add_file_bytes("/x", b"2".to_vec(), 0o644).unwrap();
    let mut e = sample();
    e.add_file_bytes("/x", b"1".to_vec(), 0o600).unwrap();
    assert_ne!(c.digest(), d.digest());
    assert_ne!(c.digest(), e.digest());
    assert_ne!(a.digest(), c.digest());
}

#[test]
fn duplicates_and_conflicts_table() {
    type Op = fn(&mut Initramfs) -> Result<(), ArchiveError>;
    let cases: &[(&str, Op, Op, Option<&str>)] = &[
        (
            "same file twice",
            |i| i.add_file_bytes("/a", b"x".to_vec(), 0o644),
            |i| i.add_file_bytes("/a", b"x".to_vec(), 0o644),
            None,
        ),
        (
            "different content",
            |i| i.add_file_bytes("/a", b"x".to_vec(), 0o644),
            |i| i.add_file_bytes("/a", b"y".to_vec(), 0o644),
            Some("/a"),
        ),
        (
            "different mode",
            |i| i.add_file_bytes("/a", b"x".to_vec(), 0o644),
            |i| i.add_file_bytes("/a", b"x".to_vec(), 0o755),
            Some("/a"),
        ),
        (
            "explicit dir after implicit parent",
            |i| i.add_file_bytes("/d/f", b"x".to_vec(), 0o644),
            |i| i.add_dir("/d", 0o700),
            None,
        ),
        (
            "two explicit dir modes",
            |i| i.add_dir("/d", 0o755),
            |i| i.add_dir("/d", 0o700),
            Some("/d"),
        ),
        (
            "file under a symlink",
            |i| i.add_symlink("/lib64", "usr/lib64"),
            |i| i.add_file_bytes("/lib64/ld.so", b"x".to_vec(), 0o755),
            Some("/lib64"),
        ),
        (
            "symlink retargeted",
            |i| i.add_symlink("/l", "/a"),
            |i| i.add_symlink("/l", "/b"),
            Some("/l"),
        ),
    ];
    for (what, first, second, conflict) in cases {
        let mut i = Initramfs::new();
        first(&mut i).unwrap();
        match (second(&mut i), conflict) {
            (Ok(()), None) => {}
            (Err(ArchiveError::Conflict { path, .. }), Some(want)) => {
                assert_eq!(path, *want, "{what}")
            }
            (got, want) => panic!("{what}: got {got:?}, want conflict at {want:?}"),
        }
    }
    // The explicit mode replaced the implicit parent's.
    let mut i = Initramfs::new();
    i.add_file_bytes("/d/f", b"x".to_vec(), 0o644).unwrap();
    i.add_dir("/d", 0o700).unwrap();
    let (items, _) = read_initrd(&i.write_cpio(Vec::new()).unwrap());
    assert_eq!(find(&items, "d").mode, S_IFDIR | 0o700);
}

#[test]
fn add_file_keeps_host_mode_and_bad_paths_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let host = dir.path().join("tool");
    std::fs::write(&host, b"bytes").unwrap();
    std::fs::set_permissions(&host, std::fs::Permissions::from_mode(0o750)).unwrap();
    let mut i = Initramfs::new();
    i.add_file("/usr/bin/tool", &host).unwrap();
    let (items, _) = read_initrd(&i.write_gz(Vec::new()).unwrap());
    let item = find(&items, "usr/bin/tool");
    assert_eq!(
        (item.mode, item.data.as_slice()),
        (S_IFREG | 0o750, &b"bytes"[..])
    );

    let err = i.add_file("/x", &dir.path().join("absent")).unwrap_err();
    assert!(err.to_string().contains("absent"), "{err}");
    let err = i
        .add_file_bytes("relative", b"".to_vec(), 0o644)
        .unwrap_err();
    assert!(err.to_string().contains("\"relative\""), "{err}");
}

#[test]
fn cache_reuses_by_content_and_concat_yields_both_archives() {
    let dir = tempfile::tempdir().unwrap();
    let cache = BaseCache::new(dir.path().join("cache"));
    let base = sample();
    let first = cache.get_or_write(&base).unwrap();
    assert!(!first.reused);
    let again = cache.get_or_write(&sample()).unwrap();
    assert!(again.reused);
    assert_eq!(first.path, again.path);
    assert_eq!(
        std::fs::read(&first.path).unwrap(),
        base.write_gz(Vec::new()).unwrap()
    );
    let mut other = sample();
    other
        .add_file_bytes("/extra", b"1".to_vec(), 0o644)
        .unwrap();
    assert_ne!(cache.get_or_write(&other).unwrap().path, first.path);
    // Only finished archives (and their lock files) are left behind: no
    // temporary files.
    let files: Vec<String> = std::fs::read_dir(cache.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".lock"))
        .collect();
    assert_eq!(files.len(), 2, "{files:?}");

    let mut run = Initramfs::new();
    run.add_file_bytes("/etc/ktstr/run.json", br#"{"run":1}"#.to_vec(), 0o644)
        .unwrap();
    let out = dir.path().join("initrd.gz");
    concat(&first.path, &run, &out).unwrap();
    let (items, archives) = read_initrd(&std::fs::read(&out).unwrap());
    assert_eq!(archives, 2);
    assert!(names(&items).contains(&"init"));
    let configs: Vec<&[u8]> = items
        .iter()
        .filter(|i| i.name == "etc/ktstr/run.json")
        .map(|i| i.data.as_slice())
        .collect();
    // The kernel unpacks in order, so the second (per-run) one wins.
    assert_eq!(configs, [&b"{}"[..], br#"{"run":1}"#]);

    // A plain-cpio base followed by the gzip'd run part works the same.
    let plain = BaseCache::with_format(dir.path().join("plain"), Format::Cpio);
    let first_plain = plain.get_or_write(&base).unwrap();
    assert!(first_plain.path.to_str().unwrap().ends_with(".cpio"));
    assert_eq!(
        std::fs::read(&first_plain.path).unwrap(),
        base.write_cpio(Vec::new()).unwrap()
    );
    concat(&first_plain.path, &run, &out).unwrap();
    let (mixed, archives) = read_initrd(&std::fs::read(&out).unwrap());
    assert_eq!((mixed, archives), (items, 2));
}

#[test]
fn include_copies_trees_and_brings_closures() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(tree.join("sub")).unwrap();
    std::fs::write(tree.join("sub/data.txt"), b"data").unwrap();
    std::fs::set_permissions(tree.join("sub"), std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::symlink("sub/data.txt", tree.join("link")).unwrap();
    std::fs::copy("/bin/true", tree.join("tool")).unwrap();
    std::os::unix::fs::symlink(&tree, dir.path().join("tree-link")).unwrap();

    let mut i = Initramfs::new();
    // The named top-level symlink is followed; inner symlinks are kept.
    let libs = i
        .add_include("/opt/tree", &dir.path().join("tree-link"))
        .unwrap();
    assert!(libs.iter().any(|l| l.name == "libc.so.6"), "{libs:#?}");
    let (items, _) = read_initrd(&i.write_gz(Vec::new()).unwrap());
    assert_eq!(find(&items, "opt/tree/sub").mode, S_IFDIR | 0o700);
    assert_eq!(find(&items, "opt/tree/sub/data.txt").data, b"data");
    let link = find(&items, "opt/tree/link");
    assert_eq!(
        (link.mode, link.data.as_slice()),
        (S_IFLNK | 0o777, &b"sub/data.txt"[..])
    );
    assert_eq!(find(&items, "opt/tree/tool").mode & 0o111, 0o111);
    assert!(names(&items).contains(&"lib64/ld-linux-x86-64.so.2"));

    let fifo = dir.path().join("fifo");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    match i.add_include("/fifo", &fifo) {
        Err(ArchiveError::Unsupported { path }) => assert_eq!(path, fifo),
        other => panic!("{other:?}"),
    }
}

#[test]
fn prune_keeps_the_most_recently_used() {
    use std::time::{Duration, SystemTime};
    let dir = tempfile::tempdir().unwrap();
    let cache = BaseCache::new(dir.path());
    assert_eq!(
        BaseCache::new(dir.path().join("absent")).prune(1).unwrap(),
        0
    );
    let images: Vec<Initramfs> = (0..3u8)
        .map(|n| {
            let mut i = Initramfs::new();
            i.add_file_bytes("/n", vec![n], 0o644).unwrap();
            i
        })
        .collect();
    let paths: Vec<_> = images
        .iter()
        .map(|i| cache.get_or_write(i).unwrap().path)
        .collect();
    // Age them: 0 oldest, 2 newest; then reuse 0, which refreshes it.
    let day = Duration::from_secs(86_400);
    for (age, p) in paths.iter().enumerate() {
        let when = SystemTime::now() - day * (3 - age as u32);
        std::fs::File::options()
            .write(true)
            .open(p)
            .unwrap()
            .set_modified(when)
            .unwrap();
    }
    assert!(cache.get_or_write(&images[0]).unwrap().reused);
    assert_eq!(cache.prune(2).unwrap(), 1);
    let left: Vec<bool> = paths.iter().map(|p| p.exists()).collect();
    assert_eq!(left, [true, false, true]);
}

#[test]
fn two_writers_of_one_base_write_it_once() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Barrier};
    let dir = tempfile::tempdir().unwrap();
    let cache = BaseCache::new(dir.path());
    let builds = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(Barrier::new(2));
    let key = [7u8; 32];
    let writers: Vec<_> = (0..2)
        .map(|_| {
            let (cache, builds, start) = (cache.clone(), builds.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                cache
                    .get_or_build(&key, |out| {
                        builds.fetch_add(1, Ordering::SeqCst);
                        // Long enough that the other writer arrives meanwhile.
                        std::thread::sleep(std::time::Duration::from_millis(300));
                        out.write_all(b"archive").map_err(ArchiveError::Write)
                    })
                    .unwrap()
            })
        })
        .collect();
    let results: Vec<_> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    assert_eq!(
        builds.load(Ordering::SeqCst),
        1,
        "the base must be written once"
    );
    assert_eq!(results[0].path, results[1].path);
    assert_eq!(results.iter().filter(|r| r.reused).count(), 1);
    assert_eq!(std::fs::read(&results[0].path).unwrap(), b"archive");
}
