//! Published scx schedulers as matrix cells: `cargo:NAME@VERSION` is built
//! once with `cargo install` into the cache and reused by every cell and
//! every later run.
//!
//! The scx schedulers' build scripts compile BPF with clang and call it as
//! `clang`; Debian names it `clang-19`. When `clang` is not on `PATH` but
//! `clang-19` is, the build gets a `clang` symlink first on its `PATH` and
//! `BPF_CLANG=clang-19`. Installs go to a temporary root that is renamed
//! into place when complete, under a lock, so a killed build leaves nothing
//! a later run would trust and two processes build it once.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nix::fcntl::{Flock, FlockArg};

use crate::cache_dir::CacheDir;
use crate::exit::{ExitClass, ExitCode};

/// `cargo:NAME@VERSION`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CargoScheduler {
    pub name: String,
    pub version: String,
}

/// Why a cargo scheduler could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum CargoError {
    #[error("`{spec}`: write cargo:NAME@VERSION, e.g. cargo:scx_rusty@1.0.17")]
    Syntax { spec: String },
    #[error("cargo not found on PATH: install Rust (rustup) to build {name}@{version}")]
    NoCargo { name: String, version: String },
    #[error("`cargo install {name} --version {version}` failed ({status}); last output:\n{tail}\n(scx schedulers need clang and libbpf's build dependencies: see the README)")]
    Failed {
        name: String,
        version: String,
        status: String,
        tail: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl ExitClass for CargoError {
    fn exit_code(&self) -> ExitCode {
        match self {
            CargoError::Syntax { .. } => ExitCode::Usage,
            // A scheduler version that does not build cannot be tested.
            CargoError::Failed { .. } => ExitCode::CannotTest,
            CargoError::NoCargo { .. } | CargoError::Io { .. } => ExitCode::Environment,
        }
    }
}

impl CargoScheduler {
    /// `cargo:NAME@VERSION` -> the scheduler; anything else -> `None`.
    pub fn parse(text: &str) -> Option<CargoScheduler> {
        let rest = text.strip_prefix("cargo:")?;
        let (name, version) = rest.split_once('@')?;
        let ok = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.+".contains(c))
        };
        (ok(name) && ok(version)).then(|| CargoScheduler {
            name: name.into(),
            version: version.into(),
        })
    }

    /// `<cache>/schedulers/NAME-VERSION`.
    pub fn root(&self, cache: &CacheDir) -> PathBuf {
        cache
            .root()
            .join("schedulers")
            .join(format!("{}-{}", self.name, self.version))
    }

    /// The installed binary.
    pub fn binary(&self, cache: &CacheDir) -> PathBuf {
        self.root(cache).join("bin").join(&self.name)
    }
}

/// The installed binary of `s`, building it on first use with the `cargo`
/// on `PATH` (or `$CARGO`).
pub fn install(s: &CargoScheduler, cache: &CacheDir) -> Result<PathBuf, CargoError> {
    if s.binary(cache).is_file() {
        return Ok(s.binary(cache));
    }
    let cargo = crate::which::which(&std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .ok_or_else(|| CargoError::NoCargo {
            name: s.name.clone(),
            version: s.version.clone(),
        })?;
    install_with(s, cache, &cargo)
}

fn install_with(s: &CargoScheduler, cache: &CacheDir, cargo: &Path) -> Result<PathBuf, CargoError> {
    let bin = s.binary(cache);
    if bin.is_file() {
        return Ok(bin);
    }
    let parent = cache.root().join("schedulers");
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| CargoError::Io { path, source }
    };
    std::fs::create_dir_all(&parent).map_err(io(&parent))?;
    let lock_path = parent.join(format!(".{}-{}.lock", s.name, s.version));
    let lock_file = std::fs::File::create(&lock_path).map_err(io(&lock_path))?;
    let _lock = match Flock::lock(lock_file, FlockArg::LockExclusiveNonblock) {
        Ok(l) => l,
        Err((f, _)) => {
            eprintln!(
                "ktstr-vm: waiting for another ktstr-vm installing {}@{}",
                s.name, s.version
            );
            Flock::lock(f, FlockArg::LockExclusive).map_err(|(_, e)| CargoError::Io {
                path: lock_path.clone(),
                source: e.into(),
            })?
        }
    };
    if bin.is_file() {
        return Ok(bin);
    }
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{}-{}.", s.name, s.version))
        .tempdir_in(&parent)
        .map_err(io(&parent))?;
    let log_path = parent.join(format!(".{}-{}.log", s.name, s.version));
    let log = std::fs::File::create(&log_path).map_err(io(&log_path))?;
    let mut cmd = Command::new(cargo);
    cmd.args(["install", "--locked", "--root"])
        .arg(staging.path())
        .args([&s.name, "--version", &s.version])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    let clang_shim = clang_shim(&mut cmd).map_err(io(staging.path()))?;
    eprintln!(
        "ktstr-vm: building {}@{} with cargo install (once; cached in {})",
        s.name,
        s.version,
        s.root(cache).display()
    );
    // Guarded: a killed ktstr-vm takes cargo and its rustc jobs along.
    let status = crate::guard::spawn(&mut cmd)
        .and_then(|g| g.wait())
        .map_err(io(cargo))?;
    drop(clang_shim);
    if !status.success() || !staging.path().join("bin").join(&s.name).is_file() {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        return Err(CargoError::Failed {
            name: s.name.clone(),
            version: s.version.clone(),
            status: status.to_string(),
            tail: lines[lines.len().saturating_sub(15)..].join("\n"),
        });
    }
    let root = s.root(cache);
    let staged = staging.keep();
    std::fs::rename(&staged, &root).map_err(io(&root))?;
    Ok(bin)
}

