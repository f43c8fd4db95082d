//! Boot once, restore many: a VM saved at the moment its guest init waits
//! for its run (mounts done, results port open: see `ktstr_wire::HostMsg`)
//! serves every later run of the same machine, which restores it and sends
//! only its own run.
//!
//! The [`key`] is everything that shapes the machine or the saved memory:
//! the kernel image, the base initramfs (the guest init), the QEMU
//! arguments that define the machine (accelerator and CPU model,
//! topology and memory, kernel command line, firmware) and QEMU's version.
//! Snapshots live in the cache ([`store`]), written atomically and under a
//! lock; any trouble saving or restoring falls back to a cold boot.

pub mod store;

use std::ffi::OsString;
use std::path::Path;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use crate::kernel::key::{hex, sha256_hex};

pub use store::{Meta, Snapshot, SnapshotStore};

/// Changes when what a snapshot holds or how it is restored changes.
pub const FORMAT: &str = "ktstr-vm-snapshot/2";

/// What decides whether a saved VM can serve a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInputs<'a> {
    /// `qemu-system-x86_64 --version`.
    pub qemu_version: &'a str,
    /// The kernel's cache key, or the image's sha256.
    pub kernel: &'a str,
    /// Digest of the base initramfs (the guest init).
    pub base_initrd: &'a str,
    /// The machine's QEMU arguments: base, firmware, accelerator and CPU
    /// model, topology and memory (never sockets or run paths).
    pub machine: &'a [OsString],
    pub cmdline: &'a str,
}

/// The snapshot key of a machine: sha256 over its length-prefixed inputs.
pub fn key(inputs: &KeyInputs) -> String {
    let mut h = Sha256::new();
    let mut field = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    field(FORMAT.as_bytes());
    field(inputs.qemu_version.as_bytes());
    field(inputs.kernel.as_bytes());
    field(inputs.base_initrd.as_bytes());
    for a in inputs.machine {
        field(a.as_encoded_bytes());
    }
    field(inputs.cmdline.as_bytes());
    hex(&h.finalize())
}

/// `QEMU --version`'s first line, asked once per binary per process.
pub fn qemu_version(binary: &Path) -> String {
    static SEEN: Mutex<Vec<(std::path::PathBuf, String)>> = Mutex::new(Vec::new());
    let mut seen = SEEN.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, v)) = seen.iter().find(|(b, _)| b == binary) {
        return v.clone();
    }
    let v = std::process::Command::new(binary)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(str::to_string))
        .unwrap_or_default();
    seen.push((binary.to_path_buf(), v.clone()));
    v
}

/// The kernel's identity: its cache key, or the sha256 of the image.
pub fn kernel_identity(key: Option<&str>, image: &Path) -> std::io::Result<String> {
    if let Some(k) = key {
        return Ok(k.to_string());
    }
    Ok(sha256_hex(&std::fs::read(image)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs<'a>(machine: &'a [OsString]) -> KeyInputs<'a> {
        KeyInputs {
            qemu_version: "QEMU emulator version 7.2.22",
            kernel: "02699b69",
            base_initrd: "abcd",
            machine,
            cmdline: "console=ttyS0 panic=-1",
        }
    }

    #[test]
    fn every_input_changes_the_key() {
        let m: Vec<OsString> = vec!["-smp".into(), "4".into()];
        let base = key(&inputs(&m));
        assert_eq!(base.len(), 64);
        assert_eq!(key(&inputs(&m)), base, "stable");
        let other_m: Vec<OsString> = vec!["-smp".into(), "8".into()];
        let variants = [
            KeyInputs {
                qemu_version: "QEMU emulator version 8.2.0",
                ..inputs(&m)
            },
            KeyInputs {
                kernel: "other",
                ..inputs(&m)
            },
            KeyInputs {
                base_initrd: "other",
                ..inputs(&m)
            },
            KeyInputs {
                cmdline: "console=ttyS0",
                ..inputs(&m)
            },
            inputs(&other_m),
        ];
        for v in variants {
            assert_ne!(key(&v), base, "{v:?}");
        }
        // Fields cannot run into each other.
        let a: Vec<OsString> = vec!["-m".into(), "1G".into()];
        let b: Vec<OsString> = vec!["-m1".into(), "G".into()];
        assert_ne!(key(&inputs(&a)), key(&inputs(&b)));
    }

    #[test]
    fn kernel_identity_prefers_the_cache_key() {
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("bzImage");
        std::fs::write(&img, b"kernel").unwrap();
        assert_eq!(kernel_identity(Some("k1"), &img).unwrap(), "k1");
        let h = kernel_identity(None, &img).unwrap();
        assert_eq!(h.len(), 64);
        assert!(kernel_identity(None, &dir.path().join("none")).is_err());
    }
}
