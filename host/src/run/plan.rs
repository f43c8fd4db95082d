//! The run as written on the command line, turned by one [`RunPlan::new`]
//! into a plan with resolved paths and numbers. Everything that can be
//! checked before booting is checked here, so a bad input fails in
//! milliseconds with a message naming the problem.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ktstr_guest::wire::Fault;
use ktstr_guest::workload::{WorkSpec, WorkType, WorkloadConfig};

use crate::cache_dir::CacheDir;
use crate::kernel::resolve::{
    find_scheduler, has_sched_ext, resolve_kernel, ResolveError, ResolvedKernel,
};
use crate::qemu::accel::{self, AccelChoice, AccelError, AccelRequest, KvmProbe};
use crate::qemu::cmdline::{Cmdline, CmdlineError};
use crate::topology::{TopologyError, TopologyPlan, TopologySpec};

/// What `run` was asked for, independent of how it was asked (CLI or test).
#[derive(Debug, Clone)]
pub struct RunRequest {
    pub kernel: Option<String>,
    pub scheduler: Option<String>,
    pub scheduler_args: Vec<String>,
    pub duration: Duration,
    pub workers: Option<u32>,
    pub work_types: Vec<String>,
    pub topology: String,
    pub memory_mib: u64,
    pub accel: AccelRequest,
    pub timeout: Option<Duration>,
    pub attach_timeout: Option<Duration>,
    pub artifacts: Option<PathBuf>,
    pub includes: Vec<String>,
    pub append: Option<String>,
    /// Scenarios to run (canned names or files), one after another.
    pub scenarios: Vec<String>,
    /// `--assert KEY=VALUE` threshold overrides for the scenarios.
    pub asserts: Vec<String>,
    /// Faults the guest injects on purpose (`--inject`).
    pub faults: Vec<Fault>,
    /// Record scheduling events (`--trace`).
    pub trace: Option<ktstr_guest::wire::TraceConfig>,
}

