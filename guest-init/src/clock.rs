//! The clocks every guest timestamp comes from. All are vDSO calls (tens of
//! nanoseconds), cheap enough for the workers' checkpoints.

/// Nanoseconds on `clock`.
pub fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and a valid out pointer.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// `CLOCK_MONOTONIC` nanoseconds: worker release times and checkpoints.
pub fn monotonic_ns() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC)
}

/// CPU time of the calling thread in nanoseconds.
pub fn thread_cpu_ns() -> u64 {
    clock_ns(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// Guest uptime in milliseconds (`CLOCK_BOOTTIME`, as `/proc/uptime`).
pub fn uptime_ms() -> u64 {
    clock_ns(libc::CLOCK_BOOTTIME) / 1_000_000
}
