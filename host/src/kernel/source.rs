//! Where a kernel is built from, and what identifies that source in a cache key.
//!
//! - A tarball is extracted once into `<cache>/src/<sha256 prefix>/` and
//!   reused; its identity is the sha256 of the file. Hashing 150 MB takes a
//!   second, so the hash is remembered by path, size and mtime
//!   (`<cache>/kernels/.tarball-hashes.json`, beside the entries CI caches)
//!   and a cache hit stays instant.
//! - A git tree is built in place (incrementally: a bisect step costs
//!   minutes, not a full build). Identity: `git rev-parse HEAD`, plus the
//!   sha256 of `git diff HEAD` when tracked files changed. Untracked files
//!   are not part of it.
//! - Any other kernel tree is built in place too, but nothing cheap tells
//!   whether it changed, so it is always (incrementally) rebuilt and its
//!   identity is fixed after the build from the image it produced.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::UNIX_EPOCH;

use sha2::{Digest, Sha256};

use super::key::hex;
use super::lock;
use crate::cache_dir::CacheDir;

/// Debian's `linux-source-6.12` package puts this tarball on the machine.
pub const DEFAULT_TARBALL: &str = "/usr/src/linux-source-6.12.tar.xz";

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("no kernel source given and {DEFAULT_TARBALL} is missing: install `linux-source-6.12` (ci/setup.sh) or pass --source <tree|tarball>")]
    NoDefault,
    #[error("kernel source {0} does not exist")]
    Missing(PathBuf),
    #[error("{0} is not a kernel source tree (no Makefile and Kconfig at its top)")]
    NotKernelTree(PathBuf),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`{cmd}` failed: {detail}")]
    Command { cmd: String, detail: String },
    #[error("tarball {0} did not contain exactly one top-level directory")]
    TarballLayout(PathBuf),
    #[error(
        "kernel {version} is too old for sched_ext: its Kconfig has no SCHED_CLASS_EXT \
(sched_ext arrived in 6.12); build 6.12 or newer\n  source: {source_path}"
    )]
    TooOld {
        version: String,
        source_path: PathBuf,
    },
}

