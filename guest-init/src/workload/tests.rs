//! Host tests of the engine: real forked workers, real kernel counters.
//! Durations are a few hundred milliseconds; the machine may be shared, so
//! assertions use load-independent facts (CPU + run delay = wall for a
//! spinner) rather than "CPU time is close to wall".

use std::time::Duration;

use super::*;
use ktstr_wire::topology::Topology;
use ktstr_wire::workload::*;

const COLLECT: Duration = Duration::from_secs(5);

fn config(groups: Vec<WorkSpec>) -> WorkloadConfig {
    WorkloadConfig {
        duration_ms: 0,
        groups,
    }
}

/// Spawns, runs for `ms`, stops.
fn run(groups: Vec<WorkSpec>, ms: u64) -> Vec<WorkerReport> {
    let mut h = WorkloadHandle::spawn(&config(groups), &Topology::default(), None).unwrap();
    h.start();
    std::thread::sleep(Duration::from_millis(ms));
    h.stop(COLLECT)
}

/// True while `pid` exists (also as a zombie).
fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    unsafe { libc::kill(pid, 0) == 0 }
}

fn allowed_cpus() -> Vec<u32> {
    thread_affinity().unwrap()
}

#[test]
fn spin_worker_runs_and_its_time_adds_up() {
    let reports = run(vec![WorkSpec::new(WorkType::SpinWait).workers(1)], 300);
    assert_eq!(reports.len(), 1);
    let r = &reports[0];
    assert_eq!(r.exit, WorkerExit::Completed, "{r:?}");
    assert_eq!(r.work_type, "spin_wait");
    assert!(r.work_units > 0 && r.iterations > 0, "{r:?}");
    assert!(r.wall_time_ns >= 250_000_000, "wall {}", r.wall_time_ns);
    assert!(r.cpu_time_ns <= r.wall_time_ns, "{r:?}");
    assert_eq!(r.off_cpu_time_ns, r.wall_time_ns - r.cpu_time_ns);
    // A spinner never sleeps: it is on a CPU or waiting for one, so CPU
    // time plus run delay covers the wall time, whatever the load.
    let covered = r.cpu_time_ns + r.schedstat.run_delay_ns;
    let diff = covered.abs_diff(r.wall_time_ns);
    assert!(
        diff < r.wall_time_ns / 10 + 5_000_000,
        "cpu {} + run delay {} vs wall {}",
        r.cpu_time_ns,
        r.schedstat.run_delay_ns,
        r.wall_time_ns
    );
    assert!(r.schedstat.run_count >= 1);
    assert!(!r.cpus_used.is_empty());
    let gap = r.max_gap.expect("checkpoints recorded a gap");
    assert!(gap.len_ns > 0 && gap.at_ns <= r.wall_time_ns, "{gap:?}");
    assert!(r.tid > 0);
}

/// A worker stopped for 40 ms lists that gap, with its time, among the
/// gaps over the floor; the list is longest first and the count exact.
#[test]
fn a_stopped_worker_lists_its_gap() {
    let spec = WorkSpec::new(WorkType::SpinWait).workers(1);
    let mut h = WorkloadHandle::spawn(&config(vec![spec]), &Topology::default(), None).unwrap();
    let pid = h.pids()[0];
    h.start();
    std::thread::sleep(Duration::from_millis(100));
    // SAFETY: signals to our own child.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    std::thread::sleep(Duration::from_millis(40));
    unsafe { libc::kill(pid, libc::SIGCONT) };
    std::thread::sleep(Duration::from_millis(100));
    let r = &h.stop(COLLECT)[0];
    assert!(!r.gaps.is_empty(), "{r:?}");
    assert!(r.gaps.len() <= MAX_GAPS && r.gaps_over_floor >= r.gaps.len() as u64);
    assert!(
        r.gaps.windows(2).all(|p| p[0].len_ns >= p[1].len_ns),
        "{:?}",
        r.gaps
    );
    assert!(r.gaps.iter().all(|g| g.len_ns >= GAP_FLOOR_NS));
    assert_eq!(r.max_gap, Some(r.gaps[0]));
    let stop = r
        .gaps
        .iter()
        .find(|g| g.len_ns >= 35_000_000)
        .expect("the 40 ms stop");
    assert!(
        (90_000_000..r.wall_time_ns).contains(&stop.at_ns),
        "ended at {} ns of {}",
        stop.at_ns,
        r.wall_time_ns
    );
}

