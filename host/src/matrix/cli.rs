//! `ktstr-vm matrix`: the command line, and the command from flags to exit
//! code.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use serde::Serialize;

use super::cells::{cells, repeat, Cell, Shard};
use super::output::{self, MatrixReport};
use super::progress::{self, Progress};
use super::run::{self, CellTemplate, MatrixOptions};
use super::spec::{MatrixSpec, SchedulerEntry, SpecError, DEFAULT_PLAN};
use crate::args::{parse_duration, parse_memory, DEFAULT_CPUS};
use crate::artifacts::Artifacts;
use crate::cache_dir::CacheDir;
use crate::error::{Classify, Result};
use crate::exit::ExitCode;
use crate::plan::{Mode, RunRequest};
use crate::qemu::accel::{self, Accel, AccelRequest, KvmProbe};

pub const MATRIX_HELP: &str = "\
Dimensions come from --kernel/--topology/--scheduler/--scenario (repeatable) and from a plan
file (--plan, or ./ktstr-vm.toml when present); a dimension on the command line replaces the
file's. The file may also exclude cells, each with a reason ([[exclude]] with kernel, topology,
scheduler and/or scenario patterns, `*` matching any text); excluded cells are reported as skipped.

A scheduler is written with its arguments ('scx_qmap -e 100'), as `eevdf` for the kernel's own,
or as cargo:NAME@VERSION for a published scx scheduler built once with `cargo install`.

Exit code: the worst cell's (0 pass, 1 a cell failed, 125 a cell could not test, >127 usage or
environment). Artifacts: one directory per cell under --artifacts, plus matrix.json.";

#[derive(Debug, Clone, Args)]
pub struct MatrixArgs {
    /// Matrix plan file [default: ./ktstr-vm.toml when present]
    #[arg(long, value_name = "FILE")]
    pub plan: Option<PathBuf>,
    /// Kernel (repeatable): a version (6.12.117, 6.13, 6.12.117+debug), git+URL#REF, bzImage or cache key
    #[arg(long, short = 'k', value_name = "KERNEL")]
    pub kernel: Vec<String>,
    /// Topology (repeatable): <n>n<l>l<c>c<t>t or a preset [default: 1n1l4c1t]
    #[arg(long, short = 't', value_name = "TOPOLOGY")]
    pub topology: Vec<String>,
    /// Scheduler with its arguments (repeatable): 'scx_qmap -e 100', eevdf, cargo:NAME@VERSION
    #[arg(long, short = 's', value_name = "'NAME ARGS'")]
    pub scheduler: Vec<String>,
    /// Scenario (repeatable); `a,b` runs both in one boot [default: the plain workload]
    #[arg(long, value_name = "NAME|FILE")]
    pub scenario: Vec<String>,
    /// Cells at a time [default: from host CPUs and memory]
    #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub jobs: Option<u32>,
    /// Run only shard I of N (CI runners split the matrix; together they cover every cell once)
    #[arg(long, value_name = "I/N")]
    pub shard: Option<Shard>,
    /// Start no new cell after the first failure
    #[arg(long)]
    pub fail_fast: bool,
    /// Run every cell N times (flake rates; ids get __r01, __r02...)
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub repeat: u32,
    /// Print the cells and exit; with --json as {"include": [...]} for a GitHub matrix
    #[arg(long)]
    pub list: bool,
    /// Print every cell's result as JSON on stdout
    #[arg(long)]
    pub json: bool,
    /// Also write a JUnit XML report here (one test case per cell)
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Directory for the cells' artifacts (one subdirectory each) and matrix.json
    #[arg(long, value_name = "DIR")]
    pub artifacts: Option<PathBuf>,
    /// No progress on stderr
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// How long the plain workload runs in each cell [default: 5s]
    #[arg(long, short = 'd', value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Workers per work type [default: one per vCPU]
    #[arg(long, short = 'w')]
    pub workers: Option<u32>,
    /// Work type(s) of the plain workload (repeatable) [default: spin_wait]
    #[arg(long = "work-type", value_name = "NAME")]
    pub work_types: Vec<String>,
    /// Guest memory (e.g. 512M, 1G)
    #[arg(long, short = 'm', default_value = "1G", value_parser = parse_memory)]
    pub memory: u64,
    /// Accelerator; auto picks KVM only where it can boot a stock kernel
    #[arg(long, value_enum, default_value = "auto")]
    pub accel: AccelRequest,
    /// How long a scheduler may take to attach [default: 30s under TCG]
    #[arg(long, value_parser = parse_duration)]
    pub attach_timeout: Option<Duration>,
    /// Host-side limit for each cell [default: derived from the duration]
    #[arg(long, value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// Override an assertion threshold in every cell, e.g. max_gap_ms=500 (repeatable)
    #[arg(long = "assert", value_name = "KEY=VALUE")]
    pub asserts: Vec<String>,
    /// Copy a host file or directory into every guest (repeatable)
    #[arg(long, value_name = "HOST[:GUEST]")]
    pub include: Vec<String>,
    /// Extra kernel command-line parameters
    #[arg(long, value_name = "PARAMS")]
    pub append: Option<String>,
    /// Boot every cell's kernel even when a saved snapshot could be restored
    #[arg(long)]
    pub cold_boot: bool,
    #[command(flatten)]
    pub trace: crate::trace::TraceOpts,
    /// Also write each cell's report.html, and index.html linking them all
    #[arg(long)]
    pub html: bool,
}

