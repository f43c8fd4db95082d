//! CPU-bound and timer-driven work types: spinning, yielding, sleeping.

use super::sync::{sched_yield, spin_for, spin_units, timed_sleep};
use super::Ctx;
use crate::workload::measure::Meter;
use crate::workload::policy::apply_sched_policy;
use ktstr_wire::workload::SchedPolicy;

/// Pure computation; a checkpoint every calibrated batch.
pub(super) fn spin_wait(ctx: &mut Ctx<'_>, m: &mut Meter<'_>) {
    let mut state = ctx.plan.seed | 1;
    loop {
        spin_units(&mut state, m, m.units_per_checkpoint);
        m.iterations += 1;
        if !m.checkpoint() {
            return;
        }
    }
}

/// An eighth of a batch, then `sched_yield()`: constant voluntary
/// switches that hit the scheduler's yield path.
pub(super) fn yield_heavy(ctx: &mut Ctx<'_>, m: &mut Meter<'_>) {
    let mut state = ctx.plan.seed | 1;
    let n = (m.units_per_checkpoint / 8).max(1);
    loop {
        spin_units(&mut state, m, n);
        sched_yield();
        m.iterations += 1;
        if !m.checkpoint() {
            return;
        }
    }
}

/// A batch per iteration, a yield every 4th, a 50 us sleep every 16th.
pub(super) fn mixed(ctx: &mut Ctx<'_>, m: &mut Meter<'_>) {
    let mut state = ctx.plan.seed | 1;
    loop {
        spin_units(&mut state, m, m.units_per_checkpoint);
        m.iterations += 1;
        if m.iterations.is_multiple_of(16) {
            timed_sleep(m, 50_000);
        } else if m.iterations.is_multiple_of(4) {
            sched_yield();
        }
        if !m.checkpoint() {
            return;
        }
    }
}

/// Spin `burst_us`, sleep `sleep_us`.
pub(super) fn bursty(ctx: &mut Ctx<'_>, m: &mut Meter<'_>, burst_us: u64, sleep_us: u64) {
    let mut state = ctx.plan.seed | 1;
    loop {
        if !spin_for(&mut state, m, burst_us * 1000) {
            return;
        }
        m.iterations += 1;
        timed_sleep(m, sleep_us * 1000);
        if m.stopping() {
            return;
        }
    }
}

/// Random sleeps of 10 us to 1 ms with one unit of work between.
pub(super) fn idle_churn(ctx: &mut Ctx<'_>, m: &mut Meter<'_>) {
    let mut state = ctx.plan.seed | 1;
    loop {
        let us = 10 + ctx.rng.below(991);
        timed_sleep(m, us * 1000);
        spin_units(&mut state, m, 1);
        m.iterations += 1;
        if !m.checkpoint() {
            return;
        }
    }
}

/// 100 us timer sleeps, each followed by a 20 us spin.
pub(super) fn preempt_storm(ctx: &mut Ctx<'_>, m: &mut Meter<'_>) {
    let mut state = ctx.plan.seed | 1;
    loop {
        timed_sleep(m, 100_000);
        m.iterations += 1;
        if m.stopping() || !spin_for(&mut state, m, 20_000) {
            return;
        }
    }
}

/// `SCHED_FIFO` priority 1: spin `run_us`, sleep `sleep_us`. A refusal is
/// reported and the worker spins in its inherited class instead.
pub(super) fn rt_starvation(ctx: &mut Ctx<'_>, m: &mut Meter<'_>, run_us: u64, sleep_us: u64) {
    if let Err(e) = apply_sched_policy(SchedPolicy::Fifo { priority: 1 }, None) {
        ctx.error(e);
    }
    let mut state = ctx.plan.seed | 1;
    loop {
        if !spin_for(&mut state, m, run_us * 1000) {
            return;
        }
        m.iterations += 1;
        timed_sleep(m, sleep_us * 1000);
        if m.stopping() {
            return;
        }
    }
}
