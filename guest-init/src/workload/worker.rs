//! The child side: what a forked worker process (or a worker thread inside
//! one) does from fork to `_exit`.
//!
//! Fork-safety rule. The parent (PID 1, or a test harness) may have other
//! threads, and only the forking thread survives in the child. Any lock
//! another thread held at fork time stays locked forever in the child. glibc
//! and musl take and reset their malloc locks around `fork()`, so allocating
//! is safe; what is not safe is every other lock a parent thread may hold:
//! std's stdout/stderr, the environment, the parent's own mutexes. So a
//! worker never prints, never reads the environment, and touches no state
//! of the parent except the plan it was handed; everything it has to say
//! goes into its report pipe. It also never returns into the parent's code:
//! it leaves with `_exit`, even on panic.

use std::io::Write;
use std::os::fd::{FromRawFd, RawFd};

use super::measure::{read_numa_pages, read_schedstat, schedstat_delta, Meter};
use super::plan::{ProcPlan, WorkerPlan};
use super::policy::{apply_mem_policy, apply_nice, apply_sched_policy};
use super::shared::{now_ns, thread_cpu_ns, Shared};
use super::types;
use ktstr_wire::workload::SchedPolicy;
use ktstr_wire::workload::{WorkerExit, WorkerReport};

use crate::panic_hook::{enter_forked_child, PANIC_EXIT};

/// File descriptors of one worker process.
#[derive(Debug)]
pub(crate) struct ChildFds<'a> {
    /// Read end of the start barrier.
    pub barrier: RawFd,
    /// Report write end per worker of the process.
    pub reports: &'a [RawFd],
}

/// Entry point of a forked worker process; never returns. A panic ends
/// it through the guest's hook (see [`crate::panic_hook`]) without
/// unwinding; `catch_unwind` covers processes that did not install it.
pub(crate) fn child_main(proc: &ProcPlan, fds: ChildFds<'_>, shared: &Shared, parent: i32) -> ! {
    enter_forked_child();
    let code = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        child_body(proc, &fds, shared, parent)
    })) {
        Ok(()) => 0,
        Err(_) => PANIC_EXIT,
    };
    // SAFETY: leaving without running the parent's atexit handlers or
    // destructors, which belong to the parent.
    unsafe { libc::_exit(code) }
}

fn child_body(proc: &ProcPlan, fds: &ChildFds<'_>, shared: &Shared, parent: i32) {
    // SAFETY: plain syscalls on this process. A worker is its own process
    // group so the parent can kill it and anything it forks in one call;
    // it dies with the parent so no worker outlives a crashed init or test.
    unsafe {
        libc::setpgid(0, 0);
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        if libc::getppid() != parent {
            libc::_exit(1);
        }
    }
    install_stop_handler();
    let mut keep: Vec<RawFd> = proc
        .workers
        .iter()
        .flat_map(|w| w.pipes.iter().flatten().copied())
        .chain(fds.reports.iter().copied())
        .chain([fds.barrier])
        .collect();
    close_all_but(&mut keep);
    let mut cgroup_error = None;
    if let Some(procs) = &proc.cgroup_procs {
        // Writing "0" moves the writing process (all its threads).
        if let Err(e) = std::fs::write(procs, "0") {
            cgroup_error = Some(format!("could not join {}: {e}", procs.display()));
        }
    }
    if proc.workers.len() == 1 {
        run_worker(
            &proc.workers[0],
            fds.reports[0],
            fds.barrier,
            shared,
            &cgroup_error,
        );
        return;
    }
    std::thread::scope(|s| {
        for (w, &fd) in proc.workers.iter().zip(fds.reports) {
            let cg = &cgroup_error;
            let barrier = fds.barrier;
            // Thread creation failure panics; the parent then reports the
            // missing workers with this process's exit status.
            std::thread::Builder::new()
                .name(format!("w{}.{}", w.group, w.index))
                .spawn_scoped(s, move || run_worker(w, fd, barrier, shared, cg))
                .expect("spawn worker thread");
        }
    });
}

/// Closes every fd above stderr except `keep`: fds of the parent (PID 1's
/// serial port, another thread's half-made pipes) must not live on in a
/// worker, or a pipe's EOF would wait for this worker's exit.
fn close_all_but(keep: &mut [RawFd]) {
    keep.sort_unstable();
    let mut from: u32 = 3;
    for &fd in keep.iter().filter(|&&fd| fd >= 3) {
        let fd = fd as u32;
        if fd > from {
            close_range(from, fd - 1);
        }
        from = from.max(fd + 1);
    }
    close_range(from, u32::MAX);
}

