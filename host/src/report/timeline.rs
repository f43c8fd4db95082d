//! When each phase of a run ended, on the host clock and the guest's.

use ktstr_wire::{GuestMsg, Phase};
use serde::Serialize;

use crate::events::{Event, TimedEvent};

/// One point of the timeline. `guest_ms` is the guest's uptime, when the
/// guest reported the point; `host_ms` is when the host saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimelineEntry {
    pub point: String,
    pub host_ms: u64,
    pub guest_ms: Option<u64>,
}

fn phase_name(p: Phase) -> &'static str {
    match p {
        Phase::Init => "init",
        Phase::Ready => "ready",
        Phase::SchedulerAttached => "scheduler_attached",
        Phase::WorkloadStarted => "workload_started",
        Phase::WorkloadStopped => "workload_stopped",
        Phase::ReportsCollected => "reports_collected",
        Phase::SchedulerStopped => "scheduler_stopped",
    }
}

/// The points in order of arrival. The guest's first `AwaitingRun` (its
/// init is up and waits for the run) is "booted" after a cold boot and
/// "restored" after a restore: everything before it is the snapshot's.
pub fn timeline(events: &[TimedEvent]) -> Vec<TimelineEntry> {
    let restored = events
        .iter()
        .any(|e| matches!(e.event, Event::Restored { .. }));
    let handover = if restored { "restored" } else { "booted" };
    let entry = |point: &str, host_ms, guest_ms| TimelineEntry {
        point: point.to_string(),
        host_ms,
        guest_ms,
    };
    events
        .iter()
        .filter_map(|ev| match &ev.event {
            Event::QemuStarted => Some(entry("qemu_started", ev.host_ms, None)),
            Event::Guest { msg } => match msg {
                GuestMsg::Phase { phase, uptime_ms } => {
                    Some(entry(phase_name(*phase), ev.host_ms, Some(*uptime_ms)))
                }
                GuestMsg::AwaitingRun { uptime_ms, .. } => {
                    Some(entry(handover, ev.host_ms, Some(*uptime_ms)))
                }
                GuestMsg::Done { uptime_ms } => {
                    Some(entry("powering_off", ev.host_ms, Some(*uptime_ms)))
                }
                _ => None,
            },
            Event::QemuExited { .. } => Some(entry("qemu_exited", ev.host_ms, None)),
            Event::HostTimeout { .. } => Some(entry("host_timeout", ev.host_ms, None)),
            _ => None,
        })
        .collect()
}
