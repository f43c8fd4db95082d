//! Why a workload could not be spawned. Settings the kernel refuses inside a
//! worker are not errors here: they land in that worker's report.

use super::affinity::AffinityError;
use ktstr_wire::workload::SpecError;

/// A workload that could not be started.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    #[error("invalid workload: {0}")]
    Invalid(#[from] SpecError),
    #[error("group {group}: affinity cannot be resolved against this topology: {source}")]
    Affinity {
        group: u32,
        #[source]
        source: AffinityError,
    },
    #[error("could not map memory shared with the workers: {0}")]
    SharedMemory(#[source] std::io::Error),
    #[error("could not create a pipe (out of file descriptors? raise RLIMIT_NOFILE or use fewer workers): {0}")]
    Pipe(#[source] std::io::Error),
    #[error("fork failed for group {group} worker {index} (too many processes? use fewer workers): {source}")]
    Fork {
        group: u32,
        index: u32,
        #[source]
        source: std::io::Error,
    },
}
