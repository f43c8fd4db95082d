//! The filesystems PID 1 mounts, as a table.

use nix::mount::{mount, MsFlags};

/// One mount: source, target, fstype, whether a failure is fatal for the run.
struct MountSpec {
    source: &'static str,
    target: &'static str,
    fstype: &'static str,
    required: bool,
}

/// In order: later targets live inside earlier ones. devpts gives payloads
/// a pseudo-terminal for stdout (see `payload.rs`). tracefs is mounted at
/// its own directory; debugfs and bpffs serve schedulers and evidence.
/// No tmpfs on /tmp or /run: the initramfs root is already a writable
/// tmpfs, and a mount there would hide files `--include`d under them.
#[rustfmt::skip]
const KERNEL_MOUNTS: &[MountSpec] = &[
    MountSpec { source: "proc", target: "/proc", fstype: "proc", required: true },
    MountSpec { source: "sysfs", target: "/sys", fstype: "sysfs", required: true },
    MountSpec { source: "devtmpfs", target: "/dev", fstype: "devtmpfs", required: true },
    MountSpec { source: "devpts", target: "/dev/pts", fstype: "devpts", required: false },
    MountSpec { source: "cgroup2", target: "/sys/fs/cgroup", fstype: "cgroup2", required: true },
    MountSpec { source: "debugfs", target: "/sys/kernel/debug", fstype: "debugfs", required: false },
    MountSpec { source: "tracefs", target: "/sys/kernel/tracing", fstype: "tracefs", required: false },
    MountSpec { source: "bpffs", target: "/sys/fs/bpf", fstype: "bpf", required: false },
];

/// Mounts everything in [`KERNEL_MOUNTS`]; returns one message per failure,
/// marked fatal or not, to be reported once the results port is open.
pub fn mount_all() -> Vec<(bool, String)> {
    let mut failures = Vec::new();
    for m in KERNEL_MOUNTS {
        let _ = std::fs::create_dir_all(m.target);
        // /dev and /dev/pts are device nodes; nothing here needs setuid.
        let flags = if matches!(m.fstype, "devtmpfs" | "devpts") {
            MsFlags::MS_NOSUID
        } else {
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV
        };
        if let Err(e) = mount(
            Some(m.source),
            m.target,
            Some(m.fstype),
            flags,
            None::<&str>,
        ) {
            if e != nix::errno::Errno::EBUSY {
                failures.push((
                    m.required,
                    format!("mount {} on {}: {e}", m.fstype, m.target),
                ));
            }
        }
    }
    let _ = std::os::unix::fs::symlink("/proc/self/fd", "/dev/fd");
    failures
}
