use std::collections::BTreeMap;

use ktstr_wire::topology::{NumaNode, Topology};
use ktstr_wire::workload::WorkerReport;
use ktstr_wire::TaskName;

use super::read::read;
use super::write::{
    write, TraceData, CPU_BASE, LLC_BASE, MARKERS_TRACK, NODE_BASE, TOPOLOGY_TRACK,
};
use crate::trace::model::{Kind, Lost, Marker, Record, Wake, CLONE_THREAD};
use crate::trace::names::Names;

fn rec(ts: u64, cpu: u32, pid: i32, kind: Kind) -> Record {
    Record { ts, cpu, pid, kind }
}

fn switch(prev: i32, next: i32) -> Kind {
    Kind::Switch {
        prev_comm: format!("t{prev}"),
        prev_pid: prev,
        prev_prio: 120,
        prev_state: if prev == 0 { 0 } else { 1 },
        next_comm: format!("t{next}"),
        next_pid: next,
        next_prio: 120,
    }
}

fn wake(pid: i32) -> Wake {
    Wake {
        comm: format!("t{pid}"),
        pid,
        prio: -51,
        target_cpu: 1,
    }
}

/// One record of every kind, on two CPUs.
fn sample() -> BTreeMap<u32, Vec<Record>> {
    let cpu0 = vec![
        rec(1_000, 0, 0, switch(0, 10)),
        rec(1_500, 0, 10, Kind::Waking(wake(11))),
        rec(1_600, 0, 10, Kind::Wakeup(wake(11))),
        rec(
            1_700,
            0,
            10,
            Kind::NewTask {
                pid: 12,
                comm: "t10".into(),
                clone_flags: CLONE_THREAD | 0x11,
            },
        ),
        rec(
            1_800,
            0,
            10,
            Kind::Fork {
                parent_comm: "t10".into(),
                parent_pid: 10,
                child_comm: "t10".into(),
                child_pid: 12,
            },
        ),
        rec(1_900, 0, 10, Kind::WakeupNew(wake(12))),
        rec(2_000, 0, 10, switch(10, 0)),
        rec(
            2_100,
            0,
            0,
            Kind::Migrate {
                comm: "t11".into(),
                pid: 11,
                prio: 120,
                orig_cpu: 0,
                dest_cpu: 1,
            },
        ),
        rec(
            2_200,
            0,
            12,
            Kind::Rename {
                pid: 12,
                oldcomm: "t10".into(),
                newcomm: "worker".into(),
            },
        ),
        rec(
            2_300,
            0,
            12,
            Kind::Exit {
                comm: "worker".into(),
                pid: 12,
                prio: 120,
            },
        ),
        rec(
            2_400,
            0,
            0,
            Kind::Text {
                event: "sched_ext_dump".into(),
                text: "line: with colon".into(),
            },
        ),
    ];
    let cpu1 = vec![
        rec(1_200, 1, 0, switch(0, 11)),
        rec(3_000, 1, 11, switch(11, 0)),
    ];
    BTreeMap::from([(0, cpu0), (1, cpu1)])
}

fn topology() -> Topology {
    Topology {
        cpus: vec![0, 1],
        nodes: vec![NumaNode {
            id: 0,
            cpus: vec![0, 1],
            distances: vec![10],
            memory_mib: None,
        }],
        llcs: vec![vec![0], vec![1]],
        cores: vec![vec![0], vec![1]],
    }
}

fn worker(tid: i32) -> WorkerReport {
    WorkerReport {
        tid,
        group: 1,
        index: 2,
        work_type: "spin_wait".into(),
        cgroup: "cg_a".into(),
        ..Default::default()
    }
}

fn written(cpus: &BTreeMap<u32, Vec<Record>>, markers: &[Marker], lost: &[Lost]) -> Vec<u8> {
    let records: Vec<&Record> = cpus.values().flatten().collect();
    let start = [TaskName {
        tid: 10,
        tgid: 10,
        comm: "t10".into(),
    }];
    let names = Names::build(
        &start,
        &records,
        &[worker(11)],
        Some((10, "/ktstr-vm/sched/scx_simple")),
    );
    let topo = topology();
    let data = TraceData {
        cpus,
        lost,
        topology: Some(&topo),
        names: &names,
        markers,
    };
    let mut out = Vec::new();
    let n = write(&data, &mut out).unwrap();
    assert_eq!(n as usize, out.len());
    out
}

#[test]
fn records_round_trip_through_the_file() {
    let cpus = sample();
    let t = read(&written(&cpus, &[], &[])).unwrap();
    let want: Vec<&Record> = cpus.values().flatten().collect();
    let got: Vec<&Record> = t.records.iter().collect();
    assert_eq!(got, want);
    assert_eq!(t.bad_packets, 0);
}

#[test]
fn tasks_are_named_and_grouped_into_processes() {
    let t = read(&written(&sample(), &[], &[])).unwrap();
    assert_eq!(t.threads[&11], (11, "g1.2 spin_wait @cg_a".to_string()));
    assert_eq!(t.threads[&10].1, "scx_simple (scheduler)");
    // task_newtask with CLONE_THREAD from pid 10: a thread of process 10,
    // renamed later.
    assert_eq!(t.threads[&12], (10, "worker".to_string()));
    assert!(t.processes.contains_key(&10) && !t.processes.contains_key(&12));
}

#[test]
fn cpu_tracks_nest_under_llc_and_node() {
    let t = read(&written(&sample(), &[], &[])).unwrap();
    let parent = |uuid| {
        t.tracks
            .iter()
            .find(|tr| tr.uuid == uuid)
            .map(|tr| tr.parent)
    };
    assert_eq!(parent(MARKERS_TRACK), Some(None));
    assert_eq!(parent(NODE_BASE), Some(Some(TOPOLOGY_TRACK)));
    assert_eq!(parent(LLC_BASE + 1), Some(Some(NODE_BASE)));
    assert_eq!(parent(CPU_BASE + 1), Some(Some(LLC_BASE + 1)));
    let name = |uuid| {
        t.tracks
            .iter()
            .find(|tr| tr.uuid == uuid)
            .unwrap()
            .name
            .clone()
    };
    assert_eq!(name(LLC_BASE + 1), "LLC 1 (CPUs 1)");
    // cpu0 ran t10 once; cpu1 ran the worker once.
    assert_eq!(t.slices.get(&CPU_BASE), Some(&1));
    assert_eq!(t.slices.get(&(CPU_BASE + 1)), Some(&1));
}

#[test]
fn markers_and_lost_events_survive() {
    let markers = [
        Marker {
            ts: 1_100,
            category: "scheduler".into(),
            name: "scheduler attached: simple".into(),
            detail: String::new(),
        },
        Marker {
            ts: 2_500,
            category: "finding".into(),
            name: "finding: worker-starved".into(),
            detail: "evidence\nline 2".into(),
        },
    ];
    let lost = [Lost {
        cpu: 0,
        ts: 1_500,
        count: Some(3),
    }];
    let t = read(&written(&sample(), &markers, &lost)).unwrap();
    assert_eq!(t.markers, markers);
    assert_eq!(t.lost_bundles, 1);
}

#[test]
fn a_cut_file_reads_what_it_has() {
    let bytes = written(&sample(), &[], &[]);
    let cut = read(&bytes[..bytes.len() - 3]);
    // The last packet is cut: an error, never a panic.
    assert!(cut.is_err() || cut.unwrap().records.len() < 13);
}
