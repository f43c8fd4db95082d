//! Where a payload command comes from, decided on the host.
//!
//! - `name` (no slash): looked up on the host `PATH` and shipped at the path
//!   it was found at (`stress-ng` -> `/usr/bin/stress-ng`), so it is on the
//!   guest `PATH` too.
//! - a path that exists on the host: shipped at its absolute path, or under
//!   [`HOST_FILES_DIR`] when the guest mounts a filesystem over it (`/tmp`).
//! - an absolute path that does not exist on the host: a guest path (e.g.
//!   `/bin/busybox`, or a file from `--include`), run as it is.
//!
//! Shipping follows a symlink to its target's bytes and brings an ELF's
//! shared-library closure. A `#!` script also ships its interpreter (and,
//! for `#!/usr/bin/env prog`, `prog`), so `exec -- ./test.sh` works.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::PayloadError;
use crate::include::Include;
use crate::which::which_in;

/// Where host files go whose own path the guest hides under a mount.
pub const HOST_FILES_DIR: &str = "/ktstr-vm/host";
/// Directories the guest owns at run time (kernel filesystems mounted by
/// guest-init `init/mounts.rs`, and /tmp and /run that the run writes to):
/// a file shipped there could be hidden or clobbered.
const GUEST_MOUNTS: &[&str] = &["/tmp", "/run", "/dev", "/proc", "/sys"];

/// A command as the guest will run it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The path the guest executes.
    pub guest_path: String,
    /// Host files to put into the guest for it (none for a guest path).
    pub shipped: Vec<Include>,
}

/// Resolves `command` (see the module doc).
pub fn locate(command: &str) -> Result<Located, PayloadError> {
    locate_in(command, std::env::var_os("PATH").as_deref())
}

fn locate_in(command: &str, path_var: Option<&std::ffi::OsStr>) -> Result<Located, PayloadError> {
    if command.is_empty() {
        return Err(PayloadError::Empty(String::new()));
    }
    let host = if command.contains('/') {
        let p = Path::new(command);
        if !p.exists() {
            if p.is_absolute() {
                return Ok(Located {
                    guest_path: command.to_string(),
                    shipped: Vec::new(),
                });
            }
            return Err(PayloadError::NotRunnable {
                path: command.to_string(),
                reason: "does not exist (a relative path must name a host file; guest paths start with '/')".into(),
            });
        }
        absolute(p)?
    } else {
        which_in(command, path_var).ok_or_else(|| PayloadError::NotFound {
            command: command.to_string(),
        })?
    };
    let mut shipped = vec![ship(&host)?];
    if let Some(interp) = interpreter(&host)? {
        for extra in interp {
            if !shipped.iter().any(|i| i.host == extra) {
                shipped.push(ship(&extra)?);
            }
        }
    }
    Ok(Located {
        guest_path: shipped[0].guest.clone(),
        shipped,
    })
}

/// The guest path for a shipped host file: the same, unless a guest mount
/// would hide it.
fn guest_path_for(host: &Path) -> Option<String> {
    let s = host.to_str()?;
    if GUEST_MOUNTS.iter().any(|m| host.starts_with(m)) {
        return Some(format!("{HOST_FILES_DIR}{s}"));
    }
    Some(s.to_string())
}

/// The host path made absolute (not canonical: a symlinked name stays the
/// name the user gave, its bytes are the target's).
fn absolute(p: &Path) -> Result<PathBuf, PayloadError> {
    std::path::absolute(p).map_err(|e| PayloadError::NotRunnable {
        path: p.display().to_string(),
        reason: e.to_string(),
    })
}

/// An include shipping `host` at the same path, after checking it can run.
fn ship(host: &Path) -> Result<Include, PayloadError> {
    let not = |reason: &str| PayloadError::NotRunnable {
        path: host.display().to_string(),
        reason: reason.to_string(),
    };
    let meta = std::fs::metadata(host).map_err(|e| not(&e.to_string()))?;
    if !meta.is_file() {
        return Err(not("is not a regular file"));
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return Err(not("is not executable (chmod +x it)"));
    }
    let guest = guest_path_for(host).ok_or_else(|| not("path is not valid UTF-8"))?;
    Ok(Include {
        host: host.to_path_buf(),
        guest,
    })
}

