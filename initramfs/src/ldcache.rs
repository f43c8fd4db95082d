//! Parser for glibc's `/etc/ld.so.cache`, the soname -> path map that
//! `ldconfig` builds and the loader consults after RPATH/RUNPATH.
//!
//! Two layouts exist: the current one (magic `glibc-ld.so.cache` version
//! `1.1`, written alone by glibc >= 2.32) and the libc5-era one (magic
//! `ld.so-1.7.0`), which older glibc wrote with the new table appended after
//! it. The new table is used whenever present; an old-only cache is read too.
//! String offsets are relative to the new header (new table) or to the end
//! of the old entry array (old table), as in glibc's `dl-cache.c`.

use std::path::{Path, PathBuf};

const NEW_MAGIC: &[u8] = b"glibc-ld.so.cache1.1";
const OLD_MAGIC: &[u8] = b"ld.so-1.7.0";
/// magic(17) + version(3) + nlibs + len_strings + flags(1) + pad(3) + ext + unused[3]
const NEW_HEADER_LEN: usize = 48;
const NEW_ENTRY_LEN: usize = 24;
/// magic(11) + pad(1) + nlibs
const OLD_HEADER_LEN: usize = 16;
const OLD_ENTRY_LEN: usize = 12;

/// `flags & FLAG_TYPE_MASK == FLAG_ELF_LIBC6` marks a glibc ELF library.
pub const FLAG_TYPE_MASK: i32 = 0x00ff;
pub const FLAG_ELF_LIBC6: i32 = 0x0003;
/// Architecture bits (`flags & 0xff00`) for the libraries we can boot.
pub const FLAG_X8664_LIB64: i32 = 0x0300;
pub const FLAG_X8664_LIBX32: i32 = 0x0800;
pub const FLAG_AARCH64_LIB64: i32 = 0x0a00;

/// Little-endian marker in the new header's `flags` byte (0 = unknown).
const ENDIAN_LITTLE: u8 = 2;
const ENDIAN_BIG: u8 = 3;

#[derive(Debug, thiserror::Error)]
pub enum LdCacheError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("not an ld.so.cache (unknown magic); regenerate it with ldconfig")]
    BadMagic,
    #[error("ld.so.cache is truncated or corrupt: {0}; regenerate it with ldconfig")]
    Corrupt(&'static str),
    #[error("ld.so.cache was written for a big-endian machine")]
    WrongEndian,
}

/// One cache entry: a library name and the file the loader would open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdCacheEntry {
    pub name: String,
    pub path: PathBuf,
    pub flags: i32,
    /// 0 for the baseline library; non-zero marks a glibc-hwcaps or legacy
    /// hwcap variant chosen by the running CPU.
    pub hwcap: u64,
}

/// A parsed ld.so.cache, entries in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LdCache {
    pub entries: Vec<LdCacheEntry>,
}

impl LdCache {
    /// The system cache path.
    pub const SYSTEM: &'static str = "/etc/ld.so.cache";

    pub fn load(path: &Path) -> Result<LdCache, LdCacheError> {
        let data = std::fs::read(path).map_err(|source| LdCacheError::Io {
            path: path.to_owned(),
            source,
        })?;
        LdCache::parse(&data)
    }

    pub fn parse(data: &[u8]) -> Result<LdCache, LdCacheError> {
        if data.starts_with(NEW_MAGIC) {
            return parse_new(data);
        }
        if !data.starts_with(OLD_MAGIC) {
            return Err(LdCacheError::BadMagic);
        }
        let nlibs = read_u32(data, OLD_MAGIC.len() + 1)? as usize;
        let entries_end = nlibs
            .checked_mul(OLD_ENTRY_LEN)
            .and_then(|n| n.checked_add(OLD_HEADER_LEN))
            .ok_or(LdCacheError::Corrupt("old entry count overflows"))?;
        // glibc aligns the appended new table to 8 bytes (its alignment).
        let new_start = entries_end.next_multiple_of(8);
        match data.get(new_start..) {
            Some(rest) if rest.starts_with(NEW_MAGIC) => parse_new(rest),
            _ => parse_old(data, nlibs, entries_end),
        }
    }

