//! Turns a `--kernel` argument into an image and what goes with it. The
//! forms are parsed by [`super::spec`]; here each finds its kernel:
//!
//! - An existing file: that image. When it sits in a kernel tree
//!   (`<tree>/arch/<arch>/boot/bzImage`) the tree's `.config` and
//!   `tools/sched_ext/build/bin` come with it; when it sits in a cache
//!   entry, the entry's files do.
//! - An existing directory: a kernel tree (its `arch/x86/boot/bzImage`) or a
//!   cache entry.
//! - A version (`6.12.117`, `6.13`, `+debug`): a cached entry of that
//!   version and variant built from this binary's fragments, from any
//!   source (a Debian tarball's 6.12.117 counts), before any network
//!   access; for a series, the newest cached patch of it. Only when none is
//!   cached is the release downloaded (`$KTSTR_VM_KERNEL_MIRROR` or
//!   kernel.org) and built, once.
//! - `git+URL#REF`: the ref is resolved to a commit (no network for a full
//!   commit id), and that commit's entry is used, or built.
//! - Hex digits: a cache key or a unique key prefix.
//! - Nothing: the newest cached kernel of the default variant.

use crate::which::is_executable;
use std::fs;
use std::path::{Path, PathBuf};

use super::build::{build, BuildError, BuildRequest};
use super::git_fetch::{GitFetchError, GitRef};
use super::key::{cache_key, fragments_digest};
use super::origin::Origin;
use super::release::{Mirror, Release, VersionRequest};
use super::spec::{self, KernelSpec, SpecError};
use super::store::{Entry, Store, StoreError};
use super::variant::Variant;
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
    #[error("no kernel in the cache ({}): build one with `ktstr-vm kernel build` (or ci/build-kernel.sh), or pass --kernel <bzImage|VERSION|git+URL#REF>", .0.display())]
    NoneCached(PathBuf),
    #[error(transparent)]
    Spec(#[from] SpecError),
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
    #[error(transparent)]
    Git(#[from] GitFetchError),
    #[error(transparent)]
    Build(Box<BuildError>),
}

impl From<BuildError> for ResolveError {
    fn from(e: BuildError) -> ResolveError {
        ResolveError::Build(Box::new(e))
    }
}

impl crate::exit::ExitClass for ResolveError {
    /// A kernel that is not there or does not build cannot be tested; a
    /// malformed name is a usage error; the network and disk are environment.
    fn exit_code(&self) -> crate::exit::ExitCode {
        use crate::exit::ExitCode;
        match self {
            ResolveError::Spec(e) => e.exit_code(),
            ResolveError::Git(e) => e.exit_code(),
            ResolveError::Build(e) => e.exit_code(),
            ResolveError::Store(_) => ExitCode::Environment,
            ResolveError::AmbiguousKey { .. } => ExitCode::Usage,
            ResolveError::NoneCached(_)
            | ResolveError::NotAKernelDir(_)
            | ResolveError::UnknownKey { .. } => ExitCode::CannotTest,
        }
    }
}

/// Resolves `--kernel` (see the module doc for the forms), building a
/// version or git ref that is not cached yet.
pub fn resolve_kernel(arg: Option<&str>, cache: &CacheDir) -> Result<ResolvedKernel, ResolveError> {
    let store = Store::new(cache);
    match spec::parse(arg)? {
        KernelSpec::Newest => newest(&store)
            .map(from_entry)
            .ok_or_else(|| ResolveError::NoneCached(store.root().to_path_buf())),
        KernelSpec::Path(path) if path.is_dir() => from_dir(&path),
        KernelSpec::Path(path) => Ok(from_image(&path)),
        KernelSpec::Key(prefix) => by_key(&store, &prefix),
        KernelSpec::Version { version, variant } => {
            if let Some(e) = cached_version(&store, version, variant)? {
                return Ok(from_entry(e));
            }
            let origin = Origin::Release {
                version,
                mirror: Mirror::choose(None),
            };
            built(origin, variant, cache)
        }
        KernelSpec::Git { git, variant } => by_git(&git, variant, cache),
    }
}

/// The newest entry of the default variant, else the newest of any.
fn newest(store: &Store) -> Option<Entry> {
    let all = store.list().ok()?;
    let default = all
        .iter()
        .find(|e| e.meta.variant == super::variant::DEFAULT)
        .cloned();
    default.or_else(|| all.into_iter().next())
}

/// The cached entry for `version` and `variant` built from this binary's
/// fragments (any source); for a series, the one with the newest patch.
pub fn cached_version(
    store: &Store,
    version: VersionRequest,
    variant: Variant,
) -> Result<Option<Entry>, StoreError> {
    let digest = fragments_digest(&variant.fragments());
    let release_of = |e: &Entry| match e.meta.version.parse::<VersionRequest>() {
        Ok(VersionRequest::Exact(r)) => Some(r),
        _ => None,
    };
    let wanted = |r: Release| match version {
        VersionRequest::Exact(want) => r == want,
        VersionRequest::Series { major, minor } => r.in_series(major, minor),
    };
    Ok(store
        .list()?
        .into_iter()
        .filter(|e| e.meta.variant == variant.name() && e.meta.fragments_sha256 == digest)
        .filter_map(|e| release_of(&e).filter(|r| wanted(*r)).map(|r| (r, e)))
        .max_by(|(a, ea), (b, eb)| a.cmp(b).then(ea.meta.built_at.cmp(&eb.meta.built_at)))
        .map(|(_, e)| e))
}

/// The entry of the commit `git` names now, built when missing.
fn by_git(
    git: &GitRef,
    variant: Variant,
    cache: &CacheDir,
) -> Result<ResolvedKernel, ResolveError> {
    let commit = git.resolve()?;
    let key = cache_key(&format!("git:{commit}"), &variant.fragments());
    if let Some(e) = Store::new(cache).get(&key)? {
        return Ok(from_entry(e));
    }
    built(Origin::Git(git.clone()), variant, cache)
}

fn built(
    origin: Origin,
    variant: Variant,
    cache: &CacheDir,
) -> Result<ResolvedKernel, ResolveError> {
    let req = BuildRequest {
        origin,
        variant,
        ..BuildRequest::default()
    };
    Ok(from_entry(build(&req, cache)?.entry().clone()))
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