impl MatrixArgs {
    /// The dimensions given on the command line.
    fn spec(&self) -> std::result::Result<MatrixSpec, SpecError> {
        let schedulers = self
            .scheduler
            .iter()
            .map(|s| {
                SchedulerEntry::parse(s).map(|e| {
                    e.unwrap_or(SchedulerEntry {
                        name: String::new(),
                        args: Vec::new(),
                    })
                })
            })
            .collect::<std::result::Result<_, _>>()?;
        Ok(MatrixSpec {
            kernels: self.kernel.clone(),
            topologies: self.topology.clone(),
            schedulers,
            scenarios: self.scenario.clone(),
            asserts: self.asserts.clone(),
            ..MatrixSpec::default()
        })
    }

    /// The plan file's spec overlaid with the command line's.
    pub fn matrix(&self) -> std::result::Result<MatrixSpec, SpecError> {
        let file = match &self.plan {
            Some(p) => Some(MatrixSpec::load(p)?),
            None if Path::new(DEFAULT_PLAN).is_file() => {
                Some(MatrixSpec::load(Path::new(DEFAULT_PLAN))?)
            }
            None => None,
        };
        let mut spec = file.unwrap_or_default().overlay(self.spec()?);
        if spec.kernels.is_empty() {
            return Err(SpecError::NoKernels);
        }
        if spec.topologies.is_empty() {
            spec.topologies = vec![format!("1n1l{DEFAULT_CPUS}c1t")];
        }
        Ok(spec)
    }

    /// What every cell shares.
    fn template(&self, spec: &MatrixSpec) -> Result<CellTemplate> {
        let duration = match (&self.duration, &spec.duration) {
            (Some(d), _) => *d,
            (None, Some(text)) => {
                parse_duration(text).map_err(|e| crate::error::Error::msg(ExitCode::Usage, e))?
            }
            (None, None) => Duration::from_secs(5),
        };
        let mut asserts = spec.asserts.clone();
        asserts.extend(self.asserts.iter().cloned());
        asserts.dedup();
        Ok(CellTemplate {
            request: RunRequest {
                mode: Mode::Workload,
                kernel: None,
                scheduler: None,
                scheduler_args: Vec::new(),
                duration,
                workers: self.workers,
                work_types: self.work_types.clone(),
                topology: String::new(),
                memory_mib: self.memory,
                accel: self.accel,
                timeout: self.timeout,
                attach_timeout: self.attach_timeout,
                artifacts: None,
                includes: self.include.clone(),
                append: self.append.clone(),
                scenarios: Vec::new(),
                asserts,
                faults: Vec::new(),
                payloads: Vec::new(),
                trace: self.trace.config(),
                cold_boot: self.cold_boot,
            },
        })
    }
}

/// One row of `--list --json`, usable as a GitHub matrix entry.
#[derive(Debug, Serialize)]
struct ListEntry<'a> {
    id: &'a str,
    kernel: &'a str,
    topology: &'a str,
    scheduler: String,
    scenario: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    excluded: Option<&'a str>,
}

fn list(cells: &[Cell], json: bool) -> String {
    if json {
        let include: Vec<ListEntry> = cells
            .iter()
            .map(|c| ListEntry {
                id: &c.id,
                kernel: &c.kernel,
                topology: &c.topology,
                scheduler: c.scheduler_label(),
                scenario: c.scenarios.join(","),
                excluded: c.excluded.as_deref(),
            })
            .collect();
        let v = serde_json::json!({ "include": include });
        return serde_json::to_string(&v).expect("JSON serializes") + "\n";
    }
    cells
        .iter()
        .map(|c| match &c.excluded {
            None => format!("{}\n", c.label()),
            Some(why) => format!("{} (excluded: {why})\n", c.label()),
        })
        .collect()
}

