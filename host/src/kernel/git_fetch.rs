//! `git+URL#REF` sources: a shallow fetch of one ref, exported into
//! `<cache>/src/git-<commit>/` and identified by the commit it resolved to.
//!
//! - The ref is resolved with `git ls-remote` first (a full commit id is
//!   taken as it is), so a commit whose tree or kernel is already cached
//!   costs no fetch.
//! - Objects go into one bare repository per URL (`<cache>/git/`), fetched
//!   with `--depth 1`; the commit's files are exported with `git archive`
//!   into a temporary directory that is renamed into place only when
//!   complete and checked for sched_ext, so a killed fetch leaves nothing
//!   a later run would use.
//! - A local path or `file://` URL works the same way (git fetches from it).
//!
//! The identity is `git:<commit>`, the same as an in-place build of a clean
//! checkout of that commit, so both find the same cache entry.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::key::sha256_hex;
use super::lock::{self, LockError};
use super::source::{self, Source, SourceError, SourceKind};
use crate::cache_dir::CacheDir;

#[derive(Debug, thiserror::Error)]
pub enum GitFetchError {
    #[error("git+{url}#{reference}: no branch or tag named {reference:?} (a full 40-character commit id works too)")]
    NoSuchRef { url: String, reference: String },
    #[error("git+{url}#{reference}: `{cmd}` failed: {detail}")]
    Git {
        url: String,
        reference: String,
        cmd: String,
        detail: String,
    },
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error("git source {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl crate::exit::ExitClass for GitFetchError {
    fn exit_code(&self) -> crate::exit::ExitCode {
        use crate::exit::ExitCode;
        match self {
            GitFetchError::NoSuchRef { .. } => ExitCode::Usage,
            GitFetchError::Source(e) => e.exit_code(),
            GitFetchError::Lock(e) => e.exit_code(),
            GitFetchError::Git { .. } | GitFetchError::Io { .. } => ExitCode::Environment,
        }
    }
}

/// A git URL and ref as written after `git+`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitRef {
    pub url: String,
    pub reference: String,
}

impl GitRef {
    /// `URL#REF` (the part after `git+`); `None` without a non-empty `#REF`.
    pub fn parse(spec: &str) -> Option<GitRef> {
        let (url, reference) = spec.rsplit_once('#')?;
        (!url.is_empty() && !reference.is_empty()).then(|| GitRef {
            url: url.to_string(),
            reference: reference.to_string(),
        })
    }

    fn error(&self, cmd: String, detail: String) -> GitFetchError {
        GitFetchError::Git {
            url: self.url.clone(),
            reference: self.reference.clone(),
            cmd,
            detail,
        }
    }

    /// The commit the ref names now.
    pub fn resolve(&self) -> Result<String, GitFetchError> {
        if is_commit_id(&self.reference) {
            return Ok(self.reference.to_ascii_lowercase());
        }
        // An annotated tag names a tag object; only its peeled entry
        // (`TAG^{}`) names the commit, and ls-remote lists it only when asked.
        let peeled = format!("{}^{{}}", self.reference);
        let out = run(
            self,
            None,
            &["ls-remote", "--", &self.url, &self.reference, &peeled],
        )?;
        pick_ref(&String::from_utf8_lossy(&out), &self.reference).ok_or_else(|| {
            GitFetchError::NoSuchRef {
                url: self.url.clone(),
                reference: self.reference.clone(),
            }
        })
    }

    /// The exported tree of `commit` (fetched and exported when missing).
    pub fn source(&self, commit: &str, cache: &CacheDir) -> Result<Source, GitFetchError> {
        let tree = tree_path(cache, commit);
        if !tree.is_dir() {
            let locks = cache.sources().join(".locks");
            let what = format!("fetching {}#{}", self.url, self.reference);
            let lock_path = locks.join(format!("git-{commit}.lock"));
            let _lock = lock::acquire(&lock_path, lock::Mode::Exclusive, &what, &|m| {
                eprintln!("{m}")
            })?;
            if !tree.is_dir() {
                self.fetch_and_export(commit, &tree, cache)?;
            }
        }
        Ok(Source {
            kind: SourceKind::Git,
            path: tree,
            identity: Some(format!("git:{commit}")),
            label: Some(format!(
                "git {}#{} ({})",
                self.url,
                self.reference,
                &commit[..12]
            )),
        })
    }

