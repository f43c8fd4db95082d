//! Kernel sources other than a release download: a git ref of a local
//! repository, and a source too old for sched_ext.
//!
//! The git test builds `git+file:///...#v6.12.117` from a repository made
//! from Debian's linux-source-6.12 tarball (once per machine, kept beside
//! the cache, with fixed dates so its commit id is the same everywhere).
//! The kernel is built into the normal cache on first run (ccache makes
//! that cheap after the tarball build) and reused after.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use ktstr_vm::cache_dir::CacheDir;

const TARBALL_612: &str = "/usr/src/linux-source-6.12.tar.xz";
const TARBALL_61: &str = "/usr/src/linux-source-6.1.tar.xz";
const TAG: &str = "v6.12.117";

fn ktstr(args: &[&str]) -> Output {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_ktstr-vm"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    eprintln!(
        "ktstr-vm {}: exit {:?} in {:?}\n--- stdout\n{}--- stderr\n{}",
        args.join(" "),
        out.status.code(),
        started.elapsed(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "ktstr-vm test")
        .env("GIT_AUTHOR_EMAIL", "test@ktstr-vm")
        .env("GIT_COMMITTER_NAME", "ktstr-vm test")
        .env("GIT_COMMITTER_EMAIL", "test@ktstr-vm")
        .env("GIT_AUTHOR_DATE", "2025-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2025-01-01T00:00:00Z")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A git repository holding Debian's 6.12 source as one commit tagged
/// v6.12.117, made once (under a lock) and kept beside the cache.
fn linux_repo() -> PathBuf {
    assert!(
        Path::new(TARBALL_612).is_file(),
        "{TARBALL_612} is missing: install linux-source-6.12 (ci/setup.sh)"
    );
    let cache = CacheDir::resolve(None).unwrap();
    let repo = cache.root().join("test-fixtures/linux-6.12-git");
    let parent = repo.parent().unwrap();
    std::fs::create_dir_all(parent).unwrap();
    let lock = std::fs::File::create(parent.join(".linux-6.12-git.lock")).unwrap();
    let _held = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive).unwrap();
    if repo.join(".git").is_dir() {
        return repo;
    }
    let started = Instant::now();
    let tmp = tempfile::tempdir_in(parent).unwrap();
    let ok = Command::new("tar")
        .args(["--strip-components=1", "-xf", TARBALL_612, "-C"])
        .arg(tmp.path())
        .status()
        .unwrap();
    assert!(ok.success(), "extracting {TARBALL_612}");
    let extracted = started.elapsed();
    git(tmp.path(), &["init", "-q", "-b", "main"]);
    // -f: Debian's tarball carries a .gitignore that ignores everything.
    git(tmp.path(), &["add", "-A", "-f"]);
    let commit = [
        "-c",
        "gc.auto=0",
        "commit",
        "-q",
        "-m",
        "Debian linux-source-6.12",
    ];
    git(tmp.path(), &commit);
    git(tmp.path(), &["tag", TAG]);
    std::fs::rename(tmp.keep(), &repo).unwrap();
    eprintln!(
        "made {} in {:?} (extract {extracted:?})",
        repo.display(),
        started.elapsed()
    );
    repo
}

#[test]
fn git_file_ref_builds_then_is_reused() {
    let repo = linux_repo();
    let spec = format!("git+file://{}#{TAG}", repo.display());
    let out = ktstr(&["exec", "--kernel", &spec, "--cpus", "2", "--", "true"]);
    assert_eq!(out.status.code(), Some(0), "first exec on {spec}");
    let again = ktstr(&["exec", "--kernel", &spec, "--cpus", "2", "--", "true"]);
    assert_eq!(again.status.code(), Some(0));
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(
        !err.contains("building a kernel") && !err.contains("fetching"),
        "the second use must come from the cache:\n{err}"
    );
    // The entry is found by where `kernel path` points, not by the URL in
    // its `source`: the key is the commit, so a clone of the same commit at
    // another path reuses an entry that still names the first URL.
    let path = ktstr(&["kernel", "path", &spec]);
    assert_eq!(path.status.code(), Some(0));
    let image = String::from_utf8_lossy(&path.stdout).trim().to_string();
    let list = ktstr(&["kernel", "list", "--json"]);
    let entries: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let from_git = entries
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["image"].as_str() == Some(image.as_str()))
        .unwrap_or_else(|| panic!("no entry with image {image} (from {spec}) in {entries:#}"));
    assert_eq!(from_git["version"], "6.12.117");
    assert_eq!(from_git["variant"], "default");
    assert!(from_git["source_identity"]
        .as_str()
        .unwrap()
        .starts_with("git:"));
}

#[test]
fn unknown_git_ref_is_a_usage_error() {
    let repo = linux_repo();
    let spec = format!("git+file://{}#no-such-branch", repo.display());
    let out = ktstr(&["kernel", "path", &spec]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(129), "{err}");
    assert!(
        err.contains("no branch or tag named \"no-such-branch\""),
        "{err}"
    );
}

#[test]
fn source_without_sched_ext_is_refused_before_any_build() {
    assert!(
        Path::new(TARBALL_61).is_file(),
        "{TARBALL_61} is missing: install linux-source-6.1 (ci/setup.sh)"
    );
    let cache = tempfile::tempdir().unwrap();
    let out = ktstr(&[
        "kernel",
        "build",
        "--source",
        TARBALL_61,
        "--cache-dir",
        cache.path().to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    // The error's first line (progress lines may come before it).
    let first = err
        .lines()
        .find(|l| l.starts_with("ktstr-vm: error:"))
        .unwrap_or("");
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert!(
        first.contains("kernel 6.1.") && first.contains("is too old for sched_ext"),
        "{first}"
    );
    for step in ["tinyconfig", "olddefconfig", "make bzImage"] {
        assert!(!err.contains(step), "{step} ran before the refusal:\n{err}");
    }
    let kept: Vec<_> = std::fs::read_dir(cache.path().join("src"))
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    assert!(
        kept.is_empty(),
        "the refused tree must not be kept: {kept:?}"
    );
}
