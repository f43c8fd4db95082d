//! The guest side of a scenario: make the cgroups, start their workers,
//! apply each step's ops and hold, then stop everything and hand in the
//! reports. What the host needs to judge placement over time (release
//! times, step times, allowed CPUs, frozen groups) goes out as
//! [`ScenarioEvent`]s; worker reports go out as they are collected (a
//! stopped or removed cgroup's reports come before the scenario ends).

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use super::cgroupfs::CgroupFs;
use crate::workload::{online_cpus, WorkloadHandle};
use ktstr_wire::scenario::{CgroupDef, GroupCpus, Mark, Op, ScenarioEvent, ScenarioSpec};
use ktstr_wire::topology::Topology;
use ktstr_wire::workload::{WorkSpec, WorkloadConfig};
use ktstr_wire::GuestMsg;

/// How often a hold checks on the scheduler.
const TICK: Duration = Duration::from_millis(20);
/// How long stopped workers have to hand in their reports.
const COLLECT_DEADLINE: Duration = Duration::from_secs(3);

/// What the executor needs from PID 1: the results port, the scheduler,
/// and a health check while it holds.
pub trait StepEnv {
    fn send(&self, msg: GuestMsg);
    /// Called every tick of a hold with the live worker pids (so the
    /// orphan reaper leaves them alone). `false` ends the run now: the
    /// scheduler under test died.
    fn tick(&mut self, live_pids: &[i32]) -> bool;
    fn detach_scheduler(&mut self) -> Result<(), String>;
    fn attach_scheduler(&mut self) -> Result<(), String>;
}

/// Workers started by one spawn, and where they are now.
#[derive(Debug)]
struct Live {
    handle: WorkloadHandle,
    specs: Vec<WorkSpec>,
    cgroup: String,
    first: u32,
    count: u32,
    affinity: Option<Vec<u32>>,
}

/// One scenario in progress.
struct Executor<'a> {
    index: u32,
    fs: CgroupFs,
    topo: &'a Topology,
    env: &'a mut dyn StepEnv,
    live: Vec<Live>,
    next_group: u32,
    /// Top-level cgroups made (removed at the end).
    made: BTreeSet<String>,
    frozen: BTreeSet<String>,
}

/// Runs scenario `index` to the end. `false` when the scheduler died and
/// the run must stop (the workers were still stopped and reported).
pub fn run(
    index: u32,
    spec: &ScenarioSpec,
    topo: &Topology,
    root: &Path,
    env: &mut dyn StepEnv,
) -> bool {
    let mut ex = Executor {
        index,
        fs: CgroupFs::new(root),
        topo,
        env,
        live: Vec::new(),
        next_group: 0,
        made: BTreeSet::new(),
        frozen: BTreeSet::new(),
    };
    let mut errors = Vec::new();
    let mut pending = Vec::new();
    for def in &spec.cgroups {
        match ex.prepare(def) {
            Ok(Some(live)) => pending.push(live),
            Ok(None) => {}
            Err(e) => errors.push(e),
        }
    }
    for live in pending {
        ex.release(live);
    }
    ex.mark(Mark::Started, now_ns(), errors);
    let mut healthy = true;
    for (i, step) in spec.steps.iter().enumerate() {
        let t0 = now_ns();
        let mut errors = Vec::new();
        for op in &step.ops {
            if let Err(e) = ex.apply(op) {
                errors.push(format!("{}: {e}", op.name()));
            }
        }
        let mark = Mark::Step {
            index: i as u32,
            ops: step.ops.iter().map(|o| o.name().to_string()).collect(),
            apply_ns: now_ns().saturating_sub(t0),
            sched: step.ops.iter().any(Op::is_scheduler_op),
        };
        ex.mark(mark, t0, errors);
        healthy = ex.hold(Duration::from_millis(step.hold.0));
        if !healthy {
            break;
        }
    }
    let rest = spec.duration.0.saturating_sub(spec.steps_ms());
    if healthy && rest > 0 {
        healthy = ex.hold(Duration::from_millis(rest));
    }
    ex.finish();
    healthy
}

