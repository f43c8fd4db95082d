//! The loader's search, checked on real binaries of this machine and on
//! small C fixtures compiled into a temp dir (never run: only read).

mod common;

use std::path::{Path, PathBuf};

use common::{cc, find, fixture, read_initrd, source};
use ktstr_initramfs::ldcache::{LdCache, LdCacheEntry, FLAG_ELF_LIBC6, FLAG_X8664_LIB64};
use ktstr_initramfs::{elf_closure, ElfError, FoundVia, Initramfs, Resolver};

const LOADER: &str = "/lib64/ld-linux-x86-64.so.2";

#[test]
fn system_dynamic_binary_has_loader_and_libc() {
    for bin in ["/bin/bash", "/usr/bin/ls"] {
        let closure = elf_closure(Path::new(bin)).unwrap();
        let interp = closure.interpreter.as_ref().expect("dynamic binary");
        assert_eq!(interp.guest_path, Path::new(LOADER), "{bin}");
        assert_eq!(interp.found_via, FoundVia::Interpreter);
        let libc = closure.libs.iter().find(|l| l.name == "libc.so.6");
        let libc = libc.unwrap_or_else(|| panic!("{bin}: no libc in {closure:#?}"));
        assert!(libc.real_path.is_file(), "{}", libc.real_path.display());
        // libc's DT_NEEDED on the loader is satisfied by the loader itself.
        assert!(!closure.libs.iter().any(|l| l.name.starts_with("ld-linux")));
        for lib in closure.iter() {
            assert_eq!(
                lib.guest_path, lib.host_path,
                "system libs keep their paths"
            );
            assert!(std::fs::canonicalize(&lib.host_path).unwrap() == lib.real_path);
        }
    }
}

#[test]
fn static_binaries_have_empty_closures() {
    for name in ["static-tiny", "static-pie-tiny"] {
        let closure = elf_closure(&fixture(name)).unwrap();
        assert!(closure.is_empty(), "{name}: {closure:#?}");
    }
    // A glibc -static build too, when libc.a is installed (libc6-dev).
    let dir = tempfile::tempdir().unwrap();
    source(dir.path(), "s", "int main(void) { return 0; }");
    cc(dir.path(), &["-static", "-o", "s", "s.c"]);
    assert!(elf_closure(&dir.path().join("s")).unwrap().is_empty());
}

#[test]
fn not_elf_and_missing_file_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("sched.sh");
    std::fs::write(&script, "#!/bin/sh\nexec scx_simple\n").unwrap();
    match elf_closure(&script) {
        Err(ElfError::NotElf { path }) => assert_eq!(path, script),
        other => panic!("{other:?}"),
    }
    let absent = dir.path().join("absent");
    let err = elf_closure(&absent).unwrap_err();
    assert!(matches!(err, ElfError::Io { .. }) && err.to_string().contains("absent"));
}

/// `dir/lib/libfoo.so.1.2` (soname libfoo.so.1, symlinked as libfoo.so.1
/// and libfoo.so), needing `libbar.so` from the same directory.
fn build_libs(dir: &Path) {
    let lib = dir.join("lib");
    std::fs::create_dir(&lib).unwrap();
    source(&lib, "bar", "int bar(void) { return 2; }");
    cc(&lib, &["-shared", "-fPIC", "-o", "libbar.so", "bar.c"]);
    source(
        &lib,
        "foo",
        "int bar(void); int foo(void) { return bar(); }",
    );
    let soname = "-Wl,-soname,libfoo.so.1";
    cc(
        &lib,
        &[
            "-shared",
            "-fPIC",
            soname,
            "-o",
            "libfoo.so.1.2",
            "foo.c",
            "-L.",
            "-lbar",
        ],
    );
    std::os::unix::fs::symlink("libfoo.so.1.2", lib.join("libfoo.so.1")).unwrap();
    std::os::unix::fs::symlink("libfoo.so.1", lib.join("libfoo.so")).unwrap();
}

