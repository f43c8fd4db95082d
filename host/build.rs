//! Builds the static guest init and embeds it in the `ktstr-vm` binary, so
//! one self-contained executable carries both sides (no second artifact to
//! find at run time, nothing to install beside it).
//!
//! The guest is built by a nested `cargo build` into its own target
//! directory (the outer cargo holds the lock on ours) for an explicit
//! `--target`, so `+crt-static` reaches only the guest binary and not build
//! scripts or proc-macros (see shared NOTES: glibc static-pie, no interpreter).

use std::env;
use std::path::PathBuf;
use std::process::Command;

const GUEST_TARGET: &str = "x86_64-unknown-linux-gnu";
const GUEST_PROFILE: &str = "guest";

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let workspace = manifest_dir.parent().unwrap().to_path_buf();
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").unwrap());
    let target_dir = env::var_os("KTSTR_VM_GUEST_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target").join("guest"));

    for path in [
        "guest-init/src",
        "guest-init/Cargo.toml",
        "guest-init/wire/src",
        "guest-init/wire/Cargo.toml",
        "Cargo.toml",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", workspace.join(path).display());
    }
    println!("cargo:rerun-if-env-changed=KTSTR_VM_GUEST_TARGET_DIR");

    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(&workspace)
        .args([
            "build",
            "--quiet",
            "-p",
            "ktstr-guest",
            "--bin",
            "ktstr-guest-init",
        ])
        .args(["--profile", GUEST_PROFILE, "--target", GUEST_TARGET])
        .arg("--target-dir")
        .arg(&target_dir)
        // Our own flags only: nothing the outer build (or clippy) set.
        .env("CARGO_ENCODED_RUSTFLAGS", "-Ctarget-feature=+crt-static")
        .env_remove("RUSTFLAGS")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .status()
        .expect("running cargo to build the guest init");
    assert!(status.success(), "building the guest init failed");

    let built = target_dir
        .join(GUEST_TARGET)
        .join(GUEST_PROFILE)
        .join("ktstr-guest-init");
    let dest = out_dir.join("ktstr-guest-init");
    std::fs::copy(&built, &dest).expect("copying the guest init into OUT_DIR");
    println!("cargo:rustc-env=KTSTR_GUEST_INIT={}", dest.display());
}
