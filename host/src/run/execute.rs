//! `ktstr-vm run` from a plan to a result: artifacts, initramfs, boot,
//! verdict, `result.json`. Used by the CLI and by the end-to-end tests.

use std::io::Write;
use std::path::Path;

use ktstr_wire::{GuestMsg, RunConfig, SchedulerConfig, Stream, PROTOCOL_VERSION};

use super::runner::{self, BootError, RunError, Start};
use super::start;
use crate::artifacts::{self, Artifacts, ArtifactsError};
use crate::cache_dir::CacheDir;
use crate::events::{Event, TimedEvent};
use crate::exit::{ExitClass, ExitCode};
use crate::guest_image::{self, GuestImage, GuestImageError};
use crate::plan::RunPlan;
use crate::qemu::process::qemu_binary;
use crate::report::RunResult;
use crate::scratch::Scratch;
use crate::snapshot::SnapshotStore;
use crate::verdict::{judge, JudgeInput};

/// Most bytes of console or QEMU log read back for the verdict.
const MAX_LOG_READ: u64 = 4 << 20;
/// Runs kept in the default artifact directory.
const KEEP_RUNS: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum ExecuteError {
    #[error(transparent)]
    Artifacts(#[from] ArtifactsError),
    #[error(transparent)]
    Image(#[from] GuestImageError),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error("writing {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Trace(#[from] crate::trace::TraceError),
    #[error(transparent)]
    Html(#[from] crate::report::html::HtmlError),
}

impl ExitClass for ExecuteError {
    fn exit_code(&self) -> ExitCode {
        match self {
            ExecuteError::Image(e) => e.exit_code(),
            ExecuteError::Artifacts(e) => e.exit_code(),
            ExecuteError::Run(e) => e.exit_code(),
            ExecuteError::Write { .. } => ExitCode::Environment,
            ExecuteError::Trace(e) => e.exit_code(),
            ExecuteError::Html(e) => e.exit_code(),
        }
    }
}

/// Something that sees every event as it arrives. It runs in the run's
/// event loop, so it must never block (see [`super::live`]).
#[derive(Clone)]
pub struct EventHook(pub std::sync::Arc<dyn Fn(&TimedEvent) + Send + Sync>);

impl std::fmt::Debug for EventHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventHook")
    }
}

impl EventHook {
    pub fn new(f: impl Fn(&TimedEvent) + Send + Sync + 'static) -> EventHook {
        EventHook(std::sync::Arc::new(f))
    }
}

/// How the run goes, besides what the plan says.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// No progress lines on stderr.
    pub quiet: bool,
    /// Also shown every event as it arrives (`exec` streams payload output).
    pub on_event: Option<EventHook>,
    /// Artifacts go exactly here (a repeated run's `run-01`, a matrix
    /// cell's directory) instead of the plan's `--artifacts` or the cache.
    pub artifacts: Option<std::path::PathBuf>,
    /// Also write `report.html` (`--html`).
    pub html: bool,
}

/// A finished run.
#[derive(Debug, Clone)]
pub struct Completed {
    pub result: RunResult,
    pub exit: ExitCode,
    pub events: Vec<TimedEvent>,
}

/// The run config the guest receives for this plan.
pub fn run_config(plan: &RunPlan) -> RunConfig {
    RunConfig {
        protocol: PROTOCOL_VERSION,
        scheduler: plan.scheduler().map(|s| SchedulerConfig {
            path: s.guest_path.clone(),
            args: s.args.clone(),
            attach_timeout_ms: plan.attach_timeout().as_millis() as u64,
            stop_grace_ms: plan.stop_grace().as_millis() as u64,
        }),
        workload: plan.workload().clone(),
        payloads: plan.payload_configs(),
        forward_all_kmsg: false,
        faults: plan.faults().to_vec(),
        shell: plan.shell(),
        scenarios: plan.scenarios().iter().map(|s| s.file.spec()).collect(),
        trace: plan.trace().copied(),
    }
}

