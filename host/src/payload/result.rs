//! After a run: each payload's output and exit status for `result.json`,
//! its full output as artifacts, and its findings for the judge.
//!
//! The guest forwards the head of each stream live and, past its byte cap,
//! the tail at the end after a `PayloadOutputDropped`: the output here
//! then reads head, a line `[ktstr-vm: N bytes dropped]`, tail, so the end
//! of the output (and `result.json`'s tail of it) is the real end.

use std::path::Path;

use ktstr_wire::{ExitStatus, GuestMsg, Stream};
use serde::Serialize;

use super::PayloadPlan;
use crate::events::TimedEvent;
use crate::finding::{Class, Finding};

/// The class of a payload that exited non-zero, was killed or timed out.
pub const PAYLOAD_FAILED: Class = Class::PayloadFailed;
/// Output kept per stream in `result.json` (the end of it); the whole of
/// it is in the `payload-NAME.stdout`/`.stderr` artifacts.
const RESULT_TAIL_BYTES: usize = 16 << 10;
/// Lines of output quoted as a failed payload's evidence.
const EVIDENCE_LINES: usize = 20;

/// One payload in `result.json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PayloadResult {
    pub name: String,
    /// Guest path and arguments.
    pub command: Vec<String>,
    pub foreground: bool,
    pub check_exit: bool,
    /// `None` when the guest never reported an end (it never started: the
    /// scheduler failed first, or the guest died).
    pub exit: Option<ExitStatus>,
    /// Ended by the harness at the end of the workload (a background payload).
    pub stopped: bool,
    /// Guest uptime when it ended.
    pub ended_ms: Option<u64>,
    /// The last [`RESULT_TAIL_BYTES`] of each stream.
    pub stdout: String,
    pub stderr: String,
    /// Bytes the payload wrote on each stream, dropped ones included.
    pub stdout_bytes: usize,
    pub stderr_bytes: usize,
    /// Bytes the guest dropped between head and tail (see the module doc).
    pub stdout_dropped: u64,
    pub stderr_dropped: u64,
}

/// Output and exit of every planned payload, from the run's events.
pub fn results(plans: &[PayloadPlan], events: &[TimedEvent]) -> Vec<PayloadResult> {
    plans
        .iter()
        .map(|p| {
            let name = &p.config.name;
            let (stdout, stderr) = (
                collect(events, name, Stream::Stdout),
                collect(events, name, Stream::Stderr),
            );
            let exit = events
                .iter()
                .filter_map(TimedEvent::guest)
                .find_map(|m| match m {
                    GuestMsg::PayloadExited {
                        name: n,
                        exit,
                        stopped,
                        uptime_ms,
                    } if n == name => Some((*exit, *stopped, *uptime_ms)),
                    _ => None,
                });
            PayloadResult {
                name: name.clone(),
                command: std::iter::once(p.config.path.clone())
                    .chain(p.config.args.iter().cloned())
                    .collect(),
                foreground: p.config.foreground,
                check_exit: p.check_exit,
                exit: exit.map(|e| e.0),
                stopped: exit.is_some_and(|e| e.1),
                ended_ms: exit.map(|e| e.2),
                stdout_bytes: stdout.written(),
                stderr_bytes: stderr.written(),
                stdout_dropped: stdout.dropped,
                stderr_dropped: stderr.dropped,
                stdout: tail(&stdout.text, RESULT_TAIL_BYTES),
                stderr: tail(&stderr.text, RESULT_TAIL_BYTES),
            }
        })
        .collect()
}

/// One stream of one payload as received.
#[derive(Debug, Default)]
struct Collected {
    /// Head, drop markers, tail.
    text: String,
    dropped: u64,
    marker_bytes: usize,
}

impl Collected {
    fn written(&self) -> usize {
        (self.text.len() - self.marker_bytes).saturating_add(self.dropped as usize)
    }
}

/// The line that stands for `bytes` the guest dropped.
pub fn drop_marker(bytes: u64) -> String {
    format!("[ktstr-vm: {bytes} bytes dropped]\n")
}

fn collect(events: &[TimedEvent], name: &str, stream: Stream) -> Collected {
    let mut c = Collected::default();
    for m in events.iter().filter_map(TimedEvent::guest) {
        match m {
            GuestMsg::PayloadOutput {
                name: n,
                stream: s,
                data,
            } if n == name && *s == stream => c.text.push_str(data),
            GuestMsg::PayloadOutputDropped {
                name: n,
                stream: s,
                bytes,
            } if n == name && *s == stream => {
                let before = c.text.len();
                if !c.text.is_empty() && !c.text.ends_with('\n') {
                    c.text.push('\n');
                }
                c.text.push_str(&drop_marker(*bytes));
                c.marker_bytes += c.text.len() - before;
                c.dropped += bytes;
            }
            _ => {}
        }
    }
    c
}

