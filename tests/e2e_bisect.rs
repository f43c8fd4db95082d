//! End-to-end: `ktstr-vm bisect` finds the commit of a scheduler
//! repository that broke the test, running real VMs at each step.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

fn git(repo: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["-c", "user.email=t@example.com", "-c", "user.name=t"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn finds_the_commit_that_broke_the_scheduler() {
    let k = kernel();
    let sched_dir = k
        .schedulers_dir
        .clone()
        .expect("the cached kernel has example schedulers");
    let repo = tempfile::tempdir().unwrap();
    let r = repo.path();
    git(r, &["init", "-q"]);
    // The "scheduler source" picks which binary the build produces.
    // Good: the kernel's scx_simple. Bad: scx_simple with a verifier error
    // (tests/bad-schedulers), which fails to load every time. (Not
    // scx_central: on 6.12 its init runs on whichever CPU the kernel's
    // helper thread lands on, so it fails only sometimes.)
    let good = sched_dir.join("scx_simple").display().to_string();
    let bad = common::bad_schedulers::variant("scx_bad_verifier");
    let mut commits = Vec::new();
    for (i, (name, which)) in [
        ("good", &good),
        ("good", &good),
        ("bad", &bad),
        ("bad", &bad),
        ("bad", &bad),
    ]
    .iter()
    .enumerate()
    {
        std::fs::write(r.join("which"), which).unwrap();
        std::fs::write(r.join("version"), i.to_string()).unwrap();
        git(r, &["add", "."]);
        git(r, &["commit", "-q", "-m", &format!("step {i}: {name}")]);
        commits.push(git(r, &["rev-parse", "HEAD"]));
    }
    let build = "mkdir -p out && cp \"$(cat which)\" out/sched".to_string();
    let kpath = k.image.display().to_string();
    let out = ktstr(&[
        "bisect",
        "--repo",
        r.to_str().unwrap(),
        "--good",
        &commits[0],
        "--bad",
        &commits[4],
        "--build",
        &build,
        "--scheduler",
        "out/sched",
        "--kernel",
        &kpath,
        "--duration",
        "1s",
        "--cpus",
        "2",
        "-q",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains(&format!("first bad commit: {} step 2: bad", commits[2])),
        "{stdout}"
    );
    // The repository is left as it was.
    assert_eq!(git(r, &["rev-parse", "HEAD"]), commits[4]);
    assert!(!r.join(".git/BISECT_START").exists());
}

#[test]
fn a_dirty_repository_is_refused() {
    let repo = tempfile::tempdir().unwrap();
    let r = repo.path();
    git(r, &["init", "-q"]);
    std::fs::write(r.join("f"), "1").unwrap();
    git(r, &["add", "."]);
    git(r, &["commit", "-q", "-m", "one"]);
    std::fs::write(r.join("f"), "2").unwrap();
    git(r, &["commit", "-q", "-am", "two"]);
    std::fs::write(r.join("f"), "3").unwrap();
    let out = ktstr(&[
        "bisect",
        "--repo",
        r.to_str().unwrap(),
        "--good",
        "HEAD~1",
        "--bad",
        "HEAD",
        "--build",
        "true",
        "-s",
        "x",
    ]);
    assert_eq!(out.status.code(), Some(129));
    assert!(String::from_utf8_lossy(&out.stderr).contains("uncommitted changes"));
}
