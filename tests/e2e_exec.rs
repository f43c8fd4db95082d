//! End-to-end: payloads in `run`, `ktstr-vm exec` and `ktstr-vm shell`,
//! booting the cached kernel under TCG.

mod common;

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

#[test]
fn stress_ng_payload_under_scx_simple_reaches_the_result() {
    let k = kernel_path();
    let (code, r) = run_json(
        "payload-stress-ng",
        &[
            "--kernel",
            &k,
            "-s",
            "scx_simple",
            "--cpus",
            "2",
            "--duration",
            "30s",
            "--workers",
            "2",
            "--payload",
            "stress-ng --cpu 2 --timeout 2s --metrics-brief",
        ],
    );
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(r["scheduler"]["ops"], "simple");
    let p = &r["payloads"][0];
    assert_eq!(p["name"], "stress-ng", "{p:#}");
    assert_eq!(
        p["exit"],
        serde_json::json!({"kind": "exited", "code": 0}),
        "{p:#}"
    );
    assert_eq!(p["stopped"], false);
    // stress-ng reports its run on stderr; the foreground payload ended
    // the workload long before the 30 s duration.
    let out = format!("{}{}", p["stdout"], p["stderr"]);
    assert!(out.contains("successful run completed"), "{out}");
    assert!(r["duration_ms"].as_u64().unwrap() >= 30_000);
    assert!(
        r["wall_ms"].as_u64().unwrap() < 25_000,
        "the payload's end should end the run: {r:#}"
    );
}

#[test]
fn failing_payload_fails_the_run_unless_ignored() {
    let k = kernel_path();
    let args = [
        "--kernel",
        &k,
        "--cpus",
        "2",
        "--duration",
        "20s",
        "--workers",
        "1",
    ];
    let payload = ["--payload", "sh -c 'echo out; echo err >&2; exit 3'"];
    let (code, r) = run_json("payload-fails", &[&args[..], &payload[..]].concat());
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(classes(&r), ["payload-failed"], "{r:#}");
    assert_eq!(r["payloads"][0]["exit"]["code"], 3);
    assert_eq!(r["payloads"][0]["stdout"], "out\n");
    assert_eq!(r["payloads"][0]["stderr"], "err\n");
    let (code, r) = run_json(
        "payload-ignored",
        &[&args[..], &payload[..], &["--payload-ignore-exit"]].concat(),
    );
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(r["payloads"][0]["exit"]["code"], 3);
}

#[test]
fn background_payload_is_stopped_not_failed() {
    let k = kernel_path();
    let (code, r) = run_json(
        "payload-bg",
        &[
            "--kernel",
            &k,
            "--cpus",
            "2",
            "--duration",
            "2s",
            "--workers",
            "1",
            "--payload-bg",
            "sleep 60",
        ],
    );
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(r["payloads"][0]["stopped"], true, "{r:#}");
}

#[test]
fn payload_env_cgroup_and_timeout_through_the_library() {
    use ktstr_vm::args::VmOpts;
    use ktstr_vm::cache_dir::CacheDir;
    use ktstr_vm::payload::PayloadSpec;
    use ktstr_vm::plan::{Mode, RunPlan, RunRequest};
    use ktstr_vm::qemu::accel::AccelRequest;
    use ktstr_vm::run::execute::{execute, RunOptions};
    use ktstr_wire::ExitStatus;

    let cache = CacheDir::resolve(None).unwrap();
    let vm = VmOpts {
        kernel: Some(kernel_path()),
        scheduler: None,
        topology: None,
        cpus: Some(2),
        memory: 1024,
        accel: AccelRequest::Auto,
        attach_timeout: None,
        include: Vec::new(),
        append: None,
        artifacts: Some(artifacts("payload-library")),
        cold_boot: false,
    };
    // dash (the host's sh) has no cat: builtins only.
    let probe = "echo \"FOO=$FOO\"; read -r cg < /proc/self/cgroup; echo \"$cg\"; sleep 3";
    let req = RunRequest {
        workers: Some(0),
        payloads: vec![
            PayloadSpec::new("sh")
                .args(["-c", probe])
                .env("FOO", "a b")
                .cgroup("payloads/probe")
                .foreground(true),
            PayloadSpec::new("sleep")
                .args(["60"])
                .timeout(Duration::from_secs(1)),
        ],
        ..vm.request(Mode::Workload, Vec::new(), Duration::from_secs(30))
    };
    let plan = RunPlan::new(&req, &cache).unwrap();
    let opts = RunOptions {
        quiet: true,
        ..Default::default()
    };
    let done = execute(&plan, &cache, opts).unwrap();
    let p = &done.result.payloads;
    assert_eq!(p[0].stdout, "FOO=a b\n0::/ktstr/payloads/probe\n", "{p:#?}");
    assert_eq!(p[0].exit, Some(ExitStatus::Exited { code: 0 }));
    assert_eq!(p[1].exit, Some(ExitStatus::TimedOut), "{p:#?}");
    let classes: Vec<String> = done
        .result
        .findings
        .iter()
        .map(|f| f.class.name())
        .collect();
    assert_eq!(classes, ["payload-failed"]);
    assert_eq!(done.exit.code(), 1);
}

