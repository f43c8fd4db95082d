//! Splits a run's events into one [`ScenarioRun`] per scenario: the
//! guest runs scenarios one after another, so every worker report between
//! a scenario's first mark and its `Ended` mark is that scenario's.

use ktstr_wire::scenario::{Mark, ScenarioEvent};
use ktstr_wire::workload::{WorkSpec, WorkerReport};
use ktstr_wire::{GuestMsg, Phase};

use crate::events::TimedEvent;

/// What the guest sent about one scenario (or the plain workload, which
/// is judged as a scenario without steps: see [`plain_run`]).
#[derive(Debug, Clone, Default)]
pub struct ScenarioRun {
    pub marks: Vec<ScenarioEvent>,
    pub workers: Vec<WorkerReport>,
    pub ended: bool,
    /// The groups' specs when no `Released` mark carries them (the plain
    /// workload: the host planned them).
    pub specs: Vec<WorkSpec>,
    /// Why the guest's account of this scenario cannot be trusted whole
    /// (it sent more marks or reports than any honest guest does).
    pub overflow: Option<String>,
    /// Why the scheduler under test left while this scenario ran, not by
    /// one of its ops: the guest then cuts the scenario short, and its
    /// measurements describe a few disrupted moments (tasks switching
    /// class), not the scheduler. The run's own findings say what failed.
    pub disrupted: Option<String>,
}

/// Most step marks, and most worker reports, kept per scenario. An honest
/// guest sends a few dozen of each; the checks compare marks with workers,
/// so this also bounds their time on hostile input.
const MAX_PER_SCENARIO: usize = 10_000;

fn over_limit() -> String {
    format!("the guest sent more than {MAX_PER_SCENARIO} step marks or worker reports (no honest guest does): its account cannot be trusted")
}

/// One entry per scenario index below `count` (empty when it never ran).
pub fn split(events: &[TimedEvent], count: usize) -> Vec<ScenarioRun> {
    let mut runs = vec![ScenarioRun::default(); count];
    let mut current: Option<usize> = None;
    for msg in events.iter().filter_map(TimedEvent::guest) {
        match msg {
            GuestMsg::Scenario(ev) => {
                let i = ev.scenario as usize;
                if i >= count {
                    continue;
                }
                current = Some(i);
                if ev.mark == Mark::Ended {
                    runs[i].ended = true;
                    current = None;
                }
                if runs[i].marks.len() < MAX_PER_SCENARIO {
                    runs[i].marks.push(ev.as_ref().clone());
                } else {
                    runs[i].overflow.get_or_insert_with(over_limit);
                }
            }
            GuestMsg::Worker(r) => {
                if let Some(i) = current {
                    if runs[i].workers.len() < MAX_PER_SCENARIO {
                        runs[i].workers.push(r.as_ref().clone());
                    } else {
                        runs[i].overflow.get_or_insert_with(over_limit);
                    }
                }
            }
            other => {
                if let (Some(i), Some(why)) = (current, scheduler_lost(other)) {
                    runs[i].disrupted.get_or_insert(why);
                }
            }
        }
    }
    runs
}

/// The plain workload as a scenario without steps: every worker report of
/// the run, the planned `specs`, ended when the guest stopped the workload,
/// disrupted when the scheduler left while it ran.
pub fn plain_run(events: &[TimedEvent], specs: &[WorkSpec]) -> ScenarioRun {
    let mut run = ScenarioRun {
        specs: specs.to_vec(),
        ..ScenarioRun::default()
    };
    let mut running = false;
    for msg in events.iter().filter_map(TimedEvent::guest) {
        match msg {
            GuestMsg::Phase { phase, .. } => match phase {
                Phase::WorkloadStarted => running = true,
                Phase::WorkloadStopped => {
                    running = false;
                    run.ended = true;
                }
                _ => {}
            },
            GuestMsg::Worker(r) if run.workers.len() < MAX_PER_SCENARIO => {
                run.workers.push(r.as_ref().clone())
            }
            GuestMsg::Worker(_) => {
                run.overflow.get_or_insert_with(over_limit);
            }
            other if running => {
                if let Some(why) = scheduler_lost(other) {
                    run.disrupted.get_or_insert(why);
                }
            }
            _ => {}
        }
    }
    run
}

/// Whether `msg` says the scheduler left without being asked: the guest
/// reports an unexpected sched_ext state or exit, and the kernel logs the
/// disable as an error (a requested detach is logged at info level).
fn scheduler_lost(msg: &GuestMsg) -> Option<String> {
    match msg {
        GuestMsg::SchedExtState { state, .. } => Some(format!("sched_ext state became {state}")),
        GuestMsg::SchedulerExited {
            requested: false,
            exit,
            ..
        } => Some(format!("the scheduler exited on its own ({exit})")),
        GuestMsg::KernelLog { level, line, .. }
            if *level <= 4
                && line.contains("sched_ext: BPF scheduler")
                && line.contains("disabled") =>
        {
            Some(line.clone())
        }
        _ => None,
    }
}

impl ScenarioRun {
    /// The spec of worker group `group` and its release time (monotonic
    /// ns; 0 for the plain workload, which has no marks to time against).
    pub fn group(&self, group: u32) -> Option<(&WorkSpec, u64)> {
        if self.marks.is_empty() {
            return self.specs.get(group as usize).map(|s| (s, 0));
        }
        self.marks.iter().find_map(|m| match &m.mark {
            Mark::Released {
                first,
                count,
                specs,
                ..
            } if group.checked_sub(*first).is_some_and(|d| d < *count) => {
                specs.get((group - first) as usize).map(|s| (s, m.mono_ns))
            }
            _ => None,
        })
    }

    /// `(from, to)` monotonic intervals during which `group` was frozen.
    pub fn frozen(&self, group: u32) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut since: Option<u64> = None;
        for m in &self.marks {
            let frozen = m.frozen.contains(&group);
            match (since, frozen) {
                (None, true) => since = Some(m.mono_ns),
                (Some(s), false) => {
                    out.push((s, m.mono_ns));
                    since = None;
                }
                _ => {}
            }
        }
        if let Some(s) = since {
            out.push((s, u64::MAX));
        }
        out
    }

    /// Windows around scheduler ops (attach/detach take a while, and tasks
    /// switch class): gaps inside them are expected.
    pub fn sched_windows(&self, grace_ns: u64) -> Vec<(u64, u64)> {
        self.marks
            .iter()
            .filter_map(|m| match m.mark {
                Mark::Step {
                    apply_ns,
                    sched: true,
                    ..
                } => Some((
                    m.mono_ns,
                    m.mono_ns.saturating_add(apply_ns).saturating_add(grace_ns),
                )),
                _ => None,
            })
            .collect()
    }

    /// `(mono_ns, allowed CPUs)` of `group`, in time order.
    pub fn allowed(&self, group: u32) -> Vec<(u64, &[u32])> {
        self.marks
            .iter()
            .filter_map(|m| {
                m.allowed
                    .iter()
                    .find(|g| g.group == group)
                    .map(|g| (m.mono_ns, g.cpus.as_slice()))
            })
            .collect()
    }
}
