//! The run's artifact directory: every run keeps its console log, the
//! scheduler's log, the raw guest stream and `result.json`, failed or not.

use std::path::{Path, PathBuf};

/// File names inside an artifact directory.
pub const CONSOLE_LOG: &str = "console.log";
pub const SCHEDULER_LOG: &str = "scheduler.log";
pub const GUEST_STREAM: &str = "guest.jsonl";
pub const QEMU_LOG: &str = "qemu.log";
pub const RESULT_JSON: &str = "result.json";
/// The run's archive (newc cpio): the scheduler and its libraries, the
/// included files and the run config, sent to the guest over the port.
pub const RUN_ARCHIVE: &str = "run.cpio";
pub const QEMU_CMDLINE: &str = "qemu.cmdline";
/// Present while the run is going, removed once `result.json` is written:
/// a directory that still has it belongs to a run that was killed.
pub const INCOMPLETE: &str = "INCOMPLETE";
pub const INCOMPLETE_TEXT: &str =
    "this run did not finish: ktstr-vm was killed before it wrote result.json\n";

#[derive(Debug, thiserror::Error)]
#[error("creating artifact directory {path}: {source}")]
pub struct ArtifactsError {
    path: PathBuf,
    source: std::io::Error,
}

impl crate::exit::ExitClass for ArtifactsError {
    fn exit_code(&self) -> crate::exit::ExitCode {
        crate::exit::ExitCode::Environment
    }
}

/// Paths of one run's artifacts.
#[derive(Debug, Clone)]
pub struct Artifacts {
    dir: PathBuf,
}

impl Artifacts {
    /// Uses `dir` (created if needed, private to the user).
    pub fn create(dir: &Path) -> Result<Artifacts, ArtifactsError> {
        crate::scratch::private_dir_all(dir).map_err(|source| ArtifactsError {
            path: dir.to_path_buf(),
            source,
        })?;
        Ok(Artifacts {
            dir: dir.to_path_buf(),
        })
    }

    /// A fresh directory under `parent`, named by time, label and pid so
    /// concurrent runs never share one.
    pub fn fresh(parent: &Path, label: &str) -> Result<Artifacts, ArtifactsError> {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let stamp = humantime::format_rfc3339_seconds(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs),
        )
        .to_string()
        .replace([':', '-'], "")
        .trim_end_matches('Z')
        .to_string();
        let safe: String = label
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        Self::create(&parent.join(format!("{stamp}-{safe}-{}", std::process::id())))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}
