//! What the host asks the guest to do, written into the initramfs.

use serde::{Deserialize, Serialize};

use super::Fault;
use crate::workload::WorkloadConfig;

/// The whole job for one boot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Must equal [`PROTOCOL_VERSION`](super::PROTOCOL_VERSION).
    pub protocol: u32,
    /// The sched_ext scheduler to attach; `None` runs the kernel's default (EEVDF).
    pub scheduler: Option<SchedulerConfig>,
    /// Workers to run once the scheduler is attached.
    pub workload: WorkloadConfig,
    /// Programs to run inside the guest beside (or instead of) the workers.
    #[serde(default)]
    pub payloads: Vec<PayloadConfig>,
    /// Forward every kernel log record, not only the ones that matter.
    #[serde(default)]
    pub forward_all_kmsg: bool,
    /// Interactive debugging: after the scheduler attaches, run `/bin/sh` on
    /// the serial console instead of the workload; power off when it exits.
    #[serde(default)]
    pub shell: bool,
    /// Faults to inject on purpose (`--inject`), to test failure detection.
    #[serde(default)]
    pub faults: Vec<Fault>,
    /// Scenarios run one after another instead of `workload` (when any).
    #[serde(default)]
    pub scenarios: Vec<crate::scenario::ScenarioSpec>,
    /// Record scheduler events through tracefs (`--trace`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<super::TraceConfig>,
}

/// How to start and stop the scheduler under test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulerConfig {
    /// Path of the binary inside the guest.
    pub path: String,
    /// Arguments, passed as they are (no shell).
    pub args: Vec<String>,
    /// How long to wait for `/sys/kernel/sched_ext/state` = `enabled`.
    pub attach_timeout_ms: u64,
    /// After SIGINT at the end of the run, how long before SIGKILL.
    pub stop_grace_ms: u64,
}

/// An external program run in the guest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayloadConfig {
    /// Name used in messages and results.
    pub name: String,
    /// Path of the binary inside the guest.
    pub path: String,
    pub args: Vec<String>,
    #[serde(default)]
    pub env: Vec<(String, String)>,
    /// Cgroup (relative to the run's cgroup root) to start it in; none = root.
    #[serde(default)]
    pub cgroup: Option<String>,
    /// Killed after this long; none = at the end of the workload.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Whether the workload waits for this payload before stopping
    /// (an `exec` command), or the payload runs beside the workers.
    #[serde(default)]
    pub foreground: bool,
}
