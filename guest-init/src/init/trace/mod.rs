//! Records the kernel's scheduling events (`--trace`) through tracefs and
//! ships them to the host as raw ring-buffer pages.
//!
//! [`Tracer::start`] sets tracefs up (clock, per-CPU buffer size, the
//! events in [`EVENTS`] plus every `sched_ext` event this kernel has),
//! reports the formats, and starts a drain thread that reads each CPU's
//! `trace_pipe_raw` (non-blocking) when one is half full (`poll` with
//! `buffer_percent`) or every second, and writes the pages to
//! the trace port. Raw pages cost the guest a copy; formatted text
//! would cost a `sprintf` per event under TCG. The buffers are set to drop
//! new events when full (not overwrite), so a lag shows as counted drops.
//! When the shipped bytes would pass the limit, tracing stops there and
//! [`TraceStop::capped_at_ns`] says when. Dropping the tracer (every path
//! out of the run) stops tracing, drains what is left and reports.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use ktstr_guest::clock::clock_ns;
use ktstr_wire::{
    CpuTraceStats, GuestMsg, PageLayout, TaskName, TraceConfig, TraceStart, TraceStop,
    TRACE_PORT_NAME,
};

use super::port::{find_port, Reporter};

mod drain;
use drain::{Drain, Drained};

const TRACEFS: &str = "/sys/kernel/tracing";
/// Events recorded, as `system/event`, besides every `sched_ext/*` event.
/// `task_newtask` carries clone flags, which tell threads from processes.
pub const EVENTS: &[&str] = &[
    "sched/sched_switch",
    "sched/sched_waking",
    "sched/sched_wakeup",
    "sched/sched_wakeup_new",
    "sched/sched_migrate_task",
    "sched/sched_process_fork",
    "sched/sched_process_exit",
    "task/task_newtask",
    "task/task_rename",
];
/// Clocks in order of preference: `boot` is the guest's uptime clock and
/// what Perfetto assumes for ftrace; `mono` and `local` are fallbacks.
const CLOCKS: &[&str] = &["boot", "mono", "local"];
/// A ring buffer this full (percent) wakes the drain early.
const WAKE_PERCENT: &str = "50";
/// Most tasks named from `/proc` at the start.
const MAX_TASKS: usize = 4096;

/// Why tracing could not start. The run goes on untraced.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("tracefs is not mounted at {TRACEFS}: the kernel needs CONFIG_FTRACE")]
    NoTracefs,
    #[error("no virtio port named {TRACE_PORT_NAME}: the host did not set up tracing")]
    NoPort,
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{TRACEFS}/events/header_page does not describe a ring-buffer page")]
    HeaderPage,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> TraceError + '_ {
    move |source| TraceError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn write_file(path: &Path, text: &str) -> Result<(), TraceError> {
    std::fs::write(path, text).map_err(io_err(path))
}

fn read_file(path: &Path) -> Result<String, TraceError> {
    std::fs::read_to_string(path).map_err(io_err(path))
}

