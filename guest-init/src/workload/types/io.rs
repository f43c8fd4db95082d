//! Work types that block on I/O, and the phase sequencer.

use std::os::fd::{AsRawFd, OwnedFd};

use super::sync::{sched_yield, spin_for, timed_sleep};
use super::Ctx;
use crate::workload::measure::Meter;
use crate::workload::shared::now_ns;
use ktstr_wire::workload::Phase;

/// A private, already-unlinked file in the plan's I/O directory.
#[derive(Debug)]
pub(super) struct SyncWriter {
    fd: OwnedFd,
    block: Vec<u8>,
}

impl SyncWriter {
    pub(super) fn open(ctx: &Ctx<'_>, size_kib: u32) -> std::io::Result<Self> {
        // SAFETY: gettid has no preconditions.
        let tid = unsafe { libc::gettid() };
        let path = ctx.plan.io_dir.join(format!(".ktstr-io-{tid}"));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)?;
        // Unlinked at once: nothing is left behind, even after SIGKILL.
        let _ = std::fs::remove_file(&path);
        Ok(SyncWriter {
            fd: file.into(),
            block: vec![0xa5; size_kib as usize * 1024],
        })
    }

    /// Overwrites the block at offset 0 and `fdatasync`s it.
    pub(super) fn write_sync(&mut self) -> std::io::Result<()> {
        let fd = self.fd.as_raw_fd();
        // SAFETY: writing from a valid buffer of the given length.
        let n = unsafe { libc::pwrite(fd, self.block.as_ptr().cast(), self.block.len(), 0) };
        // SAFETY: fsync-family call on our own fd.
        if n < 0 || unsafe { libc::fdatasync(fd) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
}

pub(super) fn io_sync_write(ctx: &mut Ctx<'_>, m: &mut Meter<'_>, size_kib: u32) {
    let mut w = match SyncWriter::open(ctx, size_kib) {
        Ok(w) => w,
        Err(e) => {
            ctx.error(format!(
                "io_sync_write: cannot open a file in {}: {e}",
                ctx.plan.io_dir.display()
            ));
            return;
        }
    };
    loop {
        if let Err(e) = w.write_sync() {
            ctx.error(format!("io_sync_write: {e}"));
            return;
        }
        // Time blocked in the write is I/O wait, not a scheduling gap.
        m.resume_after_sleep();
        m.work_units += 1;
        m.iterations += 1;
        if !m.checkpoint() {
            return;
        }
    }
}

/// Runs the phases in order, cycling; the trace lists each phase entered.
pub(super) fn sequence(ctx: &mut Ctx<'_>, m: &mut Meter<'_>, phases: &[Phase]) {
    let mut state = ctx.plan.seed | 1;
    let mut writer: Option<SyncWriter> = None;
    loop {
        for phase in phases {
            ctx.trace(|| phase.label());
            let end = now_ns() + phase.ms() * 1_000_000;
            let go_on = match phase {
                Phase::Spin { ms } => spin_for(&mut state, m, ms * 1_000_000),
                Phase::Sleep { ms } => {
                    timed_sleep(m, ms * 1_000_000);
                    m.checkpoint()
                }
                Phase::Yield { .. } => until(m, end, |_| sched_yield()),
                Phase::Io { .. } => {
                    if writer.is_none() {
                        match SyncWriter::open(ctx, 4) {
                            Ok(w) => writer = Some(w),
                            Err(e) => ctx.error(format!("sequence io phase: {e}")),
                        }
                    }
                    until(m, end, |m| {
                        if let Some(w) = writer.as_mut() {
                            let _ = w.write_sync();
                            m.resume_after_sleep();
                        }
                    })
                }
            };
            m.iterations += 1;
            if !go_on {
                return;
            }
        }
    }
}

/// Repeats `step` (one work unit each) with checkpoints until `end`.
fn until(m: &mut Meter<'_>, end: u64, mut step: impl FnMut(&mut Meter<'_>)) -> bool {
    loop {
        step(m);
        m.work_units += 1;
        if !m.checkpoint() {
            return false;
        }
        if now_ns() >= end {
            return true;
        }
    }
}
