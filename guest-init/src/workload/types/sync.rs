//! Blocking primitives shared by the work loops. Every wait is bounded by
//! [`STOP_POLL_MS`](super::STOP_POLL_MS) or a deadline, and a stop signal
//! (SIGUSR1, no `SA_RESTART`) cuts it short.

use std::os::fd::RawFd;
use std::sync::atomic::AtomicU32;

use super::STOP_POLL_MS;
use crate::workload::measure::{spin_unit, Meter};
use crate::workload::shared::now_ns;

/// Sleeps until `FUTEX_WAKE` on `word`, for at most [`STOP_POLL_MS`], if
/// `word` still holds `expected`. The mapping is shared between processes,
/// so this is the non-private futex.
pub(crate) fn futex_wait(word: &AtomicU32, expected: u32) {
    let ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: (STOP_POLL_MS * 1_000_000) as libc::c_long,
    };
    // SAFETY: the word is a valid, aligned u32 in the shared mapping.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            &ts as *const libc::timespec,
        )
    };
}

/// Wakes up to `n` waiters on `word`.
pub(crate) fn futex_wake(word: &AtomicU32, n: i32) {
    // SAFETY: as in `futex_wait`.
    unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, n) };
}

/// Sleeps `ns` on an absolute `CLOCK_MONOTONIC` deadline and returns the
/// oversleep (how late the wake-up came), or `None` if a signal cut the
/// sleep short (the caller then checks the stop flag).
pub(crate) fn sleep_ns(ns: u64) -> Option<u64> {
    let target = now_ns() + ns;
    let ts = libc::timespec {
        tv_sec: (target / 1_000_000_000) as libc::time_t,
        tv_nsec: (target % 1_000_000_000) as libc::c_long,
    };
    // SAFETY: valid timespec; no remaining-time pointer with TIMER_ABSTIME.
    let rc = unsafe {
        libc::clock_nanosleep(
            libc::CLOCK_MONOTONIC,
            libc::TIMER_ABSTIME,
            &ts,
            std::ptr::null_mut(),
        )
    };
    (rc == 0).then(|| now_ns().saturating_sub(target))
}

/// A sleep whose oversleep is a wake latency, and which is not a gap.
pub(crate) fn timed_sleep(m: &mut Meter<'_>, ns: u64) {
    if let Some(late) = sleep_ns(ns) {
        m.latency.record(late);
    }
    m.resume_after_sleep();
}

/// Spins with checkpoints for `ns`; `false` once stopped.
pub(crate) fn spin_for(state: &mut u64, m: &mut Meter<'_>, ns: u64) -> bool {
    let end = now_ns() + ns;
    loop {
        spin_units(state, m, m.units_per_checkpoint);
        if !m.checkpoint() {
            return false;
        }
        if now_ns() >= end {
            return true;
        }
    }
}

/// `n` spin units, counted as work.
#[inline]
pub(crate) fn spin_units(state: &mut u64, m: &mut Meter<'_>, n: u64) {
    for _ in 0..n {
        spin_unit(state);
    }
    m.work_units += n;
}

pub(crate) fn sched_yield() {
    // SAFETY: no arguments.
    unsafe { libc::sched_yield() };
}

/// Writes a `u64` timestamp (atomic: 8 bytes < PIPE_BUF).
pub(crate) fn write_stamp(fd: RawFd, stamp: u64) -> bool {
    let bytes = stamp.to_ne_bytes();
    // SAFETY: writing 8 bytes from a valid buffer.
    unsafe { libc::write(fd, bytes.as_ptr().cast(), 8) == 8 }
}

/// Reads a `u64` timestamp, waiting at most [`STOP_POLL_MS`]; `None` on
/// timeout or signal (the caller checks the stop flag and retries).
pub(crate) fn read_stamp(fd: RawFd) -> Option<u64> {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    if unsafe { libc::poll(&mut pfd, 1, STOP_POLL_MS as i32) } != 1 {
        return None;
    }
    let mut bytes = [0u8; 8];
    // SAFETY: reading 8 bytes into a valid buffer.
    let n = unsafe { libc::read(fd, bytes.as_mut_ptr().cast(), 8) };
    (n == 8).then(|| u64::from_ne_bytes(bytes))
}
