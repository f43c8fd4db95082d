//! Caps on what one guest message may carry, applied as it arrives.
//!
//! The decoder bounds lines and the stream; this bounds the vectors inside
//! a well-formed message to what an honest guest ever sends (the guest's
//! own caps), so a hostile or corrupted guest cannot turn 256 MiB of
//! `[0,0,...]` into gigabytes of reports, or feed quadratic checks.

use ktstr_wire::topology::Topology;
use ktstr_wire::workload::{
    WorkerReport, MAX_GAPS, MAX_LATENCY_BUCKETS, MAX_MIGRATION_LOG, MAX_TRACE,
};
use ktstr_wire::GuestMsg;

/// Most CPUs or NUMA nodes any list may name (QEMU's x86 limit is far lower).
pub const MAX_CPUS: usize = 4096;
/// Most free-text entries (errors) in one report, and bytes in each.
const MAX_ERRORS: usize = 64;
const MAX_TEXT: usize = 4096;

/// Truncates oversized parts of `msg` in place; returns what was cut, so
/// the run records it as a protocol error.
pub fn sanitize(msg: &mut GuestMsg) -> Option<String> {
    let mut cut = Vec::new();
    match msg {
        GuestMsg::Worker(w) => worker(w, &mut cut),
        GuestMsg::Topology(t) => topology(t, &mut cut),
        // Schedulers colour their output for terminals; the log, the
        // evidence and JUnit want the text.
        GuestMsg::SchedulerLog { line, .. } => *line = strip_ansi(line),
        _ => {}
    }
    (!cut.is_empty()).then(|| {
        format!(
            "guest message over its limits, truncated: {}",
            cut.join(", ")
        )
    })
}

/// `line` without terminal escape sequences: CSI (`ESC [ ... final`), OSC
/// (`ESC ] ... BEL` or `ESC \\`), and `ESC` + intermediates + final.
pub fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('[') => {
                // Parameters and intermediates, then one final byte @..~.
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            Some(']') => {
                while let Some(c) = chars.next() {
                    if c == '\u{7}' || (c == '\u{1b}' && chars.next_if_eq(&'\\').is_some()) {
                        break;
                    }
                }
            }
            // `ESC ( B` and kin: intermediates, then one final byte.
            Some(c) if (' '..='/').contains(&c) => {
                for c in chars.by_ref() {
                    if !(' '..='/').contains(&c) {
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    out
}

fn cap<T>(v: &mut Vec<T>, max: usize, what: &str, cut: &mut Vec<String>) {
    if v.len() > max {
        cut.push(format!("{what} {} > {max}", v.len()));
        v.truncate(max);
    }
}

fn worker(w: &mut WorkerReport, cut: &mut Vec<String>) {
    cap(
        &mut w.wake_latency.buckets,
        MAX_LATENCY_BUCKETS,
        "wake buckets",
        cut,
    );
    cap(
        &mut w.migration_log,
        MAX_MIGRATION_LOG,
        "migration log",
        cut,
    );
    cap(&mut w.gaps, MAX_GAPS, "gaps", cut);
    cap(&mut w.cpus_used, MAX_CPUS, "cpus_used", cut);
    cap(&mut w.numa_pages, MAX_CPUS, "numa_pages", cut);
    cap(&mut w.trace, MAX_TRACE, "trace", cut);
    cap(&mut w.errors, MAX_ERRORS, "errors", cut);
    for e in w.errors.iter_mut().chain(w.trace.iter_mut()) {
        if e.len() > MAX_TEXT {
            let mut end = MAX_TEXT;
            while !e.is_char_boundary(end) {
                end -= 1;
            }
            e.truncate(end);
        }
    }
}

fn topology(t: &mut Topology, cut: &mut Vec<String>) {
    cap(&mut t.cpus, MAX_CPUS, "cpus", cut);
    cap(&mut t.nodes, MAX_CPUS, "nodes", cut);
    cap(&mut t.llcs, MAX_CPUS, "llcs", cut);
    cap(&mut t.cores, MAX_CPUS, "cores", cut);
    for g in t.llcs.iter_mut().chain(t.cores.iter_mut()) {
        cap(g, MAX_CPUS, "group", cut);
    }
    for n in &mut t.nodes {
        cap(&mut n.cpus, MAX_CPUS, "node cpus", cut);
        cap(&mut n.distances, MAX_CPUS, "distances", cut);
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn colour_codes_are_stripped_from_scheduler_lines() {
        let cases = [
            ("\u{1b}[1;31mERROR\u{1b}[0m: x", "ERROR: x"),
            ("plain", "plain"),
            ("\u{1b}[38;5;208mo\u{1b}[m", "o"),
            ("\u{1b}]0;title\u{7}text", "text"),
            ("\u{1b}]8;;http://x\u{1b}\\link\u{1b}]8;;\u{1b}\\", "link"),
            ("cut\u{1b}[", "cut"),
            ("a\u{1b}(Bb", "ab"),
            ("x\u{1b}=y", "xy"),
        ];
        for (raw, want) in cases {
            assert_eq!(strip_ansi(raw), want, "{raw:?}");
        }
        let mut msg = GuestMsg::SchedulerLog {
            stream: ktstr_wire::Stream::Stderr,
            line: "\u{1b}[33mwarn\u{1b}[0m".into(),
        };
        assert_eq!(sanitize(&mut msg), None);
        assert!(matches!(msg, GuestMsg::SchedulerLog { line, .. } if line == "warn"));
    }
    use super::*;

    #[test]
    fn oversized_reports_are_cut_and_named() {
        let mut w = WorkerReport::default();
        w.wake_latency.buckets = vec![Default::default(); 100_000];
        w.cpus_used = (0..10_000).collect();
        w.gaps = vec![Default::default(); 1000];
        w.errors = vec!["x".repeat(10_000)];
        let mut msg = GuestMsg::Worker(Box::new(w));
        let what = sanitize(&mut msg).unwrap();
        assert!(
            what.contains("wake buckets 100000 > 4096")
                && what.contains("cpus_used")
                && what.contains("gaps 1000 > 32"),
            "{what}"
        );
        let GuestMsg::Worker(w) = msg else {
            unreachable!()
        };
        assert_eq!(w.wake_latency.buckets.len(), MAX_LATENCY_BUCKETS);
        assert_eq!(w.cpus_used.len(), MAX_CPUS);
        assert_eq!(w.gaps.len(), MAX_GAPS);
        assert_eq!(w.errors[0].len(), MAX_TEXT);
        let mut ok = GuestMsg::Worker(Box::default());
        assert_eq!(sanitize(&mut ok), None);
    }
}
