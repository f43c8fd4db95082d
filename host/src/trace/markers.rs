//! Run markers for the trace's timeline: the scheduler attaching and
//! leaving, phases, scenario steps, injected faults, findings, and where
//! the trace itself was capped or lost events. Guest times (uptime in
//! ms, scenario `CLOCK_MONOTONIC` ns) are moved onto the trace clock.

use ktstr_wire::scenario::Mark;
use ktstr_wire::{GuestMsg, TraceStart};

use super::model::{Lost, Marker};
use crate::events::TimedEvent;
use crate::finding::Finding;

/// Most markers in one trace (a flooding guest cannot grow it further).
pub const MAX_MARKERS: usize = 10_000;
/// Kernel log lines at this level or more urgent become markers (3 = err).
const KERNEL_LEVEL: u8 = 3;

/// Converts guest clocks to the trace clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    /// `CLOCK_BOOTTIME` minus the trace clock.
    boot_minus_trace: i64,
    /// `CLOCK_BOOTTIME` minus `CLOCK_MONOTONIC`.
    boot_minus_mono: i64,
}

impl Clock {
    /// From the start message: `boot` is the boot clock itself, `mono`
    /// differs by the (fixed) suspend time, anything else (`local`, the
    /// scheduler clock) is taken as counting from boot too.
    pub fn new(start: &TraceStart) -> Clock {
        let boot_minus_mono = start.boot_ns as i64 - start.mono_ns as i64;
        Clock {
            boot_minus_trace: if start.clock == "mono" {
                boot_minus_mono
            } else {
                0
            },
            boot_minus_mono,
        }
    }

    pub fn from_boot_ns(&self, ns: u64) -> u64 {
        (ns as i64).saturating_sub(self.boot_minus_trace).max(0) as u64
    }

    pub fn from_uptime_ms(&self, ms: u64) -> u64 {
        self.from_boot_ns(ms.saturating_mul(1_000_000))
    }

    pub fn from_mono_ns(&self, ns: u64) -> u64 {
        self.from_boot_ns((ns as i64).saturating_add(self.boot_minus_mono).max(0) as u64)
    }
}

fn marker(ts: u64, category: &str, name: String, detail: String) -> Marker {
    Marker {
        ts,
        category: category.to_string(),
        name,
        detail,
    }
}

/// Markers from the guest's messages.
pub fn from_events(events: &[TimedEvent], clock: &Clock) -> Vec<Marker> {
    let ms = |t: &u64| clock.from_uptime_ms(*t);
    let mut out = Vec::new();
    for msg in events.iter().filter_map(TimedEvent::guest) {
        let m = match msg {
            GuestMsg::SchedulerStarted {
                pid,
                path,
                uptime_ms,
                ..
            } => marker(
                ms(uptime_ms),
                "scheduler",
                format!("scheduler started (pid {pid})"),
                path.clone(),
            ),
            GuestMsg::SchedulerAttached { ops, uptime_ms } => marker(
                ms(uptime_ms),
                "scheduler",
                format!("scheduler attached: {ops}"),
                String::new(),
            ),
            GuestMsg::SchedExtState {
                state,
                ops,
                uptime_ms,
            } => marker(
                ms(uptime_ms),
                "scheduler",
                format!("sched_ext {state}"),
                ops.clone().unwrap_or_default(),
            ),
            GuestMsg::SchedulerExited {
                exit,
                requested,
                uptime_ms,
            } => {
                let how = if *requested {
                    "stopped at the end"
                } else {
                    "exited on its own"
                };
                marker(
                    ms(uptime_ms),
                    "scheduler",
                    format!("scheduler detached: {how}"),
                    exit.to_string(),
                )
            }
            GuestMsg::Phase { phase, uptime_ms } => marker(
                ms(uptime_ms),
                "phase",
                format!(
                    "phase: {}",
                    serde_json::to_value(phase)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default()
                ),
                String::new(),
            ),
            GuestMsg::FaultInjected { fault, uptime_ms } => marker(
                ms(uptime_ms),
                "fault",
                format!("fault injected: {fault}"),
                String::new(),
            ),
            GuestMsg::PayloadExited {
                name,
                exit,
                uptime_ms,
                ..
            } => marker(
                ms(uptime_ms),
                "payload",
                format!("payload {name} ended"),
                exit.to_string(),
            ),
            GuestMsg::KernelLog { level, ts_us, line } if *level <= KERNEL_LEVEL => marker(
                clock.from_boot_ns(ts_us.saturating_mul(1000)),
                "kernel",
                format!("kernel: {}", ktstr_wire::codec::excerpt(line, 80)),
                line.clone(),
            ),
            GuestMsg::Scenario(ev) => {
                let n = ev.scenario;
                let (name, detail) = match &ev.mark {
                    Mark::Started => (format!("scenario {n} started"), String::new()),
                    Mark::Released {
                        cgroup,
                        first,
                        count,
                        ..
                    } => (
                        format!("scenario {n}: groups {first}..{} released", first + count),
                        format!("cgroup {cgroup}"),
                    ),
                    Mark::Step { index, ops, .. } => {
                        (format!("scenario {n} step {index}"), ops.join("; "))
                    }
                    Mark::Ended => (format!("scenario {n} ended"), String::new()),
                };
                let detail = if ev.errors.is_empty() {
                    detail
                } else {
                    format!("{detail}\nerrors: {}", ev.errors.join("; "))
                };
                marker(clock.from_mono_ns(ev.mono_ns), "scenario", name, detail)
            }
            _ => continue,
        };
        out.push(m);
        if out.len() >= MAX_MARKERS {
            break;
        }
    }
    out
}

/// Findings, at their guest time when known, else at `end`.
pub fn from_findings(findings: &[Finding], clock: &Clock, end: u64) -> Vec<Marker> {
    findings
        .iter()
        .map(|f| {
            let ts = f.at_guest_ms.map_or(end, |ms| clock.from_uptime_ms(ms));
            marker(
                ts,
                "finding",
                format!("finding: {}: {}", f.class.name(), f.message),
                f.evidence.join("\n"),
            )
        })
        .collect()
}

/// Where the trace is incomplete: the guest's cap, events the kernel
/// dropped, and notes from the host's receiver.
pub fn from_gaps(
    capped: Option<(u64, u64)>,
    lost: &[Lost],
    notes: &[String],
    end: u64,
) -> Vec<Marker> {
    let mut out = Vec::new();
    if let Some((ts, limit)) = capped {
        out.push(marker(
            ts,
            "trace",
            format!("trace capped: its limit of {limit} bytes was reached"),
            "events after this point were not recorded (raise --trace-limit)".into(),
        ));
    }
    for l in lost.iter().take(1000) {
        let count = l.count.map_or("some".to_string(), |c| c.to_string());
        out.push(marker(
            l.ts,
            "trace",
            format!("CPU {}: {count} events lost", l.cpu),
            "the ring buffer filled before the guest drained it".into(),
        ));
    }
    for n in notes {
        out.push(marker(
            end,
            "trace",
            format!("trace cut by the host: {n}"),
            String::new(),
        ));
    }
    out
}
