//! kernel.org releases: version numbers, the mirror layout, and the three
//! files read from a mirror (`releases.json`, the `v6.x/` directory listing
//! and `sha256sums.asc`). Pure parsing here; [`super::download`] fetches.
//!
//! Layout under a base URL (kernel.org's `https://cdn.kernel.org/pub/linux/kernel`
//! or a mirror of it): `v6.x/linux-6.13.2.tar.xz`, `v6.x/sha256sums.asc`.
//! `releases.json` lists the newest patch of each maintained series; it is
//! read from `https://www.kernel.org/releases.json` for kernel.org and from
//! `<base>/releases.json` for a mirror.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// kernel.org's tarball tree.
pub const DEFAULT_MIRROR: &str = "https://cdn.kernel.org/pub/linux/kernel";
/// Where kernel.org publishes `releases.json` (not under the tarball tree).
pub const KERNEL_ORG_RELEASES: &str = "https://www.kernel.org/releases.json";
/// Overrides the mirror when `--mirror` is not given.
pub const MIRROR_ENV: &str = "KTSTR_VM_KERNEL_MIRROR";

/// A released kernel: `6.13.2`, or `6.13` for the first release of a
/// series (patch 0, named without it, as kernel.org does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Release {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

/// What the user asked for: one release, or the newest of a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionRequest {
    /// `6.13.2`
    Exact(Release),
    /// `6.13`: the newest `6.13.x` the mirror has.
    Series { major: u32, minor: u32 },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a kernel version: want MAJOR.MINOR (newest patch, e.g. 6.13) or MAJOR.MINOR.PATCH (e.g. 6.13.2)")]
pub struct VersionError {
    pub text: String,
}

impl crate::exit::ExitClass for VersionError {
    fn exit_code(&self) -> crate::exit::ExitCode {
        crate::exit::ExitCode::Usage
    }
}

impl Release {
    /// The tarball's file name: `linux-6.13.2.tar.xz`, `linux-6.13.tar.xz`.
    pub fn tarball_name(&self) -> String {
        format!("linux-{self}.tar.xz")
    }

    /// The directory under the base URL: `v6.x`.
    pub fn dir(&self) -> String {
        format!("v{}.x", self.major)
    }

    /// `uname -r` of a plain build of it: `6.13.2`, `6.13.0`.
    pub fn uname(&self) -> String {
        format!("{}.{}.{}", self.major, self.minor, self.patch)
    }

    pub fn in_series(&self, major: u32, minor: u32) -> bool {
        (self.major, self.minor) == (major, minor)
    }
}

impl fmt::Display for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.patch {
            0 => write!(f, "{}.{}", self.major, self.minor),
            p => write!(f, "{}.{}.{p}", self.major, self.minor),
        }
    }
}

impl fmt::Display for VersionRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VersionRequest::Exact(r) => write!(f, "{r}"),
            VersionRequest::Series { major, minor } => write!(f, "{major}.{minor}"),
        }
    }
}

/// Digits only, no sign, no leading `+`; at most 9 of them (fits u32).
fn number(s: &str) -> Option<u32> {
    let ok = !s.is_empty() && s.len() <= 9 && s.bytes().all(|b| b.is_ascii_digit());
    ok.then(|| s.parse().ok()).flatten()
}

impl FromStr for VersionRequest {
    type Err = VersionError;

    fn from_str(s: &str) -> Result<VersionRequest, VersionError> {
        let err = || VersionError {
            text: s.to_string(),
        };
        let parts: Vec<Option<u32>> = s.split('.').map(number).collect();
        match parts.as_slice() {
            [Some(major), Some(minor)] => Ok(VersionRequest::Series {
                major: *major,
                minor: *minor,
            }),
            [Some(major), Some(minor), Some(patch)] => Ok(VersionRequest::Exact(Release {
                major: *major,
                minor: *minor,
                patch: *patch,
            })),
            _ => Err(err()),
        }
    }
}

