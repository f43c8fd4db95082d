//! ktstr-vm's guest init: PID 1 inside the test VM.
//!
//! The sequence, top to bottom: mount the kernel filesystems, open the
//! results port, wait there for the run (its archive comes over the port;
//! a snapshot restores to this point), say hello, read the run config,
//! report the topology, start
//! forwarding kernel log records, start the scheduler and wait for it to
//! attach, run the workload while watching the scheduler, collect reports,
//! stop the scheduler, say done, power off. Every failure is reported over
//! the port before power-off; PID 1 never exits or panics out.

mod init;

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ktstr_guest::topology;
use ktstr_guest::workload::WorkloadHandle;
use ktstr_wire::topology::Topology;
use ktstr_wire::{GuestMsg, Phase, RunConfig, Stage, PORT_NAME, PROTOCOL_VERSION, RUN_CONFIG_PATH};

use init::clock::uptime_ms;
use init::payload::Payloads;
use init::port::Reporter;
use init::scheduler::{sched_ext_state, still_expected, Attach, Scheduler};
use init::{
    cgroup, exec_failure, faults, kmsg, mounts, port, power, reaper, receive, scenarios, shell,
    trace,
};

/// The results port, for the panic path in `main` (PID 1 must say why it
/// is going down before it powers off).
static REPORTER: std::sync::OnceLock<Reporter> = std::sync::OnceLock::new();

/// Present when the kernel has sched_ext (reported in `Hello`).
const SCHED_EXT_DIR: &str = "/sys/kernel/sched_ext";
/// How long a panic report waits for the results port.
const PANIC_REPORT_WAIT: Duration = Duration::from_millis(200);
/// How long the results port may take to appear after init starts.
const PORT_WAIT: Duration = Duration::from_secs(3);
/// How often the workload loop checks the scheduler and reaps orphans.
const MONITOR_TICK: Duration = Duration::from_millis(20);
/// How long workers have to hand in their reports after the stop signal.
const COLLECT_DEADLINE: Duration = Duration::from_secs(3);
/// After SIGTERM at the end of the workload, how long payloads have before SIGKILL.
const PAYLOAD_STOP_GRACE: Duration = Duration::from_secs(1);

fn main() {
    let started_ms = uptime_ms();
    // Before any thread exists: see ktstr_guest::panic_hook.
    ktstr_guest::panic_hook::install(report_panic);
    // The hook has reported a panic that reaches here; PID 1 must not
    // exit (the kernel would panic), so it powers off.
    let _ = std::panic::catch_unwind(|| run(started_ms));
    power::power_off();
}

/// A panic on any PID 1 thread, to the host as a harness error. Bounded:
/// the panicking thread may hold the port's lock itself.
fn report_panic(text: &str) {
    if let Some(rep) = REPORTER.get() {
        let msg = GuestMsg::Error {
            stage: Stage::Panic,
            message: text.to_string(),
        };
        rep.send_within(&msg, PANIC_REPORT_WAIT);
    }
}

fn run(started_ms: u64) {
    let mount_failures = mounts::mount_all();
    std::env::set_var(
        "PATH",
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    );
    let (rep, reader) = match port::wait_for_port(PORT_NAME, PORT_WAIT) {
        Some(path) => match Reporter::open(&path) {
            Ok((rep, reader)) => (rep, Some(reader)),
            Err(e) => {
                eprintln!("ktstr-guest-init: open {}: {e}", path.display());
                (Reporter::console_only(), None)
            }
        },
        None => {
            eprintln!("ktstr-guest-init: no virtio port named {PORT_NAME}");
            (Reporter::console_only(), None)
        }
    };
    let _ = REPORTER.set(rep.clone());
    // The run comes over the port (a snapshot of this VM is taken while
    // it waits here, so everything before is shared by every run).
    let received = match &reader {
        Some(port) => receive::receive_run(port, &rep, Path::new("/")),
        None => Err("no results port to receive the run on".into()),
    };
    let kernel_release = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    rep.send(&GuestMsg::Hello {
        protocol: PROTOCOL_VERSION,
        kernel_release,
        uptime_ms: started_ms,
        sched_ext: Path::new(SCHED_EXT_DIR).exists(),
    });
    rep.send(&GuestMsg::Phase {
        phase: Phase::Init,
        uptime_ms: started_ms,
    });
    let mut fatal = false;
    for (required, message) in mount_failures {
        rep.error(Stage::Mount, message);
        fatal |= required;
    }
    if let Err(e) = &received {
        rep.error(Stage::Config, format!("receiving the run: {e}"));
        fatal = true;
    }
    if !fatal {
        if let Some(cfg) = read_config(&rep) {
            run_config(&cfg, &rep);
        }
    }
    // Let the kmsg forwarder pass on what the kernel said last.
    std::thread::sleep(Duration::from_millis(30));
    reaper::reap_orphans(|_| false);
    rep.send(&GuestMsg::Done {
        uptime_ms: uptime_ms(),
    });
}

