//! Where a kernel source comes from: a tree or tarball on this machine, a
//! kernel.org release, or a git ref. [`Origin::acquire`] brings it into the
//! cache when needed and returns the [`Source`] to build.
//!
//! A downloaded tarball is identified like a local one, by the sha256 of
//! its bytes: the same bytes give the same cache key however they arrived.

use std::path::PathBuf;

use super::download::{self, DownloadError};
use super::git_fetch::{GitFetchError, GitRef};
use super::http::Http;
use super::release::{Mirror, Release, VersionRequest};
use super::source::{self, Source, SourceError};
use crate::cache_dir::CacheDir;

#[derive(Debug, thiserror::Error)]
pub enum OriginError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Download(#[from] DownloadError),
    #[error(transparent)]
    Git(#[from] GitFetchError),
}

impl crate::exit::ExitClass for OriginError {
    fn exit_code(&self) -> crate::exit::ExitCode {
        match self {
            OriginError::Source(e) => e.exit_code(),
            OriginError::Download(e) => e.exit_code(),
            OriginError::Git(e) => e.exit_code(),
        }
    }
}

/// A kernel source, as the user named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A tree or tarball on this machine; `None` = [`source::DEFAULT_TARBALL`].
    Local(Option<PathBuf>),
    /// A release tarball from a kernel.org-layout mirror.
    Release {
        version: VersionRequest,
        mirror: Mirror,
    },
    /// A ref of a git repository (`git+URL#REF`).
    Git(GitRef),
}

impl Default for Origin {
    fn default() -> Origin {
        Origin::Local(None)
    }
}

impl Origin {
    /// The source to build, fetched into the cache first when it is remote.
    pub fn acquire(&self, cache: &CacheDir) -> Result<Source, OriginError> {
        match self {
            Origin::Local(path) => Ok(source::identify(path.as_deref(), cache)?),
            Origin::Release { version, mirror } => {
                let http = Http::new();
                let release = download::resolve(*version, mirror, &http)?;
                if matches!(version, VersionRequest::Series { .. }) {
                    eprintln!("kernel {version}: newest release is {release}");
                }
                release_source(&release, mirror, cache, &http)
            }
            Origin::Git(r) => {
                let commit = r.resolve()?;
                Ok(r.source(&commit, cache)?)
            }
        }
    }
}

/// The downloaded (or already cached) tarball of `release`, identified.
fn release_source(
    release: &Release,
    mirror: &Mirror,
    cache: &CacheDir,
    http: &Http,
) -> Result<Source, OriginError> {
    let tarball = download::tarball(release, mirror, cache, http)?;
    let mut src = source::identify(Some(&tarball), cache)?;
    src.label = Some(format!(
        "kernel.org release {release} ({})",
        mirror.tarball_url(release)
    ));
    Ok(src)
}