/// Reads a file in a single `read`: tracefs answers `header_page` from a
/// buffer cut to the first read's size, so the small first read of
/// `read_to_string` would see only its first 32 bytes.
fn read_in_one(path: &Path) -> Result<String, TraceError> {
    let mut buf = vec![0u8; 16 << 10];
    let n = File::open(path)
        .and_then(|mut f| f.read(&mut buf))
        .map_err(io_err(path))?;
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// A running trace. Dropping it stops tracing and reports.
#[derive(Debug)]
pub struct Tracer {
    root: PathBuf,
    rep: Reporter,
    stop: Arc<AtomicBool>,
    drain: Option<JoinHandle<Drained>>,
    limit_bytes: u64,
}

impl Tracer {
    /// Sets tracefs up and starts the drain; `None` (after reporting why)
    /// when tracing is impossible.
    pub fn start(cfg: &TraceConfig, rep: &Reporter) -> Option<Tracer> {
        match Tracer::try_start(Path::new(TRACEFS), cfg, rep) {
            Ok(t) => Some(t),
            Err(e) => {
                // Not a harness error: the run is still tested, untraced.
                rep.send(&GuestMsg::TraceStopped(Box::new(TraceStop {
                    limit_bytes: cfg.limit_bytes,
                    error: Some(e.to_string()),
                    ..TraceStop::default()
                })));
                None
            }
        }
    }

    fn try_start(root: &Path, cfg: &TraceConfig, rep: &Reporter) -> Result<Tracer, TraceError> {
        if !root.join("trace_pipe").exists() {
            return Err(TraceError::NoTracefs);
        }
        let port = find_port(Path::new("/sys/class/virtio-ports"), TRACE_PORT_NAME)
            .ok_or(TraceError::NoPort)?;
        // Non-blocking: a blocking write to a virtio port spins in the
        // guest until the host has taken the data (measured under TCG:
        // about 4 ms per write, 2.3 s of a 5 s run); see `Port`.
        let port = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&port)
            .map_err(io_err(&port))?;
        write_file(&root.join("tracing_on"), "0")?;
        let clock = pick_clock(root)?;
        write_file(&root.join("buffer_size_kb"), &cfg.buffer_kb.to_string())?;
        write_file(&root.join("options/overwrite"), "0")?;
        // Older kernels have no buffer_percent: the periodic drain remains.
        let _ = write_file(&root.join("buffer_percent"), WAKE_PERCENT);
        write_file(&root.join("trace"), "")?;
        let header_page = read_in_one(&root.join("events/header_page"))?;
        let layout = PageLayout::parse(&header_page).ok_or(TraceError::HeaderPage)?;
        let page_size = page_size(root);
        let (formats, missing) = enable_events(root)?;
        let readers = open_readers(root)?;
        let (boot_ns, mono_ns) = (
            clock_ns(libc::CLOCK_BOOTTIME),
            clock_ns(libc::CLOCK_MONOTONIC),
        );
        rep.send(&GuestMsg::TraceStarted(Box::new(TraceStart {
            clock,
            page_size: page_size as u32,
            header_page,
            formats,
            missing,
            tasks: tasks(Path::new("/proc")),
            boot_ns,
            mono_ns,
        })));
        write_file(&root.join("tracing_on"), "1")?;
        let stop = Arc::new(AtomicBool::new(false));
        let drain = Drain::new(
            readers,
            port,
            layout,
            page_size,
            cfg.limit_bytes,
            root.join("tracing_on"),
        );
        let stop_flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("trace-drain".into())
            .spawn(move || drain.run(&stop_flag))
            .map_err(io_err(root))?;
        Ok(Tracer {
            root: root.to_path_buf(),
            rep: rep.clone(),
            stop,
            drain: Some(handle),
            limit_bytes: cfg.limit_bytes,
        })
    }
}

impl Drop for Tracer {
    fn drop(&mut self) {
        let _ = write_file(&self.root.join("tracing_on"), "0");
        self.stop.store(true, Ordering::Relaxed);
        let drained = self
            .drain
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        self.rep.send(&GuestMsg::TraceStopped(Box::new(TraceStop {
            pages: drained.pages,
            bytes: drained.bytes,
            limit_bytes: self.limit_bytes,
            capped_at_ns: drained.capped_at_ns,
            cpus: cpu_stats(&self.root),
            boot_ns: clock_ns(libc::CLOCK_BOOTTIME),
            drain_cpu_ns: drained.cpu_ns,
            error: None,
        })));
    }
}

/// The first clock of [`CLOCKS`] this kernel offers, selected.
fn pick_clock(root: &Path) -> Result<String, TraceError> {
    let path = root.join("trace_clock");
    let offered = read_file(&path)?;
    let names: Vec<&str> = offered
        .split_whitespace()
        .map(|c| c.trim_matches(|ch| ch == '[' || ch == ']'))
        .collect();
    let clock = CLOCKS
        .iter()
        .find(|c| names.contains(c))
        .copied()
        .unwrap_or("local");
    write_file(&path, clock)?;
    Ok(clock.to_string())
}

/// The ring buffer's page (sub-buffer) size: `buffer_subbuf_size_kb` on
/// kernels that have it (6.8+), else the memory page size.
fn page_size(root: &Path) -> usize {
    std::fs::read_to_string(root.join("buffer_subbuf_size_kb"))
        .ok()
        .and_then(|t| t.trim().parse::<usize>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(4096)
        .clamp(4096, ktstr_wire::MAX_FRAME)
}

/// Enables [`EVENTS`] and every `sched_ext` event; returns the formats of
/// those enabled and the names of those missing.
fn enable_events(root: &Path) -> Result<(Vec<String>, Vec<String>), TraceError> {
    let events = root.join("events");
    let mut wanted: Vec<String> = EVENTS.iter().map(|e| e.to_string()).collect();
    if let Ok(dir) = std::fs::read_dir(events.join("sched_ext")) {
        let mut ext: Vec<String> = dir
            .flatten()
            .filter(|e| e.path().join("format").exists())
            .map(|e| format!("sched_ext/{}", e.file_name().to_string_lossy()))
            .collect();
        ext.sort();
        wanted.extend(ext);
    }
    let (mut formats, mut missing) = (Vec::new(), Vec::new());
    for name in wanted {
        let dir = events.join(&name);
        match std::fs::read_to_string(dir.join("format")) {
            Ok(format) => {
                write_file(&dir.join("enable"), "1")?;
                formats.push(format);
            }
            Err(_) => missing.push(name),
        }
    }
    Ok((formats, missing))
}

/// `per_cpu/cpuN/trace_pipe_raw` of every CPU, opened non-blocking.
fn open_readers(root: &Path) -> Result<Vec<(u32, File)>, TraceError> {
    let dir = root.join("per_cpu");
    let mut cpus: Vec<u32> = std::fs::read_dir(&dir)
        .map_err(io_err(&dir))?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_prefix("cpu")?.parse().ok())
        .collect();
    cpus.sort_unstable();
    cpus.into_iter()
        .map(|cpu| {
            let path = dir.join(format!("cpu{cpu}/trace_pipe_raw"));
            OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&path)
                .map(|f| (cpu, f))
                .map_err(io_err(&path))
        })
        .collect()
}

