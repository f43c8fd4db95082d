//! End-to-end: a hostile guest floods everything it can write to (its
//! stdout, the serial console, the kernel log, the results port itself),
//! and the host must stay bounded: the run still ends with a verdict, every
//! capped artifact is capped and says so, and `ktstr-vm`'s own peak RSS
//! (read at its exit, QEMU excluded) stays small.
//!
//! Volumes are far above every cap but small enough for TCG: the point is
//! the caps, not the throughput. The peak RSS of each flood is printed;
//! `-- --nocapture` shows it.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use nix::sys::ptrace;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;

use common::*;

/// What the host may use at its peak, whatever the guest does (KiB). The
/// guest's streams are bounded by caps in the MiB, not by the guest.
const MAX_HOST_PEAK_KIB: u64 = 50 << 10;

/// `flood MODE AMOUNT`: writes far more than any cap to one place, then
/// `FLOOD-END` to its stdout. AMOUNT is MiB for `stdout` and `console`,
/// records for `kmsg`, and MiB of the endless line for `port`.
const FLOOD: &str = r#"
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static char buf[64 << 10];

static void write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w <= 0) { perror("write"); exit(2); }
        p += w; n -= (size_t)w;
    }
}

/* `n` MiB of numbered 64-byte lines to `fd`. */
static void lines(int fd, long mib) {
    char one[80];
    long line = 0;
    for (long chunk = 0; chunk < mib * 16; chunk++) {
        for (size_t off = 0; off < sizeof buf; off += 64, line++) {
            snprintf(one, sizeof one, "flood line %012ld %.39s\n", line,
                     "........................................");
            memcpy(buf + off, one, 64);
        }
        write_all(fd, buf, sizeof buf);
    }
}

/* The results port's /dev node, from its name under sysfs. */
static int port_path(char *out, size_t len) {
    DIR *d = opendir("/sys/class/virtio-ports");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char p[512], name[128] = {0};
        snprintf(p, sizeof p, "/sys/class/virtio-ports/%s/name", e->d_name);
        FILE *f = fopen(p, "r");
        if (!f) continue;
        if (fgets(name, sizeof name, f) && strncmp(name, "org.ktstr-vm.results", 20) == 0) {
            snprintf(out, len, "/dev/%s", e->d_name);
            fclose(f);
            closedir(d);
            return 0;
        }
        fclose(f);
    }
    return -1;
}

/* A virtio port opens once and init holds it: take init's own fd. */
static int steal_port(void) {
    char want[300], fdp[64], link[300];
    if (port_path(want, sizeof want)) { fprintf(stderr, "no results port\n"); exit(3); }
    int pidfd = (int)syscall(SYS_pidfd_open, 1, 0);
    if (pidfd < 0) { perror("pidfd_open"); exit(3); }
    for (int fd = 0; fd < 1024; fd++) {
        snprintf(fdp, sizeof fdp, "/proc/1/fd/%d", fd);
        ssize_t n = readlink(fdp, link, sizeof link - 1);
        if (n <= 0) continue;
        link[n] = 0;
        if (strcmp(link, want) == 0) {
            int got = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
            if (got >= 0) return got;
            perror("pidfd_getfd");
        }
    }
    fprintf(stderr, "init holds no fd on %s\n", want);
    exit(3);
}

