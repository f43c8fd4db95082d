use super::*;

const X86_64: i32 = FLAG_ELF_LIBC6 | FLAG_X8664_LIB64;

/// Builds a new-format table as glibc's ldconfig lays it out: header,
/// entries, then strings, offsets relative to the header.
fn new_table(entries: &[(i32, &str, &str, u64)]) -> Vec<u8> {
    let strings_at = NEW_HEADER_LEN + entries.len() * NEW_ENTRY_LEN;
    let mut strings = Vec::new();
    let mut table = Vec::new();
    for (flags, name, path, hwcap) in entries {
        let key = strings_at + strings.len();
        strings.extend_from_slice(name.as_bytes());
        strings.push(0);
        let value = strings_at + strings.len();
        strings.extend_from_slice(path.as_bytes());
        strings.push(0);
        table.extend_from_slice(&flags.to_ne_bytes());
        table.extend_from_slice(&(key as u32).to_ne_bytes());
        table.extend_from_slice(&(value as u32).to_ne_bytes());
        table.extend_from_slice(&0u32.to_ne_bytes());
        table.extend_from_slice(&hwcap.to_ne_bytes());
    }
    let mut out = NEW_MAGIC.to_vec();
    out.extend_from_slice(&(entries.len() as u32).to_ne_bytes());
    out.extend_from_slice(&(strings.len() as u32).to_ne_bytes());
    out.extend_from_slice(&[ENDIAN_LITTLE, 0, 0, 0]);
    out.extend_from_slice(&[0; 16]);
    assert_eq!(out.len(), NEW_HEADER_LEN);
    out.extend(table);
    out.extend(strings);
    out
}

/// Old-format table; strings follow the entries, offsets relative to them.
fn old_table(entries: &[(i32, &str, &str)]) -> Vec<u8> {
    let mut strings = Vec::new();
    let mut out = OLD_MAGIC.to_vec();
    out.push(0);
    out.extend_from_slice(&(entries.len() as u32).to_ne_bytes());
    for (flags, name, path) in entries {
        out.extend_from_slice(&flags.to_ne_bytes());
        out.extend_from_slice(&(strings.len() as u32).to_ne_bytes());
        strings.extend_from_slice(name.as_bytes());
        strings.push(0);
        out.extend_from_slice(&(strings.len() as u32).to_ne_bytes());
        strings.extend_from_slice(path.as_bytes());
        strings.push(0);
    }
    out.extend(strings);
    out
}

#[test]
fn lookups_table() {
    let data = new_table(&[
        (X86_64, "libfoo.so.1", "/opt/v3/libfoo.so.1", 1 << 62),
        (FLAG_ELF_LIBC6, "libfoo.so.1", "/usr/lib32/libfoo.so.1", 0),
        (X86_64, "libfoo.so.1", "/usr/lib/libfoo.so.1", 0),
        (X86_64, "libfoo.so.1", "/second/libfoo.so.1", 0),
        (0x0001, "libold.so.1", "/usr/lib/libold.so.1", 0),
    ]);
    let cache = LdCache::parse(&data).unwrap();
    assert_eq!(cache.entries.len(), 5);
    let cases: &[(&str, Option<i32>, Option<&str>)] = &[
        // hwcap variants skipped, first baseline of the right arch wins
        ("libfoo.so.1", Some(X86_64), Some("/usr/lib/libfoo.so.1")),
        (
            "libfoo.so.1",
            Some(FLAG_ELF_LIBC6),
            Some("/usr/lib32/libfoo.so.1"),
        ),
        ("libfoo.so.1", None, Some("/usr/lib32/libfoo.so.1")),
        (
            "libfoo.so.1",
            Some(FLAG_ELF_LIBC6 | FLAG_AARCH64_LIB64),
            None,
        ),
        // libc5-era entries are not glibc libraries
        ("libold.so.1", None, None),
        ("libnone.so", Some(X86_64), None),
    ];
    for (name, flags, want) in cases {
        let got = cache.lookup(name, *flags).map(|p| p.to_str().unwrap());
        assert_eq!(got, *want, "{name} {flags:?}");
    }
}