/// Everything one payload wrote on `stream`, in order, with a marker line
/// where the guest dropped bytes.
pub fn output(events: &[TimedEvent], name: &str, stream: Stream) -> String {
    collect(events, name, stream).text
}

/// The last `max` bytes of `s`, cut at a character boundary.
fn tail(s: &str, max: usize) -> String {
    let mut start = s.len().saturating_sub(max);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    s[start..].to_string()
}

/// A finding per checked payload that did not exit 0 on its own.
pub fn findings(results: &[PayloadResult]) -> Vec<Finding> {
    let mut out = Vec::new();
    for r in results.iter().filter(|r| r.check_exit && !r.stopped) {
        let Some(exit) = r.exit else { continue };
        if exit.success() {
            continue;
        }
        let what = match exit {
            ExitStatus::TimedOut => "did not finish within its timeout".to_string(),
            other => format!("failed: {other}"),
        };
        let text = if r.stderr.trim().is_empty() {
            &r.stdout
        } else {
            &r.stderr
        };
        let lines: Vec<&str> = text.lines().collect();
        let evidence = lines[lines.len().saturating_sub(EVIDENCE_LINES)..]
            .iter()
            .map(|l| l.to_string())
            .collect();
        out.push(Finding::new(
            PAYLOAD_FAILED,
            format!("payload {} ({}) {what}", r.name, r.command.join(" ")),
            evidence,
        ));
    }
    out
}

/// Writes each payload's whole output to `payload-NAME.stdout` and
/// `.stderr` in the artifact directory (empty streams are skipped).
pub fn write_logs(dir: &Path, plans: &[PayloadPlan], events: &[TimedEvent]) -> std::io::Result<()> {
    for p in plans {
        let safe: String = p
            .config
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        for (stream, ext) in [(Stream::Stdout, "stdout"), (Stream::Stderr, "stderr")] {
            let text = output(events, &p.config.name, stream);
            if !text.is_empty() {
                std::fs::write(dir.join(format!("payload-{safe}.{ext}")), text)?;
            }
        }
    }
    Ok(())
}

