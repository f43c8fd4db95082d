//! Memory shared by the parent and every worker: the stop flag, the release
//! time, and the cells that group work types use to talk (futex words,
//! wake-up timestamps).
//!
//! It is one anonymous `MAP_SHARED` mapping made before the first fork, so
//! forked workers and threads see the same bytes. Workers poll the stop flag
//! at every checkpoint: a relaxed load of a cached line is far cheaper than
//! a syscall, which keeps the checkpoint under its cost budget.

use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Fixed part at the start of the mapping.
#[repr(C)]
struct Header {
    /// Non-zero once the parent asked workers to stop.
    stop: AtomicU32,
    _pad: u32,
    /// `CLOCK_MONOTONIC` nanoseconds when the start barrier opened.
    release_ns: AtomicU64,
}

/// The mapping. `u32` cells are futex words; `u64` cells carry timestamps
/// and counters. Group work types are handed index ranges by the planner.
#[derive(Debug)]
pub(crate) struct Shared {
    base: NonNull<u8>,
    len: usize,
    n32: usize,
    n64: usize,
}

// SAFETY: the mapping is only accessed through atomics, and it outlives
// every user: the parent unmaps it in `Drop` after all workers are dead,
// and worker processes never unmap it (they `_exit`).
unsafe impl Send for Shared {}
// SAFETY: as above; every access is an atomic operation.
unsafe impl Sync for Shared {}

impl Shared {
    /// Maps a zeroed region with `n32` futex words and `n64` 64-bit cells.
    pub(crate) fn new(n32: usize, n64: usize) -> io::Result<Shared> {
        let len = Self::off64(n32) + n64 * 8;
        // SAFETY: an anonymous mapping with no address hint; the result is
        // checked before use.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base = NonNull::new(ptr.cast::<u8>()).ok_or_else(io::Error::last_os_error)?;
        Ok(Shared {
            base,
            len,
            n32,
            n64,
        })
    }

    fn off64(n32: usize) -> usize {
        let end32 = std::mem::size_of::<Header>() + n32 * 4;
        end32.div_ceil(8) * 8
    }

    fn header(&self) -> &Header {
        // SAFETY: the mapping starts with a zero-initialised `Header`
        // (all-zero atomics are valid) and is page aligned.
        unsafe { &*self.base.as_ptr().cast::<Header>() }
    }

    pub(crate) fn stop_flag(&self) -> &AtomicU32 {
        &self.header().stop
    }

    pub(crate) fn request_stop(&self) {
        self.header().stop.store(1, Ordering::SeqCst);
    }

    pub(crate) fn release_ns(&self) -> u64 {
        self.header().release_ns.load(Ordering::Acquire)
    }

    pub(crate) fn set_release_ns(&self, ns: u64) {
        self.header().release_ns.store(ns, Ordering::Release);
    }

    /// Futex word `i`.
    pub(crate) fn word(&self, i: usize) -> &AtomicU32 {
        assert!(i < self.n32, "futex word {i} out of {}", self.n32);
        let off = std::mem::size_of::<Header>() + i * 4;
        // SAFETY: in bounds (checked), 4-byte aligned, zero-initialised.
        unsafe { &*self.base.as_ptr().add(off).cast::<AtomicU32>() }
    }

    /// 64-bit cell `i`.
    pub(crate) fn cell(&self, i: usize) -> &AtomicU64 {
        assert!(i < self.n64, "cell {i} out of {}", self.n64);
        let off = Self::off64(self.n32) + i * 8;
        // SAFETY: in bounds (checked), 8-byte aligned, zero-initialised.
        unsafe { &*self.base.as_ptr().add(off).cast::<AtomicU64>() }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly what `new` mapped; no reference into it
        // outlives `self` in this process.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.len) };
    }
}

pub(crate) use crate::clock::{monotonic_ns as now_ns, thread_cpu_ns};
