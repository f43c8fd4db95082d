//! User files (`--include HOST[:GUEST]`): one file, or a directory copied
//! recursively with its modes and symlinks. A dynamic executable among them
//! brings its shared-library closure, so an included tool runs in the guest
//! as it does on the host.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::archive::{ArchiveError, Initramfs};
use crate::closure::{ResolvedLib, Resolver};
use crate::elf::ElfInfo;

impl Initramfs {
    /// Adds `host` at `guest`. The top-level path is followed if it is a
    /// symlink (the user named what it points to); symlinks inside a
    /// directory are kept as symlinks. Returns the libraries added for
    /// dynamic executables.
    pub fn add_include(
        &mut self,
        guest: &str,
        host: &Path,
    ) -> Result<Vec<ResolvedLib>, ArchiveError> {
        let resolver = Resolver::system();
        let mut libs = Vec::new();
        let meta = std::fs::metadata(host).map_err(|source| read_err(host, source))?;
        self.include(&resolver, guest, host, &meta, &mut libs)?;
        Ok(libs)
    }

    fn include(
        &mut self,
        resolver: &Resolver,
        guest: &str,
        host: &Path,
        meta: &std::fs::Metadata,
        libs: &mut Vec<ResolvedLib>,
    ) -> Result<(), ArchiveError> {
        let kind = meta.file_type();
        let mode = meta.permissions().mode();
        if kind.is_symlink() {
            let target = std::fs::read_link(host).map_err(|source| read_err(host, source))?;
            let target = target.to_str().ok_or_else(|| ArchiveError::BadGuestPath {
                path: target.to_string_lossy().into_owned(),
                reason: "symlink target is not valid UTF-8",
            })?;
            return self.add_symlink(guest, target);
        }
        if kind.is_dir() {
            self.add_dir(guest, mode)?;
            let mut children: Vec<_> = std::fs::read_dir(host)
                .map_err(|source| read_err(host, source))?
                .collect::<Result<_, _>>()
                .map_err(|source| read_err(host, source))?;
            children.sort_by_key(|c| c.file_name());
            for child in children {
                let name = child.file_name();
                let name = name.to_str().ok_or_else(|| ArchiveError::BadGuestPath {
                    path: child.path().to_string_lossy().into_owned(),
                    reason: "file name is not valid UTF-8",
                })?;
                let path = child.path();
                let meta =
                    std::fs::symlink_metadata(&path).map_err(|source| read_err(&path, source))?;
                let child_guest = format!("{}/{name}", guest.trim_end_matches('/'));
                self.include(resolver, &child_guest, &path, &meta, libs)?;
            }
            return Ok(());
        }
        if !kind.is_file() {
            return Err(ArchiveError::Unsupported {
                path: host.to_owned(),
            });
        }
        self.add_file(guest, host)?;
        if mode & 0o111 != 0 && is_dynamic_elf(host) {
            let closure = resolver.closure(host, Path::new(guest))?;
            self.add_closure(&closure)?;
            libs.extend(closure.iter().cloned());
        }
        Ok(())
    }
}

/// An executable the loader must start: it has an interpreter or needs
/// libraries. Anything unreadable or not ELF is just a file.
fn is_dynamic_elf(path: &Path) -> bool {
    ElfInfo::read(path).is_ok_and(|i| i.interpreter.is_some() || !i.needed.is_empty())
}

fn read_err(path: &Path, source: std::io::Error) -> ArchiveError {
    ArchiveError::Read {
        path: path.to_owned(),
        source,
    }
}
