//! Why a scheduler failed to load, read from libbpf's log in its output.
//!
//! A scheduler that the kernel refuses ends with a generic errno ("Failed
//! to load skel", "Permission denied (os error 13)"); the reason is in the
//! lines libbpf printed before. [`diagnose`] finds the first fatal one and
//! turns it into a [`Diagnosis`] whose message names what was refused and
//! why, e.g. `verifier rejected prog simple_enqueue: R0 invalid mem access
//! 'map_value_or_null' (scx_simple.bpf.c:52)`. It only quotes what libbpf
//! and the verifier said: output it does not recognise gives `None`, and
//! the caller keeps its generic message.
//!
//! The formats are libbpf's (`src/libbpf.c`, `src/btf.c`; read in 1.5, as
//! shipped with 6.12, and in libbpf's master, where only the errno text of
//! a map's creation differs: `Invalid argument(-22)` then `-EINVAL`). Its
//! warnings start with
//! `libbpf: `, possibly behind a logger's prefix (Rust schedulers route
//! them through `log`), and a rejected program's verifier log follows
//! `prog 'NAME': -- BEGIN PROG LOAD LOG --` up to `-- END PROG LOAD LOG --`,
//! unprefixed. In that log the verifier's verdict is the last message before
//! `processed N insns`, and `; CODE @ FILE:LINE` lines (emitted when the
//! program has BTF line info) say which source line each instruction is from.

use std::fmt;

use ktstr_wire::{ExitStatus, Stream};

/// libbpf's prefix on every line it prints through its default logger.
const LIBBPF: &str = "libbpf: ";
const BEGIN_LOG: &str = "-- BEGIN PROG LOAD LOG --";
const END_LOG: &str = "-- END PROG LOAD LOG --";
/// Verifier log lines quoted as evidence, counted back from its verdict.
const LOG_TAIL: usize = 12;
/// Lines quoted from what the scheduler printed after the cause.
const AFTER_LINES: usize = 12;
/// The verifier's verdict can span a few lines ("invalid access to map
/// value ..." then "R0 min value is outside ..."); never more than this.
const REASON_LINES: usize = 3;

/// A source line the verifier pointed at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SourceLine {
    pub file: String,
    pub line: u32,
    pub code: String,
}

/// What made the load fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Cause {
    /// The kernel refused a program: the verifier's verdict and where, when
    /// its log was printed whole.
    Verifier {
        prog: String,
        /// libbpf's errno text ("Permission denied").
        error: String,
        reason: Option<String>,
        source: Option<SourceLine>,
        /// The log's end arrived: without it no reason is claimed.
        log_complete: bool,
    },
    /// A CO-RE relocation found no match in the kernel's BTF: the program
    /// was built against another kernel's types.
    CoRe {
        prog: String,
        detail: String,
        source: Option<SourceLine>,
    },
    /// A kfunc or kernel variable the program calls or reads is missing
    /// from (or different in) the kernel.
    Ksym {
        kind: &'static str,
        name: String,
        detail: String,
    },
    /// A struct_ops map sets a member the kernel's struct lacks, or one
    /// whose type differs.
    StructOps {
        map: String,
        member: Option<String>,
        detail: String,
    },
    /// The kernel's BTF is missing or lacks a type the loader needs.
    Btf { detail: String },
    /// The kernel refused to create a map.
    Map { map: String, error: String },
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = |s: &Option<SourceLine>| {
            s.as_ref()
                .map_or(String::new(), |s| format!(" ({}:{})", s.file, s.line))
        };
        match self {
            Cause::Verifier {
                prog,
                reason: Some(reason),
                source,
                ..
            } => write!(f, "verifier rejected prog {prog}: {reason}{}", at(source)),
            Cause::Verifier {
                prog,
                error,
                log_complete,
                ..
            } => {
                let why = if *log_complete {
                    "its verifier log names no reason"
                } else {
                    "the verifier's log is missing or was cut before its end"
                };
                write!(f, "the kernel rejected prog {prog}: {error} ({why})")
            }
            Cause::CoRe {
                prog,
                detail,
                source,
            } => write!(
                f,
                "prog {prog} does not match this kernel's BTF: {detail}{}",
                at(source)
            ),
            Cause::Ksym { kind, name, detail } if detail.starts_with("not found") => {
                write!(f, "missing {kind} {name}: {detail}")
            }
            Cause::Ksym { kind, name, detail } => {
                write!(f, "{kind} {name} differs in this kernel: {detail}")
            }
            Cause::StructOps {
                map,
                member: Some(member),
                ..
            } => write!(
                f,
                "unsupported struct_ops member {map}.{member}: the kernel's BTF has no such member"
            ),
            Cause::StructOps { map, detail, .. } => {
                write!(f, "struct_ops {map} does not match this kernel: {detail}")
            }
            Cause::Btf { detail } => write!(f, "unusable kernel BTF: {detail}"),
            Cause::Map { map, error } => {
                write!(f, "the kernel refused to create map {map}: {error}")
            }
        }
    }
}

