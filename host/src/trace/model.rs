//! Scheduling events as the host works with them: decoded from tracefs
//! pages ([`super::tracefs`]), written to and read back from Perfetto
//! ([`super::perfetto`]), and analysed by the HTML report.

/// One event on one CPU. `ts` is on the trace clock (guest
/// `CLOCK_BOOTTIME` nanoseconds when the guest could select it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub ts: u64,
    pub cpu: u32,
    /// The task that was running when the event fired (`common_pid`).
    pub pid: i32,
    pub kind: Kind,
}

/// A task woken, or made runnable for the first time.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Wake {
    pub comm: String,
    pub pid: i32,
    pub prio: i32,
    pub target_cpu: i32,
}

/// The events `--trace` records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Switch {
        prev_comm: String,
        prev_pid: i32,
        prev_prio: i32,
        prev_state: i64,
        next_comm: String,
        next_pid: i32,
        next_prio: i32,
    },
    Waking(Wake),
    Wakeup(Wake),
    WakeupNew(Wake),
    Migrate {
        comm: String,
        pid: i32,
        prio: i32,
        orig_cpu: i32,
        dest_cpu: i32,
    },
    Fork {
        parent_comm: String,
        parent_pid: i32,
        child_comm: String,
        child_pid: i32,
    },
    Exit {
        comm: String,
        pid: i32,
        prio: i32,
    },
    NewTask {
        pid: i32,
        comm: String,
        clone_flags: u64,
    },
    Rename {
        pid: i32,
        oldcomm: String,
        newcomm: String,
    },
    /// An event without its own shape here (sched_ext's, e.g.
    /// `sched_ext_dump` lines): its name and text fields.
    Text {
        event: String,
        text: String,
    },
}

/// `clone_flags` bit of a new thread (as opposed to a new process).
pub const CLONE_THREAD: u64 = 0x0001_0000;

/// Events lost on a CPU before `ts` (the ring buffer was full).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lost {
    pub cpu: u32,
    pub ts: u64,
    /// How many, when the kernel counted them.
    pub count: Option<u64>,
}

/// A point in the run worth seeing on the timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    pub ts: u64,
    /// `scheduler`, `phase`, `scenario`, `fault`, `finding` or `trace`.
    pub category: String,
    pub name: String,
    /// Longer text (evidence, ops), possibly empty.
    pub detail: String,
}