/// Boots (or restores) and runs; a restore that fails boots cold instead,
/// with one line saying why, and drops the snapshot that failed (the
/// cold boot saves a new one).
#[allow(clippy::too_many_arguments)]
fn boot_with_fallback(
    plan: &RunPlan,
    image: &GuestImage,
    arts: &Artifacts,
    cache: &CacheDir,
    start: Start,
    store: &SnapshotStore,
    qemu: &std::path::Path,
    opts: &RunOptions,
    progress: &Progress,
) -> Result<Vec<TimedEvent>, ExecuteError> {
    let mut start = start;
    loop {
        let scratch = Scratch::new(cache.root()).map_err(|source| ExecuteError::Write {
            path: crate::scratch::root(cache.root()).display().to_string(),
            source,
        })?;
        let restoring = matches!(start, Start::Restore { .. });
        let outcome = runner::boot(
            plan,
            &image.initrd,
            &image.archive,
            arts,
            scratch.path(),
            start,
            &mut |ev: &TimedEvent| {
                if let Some(hook) = &opts.on_event {
                    (hook.0)(ev);
                }
                progress.show(ev)
            },
        );
        match outcome {
            Ok(events) => return Ok(events),
            Err(BootError::Run(e)) => return Err(e.into()),
            Err(BootError::RestoreFailed(why)) if restoring => {
                progress.always(&format!(
                    "the snapshot could not be restored ({why}); booting cold instead"
                ));
                let key = start::key(plan, image, qemu).ok();
                if let Some(k) = &key {
                    let _ = store.remove(k);
                }
                let save = key.and_then(|k| start::save_job(plan, store, &k, qemu));
                start = Start::Cold { save };
            }
            Err(BootError::RestoreFailed(why)) => {
                unreachable!("a cold boot has no restore to fail: {why}")
            }
        }
    }
}

/// Runs the plan to a verdict.
pub fn execute(
    plan: &RunPlan,
    cache: &CacheDir,
    opts: RunOptions,
) -> Result<Completed, ExecuteError> {
    let arts = match opts.artifacts.as_deref().or(plan.artifacts()) {
        Some(dir) => Artifacts::create(dir)?,
        None => {
            let parent = cache.root().join("runs");
            prune_runs(&parent, KEEP_RUNS);
            let label = plan.scheduler().map_or("eevdf", |s| s.name.as_str());
            Artifacts::fresh(&parent, label)?
        }
    };
    // Until result.json exists, the directory says the run never finished
    // (a SIGKILL leaves no other trace).
    write(
        &arts.path(artifacts::INCOMPLETE),
        artifacts::INCOMPLETE_TEXT.as_bytes(),
    )?;
    let config = run_config(plan);
    let image = guest_image::build(
        plan,
        &config,
        &cache.initramfs(),
        &arts.path(artifacts::RUN_ARCHIVE),
    )?;
    let progress = Progress { quiet: opts.quiet };
    let qemu = qemu_binary().map_err(RunError::from)?;
    let store = SnapshotStore::new(cache.root());
    let (start, note) = start::choose(plan, &image, &store, &qemu, plan.cold_boot());
    progress.start(plan, &start);
    if let Some(note) = note {
        progress.always(&note);
    }
    let events = boot_with_fallback(
        plan, &image, &arts, cache, start, &store, &qemu, &opts, &progress,
    )?;

    let console = read_capped(&arts.path(artifacts::CONSOLE_LOG));
    let qemu_log = read_capped(&arts.path(artifacts::QEMU_LOG));
    let expected = plan.topology().expected();
    let payloads = crate::payload::result::results(plan.payloads(), &events);
    let planned: Vec<_> = plan.scenarios().iter().map(|s| s.planned()).collect();
    let judged = judge(&JudgeInput {
        events: &events,
        scheduler_expected: plan.scheduler().is_some(),
        expected_topology: Some(&expected),
        console: &console,
        qemu_log: &qemu_log,
        workerless: plan.workload().groups.is_empty() && plan.scenarios().is_empty(),
        expected_workers: plan.expected_workers(),
        payloads: &payloads,
        scenarios: &planned,
        workload: plan
            .workload_limits()
            .map(|l| (l, plan.workload().groups.as_slice())),
        shell: plan.shell(),
    });
    let interrupted = events.iter().any(|e| e.event == Event::Interrupted);
    let exit = judged.verdict.outcome.exit_code(interrupted);
    let mut result = RunResult::new(
        plan,
        &events,
        judged,
        payloads,
        exit.code(),
        arts.dir().to_path_buf(),
    );
    if plan.trace().is_some() {
        let trace = crate::trace::convert(arts.dir(), &events, &result.findings)?;
        progress.trace(arts.dir(), &trace);
        result.trace = Some(trace);
    }
    write_scheduler_log(&arts, &events)?;
    crate::payload::result::write_logs(arts.dir(), plan.payloads(), &events).map_err(|source| {
        ExecuteError::Write {
            path: arts.dir().join("payload-*").display().to_string(),
            source,
        }
    })?;
    let json = serde_json::to_vec_pretty(&result).expect("result serializes");
    write(&arts.path(artifacts::RESULT_JSON), &json)?;
    let _ = std::fs::remove_file(arts.path(artifacts::INCOMPLETE));
    if opts.html {
        let page = crate::report::html::write_report(arts.dir())?;
        progress.line(&format!("report: {}", page.display()));
    }
    Ok(Completed {
        result,
        exit,
        events,
    })
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), ExecuteError> {
    std::fs::write(path, bytes).map_err(|source| ExecuteError::Write {
        path: path.display().to_string(),
        source,
    })
}

