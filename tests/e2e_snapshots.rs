//! End-to-end: boot once, restore many. Each test has a private cache (so
//! it knows which run saves and which restores) and boots the suite's
//! kernel under TCG. A restored run must judge exactly as a cold one
//! (`--cold-boot`) does, healthy or faulty; a snapshot that cannot be
//! restored must cost a cold boot and one line, never the run.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;
use serde_json::Value;

/// One finished run: exit code, parsed result, stderr.
struct Run {
    dir: std::path::PathBuf,
    code: i32,
    result: Value,
    stderr: String,
}

impl Run {
    /// "booted" or "restored": how the guest reached its run.
    fn start(&self) -> &str {
        let points = self.result["timeline"].as_array().expect("a timeline");
        points
            .iter()
            .filter_map(|p| p["point"].as_str())
            .find(|p| *p == "booted" || *p == "restored")
            .unwrap_or_else(|| panic!("neither booted nor restored: {:#}", self.result))
    }

    fn classes(&self) -> Vec<String> {
        classes(&self.result)
    }
}

fn command(cache: &Path) -> Command {
    let mut c = bin();
    c.env("KTSTR_VM_CACHE_DIR", cache);
    c
}

/// `ktstr-vm run --json` with `cache` as the cache directory.
fn run_in(cache: &Path, name: &str, args: &[&str]) -> Run {
    let dir = artifacts(name);
    let out = command(cache)
        .args(["run", "--json", "--artifacts", dir.to_str().unwrap()])
        .args(args)
        .output()
        .expect("running ktstr-vm");
    parse(name, args, out)
}

fn parse(name: &str, args: &[&str], out: Output) -> Run {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("e2e")
        .join(name);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    eprintln!(
        "{name}: ktstr-vm run {}\n--- exit {:?}\n--- stderr\n{stderr}",
        args.join(" "),
        out.status.code()
    );
    let result = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{name}: stdout is not a JSON result ({e})"));
    Run {
        dir,
        code: out.status.code().unwrap_or(-1),
        result,
        stderr,
    }
}

/// A private cache whose 2-vCPU snapshot exists: its first run saved it.
fn primed_cache(name: &str) -> tempfile::TempDir {
    let cache = tempfile::tempdir().unwrap();
    let k = kernel_path();
    let first = run_in(
        cache.path(),
        &format!("{name}-prime"),
        &["--kernel", &k, "--cpus", "2", "-d", "1s"],
    );
    assert_eq!(first.code, 0, "{:#}", first.result);
    assert_eq!(first.start(), "booted");
    assert!(
        first.stderr.contains("saved a snapshot for later runs"),
        "the first run saves: {}",
        first.stderr
    );
    cache
}

/// The one state file of the cache's only snapshot.
fn state_file(cache: &Path) -> std::path::PathBuf {
    let dirs: Vec<_> = std::fs::read_dir(cache.join("snapshots"))
        .unwrap()
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert_eq!(dirs.len(), 1, "one snapshot: {dirs:?}");
    dirs[0].path().join("state")
}

/// Worker names with whether each ran: the parts of a result that must
/// not depend on how the VM started.
fn workers_ran(r: &Value) -> Vec<(String, bool)> {
    r["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            let id = format!("{}.{} {}", w["group"], w["index"], w["work_type"]);
            (id, w["cpu_time_ns"].as_u64().is_some_and(|c| c > 0))
        })
        .collect()
}

#[test]
fn restored_runs_judge_like_cold_runs() {
    let cache = primed_cache("judge");
    let k = kernel_path();
    for sched in ["scx_simple", "scx_qmap", "eevdf"] {
        let mut args = vec!["--kernel", &k, "--cpus", "2", "-d", "3s"];
        if sched != "eevdf" {
            args.extend(["-s", sched]);
        }
        let restored = run_in(cache.path(), &format!("judge-{sched}-restored"), &args);
        args.push("--cold-boot");
        let cold = run_in(cache.path(), &format!("judge-{sched}-cold"), &args);
        assert_eq!(restored.start(), "restored", "{sched}: {}", restored.stderr);
        assert_eq!(cold.start(), "booted", "{sched}");
        assert_eq!(
            (restored.code, restored.classes()),
            (cold.code, cold.classes()),
            "{sched}: restored {:#}\ncold {:#}",
            restored.result,
            cold.result
        );
        assert_eq!(restored.code, 0, "{sched}: {:#}", restored.result);
        assert_eq!(
            restored.result["scheduler"]["ops"], cold.result["scheduler"]["ops"],
            "{sched}"
        );
        assert_eq!(
            workers_ran(&restored.result),
            workers_ran(&cold.result),
            "{sched}"
        );
        assert!(
            restored.stderr.contains("restoring the snapshot of"),
            "{}",
            restored.stderr
        );
        // The artifacts show the boot as a cold run's do, then the restore.
        let console = std::fs::read_to_string(restored.dir.join("console.log")).unwrap();
        // (The console is quiet: only warnings, with the boot's times.)
        let marker = console
            .find("this run was restored here")
            .unwrap_or_else(|| panic!("no restore marker: {console}"));
        assert!(console[..marker].contains("[    0."), "{console}");
    }
}

