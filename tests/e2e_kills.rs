//! Killing ktstr-vm at every stage leaves nothing behind: no QEMU, no
//! scratch directory once the next command ran, and artifacts that say
//! whether the run finished (result.json) or was killed (INCOMPLETE).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{artifacts, bin, kernel, kernel_path, qemus_of};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Waits until `cond` holds, at most `secs`.
fn wait_for(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn contains(path: &Path, text: &str) -> bool {
    std::fs::read_to_string(path).is_ok_and(|t| t.contains(text))
}

fn start_run(dir: &Path, extra: &[&str]) -> Child {
    let k = kernel_path();
    bin()
        .args(["run", "--kernel", &k, "--duration", "60s", "--artifacts"])
        .arg(dir)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting ktstr-vm")
}

/// The scratch directories of `pid` under the default cache.
fn scratch_of(pid: u32) -> Vec<PathBuf> {
    let cache = ktstr_vm::cache_dir::CacheDir::resolve(None).unwrap();
    let root = ktstr_vm::scratch::root(cache.root());
    std::fs::read_dir(root)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with(&format!("{pid}-")))
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn sigkill_mid_run_leaves_no_qemu_and_the_next_command_sweeps() {
    let dir = artifacts("kill-9-mid-run");
    let mut child = start_run(&dir, &[]);
    let pid = child.id();
    wait_for(120, "the workload to start", || {
        contains(&dir.join("guest.jsonl"), "workload_started")
    });
    assert_eq!(scratch_of(pid).len(), 1, "the run's scratch directory");
    assert_eq!(qemus_of(pid).len(), 1, "the run's QEMU");
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).unwrap();
    child.wait().unwrap();
    wait_for(10, "QEMU to die with its parent", || {
        qemus_of(pid).is_empty()
    });
    // Killed: no result, and the directory says so.
    assert!(!dir.join("result.json").exists());
    assert!(contains(&dir.join("INCOMPLETE"), "did not finish"));
    assert!(dir.join("console.log").exists(), "the evidence is kept");
    // The next command of any kind removes what the killed one left.
    let out = bin().args(["topo", "list"]).output().unwrap();
    assert!(out.status.success());
    assert!(scratch_of(pid).is_empty(), "{:?}", scratch_of(pid));
}

#[test]
fn sigterm_mid_boot_and_sigint_mid_run_end_cleanly() {
    for (name, signal, stage) in [
        ("term-mid-boot", Signal::SIGTERM, "boot"),
        ("int-mid-run", Signal::SIGINT, "run"),
    ] {
        let dir = artifacts(name);
        let mut child = start_run(&dir, &[]);
        let pid = child.id();
        match stage {
            "boot" => wait_for(60, "QEMU to start", || !qemus_of(pid).is_empty()),
            _ => wait_for(120, "the workload to start", || {
                contains(&dir.join("guest.jsonl"), "workload_started")
            }),
        }
        assert_eq!(qemus_of(pid).len(), 1, "{name}: the run's QEMU");
        kill(Pid::from_raw(pid as i32), signal).unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(130), "{name}");
        assert!(qemus_of(pid).is_empty(), "{name}: QEMU left");
        assert!(scratch_of(pid).is_empty(), "{name}: scratch left");
        let result = std::fs::read_to_string(dir.join("result.json")).unwrap();
        assert!(result.contains("\"interrupted\""), "{name}: {result}");
        assert!(!dir.join("INCOMPLETE").exists(), "{name}");
    }
}

#[test]
fn killing_a_matrix_kills_every_cell() {
    let key = kernel().key.expect("the suite's kernel has a cache key");
    for signal in [Signal::SIGINT, Signal::SIGKILL] {
        let dir = artifacts(&format!("kill-matrix-{signal}"));
        let mut child = bin()
            .args([
                "matrix",
                "--plan",
                "/dev/null",
                "-k",
                &key,
                "-t",
                "1n1l2c1t",
            ])
            .args([
                "-s",
                "eevdf",
                "-s",
                "scx_simple",
                "-d",
                "60s",
                "-j",
                "2",
                "-q",
            ])
            .arg("--artifacts")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id();
        wait_for(120, "both cells' QEMUs", || qemus_of(pid).len() >= 2);
        kill(Pid::from_raw(pid as i32), signal).unwrap();
        let status = child.wait().unwrap();
        wait_for(10, "every cell's QEMU to die", || qemus_of(pid).is_empty());
        if signal == Signal::SIGINT {
            assert_eq!(status.code(), Some(130));
            let report = std::fs::read_to_string(dir.join("matrix.json")).unwrap();
            assert!(report.contains("\"exit_code\": 130"), "{report}");
        }
        let _ = bin().args(["topo", "list"]).output();
        assert!(scratch_of(child.id()).is_empty());
    }
}

/// Live processes whose working directory is under `root`, with their
/// command names: a kernel build's make and compilers run in its tree.
fn processes_under(root: &Path) -> Vec<(i32, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cwd) = std::fs::read_link(e.path().join("cwd")) else {
            continue;
        };
        let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
        if cwd.starts_with(root) {
            out.push((pid, comm.trim().to_string()));
        }
    }
    out
}

#[test]
fn sigkill_mid_kernel_build_leaves_no_make_or_compiler() {
    // A cache of its own: the build extracts Debian's tarball and compiles
    // there (never into the suite's cache).
    // (It extracts Debian's tarball: about 1.5 GB of free disk.)
    let cache = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let root = cache.path().canonicalize().unwrap();
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut build = bin()
        .args(["kernel", "build", "--cache-dir"])
        .arg(&root)
        .stdout(Stdio::null())
        .stderr(log.reopen().unwrap())
        .spawn()
        .unwrap();
    wait_for(900, "the kernel build to start compiling", || {
        if let Some(status) = build.try_wait().unwrap() {
            let err = std::fs::read_to_string(log.path()).unwrap_or_default();
            panic!("the kernel build ended ({status}) before it compiled anything:\n{err}");
        }
        processes_under(&root)
            .iter()
            .any(|(_, comm)| comm == "cc1" || comm == "gcc")
    });
    kill(Pid::from_raw(build.id() as i32), Signal::SIGKILL).unwrap();
    build.wait().unwrap();
    // The guardian gives the group 2 s between SIGTERM and SIGKILL. (An
    // unguarded make also dies soon, of SIGPIPE at its next output line,
    // but the compilers it started run their file to the end: this
    // window is what tells the two apart, not reliably on a fast host.)
    wait_for(6, "make and the compilers to end with ktstr-vm", || {
        processes_under(&root).is_empty()
    });
    // Nothing half-built is trusted: no entry, and `kernel clean` finds
    // the staging left by the kill (if any) and removes it.
    let list = bin()
        .args(["kernel", "list", "--json", "--cache-dir"])
        .arg(&root)
        .output()
        .unwrap();
    let entries: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(entries.as_array().map(Vec::len), Some(0), "{entries:#}");
    let clean = bin()
        .args(["kernel", "clean", "--cache-dir"])
        .arg(&root)
        .output()
        .unwrap();
    assert_eq!(clean.status.code(), Some(0));
    // Entries are `<key>/`, staging `.tmp-*/`; `.logs/` and `.locks/` are
    // the store's own (a failed build's log is kept for the user).
    let dirs: Vec<_> = std::fs::read_dir(root.join("kernels"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n != ".logs" && n != ".locks")
                .filter(|n| !n.starts_with('.') || n.starts_with(".tmp-"))
                .collect()
        })
        .unwrap_or_default();
    assert!(dirs.is_empty(), "kernels/ keeps {dirs:?} after clean");
}
