//! Builds the Perfetto trace, packet by packet:
//! 1. track descriptors: "CPUs by topology" > NUMA node > LLC > CPU, and
//!    one track of run markers;
//! 2. a process tree naming every task (workers by group, index, work
//!    type and cgroup);
//! 3. the raw scheduling events as ftrace bundles per CPU, which
//!    trace_processor turns into its CPU scheduling and thread state
//!    tables (and the UI into its CPU tracks);
//! 4. slices on the per-CPU topology tracks (who ran, from `sched_switch`)
//!    and instant events for the markers, as track events on one sequence
//!    with interned names.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};

use ktstr_wire::topology::{format_cpu_list, Topology};

use super::proto::Msg;
use super::schema::*;
use crate::trace::model::{Kind, Lost, Marker, Record, Wake};
use crate::trace::names::Names;

/// Track uuids: fixed bases so a reader can tell what a track is.
pub const MARKERS_TRACK: u64 = 1;
pub const TOPOLOGY_TRACK: u64 = 2;
pub const NODE_BASE: u64 = 0x1000_0000;
pub const LLC_BASE: u64 = 0x2000_0000;
pub const CPU_BASE: u64 = 0x3000_0000;
/// Packet sequences: ftrace data, and track events (with interning).
const FTRACE_SEQ: u64 = 1;
const TRACK_SEQ: u64 = 2;
/// Events per ftrace bundle.
const BUNDLE: usize = 512;

/// Everything that goes into the trace.
#[derive(Debug)]
pub struct TraceData<'a> {
    pub cpus: &'a BTreeMap<u32, Vec<Record>>,
    pub lost: &'a [Lost],
    pub topology: Option<&'a Topology>,
    pub names: &'a Names,
    pub markers: &'a [Marker],
}

/// Writes the trace; returns the bytes written.
pub fn write(data: &TraceData, out: &mut impl Write) -> io::Result<u64> {
    let mut w = Packets { out, bytes: 0 };
    for t in tracks(data) {
        w.packet(|p| {
            p.msg(packet::TRACK_DESCRIPTOR, &t);
        })?;
    }
    w.packet(|p| {
        p.msg(packet::PROCESS_TREE, &process_tree(data.names));
    })?;
    for (&cpu, records) in data.cpus {
        let lost: Vec<&Lost> = data.lost.iter().filter(|l| l.cpu == cpu).collect();
        for chunk in records.chunks(BUNDLE) {
            let (first, last) = (chunk[0].ts, chunk[chunk.len() - 1].ts);
            let lost_here = lost.iter().any(|l| l.ts >= first && l.ts <= last);
            w.packet(|p| {
                p.varint(packet::SEQUENCE_ID, FTRACE_SEQ);
                p.with(packet::FTRACE_EVENTS, |b| {
                    b.varint(bundle::CPU, u64::from(cpu));
                    for r in chunk {
                        b.msg(bundle::EVENT, &ftrace_event(r));
                    }
                    if lost_here {
                        b.varint(bundle::LOST_EVENTS, 1);
                    }
                });
            })?;
        }
    }
    let mut seq = TrackSeq::default();
    for (&cpu, records) in data.cpus {
        cpu_slices(&mut w, &mut seq, cpu, records, data.names)?;
    }
    for m in data.markers {
        w.packet(|p| {
            seq.head(p, m.ts);
            p.with(packet::TRACK_EVENT, |e| {
                e.varint(track_event::TYPE, track_event::TYPE_INSTANT)
                    .varint(track_event::TRACK_UUID, MARKERS_TRACK)
                    .str(track_event::CATEGORIES, &m.category)
                    .str(track_event::NAME, &m.name);
                if !m.detail.is_empty() {
                    e.with(track_event::DEBUG_ANNOTATIONS, |a| {
                        a.str(annotation::NAME, "detail")
                            .str(annotation::STRING_VALUE, &m.detail);
                    });
                }
            });
        })?;
    }
    Ok(w.bytes)
}

/// Frames each packet as a `Trace.packet` field.
struct Packets<'w, W: Write> {
    out: &'w mut W,
    bytes: u64,
}

impl<W: Write> Packets<'_, W> {
    fn packet(&mut self, f: impl FnOnce(&mut Msg)) -> io::Result<()> {
        let mut framed = Msg::new();
        framed.with(trace::PACKET, f);
        self.bytes += framed.len() as u64;
        self.out.write_all(framed.as_bytes())
    }
}

/// The track-event sequence: first-packet flags and interned names.
#[derive(Default)]
struct TrackSeq {
    started: bool,
    names: HashMap<String, u64>,
}

