//! Recognising kernel trouble in log lines (from `/dev/kmsg` or the console).

use crate::finding::Class;

/// Ordered: the first matching pattern names the class, so the specific
/// `BUG: soft lockup` wins over the generic `BUG:`.
const PATTERNS: &[(&str, Class)] = &[
    // PID 1 is the harness's guest init: its death panics the kernel, but
    // it is the harness's fault, not the kernel's or the scheduler's.
    ("Attempted to kill init", Class::HarnessError),
    ("Kernel panic - not syncing", Class::KernelPanic),
    ("soft lockup", Class::SoftLockup),
    ("hard LOCKUP", Class::HardLockup),
    ("self-detected stall", Class::RcuStall),
    ("detected stalls on CPUs", Class::RcuStall),
    ("rcu_sched detected stall", Class::RcuStall),
    ("rcu_preempt detected stall", Class::RcuStall),
    ("blocked for more than", Class::HungTask),
    ("Oops:", Class::KernelOops),
    ("general protection fault", Class::KernelOops),
    ("BUG: unable to handle", Class::KernelOops),
    ("kernel BUG at", Class::KernelBug),
    ("BUG:", Class::KernelBug),
    ("WARNING: CPU:", Class::KernelWarning),
    ("WARNING: at", Class::KernelWarning),
];

/// The health problem a kernel log line announces, if any.
pub fn classify(line: &str) -> Option<Class> {
    PATTERNS
        .iter()
        .find(|(pat, _)| line.contains(pat))
        .map(|(_, class)| *class)
}

/// `sched_ext: BPF scheduler "NAME" disabled (REASON)` -> (NAME, REASON).
pub fn scx_disabled(line: &str) -> Option<(String, String)> {
    let rest = line.split("BPF scheduler \"").nth(1)?;
    let (name, rest) = rest.split_once('"')?;
    let rest = rest.trim_start().strip_prefix("disabled (")?;
    let reason = rest.rsplit_once(')')?.0;
    Some((name.to_string(), reason.to_string()))
}

/// Guest uptime (ms) of a console line stamped `[    3.123456] ...`.
pub fn console_ts_ms(line: &str) -> Option<u64> {
    let (ts, _) = line.trim_start().strip_prefix('[')?.split_once(']')?;
    let secs: f64 = ts.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| (secs * 1000.0).round() as u64)
}

/// The reason the kernel gives when a scheduler unregisters normally.
pub const NORMAL_UNREGISTER: &str = "unregistered from user space";

/// `sched_ext: NAME: MESSAGE`, the kernel's line after a disable with the
/// scheduler's own exit message.
pub fn scx_message<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    line.split("sched_ext: ")
        .nth(1)?
        .strip_prefix(name)?
        .strip_prefix(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_lines() {
        let cases: &[(&str, Option<Class>)] = &[
            (
                "[ 1.2] Kernel panic - not syncing: sysrq triggered crash",
                Some(Class::KernelPanic),
            ),
            (
                "watchdog: BUG: soft lockup - CPU#1 stuck for 22s!",
                Some(Class::SoftLockup),
            ),
            (
                "NMI watchdog: Watchdog detected hard LOCKUP on cpu 2",
                Some(Class::HardLockup),
            ),
            (
                "rcu: INFO: rcu_preempt self-detected stall on CPU",
                Some(Class::RcuStall),
            ),
            (
                "rcu: INFO: rcu_sched detected stalls on CPUs/tasks:",
                Some(Class::RcuStall),
            ),
            (
                "INFO: task kworker/0:1:12 blocked for more than 10 seconds.",
                Some(Class::HungTask),
            ),
            (
                "Oops: general protection fault, probably for non-canonical address",
                Some(Class::KernelOops),
            ),
            (
                "BUG: unable to handle page fault for address: 0000",
                Some(Class::KernelOops),
            ),
            ("kernel BUG at mm/slub.c:123!", Some(Class::KernelBug)),
            ("BUG: KASAN: use-after-free", Some(Class::KernelBug)),
            (
                "WARNING: CPU: 1 PID: 0 at kernel/sched/ext.c:123 foo",
                Some(Class::KernelWarning),
            ),
            ("sched_ext: BPF scheduler \"simple\" enabled", None),
            ("Run /init as init process", None),
        ];
        for (line, want) in cases {
            assert_eq!(classify(line), *want, "{line}");
        }
    }

    #[test]
    fn parses_scx_disable() {
        assert_eq!(
            scx_disabled("sched_ext: BPF scheduler \"qmap\" disabled (runnable task stall)"),
            Some(("qmap".into(), "runnable task stall".into()))
        );
        assert_eq!(
            scx_disabled("[ 3.1] sched_ext: BPF scheduler \"qmap\" disabled (scx_bpf_error)"),
            Some(("qmap".into(), "scx_bpf_error".into()))
        );
        assert_eq!(
            scx_disabled("sched_ext: BPF scheduler \"simple\" enabled"),
            None
        );
        assert_eq!(
            scx_message("sched_ext: qmap: test triggering error", "qmap"),
            Some("test triggering error")
        );
        assert_eq!(scx_message("sched_ext: other: x", "qmap"), None);
    }

    #[test]
    fn console_timestamps() {
        assert_eq!(console_ts_ms("[    3.123456] Kernel panic"), Some(3123));
        assert_eq!(console_ts_ms("[ 0.5] x"), Some(500));
        assert_eq!(console_ts_ms("Kernel panic"), None);
        assert_eq!(console_ts_ms("[x] y"), None);
    }
}
