//! `ktstr-vm kernel build|list|path|clean`.

use std::path::PathBuf;
use std::time::Duration;

use super::build::{build, BuildOutcome, BuildRequest};
use super::clean;
use super::fragment::Fragment;
use super::git_fetch::GitRef;
use super::listing;
use super::origin::Origin;
use super::release::{Mirror, VersionRequest};
use super::resolve::resolve_kernel;
use super::variant::Variant;
use crate::cache_dir::CacheDir;
use crate::error::{Classify, Error, Result};
use crate::exit::ExitCode;

/// `kernel build --help` epilogue: sources, caching and what is verified.
pub const BUILD_HELP: &str = "\
Sources: --source TREE|TARBALL (a tree is built in place), --source git+URL#REF (a
shallow fetch of that branch, tag or commit; URL may be a path or file://), or
--version 6.13.2 / 6.13 (the newest 6.13.x, from releases.json or the v6.x/ listing)
downloaded from --mirror (default https://cdn.kernel.org/pub/linux/kernel, which holds
v6.x/). A download is checked against the mirror's sha256sums.asc when it has one (the
PGP signature on that list is not verified) and kept only once it matched.
The cache key is the source identity (sha256 of a tarball's bytes, downloaded or not;
a git commit) plus the variant's fragments. Anywhere a kernel is named, `--kernel
6.12.117[+debug]` takes a cached kernel of that version and variant from any source
before touching the network, and builds it only when none is cached.";

#[derive(clap::Subcommand, Debug)]
pub enum KernelCmd {
    /// Build a sched_ext kernel and its example schedulers (or reuse the cached one).
    #[command(after_help = BUILD_HELP)]
    Build {
        /// Kernel tree, tarball, or git+URL#REF [default: /usr/src/linux-source-6.12.tar.xz].
        #[arg(long, conflicts_with = "version")]
        source: Option<String>,
        /// A kernel.org release: 6.13.2, or 6.13 for the newest 6.13.x.
        #[arg(long)]
        version: Option<VersionRequest>,
        /// Base URL holding v6.x/ [env: KTSTR_VM_KERNEL_MIRROR] [default: kernel.org].
        #[arg(long, requires = "version", value_name = "URL")]
        mirror: Option<String>,
        /// Fragment set: default, or debug (lockdep, atomic-sleep, RCU and list checks).
        #[arg(long, default_value = "default")]
        variant: Variant,
        /// Extra Kconfig fragment, merged after the built-in ones (repeatable).
        #[arg(long = "fragment", value_name = "FILE")]
        fragments: Vec<PathBuf>,
        /// Rebuild even if the cache has this kernel.
        #[arg(long)]
        force: bool,
        /// Parallel make jobs [default: CPUs + 1].
        #[arg(long, short = 'j')]
        jobs: Option<usize>,
    },
    /// List cached kernels, newest first, with their VM snapshots, and flag damaged entries.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print a kernel image path (any --kernel form), or the newest.
    Path { kernel: Option<String> },
    /// Remove damaged entries, leftovers of interrupted builds and downloads, and orphaned snapshots.
    Clean {
        /// Also remove all but the N most recently built kernels.
        #[arg(long, value_name = "N")]
        keep: Option<usize>,
        /// Also remove every VM snapshot (the next run of each machine
        /// boots cold and saves a new one).
        #[arg(long)]
        snapshots: bool,
    },
}

/// Runs one `kernel` subcommand.
pub fn run(cmd: KernelCmd, cache: &CacheDir) -> Result<()> {
    match cmd {
        KernelCmd::Build {
            source,
            version,
            mirror,
            variant,
            fragments,
            force,
            jobs,
        } => {
            let req = BuildRequest {
                origin: origin(source, version, mirror.as_deref())?,
                variant,
                extra_fragments: read_fragments(&fragments)?,
                force,
                jobs,
            };
            // No context line: the first line of the error is the cause
            // ("kernel 6.1.158 is too old for sched_ext ...").
            let outcome = build(&req, cache)?;
            let e = outcome.entry();
            match &outcome {
                BuildOutcome::Cached(_) => eprintln!(
                    "cached kernel {} ({}, {})",
                    e.meta.key, e.meta.version, e.meta.variant
                ),
                BuildOutcome::Built(_) => eprintln!(
                    "built kernel {} ({}, {}) in {}, bzImage {}",
                    e.meta.key,
                    e.meta.version,
                    e.meta.variant,
                    humantime::format_duration(Duration::from_secs(e.meta.build_seconds as u64)),
                    listing::human_size(e.meta.image_size)
                ),
            }
            println!("{}", e.image().display());
        }
        KernelCmd::List { json } => {
            let scan = clean::scan(cache)?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&listing::json(&scan)).expect("JSON serializes")
                );
            } else {
                if scan.entries.is_empty() {
                    eprintln!(
                        "no cached kernels in {}: run `ktstr-vm kernel build`",
                        cache.kernels().display()
                    );
                }
                print!("{}", listing::table(&scan));
            }
        }
        KernelCmd::Path { kernel } => {
            let k = resolve_kernel(kernel.as_deref(), cache)?;
            println!("{}", k.image.display());
        }
        KernelCmd::Clean { keep, snapshots } => {
            let done = clean::clean(cache, keep, snapshots)?;
            print!("{}", listing::cleaned(&done));
        }
    }
    Ok(())
}

/// The origin `--source`/`--version`/`--mirror` name.
fn origin(
    source: Option<String>,
    version: Option<VersionRequest>,
    mirror: Option<&str>,
) -> Result<Origin> {
    if let Some(version) = version {
        return Ok(Origin::Release {
            version,
            mirror: Mirror::choose(mirror),
        });
    }
    match source {
        Some(s) if s.starts_with("git+") => {
            let git = GitRef::parse(&s["git+".len()..]).ok_or_else(|| {
                Error::msg(
                    ExitCode::Usage,
                    format!(
                        "--source {s}: a git source is written git+URL#REF \
                         (a branch, tag or commit)"
                    ),
                )
            })?;
            Ok(Origin::Git(git))
        }
        other => Ok(Origin::Local(other.map(PathBuf::from))),
    }
}

fn read_fragments(paths: &[PathBuf]) -> Result<Vec<Fragment>> {
    paths
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p)
                .classify(ExitCode::Usage, format!("reading fragment {}", p.display()))?;
            Ok(Fragment::new(p.display().to_string(), text))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::kernel::release::Release;

    #[derive(Parser, Debug)]
    struct Top {
        #[command(subcommand)]
        cmd: KernelCmd,
    }

    fn parse(args: &[&str]) -> Result<KernelCmd, clap::Error> {
        let mut all = vec!["x"];
        all.extend_from_slice(args);
        Top::try_parse_from(all).map(|t| t.cmd)
    }

    #[test]
    fn build_flags_parse() {
        let args = [
            "build",
            "--source",
            "/src",
            "--fragment",
            "a",
            "--fragment",
            "b",
            "-j",
            "3",
            "--force",
            "--variant",
            "debug",
        ];
        match parse(&args).unwrap() {
            KernelCmd::Build {
                source,
                fragments,
                force,
                jobs,
                variant,
                version,
                mirror,
            } => {
                assert_eq!(source.as_deref(), Some("/src"));
                assert_eq!(fragments, [PathBuf::from("a"), PathBuf::from("b")]);
                assert!(force);
                assert_eq!(jobs, Some(3));
                assert_eq!(variant.name(), "debug");
                assert_eq!((version, mirror), (None, None));
            }
            other => panic!("parsed as {other:?}"),
        }
        assert!(matches!(
            parse(&["list", "--json"]).unwrap(),
            KernelCmd::List { json: true }
        ));
        assert!(matches!(
            parse(&["path"]).unwrap(),
            KernelCmd::Path { kernel: None }
        ));
        assert!(matches!(
            parse(&["clean", "--keep", "2"]).unwrap(),
            KernelCmd::Clean {
                keep: Some(2),
                snapshots: false
            }
        ));
        assert!(matches!(
            parse(&["clean", "--snapshots"]).unwrap(),
            KernelCmd::Clean {
                keep: None,
                snapshots: true
            }
        ));
    }

    #[test]
    fn version_and_mirror_flags() {
        let cmd = parse(&[
            "build",
            "--version",
            "6.12.117",
            "--mirror",
            "http://127.0.0.1:1/k",
        ])
        .unwrap();
        let KernelCmd::Build {
            version,
            mirror,
            source,
            ..
        } = cmd
        else {
            panic!("not build")
        };
        let want = VersionRequest::Exact(Release {
            major: 6,
            minor: 12,
            patch: 117,
        });
        assert_eq!(version, Some(want));
        let o = origin(source, version, mirror.as_deref()).unwrap();
        assert_eq!(
            o,
            Origin::Release {
                version: want,
                mirror: Mirror::new("http://127.0.0.1:1/k")
            }
        );
        for bad in [
            &["build", "--version", "6"][..],
            &["build", "--version", "6.13", "--source", "/x"],
            &["build", "--mirror", "http://m"],
            &["build", "--variant", "fast"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?} must not parse");
        }
    }

    #[test]
    fn git_source_needs_a_ref() {
        let o = origin(Some("git+file:///l#v6.12".into()), None, None).unwrap();
        assert_eq!(
            o,
            Origin::Git(GitRef {
                url: "file:///l".into(),
                reference: "v6.12".into()
            })
        );
        let err = origin(Some("git+file:///l".into()), None, None).unwrap_err();
        assert!(err.to_string().contains("git+URL#REF"), "{err}");
    }

    #[test]
    fn path_of_unknown_kernel_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        let cache = CacheDir::at(d.path());
        let err = run(KernelCmd::Path { kernel: None }, &cache).unwrap_err();
        assert!(err.to_string().contains("ktstr-vm kernel build"), "{err}");
        let err = run(
            KernelCmd::Path {
                kernel: Some("/no/such/bzImage".into()),
            },
            &cache,
        )
        .unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
    }
}
