//! Faults the guest injects on purpose (`ktstr-vm run --inject`), so the
//! harness's own failure detection can be tested end to end, and so a user
//! can see what each failure looks like before meeting a real one.
//!
//! The text form is `KIND@DELAY`, the delay counted from the workload start
//! (the scheduler is attached by then): `kill-scheduler@1s`,
//! `kill-scheduler:SIGTERM@500ms`, `sysrq-c@2s` (any sysrq key), `hang@1s`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What to break.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum FaultKind {
    /// Send `signal` to the scheduler process (SIGKILL by default).
    KillScheduler { signal: i32 },
    /// Write `key` to `/proc/sysrq-trigger` (`c` crashes the kernel).
    Sysrq { key: char },
    /// The guest init stops: no more messages, no power-off. Only the
    /// host's timeout ends the run, as with a guest that hung.
    Hang,
}

/// One fault and when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    /// Milliseconds after the workload started.
    pub after_ms: u64,
    #[serde(flatten)]
    pub kind: FaultKind,
}

/// A `--inject` value that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad fault {text:?}: {why} (write e.g. kill-scheduler@1s, kill-scheduler:SIGTERM@1s, sysrq-c@2s, hang@1s)")]
pub struct FaultParseError {
    pub text: String,
    pub why: String,
}

impl FromStr for Fault {
    type Err = FaultParseError;

    fn from_str(s: &str) -> Result<Fault, FaultParseError> {
        let err = |why: &str| FaultParseError {
            text: s.to_string(),
            why: why.to_string(),
        };
        let (kind, delay) = s.split_once('@').ok_or_else(|| err("no @DELAY"))?;
        let after_ms = crate::duration::parse_duration(delay)
            .map(|d| d.as_millis().min(u64::MAX as u128) as u64)
            .map_err(|why| err(&format!("the delay: {why}")))?;
        let kind = match kind.split_once(':') {
            _ if kind == "hang" => FaultKind::Hang,
            _ if kind == "kill-scheduler" => FaultKind::KillScheduler {
                signal: libc::SIGKILL,
            },
            Some(("kill-scheduler", sig)) => FaultKind::KillScheduler {
                signal: crate::signal::parse_signal(sig).ok_or_else(|| err("unknown signal"))?,
            },
            _ => match kind
                .strip_prefix("sysrq-")
                .map(|k| k.chars().collect::<Vec<_>>())
            {
                Some(key) if key.len() == 1 && key[0].is_ascii_alphanumeric() => {
                    FaultKind::Sysrq { key: key[0] }
                }
                Some(_) => return Err(err("a sysrq key is one letter or digit")),
                None => return Err(err("unknown kind")),
            },
        };
        Ok(Fault { after_ms, kind })
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            FaultKind::KillScheduler { signal } => {
                write!(f, "kill-scheduler:{}", crate::signal::signal_name(signal))?
            }
            FaultKind::Sysrq { key } => write!(f, "sysrq-{key}")?,
            FaultKind::Hang => write!(f, "hang")?,
        }
        write!(f, "@{}ms", self.after_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let cases: &[(&str, Option<(u64, FaultKind)>)] = &[
            (
                "kill-scheduler@1s",
                Some((
                    1000,
                    FaultKind::KillScheduler {
                        signal: libc::SIGKILL,
                    },
                )),
            ),
            (
                "kill-scheduler:SIGTERM@500ms",
                Some((
                    500,
                    FaultKind::KillScheduler {
                        signal: libc::SIGTERM,
                    },
                )),
            ),
            (
                "kill-scheduler:int@1.5s",
                Some((
                    1500,
                    FaultKind::KillScheduler {
                        signal: libc::SIGINT,
                    },
                )),
            ),
            (
                "kill-scheduler:9@0s",
                Some((0, FaultKind::KillScheduler { signal: 9 })),
            ),
            ("sysrq-c@2s", Some((2000, FaultKind::Sysrq { key: 'c' }))),
            ("hang@1s", Some((1000, FaultKind::Hang))),
            ("hang@1m", Some((60_000, FaultKind::Hang))),
            ("hang", None),
            ("hang@soon", None),
            ("hang@-1s", None),
            ("sysrq-cc@1s", None),
            ("sysrq-@1s", None),
            ("kill-scheduler:SIGNOPE@1s", None),
            ("reboot@1s", None),
        ];
        for (text, want) in cases {
            let got = text.parse::<Fault>().ok().map(|f| (f.after_ms, f.kind));
            assert_eq!(got, *want, "{text}");
        }
        let f: Fault = "kill-scheduler@1s".parse().unwrap();
        assert_eq!(f.to_string(), "kill-scheduler:SIGKILL@1000ms");
        assert_eq!(f.to_string().parse::<Fault>().unwrap(), f);
    }

    #[test]
    fn json_round_trip() {
        let f = Fault {
            after_ms: 10,
            kind: FaultKind::Sysrq { key: 'c' },
        };
        let text = serde_json::to_string(&f).unwrap();
        assert_eq!(text, r#"{"after_ms":10,"kind":"sysrq","key":"c"}"#);
        assert_eq!(serde_json::from_str::<Fault>(&text).unwrap(), f);
    }
}
