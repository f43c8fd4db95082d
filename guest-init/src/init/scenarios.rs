//! PID 1's side of scenarios: the [`StepEnv`] over the results port and the
//! scheduler process. Part of the init binary, not the shared library,
//! because the scheduler and the reporter live there.

use std::path::Path;
use std::time::{Duration, Instant};

use ktstr_guest::steps::{exec, StepEnv};
use ktstr_wire::topology::Topology;
use ktstr_wire::{GuestMsg, Phase, RunConfig, SchedulerConfig, Stage};

use super::clock::uptime_ms;
use super::port::Reporter;
use super::scheduler::{sched_ext_state, still_expected, Attach, Scheduler};
use super::{cgroup, reaper};

/// How long sched_ext may take to settle after a detach.
const DETACH_SETTLE: Duration = Duration::from_secs(3);

/// Runs every scenario of `cfg` in order, between the workload phases.
pub fn run(cfg: &RunConfig, topo: &Topology, scheduler: &mut Option<Scheduler>, rep: &Reporter) {
    let root = match cgroup::setup(Path::new("/sys/fs/cgroup")) {
        Ok(root) => root,
        Err(e) => {
            rep.error(
                Stage::Cgroup,
                format!("scenarios need the run's cgroup: {e}"),
            );
            return;
        }
    };
    let phase = |phase| {
        rep.send(&GuestMsg::Phase {
            phase,
            uptime_ms: uptime_ms(),
        })
    };
    phase(Phase::WorkloadStarted);
    let mut env = Env {
        rep,
        sched: scheduler,
        cfg: cfg.scheduler.as_ref(),
        expected: sched_ext_state(),
    };
    for (i, spec) in cfg.scenarios.iter().enumerate() {
        if !exec::run(i as u32, spec, topo, &root, &mut env) {
            break;
        }
    }
    phase(Phase::WorkloadStopped);
    phase(Phase::ReportsCollected);
}

struct Env<'a> {
    rep: &'a Reporter,
    sched: &'a mut Option<Scheduler>,
    cfg: Option<&'a SchedulerConfig>,
    /// sched_ext state the run expects now (changes with detach/attach).
    expected: (String, Option<String>),
}

impl StepEnv for Env<'_> {
    fn send(&self, msg: GuestMsg) {
        self.rep.send(&msg);
    }

    fn tick(&mut self, live_pids: &[i32]) -> bool {
        if !still_expected(self.sched.as_mut(), &self.expected, self.rep) {
            return false;
        }
        let sched = self.sched.as_ref().map(Scheduler::pid);
        reaper::reap_orphans(|pid| live_pids.contains(&pid) || Some(pid) == sched);
        true
    }

    fn detach_scheduler(&mut self) -> Result<(), String> {
        let s = self
            .sched
            .take()
            .ok_or("no scheduler is attached (an EEVDF run, or already detached)")?;
        let grace = Duration::from_millis(self.cfg.map_or(0, |c| c.stop_grace_ms));
        let (exit, requested, at_ms) = s.stop(grace);
        self.rep.send(&GuestMsg::SchedulerExited {
            exit,
            requested,
            uptime_ms: at_ms,
        });
        let end = Instant::now() + DETACH_SETTLE;
        while sched_ext_state().0 != "disabled" && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.expected = sched_ext_state();
        match self.expected.0.as_str() {
            "disabled" => Ok(()),
            other => Err(format!(
                "sched_ext is still {other:?} {DETACH_SETTLE:?} after the scheduler exited"
            )),
        }
    }

    fn attach_scheduler(&mut self) -> Result<(), String> {
        if self.sched.is_some() {
            return Err("the scheduler is already attached".into());
        }
        let cfg = self
            .cfg
            .ok_or("this run has no --scheduler (EEVDF): nothing to attach")?;
        let mut s = Scheduler::start(cfg, self.rep)
            .map_err(|e| format!("cannot start {}: {e}", cfg.path))?;
        match s.wait_attached(Duration::from_millis(cfg.attach_timeout_ms)) {
            Attach::Attached { ops } => {
                self.rep.send(&GuestMsg::SchedulerAttached {
                    ops,
                    uptime_ms: uptime_ms(),
                });
                *self.sched = Some(s);
                self.expected = sched_ext_state();
                Ok(())
            }
            Attach::Exited(exit) => {
                s.join_logs(Duration::from_millis(500));
                self.rep.send(&GuestMsg::SchedulerExited {
                    exit,
                    requested: false,
                    uptime_ms: uptime_ms(),
                });
                Err(format!("the scheduler exited while attaching ({exit})"))
            }
            Attach::TimedOut { state } => {
                self.rep.send(&GuestMsg::SchedulerAttachTimeout {
                    waited_ms: cfg.attach_timeout_ms,
                    state: state.clone(),
                });
                let (exit, requested, at_ms) = s.stop(Duration::from_millis(cfg.stop_grace_ms));
                self.rep.send(&GuestMsg::SchedulerExited {
                    exit,
                    requested,
                    uptime_ms: at_ms,
                });
                Err(format!(
                    "the scheduler did not attach (sched_ext state {state})"
                ))
            }
        }
    }
}
