//! Signal names and numbers, for `--inject kill-scheduler:SIGTERM@1s` and
//! for printing how a process ended. A table rather than `nix`, so the
//! protocol crate stays free of the OS bindings the guest engine needs.

/// The signals a user names, as `(name, number)`.
const SIGNALS: &[(&str, i32)] = &[
    ("SIGHUP", libc::SIGHUP),
    ("SIGINT", libc::SIGINT),
    ("SIGQUIT", libc::SIGQUIT),
    ("SIGILL", libc::SIGILL),
    ("SIGTRAP", libc::SIGTRAP),
    ("SIGABRT", libc::SIGABRT),
    ("SIGBUS", libc::SIGBUS),
    ("SIGFPE", libc::SIGFPE),
    ("SIGKILL", libc::SIGKILL),
    ("SIGUSR1", libc::SIGUSR1),
    ("SIGSEGV", libc::SIGSEGV),
    ("SIGUSR2", libc::SIGUSR2),
    ("SIGPIPE", libc::SIGPIPE),
    ("SIGALRM", libc::SIGALRM),
    ("SIGTERM", libc::SIGTERM),
    ("SIGCHLD", libc::SIGCHLD),
    ("SIGCONT", libc::SIGCONT),
    ("SIGSTOP", libc::SIGSTOP),
    ("SIGTSTP", libc::SIGTSTP),
    ("SIGTTIN", libc::SIGTTIN),
    ("SIGTTOU", libc::SIGTTOU),
    ("SIGURG", libc::SIGURG),
    ("SIGXCPU", libc::SIGXCPU),
    ("SIGXFSZ", libc::SIGXFSZ),
    ("SIGVTALRM", libc::SIGVTALRM),
    ("SIGPROF", libc::SIGPROF),
    ("SIGWINCH", libc::SIGWINCH),
    ("SIGIO", libc::SIGIO),
    ("SIGPWR", libc::SIGPWR),
    ("SIGSYS", libc::SIGSYS),
];

/// `SIGTERM`, `term`, `15` -> 15. `None` for anything else.
pub fn parse_signal(text: &str) -> Option<i32> {
    if let Ok(n) = text.parse::<i32>() {
        return SIGNALS.iter().any(|&(_, s)| s == n).then_some(n);
    }
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    SIGNALS.iter().find(|&&(n, _)| n == name).map(|&(_, s)| s)
}

/// 15 -> `SIGTERM`; an unnamed number -> `signal 77`.
pub fn signal_name(signal: i32) -> String {
    SIGNALS
        .iter()
        .find(|&&(_, s)| s == signal)
        .map_or_else(|| format!("signal {signal}"), |&(n, _)| n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        let cases: &[(&str, Option<i32>)] = &[
            ("SIGTERM", Some(15)),
            ("term", Some(15)),
            ("Int", Some(2)),
            ("9", Some(9)),
            ("0", None),
            ("99", None),
            ("SIGNOPE", None),
            ("", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_signal(text), *want, "{text}");
        }
        assert_eq!(signal_name(9), "SIGKILL");
        assert_eq!(signal_name(77), "signal 77");
    }
}
