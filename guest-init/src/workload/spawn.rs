//! The parent side: fork every worker and release them together.
//!
//! Rules for the caller (PID 1): call `spawn` from a thread that outlives
//! the handle (workers have `PR_SET_PDEATHSIG` tied to the forking thread),
//! keep `SIGCHLD` at its default (not `SIG_IGN`), and do not reap with
//! `waitpid(-1)` while a handle lives, or the exit status of a dead worker
//! is lost (it is then reported as `Exited { code: -1 }`).

use std::os::fd::{AsRawFd, RawFd};
use std::path::Path;

use ktstr_wire::topology::Topology;
use ktstr_wire::workload::WorkloadConfig;

use super::handle::{Proc, Slot, WorkloadHandle};
use super::plan::{pipe, Plan};
use super::shared::{now_ns, Shared};
use super::worker::{child_main, ChildFds};
use super::WorkloadError;

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
