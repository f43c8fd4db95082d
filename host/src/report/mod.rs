//! What a run tells the user: [`RunResult`] (the `result.json` schema and
//! `--json` output) and its human-readable [`summary`].

pub mod ci;
pub mod html;
pub mod summary;
mod timeline;

use std::path::PathBuf;

use ktstr_wire::topology::Topology;
use ktstr_wire::workload::WorkerReport;
use ktstr_wire::GuestMsg;
use serde::Serialize;

use crate::events::TimedEvent;
use crate::finding::{Finding, Outcome};
use crate::plan::{RunPlan, SchedulerSource};
use crate::qemu::accel::AccelChoice;
use crate::verdict::Judgement;
pub use timeline::{timeline, TimelineEntry};

/// Bumped when `result.json` changes incompatibly. 2: worker reports'
/// wake latency is a histogram (no `samples_ns`), with `gaps`.
pub const RESULT_SCHEMA: u32 = 2;

/// Everything known about one run.
#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    pub schema: u32,
    pub outcome: Outcome,
    pub exit_code: i32,
    pub findings: Vec<Finding>,
    pub kernel: KernelInfo,
    pub scheduler: Option<SchedulerInfo>,
    pub accel: AccelChoice,
    pub topology: TopologyInfo,
    pub duration_ms: u64,
    /// Host wall time from QEMU start to QEMU exit.
    pub wall_ms: u64,
    pub timeline: Vec<TimelineEntry>,
    pub workers: Vec<WorkerReport>,
    /// External programs run in the guest: output and exit status.
    pub payloads: Vec<crate::payload::PayloadResult>,
    /// One result per `--scenario`, with its assertions.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scenarios: Vec<crate::assert::ScenarioResult>,
    /// The plain workload's assertions (a run without scenarios).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload: Option<crate::assert::ScenarioResult>,
    pub artifacts: PathBuf,
    /// What `--trace` recorded (set by `execute`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace: Option<crate::trace::TraceSummary>,
}

#[derive(Debug, Clone, Serialize)]
pub struct KernelInfo {
    pub image: PathBuf,
    pub cache_key: Option<String>,
    /// `uname -r` reported by the guest.
    pub release: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SchedulerInfo {
    pub name: String,
    pub path: PathBuf,
    pub args: Vec<String>,
    pub found_via: SchedulerSource,
    /// sched_ext's ops name once attached.
    pub ops: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TopologyInfo {
    pub vcpus: u32,
    pub expected: Topology,
    pub observed: Option<Topology>,
}

impl RunResult {
    /// The result of `plan`'s run: what the guest said (`events`), the
    /// judge's verdict and scenario results, the payloads' ends.
    pub fn new(
        plan: &RunPlan,
        events: &[TimedEvent],
        judged: Judgement,
        payloads: Vec<crate::payload::PayloadResult>,
        exit_code: i32,
        artifacts: PathBuf,
    ) -> RunResult {
        let Judgement {
            verdict,
            scenarios,
            workload,
        } = judged;
        let guest = || events.iter().filter_map(|e| e.guest());
        let release = guest().find_map(|m| match m {
            GuestMsg::Hello { kernel_release, .. } => Some(kernel_release.clone()),
            _ => None,
        });
        let ops = guest().find_map(|m| match m {
            GuestMsg::SchedulerAttached { ops, .. } => Some(ops.clone()),
            _ => None,
        });
        // The last one, as the verdict reads it.
        let observed = guest()
            .filter_map(|m| match m {
                GuestMsg::Topology(t) => Some(t.clone()),
                _ => None,
            })
            .next_back();
        let workers = guest()
            .filter_map(|m| match m {
                GuestMsg::Worker(r) => Some(r.as_ref().clone()),
                _ => None,
            })
            .collect();
        RunResult {
            schema: RESULT_SCHEMA,
            outcome: verdict.outcome,
            exit_code,
            findings: verdict.findings,
            kernel: KernelInfo {
                image: plan.kernel().image.clone(),
                cache_key: plan.kernel().key.clone(),
                release,
            },
            scheduler: plan.scheduler().map(|s| SchedulerInfo {
                name: s.name.clone(),
                path: s.host_path.clone(),
                args: s.args.clone(),
                found_via: s.source.clone(),
                ops,
            }),
            accel: plan.accel().clone(),
            topology: TopologyInfo {
                vcpus: plan.topology().vcpus(),
                expected: plan.topology().expected(),
                observed,
            },
            duration_ms: plan.workload().duration_ms,
            wall_ms: events.last().map_or(0, |e| e.host_ms),
            timeline: timeline(events),
            workers,
            payloads,
            scenarios,
            workload,
            artifacts,
            trace: None,
        }
    }
}