impl TrackSeq {
    /// Timestamp, sequence id and flags of a track-event packet.
    fn head(&mut self, p: &mut Msg, ts: u64) {
        p.varint(packet::TIMESTAMP, ts)
            .varint(packet::SEQUENCE_ID, TRACK_SEQ);
        if self.started {
            p.varint(packet::SEQUENCE_FLAGS, packet::SEQ_NEEDS_INCREMENTAL_STATE);
        } else {
            self.started = true;
            p.varint(
                packet::SEQUENCE_FLAGS,
                packet::SEQ_INCREMENTAL_STATE_CLEARED | packet::SEQ_NEEDS_INCREMENTAL_STATE,
            )
            .varint(packet::FIRST_PACKET_ON_SEQUENCE, 1);
        }
    }

    /// The iid of `name`, interning it in `p` the first time.
    fn name_iid(&mut self, p: &mut Msg, name: &str) -> u64 {
        if let Some(&iid) = self.names.get(name) {
            return iid;
        }
        let iid = self.names.len() as u64 + 1;
        self.names.insert(name.to_string(), iid);
        p.with(packet::INTERNED_DATA, |d| {
            d.with(interned::EVENT_NAMES, |n| {
                n.varint(interned::IID, iid).str(interned::NAME, name);
            });
        });
        iid
    }
}

/// Slices on CPU `cpu`'s topology track: one per stretch a task ran.
fn cpu_slices<W: Write>(
    w: &mut Packets<W>,
    seq: &mut TrackSeq,
    cpu: u32,
    records: &[Record],
    names: &Names,
) -> io::Result<()> {
    let track = CPU_BASE + u64::from(cpu);
    let mut open = false;
    let mut last = 0;
    let slice = |seq: &mut TrackSeq, p: &mut Msg, ts: u64, begin: Option<String>| {
        seq.head(p, ts);
        let iid = begin.as_deref().map(|n| seq.name_iid(p, n));
        p.with(packet::TRACK_EVENT, |e| {
            let kind = if iid.is_some() {
                track_event::TYPE_SLICE_BEGIN
            } else {
                track_event::TYPE_SLICE_END
            };
            e.varint(track_event::TYPE, kind)
                .varint(track_event::TRACK_UUID, track);
            if let Some(iid) = iid {
                e.varint(track_event::NAME_IID, iid);
            }
        });
    };
    for r in records {
        last = r.ts;
        let Kind::Switch {
            next_pid,
            next_comm,
            ..
        } = &r.kind
        else {
            continue;
        };
        if open {
            w.packet(|p| slice(seq, p, r.ts, None))?;
            open = false;
        }
        if *next_pid != 0 {
            let name = format!("{} [{next_pid}]", names.name(*next_pid, next_comm));
            w.packet(|p| slice(seq, p, r.ts, Some(name)))?;
            open = true;
        }
    }
    if open {
        w.packet(|p| slice(seq, p, last, None))?;
    }
    Ok(())
}

fn descriptor(uuid: u64, parent: Option<u64>, name: &str, rank: u64) -> Msg {
    let mut t = Msg::new();
    t.varint(track::UUID, uuid).str(track::NAME, name);
    if let Some(p) = parent {
        t.varint(track::PARENT_UUID, p);
    }
    t.varint(track::CHILD_ORDERING, track::ORDER_EXPLICIT)
        .int(track::SIBLING_ORDER_RANK, rank as i64);
    t
}

/// The markers track and the topology tree of CPU tracks.
fn tracks(data: &TraceData) -> Vec<Msg> {
    let mut out = vec![descriptor(MARKERS_TRACK, None, "ktstr-vm run markers", 0)];
    let mut m = descriptor(TOPOLOGY_TRACK, None, "CPUs by NUMA node and LLC", 1);
    m.str(
        track::DESCRIPTION,
        "What ran on each CPU, from sched_switch",
    );
    out.push(m);
    let traced: Vec<u32> = data.cpus.keys().copied().collect();
    let topo = data.topology.cloned().unwrap_or_default();
    let mut placed = Vec::new();
    for node in &topo.nodes {
        let node_uuid = NODE_BASE + u64::from(node.id);
        let name = format!(
            "NUMA node {} (CPUs {})",
            node.id,
            format_cpu_list(&node.cpus)
        );
        out.push(descriptor(
            node_uuid,
            Some(TOPOLOGY_TRACK),
            &name,
            u64::from(node.id),
        ));
        for (i, llc) in topo.llcs.iter().enumerate() {
            if !llc.first().is_some_and(|c| node.cpus.contains(c)) {
                continue;
            }
            let llc_uuid = LLC_BASE + i as u64;
            let name = format!("LLC {i} (CPUs {})", format_cpu_list(llc));
            out.push(descriptor(llc_uuid, Some(node_uuid), &name, i as u64));
            for &cpu in llc {
                out.push(cpu_track(cpu, llc_uuid));
                placed.push(cpu);
            }
        }
    }
    for cpu in traced.into_iter().filter(|c| !placed.contains(c)) {
        out.push(cpu_track(cpu, TOPOLOGY_TRACK));
    }
    out
}

fn cpu_track(cpu: u32, parent: u64) -> Msg {
    descriptor(
        CPU_BASE + u64::from(cpu),
        Some(parent),
        &format!("CPU {cpu}"),
        u64::from(cpu),
    )
}