#[test]
fn old_format_alone_and_with_new_table() {
    let old = old_table(&[(X86_64, "libold.so.1", "/old/libold.so.1")]);
    let cache = LdCache::parse(&old).unwrap();
    assert_eq!(
        cache.lookup("libold.so.1", Some(X86_64)),
        Some(Path::new("/old/libold.so.1"))
    );

    // Combined: the new table starts 8-aligned after the old entries and wins.
    let mut combined = old_table(&[(X86_64, "libx.so.1", "/old/libx.so.1")]);
    combined.truncate(OLD_HEADER_LEN + OLD_ENTRY_LEN);
    combined.resize((OLD_HEADER_LEN + OLD_ENTRY_LEN).next_multiple_of(8), 0);
    combined.extend(new_table(&[(X86_64, "libx.so.1", "/new/libx.so.1", 0)]));
    let cache = LdCache::parse(&combined).unwrap();
    assert_eq!(
        cache.lookup("libx.so.1", Some(X86_64)),
        Some(Path::new("/new/libx.so.1"))
    );
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let good = new_table(&[(X86_64, "liba.so", "/a/liba.so", 0)]);
    let mut huge_count = good.clone();
    huge_count[20..24].copy_from_slice(&u32::MAX.to_ne_bytes());
    let mut bad_offset = good.clone();
    bad_offset[NEW_HEADER_LEN + 4..NEW_HEADER_LEN + 8].copy_from_slice(&9999u32.to_ne_bytes());
    let mut big_endian = good.clone();
    big_endian[28] = ENDIAN_BIG;
    type Check = fn(&LdCacheError) -> bool;
    let cases: Vec<(&str, Vec<u8>, Check)> = vec![
        ("empty", vec![], |e| matches!(e, LdCacheError::BadMagic)),
        ("text", b"hello".to_vec(), |e| {
            matches!(e, LdCacheError::BadMagic)
        }),
        ("header only", good[..30].to_vec(), |e| {
            matches!(e, LdCacheError::Corrupt(_))
        }),
        ("count too big", huge_count, |e| {
            matches!(e, LdCacheError::Corrupt(_))
        }),
        ("offset past end", bad_offset, |e| {
            matches!(e, LdCacheError::Corrupt(_))
        }),
        ("big endian", big_endian, |e| {
            matches!(e, LdCacheError::WrongEndian)
        }),
        (
            "old truncated",
            old_table(&[(X86_64, "a", "/a")])[..20].to_vec(),
            |e| matches!(e, LdCacheError::Corrupt(_)),
        ),
    ];
    for (what, data, check) in cases {
        let err = LdCache::parse(&data).unwrap_err();
        assert!(check(&err), "{what}: {err}");
    }
}

/// This machine's cache parses and agrees with where libc really is.
#[test]
fn system_cache_finds_libc() {
    let cache = LdCache::load(Path::new(LdCache::SYSTEM)).unwrap();
    assert!(cache.entries.len() > 10, "{} entries", cache.entries.len());
    let flags = cache_flags(crate::elf::ElfClass::Elf64, object::elf::EM_X86_64);
    let libc = cache
        .lookup("libc.so.6", flags)
        .expect("libc.so.6 in cache");
    assert!(libc.is_absolute() && libc.exists(), "{}", libc.display());
    assert!(cache.entries.iter().all(|e| e.path.is_absolute()));
}

#[test]
fn libcmp_table() {
    use std::cmp::Ordering::{Equal, Greater, Less};
    let cases = [
        ("libfoo.so.10", "libfoo.so.9", Greater),
        ("libfoo.so.1", "libfoo.so.1", Equal),
        ("libfoo.so", "libfoo.so.1", Less),
        ("libz.so.1", "liba.so.1", Greater),
        ("lib1", "liba", Greater),
        ("liba", "lib1", Less),
        ("libc.so.6", "libc.so.06", Equal),
    ];
    for (a, b, want) in cases {
        assert_eq!(libcmp(a, b), want, "{a} vs {b}");
        assert_eq!(libcmp(b, a), want.reverse(), "{b} vs {a}");
    }
}

/// ldconfig's own output is sorted descending by `libcmp`: this checks our
/// comparator against the real tool, which the loader's binary search needs.
#[test]
fn system_cache_order_matches_libcmp_and_round_trips() {
    let data = std::fs::read(LdCache::SYSTEM).unwrap();
    let cache = LdCache::parse(&data).unwrap();
    for pair in cache.entries.windows(2) {
        assert_ne!(
            libcmp(&pair[0].name, &pair[1].name),
            std::cmp::Ordering::Less,
            "{} before {}",
            pair[0].name,
            pair[1].name
        );
    }
    let rewritten = cache.to_bytes();
    assert_eq!(LdCache::parse(&rewritten).unwrap(), cache);
    // Names share the tail of their path, as in ldconfig's output.
    assert!(
        rewritten.len() <= data.len(),
        "{} > {}",
        rewritten.len(),
        data.len()
    );
}

#[test]
fn written_cache_is_sorted_for_binary_search() {
    let cache = LdCache {
        entries: ["liba.so.1", "libz.so.1", "libfoo.so.10", "libfoo.so.9"]
            .iter()
            .map(|n| LdCacheEntry {
                name: n.to_string(),
                path: PathBuf::from("/lib").join(n),
                flags: X86_64,
                hwcap: 0,
            })
            .collect(),
    };
    let back = LdCache::parse(&cache.to_bytes()).unwrap();
    let names: Vec<&str> = back.entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        ["libz.so.1", "libfoo.so.10", "libfoo.so.9", "liba.so.1"]
    );
    assert_eq!(
        back.lookup("libfoo.so.9", Some(X86_64)),
        Some(Path::new("/lib/libfoo.so.9"))
    );
}
