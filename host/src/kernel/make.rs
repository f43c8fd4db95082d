//! Runs the build's commands with their full output in a log file and a
//! live one-line view of what they are doing, so a 5-minute build is never
//! silent.
//!
//! On a terminal an indicatif spinner shows the step, the elapsed time and
//! the latest output line (`CC kernel/sched/ext.o`). Elsewhere (CI logs)
//! the same line is printed every [`PLAIN_INTERVAL`].

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// How often a non-terminal gets a progress line.
const PLAIN_INTERVAL: Duration = Duration::from_secs(30);
/// Output lines quoted in the error when a command fails.
const TAIL_LINES: usize = 25;

#[derive(Debug, thiserror::Error)]
pub enum MakeError {
    #[error("could not start `{cmd}`: {source}")]
    Spawn { cmd: String, source: std::io::Error },
    #[error("`{cmd}` failed ({status}); last output:\n{tail}\nfull log: {}", log.display())]
    Failed {
        cmd: String,
        status: String,
        tail: String,
        log: PathBuf,
    },
    #[error("build log {}: {source}", path.display())]
    Log {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The progress display for one build.
#[derive(Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A spinner when stderr is a terminal, plain periodic lines otherwise.
    pub fn new() -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            let style =
                ProgressStyle::with_template("{spinner} {prefix:.bold} [{elapsed}] {wide_msg}")
                    .expect("valid template");
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Progress { bar }
    }

    /// Prints a line above the spinner (or plainly).
    pub fn println(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Progress::new()
    }
}

/// The build log, shared by every step of one build.
#[derive(Debug)]
pub struct Log {
    file: File,
    path: PathBuf,
}

impl Log {
    pub fn create(path: &Path) -> Result<Log, MakeError> {
        let err = |source| MakeError::Log {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        Ok(Log {
            file: File::create(path).map_err(err)?,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write_line(&mut self, line: &[u8]) -> Result<(), MakeError> {
        self.file
            .write_all(line)
            .and_then(|()| self.file.write_all(b"\n"))
            .map_err(|source| MakeError::Log {
                path: self.path.clone(),
                source,
            })
    }
}

/// Runs `cmd` as step `label`: stdout and stderr interleaved into `log`,
/// the latest line shown live. An exit other than 0 is an error quoting
/// the last lines.
pub fn run_step(
    label: &str,
    mut cmd: Command,
    log: &mut Log,
    progress: &Progress,
) -> Result<(), MakeError> {
    let shown = format!("{cmd:?}").replace('"', "");
    log.write_line(format!("==> {label}: {shown}").as_bytes())?;
    let spawn_err = |source| MakeError::Spawn {
        cmd: shown.clone(),
        source,
    };
    // One pipe for both streams keeps errors next to the line that caused them.
    let (read_end, write_end) = nix::unistd::pipe().map_err(|e| spawn_err(e.into()))?;
    let write_err = write_end.try_clone().map_err(spawn_err)?;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(write_end))
        .stderr(Stdio::from(write_err));
    // Guarded: make and its compilers die with ktstr-vm, even by SIGKILL.
    let child = crate::guard::spawn(&mut cmd).map_err(spawn_err)?;
    drop(cmd); // closes our copies of the write end, so EOF comes when the child exits

    let start = Instant::now();
    let mut last_plain = start;
    if let Some(bar) = &progress.bar {
        bar.set_prefix(label.to_string());
        bar.reset_elapsed();
    } else {
        eprintln!("{label}: started");
    }
    let mut tail: VecDeque<String> = VecDeque::with_capacity(TAIL_LINES);
    let mut reader = BufReader::new(File::from(read_end));
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|source| MakeError::Log {
                path: log.path.clone(),
                source,
            })?;
        if n == 0 {
            break;
        }
        let line = String::from_utf8_lossy(&buf).trim_end().to_string();
        log.write_line(line.as_bytes())?;
        if line.trim().is_empty() {
            continue;
        }
        let summary = summarize(&line);
        match &progress.bar {
            Some(bar) => bar.set_message(summary),
            None if last_plain.elapsed() >= PLAIN_INTERVAL => {
                last_plain = Instant::now();
                eprintln!("{label}: {}s: {summary}", start.elapsed().as_secs());
            }
            None => {}
        }
        if tail.len() == TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(line);
    }
    let status = child.wait().map_err(spawn_err)?;
    let took = humantime::format_duration(Duration::from_secs(start.elapsed().as_secs()));
    if !status.success() {
        let tail = tail.into_iter().collect::<Vec<_>>().join("\n");
        return Err(MakeError::Failed {
            cmd: shown,
            status: status.to_string(),
            tail,
            log: log.path.clone(),
        });
    }
    progress.println(&format!("{label}: done in {took}"));
    Ok(())
}

/// The part of a build line worth showing: `CC      kernel/x.o` -> `CC kernel/x.o`.
fn summarize(line: &str) -> String {
    let words: Vec<&str> = line.split_whitespace().collect();
    let joined = words.join(" ");
    match joined.char_indices().nth(100) {
        Some((i, _)) => format!("{}...", &joined[..i]),
        None => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summarize_squeezes_and_truncates() {
        assert_eq!(
            summarize("  CC      kernel/sched/ext.o"),
            "CC kernel/sched/ext.o"
        );
        let long = "x".repeat(300);
        assert_eq!(summarize(&long).len(), 103);
    }

    #[test]
    fn step_logs_both_streams_and_reports_failure_tail() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::create(&dir.path().join("b.log")).unwrap();
        let progress = Progress { bar: None };
        let mut ok = Command::new("sh");
        ok.args(["-c", "echo out; echo err >&2"]);
        run_step("ok", ok, &mut log, &progress).unwrap();
        let mut bad = Command::new("sh");
        bad.args(["-c", "echo boom; exit 3"]);
        let err = run_step("bad", bad, &mut log, &progress).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("boom") && msg.contains("exit status: 3"),
            "{msg}"
        );
        let text = std::fs::read_to_string(dir.path().join("b.log")).unwrap();
        for want in ["out", "err", "boom", "==> ok"] {
            assert!(text.contains(want), "{want} missing from log:\n{text}");
        }
    }
}
