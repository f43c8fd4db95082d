//! Reads what the dynamic loader needs from an ELF file: class, machine,
//! `PT_INTERP`, and the `DT_NEEDED`/`DT_RPATH`/`DT_RUNPATH`/`DT_SONAME`
//! entries of `PT_DYNAMIC`.
//!
//! Only program headers are used, as the loader does: a stripped or
//! `sstrip`ped binary without section headers still resolves.

use std::path::{Path, PathBuf};

use object::elf;
use object::read::elf::{Dyn as _, FileHeader, ProgramHeader};
use object::read::StringTable;
use object::{Endianness, FileKind};

/// Why an ELF file could not be read, or its library closure not resolved.
#[derive(Debug, thiserror::Error)]
pub enum ElfError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not an ELF binary (a script or data file?): give the binary itself")]
    NotElf { path: PathBuf },
    #[error("{path} is a malformed ELF file: {reason}")]
    Malformed { path: PathBuf, reason: String },
    #[error(
        "library {lib} needed by {needed_by} was not found (searched: {}); \
         install it or add its directory to the binary's RUNPATH",
        display_paths(searched)
    )]
    MissingLibrary {
        lib: String,
        needed_by: PathBuf,
        searched: Vec<PathBuf>,
    },
    #[error("{path}: DT_NEEDED or PT_INTERP entry {name:?} is not valid UTF-8")]
    BadName { path: PathBuf, name: String },
}

fn display_paths(paths: &[PathBuf]) -> String {
    if paths.is_empty() {
        return "nothing: no search path applies".to_owned();
    }
    let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    shown.join(", ")
}

/// ELF word size: the loader never mixes the two in one process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ElfClass {
    Elf32,
    Elf64,
}

/// The parts of one ELF file that decide its shared-library closure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElfInfo {
    pub class: ElfClass,
    /// `e_machine`, e.g. [`object::elf::EM_X86_64`].
    pub machine: u16,
    /// `e_type`: `ET_EXEC`, `ET_DYN`, ...
    pub elf_type: u16,
    /// `PT_INTERP`: the dynamic loader the kernel starts, if any.
    pub interpreter: Option<PathBuf>,
    /// `DT_NEEDED` names, in file order (the loader's order).
    pub needed: Vec<String>,
    /// `DT_RPATH`, split on `:`; the loader ignores it when `runpath` is set.
    pub rpath: Vec<String>,
    /// `DT_RUNPATH`, split on `:`.
    pub runpath: Option<Vec<String>>,
    pub soname: Option<String>,
    /// `DF_1_NODEFLIB`: skip ld.so.cache and the default directories.
    pub nodeflib: bool,
}

impl ElfInfo {
    /// Whether a library of `other`'s class and machine can be loaded into
    /// a process that `self` belongs to (the loader skips mismatches).
    pub fn compatible_with(&self, other: &ElfInfo) -> bool {
        self.class == other.class && self.machine == other.machine
    }

    /// Reads `path` (following symlinks).
    pub fn read(path: &Path) -> Result<ElfInfo, ElfError> {
        let data = std::fs::read(path).map_err(|source| ElfError::Io {
            path: path.to_owned(),
            source,
        })?;
        ElfInfo::parse(path, &data)
    }

    /// Parses ELF bytes; `path` is only used in errors.
    pub fn parse(path: &Path, data: &[u8]) -> Result<ElfInfo, ElfError> {
        if !data.starts_with(&elf::ELFMAG) {
            return Err(ElfError::NotElf {
                path: path.to_owned(),
            });
        }
        let malformed = |reason: &str| ElfError::Malformed {
            path: path.to_owned(),
            reason: reason.to_owned(),
        };
        match FileKind::parse(data) {
            Ok(FileKind::Elf32) => {
                parse_as::<elf::FileHeader32<Endianness>>(path, data, ElfClass::Elf32)
            }
            Ok(FileKind::Elf64) => {
                parse_as::<elf::FileHeader64<Endianness>>(path, data, ElfClass::Elf64)
            }
            Ok(_) => Err(malformed("unknown ELF class")),
            Err(e) => Err(malformed(&e.to_string())),
        }
    }
}

