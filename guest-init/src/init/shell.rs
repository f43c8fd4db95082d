//! `ktstr-vm shell`: an interactive shell on the serial console, in place
//! of the workload, with the scheduler attached. The shell leads its own
//! session with the console as its controlling terminal, so Ctrl-C and job
//! control work; the run ends (and the VM powers off) when it exits.

use std::fs::OpenOptions;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use ktstr_wire::Stage;

use super::port::Reporter;
use super::reaper;

/// The serial console (the host's terminal).
const CONSOLE: &str = "/dev/ttyS0";
/// A shell the host ships (Debian's busybox-static), used when there is no
/// `/bin/sh`; busybox runs its applets without links.
const BUSYBOX: &str = "/bin/busybox";
/// How often PID 1 looks at the shell and reaps orphans meanwhile.
const TICK: Duration = Duration::from_millis(50);

/// Runs the shell until it exits. `keep` names children whose exit status
/// belongs to someone else (the scheduler).
pub fn run(rep: &Reporter, keep: &[i32]) {
    let tty = match OpenOptions::new().read(true).write(true).open(CONSOLE) {
        Ok(f) => f,
        Err(e) => return rep.error(Stage::Shell, format!("open {CONSOLE}: {e}")),
    };
    let stdio = || tty.try_clone().map(Stdio::from);
    let (Ok(stdin), Ok(stdout), Ok(stderr)) = (stdio(), stdio(), stdio()) else {
        return rep.error(Stage::Shell, format!("duplicate the {CONSOLE} descriptor"));
    };
    let mut cmd = if Path::new("/bin/sh").exists() {
        Command::new("/bin/sh")
    } else {
        let mut c = Command::new(BUSYBOX);
        c.arg0("sh");
        c
    };
    cmd.env("TERM", "linux")
        .env("HOME", "/")
        .env("PS1", "ktstr-vm:\\w# ")
        .current_dir("/")
        .stdin(stdin)
        .stdout(stdout)
        .stderr(stderr);
    // SAFETY: setsid and ioctl are async-signal-safe; stdin is already the
    // console when pre_exec runs.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 1) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return rep.error(
                Stage::Shell,
                format!("cannot start a shell (/bin/sh or {BUSYBOX}): {e}; the host ships busybox from Debian's busybox-static"),
            )
        }
    };
    let shell = child.id() as i32;
    loop {
        if matches!(child.try_wait(), Ok(Some(_)) | Err(_)) {
            return;
        }
        reaper::reap_orphans(|pid| pid == shell || keep.contains(&pid));
        std::thread::sleep(TICK);
    }
}