fn write_scheduler_log(arts: &Artifacts, events: &[TimedEvent]) -> Result<(), ExecuteError> {
    let mut text = String::new();
    for ev in events {
        if let Some(GuestMsg::SchedulerLog { stream, line }) = ev.guest() {
            let tag = if *stream == Stream::Stderr {
                "err"
            } else {
                "out"
            };
            text.push_str(&format!(
                "[{:>8.3}] {tag}: {line}\n",
                ev.host_ms as f64 / 1000.0
            ));
        }
    }
    write(&arts.path(artifacts::SCHEDULER_LOG), text.as_bytes())
}

/// The last [`MAX_LOG_READ`] bytes of a log, lossily decoded (the guest
/// can write anything to its console).
fn read_capped(path: &Path) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(MAX_LOG_READ)));
    let mut bytes = Vec::new();
    let _ = f.take(MAX_LOG_READ).read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).replace('\r', "")
}

/// Keeps the newest `keep` run directories under `parent`.
fn prune_runs(parent: &Path, keep: usize) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    let mut dirs: Vec<_> = entries
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.path())
        .collect();
    if dirs.len() < keep {
        return;
    }
    dirs.sort();
    for d in &dirs[..dirs.len() + 1 - keep] {
        let _ = std::fs::remove_dir_all(d);
    }
}

/// Live progress lines on stderr.
struct Progress {
    quiet: bool,
}

impl Progress {
    fn line(&self, text: &str) {
        if !self.quiet {
            let _ = writeln!(std::io::stderr(), "ktstr-vm: {text}");
        }
    }

    /// A line even in quiet mode: the run changed course.
    fn always(&self, text: &str) {
        let _ = writeln!(std::io::stderr(), "ktstr-vm: {text}");
    }

    fn start(&self, plan: &RunPlan, start: &Start) {
        let sched = plan
            .scheduler()
            .map_or("EEVDF (no --scheduler)".to_string(), |s| {
                format!("{} ({:?}: {})", s.name, s.source, s.host_path.display())
            });
        let how = match start {
            Start::Restore { .. } => "restoring the snapshot of",
            Start::Cold { save: Some(_) } => "booting (and saving a snapshot of)",
            Start::Cold { save: None } => "booting",
        };
        self.line(&format!(
            "{how} {} with {sched}, {} vCPUs, accel {} ({})",
            plan.kernel().image.display(),
            plan.topology().vcpus(),
            plan.accel().accel,
            plan.accel().reason,
        ));
    }

