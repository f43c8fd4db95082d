//! Downloads a kernel.org release tarball into `<cache>/downloads/`,
//! verified, once.
//!
//! - "Newest patch of a series" comes from `releases.json`, or from the
//!   `v6.x/` listing when that does not name the series (an end-of-life
//!   one) or the mirror has no `releases.json`.
//! - The tarball streams to `.NAME.part` while its sha256 is computed, and
//!   is renamed to its real name only after the length and the checksum
//!   from `sha256sums.asc` matched. A killed or failed download leaves at
//!   most the `.part` file, which nothing trusts and the next download
//!   (or `kernel clean`) removes. Only the checksum list is checked: the
//!   PGP signature around it is not verified.
//! - One download per file at a time (a lock); a second process waits and
//!   then uses the first one's file.

use std::fs::{self, File};
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};

use super::http::{Body, Http, HttpError};
use super::key::hex;
use super::lock::{self, LockError};
use super::release::{self, Mirror, Release, VersionRequest};
use crate::cache_dir::CacheDir;

/// How often a non-terminal gets a progress line.
const PLAIN_INTERVAL: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("kernel {version}: {source}")]
    Http { version: String, source: HttpError },
    #[error("kernel {version} does not exist: {url} answered 404 Not Found (check the version; --version {series} takes the newest {series}.x)")]
    NoSuchVersion {
        version: String,
        url: String,
        series: String,
    },
    #[error(
        "kernel {series}: no {series}.x release in {releases} or {listing} (check the version)"
    )]
    NoSuchSeries {
        series: String,
        releases: String,
        listing: String,
    },
    #[error("kernel {version}: the download of {url} was cut short at {got} of {expected} bytes; nothing was kept, run again")]
    Truncated {
        version: String,
        url: String,
        got: u64,
        expected: u64,
    },
    #[error("kernel {version}: {url} has sha256 {actual} but {sums_url} lists {expected}; the download was deleted (a corrupt transfer or mirror: run again or use another --mirror)")]
    Checksum {
        version: String,
        url: String,
        sums_url: String,
        expected: String,
        actual: String,
    },
    #[error("kernel {version}: {sums_url} does not list {file} (an inconsistent mirror: try another --mirror)")]
    NotInSums {
        version: String,
        file: String,
        sums_url: String,
    },
    #[error("kernel download {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Lock(#[from] LockError),
}

impl crate::exit::ExitClass for DownloadError {
    /// A version that does not exist is the user's to fix; everything else
    /// is the network, the mirror or the disk.
    fn exit_code(&self) -> crate::exit::ExitCode {
        use crate::exit::ExitCode;
        match self {
            DownloadError::NoSuchVersion { .. } | DownloadError::NoSuchSeries { .. } => {
                ExitCode::Usage
            }
            _ => ExitCode::Environment,
        }
    }
}