/// One index row per cell that ran, linking its page relative to the index.
fn index_entries(
    results: &[super::CellResult],
    base: &Path,
) -> Vec<crate::report::html::IndexEntry> {
    results
        .iter()
        .map(|r| {
            let dir = r.artifacts.strip_prefix(base).unwrap_or(&r.artifacts);
            let (outcome, detail) = match &r.result {
                Some(res) => (
                    crate::report::summary::outcome_word(res.outcome)
                        .to_lowercase()
                        .replace(' ', "-"),
                    format!(
                        "{:.1} s {}",
                        res.wall_ms as f64 / 1000.0,
                        res.findings
                            .iter()
                            .map(|f| f.class.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ),
                None => ("skip".to_string(), r.reason.clone().unwrap_or_default()),
            };
            crate::report::html::IndexEntry {
                label: r.cell.label(),
                outcome,
                href: dir
                    .join(crate::report::html::REPORT_FILE)
                    .display()
                    .to_string(),
                detail,
            }
        })
        .collect()
}

/// `ktstr-vm matrix`.
pub fn run(args: &MatrixArgs, cache: &CacheDir) -> Result<ExitCode> {
    let spec = args.matrix()?;
    let mut all = repeat(cells(&spec), args.repeat);
    if let Some(shard) = args.shard {
        all = shard.select(all);
    }
    if args.list {
        print!("{}", list(&all, args.json));
        return Ok(ExitCode::Pass);
    }
    let template = args.template(&spec)?;
    let base = match &args.artifacts {
        Some(dir) => Artifacts::create(dir)?.dir().to_path_buf(),
        None => Artifacts::fresh(&cache.root().join("runs"), "matrix")?
            .dir()
            .to_path_buf(),
    };
    let jobs = match args.jobs {
        Some(j) => j as usize,
        None => {
            let tcg = accel::choose(args.accel, &KvmProbe::host())
                .map_or(true, |c| c.accel == Accel::Tcg);
            let max_vcpus = spec
                .topologies
                .iter()
                .filter_map(|t| crate::topology::TopologySpec::parse(t).ok())
                .map(|t| t.vcpus())
                .max()
                .unwrap_or(DEFAULT_CPUS);
            run::default_jobs(tcg, max_vcpus, args.memory)
        }
    };
    let progress = Progress::new(all.len(), args.quiet);
    progress.note(&format!(
        "{} cells, {jobs} at a time; artifacts in {}",
        all.len(),
        base.display()
    ));
    let opts = MatrixOptions {
        jobs,
        fail_fast: args.fail_fast,
        artifacts: base.clone(),
        html: args.html,
    };
    let results = run::run_cells(all, &template, cache, &opts, &progress);
    progress.finish();
    let exit = run::exit_code(&results);
    let report = MatrixReport::new(&results, exit.code());
    let json = serde_json::to_string_pretty(&report).expect("JSON serializes");
    let path = base.join("matrix.json");
    std::fs::write(&path, &json)
        .classify(ExitCode::Environment, format!("writing {}", path.display()))?;
    if args.html {
        let index = base.join("index.html");
        crate::report::html::write_index(
            &index,
            "ktstr-vm matrix",
            &index_entries(&results, &base),
        )?;
        progress.note(&format!("reports linked from {}", index.display()));
    }
    if let Some(junit) = &args.junit {
        std::fs::write(junit, output::junit(&results)).classify(
            ExitCode::Environment,
            format!("writing JUnit report {}", junit.display()),
        )?;
    }
    if args.json {
        println!("{json}");
    } else {
        for r in &results {
            println!("{}", progress::line(r));
        }
        println!(
            "matrix: {} passed, {} failed, {} cannot test, {} skipped, {} errors; artifacts: {}",
            report.passed,
            report.failed,
            report.cannot_test,
            report.skipped,
            report.errors,
            base.display()
        );
    }
    output::github(&results, exit.code());
    Ok(exit)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct T {
        #[command(flatten)]
        m: MatrixArgs,
    }

    fn parse(args: &[&str]) -> MatrixArgs {
        T::try_parse_from(std::iter::once("matrix").chain(args.iter().copied()))
            .unwrap()
            .m
    }

    #[test]
    fn command_line_dimensions_and_listing() {
        let a = parse(&[
            "-k",
            "6.12.117",
            "-k",
            "6.12.117+debug",
            "-t",
            "1n2l2c1t",
            "-s",
            "scx_simple",
            "-s",
            "scx_qmap -e 100",
            "--plan",
            "/dev/null",
        ]);
        let spec = a.matrix().unwrap();
        let all = cells(&spec);
        assert_eq!(all.len(), 4);
        let text = list(&all, true);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["include"].as_array().unwrap().len(), 4);
        assert_eq!(v["include"][1]["scheduler"], "scx_qmap -e 100");
        assert_eq!(v["include"][3]["kernel"], "6.12.117+debug");
        assert!(list(&all, false).starts_with("scx_simple on 6.12.117 [1n2l2c1t]\n"));
    }

    #[test]
    fn no_kernel_is_a_usage_error() {
        let a = parse(&["-s", "scx_simple", "--plan", "/dev/null"]);
        assert!(matches!(a.matrix(), Err(SpecError::NoKernels)));
        assert!(T::try_parse_from(["matrix", "--shard", "3/2"]).is_err());
        assert!(T::try_parse_from(["matrix", "-j", "0"]).is_err());
    }

    #[test]
    fn the_template_carries_the_shared_options() {
        let a = parse(&[
            "-k",
            "k",
            "--plan",
            "/dev/null",
            "-d",
            "3s",
            "--assert",
            "max_gap_ms=500",
            "-w",
            "2",
        ]);
        let spec = a.matrix().unwrap();
        let t = a.template(&spec).unwrap();
        assert_eq!(t.request.duration, Duration::from_secs(3));
        assert_eq!(t.request.asserts, ["max_gap_ms=500"]);
        assert_eq!(t.request.workers, Some(2));
        assert_eq!(spec.topologies, ["1n1l4c1t"]);
    }
}