    fn trace(&self, dir: &Path, t: &crate::trace::TraceSummary) {
        match &t.file {
            Some(f) => self.line(&format!(
                "trace: {} ({:.1} MB, {} events{}; open it in ui.perfetto.dev)",
                dir.join(f).display(),
                t.bytes as f64 / 1e6,
                t.records,
                if t.capped_at_ns.is_some() {
                    ", capped at its limit"
                } else {
                    ""
                }
            )),
            None => self.line(&format!("no trace: {}", t.problems.join("; "))),
        }
    }

    fn show(&self, ev: &TimedEvent) {
        let at = ev.host_ms as f64 / 1000.0;
        let text = match &ev.event {
            Event::Guest { msg } => match msg {
                GuestMsg::Hello {
                    kernel_release,
                    uptime_ms,
                    ..
                } => {
                    format!(
                        "guest init started (kernel {kernel_release}, guest uptime {:.2}s)",
                        *uptime_ms as f64 / 1000.0
                    )
                }
                GuestMsg::SchedulerAttached { ops, .. } => {
                    format!("scheduler attached (ops {ops})")
                }
                GuestMsg::Phase {
                    phase: ktstr_wire::Phase::WorkloadStarted,
                    ..
                } => "workload started".into(),
                GuestMsg::Phase {
                    phase: ktstr_wire::Phase::WorkloadStopped,
                    ..
                } => "workload stopped".into(),
                GuestMsg::SchedulerExited {
                    exit,
                    requested: false,
                    ..
                } => format!("scheduler ended on its own: {exit}"),
                GuestMsg::SchedExtState { state, .. } => {
                    format!("sched_ext state changed: {state}")
                }
                GuestMsg::Error { stage, message } => format!("guest error ({stage}): {message}"),
                GuestMsg::SchedulerExecFailed { path, reason } => {
                    format!("scheduler {path} could not be executed: {reason}")
                }
                GuestMsg::LogCut { log, kept } => {
                    format!("{log} log cut after {kept} lines; later lines were not forwarded")
                }
                _ => return,
            },
            Event::HostTimeout { limit_ms } => format!(
                "no result within {:.1}s: killing QEMU",
                *limit_ms as f64 / 1000.0
            ),
            Event::Interrupted => "interrupted: killing QEMU".into(),
            Event::Restored { after_ms, .. } => format!(
                "restored from the snapshot: the guest answered {:.2}s after QEMU started",
                *after_ms as f64 / 1000.0
            ),
            Event::SnapshotSaved { bytes, save_ms } => format!(
                "saved a snapshot for later runs ({:.0} MB in {:.2}s)",
                *bytes as f64 / 1e6,
                *save_ms as f64 / 1000.0
            ),
            Event::SnapshotFailed { why } => {
                // Shown even when quiet: every later run will boot cold too.
                self.always(&format!("[{at:>6.2}s] no snapshot saved: {why}"));
                return;
            }
            Event::ConsoleCut { dropped_bytes } => format!(
                "the guest flooded its console: {dropped_bytes} bytes dropped from the middle of console.log"
            ),
            _ => return,
        };
        self.line(&format!("[{at:>6.2}s] {text}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prune_keeps_newest() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..5 {
            std::fs::create_dir(dir.path().join(format!("2026-0{i}"))).unwrap();
        }
        prune_runs(dir.path(), 3);
        let mut left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["2026-03", "2026-04"]);
    }

    #[test]
    fn capped_read_keeps_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log");
        std::fs::write(&p, "a\r\nb\n").unwrap();
        assert_eq!(read_capped(&p), "a\nb\n");
        assert_eq!(read_capped(&dir.path().join("none")), "");
    }
}
