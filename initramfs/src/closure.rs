//! The shared-library closure of a binary, resolved the way glibc's loader
//! does it (`elf/dl-load.c` `_dl_map_object`), by reading ELF headers only:
//! the binary is never run and `ldd` is never called.
//!
//! For each `DT_NEEDED` name, breadth-first from the binary:
//! 1. a name already loaded (by requested name or `DT_SONAME`) is reused;
//! 2. a name containing `/` is opened as a path;
//! 3. if the requesting object has no `DT_RUNPATH`: the `DT_RPATH` of the
//!    requester, then of the object that loaded it, up to the executable;
//! 4. (`LD_LIBRARY_PATH` is deliberately ignored: the guest has none);
//! 5. the requester's `DT_RUNPATH`;
//! 6. unless the requester has `DF_1_NODEFLIB`: `/etc/ld.so.cache`, then
//!    the default directories.
//!
//! A candidate that is missing, not ELF, or of another class or machine
//! than the executable is skipped, as the loader skips it. `$ORIGIN` is the
//! directory of the object as the loader opened it (for the executable, its
//! real path). Entries with other `$` tokens or relative directories depend
//! on the runtime environment and are dropped.
//!
//! Each library has a host path (where it was found) and a guest path
//! (where the guest loader will look). They differ only when `$ORIGIN`
//! expands differently because the binary sits elsewhere in the guest.

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

use crate::elf::{ElfError, ElfInfo};
use crate::ldcache::{cache_flags, LdCache};

/// Where the loader looks after RPATH/RUNPATH and the cache, in this order.
pub const DEFAULT_DIRS: &[&str] = &[
    "/lib64",
    "/usr/lib64",
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib",
    "/usr/lib",
];

/// How a library was found; kept so reports can say why a file is there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FoundVia {
    /// `PT_INTERP` of the executable.
    Interpreter,
    /// `DT_NEEDED` held a path.
    Path,
    Rpath,
    Runpath,
    LdCache,
    DefaultDir,
}

/// One file of the closure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedLib {
    /// The `DT_NEEDED` name, or the `PT_INTERP` path for the loader.
    pub name: String,
    /// The path the host loader would open (may be a symlink).
    pub host_path: PathBuf,
    /// The path the guest loader will open: absolute and normalized.
    pub guest_path: PathBuf,
    /// `host_path` with every symlink resolved: the file whose bytes ship.
    pub real_path: PathBuf,
    /// Host path of the object whose `DT_NEEDED` (or `PT_INTERP`) named it.
    pub needed_by: PathBuf,
    pub found_via: FoundVia,
}

/// The loader and libraries a dynamic binary needs; empty when static.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Closure {
    pub interpreter: Option<ResolvedLib>,
    /// Libraries in load order (breadth-first, as the loader maps them).
    pub libs: Vec<ResolvedLib>,
    /// The ld.so.cache flags of the executable's libraries (see
    /// [`cache_flags`]); `None` for an architecture we do not know.
    pub cache_flags: Option<i32>,
}

impl Closure {
    pub fn is_empty(&self) -> bool {
        self.interpreter.is_none() && self.libs.is_empty()
    }

    /// The interpreter first, then the libraries.
    pub fn iter(&self) -> impl Iterator<Item = &ResolvedLib> {
        self.interpreter.iter().chain(&self.libs)
    }
}

/// The closure of `path` on this machine, with the guest layout equal to
/// the host's (see [`Resolver::closure`]).
pub fn elf_closure(path: &Path) -> Result<Closure, ElfError> {
    Resolver::system().closure(path, path)
}

/// Search configuration: an ld.so.cache and the default directories.
#[derive(Debug, Clone)]
pub struct Resolver {
    ld_cache: Option<LdCache>,
    default_dirs: Vec<PathBuf>,
}

/// A loaded object during resolution.
struct Object {
    info: ElfInfo,
    host_path: PathBuf,
    host_origin: PathBuf,
    guest_origin: PathBuf,
    /// Index of the object whose `DT_NEEDED` loaded this one.
    loader: Option<usize>,
}

/// A directory to search, on both sides.
struct SearchDir {
    host: PathBuf,
    guest: PathBuf,
    via: FoundVia,
}

