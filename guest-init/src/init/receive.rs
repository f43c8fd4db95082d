//! Waiting for the run: the guest says `AwaitingRun` every
//! [`AWAIT_RUN_INTERVAL_MS`] until the host answers with a `HostMsg::Run`
//! line and its archive, which is unpacked into the root filesystem.
//!
//! A snapshot is taken while the guest sits in this loop, so a restored
//! guest wakes up here: its next `AwaitingRun` tells the host it is alive
//! again (the host sends nothing before that, see `ktstr_wire::HostMsg`).

use std::fs::File;
use std::io::{BufReader, Read};
use std::os::fd::AsFd;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use ktstr_wire::{
    GuestMsg, HostMsg, AWAIT_RUN_INTERVAL_MS, MAX_HOST_LINE, MAX_RUN_ARCHIVE, PROTOCOL_VERSION,
};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::clock::uptime_ms;
use super::port::Reporter;

/// What the host said about the run it sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    pub restored: bool,
    pub archive_bytes: u64,
}

/// Waits for the run and unpacks it under `root` (`/` in the guest).
pub fn receive_run(port: &File, rep: &Reporter, root: &Path) -> Result<Received, String> {
    let interval = PollTimeout::try_from(AWAIT_RUN_INTERVAL_MS as i32).unwrap_or(PollTimeout::MAX);
    loop {
        rep.send(&GuestMsg::AwaitingRun {
            protocol: PROTOCOL_VERSION,
            uptime_ms: uptime_ms(),
        });
        let mut fds = [PollFd::new(port.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, interval) {
            Ok(0) => continue,
            Ok(_) => break,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(format!("poll on the results port: {e}")),
        }
    }
    let mut input = BufReader::new(port);
    let header = read_line(&mut input)?;
    let (archive_bytes, entropy, restored) = match serde_json::from_str::<HostMsg>(&header) {
        Ok(HostMsg::Run {
            protocol,
            archive_bytes,
            entropy,
            restored,
        }) => {
            if protocol != PROTOCOL_VERSION {
                return Err(format!(
                    "the host speaks protocol {protocol}, this guest {PROTOCOL_VERSION}"
                ));
            }
            (archive_bytes, entropy, restored)
        }
        Err(e) => return Err(format!("the host's run line {header:?}: {e}")),
    };
    if archive_bytes > MAX_RUN_ARCHIVE {
        return Err(format!(
            "a run archive of {archive_bytes} bytes is over the limit"
        ));
    }
    unpack(&mut input.take(archive_bytes), root)?;
    mix_entropy(&entropy);
    Ok(Received {
        restored,
        archive_bytes,
    })
}

/// One `\n`-terminated line, at most [`MAX_HOST_LINE`] bytes.
fn read_line(input: &mut impl Read) -> Result<String, String> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match input.read(&mut byte) {
            Ok(0) => return Err("the results port closed before the run arrived".into()),
            Ok(_) if byte[0] == b'\n' => break,
            Ok(_) => line.push(byte[0]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("reading the run line: {e}")),
        }
        if line.len() > MAX_HOST_LINE {
            return Err("the host's run line is too long".into());
        }
    }
    String::from_utf8(line).map_err(|_| "the host's run line is not UTF-8".to_string())
}

const S_IFMT: u32 = 0o170000;
const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;

/// Unpacks a newc cpio archive (directories, files, symlinks) under `root`.
pub fn unpack(input: &mut impl Read, root: &Path) -> Result<(), String> {
    let mut input = input;
    loop {
        let reader = cpio::NewcReader::new(&mut input).map_err(|e| format!("run archive: {e}"))?;
        let entry = reader.entry();
        if entry.is_trailer() {
            // Whatever the archive was padded with after the trailer.
            let mut rest = reader.finish().map_err(|e| format!("run archive: {e}"))?;
            let _ = std::io::copy(&mut rest, &mut std::io::sink());
            return Ok(());
        }
        let (name, mode) = (entry.name().to_string(), entry.mode());
        let path = guest_path(root, &name)?;
        let err =
            |what: &str, e: std::io::Error| format!("run archive: {what} {}: {e}", path.display());
        match mode & S_IFMT {
            S_IFDIR => {
                std::fs::create_dir_all(&path).map_err(|e| err("mkdir", e))?;
                let _ =
                    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode & 0o7777));
                reader.finish().map_err(|e| err("read", e))?;
            }
            S_IFREG => {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| err("mkdir", e))?;
                }
                let _ = std::fs::remove_file(&path);
                let file = File::create(&path).map_err(|e| err("create", e))?;
                reader.to_writer(&file).map_err(|e| err("write", e))?;
                file.set_permissions(std::fs::Permissions::from_mode(mode & 0o7777))
                    .map_err(|e| err("chmod", e))?;
            }
            S_IFLNK => {
                let mut target = String::new();
                let mut reader = reader;
                reader
                    .read_to_string(&mut target)
                    .map_err(|e| err("read", e))?;
                reader.finish().map_err(|e| err("read", e))?;
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| err("mkdir", e))?;
                }
                let _ = std::fs::remove_file(&path);
                symlink(&target, &path).map_err(|e| err("symlink", e))?;
            }
            other => {
                // Device nodes belong to the boot image, not to a run.
                reader.finish().map_err(|e| err("read", e))?;
                eprintln!("ktstr-guest-init: run archive: {name}: type {other:o} skipped");
            }
        }
    }
}

