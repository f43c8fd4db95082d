//! Reads a trace written by [`super::write`] back: the scheduling records
//! per CPU, task names, the track tree and the markers. The HTML report
//! builds its timeline from this, and the tests check traces with it.
//! Input is untrusted (a file on disk): every field is bounds-checked and
//! a malformed packet is counted and skipped.

use std::collections::BTreeMap;

use super::proto::{fields, DecodeError, Value};
use super::schema::*;
use crate::trace::model::{Kind, Marker, Record, Wake};

/// One track descriptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Track {
    pub uuid: u64,
    pub parent: Option<u64>,
    pub name: String,
}

/// What a trace file holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TraceFile {
    pub records: Vec<Record>,
    /// tid -> (tgid, name), from the process tree.
    pub threads: BTreeMap<i32, (i32, String)>,
    /// pid -> name.
    pub processes: BTreeMap<i32, String>,
    pub tracks: Vec<Track>,
    /// Track uuid -> slices begun on it.
    pub slices: BTreeMap<u64, u64>,
    pub markers: Vec<Marker>,
    /// Bundles that said events were lost before them.
    pub lost_bundles: u64,
    /// Packets that did not decode.
    pub bad_packets: u64,
}

type Res<T> = Result<T, DecodeError>;

/// Reads a whole trace.
pub fn read(bytes: &[u8]) -> Res<TraceFile> {
    let mut out = TraceFile::default();
    let mut names: BTreeMap<u64, String> = BTreeMap::new();
    for f in fields(bytes) {
        let (num, v) = f?;
        let Some(p) = v.as_bytes().filter(|_| num == trace::PACKET) else {
            continue;
        };
        if packet(p, &mut out, &mut names).is_err() {
            out.bad_packets += 1;
        }
    }
    Ok(out)
}

fn packet(p: &[u8], out: &mut TraceFile, names: &mut BTreeMap<u64, String>) -> Res<()> {
    let mut ts = 0;
    let mut event = None;
    for f in fields(p) {
        let (num, v) = f?;
        match (num, v) {
            (packet::TIMESTAMP, v) => ts = v.as_u64().unwrap_or(0),
            (packet::FTRACE_EVENTS, Value::Bytes(b)) => bundle(b, out)?,
            (packet::PROCESS_TREE, Value::Bytes(b)) => process_tree(b, out)?,
            (packet::TRACK_DESCRIPTOR, Value::Bytes(b)) => out.tracks.push(track(b)?),
            (packet::INTERNED_DATA, Value::Bytes(b)) => interned(b, names)?,
            (packet::TRACK_EVENT, Value::Bytes(b)) => event = Some(b),
            _ => {}
        }
    }
    if let Some(b) = event {
        track_event(b, ts, out, names)?;
    }
    Ok(())
}

fn bundle(b: &[u8], out: &mut TraceFile) -> Res<()> {
    let mut cpu = 0;
    let mut events = Vec::new();
    for f in fields(b) {
        match f? {
            (bundle::CPU, v) => cpu = v.as_u64().unwrap_or(0) as u32,
            (bundle::EVENT, Value::Bytes(e)) => events.push(e),
            (bundle::LOST_EVENTS, v) if v.as_u64() == Some(1) => out.lost_bundles += 1,
            _ => {}
        }
    }
    for e in events {
        if let Some(r) = ftrace_event(e, cpu)? {
            out.records.push(r);
        }
    }
    Ok(())
}

/// Field values of one small message by number (last one wins).
struct Map<'a>(BTreeMap<u32, Value<'a>>);

impl<'a> Map<'a> {
    fn of(b: &'a [u8]) -> Res<Map<'a>> {
        let mut m = BTreeMap::new();
        for f in fields(b) {
            let (n, v) = f?;
            m.insert(n, v);
        }
        Ok(Map(m))
    }
    fn u64(&self, n: u32) -> u64 {
        self.0.get(&n).and_then(Value::as_u64).unwrap_or(0)
    }
    fn i32(&self, n: u32) -> i32 {
        self.0.get(&n).and_then(Value::as_i64).unwrap_or(0) as i32
    }
    fn i64(&self, n: u32) -> i64 {
        self.0.get(&n).and_then(Value::as_i64).unwrap_or(0)
    }
    fn str(&self, n: u32) -> String {
        self.0
            .get(&n)
            .and_then(Value::as_bytes)
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default()
    }
    fn bytes(&self, n: u32) -> Option<&'a [u8]> {
        self.0.get(&n).and_then(Value::as_bytes)
    }
}

fn wake(m: &Map) -> Wake {
    Wake {
        comm: m.str(wake::COMM),
        pid: m.i32(wake::PID),
        prio: m.i32(wake::PRIO),
        target_cpu: m.i32(wake::TARGET_CPU),
    }
}

