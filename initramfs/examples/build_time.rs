//! Measures building a guest initramfs: `/init` plus a dynamic binary and
//! its closure, cold (closure + gzip + cache write) and from the cache
//! (closure + digest + append the per-run part).
//!
//! `cargo run --release -p ktstr-initramfs --example build_time -- INIT BINARY [KEEP]`
//! (KEEP: where to leave the final initrds, one per format, to boot them)

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ktstr_initramfs::{concat, BaseCache, Format, Initramfs};

fn collect(init: &Path, binary: &Path) -> Initramfs {
    let mut image = Initramfs::new();
    image.add_init(init).expect("init");
    image.add_elf("/bin/scheduler", binary).expect("closure");
    image
}

fn run_part() -> Initramfs {
    let mut run = Initramfs::new();
    let config = br#"{"workers":4,"duration_ms":5000,"scheduler_args":["-v"]}"#;
    run.add_file_bytes("/etc/ktstr/run.json", config.to_vec(), 0o644)
        .expect("config");
    run
}

fn main() {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let (init, binary, keep) = match args.as_slice() {
        [init, binary] => (init, binary, None),
        [init, binary, keep] => (init, binary, Some(keep)),
        _ => {
            eprintln!("usage: build_time INIT BINARY [KEEP]");
            std::process::exit(2);
        }
    };
    let dir = std::env::temp_dir().join(format!("ktstr-initramfs-bench-{}", std::process::id()));
    let out = dir.join("initrd");
    for format in [Format::Gzip, Format::Cpio] {
        let cache = BaseCache::with_format(dir.join(format.extension()), format);
        let t = Instant::now();
        let image = collect(init, binary);
        let t_collect = t.elapsed();
        let base = cache.get_or_write(&image).expect("cold build");
        assert!(!base.reused);
        concat(&base.path, &run_part(), &out).expect("concat");
        let cold = t.elapsed();

        let mut warm = Vec::new();
        for _ in 0..7 {
            let t = Instant::now();
            let image = collect(init, binary);
            let base = cache.get_or_write(&image).expect("warm build");
            assert!(base.reused);
            concat(&base.path, &run_part(), &out).expect("concat");
            warm.push(t.elapsed());
        }
        warm.sort();
        let size = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
        println!(
            "{format:?}: {} entries, initrd {size} bytes; cold {} (closure+read {}); \
             cached median {} (min {}, max {})",
            image.paths().count(),
            ms(cold),
            ms(t_collect),
            ms(warm[3]),
            ms(warm[0]),
            ms(warm[6])
        );
        if let Some(keep) = keep {
            let keep = keep.with_extension(format.extension());
            std::fs::copy(&out, keep).expect("copy the initrd");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}
