//! ccache for kernel builds, when it is installed.
//!
//! The same source built again from another directory (a `git+file://`
//! ref next to the tarball it came from, a bisect step, a CI runner with a
//! restored ccache) compiles the same files with the same flags. ccache
//! hands those objects back instead of compiling them. Paths are made
//! relative to the tree (`CCACHE_BASEDIR`) and the working directory is
//! left out of the hash (`CCACHE_NOHASHDIR`), so two trees of one source
//! share entries; the only cost is DWARF naming the first tree as its
//! compile directory, and the cached vmlinux has no DWARF.
//!
//! `KTSTR_VM_CCACHE=0` turns it off; ccache's own settings (`CCACHE_DIR`,
//! size limit) apply as usual.

use std::path::Path;
use std::process::Command;

/// Set to `0` to build without ccache even when it is installed.
pub const ENV: &str = "KTSTR_VM_CCACHE";

/// Whether kernel builds go through ccache.
pub fn enabled() -> bool {
    std::env::var_os(ENV).is_none_or(|v| v != "0") && crate::which::which("ccache").is_some()
}

/// Makes `make` in `tree` compile through ccache.
pub fn apply(cmd: &mut Command, tree: &Path) {
    cmd.arg("CC=ccache gcc")
        .env("CCACHE_BASEDIR", tree)
        .env("CCACHE_NOHASHDIR", "true")
        // Extracted and exported trees are written just before the build;
        // their headers do not change while it runs.
        .env("CCACHE_SLOPPINESS", "include_file_mtime,include_file_ctime");
}