fn process_tree(names: &Names) -> Msg {
    let mut tree = Msg::new();
    let mut processes: BTreeMap<i32, (&str, Option<i32>)> = BTreeMap::new();
    for (&tid, t) in &names.tasks {
        if tid == t.tgid || !processes.contains_key(&t.tgid) {
            let leader = names.tasks.get(&t.tgid).unwrap_or(t);
            processes.insert(t.tgid, (&leader.name, leader.ppid));
        }
    }
    for (&pid, (name, ppid)) in &processes {
        tree.with(process_tree::PROCESSES, |p| {
            p.int(process_tree::PROCESS_PID, i64::from(pid));
            // Known from a fork the trace saw (PID 1's parent is 0).
            if let Some(ppid) = ppid.or((pid == 1).then_some(0)) {
                p.int(process_tree::PROCESS_PPID, i64::from(ppid));
            }
            p.str(process_tree::PROCESS_CMDLINE, name);
        });
    }
    for (&tid, t) in &names.tasks {
        tree.with(process_tree::THREADS, |th| {
            th.int(process_tree::THREAD_TID, i64::from(tid))
                .int(process_tree::THREAD_TGID, i64::from(t.tgid))
                .str(process_tree::THREAD_NAME, &t.name);
        });
    }
    tree
}

fn wake(m: &mut Msg, w: &Wake) {
    m.str(wake::COMM, &w.comm)
        .int(wake::PID, i64::from(w.pid))
        .int(wake::PRIO, i64::from(w.prio))
        .int(wake::TARGET_CPU, i64::from(w.target_cpu));
}

/// One `FtraceEvent`.
pub fn ftrace_event(r: &Record) -> Msg {
    let mut e = Msg::new();
    e.varint(ftrace::TIMESTAMP, r.ts)
        .int(ftrace::PID, i64::from(r.pid));
    match &r.kind {
        Kind::Switch {
            prev_comm,
            prev_pid,
            prev_prio,
            prev_state,
            next_comm,
            next_pid,
            next_prio,
        } => e.with(ftrace::SCHED_SWITCH, |s| {
            s.str(switch::PREV_COMM, prev_comm)
                .int(switch::PREV_PID, i64::from(*prev_pid))
                .int(switch::PREV_PRIO, i64::from(*prev_prio))
                .int(switch::PREV_STATE, *prev_state)
                .str(switch::NEXT_COMM, next_comm)
                .int(switch::NEXT_PID, i64::from(*next_pid))
                .int(switch::NEXT_PRIO, i64::from(*next_prio));
        }),
        Kind::Waking(w) => e.with(ftrace::SCHED_WAKING, |m| wake(m, w)),
        Kind::Wakeup(w) => e.with(ftrace::SCHED_WAKEUP, |m| wake(m, w)),
        Kind::WakeupNew(w) => e.with(ftrace::SCHED_WAKEUP_NEW, |m| wake(m, w)),
        Kind::Migrate {
            comm,
            pid,
            prio,
            orig_cpu,
            dest_cpu,
        } => e.with(ftrace::SCHED_MIGRATE_TASK, |m| {
            m.str(migrate::COMM, comm)
                .int(migrate::PID, i64::from(*pid))
                .int(migrate::PRIO, i64::from(*prio))
                .int(migrate::ORIG_CPU, i64::from(*orig_cpu))
                .int(migrate::DEST_CPU, i64::from(*dest_cpu));
        }),
        Kind::Fork {
            parent_comm,
            parent_pid,
            child_comm,
            child_pid,
        } => e.with(ftrace::SCHED_PROCESS_FORK, |m| {
            m.str(fork::PARENT_COMM, parent_comm)
                .int(fork::PARENT_PID, i64::from(*parent_pid))
                .str(fork::CHILD_COMM, child_comm)
                .int(fork::CHILD_PID, i64::from(*child_pid));
        }),
        Kind::Exit { comm, pid, prio } => e.with(ftrace::SCHED_PROCESS_EXIT, |m| {
            m.str(exit::COMM, comm)
                .int(exit::PID, i64::from(*pid))
                .int(exit::PRIO, i64::from(*prio));
        }),
        Kind::NewTask {
            pid,
            comm,
            clone_flags,
        } => e.with(ftrace::TASK_NEWTASK, |m| {
            m.int(newtask::PID, i64::from(*pid))
                .str(newtask::COMM, comm)
                .varint(newtask::CLONE_FLAGS, *clone_flags);
        }),
        Kind::Rename {
            pid,
            oldcomm,
            newcomm,
        } => e.with(ftrace::TASK_RENAME, |m| {
            m.int(rename::PID, i64::from(*pid))
                .str(rename::OLDCOMM, oldcomm)
                .str(rename::NEWCOMM, newcomm);
        }),
        Kind::Text { event, text } => e.with(ftrace::PRINT, |m| {
            m.str(print::BUF, &format!("{event}: {text}"));
        }),
    };
    e
}