static void port(long mib) {
    int fd = steal_port();
    /* Garbage bytes, not UTF-8, in lines. */
    memset(buf, 0xff, 4096);
    buf[4095] = '\n';
    for (int i = 0; i < 2000; i++) write_all(fd, buf, 4096);
    /* Lines that look like messages but are not. */
    for (int i = 0; i < 20000; i++) {
        int n = snprintf(buf, sizeof buf, "{\"type\":\"no_such_message\",\"n\":%d}\n{\"type\":\"done\"\n", i);
        write_all(fd, buf, (size_t)n);
    }
    /* Well-formed messages carrying as much as a line may: kernel log
       records of almost 1 MiB each, 160 MiB in all. */
    static char big[(1 << 20) + 128];
    int head = snprintf(big, sizeof big, "{\"type\":\"kernel_log\",\"level\":6,\"ts_us\":1,\"line\":\"");
    memset(big + head, 'k', (1 << 20) - 100);
    int n = head + (1 << 20) - 100;
    n += snprintf(big + n, sizeof big - (size_t)n, "\"}\n");
    for (int i = 0; i < 160; i++) write_all(fd, big, (size_t)n);
    /* A line that never ends. */
    memset(buf, 'x', sizeof buf);
    for (long i = 0; i < mib * 16; i++) write_all(fd, buf, sizeof buf);
}

static void kmsg(long records) {
    /* Root may lift the kernel's rate limit on /dev/kmsg writers. */
    int ctl = open("/proc/sys/kernel/printk_devkmsg", O_WRONLY);
    if (ctl < 0 || write(ctl, "on\n", 3) != 3) { perror("printk_devkmsg"); exit(3); }
    close(ctl);
    int fd = open("/dev/kmsg", O_WRONLY);
    if (fd < 0) { perror("/dev/kmsg"); exit(3); }
    /* Level 5: forwarded for its "sched_ext", kept off the console. */
    for (long i = 0; i < records; i++) {
        int n = snprintf(buf, sizeof buf, "<5>kmsg flood %ld sched_ext-noise\n", i);
        write_all(fd, buf, (size_t)n);
    }
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: flood MODE AMOUNT\n"); return 2; }
    long amount = atol(argv[2]);
    if (strcmp(argv[1], "stdout") == 0) {
        lines(1, amount);
    } else if (strcmp(argv[1], "console") == 0) {
        int fd = open("/dev/console", O_WRONLY | O_NOCTTY);
        if (fd < 0) { perror("/dev/console"); return 3; }
        write_all(fd, "CONSOLE-FLOOD-START\n", 20);
        lines(fd, amount);
        write_all(fd, "CONSOLE-FLOOD-END\n", 18);
    } else if (strcmp(argv[1], "kmsg") == 0) {
        kmsg(amount);
    } else if (strcmp(argv[1], "port") == 0) {
        port(amount);
    } else {
        fprintf(stderr, "unknown mode %s\n", argv[1]);
        return 2;
    }
    write_all(1, "FLOOD-END\n", 10);
    return 0;
}
"#;

/// A run of the real binary with its peak RSS.
struct Measured {
    code: i32,
    result: serde_json::Value,
    dir: PathBuf,
    /// What `ktstr-vm` printed while it ran.
    stderr: String,
    peak_kib: u64,
}

/// The flood program, built once per test (tests run in parallel threads).
fn flood_program(test: &str) -> PathBuf {
    cc(&artifacts(&format!("{test}-build")), "flood", FLOOD, &[])
}

