//! The parent's view of running workers: which processes exist, which
//! report pipes are still open, and how to kill and reap them. `spawn`
//! creates a [`WorkloadHandle`] and `collect` ends it; both only depend on
//! this module, never on each other.
//!
//! Each worker process is the leader of its own process group, so killing
//! the group also kills whatever the worker forked (ForkExit children).
//! `Drop` SIGKILLs and reaps every group that is still there: a handle
//! never leaves a process behind.

use std::os::fd::OwnedFd;

use super::shared::Shared;

/// A forked worker process.
#[derive(Debug)]
pub(crate) struct Proc {
    pub pid: i32,
    /// `waitpid` status once reaped.
    pub status: Option<i32>,
    /// Killed by us at the collection deadline.
    pub timed_out: bool,
}

/// One worker as the parent knows it: identity and its report pipe.
#[derive(Debug)]
pub(crate) struct Slot {
    pub proc: usize,
    pub group: u32,
    pub index: u32,
    pub cgroup: String,
    pub work_type: &'static str,
    pub tid_cell: usize,
    /// Read end of the report pipe; `None` once collected.
    pub report: Option<OwnedFd>,
}

/// Running workers. Dropping it kills every worker's process group.
#[derive(Debug)]
pub struct WorkloadHandle {
    pub(crate) shared: Shared,
    pub(crate) barrier: Option<OwnedFd>,
    pub(crate) procs: Vec<Proc>,
    pub(crate) slots: Vec<Slot>,
    /// `CLOCK_MONOTONIC` ns of `start`.
    pub(crate) released_ns: Option<u64>,
}

impl WorkloadHandle {
    /// `CLOCK_MONOTONIC` nanoseconds of the release, once started.
    pub fn released_ns(&self) -> Option<u64> {
        self.released_ns
    }

    /// Pids of the worker processes (one per worker in Fork mode, one per
    /// group in Thread mode).
    pub fn pids(&self) -> Vec<i32> {
        self.procs.iter().map(|p| p.pid).collect()
    }

    /// Number of workers (reports `stop` will return).
    pub fn workers(&self) -> usize {
        self.slots.len()
    }

    /// SIGKILLs the process group of `proc` (and the process itself, in
    /// case it has not made its group yet), then reaps it.
    pub(crate) fn kill_and_reap(&mut self, proc: usize) {
        let p = &mut self.procs[proc];
        if p.status.is_some() {
            return;
        }
        // SAFETY: the pid is our unreaped child, so neither it nor its
        // process group id can have been reused.
        unsafe {
            libc::killpg(p.pid, libc::SIGKILL);
            libc::kill(p.pid, libc::SIGKILL);
        }
        p.status = Some(reap(p.pid));
    }
}

/// Blocking `waitpid`; `-1` when the status is lost (someone else reaped).
pub(crate) fn reap(pid: i32) -> i32 {
    let mut status = 0;
    loop {
        // SAFETY: waiting for our own child into a valid pointer.
        let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
        if rc == pid {
            return status;
        }
        if rc < 0 && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return -1;
        }
    }
}

impl Drop for WorkloadHandle {
    fn drop(&mut self) {
        // Let parked workers see the stop flag if they somehow outlive the
        // SIGKILL below (they cannot; this is belt and braces).
        self.shared.request_stop();
        for i in 0..self.procs.len() {
            self.kill_and_reap(i);
        }
    }
}
