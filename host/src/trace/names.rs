//! Who each tid is: its process (tgid) and a name a person recognises.
//! Workers are named from their reports (group, index, work type,
//! cgroup); the scheduler from its path; every other task by its latest
//! `comm`. Threads are told from processes by `task_newtask`'s clone
//! flags, on top of the `/proc` snapshot taken when tracing started.

use std::collections::BTreeMap;

use ktstr_wire::workload::WorkerReport;
use ktstr_wire::TaskName;

use super::model::{Kind, Record, CLONE_THREAD};

/// Most tasks named (a fork storm cannot grow the table without bound).
pub const MAX_TASKS: usize = 65_536;

/// One task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    pub tgid: i32,
    pub name: String,
    /// The worker this task is, as `(group, index)`.
    pub worker: Option<(u32, u32)>,
    /// Its cgroup, for workers ("" = the run's root).
    pub cgroup: Option<String>,
    /// The process that forked it, when the trace saw the fork.
    pub ppid: Option<i32>,
}

/// tid -> task.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Names {
    pub tasks: BTreeMap<i32, Task>,
}

/// How a worker is shown: `g0.3 spin_wait @cg` (cgroup `/` = the root).
pub fn worker_label(w: &WorkerReport) -> String {
    let cg = if w.cgroup.is_empty() { "/" } else { &w.cgroup };
    format!("g{}.{} {} @{cg}", w.group, w.index, w.work_type)
}

impl Names {
    /// From the `/proc` snapshot, then the records in time order, then
    /// the workers and the scheduler (which win over `comm`).
    pub fn build(
        start: &[TaskName],
        records: &[&Record],
        workers: &[WorkerReport],
        scheduler: Option<(i32, &str)>,
    ) -> Names {
        let mut n = Names::default();
        for t in start {
            n.set(t.tid, Some(t.tgid), &t.comm);
        }
        for r in records {
            match &r.kind {
                Kind::NewTask {
                    pid,
                    comm,
                    clone_flags,
                } => {
                    let tgid = if clone_flags & CLONE_THREAD != 0 {
                        n.tgid(r.pid)
                    } else {
                        *pid
                    };
                    n.set(*pid, Some(tgid), comm);
                }
                Kind::Rename { pid, newcomm, .. } => n.set(*pid, None, newcomm),
                Kind::Switch {
                    prev_pid,
                    prev_comm,
                    next_pid,
                    next_comm,
                    ..
                } => {
                    n.seen(*prev_pid, prev_comm);
                    n.seen(*next_pid, next_comm);
                }
                Kind::Fork {
                    parent_pid,
                    child_pid,
                    child_comm,
                    ..
                } => {
                    n.seen(*child_pid, child_comm);
                    let parent = n.tgid(*parent_pid);
                    if let Some(t) = n.tasks.get_mut(child_pid) {
                        t.ppid = Some(parent);
                    }
                }
                _ => {}
            }
        }
        for w in workers {
            let tgid = n.tgid(w.tid);
            n.set(w.tid, Some(tgid), &worker_label(w));
            if let Some(t) = n.tasks.get_mut(&w.tid) {
                t.worker = Some((w.group, w.index));
                t.cgroup = Some(w.cgroup.clone());
            }
        }
        if let Some((pid, path)) = scheduler {
            let base = path.rsplit('/').next().unwrap_or(path);
            n.set(pid, Some(pid), &format!("{base} (scheduler)"));
        }
        n
    }

    /// The process of `tid` (itself when unknown).
    pub fn tgid(&self, tid: i32) -> i32 {
        self.tasks.get(&tid).map_or(tid, |t| t.tgid)
    }

    /// The name of `tid`, or `comm` when it has none.
    pub fn name<'a>(&'a self, tid: i32, comm: &'a str) -> &'a str {
        self.tasks.get(&tid).map_or(comm, |t| t.name.as_str())
    }

    fn set(&mut self, tid: i32, tgid: Option<i32>, name: &str) {
        if tid <= 0 || (self.tasks.len() >= MAX_TASKS && !self.tasks.contains_key(&tid)) {
            return;
        }
        let t = self.tasks.entry(tid).or_insert_with(|| Task {
            tgid: tid,
            name: String::new(),
            worker: None,
            cgroup: None,
            ppid: None,
        });
        if let Some(g) = tgid {
            t.tgid = g;
        }
        t.name = name.to_string();
    }

    /// A `comm` seen in passing: names a task only if nothing better did.
    fn seen(&mut self, tid: i32, comm: &str) {
        if !self.tasks.contains_key(&tid) {
            self.set(tid, None, comm);
        }
    }
}