/// The fault corpus, each fault restored and cold: the same class.
#[test]
fn faults_are_classified_the_same_after_a_restore() {
    let cache = primed_cache("faults");
    let k = kernel_path();
    let busy_qmap = |flags: &[&'static str]| {
        let mut a = vec!["-s", "scx_qmap", "--workers", "8", "-d", "30s", "--"];
        a.extend_from_slice(flags);
        a
    };
    let cases: Vec<(&str, Vec<&str>, &str)> = vec![
        ("qmap-e", busy_qmap(&["-e", "200"]), "scheduler-disabled"),
        ("qmap-t", busy_qmap(&["-t", "20"]), "scheduler-disabled"),
        ("qmap-l", busy_qmap(&["-l", "50"]), "scheduler-disabled"),
        (
            "kill",
            vec![
                "-s",
                "scx_simple",
                "-d",
                "4s",
                "--inject",
                "kill-scheduler@1s",
            ],
            "scheduler-exited",
        ),
        (
            "panic",
            vec!["-s", "scx_simple", "-d", "4s", "--inject", "sysrq-c@1s"],
            "kernel-panic",
        ),
        (
            "hang",
            vec!["-d", "3s", "--timeout", "15s", "--inject", "hang@1s"],
            "guest-hung",
        ),
    ];
    for (name, case, class) in cases {
        // Options first: a scheduler's own arguments follow its `--`.
        let mut args = vec!["--kernel", k.as_str(), "--cpus", "2"];
        let mut cold_args = args.clone();
        cold_args.push("--cold-boot");
        args.extend(&case);
        cold_args.extend(&case);
        let restored = run_in(cache.path(), &format!("fault-{name}-restored"), &args);
        let cold = run_in(cache.path(), &format!("fault-{name}-cold"), &cold_args);
        assert_eq!(restored.start(), "restored", "{name}");
        assert_eq!(cold.start(), "booted", "{name}");
        assert_eq!(restored.code, 1, "{name}: {:#}", restored.result);
        assert_eq!(
            restored.classes().first().map(String::as_str),
            Some(class),
            "{name}: {:#}",
            restored.result
        );
        assert_eq!(
            (restored.code, restored.classes().first()),
            (cold.code, cold.classes().first()),
            "{name}: restored and cold differ"
        );
    }
}

#[test]
fn a_corrupt_snapshot_falls_back_to_a_cold_boot() {
    let cache = primed_cache("corrupt");
    let k = kernel_path();
    let args = ["--kernel", k.as_str(), "--cpus", "2", "-d", "1s"];

    // Same size, garbage inside: QEMU refuses the stream.
    let state = state_file(cache.path());
    let len = std::fs::metadata(&state).unwrap().len() as usize;
    let mut bytes = std::fs::read(&state).unwrap();
    bytes[..len.min(1 << 20)].fill(0x5a);
    std::fs::write(&state, &bytes).unwrap();
    let r = run_in(cache.path(), "corrupt-garbage", &args);
    assert_eq!(r.code, 0, "{:#}", r.result);
    assert_eq!(r.start(), "booted");
    let why: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.contains("could not be restored"))
        .collect();
    assert_eq!(why.len(), 1, "one line says why: {}", r.stderr);
    assert!(why[0].contains("booting cold instead"), "{}", why[0]);
    assert!(r.stderr.contains("saved a snapshot"), "{}", r.stderr);
    let again = run_in(cache.path(), "corrupt-after", &args);
    assert_eq!(again.start(), "restored", "the new snapshot serves");

    // Truncated: found damaged before QEMU starts.
    let state = state_file(cache.path());
    let half = std::fs::read(&state).unwrap();
    std::fs::write(&state, &half[..half.len() / 2]).unwrap();
    let r = run_in(cache.path(), "corrupt-truncated", &args);
    assert_eq!(r.code, 0, "{:#}", r.result);
    assert_eq!(r.start(), "booted");
    assert!(
        r.stderr.contains("the snapshot of this machine is damaged")
            && r.stderr.contains("booting cold and saving a new one"),
        "{}",
        r.stderr
    );
    let again = run_in(cache.path(), "truncated-after", &args);
    assert_eq!(again.start(), "restored");
}

#[test]
fn two_runs_restore_one_snapshot_at_once() {
    let cache = primed_cache("together");
    let k = kernel_path();
    let args = [
        "--kernel",
        k.as_str(),
        "--cpus",
        "2",
        "-s",
        "scx_simple",
        "-d",
        "3s",
    ];
    let children: Vec<_> = (0..2)
        .map(|i| {
            let dir = artifacts(&format!("together-{i}"));
            command(cache.path())
                .args(["run", "--json", "--artifacts", dir.to_str().unwrap()])
                .args(args)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (i, c) in children.into_iter().enumerate() {
        let r = parse(
            &format!("together-{i}"),
            &args,
            c.wait_with_output().unwrap(),
        );
        assert_eq!(r.code, 0, "{:#}", r.result);
        assert_eq!(r.start(), "restored", "{}", r.stderr);
    }
}

/// `exec` restores too, and a restored guest's random numbers are its own:
/// the host reseeds the CRNG that the snapshot froze.
#[test]
fn restored_exec_draws_fresh_random_numbers() {
    let cache = primed_cache("random");
    let k = kernel_path();
    let uuid = |name: &str| {
        let out = command(cache.path())
            .args(["exec", "-v", "--kernel", &k, "--cpus", "2", "--"])
            .args(["cat", "/proc/sys/kernel/random/uuid"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{name}: {stderr}");
        assert!(
            stderr.contains("restored from the snapshot"),
            "{name} restores: {stderr}"
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let (a, b) = (uuid("first"), uuid("second"));
    assert_eq!(a.len(), 36, "{a:?}");
    assert_ne!(a, b, "two restores drew the same random uuid");
}
