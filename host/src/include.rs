//! Host files copied into the guest: `--include HOST[:GUEST]`, shipped
//! payload binaries and their interpreters, busybox for `exec`/`shell`.
//! A leaf: the plan, payloads and the initramfs builder all speak it.

use std::path::{Component, Path, PathBuf};

use crate::exit::{ExitClass, ExitCode};

/// A host file (or directory) and where it goes in the guest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Include {
    pub host: PathBuf,
    /// Absolute, without `.` or `..` components.
    pub guest: String,
}

/// A `--include` that cannot be honoured (exit 129: fix the flag).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IncludeError {
    #[error("--include {arg:?}: {host} does not exist")]
    Missing { arg: String, host: PathBuf },
    #[error("--include {arg:?}: the guest path {guest:?} would leave the guest's root; write an absolute path without '..'")]
    Escapes { arg: String, guest: String },
}

impl ExitClass for IncludeError {
    fn exit_code(&self) -> ExitCode {
        ExitCode::Usage
    }
}

/// Parses `HOST[:GUEST]`. GUEST defaults to the host path; a relative
/// GUEST is taken from the guest's root.
pub fn parse_include(arg: &str) -> Result<Include, IncludeError> {
    let (host, guest) = match arg.split_once(':') {
        Some((h, g)) => (h, g.to_string()),
        None => (arg, arg.to_string()),
    };
    let host = PathBuf::from(host);
    if !host.exists() {
        return Err(IncludeError::Missing {
            arg: arg.into(),
            host,
        });
    }
    let guest = if guest.starts_with('/') {
        guest
    } else {
        format!("/{}", guest.trim_start_matches("./"))
    };
    let mut parts = Vec::new();
    for c in Path::new(&guest).components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::ParentDir | Component::Prefix(_) => parts.clear(),
        }
        if c == Component::ParentDir {
            return Err(IncludeError::Escapes {
                arg: arg.into(),
                guest,
            });
        }
    }
    if parts.is_empty() {
        return Err(IncludeError::Escapes {
            arg: arg.into(),
            guest,
        });
    }
    Ok(Include {
        host,
        guest: format!("/{}", parts.join("/")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_guest_paths() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, "x").unwrap();
        let s = f.display().to_string();
        let guest = |arg: &str| parse_include(arg).map(|i| i.guest);
        assert_eq!(guest(&s), Ok(s.clone()));
        assert_eq!(guest(&format!("{s}:/opt/f")), Ok("/opt/f".into()));
        assert_eq!(guest(&format!("{s}:opt/f")), Ok("/opt/f".into()));
        assert_eq!(guest(&format!("{s}:./opt/f")), Ok("/opt/f".into()));
        assert_eq!(guest(&format!("{s}:/opt/./f")), Ok("/opt/f".into()));
        assert_eq!(guest(&format!("{s}://opt//f")), Ok("/opt/f".into()));
        for bad in ["/../etc/passwd", "a/../../x", "/", "/opt/.."] {
            assert!(
                matches!(
                    parse_include(&format!("{s}:{bad}")),
                    Err(IncludeError::Escapes { .. })
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            parse_include("/no/such/file"),
            Err(IncludeError::Missing { .. })
        ));
    }
}