impl Executor<'_> {
    /// Makes the cgroup, sets its cpuset, forks its workers (parked).
    fn prepare(&mut self, def: &CgroupDef) -> Result<Option<Live>, String> {
        self.fs.create(&def.name)?;
        if let Some(top) = def.name.split('/').next() {
            self.made.insert(top.to_string());
        }
        if let Some(spec) = &def.cpuset {
            let cpus = spec
                .resolve(self.topo)
                .map_err(|e| format!("cgroup {}: {e}", def.name))?;
            self.fs.set_cpus(&def.name, &cpus)?;
        }
        self.spawn(&def.name, &def.workers)
            .map_err(|e| format!("cgroup {}: {e}", def.name))
    }

    fn spawn(&mut self, cgroup: &str, specs: &[WorkSpec]) -> Result<Option<Live>, String> {
        if specs.is_empty() {
            return Ok(None);
        }
        let groups: Vec<WorkSpec> = specs
            .iter()
            .map(|s| WorkSpec {
                cgroup: cgroup.to_string(),
                ..s.clone()
            })
            .collect();
        let count = groups.len() as u32;
        let config = WorkloadConfig {
            duration_ms: 0,
            groups: groups.clone(),
        };
        let handle = WorkloadHandle::spawn(&config, self.topo, Some(self.fs.root()))
            .map_err(|e| e.to_string())?;
        let first = self.next_group;
        self.next_group += count;
        Ok(Some(Live {
            handle,
            specs: groups,
            cgroup: cgroup.to_string(),
            first,
            count,
            affinity: None,
        }))
    }

    /// Starts the workers and records when (their clock's zero).
    fn release(&mut self, mut live: Live) {
        live.handle.start();
        let mark = Mark::Released {
            cgroup: live.cgroup.clone(),
            first: live.first,
            count: live.count,
            specs: live.specs.clone(),
        };
        let at = live.handle.released_ns().unwrap_or_else(now_ns);
        self.live.push(live);
        self.mark(mark, at, Vec::new());
    }

    fn apply(&mut self, op: &Op) -> Result<(), String> {
        match op {
            Op::AddCgroup(def) => {
                if let Some(live) = self.prepare(def)? {
                    self.release(live);
                }
                Ok(())
            }
            Op::RemoveCgroup { cgroup } => {
                self.stop_where(|c| in_tree(c, cgroup));
                self.frozen.retain(|f| !in_tree(f, cgroup));
                self.fs.remove_tree(cgroup);
                match self.fs.dir(cgroup).exists() {
                    true => Err(format!("cgroup {cgroup} could not be removed")),
                    false => Ok(()),
                }
            }
            Op::SetCpuset { cgroup, cpuset } => {
                let cpus = cpuset.resolve(self.topo).map_err(|e| e.to_string())?;
                self.fs.set_cpus(cgroup, &cpus)
            }
            Op::ClearCpuset { cgroup } => self.fs.set_cpus(cgroup, &[]),
            Op::SwapCpusets { a, b } => {
                let (ca, cb) = (self.fs.cpus(a), self.fs.cpus(b));
                // Widen first so neither write empties a cgroup's CPUs.
                self.fs.set_cpus(a, &union(&ca, &cb))?;
                self.fs.set_cpus(b, &ca)?;
                self.fs.set_cpus(a, &cb)
            }
            Op::MoveTasks { from, to } => {
                self.fs.move_all(from, to)?;
                for l in self.live.iter_mut().filter(|l| l.cgroup == *from) {
                    l.cgroup = to.clone();
                }
                Ok(())
            }
            Op::SetAffinity { cgroup, cpus } => {
                let mask = match cpus {
                    Some(spec) => spec.resolve(self.topo).map_err(|e| e.to_string())?,
                    None => online_cpus(self.topo),
                };
                for tid in self.fs.threads(cgroup) {
                    set_thread_affinity_of(tid, &mask)
                        .map_err(|e| format!("tid {tid}: sched_setaffinity: {e}"))?;
                }
                for l in self.live.iter_mut().filter(|l| l.cgroup == *cgroup) {
                    l.affinity = cpus.as_ref().map(|_| mask.clone());
                }
                Ok(())
            }
            Op::SpawnWorkers { cgroup, workers } => {
                if let Some(live) = self.spawn(cgroup, workers)? {
                    self.release(live);
                }
                Ok(())
            }
            Op::StopWorkers { cgroup } => {
                self.stop_where(|c| c == cgroup);
                Ok(())
            }
            Op::Freeze { cgroup } => {
                self.fs.freeze(cgroup, true)?;
                self.frozen.insert(cgroup.clone());
                Ok(())
            }
            Op::Unfreeze { cgroup } => {
                self.fs.freeze(cgroup, false)?;
                self.frozen.remove(cgroup);
                Ok(())
            }
            Op::DetachScheduler => self.env.detach_scheduler(),
            Op::AttachScheduler => self.env.attach_scheduler(),
            Op::RestartScheduler => {
                self.env.detach_scheduler()?;
                self.env.attach_scheduler()
            }
        }
    }

    /// Stops the workers whose current cgroup matches and sends their
    /// reports (group numbers made unique within the scenario).
    fn stop_where(&mut self, matches: impl Fn(&str) -> bool) {
        let (stop, keep): (Vec<Live>, Vec<Live>) = std::mem::take(&mut self.live)
            .into_iter()
            .partition(|l| matches(&l.cgroup));
        self.live = keep;
        for frozen in self.frozen.clone() {
            if stop.iter().any(|l| in_tree(&l.cgroup, &frozen)) {
                let _ = self.fs.freeze(&frozen, false);
            }
        }
        for l in stop {
            for mut report in l.handle.stop(COLLECT_DEADLINE) {
                report.group += l.first;
                self.env.send(GuestMsg::Worker(Box::new(report)));
            }
        }
    }

    /// Holds the current state for `len`, ticking the health check.
    fn hold(&mut self, len: Duration) -> bool {
        let end = Instant::now() + len;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return true;
            }
            std::thread::sleep(TICK.min(left));
            let pids: Vec<i32> = self.live.iter().flat_map(|l| l.handle.pids()).collect();
            if !self.env.tick(&pids) {
                return false;
            }
        }
    }

    /// Sends a mark with the allowed CPUs and frozen groups as they are now.
    fn mark(&mut self, mark: Mark, mono_ns: u64, errors: Vec<String>) {
        let mut allowed = Vec::new();
        let mut frozen = Vec::new();
        for l in &self.live {
            let cpuset = self.fs.effective_cpus(&l.cgroup);
            let cpus = match &l.affinity {
                Some(mask) => {
                    let both: Vec<u32> = cpuset
                        .iter()
                        .copied()
                        .filter(|c| mask.contains(c))
                        .collect();
                    if both.is_empty() {
                        cpuset
                    } else {
                        both
                    }
                }
                None => cpuset,
            };
            let is_frozen = self.frozen.iter().any(|f| in_tree(&l.cgroup, f));
            for group in l.first..l.first + l.count {
                allowed.push(GroupCpus {
                    group,
                    cpus: cpus.clone(),
                });
                if is_frozen {
                    frozen.push(group);
                }
            }
        }
        self.env.send(GuestMsg::Scenario(Box::new(ScenarioEvent {
            scenario: self.index,
            mark,
            mono_ns,
            uptime_ms: uptime_ms(),
            allowed,
            frozen,
            errors,
        })));
    }

    /// Thaws, stops and reports every worker, removes the cgroups.
    fn finish(&mut self) {
        for f in std::mem::take(&mut self.frozen) {
            let _ = self.fs.freeze(&f, false);
        }
        self.stop_where(|_| true);
        for top in std::mem::take(&mut self.made) {
            self.fs.remove_tree(&top);
        }
        self.mark(Mark::Ended, now_ns(), Vec::new());
    }
}

/// `cgroup` is `top` or below it.
fn in_tree(cgroup: &str, top: &str) -> bool {
    cgroup == top
        || cgroup
            .strip_prefix(top)
            .is_some_and(|rest| rest.starts_with('/'))
}

fn union(a: &[u32], b: &[u32]) -> Vec<u32> {
    let set: BTreeSet<u32> = a.iter().chain(b).copied().collect();
    set.into_iter().collect()
}

/// Restricts thread `tid` (any process) to `cpus`.
fn set_thread_affinity_of(tid: i32, cpus: &[u32]) -> std::io::Result<()> {
    // SAFETY: cpu_set_t is plain data; zeroed is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &cpu in cpus
        .iter()
        .filter(|&&c| (c as usize) < libc::CPU_SETSIZE as usize)
    {
        // SAFETY: index checked against the set size.
        unsafe { libc::CPU_SET(cpu as usize, &mut set) };
    }
    // SAFETY: valid set pointer and size.
    match unsafe { libc::sched_setaffinity(tid, std::mem::size_of_val(&set), &set) } {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

/// `CLOCK_MONOTONIC` nanoseconds (the clock worker release times use).
pub use crate::clock::monotonic_ns as now_ns;
use crate::clock::uptime_ms;