/// An HTTP failure, with the version it was for.
fn http_err(version: &dyn std::fmt::Display, source: HttpError) -> DownloadError {
    DownloadError::Http {
        version: version.to_string(),
        source,
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DownloadError + '_ {
    move |source| DownloadError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Where downloaded tarballs live: `<cache>/downloads/v6.x/linux-6.13.2.tar.xz`.
pub fn tarball_path(cache: &CacheDir, r: &Release) -> PathBuf {
    downloads_dir(cache).join(r.dir()).join(r.tarball_name())
}

pub fn downloads_dir(cache: &CacheDir) -> PathBuf {
    cache.root().join("downloads")
}

/// The release `request` names: itself, or the newest of its series
/// according to the mirror.
pub fn resolve(
    request: VersionRequest,
    mirror: &Mirror,
    http: &Http,
) -> Result<Release, DownloadError> {
    let (major, minor) = match request {
        VersionRequest::Exact(r) => return Ok(r),
        VersionRequest::Series { major, minor } => (major, minor),
    };
    let releases_url = mirror.releases_url();
    // A mirror without releases.json (404) falls through to the listing.
    let listed = http
        .get_text(&releases_url)
        .map_err(|e| http_err(&request, e))?
        .and_then(|t| release::parse_releases_json(&t))
        .unwrap_or_default();
    if let Some(r) = release::newest_in(&listed, major, minor) {
        return Ok(r);
    }
    let listing_url = mirror.dir_url(major);
    let in_listing = http
        .get_text(&listing_url)
        .map_err(|e| http_err(&request, e))?
        .map(|t| release::parse_listing(&t))
        .unwrap_or_default();
    release::newest_in(&in_listing, major, minor).ok_or_else(|| DownloadError::NoSuchSeries {
        series: format!("{major}.{minor}"),
        releases: releases_url,
        listing: listing_url,
    })
}

/// The verified tarball of `r`, downloaded first when not in the cache.
pub fn tarball(
    r: &Release,
    mirror: &Mirror,
    cache: &CacheDir,
    http: &Http,
) -> Result<PathBuf, DownloadError> {
    let dest = tarball_path(cache, r);
    if dest.is_file() {
        return Ok(dest);
    }
    let dir = dest.parent().unwrap_or(Path::new("."));
    let lock_path = downloads_dir(cache)
        .join(".locks")
        .join(format!("{}.lock", r.tarball_name()));
    let what = format!("downloading {}", r.tarball_name());
    let _lock = lock::acquire(&lock_path, lock::Mode::Exclusive, &what, &|m| {
        eprintln!("{m}")
    })?;
    if dest.is_file() {
        return Ok(dest);
    }
    fs::create_dir_all(dir).map_err(io(dir))?;
    let sums_url = mirror.sums_url(r.major);
    let sums = http
        .get_text(&sums_url)
        .map_err(|e| http_err(r, e))?
        .map(|t| release::parse_sha256sums(&t));
    let url = mirror.tarball_url(r);
    // The tarball's 404 says more than its absence from the list.
    let Some(body) = http.get(&url).map_err(|e| http_err(r, e))? else {
        return Err(DownloadError::NoSuchVersion {
            version: r.to_string(),
            url,
            series: format!("{}.{}", r.major, r.minor),
        });
    };
    let expected =
        match &sums {
            None => {
                eprintln!(
                    "warning: {sums_url} does not exist: {} is checked for length only",
                    r.tarball_name()
                );
                None
            }
            Some(sums) => Some(sums.get(&r.tarball_name()).cloned().ok_or_else(|| {
                DownloadError::NotInSums {
                    version: r.to_string(),
                    file: r.tarball_name(),
                    sums_url: sums_url.clone(),
                }
            })?),
        };
    let part = dir.join(format!(".{}.part", r.tarball_name()));
    let result = stream_to(&url, r, body, &part).and_then(|actual| match &expected {
        Some(want) if *want != actual => Err(DownloadError::Checksum {
            version: r.to_string(),
            url: url.clone(),
            sums_url: sums_url.clone(),
            expected: want.clone(),
            actual,
        }),
        _ => Ok(actual),
    });
    let sha = match result {
        Ok(sha) => sha,
        Err(e) => {
            let _ = fs::remove_file(&part);
            return Err(e);
        }
    };
    match &expected {
        Some(_) => eprintln!("sha256 matches {sums_url}"),
        None => eprintln!("sha256 {sha} (not checked: no checksum list)"),
    }
    fs::rename(&part, &dest).map_err(io(&dest))?;
    super::source::remember_sha256(&dest, &sha, &cache.kernels());
    Ok(dest)
}

/// Streams `body` into `part` (created or truncated, synced to disk),
/// showing progress; returns the sha256 of what arrived.
fn stream_to(url: &str, r: &Release, body: Body, part: &Path) -> Result<String, DownloadError> {
    let mut file = File::create(part).map_err(io(part))?;
    let mut meter = Meter::new(url, body.length);
    let mut hasher = Sha256::new();
    let mut reader = body.reader;
    let mut buf = vec![0u8; 1 << 20];
    let mut got: u64 = 0;
    let cut_short = |got| DownloadError::Truncated {
        version: r.to_string(),
        url: url.to_string(),
        got,
        expected: body.length.unwrap_or(0),
    };
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) if body.length.is_some_and(|len| got < len) => return Err(cut_short(got)),
            Err(e) => {
                let source = HttpError::Read {
                    url: url.to_string(),
                    detail: format!("{e} after {got} bytes"),
                };
                return Err(http_err(r, source));
            }
        };
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n]).map_err(io(part))?;
        got += n as u64;
        meter.update(got);
    }
    if body.length.is_some_and(|len| got != len) {
        return Err(cut_short(got));
    }
    file.sync_all().map_err(io(part))?;
    meter.finish(got);
    Ok(hex(&hasher.finalize()))
}

/// Download progress: a bar with bytes, rate and ETA on a terminal, a
/// line every few seconds elsewhere, and a summary line at the end.
struct Meter {
    bar: Option<ProgressBar>,
    url: String,
    total: Option<u64>,
    started: Instant,
    last_line: Instant,
}

impl Meter {
    fn new(url: &str, total: Option<u64>) -> Meter {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total.unwrap_or(0));
            let template =
                "downloading {msg} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}";
            bar.set_style(ProgressStyle::with_template(template).expect("valid template"));
            bar.set_message(url.rsplit('/').next().unwrap_or(url).to_string());
            bar
        });
        if bar.is_none() {
            eprintln!("downloading {url} ({})", mb(total));
        }
        Meter {
            bar,
            url: url.to_string(),
            total,
            started: Instant::now(),
            last_line: Instant::now(),
        }
    }

    fn update(&mut self, got: u64) {
        match &self.bar {
            Some(bar) => bar.set_position(got),
            None if self.last_line.elapsed() >= PLAIN_INTERVAL => {
                self.last_line = Instant::now();
                eprintln!(
                    "  {} of {} ({}/s)",
                    mb(Some(got)),
                    mb(self.total),
                    mb(Some(self.rate(got)))
                );
            }
            None => {}
        }
    }

    fn rate(&self, got: u64) -> u64 {
        (got as f64 / self.started.elapsed().as_secs_f64().max(1e-3)) as u64
    }

    fn finish(&self, got: u64) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        eprintln!(
            "downloaded {}: {} in {:.1} s ({}/s)",
            self.url,
            mb(Some(got)),
            self.started.elapsed().as_secs_f64(),
            mb(Some(self.rate(got)))
        );
    }
}

fn mb(bytes: Option<u64>) -> String {
    match bytes {
        Some(b) => format!("{:.1} MB", b as f64 / 1e6),
        None => "size unknown".into(),
    }
}
