//! Churn (random setting each iteration, seeded) and sweep (ordered range)
//! work types, plus fork/exit churn.

use super::sync::spin_for;
use super::Ctx;
use crate::workload::affinity::{set_thread_affinity, thread_affinity};
use crate::workload::measure::Meter;
use crate::workload::policy::{apply_nice, apply_sched_policy, current_nice};
use ktstr_wire::workload::SchedPolicy;

/// Forks a child that `_exit`s at once, then reaps it; one fork = one unit.
pub(super) fn fork_exit(ctx: &mut Ctx<'_>, m: &mut Meter<'_>) {
    loop {
        // SAFETY: the child calls only `_exit`, which is async-signal-safe.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: see above.
            unsafe { libc::_exit(0) };
        }
        if pid < 0 {
            ctx.error(format!(
                "fork_exit: fork failed: {}",
                std::io::Error::last_os_error()
            ));
            return;
        }
        let mut status = 0;
        // SAFETY: reaping our own child; EINTR (stop signal) retried.
        while unsafe { libc::waitpid(pid, &mut status, 0) } < 0
            && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
        {}
        m.resume_after_sleep();
        m.work_units += 1;
        m.iterations += 1;
        if !m.checkpoint() {
            return;
        }
    }
}

/// Pins itself to a random CPU of its initial mask every batch.
pub(super) fn affinity_churn(ctx: &mut Ctx<'_>, m: &mut Meter<'_>) {
    let allowed = match thread_affinity() {
        Ok(a) if !a.is_empty() => a,
        other => {
            ctx.error(format!(
                "affinity_churn: cannot read the CPU mask: {other:?}"
            ));
            return;
        }
    };
    let mut state = ctx.plan.seed | 1;
    loop {
        let cpu = allowed[ctx.rng.below(allowed.len() as u64) as usize];
        if let Err(e) = set_thread_affinity(&[cpu]) {
            ctx.error(format!("affinity_churn: sched_setaffinity({cpu}): {e}"));
        }
        m.iterations += 1;
        if !spin_for(&mut state, m, 0) {
            return;
        }
    }
}

/// Classes `policy_churn` picks from. FIFO/RR need CAP_SYS_NICE; a refusal
/// is reported once and the worker carries on in its current class.
const CHURN_POLICIES: [SchedPolicy; 5] = [
    SchedPolicy::Normal,
    SchedPolicy::Batch,
    SchedPolicy::Idle,
    SchedPolicy::Fifo { priority: 1 },
    SchedPolicy::RoundRobin { priority: 1 },
];

/// Switches to a random class every batch; the trace lists the choices.
pub(super) fn policy_churn(ctx: &mut Ctx<'_>, m: &mut Meter<'_>) {
    let mut state = ctx.plan.seed | 1;
    loop {
        let policy = CHURN_POLICIES[ctx.rng.below(CHURN_POLICIES.len() as u64) as usize];
        match apply_sched_policy(policy, None) {
            Ok(()) => ctx.trace(|| format!("{policy:?}")),
            Err(e) => ctx.error(e),
        }
        m.iterations += 1;
        if !spin_for(&mut state, m, 0) {
            return;
        }
    }
}

/// Walks nice `from..=to`, spinning `step_ms` at each, then starts over.
/// The trace holds the nice value read back after each change.
pub(super) fn nice_sweep(ctx: &mut Ctx<'_>, m: &mut Meter<'_>, from: i32, to: i32, step_ms: u64) {
    let mut state = ctx.plan.seed | 1;
    loop {
        for nice in from..=to {
            match apply_nice(nice) {
                Ok(()) => ctx.trace(|| format!("nice {}", current_nice())),
                Err(e) => ctx.error(e),
            }
            m.iterations += 1;
            if !spin_for(&mut state, m, step_ms * 1_000_000) {
                return;
            }
        }
    }
}