    fn fetch_and_export(
        &self,
        commit: &str,
        tree: &Path,
        cache: &CacheDir,
    ) -> Result<(), GitFetchError> {
        let bare = cache
            .root()
            .join("git")
            .join(format!("{}.git", &sha256_hex(self.url.as_bytes())[..16]));
        let url_lock = bare.with_extension("lock");
        let what = format!("fetching from {}", self.url);
        let _lock = lock::acquire(&url_lock, lock::Mode::Exclusive, &what, &|m| {
            eprintln!("{m}")
        })?;
        if !bare.join("HEAD").is_file() {
            fs::create_dir_all(&bare).map_err(|source| GitFetchError::Io {
                path: bare.clone(),
                source,
            })?;
            run(self, Some(&bare), &["init", "--bare", "--quiet"])?;
        }
        let have = run(
            self,
            Some(&bare),
            &["cat-file", "-e", &format!("{commit}^{{commit}}")],
        )
        .is_ok();
        if !have {
            eprintln!("fetching {}#{} (depth 1)", self.url, self.reference);
            // By name when it is one: every server serves refs, not every
            // server serves arbitrary commit ids.
            let what = if is_commit_id(&self.reference) {
                commit
            } else {
                &self.reference
            };
            run(
                self,
                Some(&bare),
                &[
                    "fetch",
                    "--quiet",
                    "--depth",
                    "1",
                    "--no-tags",
                    "--",
                    &self.url,
                    what,
                ],
            )?;
            let fetched = run(self, Some(&bare), &["rev-parse", "FETCH_HEAD^{commit}"])?;
            let fetched = String::from_utf8_lossy(&fetched).trim().to_string();
            if fetched != commit {
                return Err(self.error(
                    "fetch".into(),
                    format!(
                        "{} moved from {commit} to {fetched} while fetching: run again",
                        self.reference
                    ),
                ));
            }
        }
        export(self, &bare, commit, tree)
    }
}

/// `<cache>/src/git-<commit>`.
pub fn tree_path(cache: &CacheDir, commit: &str) -> PathBuf {
    cache.sources().join(format!("git-{commit}"))
}

/// `git archive COMMIT | tar -x` into a temporary directory, checked, then
/// renamed to `tree`.
fn export(r: &GitRef, bare: &Path, commit: &str, tree: &Path) -> Result<(), GitFetchError> {
    let parent = tree.parent().unwrap_or(Path::new("."));
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| GitFetchError::Io { path, source }
    };
    fs::create_dir_all(parent).map_err(io(parent))?;
    let tmp = tempfile::Builder::new()
        .prefix(".export-")
        .tempdir_in(parent)
        .map_err(io(parent))?;
    let cmd = format!("git archive {commit} | tar -x -C {}", tmp.path().display());
    let mut archive = Command::new("git")
        .arg("--git-dir")
        .arg(bare)
        .args(["archive", "--format=tar", commit])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| r.error(cmd.clone(), e.to_string()))?;
    let stdout = archive.stdout.take().expect("piped stdout");
    let untar = Command::new("tar")
        .arg("--no-same-owner")
        .arg("-x")
        .arg("-C")
        .arg(tmp.path())
        .stdin(stdout)
        .output()
        .map_err(|e| r.error(cmd.clone(), e.to_string()))?;
    let archived = archive
        .wait_with_output()
        .map_err(|e| r.error(cmd.clone(), e.to_string()))?;
    if !archived.status.success() || !untar.status.success() {
        let detail = format!(
            "{}{}",
            String::from_utf8_lossy(&archived.stderr).trim(),
            String::from_utf8_lossy(&untar.stderr).trim()
        );
        return Err(r.error(cmd, detail));
    }
    if !tmp.path().join("Makefile").is_file() || !tmp.path().join("Kconfig").is_file() {
        return Err(SourceError::NotKernelTree(PathBuf::from(format!(
            "git+{}#{}",
            r.url, r.reference
        )))
        .into());
    }
    source::check_sched_ext(tmp.path()).map_err(|e| match e {
        SourceError::TooOld { version, .. } => SourceError::TooOld {
            version,
            source_path: PathBuf::from(format!("git+{}#{} ({commit})", r.url, r.reference)),
        },
        other => other,
    })?;
    let kept = tmp.keep();
    fs::rename(&kept, tree).map_err(|e| {
        let _ = fs::remove_dir_all(&kept);
        io(tree)(e)
    })?;
    Ok(())
}