/// Runs `ktstr-vm run --json` with `flood MODE AMOUNT` as its payload and
/// reads the peak RSS of `ktstr-vm` itself (VmHWM) when it exits: traced
/// with `PTRACE_O_TRACEEXIT`, it stops at its exit with its memory still
/// mapped. Not `/usr/bin/time`: `wait4`'s `ru_maxrss` also covers the
/// children a process reaped, here QEMU.
// Reaped by the `waitpid` loop below (it must see the ptrace stops).
#[allow(clippy::zombie_processes)]
fn run_flood(test: &str, mode: &str, amount: u64, duration: &str) -> Measured {
    let prog = flood_program(test);
    let payload = format!("{} {mode} {amount}", prog.display());
    let dir = artifacts(test);
    let k = kernel_path();
    let args = [
        "run",
        "--json",
        "--artifacts",
        dir.to_str().unwrap(),
        "--kernel",
        &k,
        "--cpus",
        "2",
        "--workers",
        "0",
        "-d",
        duration,
        "--payload",
        &payload,
    ];
    let mut child = bin()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting ktstr-vm");
    let pid = Pid::from_raw(child.id() as i32);
    ptrace::seize(pid, ptrace::Options::PTRACE_O_TRACEEXIT)
        .expect("ptrace(PTRACE_SEIZE) on ktstr-vm, to read its peak RSS at exit");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stdout.read_to_end(&mut v);
        v
    });
    let err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stderr.read_to_end(&mut v);
        v
    });
    let mut peak_kib = None;
    // Reaped here, not by `child.wait()`.
    let code = loop {
        match waitpid(pid, None).expect("waitpid on ktstr-vm") {
            WaitStatus::PtraceEvent(_, _, ev) if ev == libc::PTRACE_EVENT_EXIT => {
                peak_kib = vm_hwm_kib(pid);
                let _ = ptrace::cont(pid, None);
            }
            WaitStatus::Stopped(_, sig) => {
                let _ = ptrace::cont(pid, sig);
            }
            WaitStatus::PtraceEvent(..) => {
                let _ = ptrace::cont(pid, None);
            }
            WaitStatus::Exited(_, code) => break code,
            WaitStatus::Signaled(_, sig, _) => break 128 + sig as i32,
            _ => {}
        }
    };
    let stdout = out.join().unwrap();
    let stderr = err.join().unwrap();
    eprintln!(
        "ktstr-vm {}\n--- exit {code}\n--- stderr\n{}",
        args.join(" "),
        String::from_utf8_lossy(&stderr)
    );
    let result: serde_json::Value = serde_json::from_slice(&stdout).unwrap_or_else(|e| {
        panic!(
            "{test}: stdout is not a JSON result ({e}): {}",
            String::from_utf8_lossy(&stdout)
        )
    });
    let peak_kib = peak_kib.expect("ktstr-vm exited without its exit stop: no VmHWM read");
    eprintln!(
        "{test}: ktstr-vm peak RSS (VmHWM) {:.1} MiB",
        peak_kib as f64 / 1024.0
    );
    Measured {
        code,
        result,
        dir,
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        peak_kib,
    }
}

/// `VmHWM` of `pid` in KiB, from `/proc/PID/status`.
fn vm_hwm_kib(pid: Pid) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// What every flood must leave: a verdict with a defined exit code, its
/// result on disk, and a host that stayed small.
fn assert_bounded(m: &Measured) {
    assert!(
        [0, 1, 125, 131].contains(&m.code),
        "exit {} is not a verdict: {:#}",
        m.code,
        m.result
    );
    assert_eq!(m.result["exit_code"], m.code, "{:#}", m.result);
    assert!(m.dir.join("result.json").exists());
    assert!(
        m.peak_kib < MAX_HOST_PEAK_KIB,
        "ktstr-vm peaked at {} KiB, over {MAX_HOST_PEAK_KIB} KiB",
        m.peak_kib
    );
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .len()
}

/// Lines of `guest.jsonl` (the raw stream, itself capped) of message `ty`.
fn stream_count(dir: &Path, ty: &str) -> usize {
    let raw = std::fs::read(dir.join("guest.jsonl")).unwrap();
    let tag = format!("{{\"type\":\"{ty}\"");
    raw.split(|&b| b == b'\n')
        .filter(|l| l.starts_with(tag.as_bytes()))
        .count()
}

const MIB: u64 = 1 << 20;

/// The guest's cap on one payload stream: 4 MiB live, 256 KiB of tail.
const PAYLOAD_KEPT: u64 = (4 << 20) + (256 << 10);

