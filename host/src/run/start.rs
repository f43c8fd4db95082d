//! How a run's VM starts: restored from the snapshot of its machine when
//! one exists, else booted cold, leaving a snapshot behind for the next
//! run (the first run of a machine pays the save). `--cold-boot` always
//! boots and saves nothing.

use std::ffi::OsString;

use super::handshake::SaveJob;
use super::runner::Start;
use crate::guest_image::GuestImage;
use crate::plan::RunPlan;
use crate::qemu::args;
use crate::snapshot::store::{Lookup, Meta};
use crate::snapshot::{self, KeyInputs, SnapshotStore};

/// The machine's snapshot key, or why it has none.
pub fn key(plan: &RunPlan, image: &GuestImage, qemu: &std::path::Path) -> Result<String, String> {
    let kernel = snapshot::kernel_identity(plan.kernel().key.as_deref(), &plan.kernel().image)
        .map_err(|e| format!("reading {}: {e}", plan.kernel().image.display()))?;
    let version = snapshot::qemu_version(qemu);
    if version.is_empty() {
        return Err(format!("{} --version said nothing", qemu.display()));
    }
    let machine: Vec<OsString> = [
        args::base_args(),
        args::firmware_args(),
        args::machine_args(plan.accel().accel),
        plan.topology().qemu_args(),
    ]
    .concat();
    Ok(snapshot::key(&KeyInputs {
        qemu_version: &version,
        kernel: &kernel,
        base_initrd: &image.base_digest,
        machine: &machine,
        cmdline: plan.cmdline(),
    }))
}

/// How this run starts, and a line saying why when that is not the fast
/// path (no key, a save already in progress elsewhere).
pub fn choose(
    plan: &RunPlan,
    image: &GuestImage,
    store: &SnapshotStore,
    qemu: &std::path::Path,
    cold_boot: bool,
) -> (Start, Option<String>) {
    if cold_boot {
        return (Start::Cold { save: None }, None);
    }
    let key = match key(plan, image, qemu) {
        Ok(k) => k,
        Err(why) => {
            return (
                Start::Cold { save: None },
                Some(format!("no snapshot: {why}")),
            )
        }
    };
    match store.lookup(&key) {
        Lookup::Whole(snap) => {
            store.touch(&snap);
            (
                Start::Restore {
                    state: snap.state(),
                },
                None,
            )
        }
        Lookup::Missing => (
            Start::Cold {
                save: save_job(plan, store, &key, qemu),
            },
            None,
        ),
        Lookup::Damaged(why) => (
            Start::Cold {
                save: save_job(plan, store, &key, qemu),
            },
            Some(format!(
                "the snapshot of this machine is damaged ({why}); booting cold and saving a new one"
            )),
        ),
    }
}

/// A save of `key` at the handover, unless another run is saving it.
pub fn save_job(
    plan: &RunPlan,
    store: &SnapshotStore,
    key: &str,
    qemu: &std::path::Path,
) -> Option<Box<SaveJob>> {
    let saving = store.begin(key).ok()??;
    Some(Box::new(SaveJob {
        store: store.clone(),
        saving,
        meta: Meta {
            format: snapshot::FORMAT.into(),
            key: key.into(),
            kernel_key: plan.kernel().key.clone(),
            kernel_image: plan.kernel().image.clone(),
            vcpus: plan.topology().vcpus(),
            memory_mib: plan.topology().memory_mib(),
            accel: plan.accel().accel.to_string(),
            qemu_version: snapshot::qemu_version(qemu),
            bytes: 0,
            save_ms: 0,
            created: 0,
        },
    }))
}