fn close_range(first: u32, last: u32) {
    // SAFETY: closes fds this child does not use; close_range is Linux 5.9+.
    let rc = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0) };
    if rc != 0 {
        // Older kernel: close one by one up to a sane bound.
        for fd in first..=last.min(4096) {
            // SAFETY: as above.
            unsafe { libc::close(fd as i32) };
        }
    }
}

/// SIGUSR1 (the stop signal) interrupts blocking syscalls (no SA_RESTART)
/// and does nothing else; workers then see the stop flag.
fn install_stop_handler() {
    extern "C" fn on_stop(_: libc::c_int) {}
    // SAFETY: installing an async-signal-safe no-op handler and unblocking
    // the signal (the parent's mask is inherited across fork).
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_stop as extern "C" fn(libc::c_int) as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut());
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGUSR1);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        // A partner that died must show up as an error, not kill us.
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

/// One worker: apply settings, wait for release, run, report.
fn run_worker(
    plan: &WorkerPlan,
    report_fd: RawFd,
    barrier: RawFd,
    shared: &Shared,
    cgroup_error: &Option<String>,
) {
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::gettid() };
    shared
        .cell(plan.tid_cell)
        .store(tid as u64, std::sync::atomic::Ordering::Relaxed);
    let mut errors = plan.errors.clone();
    errors.extend(cgroup_error.iter().cloned());
    errors.extend(plan.affinity.apply().err());
    if plan.policy != SchedPolicy::Normal || plan.nice.is_some() {
        if let Err(e) = apply_sched_policy(plan.policy, plan.nice) {
            errors.push(e);
            // The class was refused; the nice value may still be allowed.
            if let Some(nice) = plan.nice {
                errors.extend(apply_nice(nice).err());
            }
        }
    }
    errors.extend(apply_mem_policy(&plan.mem_policy, plan.mpol_flags).err());

    wait_for_release(barrier);
    let release_ns = match shared.release_ns() {
        0 => now_ns(),
        ns => ns,
    };
    let sched_before = read_schedstat();
    let cpu_before = thread_cpu_ns();
    let mut meter = Meter::new(shared.stop_flag(), release_ns, plan.units_per_checkpoint);
    let mut ctx = types::Ctx::new(plan, shared);
    types::run(&mut ctx, &mut meter);
    let end_ns = now_ns();
    let cpu_time_ns = thread_cpu_ns().saturating_sub(cpu_before);
    let schedstat = schedstat_delta(sched_before, read_schedstat());
    let wall_time_ns = end_ns.saturating_sub(release_ns);
    errors.append(&mut ctx.errors);
    let m = meter.finish();
    let report = WorkerReport {
        tid,
        group: plan.group,
        index: plan.index,
        cgroup: plan.cgroup.clone(),
        work_type: plan.work.name().to_string(),
        work_units: m.work_units,
        iterations: m.iterations,
        cpu_time_ns,
        wall_time_ns,
        off_cpu_time_ns: wall_time_ns.saturating_sub(cpu_time_ns),
        migrations: m.migrations,
        migration_log: m.migration_log,
        cpus_used: m.cpus_used,
        max_gap: m.gaps.max,
        gaps: m.gaps.kept,
        gaps_over_floor: m.gaps.over_floor,
        wake_latency: m.wake_latency,
        schedstat,
        numa_pages: read_numa_pages(),
        errors,
        trace: ctx.trace,
        exit: WorkerExit::Completed,
    };
    send_report(report_fd, &report);
}

/// Blocks until the parent closes the barrier's write end (EOF), retrying
/// on signals.
fn wait_for_release(barrier: RawFd) {
    let mut byte = [0u8; 1];
    loop {
        // SAFETY: reading one byte into a valid buffer.
        let n = unsafe { libc::read(barrier, byte.as_mut_ptr().cast(), 1) };
        if n >= 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return;
        }
    }
}

/// Writes the report as one JSON document and closes the pipe, which is
/// how the parent knows it is complete.
fn send_report(fd: RawFd, report: &WorkerReport) {
    // SAFETY: this worker owns its report write end; the File closes it.
    let mut file = unsafe { std::fs::File::from_raw_fd(fd) };
    if let Ok(bytes) = serde_json::to_vec(report) {
        // A failed write leaves the parent without a report; it then
        // reports this worker with its exit status.
        let _ = file.write_all(&bytes);
    }
}