impl crate::exit::ExitClass for SourceError {
    fn exit_code(&self) -> crate::exit::ExitCode {
        use crate::exit::ExitCode;
        match self {
            SourceError::TooOld { .. }
            | SourceError::NotKernelTree(_)
            | SourceError::TarballLayout(_) => ExitCode::CannotTest,
            SourceError::Missing(_) => ExitCode::Usage,
            SourceError::NoDefault | SourceError::Io { .. } | SourceError::Command { .. } => {
                ExitCode::Environment
            }
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SourceError + '_ {
    move |source| SourceError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What kind of source a path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    Tarball,
    Git,
    Dir,
}

/// A source, identified but not yet unpacked.
#[derive(Debug, Clone)]
pub struct Source {
    pub kind: SourceKind,
    /// The tarball or the tree, canonicalized.
    pub path: PathBuf,
    /// Cache-key identity; `None` for a plain tree (known after its build).
    pub identity: Option<String>,
    /// Where it came from, when not a path the user gave (a release, a git ref).
    pub label: Option<String>,
}

impl Source {
    /// A one-line description for listings and `meta.json`.
    pub fn description(&self) -> String {
        if let Some(label) = &self.label {
            return label.clone();
        }
        let kind = match self.kind {
            SourceKind::Tarball => "tarball",
            SourceKind::Git => "git tree",
            SourceKind::Dir => "tree",
        };
        format!("{kind} {}", self.path.display())
    }

    /// The kernel tree to build in: the tree itself, or the tarball's
    /// extraction (done now if missing).
    pub fn tree(&self, cache: &CacheDir) -> Result<PathBuf, SourceError> {
        match self.kind {
            SourceKind::Git | SourceKind::Dir => Ok(self.path.clone()),
            SourceKind::Tarball => {
                let id = self.identity.as_deref().unwrap_or_default();
                extract_once(&self.path, &extraction_dir(cache, id))
            }
        }
    }
}

/// Where a tarball with this identity (`tarball:sha256:HEX`) is extracted:
/// `<cache>/src/<first 16 hex digits>/`.
pub fn extraction_dir(cache: &CacheDir, identity: &str) -> PathBuf {
    let hash = identity.strip_prefix("tarball:sha256:").unwrap_or(identity);
    cache.sources().join(hash.get(..16).unwrap_or(hash))
}

/// Identifies `arg`, or the default tarball when `arg` is `None`.
pub fn identify(arg: Option<&Path>, cache: &CacheDir) -> Result<Source, SourceError> {
    let given = match arg {
        Some(p) => p.to_path_buf(),
        None if Path::new(DEFAULT_TARBALL).is_file() => PathBuf::from(DEFAULT_TARBALL),
        None => return Err(SourceError::NoDefault),
    };
    if !given.exists() {
        return Err(SourceError::Missing(given));
    }
    let path = given.canonicalize().map_err(io(&given))?;
    if path.is_file() {
        let sha = tarball_sha256(&path, &cache.kernels())?;
        return Ok(Source {
            kind: SourceKind::Tarball,
            path,
            identity: Some(format!("tarball:sha256:{sha}")),
            label: None,
        });
    }
    if !path.join("Makefile").is_file() || !path.join("Kconfig").is_file() {
        return Err(SourceError::NotKernelTree(path));
    }
    if path.join(".git").exists() {
        let identity = git_identity(&path)?;
        return Ok(Source {
            kind: SourceKind::Git,
            path,
            identity: Some(identity),
            label: None,
        });
    }
    Ok(Source {
        kind: SourceKind::Dir,
        path,
        identity: None,
        label: None,
    })
}

/// The identity of a plain tree once built: its path and the image it made.
pub fn dir_identity_after_build(tree: &Path, image: &Path) -> Result<String, SourceError> {
    Ok(format!(
        "dir:{}:image:{}",
        tree.display(),
        file_sha256(image)?
    ))
}

/// `git:<HEAD>` or `git:<HEAD>+diff:<sha256 of git diff HEAD>`.
fn git_identity(tree: &Path) -> Result<String, SourceError> {
    let head = git(tree, &["rev-parse", "HEAD"])?;
    let diff = git(tree, &["diff", "HEAD", "--binary"])?;
    let head = String::from_utf8_lossy(&head).trim().to_string();
    if diff.is_empty() {
        Ok(format!("git:{head}"))
    } else {
        Ok(format!("git:{head}+diff:{}", hex(&Sha256::digest(&diff))))
    }
}

/// `git -C tree args...`'s stdout; a failure names the command and quotes git.
pub(crate) fn git(tree: &Path, args: &[&str]) -> Result<Vec<u8>, SourceError> {
    let cmd = format!("git -C {} {}", tree.display(), args.join(" "));
    let out = Command::new("git").arg("-C").arg(tree).args(args).output();
    let out = out.map_err(|e| SourceError::Command {
        cmd: cmd.clone(),
        detail: e.to_string(),
    })?;
    if !out.status.success() {
        let detail = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(SourceError::Command { cmd, detail });
    }
    Ok(out.stdout)
}

/// Refuses a tree whose Kconfig files do not define `SCHED_CLASS_EXT`:
/// it cannot give a sched_ext kernel, and finding that out after
/// `olddefconfig` costs time and names seven dropped options instead of
/// the cause. Reads `kernel/Kconfig.preempt` (where 6.12 defines it) and,
/// only if that lacks it, every `Kconfig*` under `kernel/` and `init/`.
pub fn check_sched_ext(tree: &Path) -> Result<(), SourceError> {
    let defines = |p: &Path| {
        fs::read_to_string(p).is_ok_and(|t| t.lines().any(|l| l.trim() == "config SCHED_CLASS_EXT"))
    };
    if defines(&tree.join("kernel/Kconfig.preempt")) {
        return Ok(());
    }
    for dir in ["kernel", "init"] {
        let mut stack = vec![tree.join(dir)];
        while let Some(d) = stack.pop() {
            for e in fs::read_dir(&d)
                .into_iter()
                .flatten()
                .filter_map(Result::ok)
            {
                let p = e.path();
                let is_kconfig = e.file_name().to_string_lossy().starts_with("Kconfig");
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push(p);
                } else if is_kconfig && defines(&p) {
                    return Ok(());
                }
            }
        }
    }
    Err(SourceError::TooOld {
        version: makefile_version(tree).unwrap_or_else(|| "(unknown version)".into()),
        source_path: tree.to_path_buf(),
    })
}

/// The kernel version a tree's top Makefile declares, e.g. `6.12.117`.
pub fn makefile_version(tree: &Path) -> Option<String> {
    let text = fs::read_to_string(tree.join("Makefile")).ok()?;
    let field = |name: &str| {
        text.lines()
            .find_map(|l| {
                l.strip_prefix(name)?
                    .trim_start()
                    .strip_prefix('=')
                    .map(str::trim)
            })
            .unwrap_or("")
            .to_string()
    };
    let (v, p, s, e) = (
        field("VERSION"),
        field("PATCHLEVEL"),
        field("SUBLEVEL"),
        field("EXTRAVERSION"),
    );
    (!v.is_empty()).then(|| format!("{v}.{p}.{s}{e}"))
}

/// Remembered tarball hashes: path -> (size, mtime in ns, sha256).
type HashMemo = BTreeMap<String, (u64, u128, String)>;

/// sha256 of a tarball, remembered by path, size and mtime.
fn tarball_sha256(path: &Path, memo_dir: &Path) -> Result<String, SourceError> {
    let (memo_path, mut memo) = read_memo(memo_dir);
    let name = path.display().to_string();
    let stamp = file_stamp(path)?;
    if let Some((size, mt, sha)) = memo.get(&name) {
        if (*size, *mt) == stamp {
            return Ok(sha.clone());
        }
    }
    let sha = file_sha256(path)?;
    memo.insert(name, (stamp.0, stamp.1, sha.clone()));
    write_memo(&memo_path, &memo);
    Ok(sha)
}

/// Records the sha256 of a file just written (a verified download), so
/// identifying it does not hash 150 MB again.
pub fn remember_sha256(path: &Path, sha: &str, memo_dir: &Path) {
    let Ok(stamp) = file_stamp(path) else {
        return;
    };
    let (memo_path, mut memo) = read_memo(memo_dir);
    memo.insert(
        path.display().to_string(),
        (stamp.0, stamp.1, sha.to_string()),
    );
    write_memo(&memo_path, &memo);
}

/// (size, mtime in ns) of a file.
fn file_stamp(path: &Path) -> Result<(u64, u128), SourceError> {
    let md = fs::metadata(path).map_err(io(path))?;
    let mtime = md
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok());
    Ok((md.len(), mtime.map_or(0, |d| d.as_nanos())))
}

