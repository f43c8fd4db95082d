//! Running the cells: kernels and cargo-built schedulers are prepared once,
//! then `jobs` cells run at a time, each a full run with its own artifact
//! directory. `--fail-fast` stops starting cells after the first failure;
//! Ctrl-C stops everything, and the cells not run are reported as such.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use super::cargo_sched::{self, CargoScheduler};
use super::cells::Cell;
use super::progress::Progress;
use super::result::{CellResult, Status};
use crate::cache_dir::CacheDir;
use crate::error::Error;
use crate::exit::{ExitClass, ExitCode};
use crate::finding::Outcome;
use crate::plan::{Mode, RunPlan, RunRequest};
use crate::run::execute::{execute, RunOptions};

/// What every cell shares: the run options of `run` minus the dimensions.
#[derive(Debug, Clone)]
pub struct CellTemplate {
    /// A request whose kernel, scheduler, topology and scenarios each
    /// cell replaces.
    pub request: RunRequest,
}

impl CellTemplate {
    fn request(
        &self,
        cell: &Cell,
        sched: Option<(&str, &[String])>,
        artifacts: &Path,
    ) -> RunRequest {
        RunRequest {
            mode: Mode::Workload,
            kernel: Some(cell.kernel.clone()),
            scheduler: sched.map(|(s, _)| s.to_string()),
            scheduler_args: sched.map(|(_, a)| a.to_vec()).unwrap_or_default(),
            topology: cell.topology.clone(),
            scenarios: cell.scenarios.clone(),
            artifacts: Some(artifacts.to_path_buf()),
            ..self.request.clone()
        }
    }
}

/// How the matrix runs.
#[derive(Debug, Clone)]
pub struct MatrixOptions {
    pub jobs: usize,
    pub fail_fast: bool,
    /// Each cell's artifacts go to `artifacts/<cell id>/`.
    pub artifacts: PathBuf,
    /// Each cell also writes its report.html.
    pub html: bool,
}

/// Runs every cell; results in the cells' order.
pub fn run_cells(
    cells: Vec<Cell>,
    template: &CellTemplate,
    cache: &CacheDir,
    opts: &MatrixOptions,
    progress: &Progress,
) -> Vec<CellResult> {
    let dir = |c: &Cell| opts.artifacts.join(&c.id);
    let mut results: Vec<Option<CellResult>> = vec![None; cells.len()];
    let mut todo = VecDeque::new();
    for (i, c) in cells.iter().enumerate() {
        match &c.excluded {
            Some(why) => {
                let r = CellResult::skipped(c.clone(), format!("excluded: {why}"), dir(c));
                progress.finished(&r);
                results[i] = Some(r);
            }
            None => todo.push_back(i),
        }
    }
    let prepared = prepare(&cells, &todo, cache, progress);
    let queue = Mutex::new(todo);
    let slots = Mutex::new(results);
    let stop = AtomicBool::new(false);
    let worker = || loop {
        let Some(i) = queue.lock().expect("queue").pop_front() else {
            return;
        };
        let cell = &cells[i];
        let result = if stop.load(Ordering::SeqCst) || crate::run::interrupt::requested() {
            let why = if crate::run::interrupt::requested() {
                "not run: interrupted"
            } else {
                "not run: --fail-fast stopped the matrix after a failure"
            };
            CellResult::skipped(cell.clone(), why.into(), dir(cell))
        } else {
            progress.started(cell);
            let r = run_cell(cell, template, cache, &prepared, &dir(cell), opts.html);
            if (opts.fail_fast && r.status == Status::Fail) || r.exit() == ExitCode::Interrupted {
                stop.store(true, Ordering::SeqCst);
            }
            r
        };
        progress.finished(&result);
        slots.lock().expect("results")[i] = Some(result);
    };
    std::thread::scope(|s| {
        for _ in 0..opts.jobs.max(1) {
            s.spawn(worker);
        }
    });
    slots
        .into_inner()
        .expect("results")
        .into_iter()
        .map(|r| r.expect("every cell has a result"))
        .collect()
}

/// What was prepared once for many cells.
#[derive(Debug, Default)]
struct Prepared {
    /// Kernels resolved (or tried).
    kernels: std::collections::BTreeSet<String>,
    /// Kernels that could not be resolved or built, with why.
    kernel_errors: BTreeMap<String, PreparedError>,
    /// `cargo:NAME@VERSION` -> the installed binary (or why not).
    cargo: BTreeMap<String, Result<PathBuf, PreparedError>>,
}

#[derive(Debug)]
struct PreparedError {
    code: ExitCode,
    message: String,
}

impl PreparedError {
    fn of<E: ExitClass + std::fmt::Display>(e: &E) -> PreparedError {
        PreparedError {
            code: e.exit_code(),
            message: e.to_string(),
        }
    }
}