/// `linux-6.13.2.tar.xz` -> 6.13.2; anything else (rc, patches, signatures) -> None.
pub fn parse_tarball_name(name: &str) -> Option<Release> {
    let version = name.strip_prefix("linux-")?.strip_suffix(".tar.xz")?;
    match version.parse().ok()? {
        VersionRequest::Exact(r) => Some(r),
        VersionRequest::Series { major, minor } => Some(Release {
            major,
            minor,
            patch: 0,
        }),
    }
}

/// Every release version `releases.json` lists (mainline rcs, linux-next
/// and malformed entries are left out). `None` when it is not that JSON.
pub fn parse_releases_json(text: &str) -> Option<Vec<Release>> {
    #[derive(serde::Deserialize)]
    struct File {
        releases: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        version: String,
    }
    let file: File = serde_json::from_str(text).ok()?;
    Some(
        file.releases
            .iter()
            .filter_map(|e| parse_tarball_name(&format!("linux-{}.tar.xz", e.version)))
            .collect(),
    )
}

/// The tarballs an HTML directory listing links to (the `href`s of an
/// autoindex page such as kernel.org's `v6.x/`).
pub fn parse_listing(html: &str) -> Vec<Release> {
    let mut found = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find("href=\"") {
        rest = &rest[i + 6..];
        let Some(end) = rest.find('"') else { break };
        let target = &rest[..end];
        let name = target.rsplit('/').next().unwrap_or(target);
        if let Some(r) = parse_tarball_name(name) {
            found.push(r);
        }
        rest = &rest[end..];
    }
    found
}

/// `sha256sums.asc`: file name -> sha256 (lower-case hex). The PGP
/// armour and signature around the list are skipped, and a dash-escaped
/// line (`- text`) is read as its text. The signature is NOT verified.
pub fn parse_sha256sums(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| {
            let line = line.strip_prefix("- ").unwrap_or(line).trim();
            let (hash, name) = line.split_once(char::is_whitespace)?;
            let name = name.trim_start().trim_start_matches('*');
            let is_hash = hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit());
            (is_hash && !name.is_empty() && !name.contains(char::is_whitespace))
                .then(|| (name.to_string(), hash.to_ascii_lowercase()))
        })
        .collect()
}

/// The newest release of `major.minor` among `candidates`.
pub fn newest_in(candidates: &[Release], major: u32, minor: u32) -> Option<Release> {
    candidates
        .iter()
        .filter(|r| r.in_series(major, minor))
        .max_by(|a, b| a.cmp(b).then(Ordering::Equal))
        .copied()
}

/// A base URL that holds `v6.x/` directories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    base: String,
}

impl Mirror {
    /// `--mirror`, else `$KTSTR_VM_KERNEL_MIRROR`, else kernel.org.
    pub fn choose(flag: Option<&str>) -> Mirror {
        let env = std::env::var(MIRROR_ENV).ok().filter(|v| !v.is_empty());
        Mirror::new(
            flag.map(str::to_string)
                .or(env)
                .as_deref()
                .unwrap_or(DEFAULT_MIRROR),
        )
    }

    pub fn new(base: &str) -> Mirror {
        Mirror {
            base: base.trim_end_matches('/').to_string(),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn dir_url(&self, major: u32) -> String {
        format!("{}/v{major}.x/", self.base)
    }

    pub fn tarball_url(&self, r: &Release) -> String {
        format!("{}{}", self.dir_url(r.major), r.tarball_name())
    }

    pub fn sums_url(&self, major: u32) -> String {
        format!("{}sha256sums.asc", self.dir_url(major))
    }

    pub fn releases_url(&self) -> String {
        if self.base == DEFAULT_MIRROR {
            KERNEL_ORG_RELEASES.to_string()
        } else {
            format!("{}/releases.json", self.base)
        }
    }
}

#[cfg(test)]
#[path = "release_tests.rs"]
mod tests;
