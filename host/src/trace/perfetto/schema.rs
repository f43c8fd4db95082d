//! Field numbers of the Perfetto trace messages used here, from
//! `protos/perfetto/trace/perfetto_trace.proto` (Perfetto v50+; these
//! numbers are stable: protobuf never reuses a field number).

pub mod trace {
    pub const PACKET: u32 = 1;
}

pub mod packet {
    pub const FTRACE_EVENTS: u32 = 1;
    pub const PROCESS_TREE: u32 = 2;
    pub const TIMESTAMP: u32 = 8;
    pub const SEQUENCE_ID: u32 = 10;
    pub const TRACK_EVENT: u32 = 11;
    pub const INTERNED_DATA: u32 = 12;
    pub const SEQUENCE_FLAGS: u32 = 13;
    pub const TRACK_DESCRIPTOR: u32 = 60;
    pub const FIRST_PACKET_ON_SEQUENCE: u32 = 87;
    /// `SequenceFlags`.
    pub const SEQ_INCREMENTAL_STATE_CLEARED: u64 = 1;
    pub const SEQ_NEEDS_INCREMENTAL_STATE: u64 = 2;
}

pub mod bundle {
    pub const CPU: u32 = 1;
    pub const EVENT: u32 = 2;
    pub const LOST_EVENTS: u32 = 3;
}

/// `FtraceEvent`: common fields, then one event per oneof field.
pub mod ftrace {
    pub const TIMESTAMP: u32 = 1;
    pub const PID: u32 = 2;
    pub const PRINT: u32 = 3;
    pub const SCHED_SWITCH: u32 = 4;
    pub const SCHED_WAKEUP: u32 = 17;
    pub const SCHED_WAKING: u32 = 20;
    pub const SCHED_WAKEUP_NEW: u32 = 114;
    pub const TASK_NEWTASK: u32 = 235;
    pub const TASK_RENAME: u32 = 236;
    pub const SCHED_PROCESS_EXIT: u32 = 238;
    pub const SCHED_PROCESS_FORK: u32 = 239;
    pub const SCHED_MIGRATE_TASK: u32 = 491;
}

pub mod switch {
    pub const PREV_COMM: u32 = 1;
    pub const PREV_PID: u32 = 2;
    pub const PREV_PRIO: u32 = 3;
    pub const PREV_STATE: u32 = 4;
    pub const NEXT_COMM: u32 = 5;
    pub const NEXT_PID: u32 = 6;
    pub const NEXT_PRIO: u32 = 7;
}

/// `SchedWakeup`, `SchedWaking` and `SchedWakeupNew` share these.
pub mod wake {
    pub const COMM: u32 = 1;
    pub const PID: u32 = 2;
    pub const PRIO: u32 = 3;
    pub const TARGET_CPU: u32 = 5;
}

pub mod migrate {
    pub const COMM: u32 = 1;
    pub const PID: u32 = 2;
    pub const PRIO: u32 = 3;
    pub const ORIG_CPU: u32 = 4;
    pub const DEST_CPU: u32 = 5;
}

pub mod fork {
    pub const PARENT_COMM: u32 = 1;
    pub const PARENT_PID: u32 = 2;
    pub const CHILD_COMM: u32 = 3;
    pub const CHILD_PID: u32 = 4;
}

pub mod exit {
    pub const COMM: u32 = 1;
    pub const PID: u32 = 2;
    pub const TGID: u32 = 3;
    pub const PRIO: u32 = 4;
}

pub mod newtask {
    pub const PID: u32 = 1;
    pub const COMM: u32 = 2;
    pub const CLONE_FLAGS: u32 = 3;
}

pub mod rename {
    pub const PID: u32 = 1;
    pub const OLDCOMM: u32 = 2;
    pub const NEWCOMM: u32 = 3;
}

pub mod print {
    pub const BUF: u32 = 2;
}

pub mod process_tree {
    pub const PROCESSES: u32 = 1;
    pub const THREADS: u32 = 2;
    pub const PROCESS_PID: u32 = 1;
    pub const PROCESS_PPID: u32 = 2;
    pub const PROCESS_CMDLINE: u32 = 3;
    pub const THREAD_TID: u32 = 1;
    pub const THREAD_NAME: u32 = 2;
    pub const THREAD_TGID: u32 = 3;
}

pub mod track {
    pub const UUID: u32 = 1;
    pub const NAME: u32 = 2;
    pub const PARENT_UUID: u32 = 5;
    pub const CHILD_ORDERING: u32 = 11;
    pub const SIBLING_ORDER_RANK: u32 = 12;
    pub const DESCRIPTION: u32 = 14;
    /// `ChildTracksOrdering.EXPLICIT`: children by `sibling_order_rank`.
    pub const ORDER_EXPLICIT: u64 = 3;
}

pub mod track_event {
    pub const DEBUG_ANNOTATIONS: u32 = 4;
    pub const TYPE: u32 = 9;
    pub const NAME_IID: u32 = 10;
    pub const TRACK_UUID: u32 = 11;
    pub const CATEGORIES: u32 = 22;
    pub const NAME: u32 = 23;
    pub const TYPE_SLICE_BEGIN: u64 = 1;
    pub const TYPE_SLICE_END: u64 = 2;
    pub const TYPE_INSTANT: u64 = 3;
}

pub mod annotation {
    pub const STRING_VALUE: u32 = 6;
    pub const NAME: u32 = 10;
}

pub mod interned {
    pub const EVENT_NAMES: u32 = 2;
    pub const IID: u32 = 1;
    pub const NAME: u32 = 2;
}
