//! Child processes that die with ktstr-vm, with everything they started:
//! `make` and its compilers, `cargo install` and its rustc jobs.
//!
//! `PR_SET_PDEATHSIG` kills only the direct child; its own children (the
//! compilers) would run on as orphans after a SIGKILL of ktstr-vm. So the
//! child gets a process group of its own, and a tiny guardian process
//! watches a pipe whose write end only ktstr-vm holds: when ktstr-vm ends
//! (normally, or killed by any signal) the pipe closes and the guardian
//! kills the whole group. The guardian runs only `read`, `kill`,
//! `nanosleep` and `_exit` after the fork, so forking a multi-threaded
//! process is safe.
//!
//! The group gets SIGTERM first and SIGKILL only if it is still there
//! [`GRACE_MS`] later: `make` and the compilers delete the object they
//! were writing on SIGTERM, so a killed kernel build leaves no truncated
//! `.o` that the next, incremental build would trust.

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};

/// How long the group has between SIGTERM and SIGKILL.
pub const GRACE_MS: i64 = 2000;

/// A running child whose process group dies when this handle (or the
/// whole ktstr-vm) goes away.
#[derive(Debug)]
pub struct Guarded {
    pub child: Child,
    guardian: i32,
    /// Closing it tells the guardian to kill the group.
    alive: Option<OwnedFd>,
}

/// Spawns `cmd` in a new process group guarded as the module says.
pub fn spawn(cmd: &mut Command) -> std::io::Result<Guarded> {
    cmd.process_group(0);
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork
    // and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn()?;
    let pgid = child.id() as i32;
    // Close-on-exec: no later child may inherit the write end and keep the
    // pipe open after ktstr-vm is gone.
    let (read_end, write_end) = cloexec_pipe()?;
    // SAFETY: the child only calls async-signal-safe functions (close_range,
    // read, kill, _exit) before it exits.
    let guardian = unsafe { libc::fork() };
    if guardian < 0 {
        return Err(std::io::Error::last_os_error());
    }
    if guardian == 0 {
        // SAFETY: see above; raw fds and syscalls only.
        unsafe { guardian_main(read_end.as_raw_fd(), pgid) }
    }
    drop(read_end);
    Ok(Guarded {
        child,
        guardian,
        alive: Some(write_end),
    })
}

fn cloexec_pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    use std::os::fd::FromRawFd;
    let mut fds = [0i32; 2];
    // SAFETY: a valid two-element out array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: pipe2 just returned these two fresh descriptors.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// The guardian: keep the pipe's read end only, wait for EOF, kill the
/// group, leave.
unsafe fn guardian_main(read_fd: i32, pgid: i32) -> ! {
    // Hold no other descriptor of the parent (sockets, pipes): moving the
    // read end to 3 and closing everything above keeps only it.
    unsafe {
        if read_fd != 3 {
            libc::dup2(read_fd, 3);
        }
        libc::syscall(libc::SYS_close_range, 4u32, u32::MAX, 0u32);
        let mut byte = 0u8;
        loop {
            let n = libc::read(3, (&mut byte as *mut u8).cast(), 1);
            if n == 0 || (n < 0 && *libc::__errno_location() != libc::EINTR) {
                break;
            }
        }
        libc::kill(-pgid, libc::SIGTERM);
        let step = libc::timespec {
            tv_sec: 0,
            tv_nsec: 50_000_000,
        };
        let mut waited = 0;
        // kill(.., 0) fails with ESRCH once no process of the group is left.
        while waited < GRACE_MS && libc::kill(-pgid, 0) == 0 {
            libc::nanosleep(&step, std::ptr::null_mut());
            waited += 50;
        }
        libc::kill(-pgid, libc::SIGKILL);
        libc::_exit(0)
    }
}

impl Guarded {
    /// Waits for the child; then its group is killed (anything it left
    /// running in the background goes too).
    pub fn wait(mut self) -> std::io::Result<std::process::ExitStatus> {
        let status = self.child.wait();
        self.release();
        status
    }

    /// Closes the pipe (the guardian kills the group) and reaps the guardian.
    fn release(&mut self) {
        if self.alive.take().is_some() {
            let mut status = 0;
            // SAFETY: our own child; blocking until it exits (at once).
            unsafe { libc::waitpid(self.guardian, &mut status, 0) };
        }
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        // Reap a child that already ended: a zombie still counts as the
        // group's member, and the guardian would wait out its grace.
        let _ = self.child.try_wait();
        self.release();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    fn alive(pid: i32) -> bool {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        !stat.is_empty()
            && !stat
                .rsplit_once(") ")
                .is_some_and(|(_, r)| r.starts_with('Z'))
    }

    /// The background grandchild's pid, which the shell prints.
    fn grandchild(g: &mut Guarded) -> i32 {
        use std::io::BufRead;
        let out = g.child.stdout.take().unwrap();
        let mut line = String::new();
        std::io::BufReader::new(out).read_line(&mut line).unwrap();
        line.trim().parse().unwrap()
    }

    #[test]
    fn the_whole_group_dies_with_the_handle() {
        let mut g = spawn(
            Command::new("sh")
                .args(["-c", "sleep 300 & echo $!; exec sleep 300"])
                .stdout(std::process::Stdio::piped()),
        )
        .unwrap();
        let orphan = grandchild(&mut g);
        let child = g.child.id() as i32;
        assert!(alive(orphan) && alive(child));
        // What a SIGKILL of ktstr-vm does to the pipe: its write end closes.
        drop(g);
        let deadline = Instant::now() + Duration::from_secs(5);
        while alive(orphan) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!alive(orphan), "the background process survived");
    }

    #[test]
    fn the_group_gets_sigterm_before_sigkill() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("term");
        let script = format!(
            "trap 'echo term > {}; exit 0' TERM; echo $$; sleep 300 & wait",
            marker.display()
        );
        let mut g = spawn(
            Command::new("sh")
                .args(["-c", &script])
                .stdout(std::process::Stdio::piped()),
        )
        .unwrap();
        let _ = grandchild(&mut g); // the shell is up, its trap set
        drop(g);
        assert_eq!(
            std::fs::read_to_string(&marker).unwrap_or_default(),
            "term\n",
            "the group was killed without a SIGTERM first (make could not delete a half-written object)"
        );
    }

    #[test]
    fn wait_returns_the_status_and_cleans_up() {
        let mut g = spawn(
            Command::new("sh")
                .args(["-c", "sleep 300 & echo $!; exit 3"])
                .stdout(std::process::Stdio::piped()),
        )
        .unwrap();
        let orphan = grandchild(&mut g);
        let status = g.wait().unwrap();
        assert_eq!(status.code(), Some(3));
        let deadline = Instant::now() + Duration::from_secs(5);
        while alive(orphan) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!alive(orphan));
    }
}
