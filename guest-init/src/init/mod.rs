//! Pieces of the PID 1 sequence, one concern per module. `main.rs` strings
//! them together in order.

pub mod cgroup;
pub mod clock;
pub mod exec_failure;
pub mod faults;
pub mod kmsg;
pub mod mounts;
pub mod output;
pub mod payload;
pub mod port;
pub mod power;
pub mod pty;
pub mod reaper;
pub mod receive;
pub mod scenarios;
pub mod scheduler;
pub mod shell;
pub mod trace;

/// Joins `handles`, waiting at most `limit`: output forwarders end at
/// end-of-file, and a grandchild still holding a pipe must not hang PID 1.
pub fn join_bounded(handles: Vec<std::thread::JoinHandle<()>>, limit: std::time::Duration) {
    if handles.is_empty() {
        return;
    }
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for h in handles {
            let _ = h.join();
        }
        let _ = tx.send(());
    });
    let _ = rx.recv_timeout(limit);
}
