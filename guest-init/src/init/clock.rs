//! Guest uptime, the time base of every timestamp the guest sends.

use nix::time::{clock_gettime, ClockId};

/// Milliseconds since boot (`CLOCK_BOOTTIME`, the clock `/proc/uptime` uses).
pub fn uptime_ms() -> u64 {
    clock_gettime(ClockId::CLOCK_BOOTTIME)
        .map(|t| t.tv_sec() as u64 * 1000 + t.tv_nsec() as u64 / 1_000_000)
        .unwrap_or(0)
}
