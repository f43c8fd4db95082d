//! Where ktstr-vm keeps built kernels and cached initramfs parts.
//!
//! Order: `--cache-dir`, then `$KTSTR_VM_CACHE_DIR`, then the XDG cache dir
//! (`$XDG_CACHE_HOME/ktstr-vm`, usually `~/.cache/ktstr-vm`). CI caches this
//! one directory between jobs.

use std::path::{Path, PathBuf};

/// Environment variable that overrides the cache location.
pub const CACHE_ENV: &str = "KTSTR_VM_CACHE_DIR";

#[derive(Debug, thiserror::Error)]
pub enum CacheDirError {
    #[error("no cache directory: set ${CACHE_ENV} or --cache-dir (no home directory found)")]
    NoHome,
}

impl crate::exit::ExitClass for CacheDirError {
    fn exit_code(&self) -> crate::exit::ExitCode {
        crate::exit::ExitCode::Environment
    }
}

/// The resolved cache root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheDir {
    root: PathBuf,
}

impl CacheDir {
    /// Resolves the cache root from the flag, the environment, then XDG.
    pub fn resolve(flag: Option<&Path>) -> Result<CacheDir, CacheDirError> {
        let from_env = std::env::var_os(CACHE_ENV).filter(|v| !v.is_empty());
        let root = match (flag, from_env) {
            (Some(p), _) => p.to_path_buf(),
            (None, Some(v)) => PathBuf::from(v),
            (None, None) => directories::ProjectDirs::from("", "", "ktstr-vm")
                .ok_or(CacheDirError::NoHome)?
                .cache_dir()
                .to_path_buf(),
        };
        Ok(CacheDir { root })
    }

    /// A cache rooted at `root` (tests).
    pub fn at(root: impl Into<PathBuf>) -> CacheDir {
        CacheDir { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Built kernels, one directory per cache key.
    pub fn kernels(&self) -> PathBuf {
        self.root.join("kernels")
    }

    /// Extracted kernel source trees, reused between builds.
    pub fn sources(&self) -> PathBuf {
        self.root.join("src")
    }

    /// Cached initramfs parts.
    pub fn initramfs(&self) -> PathBuf {
        self.root.join("initramfs")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_wins_and_subdirs_hang_off_root() {
        let c = CacheDir::resolve(Some(Path::new("/x/y"))).unwrap();
        assert_eq!(c.root(), Path::new("/x/y"));
        assert_eq!(c.kernels(), Path::new("/x/y/kernels"));
        assert_eq!(c.initramfs(), Path::new("/x/y/initramfs"));
    }
}