#[test]
fn pinned_worker_reports_exactly_its_cpu() {
    let cpu = *allowed_cpus().last().unwrap();
    let mut spec = WorkSpec::new(WorkType::SpinWait).workers(1);
    spec.affinity = AffinityIntent::CpuList { cpus: vec![cpu] };
    let r = &run(vec![spec], 200)[0];
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.cpus_used, vec![cpu]);
    assert_eq!(r.migrations, 0);
    assert!(r.migration_log.is_empty());
}

#[test]
fn killed_worker_yields_a_signaled_sentinel() {
    let mut spec = WorkSpec::new(WorkType::SpinWait).workers(2);
    spec.cgroup = String::new();
    let mut h = WorkloadHandle::spawn(&config(vec![spec]), &Topology::default(), None).unwrap();
    h.start();
    std::thread::sleep(Duration::from_millis(50));
    let victim = h.pids()[0];
    // SAFETY: killing our own worker.
    unsafe { libc::kill(victim, libc::SIGKILL) };
    std::thread::sleep(Duration::from_millis(50));
    let reports = h.stop(COLLECT);
    assert_eq!(reports.len(), 2);
    assert_eq!(reports[0].exit, WorkerExit::Signaled { signal: 9 });
    assert_eq!(reports[0].tid, victim);
    assert_eq!((reports[0].group, reports[0].index), (0, 0));
    assert_eq!(reports[0].work_type, "spin_wait");
    assert_eq!(reports[0].work_units, 0);
    assert_eq!(reports[1].exit, WorkerExit::Completed);
    assert_eq!(reports[1].index, 1);
    assert!(reports[1].work_units > 0);
}

#[test]
fn stopped_worker_times_out_and_is_killed() {
    let mut h = WorkloadHandle::spawn(
        &config(vec![WorkSpec::new(WorkType::SpinWait).workers(1)]),
        &Topology::default(),
        None,
    )
    .unwrap();
    h.start();
    let pid = h.pids()[0];
    // SAFETY: freezing our own worker so it cannot report.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    let reports = h.stop(Duration::from_millis(200));
    assert_eq!(reports[0].exit, WorkerExit::TimedOut);
    assert_eq!(reports[0].tid, pid);
    assert!(!alive(pid), "timed-out worker {pid} still exists");
}

#[test]
fn dropping_a_handle_leaves_no_process_behind() {
    for started in [false, true] {
        let mut h = WorkloadHandle::spawn(
            &config(vec![WorkSpec::new(WorkType::SpinWait).workers(3)]),
            &Topology::default(),
            None,
        )
        .unwrap();
        if started {
            h.start();
            std::thread::sleep(Duration::from_millis(30));
        }
        let pids = h.pids();
        assert_eq!(pids.len(), 3);
        assert!(pids.iter().all(|&p| alive(p)));
        drop(h);
        // Reaped, not zombies: the pids no longer exist at all.
        for p in pids {
            assert!(
                !alive(p),
                "worker {p} survived the drop (started={started})"
            );
        }
    }
}

#[test]
fn stop_before_start_still_reports_every_worker() {
    let h = WorkloadHandle::spawn(
        &config(vec![WorkSpec::new(WorkType::SpinWait).workers(2)]),
        &Topology::default(),
        None,
    )
    .unwrap();
    let reports = h.stop(COLLECT);
    assert_eq!(reports.len(), 2);
    assert!(reports.iter().all(|r| r.exit == WorkerExit::Completed));
}

#[test]
fn thread_mode_runs_workers_as_threads_of_one_process() {
    let mut spec = WorkSpec::new(WorkType::SpinWait).workers(3);
    spec.clone_mode = CloneMode::Thread;
    let mut h = WorkloadHandle::spawn(&config(vec![spec]), &Topology::default(), None).unwrap();
    assert_eq!(h.pids().len(), 1);
    assert_eq!(h.workers(), 3);
    let pid = h.pids()[0];
    h.start();
    std::thread::sleep(Duration::from_millis(150));
    let reports = h.stop(COLLECT);
    assert_eq!(reports.len(), 3);
    let mut tids: Vec<i32> = reports.iter().map(|r| r.tid).collect();
    tids.sort_unstable();
    tids.dedup();
    assert_eq!(tids.len(), 3, "threads have distinct tids: {tids:?}");
    for r in &reports {
        assert_eq!(r.exit, WorkerExit::Completed, "{r:?}");
        assert!(r.work_units > 0);
    }
    assert!(!alive(pid));
}

