//! Collecting reports after the stop signal: read every report pipe until
//! EOF or the deadline, kill what did not finish, and turn each missing
//! report into a sentinel that says how the worker ended.

use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ktstr_wire::workload::{WorkerExit, WorkerReport};

use super::handle::{Slot, WorkloadHandle};
use crate::panic_hook::PANIC_EXIT;

/// How long a worker that closed its report pipe gets to exit before it is
/// killed anyway (it has nothing left to do but `_exit`).
const EXIT_GRACE: Duration = Duration::from_millis(500);

impl WorkloadHandle {
    /// Asks every worker to stop and collects one report per worker, in
    /// spawn order. Workers that have not reported within `collect_deadline`
    /// are killed; dead or killed workers get a sentinel report saying how
    /// they ended.
    pub fn stop(mut self, collect_deadline: Duration) -> Vec<WorkerReport> {
        self.shared.request_stop();
        self.start();
        for p in &self.procs {
            // SAFETY: signalling our own (unreaped, so not reused) child.
            unsafe { libc::kill(p.pid, libc::SIGUSR1) };
        }
        collect(&mut self, collect_deadline)
    }
}

fn collect(h: &mut WorkloadHandle, deadline: Duration) -> Vec<WorkerReport> {
    let end = Instant::now() + deadline;
    let mut bufs: Vec<Vec<u8>> = vec![Vec::new(); h.slots.len()];
    for s in &h.slots {
        if let Some(fd) = &s.report {
            set_nonblocking(fd.as_raw_fd());
        }
    }
    read_until(h, &mut bufs, end);

    let grace_end = Instant::now() + EXIT_GRACE;
    for i in 0..h.procs.len() {
        let unfinished = h.slots.iter().any(|s| s.proc == i && s.report.is_some());
        if unfinished {
            h.procs[i].timed_out = true;
        } else {
            wait_exited(h.procs[i].pid, grace_end);
        }
        // Also kills anything left in the worker's process group.
        h.kill_and_reap(i);
    }

    h.slots
        .iter()
        .zip(bufs)
        .map(|(slot, buf)| {
            let missing = slot.report.is_some();
            match serde_json::from_slice::<WorkerReport>(&buf) {
                Ok(r) if !missing => r,
                _ => sentinel(h, slot, missing),
            }
        })
        .collect()
}

/// Reads all open report pipes until each hits EOF or `end` passes.
fn read_until(h: &mut WorkloadHandle, bufs: &mut [Vec<u8>], end: Instant) {
    loop {
        let open: Vec<usize> = (0..h.slots.len())
            .filter(|&i| h.slots[i].report.is_some())
            .collect();
        let now = Instant::now();
        if open.is_empty() || now >= end {
            return;
        }
        let mut pfds: Vec<libc::pollfd> = open
            .iter()
            .map(|&i| libc::pollfd {
                fd: h.slots[i].report.as_ref().map_or(-1, |f| f.as_raw_fd()),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        let ms = (end - now).as_millis().clamp(1, i32::MAX as u128) as i32;
        // SAFETY: pfds is a valid array of pollfd of the given length.
        let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, ms) };
        if n <= 0 {
            continue;
        }
        for (pfd, &i) in pfds.iter().zip(&open) {
            if pfd.revents != 0 && drain(pfd.fd, &mut bufs[i]) {
                h.slots[i].report = None;
            }
        }
    }
}

/// Reads what is available; `true` at EOF (or a read error).
fn drain(fd: i32, buf: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 16 * 1024];
    loop {
        // SAFETY: reading into a valid buffer of the given length.
        let n = unsafe { libc::read(fd, chunk.as_mut_ptr().cast(), chunk.len()) };
        match n {
            0 => return true,
            n if n > 0 => buf.extend_from_slice(&chunk[..n as usize]),
            _ => {
                let err = std::io::Error::last_os_error();
                return match err.kind() {
                    std::io::ErrorKind::WouldBlock => false,
                    std::io::ErrorKind::Interrupted => continue,
                    _ => true,
                };
            }
        }
    }
}

fn set_nonblocking(fd: i32) {
    // SAFETY: fcntl on an fd we own.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
}

/// Waits (without reaping, so the process group stays addressable) until
/// `pid` has exited or `end` passes.
fn wait_exited(pid: i32, end: Instant) {
    loop {
        // SAFETY: siginfo_t is plain data; waitid fills it.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: valid out pointer; WNOWAIT leaves the child waitable.
        let rc = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        // SAFETY: si_pid is valid to read after waitid.
        if rc != 0 || unsafe { info.si_pid() } != 0 || Instant::now() >= end {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The report of a worker that did not deliver one.
fn sentinel(h: &WorkloadHandle, slot: &Slot, missing: bool) -> WorkerReport {
    let proc = &h.procs[slot.proc];
    let exit = match proc.status {
        _ if proc.timed_out && missing => WorkerExit::TimedOut,
        Some(st) if st >= 0 && libc::WIFSIGNALED(st) => WorkerExit::Signaled {
            signal: libc::WTERMSIG(st),
        },
        Some(st) if st >= 0 && libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == PANIC_EXIT => {
            WorkerExit::Panicked
        }
        Some(st) if st >= 0 && libc::WIFEXITED(st) => WorkerExit::Exited {
            code: libc::WEXITSTATUS(st),
        },
        _ => WorkerExit::Exited { code: -1 },
    };
    let tid = match h.shared.cell(slot.tid_cell).load(Ordering::Relaxed) {
        0 => proc.pid,
        t => t as i32,
    };
    let mut errors = Vec::new();
    if !missing {
        errors.push("the worker's report could not be parsed".to_string());
    }
    WorkerReport {
        tid,
        group: slot.group,
        index: slot.index,
        cgroup: slot.cgroup.clone(),
        work_type: slot.work_type.to_string(),
        errors,
        exit,
        ..WorkerReport::default()
    }
}
