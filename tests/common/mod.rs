//! Shared helpers for the end-to-end tests: find the cached kernel (or
//! fail loudly), run the real `ktstr-vm` binary, parse its JSON result.

#![allow(dead_code)]

pub mod bad_schedulers;
pub mod http_server;

use std::path::PathBuf;
use std::process::{Command, Output};

use ktstr_vm::cache_dir::CacheDir;
use ktstr_vm::kernel::key::cache_key;
use ktstr_vm::kernel::resolve::{resolve_kernel, ResolvedKernel};
use ktstr_vm::kernel::source;
use ktstr_vm::kernel::variant::Variant;

/// The kernel `ci/build-kernel.sh` builds: the default variant of Debian's
/// linux-source tarball. Not "the newest cached kernel": other tests (and
/// users) add kernels from other sources to the same cache, and the suite
/// must boot the same one every time. No kernel is a failure, never a skip.
pub fn kernel() -> ResolvedKernel {
    let cache = CacheDir::resolve(None).expect("cache dir");
    let found = source::identify(None, &cache)
        .map_err(|e| e.to_string())
        .and_then(|src| {
            let identity = src.identity.expect("a tarball has an identity");
            let key = cache_key(&identity, &Variant::default().fragments());
            resolve_kernel(Some(&key), &cache).map_err(|e| e.to_string())
        });
    found.unwrap_or_else(|e| {
        panic!(
            "end-to-end tests need the sched_ext kernel ci/build-kernel.sh builds, and it was not found: {e}\n\
             build it with `ci/build-kernel.sh` (or `ktstr-vm kernel build`); .ci/run does this first"
        )
    })
}

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ktstr-vm"))
}

/// A fresh artifact directory kept under the target dir for inspection.
pub fn artifacts(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("e2e")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Runs `ktstr-vm` with `args`, returning the output.
pub fn ktstr(args: &[&str]) -> Output {
    let out = bin().args(args).output().expect("running ktstr-vm");
    eprintln!(
        "ktstr-vm {}\n--- exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        args.join(" "),
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs with `--json --artifacts DIR` and parses the result.
pub fn run_json(name: &str, args: &[&str]) -> (i32, serde_json::Value) {
    let dir = artifacts(name);
    let mut all = vec!["run", "--json", "--artifacts", dir.to_str().unwrap()];
    all.extend_from_slice(args);
    let out = ktstr(&all);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{name}: stdout is not a JSON result ({e})"));
    for f in ["console.log", "result.json", "guest.jsonl", "scheduler.log"] {
        assert!(dir.join(f).exists(), "{name}: artifact {f} missing");
    }
    (out.status.code().unwrap_or(-1), json)
}

pub fn kernel_path() -> String {
    kernel().image.display().to_string()
}

/// Class names of the findings.
pub fn classes(result: &serde_json::Value) -> Vec<String> {
    result["findings"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|f| f["class"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Compiles `source` (C) with the host's gcc into `dir/name`, with
/// `extra` flags after the source, and returns the binary's path. Tests
/// use it to make small programs that ship into the guest like any other.
pub fn cc(dir: &std::path::Path, name: &str, source: &str, extra: &[&str]) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let src = dir.join(format!("{name}.c"));
    std::fs::write(&src, source).unwrap();
    let out = dir.join(name);
    let status = Command::new("gcc")
        .arg("-O2")
        .arg("-o")
        .arg(&out)
        .arg(&src)
        .args(extra)
        .status()
        .expect("running gcc (the end-to-end tests build small C programs)");
    assert!(status.success(), "gcc failed for {}", src.display());
    out
}

/// Overwrites the bytes at `offset` of the file at `path`.
pub fn patch_bytes(path: &std::path::Path, offset: usize, bytes: &[u8]) {
    let mut data = std::fs::read(path).unwrap();
    data[offset..offset + bytes.len()].copy_from_slice(bytes);
    std::fs::write(path, data).unwrap();
}

/// Pids of live QEMU processes whose command line mentions `needle`.
pub fn qemus_mentioning(needle: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let state = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        // A zombie is gone already, only not reaped by its parent yet.
        let zombie = state
            .rsplit_once(") ")
            .is_some_and(|(_, r)| r.starts_with('Z'));
        let cmd = String::from_utf8_lossy(&cmd);
        let qemu = cmd
            .split('\0')
            .next()
            .is_some_and(|a| a.contains("qemu-system"));
        if !zombie && qemu && cmd.contains(needle) {
            out.push(pid);
        }
    }
    out
}

/// Live QEMUs of the ktstr-vm process `pid`: their sockets sit in its
/// scratch directories (`<cache>/scratch/<pid>-*`), whatever the run's
/// artifacts directory (a restored QEMU's command line never names it).
pub fn qemus_of(pid: u32) -> Vec<i32> {
    let cache = ktstr_vm::cache_dir::CacheDir::resolve(None).unwrap();
    let root = ktstr_vm::scratch::root(cache.root());
    qemus_mentioning(&format!("{}/{pid}-", root.display()))
}
