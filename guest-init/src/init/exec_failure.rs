//! Telling "the scheduler could not be executed" apart from "the scheduler
//! ran and failed": the first is this machine's problem (cannot test, 125),
//! the second the scheduler's (fail, 1).
//!
//! Two ways a binary never runs: the kernel refuses the exec (the spawn
//! itself fails: wrong architecture, not executable, no ELF interpreter),
//! or the dynamic loader starts and gives up before `main` (a library
//! missing or unusable). The loader then prints one line on stderr, before
//! the program could print anything, and exits: 127 for a library it
//! could not load or a symbol it could not bind, 1 for a missing symbol
//! version (glibc). That first line is all there is to go on.

use ktstr_wire::ExitStatus;

/// What glibc's and musl's loaders print when they give up, with the exit
/// code they give up with.
const LOADER_FAILURES: &[(i32, &str)] = &[
    // glibc: a library not found, not ELF, of another class or OS ABI.
    (127, ": error while loading shared libraries: "),
    // glibc: a symbol no loaded object defines (immediate binding).
    (127, ": symbol lookup error: "),
    // glibc: a library without the symbol version the binary was linked to.
    (1, "' not found (required by "),
    // musl.
    (127, "Error loading shared library "),
    (127, "Error relocating "),
];

/// Why the kernel refused to start `path`, with the errno's name so the
/// reason reads the same on every libc (`ENOEXEC`, `ENOENT`, `EACCES`...).
pub fn spawn_reason(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => format!("exec failed: {e}, {:?}", nix::errno::Errno::from_raw(code)),
        None => format!("exec failed: {e}"),
    }
}

/// The loader's line, when a scheduler that ended before attaching was
/// stopped by the dynamic loader rather than by its own code.
pub fn loader_refusal<'a>(
    exit: &ExitStatus,
    first_stderr_line: Option<&'a str>,
) -> Option<&'a str> {
    let ExitStatus::Exited { code } = *exit else {
        return None;
    };
    let line = first_stderr_line?;
    LOADER_FAILURES
        .iter()
        .any(|(c, needle)| *c == code && line.contains(needle))
        .then_some(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loader_refusals_table() {
        let exited = |code| ExitStatus::Exited { code };
        let glibc_missing = "/ktstr-vm/sched/s: error while loading shared libraries: libbpf.so.1: cannot open shared object file: No such file or directory";
        let glibc_abi = "/ktstr-vm/sched/s: error while loading shared libraries: /opt/l/libx.so: ELF file OS ABI invalid";
        let glibc_symbol =
            "/ktstr-vm/sched/s: symbol lookup error: /ktstr-vm/sched/s: undefined symbol: bpf_x";
        let glibc_version = "/ktstr-vm/sched/s: /lib/x86_64-linux-gnu/libc.so.6: version `GLIBC_2.99' not found (required by /ktstr-vm/sched/s)";
        let musl =
            "Error loading shared library libelf.so.1: No such file or directory (needed by /s)";
        let cases: &[(ExitStatus, Option<&str>, bool)] = &[
            (exited(127), Some(glibc_missing), true),
            (exited(127), Some(glibc_abi), true),
            (exited(127), Some(glibc_symbol), true),
            (exited(1), Some(glibc_version), true),
            (exited(127), Some(musl), true),
            // The scheduler's own failures: it ran.
            (
                exited(1),
                Some("libbpf: prog 'x': BPF program load failed: Permission denied"),
                false,
            ),
            (
                exited(127),
                Some("scx_mine: exiting with 127 for fun"),
                false,
            ),
            (exited(127), None, false),
            // A loader message with the wrong exit code is the program's text.
            (exited(2), Some(glibc_missing), false),
            (exited(127), Some(glibc_version), false),
            (
                ExitStatus::Signaled {
                    signal: 11,
                    core_dumped: false,
                },
                Some(glibc_missing),
                false,
            ),
        ];
        for (exit, line, refused) in cases {
            assert_eq!(
                loader_refusal(exit, *line).is_some(),
                *refused,
                "{exit:?} {line:?}"
            );
        }
    }

    #[test]
    fn spawn_reasons_name_the_errno() {
        let cases = [
            (libc::ENOEXEC, "ENOEXEC"),
            (libc::ENOENT, "ENOENT"),
            (libc::EACCES, "EACCES"),
            (libc::ELIBBAD, "ELIBBAD"),
        ];
        for (errno, name) in cases {
            let reason = spawn_reason(&std::io::Error::from_raw_os_error(errno));
            assert!(reason.starts_with("exec failed: "), "{reason}");
            assert!(reason.ends_with(name), "{reason}");
        }
    }
}