/// One summary line per payload: how it ended and how much it wrote.
pub fn summary(results: &[PayloadResult]) -> String {
    let mut s = String::new();
    for r in results {
        let how = match (r.exit, r.stopped) {
            (None, _) => "never reported an end".to_string(),
            (Some(e), true) => format!("stopped at the end of the workload ({e})"),
            (Some(e), false) => e.to_string(),
        };
        let at = r
            .ended_ms
            .map(|ms| format!(" at {:.2}s", ms as f64 / 1000.0))
            .unwrap_or_default();
        let dropped = match r.stdout_dropped + r.stderr_dropped {
            0 => String::new(),
            n => format!(" ({n} B dropped in the middle, the end kept)"),
        };
        s.push_str(&format!(
            "payload {}: {how}{at}; {} B stdout, {} B stderr{dropped}\n",
            r.name, r.stdout_bytes, r.stderr_bytes
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Event;
    use crate::finding::{Outcome, Verdict};
    use ktstr_wire::PayloadConfig;

    fn plan(name: &str, check_exit: bool) -> PayloadPlan {
        PayloadPlan {
            config: PayloadConfig {
                name: name.into(),
                path: format!("/usr/bin/{name}"),
                args: vec!["-x".into()],
                env: Vec::new(),
                cgroup: None,
                timeout_ms: None,
                foreground: true,
            },
            shipped: Vec::new(),
            check_exit,
        }
    }

    fn guest(msg: GuestMsg) -> TimedEvent {
        TimedEvent::new(0, Event::Guest { msg })
    }

    fn out(name: &str, stream: Stream, data: &str) -> TimedEvent {
        guest(GuestMsg::PayloadOutput {
            name: name.into(),
            stream,
            data: data.into(),
        })
    }

    fn exited(name: &str, exit: ExitStatus, stopped: bool) -> TimedEvent {
        guest(GuestMsg::PayloadExited {
            name: name.into(),
            exit,
            stopped,
            uptime_ms: 7,
        })
    }

    #[test]
    fn output_is_joined_per_payload_and_stream() {
        let events = vec![
            out("a", Stream::Stdout, "hel"),
            out("b", Stream::Stdout, "other"),
            out("a", Stream::Stderr, "warn\n"),
            out("a", Stream::Stdout, "lo\n"),
            exited("a", ExitStatus::Exited { code: 0 }, false),
        ];
        let r = results(&[plan("a", true), plan("b", true)], &events);
        assert_eq!(r[0].stdout, "hello\n");
        assert_eq!(r[0].stderr, "warn\n");
        assert_eq!(r[0].command, ["/usr/bin/a", "-x"]);
        assert_eq!(
            (r[0].exit, r[0].ended_ms),
            (Some(ExitStatus::Exited { code: 0 }), Some(7))
        );
        assert_eq!(r[1].exit, None);
        assert!(findings(&r).is_empty(), "a passed and b never ended");
    }

    #[test]
    fn failures_that_count() {
        let cases = [
            (ExitStatus::Exited { code: 0 }, false, true, false),
            (ExitStatus::Exited { code: 2 }, false, true, true),
            (ExitStatus::Exited { code: 2 }, false, false, false),
            (ExitStatus::TimedOut, false, true, true),
            (
                ExitStatus::Signaled {
                    signal: 15,
                    core_dumped: false,
                },
                true,
                true,
                false,
            ),
            (
                ExitStatus::Signaled {
                    signal: 9,
                    core_dumped: false,
                },
                false,
                true,
                true,
            ),
        ];
        for (exit, stopped, check, fails) in cases {
            let events = vec![
                out("p", Stream::Stderr, "boom\n"),
                exited("p", exit, stopped),
            ];
            let r = results(&[plan("p", check)], &events);
            let f = findings(&r);
            assert_eq!(
                !f.is_empty(),
                fails,
                "{exit:?} stopped={stopped} check={check}"
            );
            if fails {
                assert_eq!(f[0].class, PAYLOAD_FAILED);
                assert_eq!(f[0].evidence, ["boom"]);
                assert_eq!(Verdict::of(f).outcome, Outcome::Fail);
            }
        }
    }

    #[test]
    fn summary_says_how_each_ended() {
        let events = vec![
            out("a", Stream::Stdout, "xy"),
            exited("a", ExitStatus::Exited { code: 0 }, false),
            exited(
                "b",
                ExitStatus::Signaled {
                    signal: 15,
                    core_dumped: false,
                },
                true,
            ),
        ];
        let text = summary(&results(
            &[plan("a", true), plan("b", true), plan("c", true)],
            &events,
        ));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "payload a: exit code 0 at 0.01s; 2 B stdout, 0 B stderr"
        );
        assert!(lines[1]
            .starts_with("payload b: stopped at the end of the workload (killed by SIGTERM)"));
        assert!(lines[2].starts_with("payload c: never reported an end"));
    }

    #[test]
    fn tail_cuts_at_a_character() {
        assert_eq!(tail("abc", 10), "abc");
        assert_eq!(tail("abcdef", 2), "ef");
        assert_eq!(tail("a\u{e9}b", 2), "b");
    }

    /// Past the guest's cap: head, a marker line, then the real end; the
    /// byte count includes what was dropped, and result.json's tail is the
    /// end of the output.
    #[test]
    fn dropped_output_is_marked_and_the_end_kept() {
        let dropped = |bytes| {
            guest(GuestMsg::PayloadOutputDropped {
                name: "p".into(),
                stream: Stream::Stdout,
                bytes,
            })
        };
        let events = vec![
            out("p", Stream::Stdout, "head line\npartial"),
            dropped(1000),
            out("p", Stream::Stdout, "tail\nSUMMARY: 3 passed\n"),
            out("p", Stream::Stderr, "err\n"),
            exited("p", ExitStatus::Exited { code: 0 }, false),
        ];
        let text = output(&events, "p", Stream::Stdout);
        assert_eq!(
            text,
            "head line\npartial\n[ktstr-vm: 1000 bytes dropped]\ntail\nSUMMARY: 3 passed\n"
        );
        let r = &results(&[plan("p", true)], &events)[0];
        assert_eq!(r.stdout_dropped, 1000);
        assert_eq!(
            r.stdout_bytes,
            "head line\npartial".len() + 1000 + "tail\nSUMMARY: 3 passed\n".len()
        );
        assert!(r.stdout.ends_with("SUMMARY: 3 passed\n"));
        assert_eq!((r.stderr_bytes, r.stderr_dropped), (4, 0));
        assert!(summary(std::slice::from_ref(r))
            .contains("(1000 B dropped in the middle, the end kept)"));
        let dir = tempfile::tempdir().unwrap();
        write_logs(dir.path(), &[plan("p", true)], &events).unwrap();
        let file = std::fs::read_to_string(dir.path().join("payload-p.stdout")).unwrap();
        assert_eq!(file, text);
    }
}