impl Resolver {
    /// This machine's loader configuration. An unreadable or corrupt
    /// ld.so.cache is ignored, exactly as the loader ignores it.
    pub fn system() -> Resolver {
        let ld_cache = LdCache::load(Path::new(LdCache::SYSTEM)).ok();
        Resolver::new(ld_cache, DEFAULT_DIRS.iter().map(PathBuf::from).collect())
    }

    pub fn new(ld_cache: Option<LdCache>, default_dirs: Vec<PathBuf>) -> Resolver {
        Resolver {
            ld_cache,
            default_dirs,
        }
    }

    /// Resolves the closure of the binary at `host_binary`, which the guest
    /// will run from `guest_binary` (this only matters for `$ORIGIN`).
    pub fn closure(&self, host_binary: &Path, guest_binary: &Path) -> Result<Closure, ElfError> {
        let info = ElfInfo::read(host_binary)?;
        let real = canonical(host_binary)?;
        let mut closure = Closure {
            cache_flags: cache_flags(info.class, info.machine),
            ..Closure::default()
        };
        let mut objects = vec![Object {
            host_origin: parent(&real),
            guest_origin: parent(&normalize(guest_binary)),
            host_path: host_binary.to_owned(),
            loader: None,
            info,
        }];
        // Names (requested names, sonames, paths) already satisfied.
        let mut loaded: HashSet<String> = HashSet::new();

        if let Some(interp) = objects[0].info.interpreter.clone() {
            let lib = self.interpreter(&interp, host_binary)?;
            if let Ok(info) = ElfInfo::read(&interp) {
                loaded.extend(info.soname);
            }
            loaded.insert(interp.to_string_lossy().into_owned());
            closure.interpreter = Some(lib);
        }

        let mut next = 0;
        while next < objects.len() {
            for name in objects[next].info.needed.clone() {
                if loaded.contains(&name) {
                    continue;
                }
                let (lib, info) = self.find(&name, next, &objects)?;
                loaded.insert(name.clone());
                loaded.insert(lib.host_path.to_string_lossy().into_owned());
                loaded.extend(info.soname.clone());
                objects.push(Object {
                    info,
                    host_origin: parent(&lib.host_path),
                    guest_origin: parent(&lib.guest_path),
                    host_path: lib.host_path.clone(),
                    loader: Some(next),
                });
                closure.libs.push(lib);
            }
            next += 1;
        }
        Ok(closure)
    }

    fn interpreter(&self, interp: &Path, binary: &Path) -> Result<ResolvedLib, ElfError> {
        let missing = || ElfError::MissingLibrary {
            lib: interp.display().to_string(),
            needed_by: binary.to_owned(),
            searched: vec![interp.to_owned()],
        };
        let real = std::fs::canonicalize(interp).map_err(|_| missing())?;
        if !interp.is_absolute() {
            return Err(missing());
        }
        Ok(ResolvedLib {
            name: interp.display().to_string(),
            host_path: interp.to_owned(),
            guest_path: normalize(interp),
            real_path: real,
            needed_by: binary.to_owned(),
            found_via: FoundVia::Interpreter,
        })
    }

    /// Finds `name` for `objects[requester]`, in the loader's order.
    fn find(
        &self,
        name: &str,
        requester: usize,
        objects: &[Object],
    ) -> Result<(ResolvedLib, ElfInfo), ElfError> {
        let exe = &objects[0].info;
        let req = &objects[requester];
        let mut searched = Vec::new();
        let mut try_path = |host: PathBuf, guest: PathBuf, via: FoundVia| {
            if searched.contains(&host) {
                return None;
            }
            searched.push(host.clone());
            let info = ElfInfo::read(&host).ok()?;
            if !exe.compatible_with(&info) || info.elf_type != object::elf::ET_DYN {
                return None;
            }
            let real_path = std::fs::canonicalize(&host).ok()?;
            let lib = ResolvedLib {
                name: name.to_owned(),
                guest_path: normalize(&guest),
                host_path: host,
                real_path,
                needed_by: req.host_path.clone(),
                found_via: via,
            };
            Some((lib, info))
        };

        if name.contains('/') {
            let p = PathBuf::from(name);
            if let Some(found) = try_path(p.clone(), p, FoundVia::Path) {
                return Ok(found);
            }
        } else {
            for dir in self.search_dirs_before_cache(requester, objects) {
                if let Some(found) = try_path(dir.host.join(name), dir.guest.join(name), dir.via) {
                    return Ok(found);
                }
            }
            if !req.info.nodeflib {
                let flags = cache_flags(exe.class, exe.machine);
                let cached = self.ld_cache.as_ref().and_then(|c| c.lookup(name, flags));
                if let Some(p) = cached {
                    if let Some(found) = try_path(p.to_owned(), p.to_owned(), FoundVia::LdCache) {
                        return Ok(found);
                    }
                }
                for dir in &self.default_dirs {
                    let p = dir.join(name);
                    if let Some(found) = try_path(p.clone(), p, FoundVia::DefaultDir) {
                        return Ok(found);
                    }
                }
            }
        }
        Err(ElfError::MissingLibrary {
            lib: name.to_owned(),
            needed_by: req.host_path.clone(),
            searched,
        })
    }

