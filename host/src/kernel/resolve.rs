//! Turns a `--kernel` argument into an image and what goes with it.
//!
//! - An existing file: that image. When it sits in a kernel tree
//!   (`<tree>/arch/<arch>/boot/bzImage`) the tree's `.config` and
//!   `tools/sched_ext/build/bin` come with it; when it sits in a cache
//!   entry, the entry's files do.
//! - An existing directory: a kernel tree (its `arch/x86/boot/bzImage`) or a
//!   cache entry.
//! - Anything else: a cache key or a unique key prefix.
//! - Nothing: the newest cached kernel.

use crate::which::is_executable;
use std::fs;
use std::path::{Path, PathBuf};

use super::store::{Entry, Store, StoreError};
use crate::cache_dir::CacheDir;

/// A kernel ready to boot, and what a run needs beside the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedKernel {
    pub image: PathBuf,
    /// The kernel's `.config`, when known.
    pub config: Option<PathBuf>,
    /// Directory holding `scx_*` scheduler binaries, when known.
    pub schedulers_dir: Option<PathBuf>,
    /// The cache key, for a cached kernel.
    pub key: Option<String>,
    /// `uname -r`, when known.
    pub version: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("no kernel in the cache ({}): build one with `ktstr-vm kernel build` (or ci/build-kernel.sh), or pass --kernel <bzImage>", .0.display())]
    NoneCached(PathBuf),
    #[error("kernel {0} does not exist")]
    PathMissing(PathBuf),
    #[error("{0} is a directory but neither a built kernel tree (no arch/x86/boot/bzImage) nor a cache entry")]
    NotAKernelDir(PathBuf),
    #[error("no cached kernel has a key starting with {prefix:?} (see `ktstr-vm kernel list`; cache: {})", cache.display())]
    UnknownKey { prefix: String, cache: PathBuf },
    #[error("key prefix {prefix:?} is ambiguous: it matches {}", matches.join(", "))]
    AmbiguousKey {
        prefix: String,
        matches: Vec<String>,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Resolves `--kernel` (see the module doc for the forms).
pub fn resolve_kernel(arg: Option<&str>, cache: &CacheDir) -> Result<ResolvedKernel, ResolveError> {
    let store = Store::new(cache);
    let Some(arg) = arg.filter(|a| !a.is_empty()) else {
        let newest = store.list()?.into_iter().next();
        return newest
            .map(from_entry)
            .ok_or_else(|| ResolveError::NoneCached(store.root().to_path_buf()));
    };
    let path = Path::new(arg);
    if path.is_file() {
        return Ok(from_image(path));
    }
    if path.is_dir() {
        return from_dir(path);
    }
    if looks_like_key(arg) {
        return by_key(&store, arg);
    }
    Err(ResolveError::PathMissing(path.to_path_buf()))
}

/// Whether `.config` text enables sched_ext.
pub fn has_sched_ext(config_text: &str) -> bool {
    config_text
        .lines()
        .any(|l| l.trim() == "CONFIG_SCHED_CLASS_EXT=y")
}

/// The executable scheduler `name` (`scx_simple` or `simple`) of `k`.
pub fn find_scheduler(k: &ResolvedKernel, name: &str) -> Option<PathBuf> {
    let dir = k.schedulers_dir.as_ref()?;
    let names = [name.to_string(), format!("scx_{name}")];
    names.iter().map(|n| dir.join(n)).find(|p| is_executable(p))
}

fn looks_like_key(arg: &str) -> bool {
    !arg.is_empty() && arg.bytes().all(|b| b.is_ascii_hexdigit())
}

fn by_key(store: &Store, prefix: &str) -> Result<ResolvedKernel, ResolveError> {
    let prefix_lc = prefix.to_ascii_lowercase();
    let mut matches: Vec<Entry> = store
        .list()?
        .into_iter()
        .filter(|e| e.meta.key.starts_with(&prefix_lc))
        .collect();
    match matches.len() {
        0 => Err(ResolveError::UnknownKey {
            prefix: prefix.to_string(),
            cache: store.root().to_path_buf(),
        }),
        1 => Ok(from_entry(matches.remove(0))),
        _ => Err(ResolveError::AmbiguousKey {
            prefix: prefix.to_string(),
            matches: matches.into_iter().map(|e| e.meta.key).collect(),
        }),
    }
}

fn from_entry(e: Entry) -> ResolvedKernel {
    let config = Some(e.config()).filter(|p| p.is_file());
    let schedulers_dir = Some(e.schedulers_dir()).filter(|p| p.is_dir());
    ResolvedKernel {
        image: e.image(),
        config,
        schedulers_dir,
        key: Some(e.meta.key),
        version: Some(e.meta.version),
    }
}

fn from_dir(dir: &Path) -> Result<ResolvedKernel, ResolveError> {
    if let Some(entry) = Entry::load(dir)? {
        return Ok(from_entry(entry));
    }
    let image = dir.join("arch/x86/boot/bzImage");
    if image.is_file() {
        return Ok(from_image(&image));
    }
    Err(ResolveError::NotAKernelDir(dir.to_path_buf()))
}

/// An image file, with whatever its surroundings tell about it.
fn from_image(image: &Path) -> ResolvedKernel {
    let image = image.canonicalize().unwrap_or_else(|_| image.to_path_buf());
    if let Some(Ok(Some(entry))) = image.parent().map(Entry::load) {
        if entry.image() == image {
            return from_entry(entry);
        }
    }
    let tree = tree_of(&image);
    let config = tree
        .as_ref()
        .map(|t| t.join(".config"))
        .filter(|p| p.is_file());
    let schedulers_dir = tree
        .as_ref()
        .map(|t| t.join("tools/sched_ext/build/bin"))
        .filter(|p| p.is_dir());
    let version = tree
        .as_ref()
        .and_then(|t| fs::read_to_string(t.join("include/config/kernel.release")).ok())
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty());
    ResolvedKernel {
        image,
        config,
        schedulers_dir,
        key: None,
        version,
    }
}

/// `<tree>` for an image at `<tree>/arch/<arch>/boot/<file>`.
fn tree_of(image: &Path) -> Option<PathBuf> {
    let boot = image.parent()?;
    let arch_dir = boot.parent()?;
    let arch = arch_dir.parent()?;
    let tree = arch.parent()?;
    let shaped = boot.file_name()? == "boot" && arch.file_name()? == "arch";
    (shaped && tree.join("Makefile").is_file()).then(|| tree.to_path_buf())
}

#[cfg(test)]
#[path = "resolve_tests.rs"]
mod tests;