#[test]
fn stdout_flood_is_capped_and_keeps_its_end() {
    let mib = 96;
    let m = run_flood("flood-stdout", "stdout", mib, "300s");
    let p = &m.result["payloads"][0];
    assert_eq!(p["exit"]["code"], 0, "{p:#}");
    assert_eq!(p["stdout_bytes"].as_u64(), Some(mib * MIB + 10), "{p:#}");
    let dropped = p["stdout_dropped"].as_u64().unwrap();
    assert!(dropped >= mib * MIB - PAYLOAD_KEPT, "{p:#}");
    let file = m.dir.join("payload-flood.stdout");
    assert!(file_len(&file) <= PAYLOAD_KEPT + 100, "{}", file_len(&file));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.starts_with("flood line 000000000000 "),
        "{}",
        &text[..100]
    );
    assert!(text.contains(&format!("\n[ktstr-vm: {dropped} bytes dropped]\n")));
    assert!(text.ends_with("FLOOD-END\n"));
    assert_bounded(&m);
}

/// `console.log` keeps 4 MiB of head and 4 MiB of tail.
const CONSOLE_KEPT: u64 = 8 << 20;

#[test]
fn console_flood_is_capped_with_a_marker() {
    let mib = 9;
    let m = run_flood("flood-console", "console", mib, "300s");
    let p = &m.result["payloads"][0];
    assert_eq!(p["exit"]["code"], 0, "{p:#}");
    let log = m.dir.join("console.log");
    let len = file_len(&log);
    assert!(len <= CONSOLE_KEPT + 200, "console.log is {len} bytes");
    let text = String::from_utf8_lossy(&std::fs::read(&log).unwrap()).into_owned();
    let marker = "bytes of console output dropped here";
    assert_eq!(text.matches(marker).count(), 1);
    let (head, tail) = text.split_once(marker).unwrap();
    assert!(
        head.contains("flood line 000000000000 "),
        "the head was not kept"
    );
    assert!(tail.contains("CONSOLE-FLOOD-END"), "the tail was not kept");
    assert!(m.stderr.contains("the guest flooded its console"));
    assert_bounded(&m);
}

/// Kernel log records init forwards: 4000, then sched_ext's up to 8000.
const KMSG_KEPT: usize = 8000;

#[test]
fn kmsg_flood_is_cut_once() {
    let records = 600_000;
    let m = run_flood("flood-kmsg", "kmsg", records, "300s");
    let p = &m.result["payloads"][0];
    assert_eq!(p["exit"]["code"], 0, "{p:#}");
    let kept = stream_count(&m.dir, "kernel_log");
    assert!(
        (4000..=KMSG_KEPT).contains(&kept),
        "{kept} kernel_log lines"
    );
    assert_eq!(stream_count(&m.dir, "log_cut"), 1);
    assert!(m.stderr.contains("kmsg log cut after 4000 lines"));
    assert_bounded(&m);
}

/// Garbage, wrong messages, 160 MiB of maximal messages and an endless
/// line, written into the results port with init's own descriptor. The
/// host keeps the first 100 malformed lines and counts the rest, and
/// keeps 16 MiB of log text, so it stays bounded (it peaked at 208 MiB
/// before either bound, 65 MiB with only the text bound).
#[test]
fn results_port_flood_ends_in_a_verdict() {
    let m = run_flood("flood-port", "port", 64, "300s");
    let r = &m.result;
    assert_eq!(
        classes(r).last().map(String::as_str),
        Some("protocol-error"),
        "{r:#}"
    );
    let raw = file_len(&m.dir.join("guest.jsonl"));
    assert!(raw <= 64 * MIB, "guest.jsonl is {raw} bytes");
    // Every malformed line counted, though only 100 are kept.
    let msg = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["message"].as_str())
        .find(|m| m.contains("malformed line(s)"))
        .unwrap_or_else(|| panic!("{r:#}"))
        .to_string();
    let count: u64 = msg.split_whitespace().next().unwrap().parse().unwrap();
    assert!(count > 40_000, "{msg}");
    assert!(
        m.stderr
            .contains("guest text (the host keeps 16 MiB) log cut"),
        "{}",
        m.stderr
    );
    assert_bounded(&m);
}
