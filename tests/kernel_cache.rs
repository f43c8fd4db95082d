//! The cached kernel is one a sched_ext test can use: `CONFIG_SCHED_CLASS_EXT=y`
//! and the four example schedulers present and executable.
//!
//! Needs a built kernel (`ci/build-kernel.sh`). Without one this fails and
//! says how to build it: a missing kernel must not pass as a skipped test.

use ktstr_vm::cache_dir::CacheDir;
use ktstr_vm::kernel::{find_scheduler, has_sched_ext, resolve_kernel, SCHEDULERS};
use ktstr_vm::which::is_executable;

#[test]
fn newest_cached_kernel_has_sched_ext_and_schedulers() {
    let cache = CacheDir::resolve(None).expect("cache dir");
    let k = resolve_kernel(None, &cache).unwrap_or_else(|e| {
        panic!("{e}\nbuild the kernel first: ci/build-kernel.sh (or `cargo run --release -p ktstr-vm -- kernel build`)")
    });
    assert!(k.image.is_file(), "image {} missing", k.image.display());
    let config_path = k
        .config
        .as_ref()
        .expect("a cached kernel records its .config");
    let config = std::fs::read_to_string(config_path).expect("read cached .config");
    assert!(
        has_sched_ext(&config),
        "{} lacks CONFIG_SCHED_CLASS_EXT=y",
        config_path.display()
    );
    for name in SCHEDULERS {
        let path = find_scheduler(&k, name).unwrap_or_else(|| {
            panic!(
                "scheduler {name} missing or not executable in {:?}",
                k.schedulers_dir
            )
        });
        assert!(is_executable(&path), "{} is not executable", path.display());
    }
}