/// Resolves (building or fetching on first use) every kernel and installs
/// every cargo scheduler the runnable cells name, once each, in order, so
/// parallel cells never race to build the same thing.
fn prepare(
    cells: &[Cell],
    todo: &VecDeque<usize>,
    cache: &CacheDir,
    progress: &Progress,
) -> Prepared {
    let mut p = Prepared::default();
    for &i in todo {
        let c = &cells[i];
        if p.kernels.insert(c.kernel.clone()) {
            progress.note(&format!("preparing kernel {}", c.kernel));
            if let Err(e) = crate::kernel::resolve::resolve_kernel(Some(&c.kernel), cache) {
                p.kernel_errors
                    .insert(c.kernel.clone(), PreparedError::of(&e));
            }
        }
        if let Some(s) = &c.scheduler {
            if let Some(spec) = CargoScheduler::parse(&s.name) {
                if !p.cargo.contains_key(&s.name) {
                    progress.note(&format!("installing {} with cargo", s.name));
                    let r = cargo_sched::install(&spec, cache).map_err(|e| PreparedError::of(&e));
                    p.cargo.insert(s.name.clone(), r);
                }
            }
        }
    }
    p
}

fn run_cell(
    cell: &Cell,
    template: &CellTemplate,
    cache: &CacheDir,
    prepared: &Prepared,
    artifacts: &Path,
    html: bool,
) -> CellResult {
    let failed = |code: ExitCode, message: &str| {
        CellResult::error(
            cell.clone(),
            &Error::msg(code, message.to_string()),
            artifacts.into(),
        )
    };
    if let Some(e) = prepared.kernel_errors.get(&cell.kernel) {
        return failed(e.code, &format!("kernel {}: {}", cell.kernel, e.message));
    }
    let sched_path;
    let sched = match &cell.scheduler {
        None => None,
        Some(s) => {
            let name = match prepared.cargo.get(&s.name) {
                Some(Ok(path)) => {
                    sched_path = path.display().to_string();
                    sched_path.as_str()
                }
                Some(Err(e)) => return failed(e.code, &format!("{}: {}", s.name, e.message)),
                None => s.name.as_str(),
            };
            Some((name, s.args.as_slice()))
        }
    };
    let req = template.request(cell, sched, artifacts);
    let outcome = RunPlan::new(&req, cache)
        .map_err(Error::from)
        .and_then(|plan| {
            let opts = RunOptions {
                quiet: true,
                html,
                ..Default::default()
            };
            execute(&plan, cache, opts).map_err(Error::from)
        });
    match outcome {
        Err(e) => CellResult::error(cell.clone(), &e, artifacts.into()),
        Ok(done) => {
            let status = match done.result.outcome {
                Outcome::Pass | Outcome::Skip => Status::Pass,
                Outcome::Fail => Status::Fail,
                Outcome::Inconclusive => Status::CannotTest,
            };
            CellResult {
                cell: cell.clone(),
                status,
                exit_code: done.exit.code(),
                reason: None,
                artifacts: done.result.artifacts.clone(),
                result: Some(done.result),
            }
        }
    }
}

/// The exit code of the whole matrix: the worst cell's.
pub fn exit_code(results: &[CellResult]) -> ExitCode {
    results
        .iter()
        .map(CellResult::exit)
        .fold(ExitCode::Pass, ExitCode::worst)
}

/// Cells at a time when `-j` is not given: under TCG a cell is one host
/// thread (`thread=single`), under KVM one per vCPU; and each needs its
/// guest memory plus QEMU's own (about 200 MB) free on the host.
pub fn default_jobs(tcg: bool, max_vcpus: u32, guest_mib: u64) -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let by_cpu = if tcg {
        cpus
    } else {
        (cpus / max_vcpus.max(1) as usize).max(1)
    };
    let by_mem = available_mib().map_or(by_cpu, |mib| (mib / (guest_mib + 256)) as usize);
    by_cpu.min(by_mem).max(1)
}

/// `MemAvailable` from `/proc/meminfo`, in MiB.
fn available_mib() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(code: i32) -> CellResult {
        CellResult {
            cell: Cell {
                id: "x".into(),
                kernel: "k".into(),
                topology: "t".into(),
                scheduler: None,
                scenarios: vec![],
                excluded: None,
            },
            status: Status::Pass,
            exit_code: code,
            reason: None,
            result: None,
            artifacts: "/a".into(),
        }
    }

    #[test]
    fn the_worst_cell_decides() {
        let codes = |c: &[i32]| exit_code(&c.iter().map(|&x| result(x)).collect::<Vec<_>>());
        assert_eq!(codes(&[]), ExitCode::Pass);
        assert_eq!(codes(&[0, 0]), ExitCode::Pass);
        assert_eq!(codes(&[0, 125, 0]), ExitCode::CannotTest);
        assert_eq!(codes(&[125, 1]), ExitCode::Fail);
        assert_eq!(codes(&[1, 129]), ExitCode::Usage);
        assert_eq!(codes(&[130, 1]), ExitCode::Interrupted);
    }

    #[test]
    fn default_jobs_fit_cpus_and_memory() {
        let j = default_jobs(true, 4, 1024);
        assert!(j >= 1);
        assert!(j <= std::thread::available_parallelism().unwrap().get());
        // A guest larger than any host's memory still gets one cell.
        assert_eq!(default_jobs(true, 4, u64::MAX / 4), 1);
        assert!(default_jobs(false, 1024, 1024) >= 1);
    }
}