fn ftrace_event(b: &[u8], cpu: u32) -> Res<Option<Record>> {
    let e = Map::of(b)?;
    let (ts, pid) = (e.u64(ftrace::TIMESTAMP), e.i32(ftrace::PID));
    let body = |n| e.bytes(n).map(Map::of).transpose();
    let kind = if let Some(m) = body(ftrace::SCHED_SWITCH)? {
        Kind::Switch {
            prev_comm: m.str(switch::PREV_COMM),
            prev_pid: m.i32(switch::PREV_PID),
            prev_prio: m.i32(switch::PREV_PRIO),
            prev_state: m.i64(switch::PREV_STATE),
            next_comm: m.str(switch::NEXT_COMM),
            next_pid: m.i32(switch::NEXT_PID),
            next_prio: m.i32(switch::NEXT_PRIO),
        }
    } else if let Some(m) = body(ftrace::SCHED_WAKING)? {
        Kind::Waking(wake(&m))
    } else if let Some(m) = body(ftrace::SCHED_WAKEUP)? {
        Kind::Wakeup(wake(&m))
    } else if let Some(m) = body(ftrace::SCHED_WAKEUP_NEW)? {
        Kind::WakeupNew(wake(&m))
    } else if let Some(m) = body(ftrace::SCHED_MIGRATE_TASK)? {
        Kind::Migrate {
            comm: m.str(migrate::COMM),
            pid: m.i32(migrate::PID),
            prio: m.i32(migrate::PRIO),
            orig_cpu: m.i32(migrate::ORIG_CPU),
            dest_cpu: m.i32(migrate::DEST_CPU),
        }
    } else if let Some(m) = body(ftrace::SCHED_PROCESS_FORK)? {
        Kind::Fork {
            parent_comm: m.str(fork::PARENT_COMM),
            parent_pid: m.i32(fork::PARENT_PID),
            child_comm: m.str(fork::CHILD_COMM),
            child_pid: m.i32(fork::CHILD_PID),
        }
    } else if let Some(m) = body(ftrace::SCHED_PROCESS_EXIT)? {
        Kind::Exit {
            comm: m.str(exit::COMM),
            pid: m.i32(exit::PID),
            prio: m.i32(exit::PRIO),
        }
    } else if let Some(m) = body(ftrace::TASK_NEWTASK)? {
        Kind::NewTask {
            pid: m.i32(newtask::PID),
            comm: m.str(newtask::COMM),
            clone_flags: m.u64(newtask::CLONE_FLAGS),
        }
    } else if let Some(m) = body(ftrace::TASK_RENAME)? {
        Kind::Rename {
            pid: m.i32(rename::PID),
            oldcomm: m.str(rename::OLDCOMM),
            newcomm: m.str(rename::NEWCOMM),
        }
    } else if let Some(m) = body(ftrace::PRINT)? {
        let buf = m.str(print::BUF);
        let (event, text) = buf.split_once(": ").unwrap_or(("print", &buf));
        Kind::Text {
            event: event.to_string(),
            text: text.to_string(),
        }
    } else {
        return Ok(None);
    };
    Ok(Some(Record { ts, cpu, pid, kind }))
}

fn process_tree(b: &[u8], out: &mut TraceFile) -> Res<()> {
    for f in fields(b) {
        match f? {
            (process_tree::PROCESSES, Value::Bytes(p)) => {
                let m = Map::of(p)?;
                out.processes.insert(
                    m.i32(process_tree::PROCESS_PID),
                    m.str(process_tree::PROCESS_CMDLINE),
                );
            }
            (process_tree::THREADS, Value::Bytes(t)) => {
                let m = Map::of(t)?;
                out.threads.insert(
                    m.i32(process_tree::THREAD_TID),
                    (
                        m.i32(process_tree::THREAD_TGID),
                        m.str(process_tree::THREAD_NAME),
                    ),
                );
            }
            _ => {}
        }
    }
    Ok(())
}

fn track(b: &[u8]) -> Res<Track> {
    let m = Map::of(b)?;
    Ok(Track {
        uuid: m.u64(track::UUID),
        parent: m
            .0
            .contains_key(&track::PARENT_UUID)
            .then(|| m.u64(track::PARENT_UUID)),
        name: m.str(track::NAME),
    })
}

fn interned(b: &[u8], names: &mut BTreeMap<u64, String>) -> Res<()> {
    for f in fields(b) {
        if let (interned::EVENT_NAMES, Value::Bytes(n)) = f? {
            let m = Map::of(n)?;
            names.insert(m.u64(interned::IID), m.str(interned::NAME));
        }
    }
    Ok(())
}

fn track_event(b: &[u8], ts: u64, out: &mut TraceFile, names: &BTreeMap<u64, String>) -> Res<()> {
    let mut categories = Vec::new();
    let mut detail = String::new();
    for f in fields(b) {
        match f? {
            (track_event::CATEGORIES, v) => categories.push(v.as_str().unwrap_or("").to_string()),
            (track_event::DEBUG_ANNOTATIONS, Value::Bytes(a)) => {
                detail = Map::of(a)?.str(annotation::STRING_VALUE);
            }
            _ => {}
        }
    }
    let m = Map::of(b)?;
    let uuid = m.u64(track_event::TRACK_UUID);
    match m.u64(track_event::TYPE) {
        track_event::TYPE_SLICE_BEGIN => *out.slices.entry(uuid).or_default() += 1,
        track_event::TYPE_INSTANT => {
            let name = if m.0.contains_key(&track_event::NAME) {
                m.str(track_event::NAME)
            } else {
                names
                    .get(&m.u64(track_event::NAME_IID))
                    .cloned()
                    .unwrap_or_default()
            };
            out.markers.push(Marker {
                ts,
                category: categories.join(","),
                name,
                detail,
            });
        }
        _ => {}
    }
    Ok(())
}