    /// RPATH chain (when the requester has no RUNPATH), then its RUNPATH.
    fn search_dirs_before_cache(&self, requester: usize, objects: &[Object]) -> Vec<SearchDir> {
        let mut dirs = Vec::new();
        let req = &objects[requester];
        match &req.info.runpath {
            None => {
                let mut at = Some(requester);
                while let Some(i) = at {
                    let obj = &objects[i];
                    if obj.info.runpath.is_none() {
                        dirs.extend(expand_all(&obj.info.rpath, obj, FoundVia::Rpath));
                    }
                    at = obj.loader;
                }
            }
            Some(runpath) => dirs.extend(expand_all(runpath, req, FoundVia::Runpath)),
        }
        dirs
    }
}

fn expand_all<'a>(
    entries: &'a [String],
    obj: &'a Object,
    via: FoundVia,
) -> impl Iterator<Item = SearchDir> + 'a {
    entries.iter().filter_map(move |entry| {
        let host = expand_origin(entry, &obj.host_origin)?;
        let guest = expand_origin(entry, &obj.guest_origin)?;
        Some(SearchDir { host, guest, via })
    })
}

/// Expands `$ORIGIN`/`${ORIGIN}`; `None` for entries the loader could only
/// resolve at run time (other tokens, relative directories).
pub fn expand_origin(entry: &str, origin: &Path) -> Option<PathBuf> {
    let origin = origin.to_str()?;
    let expanded = entry
        .replace("${ORIGIN}", origin)
        .replace("$ORIGIN", origin);
    if expanded.contains('$') || !expanded.starts_with('/') {
        return None;
    }
    Some(PathBuf::from(expanded))
}

/// Lexically normalizes an absolute path (`.` and `..` removed). Guest
/// directories are never symlinks, so this is what the guest kernel does.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

fn parent(path: &Path) -> PathBuf {
    path.parent()
        .map_or_else(|| PathBuf::from("/"), Path::to_owned)
}

fn canonical(path: &Path) -> Result<PathBuf, ElfError> {
    std::fs::canonicalize(path).map_err(|source| ElfError::Io {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_expansion_table() {
        let o = Path::new("/opt/app/bin");
        let cases: &[(&str, Option<&str>)] = &[
            ("$ORIGIN/lib", Some("/opt/app/bin/lib")),
            ("${ORIGIN}/../lib", Some("/opt/app/bin/../lib")),
            ("/usr/local/lib", Some("/usr/local/lib")),
            ("$ORIGIN", Some("/opt/app/bin")),
            ("$LIB/x", None),
            ("/opt/$PLATFORM", None),
            ("lib", None),
        ];
        for (entry, want) in cases {
            assert_eq!(expand_origin(entry, o), want.map(PathBuf::from), "{entry}");
        }
    }

    #[test]
    fn normalize_table() {
        let cases = [
            ("/opt/app/bin/../lib", "/opt/app/lib"),
            ("/a/./b//c", "/a/b/c"),
            ("/../x", "/x"),
            ("/", "/"),
        ];
        for (input, want) in cases {
            assert_eq!(normalize(Path::new(input)), Path::new(want), "{input}");
        }
    }
}
