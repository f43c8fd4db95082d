//! PID 1 inherits every orphan and must reap it, but must not steal the exit
//! status of children it waits for itself (scheduler, workers, payloads).
//! So it peeks with `WNOWAIT` and reaps only pids it does not know.

use nix::sys::wait::{waitid, waitpid, Id, WaitPidFlag};
use nix::unistd::Pid;

/// Reaps exited children whose pid `is_known` rejects. Stops at the first
/// known child with a pending status: its owner will collect it.
pub fn reap_orphans(is_known: impl Fn(i32) -> bool) -> usize {
    let mut reaped = 0;
    loop {
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
        let pid = match waitid(Id::All, flags) {
            Ok(status) => match status.pid() {
                Some(pid) => pid.as_raw(),
                None => return reaped,
            },
            Err(_) => return reaped,
        };
        if is_known(pid) {
            return reaped;
        }
        let _ = waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG));
        reaped += 1;
    }
}