/// For a `#!` script, the host files its interpreter line needs; `None`
/// for an ELF. Anything else cannot run in the guest.
fn interpreter(host: &Path) -> Result<Option<Vec<PathBuf>>, PayloadError> {
    let not = |reason: String| PayloadError::NotRunnable {
        path: host.display().to_string(),
        reason,
    };
    let mut head = [0u8; 256];
    let n = std::fs::File::open(host)
        .and_then(|mut f| f.read(&mut head))
        .map_err(|e| not(e.to_string()))?;
    let head = &head[..n];
    if head.starts_with(b"\x7fELF") {
        return Ok(None);
    }
    if !head.starts_with(b"#!") {
        return Err(not("is neither an ELF executable nor a #! script".into()));
    }
    let line = head[2..].split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut words = line.split_whitespace();
    let Some(interp) = words.next() else {
        return Err(not("has an empty #! line".into()));
    };
    let mut files = Vec::new();
    let interp = Path::new(interp);
    if interp.exists() {
        files.push(interp.to_path_buf());
        if interp.file_name().is_some_and(|n| n == "env") {
            let prog = words.find(|w| !w.starts_with('-'));
            if let Some(p) = prog.and_then(crate::which::which) {
                files.push(p);
            }
        }
    }
    Ok(Some(files))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_exec(dir: &Path, name: &str, body: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    #[test]
    fn path_lookup_guest_paths_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let elf = std::fs::read("/bin/true").unwrap();
        let prog = write_exec(dir.path(), "prog", &elf);
        let path_var = std::ffi::OsString::from(dir.path());
        let found = locate_in("prog", Some(&path_var)).unwrap();
        assert!(
            found.guest_path.ends_with(prog.to_str().unwrap()),
            "{found:?}"
        );
        assert_eq!(found.shipped.len(), 1);
        assert!(matches!(
            locate_in("nope", Some(&path_var)),
            Err(PayloadError::NotFound { .. })
        ));

        let guest_only = locate_in("/no/such/guest/tool", None).unwrap();
        assert_eq!(guest_only.guest_path, "/no/such/guest/tool");
        assert!(guest_only.shipped.is_empty());
        assert!(locate_in("rel/missing", None).is_err());

        let text = dir.path().join("data.txt");
        std::fs::write(&text, "hello").unwrap();
        let err = locate_in(text.to_str().unwrap(), None).unwrap_err();
        assert!(err.to_string().contains("not executable"), "{err}");
        write_exec(dir.path(), "junk", b"hello");
        let err = locate_in("junk", Some(&path_var)).unwrap_err();
        assert!(err.to_string().contains("neither an ELF"), "{err}");
    }

    #[test]
    fn files_under_guest_mounts_move() {
        assert_eq!(
            guest_path_for(Path::new("/usr/bin/x")).unwrap(),
            "/usr/bin/x"
        );
        assert_eq!(
            guest_path_for(Path::new("/tmp/a/x")).unwrap(),
            "/ktstr-vm/host/tmp/a/x"
        );
        assert_eq!(guest_path_for(Path::new("/tmpfoo/x")).unwrap(), "/tmpfoo/x");
    }

    #[test]
    fn scripts_bring_their_interpreter() {
        let dir = tempfile::tempdir().unwrap();
        let s = write_exec(dir.path(), "t.sh", b"#!/bin/sh -e\necho hi\n");
        let found = locate_in(s.to_str().unwrap(), None).unwrap();
        let hosts: Vec<_> = found.shipped.iter().map(|i| i.host.clone()).collect();
        assert_eq!(hosts, [s.clone(), PathBuf::from("/bin/sh")]);
        // The guest mounts a tmpfs on /tmp: the script goes elsewhere.
        if s.starts_with("/tmp") {
            assert_eq!(found.guest_path, format!("{HOST_FILES_DIR}{}", s.display()));
        }
        // The guest runs /bin/sh from its own path, with the target's bytes.
        assert_eq!(found.shipped[1].guest, "/bin/sh");
    }
}