    /// The path the loader would take from the cache for `name`, for a
    /// process whose libraries carry `arch_flags` (see [`cache_flags`]).
    /// Only baseline entries count: hwcap variants depend on the CPU that
    /// runs the guest, which need not be the host's.
    pub fn lookup(&self, name: &str, arch_flags: Option<i32>) -> Option<&Path> {
        self.entries
            .iter()
            .filter(|e| e.name == name && e.hwcap == 0)
            .filter(|e| e.flags & FLAG_TYPE_MASK == FLAG_ELF_LIBC6)
            .find(|e| arch_flags.is_none() || arch_flags == Some(e.flags))
            .map(|e| e.path.as_path())
    }
}

impl LdCache {
    /// Serializes the entries in the new format, sorted as ldconfig sorts
    /// them (the loader binary-searches in that order): descending by
    /// [`libcmp`], then descending by flags. Used to give the guest a cache
    /// that maps exactly the libraries shipped, at their guest paths.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut sorted: Vec<&LdCacheEntry> = self.entries.iter().collect();
        sorted.sort_by(|a, b| libcmp(&b.name, &a.name).then(b.flags.cmp(&a.flags)));
        let strings_at = NEW_HEADER_LEN + sorted.len() * NEW_ENTRY_LEN;
        let mut table = Vec::with_capacity(strings_at);
        let mut strings = Vec::new();
        let mut push_str = |s: &str| {
            let at = (strings_at + strings.len()) as u32;
            strings.extend_from_slice(s.as_bytes());
            strings.push(0);
            at
        };
        let mut entries = Vec::with_capacity(sorted.len() * NEW_ENTRY_LEN);
        for e in &sorted {
            // Like ldconfig, point the name into the path when it ends it.
            let path = e.path.to_string_lossy();
            let value = push_str(&path);
            let key = match path.strip_suffix(e.name.as_str()) {
                Some(dir) if dir.ends_with('/') => value + dir.len() as u32,
                _ => push_str(&e.name),
            };
            entries.extend_from_slice(&e.flags.to_ne_bytes());
            entries.extend_from_slice(&key.to_ne_bytes());
            entries.extend_from_slice(&value.to_ne_bytes());
            entries.extend_from_slice(&0u32.to_ne_bytes()); // osversion
            entries.extend_from_slice(&e.hwcap.to_ne_bytes());
        }
        let endian = if cfg!(target_endian = "little") {
            ENDIAN_LITTLE
        } else {
            ENDIAN_BIG
        };
        table.extend_from_slice(NEW_MAGIC);
        table.extend_from_slice(&(sorted.len() as u32).to_ne_bytes());
        table.extend_from_slice(&(strings.len() as u32).to_ne_bytes());
        table.extend_from_slice(&[endian, 0, 0, 0]);
        table.extend_from_slice(&[0; 16]); // no extensions, unused
        table.extend(entries);
        table.extend(strings);
        table
    }
}

/// glibc's `_dl_cache_libcmp`: byte order, except that runs of digits
/// compare as numbers and sort after non-digits (`libfoo.so.10` after
/// `libfoo.so.9`).
pub fn libcmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    let digits = |s: &[u8], mut k: usize| {
        let mut v: u64 = 0;
        while k < s.len() && s[k].is_ascii_digit() {
            v = v.saturating_mul(10).saturating_add(u64::from(s[k] - b'0'));
            k += 1;
        }
        (v, k)
    };
    while i < a.len() {
        let (ca, cb) = (a[i], b.get(j).copied().unwrap_or(0));
        match (ca.is_ascii_digit(), cb.is_ascii_digit()) {
            (true, true) => {
                let (va, ni) = digits(a, i);
                let (vb, nj) = digits(b, j);
                if va != vb {
                    return va.cmp(&vb);
                }
                (i, j) = (ni, nj);
            }
            (true, false) => return Ordering::Greater,
            (false, true) => return Ordering::Less,
            (false, false) if ca != cb => return ca.cmp(&cb),
            (false, false) => (i, j) = (i + 1, j + 1),
        }
    }
    if j < b.len() {
        Ordering::Less
    } else {
        Ordering::Equal
    }
}

