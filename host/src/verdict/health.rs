//! Kernel health: panics, oopses, BUGs, warnings, RCU stalls, lockups and
//! hung tasks, from the forwarded `/dev/kmsg` records and the console (the
//! only witness once the kernel is dying).

use super::checks::CONSOLE_TAIL;
use super::facts::Facts;
use super::kernel_log::{self, console_ts_ms};
use super::JudgeInput;
use crate::finding::{Class, Finding};

/// Console lines kept after a trouble line (the report, the backtrace).
const AFTER: usize = 15;
/// Console lines kept before a panic (what led to it: an Oops, a sysrq),
/// when logged at most [`BEFORE_PANIC_MS`] earlier.
const BEFORE_PANIC: usize = 10;
const BEFORE_PANIC_MS: u64 = 1000;

/// One finding per class, for its first line.
pub(super) fn kernel_health(f: &Facts, input: &JudgeInput) -> Vec<Finding> {
    let console: Vec<&str> = input.console.lines().map(str::trim_end).collect();
    let kmsg = f.kernel.iter().map(|l| (Some(l.ts_us / 1000), l.text));
    // In a shell the console also carries what the user typed and what
    // programs printed; only the kernel's own (timestamped) lines count.
    let cons = console
        .iter()
        .map(|l| (console_ts_ms(l), *l))
        .filter(|(ts, _)| !input.shell || ts.is_some());
    let mut out: Vec<Finding> = Vec::new();
    for (at, line) in kmsg.chain(cons) {
        let Some(class) = kernel_log::classify(line) else {
            continue;
        };
        if out.iter().any(|x| x.class == class) {
            continue;
        }
        let ev = context(&console, line, class, || {
            // Not on the console (quiet): the kmsg records after it.
            f.kernel
                .iter()
                .skip_while(|l| l.text != line)
                .take(AFTER + 1)
                .map(|l| l.text.to_string())
                .collect()
        });
        let message = match class {
            Class::HarnessError => format!(
                "the harness's guest init (PID 1) died and the kernel panicked: a ktstr-vm bug, not the scheduler's or the kernel's: {}",
                strip_ts(line)
            ),
            _ => format!("kernel: {}", strip_ts(line)),
        };
        out.push(Finding::new(class, message, ev).at(at));
    }
    out
}

/// The console around `line` (before it too, for a panic), else `fallback`.
fn context(
    console: &[&str],
    line: &str,
    class: Class,
    fallback: impl FnOnce() -> Vec<String>,
) -> Vec<String> {
    let needle = strip_ts(line);
    let Some(pos) = console.iter().position(|l| l.contains(needle)) else {
        return fallback();
    };
    let mut from = pos;
    if class == Class::KernelPanic {
        let at = console_ts_ms(console[pos]).unwrap_or(0);
        while from > 0
            && pos - from < BEFORE_PANIC
            && console_ts_ms(console[from - 1])
                .is_some_and(|t| t.saturating_add(BEFORE_PANIC_MS) >= at)
        {
            from -= 1;
        }
    }
    let to = (pos + 1 + AFTER).min(console.len());
    let mut ev: Vec<String> = console[from..to]
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.to_string())
        .collect();
    if ev.len() > CONSOLE_TAIL + BEFORE_PANIC {
        ev.truncate(CONSOLE_TAIL + BEFORE_PANIC);
    }
    ev
}

/// The text after a `[    1.234567] ` console timestamp.
fn strip_ts(line: &str) -> &str {
    match line
        .trim_start()
        .strip_prefix('[')
        .and_then(|r| r.split_once("] "))
    {
        Some((ts, rest)) if ts.trim().parse::<f64>().is_ok() => rest,
        _ => line.trim(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_console_timestamps() {
        assert_eq!(
            strip_ts("[    3.123456] Kernel panic - x"),
            "Kernel panic - x"
        );
        assert_eq!(strip_ts("Kernel panic - x"), "Kernel panic - x");
        assert_eq!(strip_ts("[abc] x"), "[abc] x");
    }
}