/// A recognised load failure: the cause, and the lines that show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Diagnosis {
    pub cause: Cause,
    /// The scheduler's own lines behind the cause, in order.
    pub evidence: Vec<String>,
}

/// The finding's message and first evidence lines for a scheduler that
/// ended (`exit`) before attaching, when its output says why. Its stderr
/// is read first, then its stdout.
pub(super) fn explain(log: &[(Stream, &str)], exit: &ExitStatus) -> Option<(String, Vec<String>)> {
    let stream = |s: Stream| log.iter().filter(move |l| l.0 == s).map(|l| l.1);
    let d = diagnose(stream(Stream::Stderr)).or_else(|| diagnose(stream(Stream::Stdout)))?;
    let ended = format!("the scheduler ended ({exit}) before sched_ext enabled it");
    let lines = d.evidence.iter().map(|l| format!("scheduler: {l}"));
    Some((
        d.cause.to_string(),
        std::iter::once(ended).chain(lines).collect(),
    ))
}

/// The first fatal load error in one stream of the scheduler's output, or
/// `None` when nothing in it is recognised. Give each stream on its own:
/// a verifier log is contiguous only within the stream it was written to.
pub(super) fn diagnose<'a>(lines: impl IntoIterator<Item = &'a str>) -> Option<Diagnosis> {
    let lines: Vec<&str> = lines.into_iter().collect();
    let (mut diagnosis, next) = lines.iter().enumerate().find_map(|(i, line)| {
        let msg = libbpf_message(line)?;
        if let Some((prog, error)) = prog_message(msg, "BPF program load failed: ") {
            let (d, used) = rejected_prog(prog, error, line, &lines[i + 1..]);
            return Some((d, i + 1 + used));
        }
        let cause = single_line(msg)?;
        let evidence = vec![line.to_string()];
        Some((Diagnosis { cause, evidence }, i + 1))
    })?;
    diagnosis.evidence.extend(following(&lines[next..]));
    Some(diagnosis)
}

/// What the scheduler printed after the cause (libbpf's follow-ups, the
/// scheduler's own error), its start and end when it is long.
fn following(rest: &[&str]) -> Vec<String> {
    if rest.len() <= AFTER_LINES {
        return rest.iter().map(|l| l.to_string()).collect();
    }
    let (head, tail) = (AFTER_LINES - 4, 3);
    let mut out: Vec<String> = rest[..head].iter().map(|l| l.to_string()).collect();
    out.push(format!(
        "... {} more lines in scheduler.log",
        rest.len() - head - tail
    ));
    out.extend(rest[rest.len() - tail..].iter().map(|l| l.to_string()));
    out
}

/// The text after `libbpf: `, wherever a logger put it on the line.
fn libbpf_message(line: &str) -> Option<&str> {
    line.find(LIBBPF).map(|i| &line[i + LIBBPF.len()..])
}

/// `prog 'NAME': <tag>REST` as (NAME, REST).
fn prog_message<'a>(msg: &'a str, tag: &str) -> Option<(&'a str, &'a str)> {
    let (name, rest) = quoted(msg, "prog '")?;
    Some((name, rest.strip_prefix(tag)?))
}

