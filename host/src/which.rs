//! Finding a program on the host `PATH`, the way a shell does: the first
//! executable file of that name in an absolute `PATH` directory. One lookup
//! for QEMU, schedulers and payloads.

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// `name` on this process's `PATH`.
pub fn which(name: &str) -> Option<PathBuf> {
    which_in(name, std::env::var_os("PATH").as_deref())
}

/// `name` on the `PATH` given as `path_var`.
pub fn which_in(name: &str, path_var: Option<&OsStr>) -> Option<PathBuf> {
    std::env::split_paths(path_var?)
        .map(|d| d.join(name))
        .filter(|p| p.is_absolute())
        .find(|p| is_executable(p))
}

/// A regular file with an execute bit.
pub fn is_executable(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_executables_in_order_and_skips_the_rest() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let write = |dir: &Path, mode: u32| {
            let p = dir.join("tool");
            std::fs::write(&p, "x").unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
            p
        };
        write(a.path(), 0o644);
        let good = write(b.path(), 0o755);
        let path = std::env::join_paths(["relative/dir".as_ref(), a.path(), b.path()]).unwrap();
        assert_eq!(which_in("tool", Some(&path)), Some(good));
        assert_eq!(which_in("missing", Some(&path)), None);
        assert_eq!(which_in("tool", None), None);
    }
}