fn read_config(rep: &Reporter) -> Option<RunConfig> {
    let text = match std::fs::read_to_string(RUN_CONFIG_PATH) {
        Ok(t) => t,
        Err(e) => {
            rep.error(Stage::Config, format!("read {RUN_CONFIG_PATH}: {e}"));
            return None;
        }
    };
    match serde_json::from_str::<RunConfig>(&text) {
        Ok(cfg) if cfg.protocol == PROTOCOL_VERSION => Some(cfg),
        Ok(cfg) => {
            rep.error(
                Stage::Config,
                format!(
                    "protocol {} from the host, guest speaks {PROTOCOL_VERSION}",
                    cfg.protocol
                ),
            );
            None
        }
        Err(e) => {
            rep.error(Stage::Config, format!("parse {RUN_CONFIG_PATH}: {e}"));
            None
        }
    }
}

fn run_config(cfg: &RunConfig, rep: &Reporter) {
    let topo = match topology::observe(Path::new("/sys")) {
        Ok(t) => t,
        Err(e) => {
            rep.error(Stage::Topology, e.to_string());
            Topology::default()
        }
    };
    rep.send(&GuestMsg::Topology(topo.clone()));
    let stop_kmsg = Arc::new(AtomicBool::new(false));
    {
        let (rep, all, stop) = (rep.clone(), cfg.forward_all_kmsg, stop_kmsg.clone());
        std::thread::spawn(move || kmsg::forward(rep, all, stop));
    }
    raise_memlock_limit(rep);
    rep.send(&GuestMsg::Phase {
        phase: Phase::Ready,
        uptime_ms: uptime_ms(),
    });
    // Stops, drains and reports when dropped, on every path out of here.
    let _tracer = cfg
        .trace
        .as_ref()
        .and_then(|t| trace::Tracer::start(t, rep));

    let mut scheduler = match &cfg.scheduler {
        None => None,
        Some(sc) => match attach_scheduler(sc, rep) {
            Some(s) => Some(s),
            None => return,
        },
    };
    if cfg.shell {
        shell::run(
            rep,
            &scheduler
                .as_ref()
                .map(|s| s.pid())
                .into_iter()
                .collect::<Vec<_>>(),
        );
    } else if !cfg.scenarios.is_empty() {
        scenarios::run(cfg, &topo, &mut scheduler, rep);
    } else {
        run_workload(cfg, &topo, scheduler.as_mut(), rep);
    }
    if let Some(s) = scheduler {
        let grace = Duration::from_millis(cfg.scheduler.as_ref().map_or(0, |c| c.stop_grace_ms));
        let (exit, requested, at_ms) = s.stop(grace);
        rep.send(&GuestMsg::SchedulerExited {
            exit,
            requested,
            uptime_ms: at_ms,
        });
        rep.send(&GuestMsg::Phase {
            phase: Phase::SchedulerStopped,
            uptime_ms: uptime_ms(),
        });
    }
}

