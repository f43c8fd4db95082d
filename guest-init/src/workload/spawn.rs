//! The parent side: fork every worker, release them together, and clean up.
//!
//! Each worker process is the leader of its own process group, so killing
//! the group also kills whatever the worker forked (ForkExit children).
//! `Drop` SIGKILLs and reaps every group that is still there: a handle
//! never leaves a process behind.
//!
//! Rules for the caller (PID 1): call `spawn` from a thread that outlives
//! the handle (workers have `PR_SET_PDEATHSIG` tied to the forking thread),
//! keep `SIGCHLD` at its default (not `SIG_IGN`), and do not reap with
//! `waitpid(-1)` while a handle lives, or the exit status of a dead worker
//! is lost (it is then reported as `Exited { code: -1 }`).

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::time::Duration;

use super::plan::{pipe, Plan};
use super::report::WorkerReport;
use super::shared::{now_ns, Shared};
use super::worker::{child_main, ChildFds};
use super::{WorkloadConfig, WorkloadError};
use crate::topology::Topology;

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
    released_ns: Option<u64>,
}

impl WorkloadHandle {
    /// Forks every worker of `config`, places it in `cgroup_root/<cgroup>`
    /// (when both are set), applies its settings and parks it on the start
    /// barrier. Nothing runs until [`start`](Self::start).
    pub fn spawn(
        config: &WorkloadConfig,
        topo: &Topology,
        cgroup_root: Option<&Path>,
    ) -> Result<WorkloadHandle, WorkloadError> {
        let plan = Plan::build(config, topo, cgroup_root)?;
        let n_workers: usize = plan.procs.iter().map(|p| p.workers.len()).sum();
        let shared = Shared::new(plan.words, plan.cells).map_err(WorkloadError::SharedMemory)?;
        let (barrier_rd, barrier_wr) = pipe()?;
        let mut handle = WorkloadHandle {
            shared,
            barrier: Some(barrier_wr),
            procs: Vec::with_capacity(plan.procs.len()),
            slots: Vec::with_capacity(n_workers),
            released_ns: None,
        };
        // SAFETY: getpid has no preconditions.
        let parent = unsafe { libc::getpid() };
        for proc in &plan.procs {
            let mut report_rd = Vec::new();
            let mut report_wr = Vec::new();
            for _ in &proc.workers {
                let (r, w) = pipe()?;
                report_rd.push(r);
                report_wr.push(w);
            }
            let wr_raw: Vec<RawFd> = report_wr.iter().map(|f| f.as_raw_fd()).collect();
            let fds = ChildFds {
                barrier: barrier_rd.as_raw_fd(),
                reports: &wr_raw,
            };
            // The stop signal stays blocked until the child has installed
            // its handler; otherwise an early stop would kill it.
            let old_mask = block_stop_signal();
            // SAFETY: the child only runs `child_main`, which follows the
            // fork-safety rule in `worker.rs` and never returns.
            let pid = unsafe { libc::fork() };
            if pid == 0 {
                child_main(proc, fds, &handle.shared, parent);
            }
            let fork_error = std::io::Error::last_os_error();
            restore_mask(&old_mask);
            if pid < 0 {
                let first = &proc.workers[0];
                return Err(WorkloadError::Fork {
                    group: first.group,
                    index: first.index,
                    source: fork_error,
                });
            }
            // Also set in the child; doing it here too closes the race
            // where the parent kills the group before the child ran.
            // SAFETY: plain syscall on our own child.
            unsafe { libc::setpgid(pid, pid) };
            let proc_index = handle.procs.len();
            handle.procs.push(Proc {
                pid,
                status: None,
                timed_out: false,
            });
            for (w, rd) in proc.workers.iter().zip(report_rd) {
                handle.slots.push(Slot {
                    proc: proc_index,
                    group: w.group,
                    index: w.index,
                    cgroup: w.cgroup.clone(),
                    work_type: w.work.name(),
                    tid_cell: w.tid_cell,
                    report: Some(rd),
                });
            }
            drop(report_wr);
        }
        // Only workers hold these from here on.
        drop(plan.unit_fds);
        drop(barrier_rd);
        Ok(handle)
    }

    /// Releases every worker at once (closing the barrier pipe wakes all
    /// readers together) and records the release time. Idempotent.
    pub fn start(&mut self) {
        if self.barrier.is_none() {
            return;
        }
        let now = now_ns();
        self.shared.set_release_ns(now);
        self.released_ns = Some(now);
        self.barrier = None;
    }

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
        super::collect::collect(&mut self, collect_deadline)
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

fn block_stop_signal() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data, initialised by sigemptyset; the mask
    // change applies to the calling thread only.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGUSR1);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
        old
    }
}

fn restore_mask(old: &libc::sigset_t) {
    // SAFETY: restoring a mask saved by `block_stop_signal`.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, old, std::ptr::null_mut()) };
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
