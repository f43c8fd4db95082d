//! Scheduling class, nice and NUMA memory policy, applied to the calling
//! thread with raw syscalls (`sched_setattr`, `setpriority`,
//! `set_mempolicy`): libc has no wrapper for the first and the last, and
//! `sched_setattr` is the only call that covers `SCHED_DEADLINE`.
//!
//! Every `apply_*` returns the kernel's refusal as a message for the
//! worker's `errors` list; a refused setting never stops the worker.

use ktstr_wire::workload::{MemPolicy, MpolFlags, SchedPolicy};

/// `struct sched_attr` (include/uapi/linux/sched/types.h), version 1 size.
#[repr(C)]
#[derive(Default)]
struct SchedAttr {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    runtime: u64,
    deadline: u64,
    period: u64,
    util_min: u32,
    util_max: u32,
}

const SCHED_DEADLINE: u32 = 6;

/// Sets the calling thread's class; `nice` is the value for the fair
/// classes (`None` = keep the current one).
pub fn apply_sched_policy(policy: SchedPolicy, nice: Option<i32>) -> Result<(), String> {
    let nice = nice.unwrap_or_else(current_nice);
    let mut attr = SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        nice,
        ..SchedAttr::default()
    };
    match policy {
        SchedPolicy::Normal => attr.policy = libc::SCHED_OTHER as u32,
        SchedPolicy::Batch => attr.policy = libc::SCHED_BATCH as u32,
        SchedPolicy::Idle => attr.policy = libc::SCHED_IDLE as u32,
        SchedPolicy::Fifo { priority } => {
            attr.policy = libc::SCHED_FIFO as u32;
            attr.priority = priority;
        }
        SchedPolicy::RoundRobin { priority } => {
            attr.policy = libc::SCHED_RR as u32;
            attr.priority = priority;
        }
        SchedPolicy::Deadline {
            runtime_ns,
            deadline_ns,
            period_ns,
        } => {
            attr.policy = SCHED_DEADLINE;
            attr.runtime = runtime_ns;
            attr.deadline = deadline_ns;
            attr.period = period_ns;
        }
    }
    // SAFETY: pid 0 = calling thread; attr is a valid, sized sched_attr.
    let rc = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) };
    if rc == 0 {
        Ok(())
    } else {
        Err(format!(
            "sched_setattr({policy:?}, nice {nice}) refused: {}",
            std::io::Error::last_os_error()
        ))
    }
}

/// Sets the calling thread's nice value (Linux nice is per thread).
pub fn apply_nice(nice: i32) -> Result<(), String> {
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::gettid() };
    // SAFETY: plain syscall on our own thread id.
    let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, nice) };
    if rc == 0 {
        Ok(())
    } else {
        Err(format!(
            "setpriority(nice {nice}) refused: {}",
            std::io::Error::last_os_error()
        ))
    }
}

/// The calling thread's nice value.
pub fn current_nice() -> i32 {
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::gettid() };
    // SAFETY: plain syscall; -1 is a valid nice value, so errors are
    // indistinguishable and treated as "nice -1" at worst.
    unsafe { libc::getpriority(libc::PRIO_PROCESS, tid as libc::id_t) }
}

/// Sets the calling thread's NUMA memory policy.
pub fn apply_mem_policy(policy: &MemPolicy, flags: MpolFlags) -> Result<(), String> {
    let (mode, nodes): (i32, &[u32]) = match policy {
        MemPolicy::Default => return Ok(()),
        MemPolicy::Preferred { node } => (1, std::slice::from_ref(node)),
        MemPolicy::Bind { nodes } => (2, nodes),
        MemPolicy::Interleave { nodes } => (3, nodes),
        MemPolicy::Local => (4, &[]),
        MemPolicy::PreferredMany { nodes } => (5, nodes),
        MemPolicy::WeightedInterleave { nodes } => (6, nodes),
    };
    let mut mask = [0u64; 16];
    for &n in nodes {
        match mask.get_mut(n as usize / 64) {
            Some(word) => *word |= 1 << (n % 64),
            None => return Err(format!("NUMA node {n} is beyond the 1024 supported")),
        }
    }
    let mut mode = mode;
    if flags.static_nodes {
        mode |= 1 << 15;
    }
    if flags.relative_nodes {
        mode |= 1 << 14;
    }
    if flags.numa_balancing {
        mode |= 1 << 13;
    }
    let maxnode = (mask.len() * 64) as u64;
    let mask_ptr = if nodes.is_empty() {
        std::ptr::null()
    } else {
        mask.as_ptr()
    };
    // SAFETY: mask holds `maxnode` bits; a null mask is allowed for Local.
    let rc = unsafe { libc::syscall(libc::SYS_set_mempolicy, mode, mask_ptr, maxnode) };
    if rc == 0 {
        Ok(())
    } else {
        Err(format!(
            "set_mempolicy({policy:?}) refused: {}",
            std::io::Error::last_os_error()
        ))
    }
}
