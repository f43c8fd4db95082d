//! Cache and memory work types: strided walks, page faults, NUMA placement.

use super::sync::{sched_yield, spin_for};
use super::Ctx;
use crate::workload::measure::Meter;
use crate::workload::policy::apply_mem_policy;
use crate::workload::shared::now_ns;
use ktstr_wire::workload::{MemPolicy, MpolFlags};

/// Touches per checkpoint in a cache walk: a touch costs 1-100 ns, so a
/// checkpoint lands every few to few hundred microseconds.
const TOUCHES_PER_CHECKPOINT: usize = 2048;
const PAGE: usize = 4096;

/// A buffer walked with a stride; one touch = one work unit.
#[derive(Debug)]
pub(super) struct Walker {
    buf: Vec<u8>,
    stride: usize,
}

impl Walker {
    pub(super) fn new(size_kib: u64, stride: u64) -> Self {
        // Filled with non-zero bytes so every page is really backed.
        Walker {
            buf: vec![1; size_kib as usize * 1024],
            stride: stride.max(1) as usize,
        }
    }

    /// One pass over the buffer; `false` once stopped.
    pub(super) fn pass(&mut self, m: &mut Meter<'_>) -> bool {
        let mut since = 0;
        let mut i = 0;
        while i < self.buf.len() {
            self.buf[i] = self.buf[i].wrapping_add(1);
            i += self.stride;
            since += 1;
            if since == TOUCHES_PER_CHECKPOINT {
                m.work_units += since as u64;
                since = 0;
                if !m.checkpoint() {
                    return false;
                }
            }
        }
        m.work_units += since as u64;
        std::hint::black_box(&mut self.buf);
        m.checkpoint()
    }
}

pub(super) fn cache_pressure(m: &mut Meter<'_>, size_kib: u64, stride: u64) {
    let mut w = Walker::new(size_kib, stride);
    while w.pass(m) {
        m.iterations += 1;
    }
}

pub(super) fn cache_yield(m: &mut Meter<'_>, size_kib: u64) {
    let mut w = Walker::new(size_kib, 64);
    while w.pass(m) {
        m.iterations += 1;
        sched_yield();
    }
}

/// Maps `size_kib` of fresh anonymous memory, writes one byte per page,
/// unmaps; every page is a fault. One page = one work unit.
pub(super) fn page_fault_churn(ctx: &mut Ctx<'_>, m: &mut Meter<'_>, size_kib: u64) {
    loop {
        match touch_fresh(m, size_kib as usize * 1024) {
            Ok(true) => m.iterations += 1,
            Ok(false) => return,
            Err(e) => {
                ctx.error(format!("page_fault_churn: mmap failed: {e}"));
                return;
            }
        }
    }
}

/// Maps, touches and unmaps `len` bytes; `Ok(false)` once stopped.
fn touch_fresh(m: &mut Meter<'_>, len: usize) -> std::io::Result<bool> {
    // SAFETY: fresh private anonymous mapping, checked before use.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error());
    }
    let base = p.cast::<u8>();
    let mut go_on = true;
    for (n, off) in (0..len).step_by(PAGE).enumerate() {
        // SAFETY: `off` is inside the mapping.
        unsafe { base.add(off).write_volatile(1) };
        m.work_units += 1;
        if n % 64 == 63 && !m.checkpoint() {
            go_on = false;
            break;
        }
    }
    // SAFETY: unmapping exactly what was mapped.
    unsafe { libc::munmap(p, len) };
    Ok(go_on && m.checkpoint())
}

/// For each NUMA node in order: bind, fault in a fresh working set, walk
/// it for `step_ms`. The trace lists the nodes visited.
pub(super) fn numa_working_set_sweep(
    ctx: &mut Ctx<'_>,
    m: &mut Meter<'_>,
    size_kib: u64,
    step_ms: u64,
) {
    let nodes = ctx.plan.nodes.clone();
    loop {
        for &node in &nodes {
            let bind = MemPolicy::Bind { nodes: vec![node] };
            if let Err(e) = apply_mem_policy(&bind, MpolFlags::default()) {
                ctx.error(e);
            }
            ctx.trace(|| format!("node {node}"));
            let mut w = Walker::new(size_kib, 64);
            let end = now_ns() + step_ms * 1_000_000;
            while now_ns() < end {
                if !w.pass(m) {
                    return;
                }
            }
            m.iterations += 1;
        }
        if nodes.is_empty() {
            let mut state = ctx.plan.seed | 1;
            if !spin_for(&mut state, m, step_ms * 1_000_000) {
                return;
            }
        }
    }
}
