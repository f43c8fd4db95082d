//! Injects the faults of `ktstr-vm run --inject` at their time, so the
//! host's failure detection meets real failures: a scheduler killed by a
//! signal, a kernel crashed through sysrq, an init that stops answering.
//!
//! The workload loop calls [`Injector::fire_due`] on every monitor tick;
//! delays count from the workload start.

use std::time::{Duration, Instant};

use ktstr_wire::{Fault, FaultKind, GuestMsg, Stage};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::clock::uptime_ms;
use super::port::Reporter;

/// Time for the `FaultInjected` message to leave the guest before a fault
/// that may take the kernel down with it.
const ANNOUNCE: Duration = Duration::from_millis(50);

/// The faults still to fire, soonest first.
#[derive(Debug)]
pub struct Injector {
    start: Instant,
    pending: Vec<Fault>,
}

impl Injector {
    /// Starts the clock now (the workload start).
    pub fn new(faults: &[Fault]) -> Injector {
        let mut pending = faults.to_vec();
        pending.sort_by_key(|f| std::cmp::Reverse(f.after_ms));
        Injector {
            start: Instant::now(),
            pending,
        }
    }

    /// Fires every fault whose time has come. `scheduler` is the scheduler
    /// process, if any. A `hang` fault never returns.
    pub fn fire_due(&mut self, scheduler: Option<i32>, rep: &Reporter) {
        let elapsed = self.start.elapsed().as_millis() as u64;
        while self.pending.last().is_some_and(|f| f.after_ms <= elapsed) {
            let fault = self.pending.pop().expect("checked above");
            fire(fault, scheduler, rep);
        }
    }
}

fn fire(fault: Fault, scheduler: Option<i32>, rep: &Reporter) {
    rep.send(&GuestMsg::FaultInjected {
        fault: fault.to_string(),
        uptime_ms: uptime_ms(),
    });
    match fault.kind {
        FaultKind::KillScheduler { signal } => {
            let Some(pid) = scheduler else {
                rep.error(Stage::Inject, format!("{fault}: no scheduler is running"));
                return;
            };
            let sent = Signal::try_from(signal).and_then(|sig| kill(Pid::from_raw(pid), sig));
            if let Err(e) = sent {
                rep.error(Stage::Inject, format!("{fault}: kill {pid}: {e}"));
            }
        }
        FaultKind::Sysrq { key } => {
            std::thread::sleep(ANNOUNCE);
            // Enable every sysrq function first: the kernel default may mask some.
            let _ = std::fs::write("/proc/sys/kernel/sysrq", "1");
            if let Err(e) = std::fs::write("/proc/sysrq-trigger", key.to_string()) {
                rep.error(
                    Stage::Inject,
                    format!("{fault}: write /proc/sysrq-trigger: {e}"),
                );
            }
        }
        FaultKind::Hang => loop {
            std::thread::sleep(Duration::from_secs(3600));
        },
    }
}