/// Why a run cannot start. Each maps to an exit code in [`crate::exit`].
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Kernel(#[from] ResolveError),
    #[error("{path} is not a bootable x86 kernel image (no \"HdrS\" boot header); pass a bzImage, e.g. arch/x86/boot/bzImage")]
    NotAKernel { path: PathBuf },
    #[error("kernel {path} has no sched_ext (CONFIG_SCHED_CLASS_EXT is not set in {config}); build one with `ktstr-vm kernel build`")]
    NoSchedExt { path: PathBuf, config: PathBuf },
    #[error("scheduler {name:?} not found: {looked}{hint}")]
    SchedulerNotFound {
        name: String,
        looked: String,
        hint: String,
    },
    #[error(transparent)]
    Topology(#[from] TopologyError),
    #[error(transparent)]
    Accel(#[from] AccelError),
    #[error("kernel command line: {0}")]
    Cmdline(#[from] CmdlineError),
    #[error("--include {0:?}: {1}")]
    Include(String, String),
    #[error("{0}")]
    Workload(String),
    #[error("--inject {fault}: {why}")]
    Inject { fault: Fault, why: String },
    #[error(transparent)]
    Scenario(#[from] crate::scenario::ScenarioError),
}

/// How the scheduler binary was found, shown to the user.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SchedulerSource {
    Path,
    SearchPath,
    KernelExample,
}

/// The scheduler to attach.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SchedulerPlan {
    pub name: String,
    pub host_path: PathBuf,
    pub guest_path: String,
    pub args: Vec<String>,
    pub source: SchedulerSource,
}

/// A host file to copy into the guest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Include {
    pub host: PathBuf,
    pub guest: String,
}

/// A validated run.
#[derive(Debug, Clone)]
pub struct RunPlan {
    pub kernel: ResolvedKernel,
    pub scheduler: Option<SchedulerPlan>,
    pub topology: TopologyPlan,
    pub accel: AccelChoice,
    pub workload: WorkloadConfig,
    pub attach_timeout: Duration,
    pub stop_grace: Duration,
    /// Host-side limit for the whole boot-to-poweroff.
    pub timeout: Duration,
    pub cmdline: String,
    pub includes: Vec<Include>,
    pub artifacts: Option<PathBuf>,
    pub faults: Vec<Fault>,
    /// Programs the guest runs beside the workers ([`RunPlan::add_payloads`]).
    pub payloads: Vec<crate::payload::PayloadPlan>,
    /// An interactive shell on the console instead of the workload.
    pub shell: bool,
    /// Scenarios, checked against the topology, thresholds resolved.
    pub scenarios: Vec<crate::scenario::ScenarioPlan>,
    /// Record scheduling events (`--trace`).
    pub trace: Option<ktstr_guest::wire::TraceConfig>,
}

/// Where schedulers live inside the guest.
pub const GUEST_SCHED_DIR: &str = "/ktstr-vm/sched";

impl RunPlan {
    pub fn new(req: &RunRequest, cache: &CacheDir) -> Result<RunPlan, PlanError> {
        let kernel = resolve_kernel(req.kernel.as_deref(), cache)?;
        check_boot_header(&kernel.image)?;
        let scheduler = match &req.scheduler {
            None => None,
            Some(name) => {
                if let Some(config) = &kernel.config {
                    let text = std::fs::read_to_string(config).unwrap_or_default();
                    if !text.is_empty() && !has_sched_ext(&text) {
                        return Err(PlanError::NoSchedExt {
                            path: kernel.image.clone(),
                            config: config.clone(),
                        });
                    }
                }
                Some(resolve_scheduler(name, &req.scheduler_args, &kernel)?)
            }
        };
        let topology = TopologySpec::parse(&req.topology)?.validate(Some(req.memory_mib))?;
        let accel = accel::choose(req.accel, &KvmProbe::host())?;
        let mut workload = workload(req, topology.vcpus())?;
        let scenarios = crate::scenario::plan_all(
            &req.scenarios,
            &req.asserts,
            &topology.expected(),
            accel.accel,
        )?;
        if !scenarios.is_empty() {
            workload.duration_ms = crate::scenario::run_ms(&scenarios);
        }
        let tcg = accel.accel == crate::qemu::accel::Accel::Tcg;
        if tcg {
            topology.spec().check_tcg()?;
        }
        let attach_timeout =
            req.attach_timeout
                .unwrap_or(Duration::from_secs(if tcg { 30 } else { 10 }));
        let stop_grace = Duration::from_secs(3);
        let timeout = req.timeout.unwrap_or_else(|| {
            default_timeout(
                tcg,
                topology.vcpus(),
                Duration::from_millis(workload.duration_ms),
                attach_timeout,
                stop_grace,
            )
        });
        let mut cmdline = Cmdline::defaults();
        if let Some(extra) = &req.append {
            cmdline.extend_from_str(extra)?;
        }
        let includes = req
            .includes
            .iter()
            .map(|s| parse_include(s))
            .collect::<Result<Vec<_>, _>>()?;
        check_faults(&req.faults, workload.duration_ms, scheduler.is_some())?;
        Ok(RunPlan {
            kernel,
            scheduler,
            topology,
            accel,
            workload,
            attach_timeout,
            stop_grace,
            timeout,
            cmdline: cmdline.render()?,
            includes,
            artifacts: req.artifacts.clone(),
            faults: req.faults.clone(),
            payloads: Vec::new(),
            shell: false,
            scenarios,
            trace: req.trace,
        })
    }
}

/// A fault must fire while the workload runs, and a scheduler must exist to kill.
fn check_faults(faults: &[Fault], duration_ms: u64, scheduler: bool) -> Result<(), PlanError> {
    for &fault in faults {
        let why = if fault.after_ms >= duration_ms {
            format!("it would fire after the {duration_ms} ms workload ended; inject earlier or raise --duration")
        } else if matches!(
            fault.kind,
            ktstr_guest::wire::FaultKind::KillScheduler { .. }
        ) && !scheduler
        {
            "there is no scheduler to kill: add --scheduler".to_string()
        } else {
            continue;
        };
        return Err(PlanError::Inject { fault, why });
    }
    Ok(())
}

/// Boot budget plus every phase's own limit, with margin: under TCG a
/// large topology boots slowly (about 8 s at 64 vCPUs here).
fn default_timeout(
    tcg: bool,
    vcpus: u32,
    duration: Duration,
    attach: Duration,
    grace: Duration,
) -> Duration {
    let boot = if tcg {
        Duration::from_secs(30) + Duration::from_millis(250) * vcpus
    } else {
        Duration::from_secs(15)
    };
    boot + attach + duration + grace + Duration::from_secs(15)
}

/// One group per `--work-type`. Without `--workers`, a group gets one
/// worker per vCPU, rounded up to whole units of its group size (a
/// fan-out of 4 needs 5 workers) so the default never fails validation.
fn workload(req: &RunRequest, vcpus: u32) -> Result<WorkloadConfig, PlanError> {
    let names: Vec<&str> = if req.work_types.is_empty() {
        vec!["spin_wait"]
    } else {
        req.work_types.iter().map(String::as_str).collect()
    };
    let mut groups = Vec::new();
    for name in names {
        let work_type =
            WorkType::from_name(name).map_err(|e| PlanError::Workload(e.to_string()))?;
        let unit = work_type.group_size().max(1);
        let workers = req
            .workers
            .unwrap_or_else(|| vcpus.max(1).div_ceil(unit) * unit);
        groups.push(WorkSpec {
            workers: Some(workers),
            ..WorkSpec::new(work_type)
        });
    }
    let cfg = WorkloadConfig {
        duration_ms: req.duration.as_millis() as u64,
        groups,
    };
    cfg.validate()
        .map_err(|e| PlanError::Workload(e.to_string()))?;
    Ok(cfg)
}

/// A bzImage carries the x86 boot protocol magic "HdrS" at 0x202.
fn check_boot_header(image: &Path) -> Result<(), PlanError> {
    use std::io::{Read, Seek, SeekFrom};
    let not_kernel = || PlanError::NotAKernel {
        path: image.to_path_buf(),
    };
    let mut f = std::fs::File::open(image).map_err(|_| not_kernel())?;
    let mut magic = [0u8; 4];
    f.seek(SeekFrom::Start(0x202)).map_err(|_| not_kernel())?;
    f.read_exact(&mut magic).map_err(|_| not_kernel())?;
    if &magic != b"HdrS" {
        return Err(not_kernel());
    }
    Ok(())
}

/// A path, then a name on `PATH`, then one of the kernel's example
/// schedulers, in that order.
fn resolve_scheduler(
    name: &str,
    args: &[String],
    kernel: &ResolvedKernel,
) -> Result<SchedulerPlan, PlanError> {
    let plan = |host_path: PathBuf, source| {
        let base = host_path
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "scheduler".into());
        SchedulerPlan {
            name: base.clone(),
            guest_path: format!("{GUEST_SCHED_DIR}/{base}"),
            host_path,
            args: args.to_vec(),
            source,
        }
    };
    let as_path = Path::new(name);
    if name.contains('/') {
        if as_path.is_file() {
            return Ok(plan(as_path.to_path_buf(), SchedulerSource::Path));
        }
        return Err(PlanError::SchedulerNotFound {
            name: name.into(),
            looked: format!("{name} does not exist"),
            hint: String::new(),
        });
    }
    if let Some(p) = crate::which::which(name) {
        return Ok(plan(p, SchedulerSource::SearchPath));
    }
    if let Some(p) = find_scheduler(kernel, name) {
        return Ok(plan(p, SchedulerSource::KernelExample));
    }
    let examples = example_schedulers(kernel);
    let nearest = examples
        .iter()
        .map(|e| (strsim::jaro_winkler(name, e), e))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, e)| format!(" (did you mean {e:?}?)"))
        .unwrap_or_default();
    let hint = if examples.is_empty() {
        "; the kernel has no example schedulers (build one with `ktstr-vm kernel build`)"
            .to_string()
    } else {
        format!(
            "; the kernel's example schedulers: {}{nearest}",
            examples.join(", ")
        )
    };
    Err(PlanError::SchedulerNotFound {
        name: name.into(),
        looked: "not a file, not on PATH, not one of the kernel's example schedulers".into(),
        hint,
    })
}