/// The cache flags the loader accepts for a process of this class and
/// machine, or `None` when we do not know them (then any glibc entry
/// counts and the ELF header check decides).
pub fn cache_flags(class: crate::elf::ElfClass, machine: u16) -> Option<i32> {
    use crate::elf::ElfClass::{Elf32, Elf64};
    use object::elf::{EM_386, EM_AARCH64, EM_X86_64};
    let arch = match (class, machine) {
        (Elf64, EM_X86_64) => FLAG_X8664_LIB64,
        (Elf32, EM_X86_64) => FLAG_X8664_LIBX32,
        (Elf32, EM_386) => 0,
        (Elf64, EM_AARCH64) => FLAG_AARCH64_LIB64,
        _ => return None,
    };
    Some(FLAG_ELF_LIBC6 | arch)
}

fn parse_new(data: &[u8]) -> Result<LdCache, LdCacheError> {
    let nlibs = read_u32(data, 20)? as usize;
    match *data.get(28).ok_or(LdCacheError::Corrupt("short header"))? {
        ENDIAN_BIG if cfg!(target_endian = "little") => return Err(LdCacheError::WrongEndian),
        ENDIAN_LITTLE if cfg!(target_endian = "big") => return Err(LdCacheError::WrongEndian),
        _ => {}
    }
    let mut entries = Vec::with_capacity(nlibs.min(data.len() / NEW_ENTRY_LEN));
    for i in 0..nlibs {
        let at = i
            .checked_mul(NEW_ENTRY_LEN)
            .and_then(|n| n.checked_add(NEW_HEADER_LEN))
            .ok_or(LdCacheError::Corrupt("entry count overflows"))?;
        entries.push(LdCacheEntry {
            flags: read_u32(data, at)? as i32,
            name: read_str(data, 0, read_u32(data, at + 4)?)?,
            path: PathBuf::from(read_str(data, 0, read_u32(data, at + 8)?)?),
            hwcap: read_u64(data, at + 16)?,
        });
    }
    Ok(LdCache { entries })
}

fn parse_old(data: &[u8], nlibs: usize, strings: usize) -> Result<LdCache, LdCacheError> {
    let mut entries = Vec::with_capacity(nlibs.min(data.len() / OLD_ENTRY_LEN));
    for i in 0..nlibs {
        let at = OLD_HEADER_LEN + i * OLD_ENTRY_LEN;
        entries.push(LdCacheEntry {
            flags: read_u32(data, at)? as i32,
            name: read_str(data, strings, read_u32(data, at + 4)?)?,
            path: PathBuf::from(read_str(data, strings, read_u32(data, at + 8)?)?),
            hwcap: 0,
        });
    }
    Ok(LdCache { entries })
}

fn read_u32(data: &[u8], at: usize) -> Result<u32, LdCacheError> {
    let bytes = data
        .get(at..at.saturating_add(4))
        .ok_or(LdCacheError::Corrupt("entry past end of file"))?;
    Ok(u32::from_ne_bytes(bytes.try_into().expect("4 bytes")))
}

fn read_u64(data: &[u8], at: usize) -> Result<u64, LdCacheError> {
    let bytes = data
        .get(at..at.saturating_add(8))
        .ok_or(LdCacheError::Corrupt("entry past end of file"))?;
    Ok(u64::from_ne_bytes(bytes.try_into().expect("8 bytes")))
}

fn read_str(data: &[u8], base: usize, offset: u32) -> Result<String, LdCacheError> {
    let start = base.saturating_add(offset as usize);
    let tail = data
        .get(start..)
        .ok_or(LdCacheError::Corrupt("string offset past end of file"))?;
    let len = tail
        .iter()
        .position(|&b| b == 0)
        .ok_or(LdCacheError::Corrupt("unterminated string"))?;
    String::from_utf8(tail[..len].to_vec()).map_err(|_| LdCacheError::Corrupt("non-UTF-8 string"))
}

#[cfg(test)]
#[path = "ldcache_tests.rs"]
mod tests;
