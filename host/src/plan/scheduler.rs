//! Which scheduler binary a `--scheduler NAME|PATH` means, and the kernel
//! checks that come with asking for one.

use std::path::{Path, PathBuf};

use super::PlanError;
use crate::kernel::resolve::{find_scheduler, has_sched_ext, ResolvedKernel};

/// Where schedulers live inside the guest.
pub const GUEST_SCHED_DIR: &str = "/ktstr-vm/sched";

/// How the scheduler binary was found, shown to the user.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SchedulerSource {
    Path,
    SearchPath,
    KernelExample,
}

/// The scheduler to attach.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SchedulerPlan {
    pub name: String,
    pub host_path: PathBuf,
    pub guest_path: String,
    pub args: Vec<String>,
    pub source: SchedulerSource,
}

/// A scheduler needs sched_ext: refuse a kernel whose config says it has
/// none before booting it (the guest checks again for kernels without a
/// config beside them).
pub(super) fn check_sched_ext(kernel: &ResolvedKernel) -> Result<(), PlanError> {
    let Some(config) = &kernel.config else {
        return Ok(());
    };
    let text = std::fs::read_to_string(config).unwrap_or_default();
    if !text.is_empty() && !has_sched_ext(&text) {
        return Err(PlanError::NoSchedExt {
            path: kernel.image.clone(),
            config: config.clone(),
        });
    }
    Ok(())
}

/// A path, then a name on `PATH`, then one of the kernel's example
/// schedulers, in that order.
pub(super) fn resolve_scheduler(
    name: &str,
    args: &[String],
    kernel: &ResolvedKernel,
) -> Result<SchedulerPlan, PlanError> {
    let plan = |host_path: PathBuf, source| {
        let base = host_path
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "scheduler".into());
        SchedulerPlan {
            name: base.clone(),
            guest_path: format!("{GUEST_SCHED_DIR}/{base}"),
            host_path,
            args: args.to_vec(),
            source,
        }
    };
    let as_path = Path::new(name);
    if name.contains('/') {
        if as_path.is_file() {
            return Ok(plan(as_path.to_path_buf(), SchedulerSource::Path));
        }
        return Err(PlanError::SchedulerNotFound {
            name: name.into(),
            looked: format!("{name} does not exist"),
            hint: String::new(),
        });
    }
    if let Some(p) = crate::which::which(name) {
        return Ok(plan(p, SchedulerSource::SearchPath));
    }
    if let Some(p) = find_scheduler(kernel, name) {
        return Ok(plan(p, SchedulerSource::KernelExample));
    }
    let examples = example_schedulers(kernel);
    let nearest = examples
        .iter()
        .map(|e| (strsim::jaro_winkler(name, e), e))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, e)| format!(" (did you mean {e:?}?)"))
        .unwrap_or_default();
    let hint = if examples.is_empty() {
        "; the kernel has no example schedulers (build one with `ktstr-vm kernel build`)"
            .to_string()
    } else {
        format!(
            "; the kernel's example schedulers: {}{nearest}",
            examples.join(", ")
        )
    };
    Err(PlanError::SchedulerNotFound {
        name: name.into(),
        looked: "not a file, not on PATH, not one of the kernel's example schedulers".into(),
        hint,
    })
}

fn example_schedulers(kernel: &ResolvedKernel) -> Vec<String> {
    let Some(dir) = &kernel.schedulers_dir else {
        return Vec::new();
    };
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
