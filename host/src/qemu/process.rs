//! The QEMU process: spawned in its own process group with a parent-death
//! signal, so neither Ctrl-C on the terminal nor a killed ktstr-vm leaves
//! a QEMU behind; killed and reaped on drop.

use std::ffi::OsString;
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum QemuError {
    #[error("QEMU binary {0} not found: install it (Debian: apt-get install qemu-system-x86, or run ci/setup.sh)")]
    NotFound(String),
    #[error("starting {binary}: {source}")]
    Spawn {
        binary: String,
        source: std::io::Error,
    },
    #[error("creating QEMU's log {path}: {source}")]
    Log {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl crate::exit::ExitClass for QemuError {
    fn exit_code(&self) -> crate::exit::ExitCode {
        crate::exit::ExitCode::Environment
    }
}

/// The QEMU binary: `$KTSTR_VM_QEMU`, else `qemu-system-x86_64` on PATH.
pub fn qemu_binary() -> Result<PathBuf, QemuError> {
    let name = std::env::var_os("KTSTR_VM_QEMU").unwrap_or_else(|| "qemu-system-x86_64".into());
    let p = PathBuf::from(&name);
    if p.components().count() > 1 {
        return if p.is_file() {
            Ok(p)
        } else {
            Err(QemuError::NotFound(p.display().to_string()))
        };
    }
    crate::which::which(&p.to_string_lossy())
        .ok_or_else(|| QemuError::NotFound(p.display().to_string()))
}

/// How QEMU ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum QemuExit {
    Exited { code: i32 },
    Signaled { signal: i32 },
}

/// A running QEMU. Dropping it kills and reaps the process.
#[derive(Debug)]
pub struct Qemu {
    child: Option<Child>,
    exit: Option<QemuExit>,
}

impl Qemu {
    /// Starts QEMU with `args`. Its own stdout/stderr go to `log` (QEMU's
    /// errors, e.g. a bad option), or to the terminal when `interactive`.
    pub fn spawn(
        binary: &Path,
        args: &[OsString],
        log: &Path,
        interactive: bool,
    ) -> Result<Qemu, QemuError> {
        let mut cmd = Command::new(binary);
        cmd.args(args);
        if interactive {
            cmd.stdin(Stdio::inherit()).stdout(Stdio::inherit());
            let err = File::create(log).map_err(|source| QemuError::Log {
                path: log.into(),
                source,
            })?;
            cmd.stderr(err);
        } else {
            let out = File::create(log).map_err(|source| QemuError::Log {
                path: log.into(),
                source,
            })?;
            let err = out.try_clone().map_err(|source| QemuError::Log {
                path: log.into(),
                source,
            })?;
            cmd.stdin(Stdio::null()).stdout(out).stderr(err);
            // Out of the terminal's process group: Ctrl-C reaches us only,
            // and we decide how QEMU ends.
            cmd.process_group(0);
        }
        // SAFETY: prctl is async-signal-safe; nothing else runs between
        // fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().map_err(|source| QemuError::Spawn {
            binary: binary.display().to_string(),
            source,
        })?;
        Ok(Qemu {
            child: Some(child),
            exit: None,
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// How QEMU ended, if it has.
    pub fn try_wait(&mut self) -> Option<QemuExit> {
        if self.exit.is_none() {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.exit = Some(convert(status));
                }
            }
        }
        self.exit
    }

    /// Waits up to `timeout` for QEMU to exit on its own.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<QemuExit> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(e) = self.try_wait() {
                return Some(e);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Kills QEMU (SIGKILL) and reaps it.
    pub fn kill(&mut self) -> Option<QemuExit> {
        if self.try_wait().is_none() {
            if let Some(child) = self.child.as_mut() {
                let _ = child.kill();
                if let Ok(status) = child.wait() {
                    self.exit = Some(convert(status));
                }
            }
        }
        self.exit
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        self.kill();
    }
}

fn convert(status: std::process::ExitStatus) -> QemuExit {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => QemuExit::Exited { code },
        (None, Some(signal)) => QemuExit::Signaled { signal },
        (None, None) => QemuExit::Exited { code: -1 },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_kills_the_process() {
        let dir = tempfile::tempdir().unwrap();
        let q = Qemu::spawn(
            Path::new("/bin/sleep"),
            &["30".into()],
            &dir.path().join("log"),
            false,
        )
        .unwrap();
        let pid = q.pid().unwrap() as i32;
        drop(q);
        let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok();
        assert!(!alive, "pid {pid} survived drop");
    }

    #[test]
    fn missing_binary_is_named() {
        let err = Qemu::spawn(
            Path::new("/nonexistent/qemu"),
            &[],
            Path::new("/tmp/ktstr-vm-test-log"),
            false,
        )
        .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/qemu"), "{err}");
    }
}
