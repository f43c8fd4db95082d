//! The run as written ([`RunRequest`], from the command line or a test),
//! turned by one [`RunPlan::new`] into a validated, read-only plan with
//! resolved paths and numbers. Everything that can be checked before
//! booting is checked here, so a bad input fails in milliseconds with a
//! message naming the problem; nothing changes a plan afterwards.
//!
//! What the VM does is the request's [`Mode`]: a workload (`run`), one
//! command (`exec`) or a shell (`shell`); each mode's specifics are in
//! [`mode`], the scheduler lookup in [`scheduler`].

mod mode;
mod scheduler;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::time::Duration;

use ktstr_wire::workload::{WorkSpec, WorkType, WorkloadConfig};
use ktstr_wire::{Fault, FaultKind, PayloadConfig};

use crate::assert::{Limits, Thresholds};
use crate::cache_dir::CacheDir;
use crate::exit::{ExitClass, ExitCode};
use crate::include::{parse_include, Include, IncludeError};
use crate::kernel::resolve::{resolve_kernel, ResolveError, ResolvedKernel};
use crate::payload::{PayloadError, PayloadPlan, PayloadSpec};
use crate::qemu::accel::{self, Accel, AccelChoice, AccelError, AccelRequest, KvmProbe};
use crate::qemu::cmdline::{Cmdline, CmdlineError};
use crate::scenario::{ScenarioError, ScenarioPlan};
use crate::topology::{TopologyError, TopologyPlan, TopologySpec};

pub use mode::{Mode, GUEST_BUSYBOX};
pub use scheduler::{SchedulerPlan, SchedulerSource, GUEST_SCHED_DIR};

/// What a command asks to run, independent of how it was asked.
#[derive(Debug, Clone)]
pub struct RunRequest {
    pub mode: Mode,
    pub kernel: Option<String>,
    pub scheduler: Option<String>,
    pub scheduler_args: Vec<String>,
    /// How long the workload runs (`Mode::Workload`).
    pub duration: Duration,
    pub workers: Option<u32>,
    pub work_types: Vec<String>,
    pub topology: String,
    pub memory_mib: u64,
    pub accel: AccelRequest,
    pub timeout: Option<Duration>,
    pub attach_timeout: Option<Duration>,
    pub artifacts: Option<PathBuf>,
    /// `--include HOST[:GUEST]` as written.
    pub includes: Vec<String>,
    pub append: Option<String>,
    /// Scenarios to run (canned names or files), one after another.
    pub scenarios: Vec<String>,
    /// `--assert KEY=VALUE` threshold overrides.
    pub asserts: Vec<String>,
    /// Faults the guest injects on purpose (`--inject`).
    pub faults: Vec<Fault>,
    /// Programs the guest runs beside (or instead of) the workers.
    pub payloads: Vec<PayloadSpec>,
    /// Record scheduling events (`--trace`).
    pub trace: Option<ktstr_wire::TraceConfig>,
    /// Always boot; never restore or save a snapshot (`--cold-boot`).
    pub cold_boot: bool,
}

