//! The run's cgroup root: a child of the cgroup2 mount with the cpuset and
//! cpu controllers enabled, under which every WorkSpec gets its cgroup.

use std::path::{Path, PathBuf};

/// Name of the run's cgroup under `/sys/fs/cgroup`.
pub const RUN_CGROUP: &str = "ktstr";

/// Controllers workers need: cpuset (placement) and cpu (weights, bandwidth).
const CONTROLLERS: &str = "+cpuset +cpu";

/// Creates `<mount>/ktstr` with the controllers delegated to its children.
pub fn setup(mount: &Path) -> Result<PathBuf, String> {
    let enable = |dir: &Path| {
        std::fs::write(dir.join("cgroup.subtree_control"), CONTROLLERS)
            .map_err(|e| format!("enable {CONTROLLERS} in {}: {e}", dir.display()))
    };
    enable(mount)?;
    let root = mount.join(RUN_CGROUP);
    std::fs::create_dir_all(&root).map_err(|e| format!("create {}: {e}", root.display()))?;
    enable(&root)?;
    Ok(root)
}