fn exec(args: &[&str]) -> std::process::Output {
    let k = kernel_path();
    let mut all = vec!["exec", "--kernel", &k, "--cpus", "2"];
    all.extend_from_slice(args);
    ktstr(&all)
}

#[test]
fn exec_returns_the_command_exit_code_and_output() {
    let out = exec(&["--", "true"]);
    assert_eq!(out.status.code(), Some(0));
    let out = exec(&[
        "--",
        "sh",
        "-c",
        "echo to-stdout; echo to-stderr >&2; exit 7",
    ]);
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "to-stdout\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("to-stderr\n"));
}

#[test]
fn exec_with_scheduler_sees_it_attached() {
    let out = exec(&[
        "-s",
        "scx_simple",
        "--",
        "sh",
        "-c",
        "cat /sys/kernel/sched_ext/root/ops",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "simple\n");
}

#[test]
fn exec_timeout_and_missing_command() {
    let out = exec(&["--timeout", "1s", "--", "sleep", "30"]);
    assert_eq!(out.status.code(), Some(124));
    let out = exec(&["--", "/no/such/guest/binary"]);
    assert_eq!(out.status.code(), Some(127));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/no/such/guest/binary"));
    let out = exec(&["--", "no-such-command-on-the-host"]);
    assert_eq!(out.status.code(), Some(129));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found on the host PATH"));
}

/// A C test runner that prints a header without flushing, forks a child
/// per test, then prints a summary; it exits 3 when its stdout is not a
/// terminal.
const FORKING_RUNNER: &str = r#"
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
int main(void) {
    printf("HEADER of the test run\n");
    for (int i = 0; i < 4; i++) {
        pid_t p = fork();
        if (p == 0) {
            printf("child %d ok\n", i);
            exit(0);
        }
        waitpid(p, NULL, 0);
    }
    printf("SUMMARY: 4 passed, 0 failed\n");
    return isatty(1) ? 0 : 3;
}
"#;

/// On a pipe, stdio buffers the header and every forked child flushes a
/// copy of it; on the terminal the guest gives `exec` the header goes out
/// once, when printed, and the bytes arrive unchanged (no `\r`).
#[test]
fn exec_stdout_is_a_terminal_so_children_do_not_repeat_the_header() {
    let dir = artifacts("exec-pty-build");
    let prog = cc(&dir, "forking_runner", FORKING_RUNNER, &[]);
    let out = exec(&["--", prog.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.matches("HEADER of the test run").count(),
        1,
        "{stdout}"
    );
    assert_eq!(out.status.code(), Some(0), "stdout was not a terminal");
    let want = "HEADER of the test run\nchild 0 ok\nchild 1 ok\nchild 2 ok\nchild 3 ok\nSUMMARY: 4 passed, 0 failed\n";
    assert_eq!(stdout, want);
}

/// Writes 45 000 lines of 199 bytes (8 955 000 bytes, over the guest's
/// 4 MiB live head per stream and the old 8 MiB per payload), one write
/// per line, then a summary line.
const SPEW: &str = r#"
#include <stdio.h>
#include <string.h>
int main(void) {
    char pad[190];
    memset(pad, 'x', sizeof pad - 1);
    pad[sizeof pad - 1] = 0;
    for (int i = 0; i < 45000; i++)
        printf("%08d %s\n", i, pad);
    printf("SUMMARY: all 45000 lines written\n");
    return 0;
}
"#;

/// Output caps count bytes and keep the end: the summary after 9 MB of
/// output reaches result.json and the artifact, after a marker that says
/// how much was dropped.
#[test]
fn payload_output_over_the_cap_keeps_its_end() {
    let dir = artifacts("payload-spew-build");
    let prog = cc(&dir, "spew", SPEW, &[]);
    let k = kernel_path();
    let (code, r) = run_json(
        "payload-spew",
        &[
            "--kernel",
            &k,
            "--cpus",
            "2",
            "--workers",
            "0",
            "-d",
            "120s",
            "--payload",
            prog.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{r:#}");
    let p = &r["payloads"][0];
    let last = "SUMMARY: all 45000 lines written\n";
    let stdout = p["stdout"].as_str().unwrap();
    assert!(
        stdout.ends_with(last),
        "{}",
        &stdout[stdout.len().saturating_sub(300)..]
    );
    let written = 45_000 * 199 + last.len() as u64;
    assert_eq!(p["stdout_bytes"].as_u64(), Some(written), "{p:#}");
    let dropped = p["stdout_dropped"].as_u64().unwrap();
    assert!(dropped > 4_000_000, "{p:#}");
    // run_json kept the artifacts in the directory artifacts() names.
    let arts = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e/payload-spew");
    let file = std::fs::read_to_string(arts.join("payload-spew.stdout")).unwrap();
    assert!(file.ends_with(last));
    assert!(file.contains(&format!("\n[ktstr-vm: {dropped} bytes dropped]\n")));
    assert!(file.starts_with("00000000 xxx"));
}

#[test]
fn shell_refuses_without_a_terminal() {
    let k = kernel_path();
    let out = ktstr(&["shell", "--kernel", &k]);
    assert_eq!(out.status.code(), Some(129));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs a terminal"));
}

/// Reads from the pty until `want` shows up (or panics at the deadline).
fn read_until(master: &mut std::fs::File, seen: &mut String, want: &str, deadline: Instant) {
    let mut buf = [0u8; 4096];
    while !seen.contains(want) {
        assert!(
            Instant::now() < deadline,
            "no {want:?} on the console; got:\n{seen}"
        );
        let mut fds = [nix::poll::PollFd::new(
            std::os::fd::AsFd::as_fd(&*master),
            nix::poll::PollFlags::POLLIN,
        )];
        if nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(200u16)).unwrap_or(0) == 0 {
            continue;
        }
        match master.read(&mut buf) {
            Ok(0) | Err(_) => panic!("console closed before {want:?}; got:\n{seen}"),
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
}

#[test]
fn shell_through_a_pty_reads_the_scheduler_back() {
    let k = kernel_path();
    let dir = artifacts("shell");
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let slave: OwnedFd = pty.slave;
    let mut child = bin()
        .args([
            "shell",
            "--kernel",
            &k,
            "--cpus",
            "2",
            "-s",
            "scx_simple",
            "--artifacts",
            dir.to_str().unwrap(),
        ])
        .stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave))
        .spawn()
        .expect("spawning ktstr-vm shell");
    let mut master = std::fs::File::from(pty.master);
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut seen = String::new();
    read_until(&mut master, &mut seen, "ktstr-vm:/# ", deadline);
    master
        .write_all(b"echo ops=$(cat /sys/kernel/sched_ext/root/ops)\n")
        .unwrap();
    read_until(&mut master, &mut seen, "ops=simple", deadline);
    master.write_all(b"exit\n").unwrap();
    read_until(&mut master, &mut seen, "PASS", deadline);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "ktstr-vm shell did not end; console:\n{seen}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0), "{seen}");
    // The session is recorded as the console log, as in any run.
    let console = std::fs::read_to_string(dir.join("console.log")).unwrap();
    assert!(console.contains("ops=simple"), "{console}");
}

#[test]
fn exec_never_waits_for_a_stdout_nobody_reads() {
    let k = kernel_path();
    // Megabytes of output into a pipe nobody reads: it fills at 64 KiB.
    let mut child = bin()
        .args(["exec", "--kernel", &k, "--cpus", "2", "--", "sh", "-c"])
        .arg("yes 0123456789abcdef | head -c 4000000; echo; echo end")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting ktstr-vm");
    let deadline = Instant::now() + Duration::from_secs(180);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("ktstr-vm exec did not finish: it waits for its stdout");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(err.contains("not shown live"), "{err}");
}
