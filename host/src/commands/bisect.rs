//! `ktstr-vm bisect`: find the commit that broke a scheduler test, in a
//! kernel tree or in a scheduler's repository.
//!
//! It drives `git bisect run` with the hidden `ktstr-vm bisect-step`,
//! which builds the checked-out commit (a kernel tree builds in place,
//! incrementally; a scheduler repository runs `--build`) and then runs the
//! test. The exit codes already follow git's convention: a commit that
//! does not build or boot is skipped (125), a usage or environment error
//! (>127) aborts the bisect instead of steering it wrong.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use clap::Args;

use crate::args::RunArgs;
use crate::cache_dir::CacheDir;
use crate::kernel::origin::Origin;
use crate::kernel::{build, BuildRequest};

#[derive(Debug, Clone, Args)]
pub struct BisectArgs {
    /// The git repository to bisect: a kernel tree, or a scheduler's repository with --build
    #[arg(long, value_name = "DIR")]
    pub repo: PathBuf,
    /// A commit where the test passes
    #[arg(long, value_name = "REV")]
    pub good: String,
    /// A commit where the test fails
    #[arg(long, value_name = "REV")]
    pub bad: String,
    /// Shell command that builds the scheduler in the repo (scheduler bisect);
    /// --scheduler is then a path relative to the repo
    #[arg(long, value_name = "CMD")]
    pub build: Option<String>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, thiserror::Error)]
pub enum BisectError {
    #[error("{0} is not a git repository (git rev-parse failed): pass a kernel tree or a scheduler repository")]
    NotGit(PathBuf),
    #[error("{repo}: {rev:?} is not a commit: {detail}")]
    BadRev {
        repo: PathBuf,
        rev: String,
        detail: String,
    },
    #[error("{0} has uncommitted changes to tracked files; commit or stash them (git bisect checks out commits)")]
    Dirty(PathBuf),
    #[error("a bisect is already in progress in {0}; finish it with `git bisect reset`")]
    InProgress(PathBuf),
    #[error(
        "scheduler bisect needs --scheduler: the path of the built scheduler inside the repository"
    )]
    NoScheduler,
    #[error("git {args}: {detail}")]
    Git { args: String, detail: String },
}

/// What a step could not do: this commit cannot be tested (exit 125).
impl crate::exit::ExitClass for BisectError {
    fn exit_code(&self) -> crate::exit::ExitCode {
        match self {
            BisectError::Git { .. } => crate::exit::ExitCode::Environment,
            _ => crate::exit::ExitCode::Usage,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error("building the kernel at this commit failed: {0}")]
    KernelBuild(String),
    #[error("the build command `{cmd}` failed ({status}) at this commit")]
    SchedulerBuild { cmd: String, status: String },
    #[error("the build did not produce the scheduler {0}")]
    NoSchedulerBinary(PathBuf),
}

/// `git -C repo args...`'s trimmed stdout (the kernel source's git runner).
fn git(repo: &Path, args: &[&str]) -> Result<String, BisectError> {
    use crate::kernel::source::SourceError;
    let out = crate::kernel::source::git(repo, args).map_err(|e| BisectError::Git {
        args: args.join(" "),
        detail: match e {
            SourceError::Command { detail, .. } => detail,
            other => other.to_string(),
        },
    })?;
    Ok(String::from_utf8_lossy(&out).trim().to_string())
}

/// Checks the repository and both revisions before touching anything.
pub fn validate(args: &BisectArgs) -> Result<(String, String), BisectError> {
    let repo = &args.repo;
    git(repo, &["rev-parse", "--git-dir"]).map_err(|_| BisectError::NotGit(repo.clone()))?;
    let rev = |r: &str| {
        git(
            repo,
            &[
                "rev-parse",
                "--verify",
                "--quiet",
                &format!("{r}^{{commit}}"),
            ],
        )
        .map_err(|e| BisectError::BadRev {
            repo: repo.clone(),
            rev: r.to_string(),
            detail: e.to_string(),
        })
    };
    let (good, bad) = (rev(&args.good)?, rev(&args.bad)?);
    if !git(repo, &["status", "--porcelain", "--untracked-files=no"])?.is_empty() {
        return Err(BisectError::Dirty(repo.clone()));
    }
    let git_dir = PathBuf::from(git(repo, &["rev-parse", "--absolute-git-dir"])?);
    if git_dir.join("BISECT_START").exists() {
        return Err(BisectError::InProgress(repo.clone()));
    }
    if args.build.is_some() && args.run.vm.scheduler.is_none() {
        return Err(BisectError::NoScheduler);
    }
    Ok((good, bad))
}

/// The step's argument list: ours, with `bisect` replaced by `bisect-step`.
pub fn step_argv(argv: &[OsString]) -> Vec<OsString> {
    let mut out: Vec<OsString> = argv.iter().skip(1).cloned().collect();
    if let Some(i) = out.iter().position(|a| a == "bisect") {
        out[i] = "bisect-step".into();
    }
    out
}

/// The outcome of a whole bisect.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BisectOutcome {
    pub first_bad: Option<String>,
    pub subject: Option<String>,
    pub log: String,
}

