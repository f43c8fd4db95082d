//! Everything a worker needs, decided in the parent before any fork: the
//! resolved CPU mask, settings, seed, checkpoint cadence, and the pipes and
//! shared cells of its cooperating unit. The child then only applies and
//! runs; it never looks at the topology or the spec again.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use super::affinity::{online_cpus, resolve_affinity, ResolvedAffinity};
use super::rng::worker_seed;
use super::WorkloadError;
use ktstr_wire::topology::Topology;
use ktstr_wire::workload::{
    CloneMode, MemPolicy, MpolFlags, SchedPolicy, WorkType, WorkloadConfig,
};

/// One worker, ready to fork.
#[derive(Debug, Clone)]
pub(crate) struct WorkerPlan {
    pub group: u32,
    pub index: u32,
    /// Position inside its unit (0 = leader of a pair or fan-out group).
    pub member: u32,
    pub cgroup: String,
    pub work: WorkType,
    pub affinity: ResolvedAffinity,
    pub policy: SchedPolicy,
    pub nice: Option<i32>,
    pub mem_policy: MemPolicy,
    pub mpol_flags: MpolFlags,
    pub seed: u64,
    pub units_per_checkpoint: u64,
    /// `[read, write]` ends of the unit's pipes.
    pub pipes: Vec<[RawFd; 2]>,
    /// First futex word / cell of the unit in [`super::shared::Shared`].
    pub word_base: usize,
    pub cell_base: usize,
    /// Cell where the worker publishes its tid (so a sentinel can name it).
    pub tid_cell: usize,
    /// NUMA node ids of the topology (for node sweeps).
    pub nodes: Vec<u32>,
    /// Directory for I/O work types' scratch files.
    pub io_dir: PathBuf,
    /// Problems found before the fork (e.g. the cgroup could not be made).
    pub errors: Vec<String>,
}

/// Workers that share one forked process: one in Fork mode, a whole
/// group in Thread mode.
#[derive(Debug)]
pub(crate) struct ProcPlan {
    pub workers: Vec<WorkerPlan>,
    /// `cgroup.procs` to write `0` into, when the group has a cgroup.
    pub cgroup_procs: Option<PathBuf>,
}

/// The whole workload, planned: processes, and the fds the parent made for
/// units (closed by the parent once every worker is forked).
#[derive(Debug)]
pub(crate) struct Plan {
    pub procs: Vec<ProcPlan>,
    pub unit_fds: Vec<OwnedFd>,
    pub words: usize,
    pub cells: usize,
}

impl Plan {
    pub(crate) fn build(
        config: &WorkloadConfig,
        topo: &Topology,
        cgroup_root: Option<&Path>,
    ) -> Result<Plan, WorkloadError> {
        let cpus = online_cpus(topo).len() as u32;
        config.validate_for_cpus(cpus)?;
        let units_per_checkpoint = super::measure::units_per_checkpoint();
        let nodes: Vec<u32> = topo.nodes.iter().map(|n| n.id).collect();
        // Read here, not in the child: workers must not touch the environment.
        // A minimal initramfs may have no /tmp; its root is writable.
        let io_dir = Some(std::env::temp_dir())
            .filter(|d| d.is_dir())
            .unwrap_or_else(|| PathBuf::from("/"));
        let mut plan = Plan {
            procs: Vec::new(),
            unit_fds: Vec::new(),
            words: 0,
            cells: 0,
        };
        for (g, spec) in config.groups.iter().enumerate() {
            let group = g as u32;
            let (cgroup_procs, cg_error) = prepare_cgroup(cgroup_root, &spec.cgroup);
            let res = spec.work_type.unit_resources();
            let size = spec.work_type.group_size();
            let mut workers = Vec::new();
            let (mut pipes, mut word_base, mut cell_base) = (Vec::new(), 0, 0);
            for index in 0..spec.worker_count(cpus) {
                if index % size == 0 {
                    pipes = plan.make_pipes(res.pipes)?;
                    word_base = plan.words;
                    cell_base = plan.cells;
                    plan.words += res.words;
                    plan.cells += res.cells;
                }
                let tid_cell = plan.cells;
                plan.cells += 1;
                let seed = worker_seed(spec.seed, group, index);
                let affinity = resolve_affinity(&spec.affinity, topo, index, spec.seed)
                    .map_err(|source| WorkloadError::Affinity { group, source })?;
                workers.push(WorkerPlan {
                    group,
                    index,
                    member: index % size,
                    cgroup: spec.cgroup.clone(),
                    work: spec.work_type.clone(),
                    affinity,
                    policy: spec.policy,
                    nice: spec.nice,
                    mem_policy: spec.mem_policy.clone(),
                    mpol_flags: spec.mpol_flags,
                    seed,
                    units_per_checkpoint,
                    pipes: pipes.clone(),
                    word_base,
                    cell_base,
                    tid_cell,
                    nodes: nodes.clone(),
                    io_dir: io_dir.clone(),
                    errors: cg_error.iter().cloned().collect(),
                });
            }
            match spec.clone_mode {
                CloneMode::Fork => plan.procs.extend(workers.into_iter().map(|w| ProcPlan {
                    workers: vec![w],
                    cgroup_procs: cgroup_procs.clone(),
                })),
                CloneMode::Thread if !workers.is_empty() => plan.procs.push(ProcPlan {
                    workers,
                    cgroup_procs,
                }),
                CloneMode::Thread => {}
            }
        }
        Ok(plan)
    }

    fn make_pipes(&mut self, n: usize) -> Result<Vec<[RawFd; 2]>, WorkloadError> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let (r, w) = pipe()?;
            out.push([r.as_raw_fd(), w.as_raw_fd()]);
            self.unit_fds.push(r);
            self.unit_fds.push(w);
        }
        Ok(out)
    }
}

/// Makes `root/name` and returns its `cgroup.procs`, or the reason it could
/// not (then the workers run where they are and report the reason).
fn prepare_cgroup(root: Option<&Path>, name: &str) -> (Option<PathBuf>, Option<String>) {
    let Some(root) = root.filter(|_| !name.is_empty()) else {
        return (None, None);
    };
    if !is_cgroup2(root) {
        return (
            None,
            Some(format!(
                "cgroup root {} is not a cgroup2 mount; mount cgroup2 there or pass another root",
                root.display()
            )),
        );
    }
    let dir = root.join(name);
    match std::fs::create_dir_all(&dir) {
        Ok(()) => (Some(dir.join("cgroup.procs")), None),
        Err(e) => (
            None,
            Some(format!("could not create cgroup {}: {e}", dir.display())),
        ),
    }
}

/// Whether `path` is on a cgroup v2 filesystem.
pub(crate) fn is_cgroup2(path: &Path) -> bool {
    nix::sys::statfs::statfs(path)
        .map(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
        .unwrap_or(false)
}

/// A close-on-exec pipe.
pub(crate) fn pipe() -> Result<(OwnedFd, OwnedFd), WorkloadError> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| WorkloadError::Pipe(std::io::Error::from(e)))
}
