//! The end of every run: flush and power off. PID 1 must never return.

use nix::sys::reboot::{reboot, RebootMode};

/// Powers the VM off (QEMU exits). Falls back to a reboot, which ends QEMU
/// too because the host passes `-no-reboot`.
pub fn power_off() -> ! {
    nix::unistd::sync();
    let _ = reboot(RebootMode::RB_POWER_OFF);
    let _ = reboot(RebootMode::RB_AUTOBOOT);
    loop {
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}