/// Starts the scheduler and waits for sched_ext to report it enabled.
/// Returns `None` (after reporting why) when it did not attach. A kernel
/// without sched_ext is skipped silently: `Hello.sched_ext` already told
/// the host, which decides "no sched_ext" in one place.
fn attach_scheduler(sc: &ktstr_wire::SchedulerConfig, rep: &Reporter) -> Option<Scheduler> {
    if !Path::new(SCHED_EXT_DIR).exists() {
        return None;
    }
    let mut s = match Scheduler::start(sc, rep) {
        Ok(s) => s,
        Err(e) => {
            rep.send(&GuestMsg::SchedulerExecFailed {
                path: sc.path.clone(),
                reason: exec_failure::spawn_reason(&e),
            });
            return None;
        }
    };
    match s.wait_attached(Duration::from_millis(sc.attach_timeout_ms)) {
        Attach::Attached { ops } => {
            let now = uptime_ms();
            rep.send(&GuestMsg::SchedulerAttached {
                ops,
                uptime_ms: now,
            });
            rep.send(&GuestMsg::Phase {
                phase: Phase::SchedulerAttached,
                uptime_ms: now,
            });
            Some(s)
        }
        Attach::Exited(exit) => {
            s.join_logs(Duration::from_millis(500));
            match exec_failure::loader_refusal(&exit, s.first_stderr_line()) {
                Some(line) => rep.send(&GuestMsg::SchedulerExecFailed {
                    path: sc.path.clone(),
                    reason: format!("the dynamic loader refused it ({exit}): {line}"),
                }),
                None => rep.send(&GuestMsg::SchedulerExited {
                    exit,
                    requested: false,
                    uptime_ms: uptime_ms(),
                }),
            }
            None
        }
        Attach::TimedOut { state } => {
            rep.send(&GuestMsg::SchedulerAttachTimeout {
                waited_ms: sc.attach_timeout_ms,
                state,
            });
            let (exit, requested, at_ms) = s.stop(Duration::from_millis(sc.stop_grace_ms));
            rep.send(&GuestMsg::SchedulerExited {
                exit,
                requested,
                uptime_ms: at_ms,
            });
            None
        }
    }
}

/// Runs the workers for the configured duration while watching the
/// scheduler; ends early (after a short settle) when the scheduler dies or
/// sched_ext changes under the test, so a failure reaches the host fast.
fn run_workload(
    cfg: &RunConfig,
    topo: &Topology,
    mut sched: Option<&mut Scheduler>,
    rep: &Reporter,
) {
    let cgroup_root = match cgroup::setup(Path::new("/sys/fs/cgroup")) {
        Ok(root) => Some(root),
        Err(e) => {
            rep.error(Stage::Cgroup, e);
            None
        }
    };
    let mut handle = match WorkloadHandle::spawn(&cfg.workload, topo, cgroup_root.as_deref()) {
        Ok(h) => h,
        Err(e) => {
            rep.error(Stage::Workload, e.to_string());
            return;
        }
    };
    let attached = sched_ext_state();
    handle.start();
    rep.send(&GuestMsg::Phase {
        phase: Phase::WorkloadStarted,
        uptime_ms: uptime_ms(),
    });
    let end = Instant::now() + Duration::from_millis(cfg.workload.duration_ms);
    let mut injector = faults::Injector::new(&cfg.faults);
    let mut payloads = Payloads::start(&cfg.payloads, cgroup_root.as_deref(), rep);
    let mut known: Vec<i32> = handle.pids();
    known.extend(payloads.pids());
    if let Some(s) = sched.as_deref() {
        known.push(s.pid());
    }
    while Instant::now() < end && !payloads.foreground_done() {
        std::thread::sleep(MONITOR_TICK.min(end.saturating_duration_since(Instant::now())));
        injector.fire_due(sched.as_deref().map(Scheduler::pid), rep);
        if let Some(s) = sched.as_deref_mut() {
            if !still_expected(Some(s), &attached, rep) {
                break;
            }
        }
        payloads.poll(rep);
        reaper::reap_orphans(|pid| known.contains(&pid));
    }
    payloads.stop_all(PAYLOAD_STOP_GRACE, rep);
    rep.send(&GuestMsg::Phase {
        phase: Phase::WorkloadStopped,
        uptime_ms: uptime_ms(),
    });
    for report in handle.stop(COLLECT_DEADLINE) {
        rep.send(&GuestMsg::Worker(Box::new(report)));
    }
    rep.send(&GuestMsg::Phase {
        phase: Phase::ReportsCollected,
        uptime_ms: uptime_ms(),
    });
}

/// BPF maps are charged to memlock on older kernels; never let that limit
/// be the reason a scheduler fails to load.
fn raise_memlock_limit(rep: &Reporter) {
    use nix::sys::resource::{setrlimit, Resource, RLIM_INFINITY};
    if let Err(e) = setrlimit(Resource::RLIMIT_MEMLOCK, RLIM_INFINITY, RLIM_INFINITY) {
        rep.error(Stage::Rlimit, format!("RLIMIT_MEMLOCK: {e}"));
    }
}
