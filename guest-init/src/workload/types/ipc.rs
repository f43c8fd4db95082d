//! Work types that wake each other: pipes, futex hand-offs, fan-out,
//! a mutex, a wake ring. Each records the latency from the moment the
//! waker acted (a timestamp it published) to the moment the wakee ran.

use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};

use super::sync::{futex_wait, futex_wake, read_stamp, spin_units, write_stamp};
use super::Ctx;
use crate::workload::measure::Meter;
use crate::workload::shared::now_ns;

/// A pair bouncing a timestamp: member 0 writes pipe 0 and reads pipe 1,
/// member 1 the reverse. `work` runs between receiving and sending.
pub(super) fn pipe_pair(
    ctx: &mut Ctx<'_>,
    m: &mut Meter<'_>,
    mut work: impl FnMut(&mut Meter<'_>),
) {
    let me = ctx.plan.member as usize;
    let out = ctx.plan.pipes[me][1];
    let inp = ctx.plan.pipes[1 - me][0];
    if me == 0 && !write_stamp(out, now_ns()) {
        ctx.error("pipe_io: first write failed".into());
        return;
    }
    loop {
        let Some(stamp) = read_stamp(inp) else {
            if m.stopping() {
                return;
            }
            continue;
        };
        m.latency.record(now_ns().saturating_sub(stamp));
        m.resume_after_sleep();
        work(m);
        m.iterations += 1;
        let go_on = m.checkpoint();
        // Always answer, so the partner is not left waiting.
        write_stamp(out, now_ns());
        if !go_on {
            return;
        }
    }
}

/// A pair handing a turn word back and forth.
pub(super) fn futex_ping_pong(ctx: &mut Ctx<'_>, m: &mut Meter<'_>) {
    let me = ctx.plan.member;
    let turn = ctx.shared.word(ctx.plan.word_base);
    let stamp = ctx.shared.cell(ctx.plan.cell_base);
    loop {
        let cur = turn.load(Acquire);
        if cur != me {
            if m.stopping() {
                return;
            }
            futex_wait(turn, cur);
            continue;
        }
        let s = stamp.load(Relaxed);
        if s != 0 {
            m.latency.record(now_ns().saturating_sub(s));
        }
        m.resume_after_sleep();
        m.work_units += 1;
        m.iterations += 1;
        let go_on = m.checkpoint();
        stamp.store(now_ns(), Relaxed);
        turn.store(1 - me, Release);
        futex_wake(turn, 1);
        if !go_on {
            return;
        }
    }
}

/// How a fan-out unit behaves.
#[derive(Debug, Clone, Copy)]
pub(super) enum FanOut {
    /// Waiters do one unit; the waker waits for all.
    Futex,
    /// Waiters do a calibrated batch; the waker waits for all.
    Compute,
    /// The waker wakes everyone every millisecond and does not wait.
    Herd,
}

/// Member 0 wakes the other `n` members at once through a generation word.
pub(super) fn fan_out(ctx: &mut Ctx<'_>, m: &mut Meter<'_>, n: u32, kind: FanOut) {
    let gen = ctx.shared.word(ctx.plan.word_base);
    let done = ctx.shared.word(ctx.plan.word_base + 1);
    let stamp = ctx.shared.cell(ctx.plan.cell_base);
    if ctx.plan.member == 0 {
        fan_out_waker(m, gen, done, stamp, n, kind);
        return;
    }
    let mut state = ctx.plan.seed | 1;
    // Generation 0 is "no round yet": the waker's first bump is round 1,
    // which every waiter must see even if it started late.
    let mut seen = 0;
    loop {
        let cur = gen.load(Acquire);
        if cur == seen {
            if m.stopping() {
                return;
            }
            futex_wait(gen, seen);
            continue;
        }
        seen = cur;
        m.latency
            .record(now_ns().saturating_sub(stamp.load(Relaxed)));
        m.resume_after_sleep();
        match kind {
            FanOut::Compute => spin_units(&mut state, m, m.units_per_checkpoint * 4),
            FanOut::Futex | FanOut::Herd => spin_units(&mut state, m, 1),
        }
        m.iterations += 1;
        if !matches!(kind, FanOut::Herd) && done.fetch_add(1, AcqRel) + 1 == n {
            futex_wake(done, 1);
        }
        if !m.checkpoint() {
            return;
        }
    }
}

fn fan_out_waker(
    m: &mut Meter<'_>,
    gen: &std::sync::atomic::AtomicU32,
    done: &std::sync::atomic::AtomicU32,
    stamp: &std::sync::atomic::AtomicU64,
    n: u32,
    kind: FanOut,
) {
    loop {
        done.store(0, Relaxed);
        stamp.store(now_ns(), Relaxed);
        gen.fetch_add(1, Release);
        futex_wake(gen, i32::MAX);
        m.work_units += 1;
        m.iterations += 1;
        if let FanOut::Herd = kind {
            super::sync::timed_sleep(m, 1_000_000);
        } else {
            loop {
                let d = done.load(Acquire);
                if d >= n || m.stopping() {
                    break;
                }
                futex_wait(done, d);
            }
            m.resume_after_sleep();
        }
        if !m.checkpoint() {
            return;
        }
    }
}

/// A futex mutex (0 free, 1 locked, 2 locked with waiters) shared by the
/// unit. Latency = time from asking for the lock to holding it.
pub(super) fn mutex_contention(ctx: &mut Ctx<'_>, m: &mut Meter<'_>) {
    let lock = ctx.shared.word(ctx.plan.word_base);
    let mut state = ctx.plan.seed | 1;
    let hold = (m.units_per_checkpoint / 4).max(1);
    loop {
        let asked = now_ns();
        if lock.compare_exchange(0, 1, Acquire, Relaxed).is_err() {
            while lock.swap(2, Acquire) != 0 {
                if m.stopping() {
                    return;
                }
                futex_wait(lock, 2);
            }
        }
        m.latency.record(now_ns().saturating_sub(asked));
        m.resume_after_sleep();
        spin_units(&mut state, m, hold);
        if lock.fetch_sub(1, Release) != 1 {
            lock.store(0, Release);
            futex_wake(lock, 1);
        }
        spin_units(&mut state, m, hold);
        m.iterations += 1;
        if !m.checkpoint() {
            return;
        }
    }
}

/// A token passed around a ring: member i waits on word i, then hands the
/// token to member i+1. Member 0 holds it first.
pub(super) fn wake_chain(ctx: &mut Ctx<'_>, m: &mut Meter<'_>, depth: u32) {
    let me = ctx.plan.member as usize;
    let next = (me + 1) % depth as usize;
    let (wb, cb) = (ctx.plan.word_base, ctx.plan.cell_base);
    let mine = ctx.shared.word(wb + me);
    let mut have = me == 0;
    loop {
        if !have {
            if mine.load(Acquire) == 0 {
                if m.stopping() {
                    return;
                }
                futex_wait(mine, 0);
                continue;
            }
            mine.store(0, Relaxed);
            let s = ctx.shared.cell(cb + me).load(Relaxed);
            m.latency.record(now_ns().saturating_sub(s));
            m.resume_after_sleep();
        }
        have = false;
        m.work_units += 1;
        m.iterations += 1;
        let go_on = m.checkpoint();
        ctx.shared.cell(cb + next).store(now_ns(), Relaxed);
        let w = ctx.shared.word(wb + next);
        w.store(1, Release);
        futex_wake(w, 1);
        if !go_on {
            return;
        }
    }
}
