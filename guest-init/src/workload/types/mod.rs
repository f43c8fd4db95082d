//! The work types' loops, grouped by family. Each loop runs until the
//! meter's stop flag is set, counts its work in the meter, and calls
//! [`Meter::checkpoint`] at least every [`Meter::units_per_checkpoint`]
//! units of CPU work. Every blocking wait has a timeout of at most
//! [`STOP_POLL_MS`] so a worker notices the stop flag even when its
//! partner is gone.

mod churn;
mod cpu;
mod io;
mod ipc;
mod memory;
mod sync;

use super::measure::Meter;
use super::plan::WorkerPlan;
use super::rng::Rng;
use super::shared::Shared;
use ktstr_wire::workload::WorkType;
use ktstr_wire::workload::MAX_TRACE;

/// Longest a worker blocks before re-checking the stop flag.
pub(crate) const STOP_POLL_MS: u64 = 10;

/// What a running work type can reach besides its meter.
#[derive(Debug)]
pub(crate) struct Ctx<'a> {
    pub plan: &'a WorkerPlan,
    pub shared: &'a Shared,
    pub rng: Rng,
    /// Refusals met while running (e.g. a churned policy).
    pub errors: Vec<String>,
    /// Steps walked, for the report's `trace`.
    pub trace: Vec<String>,
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(plan: &'a WorkerPlan, shared: &'a Shared) -> Self {
        Ctx {
            plan,
            shared,
            rng: Rng::new(plan.seed),
            errors: Vec::new(),
            trace: Vec::new(),
        }
    }

    /// Notes a step; keeps the first [`MAX_TRACE`].
    pub(crate) fn trace(&mut self, step: impl FnOnce() -> String) {
        if self.trace.len() < MAX_TRACE {
            self.trace.push(step());
        }
    }

    /// Notes a refusal once per distinct message.
    pub(crate) fn error(&mut self, e: String) {
        if self.errors.len() < MAX_TRACE && !self.errors.contains(&e) {
            self.errors.push(e);
        }
    }
}

/// Runs the plan's work type until stopped.
pub(crate) fn run(ctx: &mut Ctx<'_>, m: &mut Meter<'_>) {
    use ipc::FanOut;
    match ctx.plan.work.clone() {
        WorkType::SpinWait => cpu::spin_wait(ctx, m),
        WorkType::YieldHeavy => cpu::yield_heavy(ctx, m),
        WorkType::Mixed => cpu::mixed(ctx, m),
        WorkType::Bursty { burst_us, sleep_us } => cpu::bursty(ctx, m, burst_us, sleep_us),
        WorkType::IdleChurn => cpu::idle_churn(ctx, m),
        WorkType::PreemptStorm => cpu::preempt_storm(ctx, m),
        WorkType::RtStarvation { run_us, sleep_us } => cpu::rt_starvation(ctx, m, run_us, sleep_us),
        WorkType::PipeIo => ipc::pipe_pair(ctx, m, |m| m.work_units += 1),
        WorkType::CachePipe { size_kib } => {
            let mut w = memory::Walker::new(size_kib, 64);
            ipc::pipe_pair(ctx, m, move |m| {
                w.pass(m);
            })
        }
        WorkType::FutexPingPong => ipc::futex_ping_pong(ctx, m),
        WorkType::FutexFanOut { fan_out } => ipc::fan_out(ctx, m, fan_out, FanOut::Futex),
        WorkType::FanOutCompute { fan_out } => ipc::fan_out(ctx, m, fan_out, FanOut::Compute),
        WorkType::ThunderingHerd { waiters } => ipc::fan_out(ctx, m, waiters, FanOut::Herd),
        WorkType::MutexContention { .. } => ipc::mutex_contention(ctx, m),
        WorkType::WakeChain { depth } => ipc::wake_chain(ctx, m, depth),
        WorkType::CachePressure { size_kib, stride } => memory::cache_pressure(m, size_kib, stride),
        WorkType::CacheYield { size_kib } => memory::cache_yield(m, size_kib),
        WorkType::PageFaultChurn { size_kib } => memory::page_fault_churn(ctx, m, size_kib),
        WorkType::NumaWorkingSetSweep { size_kib, step_ms } => {
            memory::numa_working_set_sweep(ctx, m, size_kib, step_ms)
        }
        WorkType::IoSyncWrite { size_kib } => io::io_sync_write(ctx, m, size_kib),
        WorkType::Sequence { phases } => io::sequence(ctx, m, &phases),
        WorkType::ForkExit => churn::fork_exit(ctx, m),
        WorkType::AffinityChurn => churn::affinity_churn(ctx, m),
        WorkType::PolicyChurn => churn::policy_churn(ctx, m),
        WorkType::NiceSweep { from, to, step_ms } => churn::nice_sweep(ctx, m, from, to, step_ms),
    }
}