fn example_schedulers(kernel: &ResolvedKernel) -> Vec<String> {
    let Some(dir) = &kernel.schedulers_dir else {
        return Vec::new();
    };
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// `HOST[:GUEST]`; GUEST defaults to the host path, and must be absolute.
fn parse_include(s: &str) -> Result<Include, PlanError> {
    let (host, guest) = match s.split_once(':') {
        Some((h, g)) => (h, g.to_string()),
        None => (s, s.to_string()),
    };
    let host = PathBuf::from(host);
    if !host.exists() {
        return Err(PlanError::Include(
            s.into(),
            format!("{} does not exist", host.display()),
        ));
    }
    if !guest.starts_with('/') {
        let guest = format!("/{}", guest.trim_start_matches("./"));
        return Ok(Include { host, guest });
    }
    Ok(Include { host, guest })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_header_check() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad");
        std::fs::write(&bad, b"not a kernel").unwrap();
        assert!(matches!(
            check_boot_header(&bad),
            Err(PlanError::NotAKernel { .. })
        ));
        let good = dir.path().join("good");
        let mut bytes = vec![0u8; 0x300];
        bytes[0x202..0x206].copy_from_slice(b"HdrS");
        std::fs::write(&good, bytes).unwrap();
        assert!(check_boot_header(&good).is_ok());
        assert!(check_boot_header(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn includes() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, "x").unwrap();
        let s = f.display().to_string();
        assert_eq!(parse_include(&s).unwrap().guest, s);
        assert_eq!(
            parse_include(&format!("{s}:/opt/f")).unwrap().guest,
            "/opt/f"
        );
        assert_eq!(
            parse_include(&format!("{s}:opt/f")).unwrap().guest,
            "/opt/f"
        );
        assert!(parse_include("/no/such/file").is_err());
    }

    #[test]
    fn timeout_grows_with_vcpus_and_duration() {
        let d = |v, secs| {
            default_timeout(
                true,
                v,
                Duration::from_secs(secs),
                Duration::from_secs(30),
                Duration::from_secs(3),
            )
        };
        assert!(d(64, 5) > d(2, 5));
        assert!(d(2, 60) > d(2, 5));
    }
}