/// Every task in `/proc` with its process and name.
fn tasks(proc_root: &Path) -> Vec<TaskName> {
    let mut out = Vec::new();
    let Ok(procs) = std::fs::read_dir(proc_root) else {
        return out;
    };
    for p in procs.flatten() {
        let Some(tgid) = p.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(threads) = std::fs::read_dir(p.path().join("task")) else {
            continue;
        };
        for t in threads.flatten() {
            let Some(tid) = t.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
                continue;
            };
            let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
            out.push(TaskName {
                tid,
                tgid,
                comm: comm.trim_end().to_string(),
            });
            if out.len() >= MAX_TASKS {
                return out;
            }
        }
    }
    out.sort_by_key(|t| t.tid);
    out
}

/// `overrun` and `dropped events` from each `per_cpu/cpuN/stats`.
fn cpu_stats(root: &Path) -> Vec<CpuTraceStats> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir(root.join("per_cpu")) else {
        return out;
    };
    for e in dir.flatten() {
        let Some(cpu) = e
            .file_name()
            .to_str()
            .and_then(|n| n.strip_prefix("cpu")?.parse().ok())
        else {
            continue;
        };
        let text = std::fs::read_to_string(e.path().join("stats")).unwrap_or_default();
        out.push(parse_stats(cpu, &text));
    }
    out.sort_by_key(|s| s.cpu);
    out
}

/// Parses a `per_cpu/cpuN/stats` file (`key: value` lines).
pub fn parse_stats(cpu: u32, text: &str) -> CpuTraceStats {
    let value = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    CpuTraceStats {
        cpu,
        overrun: value("overrun:"),
        dropped: value("dropped events:"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_cpu_stats() {
        let text = "entries: 12\noverrun: 3\ncommit overrun: 0\nbytes: 100\n\
                    oldest event ts: 1.0\nnow ts: 2.0\ndropped events: 7\nread events: 5\n";
        assert_eq!(
            parse_stats(2, text),
            CpuTraceStats {
                cpu: 2,
                overrun: 3,
                dropped: 7
            }
        );
        assert_eq!(parse_stats(0, ""), CpuTraceStats::default());
    }

    #[test]
    fn clock_preference_follows_what_the_kernel_offers() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("trace_clock");
        for (offered, want) in [
            (
                "[local] global counter uptime perf mono mono_raw boot tai x86-tsc",
                "boot",
            ),
            ("[local] global mono", "mono"),
            ("[local] global", "local"),
        ] {
            std::fs::write(&f, offered).unwrap();
            assert_eq!(pick_clock(dir.path()).unwrap(), want);
            assert_eq!(std::fs::read_to_string(&f).unwrap(), want);
        }
    }

    #[test]
    fn tasks_from_a_proc_tree() {
        let dir = tempfile::tempdir().unwrap();
        for (tgid, tid, comm) in [(1, 1, "init\n"), (1, 7, "kmsg\n"), (9, 9, "scx_simple\n")] {
            let t = dir.path().join(format!("{tgid}/task/{tid}"));
            std::fs::create_dir_all(&t).unwrap();
            std::fs::write(t.join("comm"), comm).unwrap();
        }
        std::fs::create_dir_all(dir.path().join("self")).unwrap();
        let got = tasks(dir.path());
        let want = [(1, 1, "init"), (7, 1, "kmsg"), (9, 9, "scx_simple")];
        assert_eq!(got.len(), want.len());
        for (t, (tid, tgid, comm)) in got.iter().zip(want) {
            assert_eq!((t.tid, t.tgid, t.comm.as_str()), (tid, tgid, comm));
        }
    }
}