/// Runs the bisect to the end and resets the repository.
pub fn drive(args: &BisectArgs, argv: &[OsString]) -> Result<BisectOutcome, BisectError> {
    let (good, bad) = validate(args)?;
    let repo = &args.repo;
    git(repo, &["bisect", "start", &bad, &good])?;
    let exe = std::env::current_exe().map_err(|e| BisectError::Git {
        args: "bisect run".into(),
        detail: format!("cannot find our own executable: {e}"),
    })?;
    let status = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["bisect", "run"])
        .arg(exe)
        .args(step_argv(argv))
        .status();
    let first_bad = git(
        repo,
        &["rev-parse", "--verify", "--quiet", "refs/bisect/bad"],
    )
    .ok();
    let log = git(repo, &["bisect", "log"]).unwrap_or_default();
    // Was the bad commit pinned down, or did the run stop on skips/errors?
    let decided = log.lines().any(|l| l.starts_with("# first bad commit:"));
    let subject = match (&first_bad, decided) {
        (Some(c), true) => git(repo, &["log", "-1", "--format=%s", c]).ok(),
        _ => None,
    };
    let _ = git(repo, &["bisect", "reset"]);
    if let Err(e) = status {
        return Err(BisectError::Git {
            args: "bisect run".into(),
            detail: e.to_string(),
        });
    }
    Ok(BisectOutcome {
        first_bad: if decided { first_bad } else { None },
        subject,
        log,
    })
}

/// Builds the checked-out commit and returns the run arguments for it.
pub fn prepare_step(args: &BisectArgs, cache: &CacheDir) -> Result<RunArgs, StepError> {
    let mut run = args.run.clone();
    match &args.build {
        None => {
            let req = BuildRequest {
                origin: Origin::Local(Some(args.repo.clone())),
                ..BuildRequest::default()
            };
            let outcome = build(&req, cache).map_err(|e| StepError::KernelBuild(e.to_string()))?;
            run.vm.kernel = Some(outcome.entry().dir.display().to_string());
        }
        Some(cmd) => {
            let status = Command::new("sh")
                .arg("-c")
                .arg(cmd)
                .current_dir(&args.repo)
                .stdin(Stdio::null())
                .status()
                .map_err(|e| StepError::SchedulerBuild {
                    cmd: cmd.clone(),
                    status: e.to_string(),
                })?;
            if !status.success() {
                return Err(StepError::SchedulerBuild {
                    cmd: cmd.clone(),
                    status: status.to_string(),
                });
            }
            let rel = run.vm.scheduler.clone().unwrap_or_default();
            let path = args.repo.join(rel);
            if !path.is_file() {
                return Err(StepError::NoSchedulerBinary(path));
            }
            run.vm.scheduler = Some(path.display().to_string());
        }
    }
    Ok(run)
}

/// `ktstr-vm bisect`: drives the bisect and says which commit is first bad.
pub fn run(args: &BisectArgs) -> crate::error::Result<crate::exit::ExitCode> {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let outcome = drive(args, &argv)?;
    match &outcome.first_bad {
        Some(commit) => {
            println!(
                "ktstr-vm bisect: first bad commit: {commit} {}",
                outcome.subject.as_deref().unwrap_or("")
            );
            Ok(crate::exit::ExitCode::Pass)
        }
        None => {
            println!(
                "ktstr-vm bisect: no single first bad commit (skipped commits or an error):\n{}",
                outcome.log
            );
            Ok(crate::exit::ExitCode::CannotTest)
        }
    }
}

/// `ktstr-vm bisect-step` (what `git bisect run` calls): build the
/// checked-out commit and test it; a commit that does not build is
/// skipped (125), never judged.
pub fn step(args: &BisectArgs, cache: &CacheDir) -> crate::error::Result<crate::exit::ExitCode> {
    match prepare_step(args, cache) {
        Ok(run_args) => super::run::run(&run_args, cache),
        Err(e) => {
            eprintln!("ktstr-vm bisect-step: {e}; skipping this commit");
            Ok(crate::exit::ExitCode::CannotTest)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_argv_swaps_the_subcommand_only() {
        let argv: Vec<OsString> = [
            "ktstr-vm", "bisect", "--repo", "r", "-s", "bisect", "--", "-x",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        let got: Vec<String> = step_argv(&argv)
            .into_iter()
            .map(|s| s.into_string().unwrap())
            .collect();
        assert_eq!(
            got,
            ["bisect-step", "--repo", "r", "-s", "bisect", "--", "-x"]
        );
    }

    #[test]
    fn validation_errors_name_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let args = |repo: &Path| BisectArgs {
            repo: repo.to_path_buf(),
            good: "HEAD~1".into(),
            bad: "HEAD".into(),
            build: Some("true".into()),
            run: <RunArgs as clap::FromArgMatches>::from_arg_matches(
                &<RunArgs as clap::Args>::augment_args(clap::Command::new("t"))
                    .get_matches_from(["t"]),
            )
            .unwrap(),
        };
        assert!(matches!(
            validate(&args(dir.path())),
            Err(BisectError::NotGit(_))
        ));
        let sh = |c: &str| {
            assert!(Command::new("sh")
                .arg("-c")
                .arg(c)
                .current_dir(dir.path())
                .status()
                .unwrap()
                .success());
        };
        sh("git init -q && git -c user.email=t@t -c user.name=t commit -q --allow-empty -m one");
        assert!(matches!(
            validate(&args(dir.path())),
            Err(BisectError::BadRev { .. })
        ));
        sh("git -c user.email=t@t -c user.name=t commit -q --allow-empty -m two");
        assert!(matches!(
            validate(&args(dir.path())),
            Err(BisectError::NoScheduler)
        ));
        sh("echo x > f && git add f && git -c user.email=t@t -c user.name=t commit -q -m three && echo y > f");
        let mut a = args(dir.path());
        a.run.vm.scheduler = Some("s".into());
        assert!(matches!(validate(&a), Err(BisectError::Dirty(_))));
    }
}
