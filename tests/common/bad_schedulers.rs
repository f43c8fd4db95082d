//! The schedulers `tests/bad-schedulers/build.sh` makes from the suite
//! kernel's own scx_simple (built once per kernel, under the target dir):
//! ones the kernel refuses to load, and ones that load and misbehave.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use ktstr_vm::cache_dir::CacheDir;
use ktstr_vm::kernel::source::extraction_dir;
use ktstr_vm::kernel::store::{Entry, Store};

use super::kernel;

/// The cached entry of the kernel the runs boot.
fn kernel_entry() -> Entry {
    let cache = CacheDir::resolve(None).expect("cache dir");
    let key = kernel().key.expect("the suite's kernel has a cache key");
    Store::new(&cache)
        .get(&key)
        .expect("reading the kernel cache")
        .expect("the cached kernel's entry")
}

/// The source tree the cached kernel was built from. None is a failure.
fn kernel_tree(entry: &Entry) -> PathBuf {
    if let Some(tree) = std::env::var_os("KTSTR_VM_KERNEL_TREE") {
        return PathBuf::from(tree);
    }
    let cache = CacheDir::resolve(None).expect("cache dir");
    let meta = &entry.meta;
    let tree = if meta.source_identity.starts_with("tarball:") {
        extraction_dir(&cache, &meta.source_identity)
    } else {
        let path = meta.source.split_once("tree ").map_or("", |(_, p)| p);
        PathBuf::from(path)
    };
    assert!(
        tree.join("tools/sched_ext/scx_simple.bpf.c").is_file(),
        "the bad schedulers are built from the cached kernel's source tree, and there is none at {} \
         (kernel {}, source {}): build the kernel with ci/build-kernel.sh (it keeps the tree), \
         or point KTSTR_VM_KERNEL_TREE at a kernel tree of the same version",
        tree.display(),
        meta.key,
        meta.source
    );
    tree
}

/// The build directory: `bin/` holds the schedulers, `work/` their sources.
pub fn bad_schedulers() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let entry = kernel_entry();
        let tree = kernel_tree(&entry);
        let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join("bad-schedulers")
            .join(&entry.meta.key);
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/bad-schedulers/build.sh");
        let status = Command::new(script)
            .arg(&tree)
            .arg(entry.vmlinux())
            .arg(&out)
            .status()
            .expect("running tests/bad-schedulers/build.sh");
        assert!(
            status.success(),
            "building the bad schedulers failed ({status}); see {}",
            out.join("build.log").display()
        );
        out
    })
}

/// The path of one built variant, as a string for `--scheduler`.
pub fn variant(name: &str) -> String {
    bad_schedulers()
        .join("bin")
        .join(name)
        .display()
        .to_string()
}