fn parse_as<H>(path: &Path, data: &[u8], class: ElfClass) -> Result<ElfInfo, ElfError>
where
    H: FileHeader<Endian = Endianness>,
{
    let malformed = |e: &dyn std::fmt::Display| ElfError::Malformed {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    let header = H::parse(data).map_err(|e| malformed(&e))?;
    let endian = header.endian().map_err(|e| malformed(&e))?;
    let phdrs = header
        .program_headers(endian, data)
        .map_err(|e| malformed(&e))?;

    let mut info = ElfInfo {
        class,
        machine: header.e_machine(endian),
        elf_type: header.e_type(endian),
        interpreter: None,
        needed: Vec::new(),
        rpath: Vec::new(),
        runpath: None,
        soname: None,
        nodeflib: false,
    };
    let mut dynamic = None;
    for ph in phdrs {
        if let Some(interp) = ph.interpreter(endian, data).map_err(|e| malformed(&e))? {
            info.interpreter = Some(PathBuf::from(utf8(path, interp)?));
        }
        if let Some(d) = ph.dynamic(endian, data).map_err(|e| malformed(&e))? {
            dynamic = Some(d);
        }
    }
    let Some(dynamic) = dynamic else {
        return Ok(info);
    };

    // DT_STRTAB is a virtual address: map it through the PT_LOAD segments.
    let find = |tag: u32| {
        dynamic
            .iter()
            .find(|d| d.tag32(endian) == Some(tag))
            .map(|d| d.d_val(endian).into())
    };
    let (Some(str_addr), Some(str_size)) = (find(elf::DT_STRTAB), find(elf::DT_STRSZ)) else {
        return Err(malformed(&"PT_DYNAMIC has no DT_STRTAB/DT_STRSZ"));
    };
    let strtab = phdrs
        .iter()
        .filter(|ph| ph.p_type(endian) == elf::PT_LOAD)
        .find_map(|ph| ph.data_range(endian, data, str_addr, str_size).ok()?)
        .ok_or_else(|| malformed(&"DT_STRTAB lies outside every PT_LOAD segment"))?;
    let strings = StringTable::new(strtab, 0, str_size);

    for d in dynamic {
        let Some(tag) = d.tag32(endian) else { continue };
        let string = || -> Result<String, ElfError> {
            let bytes = d.string(endian, strings).map_err(|e| malformed(&e))?;
            Ok(utf8(path, bytes)?.to_owned())
        };
        match tag {
            elf::DT_NULL => break,
            elf::DT_NEEDED => info.needed.push(string()?),
            elf::DT_RPATH => info.rpath.extend(split_path_list(&string()?)),
            elf::DT_RUNPATH => {
                let list = info.runpath.get_or_insert_with(Vec::new);
                list.extend(split_path_list(&string()?));
            }
            elf::DT_SONAME => info.soname = Some(string()?),
            elf::DT_FLAGS_1 => {
                let flags: u64 = d.d_val(endian).into();
                info.nodeflib = flags & u64::from(elf::DF_1_NODEFLIB) != 0;
            }
            _ => {}
        }
    }
    Ok(info)
}

fn utf8<'a>(path: &Path, bytes: &'a [u8]) -> Result<&'a str, ElfError> {
    std::str::from_utf8(bytes).map_err(|_| ElfError::BadName {
        path: path.to_owned(),
        name: String::from_utf8_lossy(bytes).into_owned(),
    })
}

/// Splits an RPATH/RUNPATH value on `:`. An empty element means the current
/// directory to glibc; it depends on the runtime cwd, so it is dropped.
fn split_path_list(value: &str) -> impl Iterator<Item = String> + '_ {
    value
        .split(':')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_elf_inputs_are_not_elf() {
        for data in [&b"#!/bin/sh\necho hi\n"[..], b"", b"\x7fEL", b"hello world"] {
            let err = ElfInfo::parse(Path::new("/x/script"), data).unwrap_err();
            assert!(matches!(err, ElfError::NotElf { .. }), "{data:?}: {err}");
        }
    }

    #[test]
    fn truncated_elf_is_malformed() {
        let mut data = std::fs::read("/proc/self/exe").unwrap();
        data.truncate(40);
        let err = ElfInfo::parse(Path::new("/x/trunc"), &data).unwrap_err();
        assert!(matches!(err, ElfError::Malformed { .. }), "{err}");
    }

    #[test]
    fn test_binary_reads_as_64_bit_host_machine() {
        let info = ElfInfo::read(Path::new("/proc/self/exe")).unwrap();
        assert_eq!(info.class, ElfClass::Elf64);
        #[cfg(target_arch = "x86_64")]
        assert_eq!(info.machine, elf::EM_X86_64);
        assert!(info.needed.iter().any(|n| n.starts_with("libc.so")));
    }

    #[test]
    fn path_lists_drop_empty_elements() {
        let got: Vec<String> = split_path_list("$ORIGIN/lib::/opt/x:").collect();
        assert_eq!(got, ["$ORIGIN/lib", "/opt/x"]);
    }
}