#[test]
fn default_worker_count_is_one_per_cpu() {
    let topo = Topology {
        cpus: vec![0, 1, 2],
        ..Topology::default()
    };
    let spec = WorkSpec {
        workers: None,
        ..WorkSpec::default()
    };
    let h = WorkloadHandle::spawn(&config(vec![spec]), &topo, None).unwrap();
    assert_eq!(h.workers(), 3);
}

#[test]
fn counters_parse_from_proc_text() {
    assert_eq!(measure::parse_schedstat("123 456 7\n"), Some([123, 456, 7]));
    assert_eq!(measure::parse_schedstat("garbage"), None);
    let maps = "7f00 default anon=3 dirty=3 N0=3 kernelpagesize_kB=4\n\
                7f10 bind:1 file=/x mapped=5 N1=4 N0=1\n";
    assert_eq!(measure::parse_numa_maps(maps), vec![4, 4]);
    assert!(measure::parse_numa_maps("").is_empty());
}

#[test]
fn class_and_nice_are_applied_before_release() {
    let mut spec = WorkSpec::new(WorkType::SpinWait).workers(1);
    spec.policy = SchedPolicy::Batch;
    spec.nice = Some(3);
    let h = WorkloadHandle::spawn(&config(vec![spec]), &Topology::default(), None).unwrap();
    let pid = h.pids()[0];
    let mut seen = (-1, -1);
    for _ in 0..200 {
        // SAFETY: querying our own child.
        seen = unsafe {
            (
                libc::sched_getscheduler(pid),
                libc::getpriority(libc::PRIO_PROCESS, pid as libc::id_t),
            )
        };
        if seen == (libc::SCHED_BATCH, 3) {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        seen,
        (libc::SCHED_BATCH, 3),
        "(policy, nice) of the parked worker"
    );
    let r = &h.stop(COLLECT)[0];
    assert!(r.errors.is_empty(), "{:?}", r.errors);
}

#[test]
fn affinity_intents_resolve_against_the_topology() {
    let topo = Topology {
        cpus: vec![0, 1, 2, 3],
        nodes: vec![ktstr_wire::topology::NumaNode {
            id: 0,
            cpus: vec![0, 1, 2, 3],
            ..Default::default()
        }],
        llcs: vec![vec![0, 1], vec![2, 3]],
        cores: vec![vec![0, 2], vec![1, 3]],
    };
    let cpus = |v: &[u32]| ResolvedAffinity::Cpus(v.to_vec());
    let ok = |i: AffinityIntent, idx| resolve_affinity(&i, &topo, idx, 7).unwrap();
    assert_eq!(ok(AffinityIntent::Inherit, 0), ResolvedAffinity::Inherit);
    assert_eq!(ok(AffinityIntent::SingleCpu, 5), cpus(&[1]));
    assert_eq!(ok(AffinityIntent::Llc { index: 1 }, 0), cpus(&[2, 3]));
    assert_eq!(ok(AffinityIntent::Numa { node: 0 }, 0), cpus(&[0, 1, 2, 3]));
    assert_eq!(ok(AffinityIntent::SmtSiblings, 1), cpus(&[1, 3]));
    let subset = ok(AffinityIntent::RandomSubset { count: 2 }, 3);
    assert_eq!(
        subset,
        ok(AffinityIntent::RandomSubset { count: 2 }, 3),
        "seeded"
    );
    assert!(matches!(&subset, ResolvedAffinity::Cpus(c) if c.len() == 2));
    assert_eq!(
        resolve_affinity(&AffinityIntent::Llc { index: 2 }, &topo, 0, 0),
        Err(AffinityError::NoSuchLlc { index: 2, count: 2 })
    );
    assert!(resolve_affinity(&AffinityIntent::Numa { node: 3 }, &topo, 0, 0).is_err());
    assert!(resolve_affinity(&AffinityIntent::RandomSubset { count: 5 }, &topo, 0, 0).is_err());
}
