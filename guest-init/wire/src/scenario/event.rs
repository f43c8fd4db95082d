//! What the guest tells the host while it runs a scenario
//! ([`crate::GuestMsg::Scenario`]). The host splits the message
//! stream per scenario at `Started`/`Ended`, and checks placement against
//! the `allowed` CPUs each mark records: worker migration times are
//! relative to their group's release, so every mark carries
//! `CLOCK_MONOTONIC` nanoseconds too.

use serde::{Deserialize, Serialize};

use crate::workload::WorkSpec;

/// One point in a scenario's execution.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioEvent {
    /// Index of the scenario in the run config.
    pub scenario: u32,
    pub mark: Mark,
    /// `CLOCK_MONOTONIC` nanoseconds of the mark.
    pub mono_ns: u64,
    pub uptime_ms: u64,
    /// From this mark on: where each live worker group may run
    /// (effective cpuset of its cgroup, narrowed by any affinity op).
    #[serde(default)]
    pub allowed: Vec<GroupCpus>,
    /// Worker groups frozen from this mark on.
    #[serde(default)]
    pub frozen: Vec<u32>,
    /// Ops that could not be applied, with the kernel's reason.
    #[serde(default)]
    pub errors: Vec<String>,
}

/// The kind of point.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Mark {
    /// Cgroups made, workers released.
    #[default]
    Started,
    /// Worker groups `first..first + count` were released at `mono_ns`
    /// (their migration times count from here).
    Released {
        cgroup: String,
        first: u32,
        count: u32,
        /// The groups' specs, so the host knows each one's policy and nice.
        specs: Vec<WorkSpec>,
    },
    /// Step `index` began applying its ops at `mono_ns`; they were all
    /// applied `apply_ns` later. `sched` = a scheduler op was among them.
    Step {
        index: u32,
        ops: Vec<String>,
        apply_ns: u64,
        sched: bool,
    },
    /// Every worker stopped and reported; cgroups removed.
    Ended,
}

/// CPUs a worker group may run on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupCpus {
    pub group: u32,
    pub cpus: Vec<u32>,
}
