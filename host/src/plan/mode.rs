//! What the VM does once the scheduler is attached: the workload (`run`),
//! one command (`exec`), or a shell on the console (`shell`). Each mode's
//! extra payloads, files and time limits are decided here, inside
//! [`RunPlan::new`](super::RunPlan::new), so no command edits a plan.

use std::time::Duration;

use super::PlanError;
use crate::include::Include;
use crate::payload::{locate, PayloadSpec};

/// Where busybox goes in the guest (the guest shell looks there too).
pub const GUEST_BUSYBOX: &str = "/bin/busybox";
/// The workload outlives an `exec` command's own timeout by this much, so
/// the guest reports the command as timed out rather than stopped.
const EXEC_SLACK: Duration = Duration::from_secs(2);
/// Host-side limit of a shell session (QEMU is killed after it).
const SESSION_LIMIT: Duration = Duration::from_secs(7 * 24 * 3600);

/// What the VM runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Workers (or scenarios) for the duration, with any payloads.
    Workload,
    /// One command as the only, foreground payload; its exit status is
    /// the answer, not a verdict finding.
    Exec {
        command: Vec<String>,
        timeout: Duration,
    },
    /// busybox's shell on the serial console until it exits.
    Shell,
}

/// How long the workload phase lasts in a mode without workers.
pub(super) fn duration(mode: &Mode, requested: Duration) -> Duration {
    match mode {
        Mode::Workload => requested,
        Mode::Exec { timeout, .. } => *timeout + EXEC_SLACK,
        Mode::Shell => Duration::from_secs(1),
    }
}

/// The host-side limit a mode fixes (a shell lasts as long as the user).
pub(super) fn timeout(mode: &Mode) -> Option<Duration> {
    match mode {
        Mode::Shell => Some(SESSION_LIMIT),
        _ => None,
    }
}

/// The payloads a mode adds, and the files they need in `includes`.
pub(super) fn payloads(
    mode: &Mode,
    includes: &mut Vec<Include>,
) -> Result<Vec<PayloadSpec>, PlanError> {
    match mode {
        Mode::Workload => Ok(Vec::new()),
        Mode::Shell => {
            ship_busybox(includes)?;
            Ok(Vec::new())
        }
        Mode::Exec { command, timeout } => {
            let Some((first, rest)) = command.split_first() else {
                return Err(PlanError::Workload(
                    "exec needs a command after `--`".into(),
                ));
            };
            // A bare `sh` is busybox's, whose applets make
            // `exec -- sh -c 'cat /sys/...'` work in a guest without coreutils.
            let spec = if first == "sh" {
                ship_busybox(includes)?;
                PayloadSpec::new(GUEST_BUSYBOX)
                    .name("sh")
                    .args(std::iter::once("sh".to_string()).chain(rest.iter().cloned()))
            } else {
                PayloadSpec::new(first.as_str()).args(rest.iter().cloned())
            };
            Ok(vec![spec
                .foreground(true)
                .timeout(*timeout)
                .check_exit(false)])
        }
    }
}

/// Adds the host's busybox at [`GUEST_BUSYBOX`].
fn ship_busybox(includes: &mut Vec<Include>) -> Result<(), PlanError> {
    let host = locate("busybox")
        .ok()
        .and_then(|l| l.shipped.into_iter().next())
        .ok_or(PlanError::NoBusybox)?;
    if !includes.iter().any(|i| i.guest == GUEST_BUSYBOX) {
        includes.push(Include {
            host: host.host,
            guest: GUEST_BUSYBOX.to_string(),
        });
    }
    Ok(())
}