fn read_memo(memo_dir: &Path) -> (PathBuf, HashMemo) {
    let memo_path = memo_dir.join(".tarball-hashes.json");
    let memo = fs::read(&memo_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    (memo_path, memo)
}

/// The memo only saves time: failing to write it is not an error.
fn write_memo(memo_path: &Path, memo: &HashMemo) {
    let _ = write_atomic(
        memo_path,
        &serde_json::to_vec_pretty(memo).unwrap_or_default(),
    );
}

/// sha256 of a file's contents, as hex.
pub fn file_sha256(path: &Path) -> Result<String, SourceError> {
    let mut f = fs::File::open(path).map_err(io(path))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(io(path))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

/// Writes a file through a temp file and a rename, so readers never see half of it.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), SourceError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(io(dir))?;
    let tmp = tempfile::NamedTempFile::new_in(dir).map_err(io(dir))?;
    fs::write(tmp.path(), bytes).map_err(io(tmp.path()))?;
    tmp.persist(path).map_err(|e| SourceError::Io {
        path: path.to_path_buf(),
        source: e.error,
    })?;
    Ok(())
}

/// `tar -xf tarball -C dir [members...]`; a failure quotes tar.
fn untar(tarball: &Path, dir: &Path, members: &[&str]) -> Result<(), SourceError> {
    let cmd = format!("tar -xf {} -C {}", tarball.display(), dir.display());
    let out = Command::new("tar")
        .arg("--no-same-owner")
        .arg("-xf")
        .arg(tarball)
        .arg("-C")
        .arg(dir)
        .args(members)
        .output()
        .map_err(|e| SourceError::Command {
            cmd: cmd.clone(),
            detail: e.to_string(),
        })?;
    // A member pattern that matched nothing is not an error for the probe.
    let detail = String::from_utf8_lossy(&out.stderr).trim().to_string();
    let only_unmatched = !members.is_empty()
        && detail.lines().all(|l| {
            l.contains("Not found in archive") || l.contains("Exiting with failure status")
        });
    if !out.status.success() && !only_unmatched {
        return Err(SourceError::Command { cmd, detail });
    }
    Ok(())
}

/// The top-level entries of an extraction.
fn top_dirs(dir: &Path) -> Result<Vec<PathBuf>, SourceError> {
    Ok(fs::read_dir(dir)
        .map_err(io(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect())
}

/// [`check_sched_ext`], naming the tarball rather than the temp dir.
fn refuse_too_old(root: &Path, tarball: &Path) -> Result<(), SourceError> {
    check_sched_ext(root).map_err(|e| match e {
        SourceError::TooOld { version, .. } => SourceError::TooOld {
            version,
            source_path: tarball.to_path_buf(),
        },
        other => other,
    })
}

/// Extracts `tarball` to `dest` unless already there. Extraction goes to a
/// temp dir beside `dest` and is renamed into place, so `dest` existing means
/// a complete tree.
fn extract_once(tarball: &Path, dest: &Path) -> Result<PathBuf, SourceError> {
    if dest.is_dir() {
        return Ok(dest.to_path_buf());
    }
    let parent = dest.parent().unwrap_or(Path::new("."));
    let lock_path = parent
        .join(".locks")
        .join(lock::name_for(&dest.to_string_lossy()));
    let what = format!("extracting {}", tarball.display());
    let _lock = lock::acquire(&lock_path, lock::Mode::Exclusive, &what, &|m| {
        eprintln!("{m}")
    })
    .map_err(|e| SourceError::Io {
        path: e.path,
        source: e.source,
    })?;
    if dest.is_dir() {
        return Ok(dest.to_path_buf());
    }
    fs::create_dir_all(parent).map_err(io(parent))?;
    let tmp = tempfile::Builder::new()
        .prefix(".extract-")
        .tempdir_in(parent)
        .map_err(io(parent))?;
    // First only the top Makefile and the Kconfig files the check reads:
    // an old source is refused after one decompression pass, without
    // writing 80k files.
    untar(
        tarball,
        tmp.path(),
        &[
            "--wildcards",
            "--no-wildcards-match-slash",
            "*/Makefile",
            "--wildcards-match-slash",
            "*/kernel/*Kconfig*",
            "*/init/*Kconfig*",
        ],
    )?;
    if let [root] = top_dirs(tmp.path())?.as_slice() {
        refuse_too_old(root, tarball)?;
    }
    untar(tarball, tmp.path(), &[])?;
    let top = top_dirs(tmp.path())?;
    let [root] = top.as_slice() else {
        return Err(SourceError::TarballLayout(tarball.to_path_buf()));
    };
    if !root.join("Makefile").is_file() {
        return Err(SourceError::NotKernelTree(tarball.to_path_buf()));
    }
    // A tree that cannot build sched_ext is refused before it is kept.
    refuse_too_old(root, tarball)?;
    fs::rename(root, dest).map_err(io(dest))?;
    Ok(dest.to_path_buf())
}

#[cfg(test)]
#[path = "source_tests.rs"]
mod tests;