/// Gives the build a `clang` when only `clang-19` exists (Debian), the
/// way the scx project's own CI does. Returns the temporary directory
/// holding the symlink (keep it until the build ends).
fn clang_shim(cmd: &mut Command) -> std::io::Result<Option<tempfile::TempDir>> {
    if crate::which::which("clang").is_some() {
        return Ok(None);
    }
    let Some(versioned) = crate::which::which("clang-19") else {
        return Ok(None);
    };
    let dir = tempfile::tempdir()?;
    std::os::unix::fs::symlink(&versioned, dir.path().join("clang"))?;
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![dir.path().to_path_buf()];
    paths.extend(std::env::split_paths(&path));
    cmd.env(
        "PATH",
        std::env::join_paths(paths).map_err(std::io::Error::other)?,
    )
    .env("BPF_CLANG", "clang-19");
    Ok(Some(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs() {
        assert_eq!(
            CargoScheduler::parse("cargo:scx_rusty@1.0.17"),
            Some(CargoScheduler {
                name: "scx_rusty".into(),
                version: "1.0.17".into()
            })
        );
        for bad in [
            "scx_rusty",
            "cargo:scx_rusty",
            "cargo:@1",
            "cargo:x@",
            "cargo:a b@1",
        ] {
            assert_eq!(CargoScheduler::parse(bad), None, "{bad}");
        }
    }

    /// A fake `cargo` that "installs" a script, counting its calls.
    fn fake_cargo(dir: &Path, fail: bool) -> PathBuf {
        let cargo = dir.join("cargo");
        let body = if fail {
            "echo 'error: could not compile' >&2; exit 101".to_string()
        } else {
            format!(
                "echo call >> {count}\nroot=\"$4\"; name=\"$5\"\nmkdir -p \"$root/bin\" && printf '#!/bin/sh\\n' > \"$root/bin/$name\" && chmod +x \"$root/bin/$name\"",
                count = dir.join("calls").display()
            )
        };
        std::fs::write(&cargo, format!("#!/bin/sh\n{body}\n")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&cargo, std::fs::Permissions::from_mode(0o755)).unwrap();
        cargo
    }

    #[test]
    fn installs_once_into_the_cache_and_failures_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CacheDir::at(dir.path().join("cache"));
        let s = CargoScheduler::parse("cargo:scx_fake@1.2.3").unwrap();
        let err = install_with(&s, &cache, &fake_cargo(dir.path(), true)).unwrap_err();
        assert!(matches!(err, CargoError::Failed { .. }), "{err}");
        assert!(err.to_string().contains("could not compile"));
        assert!(!s.root(&cache).exists(), "a failed build leaves no entry");

        let cargo = fake_cargo(dir.path(), false);
        let bin = install_with(&s, &cache, &cargo).unwrap();
        assert_eq!(
            bin,
            cache.root().join("schedulers/scx_fake-1.2.3/bin/scx_fake")
        );
        assert!(bin.is_file());
        install_with(&s, &cache, &cargo).unwrap();
        install(&s, &cache).unwrap();
        let calls = std::fs::read_to_string(dir.path().join("calls")).unwrap();
        assert_eq!(calls.lines().count(), 1, "built once, then reused");
    }
}