/// `root/name`, refusing names that would leave `root`.
fn guest_path(root: &Path, name: &str) -> Result<PathBuf, String> {
    let rel = Path::new(name.trim_start_matches('/'));
    if rel
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(format!("run archive: {name:?} would leave the root"));
    }
    Ok(root.join(rel))
}

// RNDRESEEDCRNG: reseed the kernel's CRNG from its input pool now.
nix::ioctl_none!(reseed_crng, b'R', 0x07);

/// Mixes the host's random bytes into the kernel's input pool and reseeds
/// the CRNG from it. Mixing alone is not enough: a restored guest's CRNG
/// key is the snapshot's, and the kernel reseeds it only every minute, so
/// every restored run would draw the same "random" numbers until then.
fn mix_entropy(hex: &str) {
    let bytes: Vec<u8> = (0..hex.len() / 2)
        .filter_map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
        .collect();
    if bytes.is_empty() {
        return;
    }
    match std::fs::OpenOptions::new().write(true).open("/dev/urandom") {
        Ok(mut f) => {
            use std::io::Write;
            use std::os::fd::AsRawFd;
            let _ = f.write_all(&bytes);
            // SAFETY: RNDRESEEDCRNG takes no argument; `f` is open.
            if let Err(e) = unsafe { reseed_crng(f.as_raw_fd()) } {
                eprintln!("ktstr-guest-init: reseeding the CRNG: {e}");
            }
        }
        Err(e) => eprintln!("ktstr-guest-init: /dev/urandom: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(entries: &[(&str, u32, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, (name, mode, data)) in entries.iter().enumerate() {
            let mut w = cpio::newc::Builder::new(name)
                .ino(i as u32 + 1)
                .mode(*mode)
                .nlink(1)
                .write(&mut out, data.len() as u32);
            std::io::Write::write_all(&mut w, data).unwrap();
            w.finish().unwrap();
        }
        cpio::newc::trailer(&mut out).unwrap();
        out
    }

    #[test]
    fn unpacks_dirs_files_and_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let data = archive(&[
            ("ktstr-vm", S_IFDIR | 0o755, b""),
            ("ktstr-vm/run.json", S_IFREG | 0o644, b"{}"),
            ("usr/lib/x/libz.so.1.3", S_IFREG | 0o755, b"\x7fELF"),
            ("usr/lib/x/libz.so.1", S_IFLNK | 0o777, b"libz.so.1.3"),
        ]);
        unpack(&mut data.as_slice(), dir.path()).unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("ktstr-vm/run.json")).unwrap(),
            b"{}"
        );
        let lib = dir.path().join("usr/lib/x/libz.so.1.3");
        assert_eq!(
            std::fs::metadata(&lib).unwrap().permissions().mode() & 0o777,
            0o755
        );
        assert_eq!(
            std::fs::read_link(dir.path().join("usr/lib/x/libz.so.1")).unwrap(),
            Path::new("libz.so.1.3")
        );
    }

    #[test]
    fn names_cannot_leave_the_root() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["../etc/passwd", "a/../../b"] {
            let data = archive(&[(bad, S_IFREG | 0o644, b"x")]);
            assert!(unpack(&mut data.as_slice(), dir.path()).is_err(), "{bad}");
        }
    }

    #[test]
    fn lines_are_bounded() {
        let mut ok: &[u8] = b"{\"type\":\"run\"}\nrest";
        assert_eq!(read_line(&mut ok).unwrap(), "{\"type\":\"run\"}");
        let long = vec![b'x'; MAX_HOST_LINE + 10];
        assert!(read_line(&mut long.as_slice()).is_err());
        assert!(read_line(&mut &b"no newline"[..]).is_err());
    }
}