/// `git [-C dir] args`'s stdout; a failure quotes git's stderr.
fn run(r: &GitRef, dir: Option<&Path>, args: &[&str]) -> Result<Vec<u8>, GitFetchError> {
    let mut cmd = Command::new("git");
    if let Some(d) = dir {
        cmd.arg("-C").arg(d);
    }
    // Never ask for credentials on a terminal: fail and say so instead.
    cmd.args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null());
    let shown = format!("git {}", args.join(" "));
    let out = cmd
        .output()
        .map_err(|e| r.error(shown.clone(), e.to_string()))?;
    if !out.status.success() {
        let detail = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(r.error(shown, detail));
    }
    Ok(out.stdout)
}

fn is_commit_id(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The commit `ls-remote` output gives for `reference`: an exact ref name
/// first, then a branch, then a tag (peeled: an annotated tag's commit).
fn pick_ref(ls_remote: &str, reference: &str) -> Option<String> {
    let refs: Vec<(&str, &str)> = ls_remote
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .collect();
    let find = |name: &str| {
        let peeled = format!("{name}^{{}}");
        refs.iter()
            .find(|(_, n)| *n == peeled)
            .or_else(|| refs.iter().find(|(_, n)| *n == name))
            .map(|(id, _)| id.to_string())
    };
    [
        reference.to_string(),
        format!("refs/heads/{reference}"),
        format!("refs/tags/{reference}"),
    ]
    .iter()
    .find_map(|n| find(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_table() {
        let ok = |url: &str, r: &str| {
            Some(GitRef {
                url: url.into(),
                reference: r.into(),
            })
        };
        let cases: &[(&str, Option<GitRef>)] = &[
            ("file:///x/linux#v6.12", ok("file:///x/linux", "v6.12")),
            ("https://h/a.git#main", ok("https://h/a.git", "main")),
            ("/srv/linux#for-next", ok("/srv/linux", "for-next")),
            ("https://h/a#b#c", ok("https://h/a#b", "c")),
            ("file:///x/linux", None),
            ("file:///x/linux#", None),
            ("#main", None),
        ];
        for (spec, want) in cases {
            assert_eq!(&GitRef::parse(spec), want, "{spec}");
        }
    }

    #[test]
    fn ls_remote_picks_exact_then_branch_then_peeled_tag() {
        let a = "a".repeat(40);
        let b = "b".repeat(40);
        let c = "c".repeat(40);
        let d = "d".repeat(40);
        let out = format!(
            "{a}\tHEAD\n{b}\trefs/heads/main\n{c}\trefs/tags/v1\n{d}\trefs/tags/v1^{{}}\n{a}\trefs/tags/main\n"
        );
        assert_eq!(pick_ref(&out, "main"), Some(b.clone()));
        assert_eq!(
            pick_ref(&out, "v1"),
            Some(d),
            "annotated tags resolve to their commit"
        );
        assert_eq!(pick_ref(&out, "refs/heads/main"), Some(b));
        assert_eq!(pick_ref(&out, "HEAD"), Some(a));
        assert_eq!(pick_ref(&out, "nope"), None);
        assert!(is_commit_id(&"A".repeat(40)) && !is_commit_id("abc"));
    }

    /// Against a real repository: `git ls-remote URL TAG` lists only the tag
    /// object, so resolving must ask for the peeled entry as well.
    #[test]
    fn annotated_tag_resolves_to_its_commit() {
        let dir = tempfile::tempdir().unwrap();
        let git = |args: &[&str]| {
            let out = std::process::Command::new("git")
                .args(["-c", "user.name=t", "-c", "user.email=t@t"])
                .args(args)
                .current_dir(dir.path())
                .output()
                .unwrap();
            assert!(out.status.success(), "git {args:?}: {out:?}");
            String::from_utf8(out.stdout).unwrap().trim().to_string()
        };
        git(&["init", "-q"]);
        git(&["commit", "-q", "--allow-empty", "-m", "one"]);
        git(&["tag", "-a", "v1", "-m", "annotated"]);
        let commit = git(&["rev-parse", "HEAD"]);
        let r = GitRef {
            url: dir.path().display().to_string(),
            reference: "v1".into(),
        };
        assert_eq!(r.resolve().unwrap(), commit);
    }
}