/// `<lead>NAME': REST` as (NAME, REST).
fn quoted<'a>(msg: &'a str, lead: &str) -> Option<(&'a str, &'a str)> {
    msg.strip_prefix(lead)?.split_once("': ")
}

/// The fatal libbpf messages that stand on one line.
fn single_line(msg: &str) -> Option<Cause> {
    if let Some((name, detail)) = quoted(msg, "extern (func ksym) '") {
        return ksym("kfunc", name, detail);
    }
    if let Some((name, detail)) = quoted(msg, "extern (var ksym) '") {
        return ksym("ksym", name, detail);
    }
    if let Some(rest) = msg.strip_prefix("struct_ops init_kern ") {
        return struct_ops(rest);
    }
    if let Some((map, rest)) = quoted(msg, "map '") {
        return rest
            .strip_prefix("failed to create")
            .map(|error| Cause::Map {
                map: map.to_string(),
                error: error.trim_start_matches([':', ' ']).to_string(),
            });
    }
    if let Some((prog, rest)) = quoted(msg, "prog '") {
        return core_failure(prog, rest);
    }
    btf_message(msg).then(|| Cause::Btf {
        detail: msg.trim().to_string(),
    })
}

fn ksym(kind: &'static str, name: &str, detail: &str) -> Option<Cause> {
    let missing = detail.starts_with("not found in kernel");
    (missing || detail.contains("incompatible")).then(|| Cause::Ksym {
        kind,
        name: name.to_string(),
        detail: detail.trim().to_string(),
    })
}

/// `struct_ops init_kern MAP: ...` errors; its debug lines (type ids,
/// copied members) share the prefix and are not errors.
fn struct_ops(rest: &str) -> Option<Cause> {
    let (map, detail) = rest.split_once(": ")?;
    let member = detail
        .strip_prefix("Cannot find member ")
        .and_then(|m| m.strip_suffix(" in kernel BTF"));
    let mismatch = [
        "Unmatched member type",
        "Error in size of member",
        "kernel member ",
        "bitfield ",
        "failed to resolve the size of member",
    ];
    if member.is_none() && !mismatch.iter().any(|m| detail.starts_with(m)) {
        return None;
    }
    Some(Cause::StructOps {
        map: map.to_string(),
        member: member.map(str::to_string),
        detail: detail.trim().to_string(),
    })
}

/// A program's fatal CO-RE or BTF lookup failure reported outside the
/// verifier log (libbpf in strict mode, attach targets).
fn core_failure(prog: &str, rest: &str) -> Option<Cause> {
    let fatal = rest.contains("target candidate search failed")
        || rest.starts_with("failed to find kernel BTF type ID");
    fatal.then(|| Cause::CoRe {
        prog: prog.to_string(),
        detail: rest.trim().to_string(),
        source: None,
    })
}

/// libbpf's messages for a kernel BTF it cannot find or read.
fn btf_message(msg: &str) -> bool {
    [
        "kernel BTF is missing at ",
        "failed to find valid kernel BTF",
        "failed to read kernel BTF from ",
        "Error loading vmlinux BTF",
        "vmlinux BTF is not found",
        "struct_ops init_kern: struct ",
    ]
    .iter()
    .any(|p| msg.starts_with(p))
        || (msg.starts_with("Error loading .BTF into kernel") && msg.contains("can't proceed"))
}