/// Why a run cannot start. Each names its exit code in [`ExitClass`].
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
    #[error(transparent)]
    Include(#[from] IncludeError),
    #[error("{0}")]
    Workload(String),
    #[error("--inject {fault}: {why}")]
    Inject { fault: Fault, why: String },
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    #[error(transparent)]
    Payload(#[from] PayloadError),
    #[error("no busybox on the host PATH: the guest shell is busybox (Debian: apt-get install busybox-static)")]
    NoBusybox,
    #[error("this run tests nothing: {0}")]
    NothingToTest(&'static str),
    #[error(transparent)]
    Assert(#[from] crate::assert::limits::LimitError),
}

impl ExitClass for PlanError {
    fn exit_code(&self) -> ExitCode {
        match self {
            PlanError::Kernel(e) => e.exit_code(),
            PlanError::NotAKernel { .. }
            | PlanError::NoSchedExt { .. }
            | PlanError::SchedulerNotFound { .. } => ExitCode::CannotTest,
            PlanError::Accel(_) | PlanError::NoBusybox => ExitCode::Environment,
            PlanError::Topology(_)
            | PlanError::Cmdline(_)
            | PlanError::Include(_)
            | PlanError::Workload(_)
            | PlanError::Inject { .. }
            | PlanError::Scenario(_)
            | PlanError::Payload(_)
            | PlanError::NothingToTest(_)
            | PlanError::Assert(_) => ExitCode::Usage,
        }
    }
}

/// A validated run. Read-only: [`RunPlan::new`] establishes every
/// invariant (timeouts, faults inside the workload, payloads shipped).
#[derive(Debug, Clone)]
pub struct RunPlan {
    mode: Mode,
    kernel: ResolvedKernel,
    scheduler: Option<SchedulerPlan>,
    topology: TopologyPlan,
    accel: AccelChoice,
    workload: WorkloadConfig,
    attach_timeout: Duration,
    stop_grace: Duration,
    timeout: Duration,
    cmdline: String,
    includes: Vec<Include>,
    artifacts: Option<PathBuf>,
    faults: Vec<Fault>,
    payloads: Vec<PayloadPlan>,
    scenarios: Vec<ScenarioPlan>,
    workload_limits: Option<Limits>,
    trace: Option<ktstr_wire::TraceConfig>,
    cold_boot: bool,
}

impl RunPlan {
    pub fn new(req: &RunRequest, cache: &CacheDir) -> Result<RunPlan, PlanError> {
        let kernel = resolve_kernel(req.kernel.as_deref(), cache)?;
        check_boot_header(&kernel.image)?;
        let scheduler = match &req.scheduler {
            None => None,
            Some(name) => {
                scheduler::check_sched_ext(&kernel)?;
                Some(scheduler::resolve_scheduler(
                    name,
                    &req.scheduler_args,
                    &kernel,
                )?)
            }
        };
        let topology = TopologySpec::parse(&req.topology)?.validate(Some(req.memory_mib))?;
        let accel = accel::choose(req.accel, &KvmProbe::host())?;
        let tcg = accel.accel == Accel::Tcg;
        if tcg {
            topology.spec().check_tcg()?;
        }
        let scenarios = match req.mode {
            Mode::Workload => crate::scenario::plan_all(
                &req.scenarios,
                &req.asserts,
                &topology.expected(),
                accel.accel,
            )?,
            _ => Vec::new(),
        };
        let mut workload = match req.mode {
            Mode::Workload => workload(req, topology.vcpus())?,
            _ => WorkloadConfig {
                duration_ms: mode::duration(&req.mode, req.duration).as_millis() as u64,
                groups: Vec::new(),
            },
        };
        if !scenarios.is_empty() {
            workload.duration_ms = crate::scenario::run_ms(&scenarios);
        }
        // `--assert` applies to the plain workload as to scenarios; an
        // unknown key is an error even when nothing would read it.
        let cli_limits = Thresholds::from_args(&req.asserts)?;
        let workload_limits =
            (req.mode == Mode::Workload && scenarios.is_empty() && !workload.groups.is_empty())
                .then(|| {
                    Thresholds::defaults(accel.accel)
                        .overlay(&cli_limits)
                        .resolve()
                });
        let mut includes = req
            .includes
            .iter()
            .map(|s| parse_include(s))
            .collect::<Result<Vec<_>, _>>()?;
        let mut specs = req.payloads.clone();
        specs.extend(mode::payloads(&req.mode, &mut includes)?);
        let payloads = resolve_payloads(&specs, &workload, &mut includes)?;
        check_tests_something(&req.mode, &workload, &payloads, &scenarios)?;
        check_faults(&req.faults, workload.duration_ms, scheduler.is_some())?;
        let attach_timeout =
            req.attach_timeout
                .unwrap_or(Duration::from_secs(if tcg { 30 } else { 10 }));
        let stop_grace = Duration::from_secs(3);
        let timeout = req.timeout.or(mode::timeout(&req.mode)).unwrap_or_else(|| {
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
        Ok(RunPlan {
            mode: req.mode.clone(),
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
            payloads,
            scenarios,
            workload_limits,
            trace: req.trace,
            cold_boot: req.cold_boot,
        })
    }

    pub fn mode(&self) -> &Mode {
        &self.mode
    }
    pub fn kernel(&self) -> &ResolvedKernel {
        &self.kernel
    }
    pub fn scheduler(&self) -> Option<&SchedulerPlan> {
        self.scheduler.as_ref()
    }
    pub fn topology(&self) -> &TopologyPlan {
        &self.topology
    }
    pub fn accel(&self) -> &AccelChoice {
        &self.accel
    }
    pub fn workload(&self) -> &WorkloadConfig {
        &self.workload
    }
    pub fn attach_timeout(&self) -> Duration {
        self.attach_timeout
    }
    pub fn stop_grace(&self) -> Duration {
        self.stop_grace
    }
    /// Host-side limit for the whole boot-to-poweroff.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
    pub fn cmdline(&self) -> &str {
        &self.cmdline
    }
    /// Host files copied into the guest (user includes, shipped payloads).
    pub fn includes(&self) -> &[Include] {
        &self.includes
    }
    /// `--artifacts DIR`, if given.
    pub fn artifacts(&self) -> Option<&Path> {
        self.artifacts.as_deref()
    }
    pub fn faults(&self) -> &[Fault] {
        &self.faults
    }
    pub fn payloads(&self) -> &[PayloadPlan] {
        &self.payloads
    }
    /// Scenarios, checked against the topology, thresholds resolved.
    pub fn scenarios(&self) -> &[ScenarioPlan] {
        &self.scenarios
    }
    /// Thresholds of the plain workload's assertions (a workload run
    /// without scenarios): the defaults for the accelerator, then `--assert`.
    pub fn workload_limits(&self) -> Option<&Limits> {
        self.workload_limits.as_ref()
    }
    /// Boot even when a snapshot could be restored (`--cold-boot`).
    pub fn cold_boot(&self) -> bool {
        self.cold_boot
    }
    /// Scheduling events to record (`--trace`), if any.
    pub fn trace(&self) -> Option<&ktstr_wire::TraceConfig> {
        self.trace.as_ref()
    }
    /// An interactive shell on the console instead of the workload.
    pub fn shell(&self) -> bool {
        self.mode == Mode::Shell
    }

    /// The wire configs of the plan's payloads.
    pub fn payload_configs(&self) -> Vec<PayloadConfig> {
        self.payloads.iter().map(|p| p.config.clone()).collect()
    }

    /// Worker reports the plain workload owes (scenarios spawn and stop
    /// workers over time, so they are counted by their own checks).
    pub fn expected_workers(&self) -> Option<usize> {
        if !self.scenarios.is_empty() {
            return None;
        }
        self.workload
            .groups
            .iter()
            .map(|g| g.workers.map(|n| n as usize))
            .sum()
    }
}

/// Resolves each payload on the host; their files join `includes`. A
/// foreground payload without a timeout gets the workload's duration.
fn resolve_payloads(
    specs: &[PayloadSpec],
    workload: &WorkloadConfig,
    includes: &mut Vec<Include>,
) -> Result<Vec<PayloadPlan>, PayloadError> {
    let duration = Duration::from_millis(workload.duration_ms);
    let mut plans: Vec<PayloadPlan> = Vec::new();
    for spec in specs {
        let plan = crate::payload::resolve(spec, duration, &plans)?;
        for inc in &plan.shipped {
            if !includes.iter().any(|i| i.guest == inc.guest) {
                includes.push(inc.clone());
            }
        }
        plans.push(plan);
    }
    Ok(plans)
}

/// A workload run must run something for some time: workers, a scenario
/// or a payload. A run that tests nothing would pass by default.
fn check_tests_something(
    mode: &Mode,
    workload: &WorkloadConfig,
    payloads: &[PayloadPlan],
    scenarios: &[ScenarioPlan],
) -> Result<(), PlanError> {
    if *mode != Mode::Workload || !scenarios.is_empty() {
        return Ok(());
    }
    if workload.duration_ms == 0 {
        return Err(PlanError::NothingToTest(
            "--duration 0s runs the workload for no time; give e.g. --duration 5s",
        ));
    }
    if workload.groups.is_empty() && payloads.is_empty() {
        return Err(PlanError::NothingToTest(
            "--workers 0 and no --payload: give workers, a --payload or a --scenario",
        ));
    }
    Ok(())
}

/// A fault must fire while the workload runs, and a scheduler must exist to kill.
fn check_faults(faults: &[Fault], duration_ms: u64, scheduler: bool) -> Result<(), PlanError> {
    for &fault in faults {
        let why = if fault.after_ms >= duration_ms {
            format!("it would fire after the {duration_ms} ms workload ended; inject earlier or raise --duration")
        } else if matches!(fault.kind, FaultKind::KillScheduler { .. }) && !scheduler {
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
/// `--workers 0` means no workers (payloads only).
fn workload(req: &RunRequest, vcpus: u32) -> Result<WorkloadConfig, PlanError> {
    if req.workers == Some(0) {
        return Ok(WorkloadConfig {
            duration_ms: req.duration.as_millis() as u64,
            groups: Vec::new(),
        });
    }
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
