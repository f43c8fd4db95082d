//! The guest's panic hook, in a process of its own (the hook is global).
//!
//! A forked worker inherits every lock another thread of PID 1 held at
//! fork time, held forever. These tests fork a worker-like child while
//! another thread holds such a lock and check that the child's panic ends
//! it within a bounded wait; and that a panic on any other thread reaches
//! the reporter.

use std::sync::mpsc;
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use ktstr_guest::panic_hook::{enter_forked_child, install, PANIC_EXIT};

/// What the hook handed to the reporter.
static REPORTED: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn install_once() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| install(|text| REPORTED.lock().unwrap().push(text.to_string())));
}

/// Forks a child that behaves like a worker (marks itself, points its
/// stderr at /dev/null as the guest's console never blocks, panics) and
/// waits at most `limit` for it. Returns its exit code, or `None` if it
/// hung (it is then killed).
fn fork_panicking_worker(limit: Duration) -> Option<i32> {
    // SAFETY: the child only calls async-signal-safe functions before it
    // panics, and the panic ends it through the hook under test.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        unsafe {
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY);
            libc::dup2(null, 2);
        }
        enter_forked_child();
        panic!("a bug in worker code");
    }
    assert!(pid > 0, "fork failed");
    let end = Instant::now() + limit;
    loop {
        let mut status = 0;
        // SAFETY: waiting for our own child.
        if unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == pid {
            assert!(libc::WIFEXITED(status), "status {status:#x}");
            return Some(libc::WEXITSTATUS(status));
        }
        if Instant::now() >= end {
            // SAFETY: killing and reaping our own hung child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A pipe whose buffer is full: a write to it blocks until it is read.
fn full_pipe() -> (i32, i32) {
    let mut fds = [0; 2];
    // SAFETY: plain syscalls on fds this test owns.
    unsafe {
        assert_eq!(libc::pipe(fds.as_mut_ptr()), 0);
        let flags = libc::fcntl(fds[1], libc::F_GETFL);
        libc::fcntl(fds[1], libc::F_SETFL, flags | libc::O_NONBLOCK);
        let chunk = [b'x'; 4096];
        while libc::write(fds[1], chunk.as_ptr().cast(), chunk.len()) > 0 {}
        libc::fcntl(fds[1], libc::F_SETFL, flags);
    }
    (fds[0], fds[1])
}

/// Locks another guest thread may hold when a worker forks. With std's
/// default hook the second case hangs: it takes std's panic-output lock,
/// which the other thread holds while its own panic message is stuck on a
/// slow console. The first case guards the hook against ever printing
/// through `std::io::stderr()`.
#[test]
fn a_forked_worker_panics_out_whatever_locks_other_threads_held() {
    install_once();
    const LIMIT: Duration = Duration::from_secs(10);

    // 1. Another thread holds stderr's lock.
    let (locked_tx, locked_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let _stderr = std::io::stderr().lock();
        locked_tx.send(()).unwrap();
        let _ = release_rx.recv();
    });
    locked_rx.recv().unwrap();
    let code = fork_panicking_worker(LIMIT);
    release_tx.send(()).unwrap();
    holder.join().unwrap();
    assert_eq!(
        code,
        Some(PANIC_EXIT),
        "holding stderr's lock hung the child"
    );

    // 2. Another thread is in the middle of panicking: its message is
    // stuck on a console (fd 2) that does not take more output.
    let (read_end, write_end) = full_pipe();
    // SAFETY: swapping this process's fd 2 for the full pipe, and back.
    let saved = unsafe { libc::dup(2) };
    unsafe { libc::dup2(write_end, 2) };
    let stuck = std::thread::Builder::new()
        .name("stuck".into())
        .spawn(|| panic!("a panic whose message cannot be written yet"))
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let code = fork_panicking_worker(LIMIT);
    unsafe { libc::dup2(saved, 2) };
    // Drain the pipe so the stuck panic can finish.
    let drain = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        // SAFETY: reading into a valid buffer until the write end closes.
        while unsafe { libc::read(read_end, buf.as_mut_ptr().cast(), buf.len()) } > 0 {}
    });
    assert!(stuck.join().is_err());
    // SAFETY: closing the fds this test made.
    unsafe {
        libc::close(write_end);
        libc::close(saved);
    }
    drain.join().unwrap();
    assert_eq!(
        code,
        Some(PANIC_EXIT),
        "a panic in progress on another thread hung the child"
    );
}

/// A panic on any PID 1 thread, not only one that unwinds out of `main`,
/// reaches the reporter with its thread, place and message.
#[test]
fn a_panic_on_any_thread_is_reported() {
    install_once();
    let t = std::thread::Builder::new()
        .name("kmsg".into())
        .spawn(|| panic!("forwarder bug"))
        .unwrap();
    assert!(t.join().is_err());
    let reported = REPORTED.lock().unwrap().clone();
    assert!(
        reported
            .iter()
            .any(|r| r.starts_with("thread 'kmsg' panicked at ")
                && r.contains("panic_hook.rs:")
                && r.ends_with(": forwarder bug")),
        "{reported:?}"
    );
}