/// A program the kernel refused: read its verifier log, when libbpf
/// printed one right after. Also returns how many of the `after` lines the
/// evidence covers.
fn rejected_prog(prog: &str, error: &str, first: &str, after: &[&str]) -> (Diagnosis, usize) {
    let begin = after.iter().position(|l| {
        libbpf_message(l)
            .and_then(|m| prog_message(m, BEGIN_LOG))
            .is_some_and(|(p, _)| p == prog)
    });
    let (log, log_complete) = match begin {
        Some(b) => verifier_log(&after[b + 1..]),
        None => (Vec::new(), false),
    };
    // Without the log's end, its last lines are not the verdict.
    let verdict = verdict(&log).filter(|_| log_complete);
    let source = verdict
        .as_ref()
        .and_then(|v| source_before(&log[..v.start]));
    let mut evidence = vec![first.to_string()];
    if let Some(s) = &source {
        evidence.push(format!("source: {}:{}: {}", s.file, s.line, s.code));
    }
    let shown = verdict.as_ref().map_or(log.len(), |v| v.end);
    let used = begin.map_or(0, |b| b + 1 + shown);
    evidence.extend(
        log[shown.saturating_sub(LOG_TAIL)..shown]
            .iter()
            .map(|l| l.to_string()),
    );
    let cause = match verdict.map(|v| v.lines.join("; ")) {
        Some(detail) if detail.starts_with("failed to resolve CO-RE relocation") => Cause::CoRe {
            prog: prog.to_string(),
            detail,
            source,
        },
        reason => Cause::Verifier {
            prog: prog.to_string(),
            error: error.trim().to_string(),
            reason,
            source,
            log_complete,
        },
    };
    (Diagnosis { cause, evidence }, used)
}

/// The log's lines up to its end marker, and whether the marker came (a
/// log may be cut by the guest's line cap, or by the scheduler dying).
fn verifier_log<'a>(lines: &[&'a str]) -> (Vec<&'a str>, bool) {
    let mut log = Vec::new();
    for l in lines {
        if let Some(i) = l.find(END_LOG) {
            if !l[..i].trim().is_empty() {
                log.push(&l[..i]);
            }
            return (log, true);
        }
        log.push(*l);
    }
    (log, false)
}

/// The verifier's verdict within its log: `lines` are `log[start..end]`
/// without blank lines.
struct Verdict<'a> {
    start: usize,
    end: usize,
    lines: Vec<&'a str>,
}

/// The messages right before `processed N insns` (or the log's end), after
/// the last traced instruction.
fn verdict<'a>(log: &[&'a str]) -> Option<Verdict<'a>> {
    let stop = log
        .iter()
        .rposition(|l| l.starts_with("processed ") && l.contains(" insns"))
        .unwrap_or(log.len());
    let mut picked = Vec::new();
    for i in (0..stop).rev() {
        let l = log[i];
        if l.trim().is_empty() || is_stats(l) {
            continue;
        }
        if is_trace(l) || picked.len() == REASON_LINES {
            break;
        }
        picked.push(i);
    }
    let (&start, &last) = (picked.last()?, picked.first()?);
    Some(Verdict {
        start,
        end: last + 1,
        lines: picked.iter().rev().map(|&i| log[i].trim()).collect(),
    })
}

/// Statistics the verifier prints after its verdict at higher log levels.
fn is_stats(l: &str) -> bool {
    l.starts_with("verification time ") || l.starts_with("stack depth ")
}

/// A line of the instruction trace rather than a message: `12: (79) ...`
/// and `12: R0=...` (instruction and state), `; code @ file:line`,
/// `from 4 to 6: ...` (branch states), indented state, and the
/// precision-tracking lines of log level 2.
fn is_trace(l: &str) -> bool {
    let digits = l.bytes().take_while(u8::is_ascii_digit).count();
    (digits > 0 && l[digits..].starts_with(':'))
        || l.starts_with("; ")
        || l.starts_with([' ', '\t'])
        || (l.starts_with("from ") && l.contains(" to "))
        || [
            "mark_precise: ",
            "last_idx ",
            "regs=",
            "parent ",
            "frame",
            "caller:",
            "callee:",
            "returning from callee",
            "to caller at ",
            "func#",
        ]
        .iter()
        .any(|p| l.starts_with(p))
}

/// The last `; code @ file:line` annotation in `log`.
fn source_before(log: &[&str]) -> Option<SourceLine> {
    log.iter().rev().find_map(|l| {
        let (code, place) = l.strip_prefix("; ")?.rsplit_once(" @ ")?;
        let (file, line) = place.trim().rsplit_once(':')?;
        Some(SourceLine {
            file: file.to_string(),
            line: line.parse().ok()?,
            code: code.trim().to_string(),
        })
    })
}

#[cfg(test)]
#[path = "load_failure_tests.rs"]
mod tests;
