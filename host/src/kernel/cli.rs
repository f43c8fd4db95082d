//! `ktstr-vm kernel build|list|path`.

use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use super::build::{build, BuildOutcome, BuildRequest};
use super::fragment::Fragment;
use super::key::SHORT_KEY_LEN;
use super::resolve::resolve_kernel;
use super::store::{Entry, Store};
use crate::cache_dir::CacheDir;
use crate::error::{Classify, Context, Result};
use crate::exit::ExitCode;

#[derive(clap::Subcommand, Debug)]
pub enum KernelCmd {
    /// Build a sched_ext kernel and its example schedulers (or reuse the cached one).
    Build {
        /// Kernel tree (built in place) or tarball [default: /usr/src/linux-source-6.12.tar.xz].
        #[arg(long)]
        source: Option<PathBuf>,
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
    /// List cached kernels, newest first.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print a kernel image path: KEY (or unique prefix), or the newest.
    Path { key: Option<String> },
}

/// Runs one `kernel` subcommand.
pub fn run(cmd: KernelCmd, cache: &CacheDir) -> Result<()> {
    match cmd {
        KernelCmd::Build {
            source,
            fragments,
            force,
            jobs,
        } => {
            let extra_fragments = fragments
                .iter()
                .map(|p| {
                    let text = std::fs::read_to_string(p)
                        .classify(ExitCode::Usage, format!("reading fragment {}", p.display()))?;
                    Ok(Fragment::new(p.display().to_string(), text))
                })
                .collect::<Result<Vec<_>>>()?;
            let req = BuildRequest {
                source,
                extra_fragments,
                force,
                jobs,
            };
            let outcome = build(&req, cache).context("kernel build failed")?;
            let e = outcome.entry();
            match &outcome {
                BuildOutcome::Cached(_) => {
                    eprintln!("cached kernel {} ({})", e.meta.key, e.meta.version)
                }
                BuildOutcome::Built(_) => eprintln!(
                    "built kernel {} ({}) in {}, bzImage {}",
                    e.meta.key,
                    e.meta.version,
                    humantime::format_duration(Duration::from_secs(e.meta.build_seconds as u64)),
                    human_size(e.meta.image_size)
                ),
            }
            println!("{}", e.image().display());
        }
        KernelCmd::List { json } => {
            let entries = Store::new(cache).list()?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&list_json(&entries)).expect("JSON serializes")
                );
            } else if entries.is_empty() {
                eprintln!(
                    "no cached kernels in {}: run `ktstr-vm kernel build`",
                    cache.kernels().display()
                );
            } else {
                print!("{}", table(&entries));
            }
        }
        KernelCmd::Path { key } => {
            let k = resolve_kernel(key.as_deref(), cache)?;
            println!("{}", k.image.display());
        }
    }
    Ok(())
}

/// `kernel list --json`: each entry's meta plus its paths.
fn list_json(entries: &[Entry]) -> serde_json::Value {
    let rows = entries.iter().map(|e| {
        let mut v = serde_json::to_value(&e.meta).expect("Meta serializes");
        v["dir"] = e.dir.display().to_string().into();
        v["image"] = e.image().display().to_string().into();
        v
    });
    serde_json::Value::Array(rows.collect())
}

/// The `kernel list` table.
fn table(entries: &[Entry]) -> String {
    let mut rows =
        vec![["KEY", "VERSION", "CONFIG", "SCHEDULERS", "SIZE", "BUILT"].map(String::from)];
    for e in entries {
        let m = &e.meta;
        let built = humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(m.built_at));
        let scheds: Vec<&str> = m
            .schedulers
            .iter()
            .map(|s| s.strip_prefix("scx_").unwrap_or(s))
            .collect();
        rows.push([
            m.key.chars().take(SHORT_KEY_LEN).collect(),
            m.version.clone(),
            m.config_sha256.chars().take(8).collect(),
            scheds.join(","),
            human_size(m.image_size),
            built.to_string(),
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in rows {
        let cells: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

fn human_size(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1_000_000.0)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::kernel::test_support::fake_entry;

    #[derive(Parser, Debug)]
    struct Top {
        #[command(subcommand)]
        cmd: KernelCmd,
    }

    #[test]
    fn build_flags_parse() {
        let args = [
            "x",
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
        ];
        match Top::try_parse_from(args).unwrap().cmd {
            KernelCmd::Build {
                source,
                fragments,
                force,
                jobs,
            } => {
                assert_eq!(source, Some(PathBuf::from("/src")));
                assert_eq!(fragments, [PathBuf::from("a"), PathBuf::from("b")]);
                assert!(force);
                assert_eq!(jobs, Some(3));
            }
            other => panic!("parsed as {other:?}"),
        }
        assert!(matches!(
            Top::try_parse_from(["x", "list", "--json"]).unwrap().cmd,
            KernelCmd::List { json: true }
        ));
        assert!(matches!(
            Top::try_parse_from(["x", "path"]).unwrap().cmd,
            KernelCmd::Path { key: None }
        ));
    }

    #[test]
    fn table_shows_short_keys_and_scheduler_names() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::new(&CacheDir::at(d.path()));
        let key = "0123456789abcdef0123";
        let e = fake_entry(&store, key, 0);
        let text = table(std::slice::from_ref(&e));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(
            lines[0].starts_with("KEY") && lines[0].contains("SCHEDULERS"),
            "{text}"
        );
        let row: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(
            row,
            [
                "0123456789ab",
                "6.12.0-test",
                "c0ffee",
                "simple",
                "0.0",
                "MB",
                "1970-01-01T00:00:00Z"
            ]
        );
        let json = list_json(&[e]);
        assert_eq!(json[0]["key"], key);
        assert_eq!(
            json[0]["image"],
            store.root().join(key).join("bzImage").display().to_string()
        );
    }

    #[test]
    fn path_of_unknown_kernel_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        let cache = CacheDir::at(d.path());
        let err = run(KernelCmd::Path { key: None }, &cache).unwrap_err();
        assert!(err.to_string().contains("ktstr-vm kernel build"), "{err}");
        let err = run(
            KernelCmd::Path {
                key: Some("/no/such/bzImage".into()),
            },
            &cache,
        )
        .unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
    }
}