/// Links `dir/name` against libfoo with extra linker flags.
fn build_prog(dir: &Path, name: &str, flags: &[&str]) -> PathBuf {
    source(
        dir,
        "main",
        "int foo(void); int main(void) { return foo(); }",
    );
    let mut args = vec![
        "-o",
        name,
        "main.c",
        "-Llib",
        "-Wl,-rpath-link,lib",
        "-lfoo",
    ];
    args.extend(flags);
    cc(dir, &args);
    dir.join(name)
}

#[test]
fn origin_rpath_runpath_table() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    build_libs(d);
    let lib = d.join("lib");
    // (binary, linker flags, expected: Ok(how libfoo / libbar were found) or
    // Err(missing lib, needed by))
    type Want = Result<(FoundVia, FoundVia), (&'static str, &'static str)>;
    let cases: &[(&str, &[&str], Want)] = &[
        // RUNPATH applies to the binary's own needs only: libbar, needed by
        // libfoo, is not searched there.
        (
            "runpath",
            &["-Wl,--enable-new-dtags,-rpath,$ORIGIN/lib"],
            Err(("libbar.so", "lib/libfoo.so.1")),
        ),
        // RPATH is inherited down the loading chain.
        (
            "rpath",
            &["-Wl,--disable-new-dtags,-rpath,$ORIGIN/lib"],
            Ok((FoundVia::Rpath, FoundVia::Rpath)),
        ),
        (
            "rpath-braces",
            &["-Wl,--disable-new-dtags,-rpath,${ORIGIN}/lib/../lib"],
            Ok((FoundVia::Rpath, FoundVia::Rpath)),
        ),
        ("no-path", &[], Err(("libfoo.so.1", "no-path"))),
    ];
    for (name, flags, want) in cases {
        let prog = build_prog(d, name, flags);
        match (elf_closure(&prog), want) {
            (Ok(closure), Ok((foo_via, bar_via))) => {
                let foo = closure
                    .libs
                    .iter()
                    .find(|l| l.name == "libfoo.so.1")
                    .unwrap();
                let bar = closure.libs.iter().find(|l| l.name == "libbar.so").unwrap();
                assert_eq!(
                    (foo.found_via, bar.found_via),
                    (*foo_via, *bar_via),
                    "{name}"
                );
                assert_eq!(foo.real_path, lib.join("libfoo.so.1.2"), "{name}");
                assert_eq!(foo.guest_path, lib.join("libfoo.so.1"), "{name}");
                assert_eq!(bar.needed_by, foo.host_path, "{name}");
            }
            (
                Err(ElfError::MissingLibrary {
                    lib: l,
                    needed_by,
                    searched,
                }),
                Err((want_lib, by)),
            ) => {
                assert_eq!(l, *want_lib, "{name}");
                assert_eq!(needed_by.strip_prefix(d).unwrap(), Path::new(by), "{name}");
                assert!(searched.contains(&PathBuf::from("/usr/lib/x86_64-linux-gnu").join(&l)));
            }
            (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn guest_location_moves_origin_libs_and_archive_keeps_soname_links() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    build_libs(d);
    let prog = build_prog(d, "prog", &["-Wl,--disable-new-dtags,-rpath,$ORIGIN/lib"]);
    let closure = Resolver::system()
        .closure(&prog, Path::new("/opt/s/prog"))
        .unwrap();
    let foo = closure
        .libs
        .iter()
        .find(|l| l.name == "libfoo.so.1")
        .unwrap();
    assert_eq!(foo.guest_path, Path::new("/opt/s/lib/libfoo.so.1"));
    assert_eq!(foo.host_path, d.join("lib/libfoo.so.1"));

    let mut image = Initramfs::new();
    let libs = image.add_elf("/opt/s/prog", &prog).unwrap();
    assert_eq!(libs, closure.iter().cloned().collect::<Vec<_>>());
    let (items, _) = read_initrd(&image.write_gz(Vec::new()).unwrap());
    let real = d.join("lib/libfoo.so.1.2");
    let real_name = real.to_str().unwrap().trim_start_matches('/');
    assert_eq!(find(&items, real_name).data, std::fs::read(&real).unwrap());
    let link = find(&items, "opt/s/lib/libfoo.so.1");
    assert_eq!(
        link.data,
        real.to_str().unwrap().as_bytes(),
        "absolute soname link"
    );
    assert_eq!(
        find(&items, "opt/s/prog").data,
        std::fs::read(&prog).unwrap()
    );
    let loader = find(&items, LOADER.trim_start_matches('/'));
    let loader_real = std::fs::canonicalize(LOADER).unwrap();
    if loader_real != Path::new(LOADER) {
        assert_eq!(loader.data, loader_real.to_str().unwrap().as_bytes());
    }
    assert!(items.iter().any(|i| i.name.ends_with("/libc.so.6")));

    // The guest's own ld.so.cache maps what the host found through its
    // cache or default dirs to the guest paths, and nothing else.
    let cache = LdCache::parse(&find(&items, "etc/ld.so.cache").data).unwrap();
    let via_cache: Vec<_> = closure
        .libs
        .iter()
        .filter(|l| matches!(l.found_via, FoundVia::LdCache | FoundVia::DefaultDir))
        .collect();
    assert!(via_cache.iter().any(|l| l.name == "libc.so.6"));
    assert_eq!(cache.entries.len(), via_cache.len());
    for lib in via_cache {
        let got = cache.lookup(&lib.name, closure.cache_flags);
        assert_eq!(got, Some(lib.guest_path.as_path()));
        find(
            &items,
            lib.guest_path.to_str().unwrap().trim_start_matches('/'),
        );
    }
}

#[test]
fn wrong_machine_candidates_are_skipped_like_the_loader() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    build_libs(d);
    // An earlier RUNPATH dir holds an aarch64-marked copy: skipped.
    let arm = d.join("arm");
    std::fs::create_dir(&arm).unwrap();
    let mut bytes = std::fs::read(d.join("lib/libfoo.so.1.2")).unwrap();
    bytes[18..20].copy_from_slice(&object::elf::EM_AARCH64.to_le_bytes());
    std::fs::write(arm.join("libfoo.so.1"), bytes).unwrap();
    let prog = build_prog(
        d,
        "prog",
        &["-Wl,--disable-new-dtags,-rpath,$ORIGIN/arm:$ORIGIN/lib"],
    );
    let closure = elf_closure(&prog).unwrap();
    let foo = closure
        .libs
        .iter()
        .find(|l| l.name == "libfoo.so.1")
        .unwrap();
    assert_eq!(foo.host_path, d.join("lib/libfoo.so.1"));
}

#[test]
fn ld_cache_and_nodeflib() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    build_libs(d);
    let prog = build_prog(d, "prog", &[]);
    let system = Resolver::system();
    assert!(matches!(
        system.closure(&prog, &prog),
        Err(ElfError::MissingLibrary { .. })
    ));

    // A cache that knows our libs (libc etc. come from the default dirs).
    let entry = |name: &str| LdCacheEntry {
        name: name.to_owned(),
        path: d.join("lib").join(name),
        flags: FLAG_ELF_LIBC6 | FLAG_X8664_LIB64,
        hwcap: 0,
    };
    let cache = LdCache {
        entries: vec![entry("libfoo.so.1"), entry("libbar.so")],
    };
    let defaults = ktstr_initramfs::closure::DEFAULT_DIRS
        .iter()
        .map(PathBuf::from)
        .collect();
    let resolver = Resolver::new(Some(cache), defaults);
    let closure = resolver.closure(&prog, &prog).unwrap();
    let via: Vec<(&str, FoundVia)> = closure
        .libs
        .iter()
        .map(|l| (l.name.as_str(), l.found_via))
        .collect();
    assert_eq!(via[0], ("libfoo.so.1", FoundVia::LdCache));
    assert!(via.contains(&("libbar.so", FoundVia::LdCache)));
    assert!(via.contains(&("libc.so.6", FoundVia::DefaultDir)));

    // -z nodefaultlib: neither the cache nor the default dirs for its needs.
    let prog = build_prog(d, "nodef", &["-Wl,-z,nodefaultlib"]);
    match resolver.closure(&prog, &prog) {
        Err(ElfError::MissingLibrary { lib, searched, .. }) => {
            assert_eq!(lib, "libfoo.so.1");
            assert!(searched.is_empty(), "{searched:?}");
        }
        other => panic!("{other:?}"),
    }
}
