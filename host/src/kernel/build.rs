//! `kernel build`: configure a tree from the fragments, build `bzImage` and
//! the tree's example sched_ext schedulers, and store the result.
//!
//! Steps: `make tinyconfig`, `merge_config.sh -m` with every fragment,
//! `make olddefconfig`, verify the `.config` (a dropped option stops here,
//! before minutes of compiling), `make bzImage`, `make -C tools/sched_ext`
//! (it needs the built `vmlinux` for BTF and builds its own libbpf and
//! bpftool), then copy the results into a cache entry.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::ccache;
use super::fragment::{self, Fragment, FragmentError, VerifyError};
use super::key::{cache_key, fragments_digest, sha256_hex, BUILDER_VERSION};
use super::lock::{self, LockError};
use super::make::{run_step, Log, MakeError, Progress};
use super::origin::{Origin, OriginError};
use super::source::{self, SourceError, SourceKind};
use super::store::{self, Entry, Meta, Store, StoreError, META_FORMAT};
use super::variant::Variant;
use crate::cache_dir::CacheDir;

/// The example schedulers `tools/sched_ext` builds, all of which must exist.
pub const SCHEDULERS: &[&str] = &["scx_simple", "scx_qmap", "scx_central", "scx_flatcg"];

/// The LLVM tools `tools/sched_ext` uses, and the names to look for, in
/// order: Debian installs the versioned ones (clang-19).
const LLVM_TOOLS: &[(&str, &[&str])] = &[
    ("CLANG", &["clang-19", "clang"]),
    ("LLC", &["llc-19", "llc"]),
    ("LLVM_STRIP", &["llvm-strip-19", "llvm-strip"]),
];

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Origin(#[from] OriginError),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Fragment(#[from] FragmentError),
    #[error("{source}\nfull log: {}", log.display())]
    Verify { source: VerifyError, log: PathBuf },
    #[error(transparent)]
    Make(#[from] MakeError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{tool} not found on PATH (looked for {candidates}): install clang-19 and llvm-19 (ci/setup.sh)")]
    MissingTool {
        tool: &'static str,
        candidates: String,
    },
    #[error("the build did not produce {}: see {}", path.display(), log.display())]
    MissingOutput { path: PathBuf, log: PathBuf },
}

impl crate::exit::ExitClass for BuildError {
    /// A source that cannot give a sched_ext kernel, or a kernel that does
    /// not configure or build, cannot be tested (a bisect skips it); bad
    /// input is a usage error; the machine's tools and disk are environment.
    fn exit_code(&self) -> crate::exit::ExitCode {
        use crate::exit::ExitCode;
        match self {
            BuildError::Origin(e) => e.exit_code(),
            BuildError::Source(e) => e.exit_code(),
            BuildError::Lock(e) => e.exit_code(),
            BuildError::Fragment(_) => ExitCode::Usage,
            BuildError::Verify { .. } | BuildError::Make(MakeError::Failed { .. }) => {
                ExitCode::CannotTest
            }
            BuildError::MissingOutput { .. } => ExitCode::CannotTest,
            BuildError::Make(_)
            | BuildError::Store(_)
            | BuildError::Io { .. }
            | BuildError::MissingTool { .. } => ExitCode::Environment,
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BuildError + '_ {
    move |source| BuildError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What to build.
#[derive(Debug, Clone, Default)]
pub struct BuildRequest {
    /// Where the source comes from.
    pub origin: Origin,
    /// Which fragment set ([`super::variant`]).
    pub variant: Variant,
    /// Merged after the variant's fragments (so they win).
    pub extra_fragments: Vec<Fragment>,
    /// Rebuild even when the cache has the key.
    pub force: bool,
    /// `make -j`; default: CPUs + 1.
    pub jobs: Option<usize>,
}

impl BuildRequest {
    /// The fragments in merge order: the variant's, then the extra ones.
    pub fn fragments(&self) -> Vec<Fragment> {
        let mut fragments = self.variant.fragments();
        fragments.extend(self.extra_fragments.iter().cloned());
        fragments
    }
}

/// Whether the kernel came from the cache or was just built.
#[derive(Debug)]
pub enum BuildOutcome {
    Cached(Entry),
    Built(Entry),
}

impl BuildOutcome {
    pub fn entry(&self) -> &Entry {
        match self {
            BuildOutcome::Cached(e) | BuildOutcome::Built(e) => e,
        }
    }
}

/// Builds (or finds in the cache) the kernel `req` describes.
pub fn build(req: &BuildRequest, cache: &CacheDir) -> Result<BuildOutcome, BuildError> {
    let store = Store::new(cache);
    // Held for the whole build: `kernel clean` waits for it instead of
    // deleting a staging directory or a source tree in use.
    let _in_use = store.in_use()?;
    let src = req.origin.acquire(cache)?;
    let fragments = req.fragments();
    let required = fragment::merge(&fragments)?;
    let early_key = src.identity.as_deref().map(|id| cache_key(id, &fragments));
    let cached = |key: &str| if req.force { Ok(None) } else { store.get(key) };
    if let Some(entry) = early_key.as_deref().map(cached).transpose()?.flatten() {
        return Ok(BuildOutcome::Cached(entry));
    }

    let progress = Progress::new();
    progress.println(&format!(
        "building a kernel ({} variant) from {}",
        req.variant,
        src.description()
    ));
    if src.kind == SourceKind::Tarball {
        progress.println("extracting the tarball (once per tarball)");
    }
    let tree = src.tree(cache)?;
    let _lock = lock_tree(&store, &tree, &progress)?;
    // Another process may have built the same key while we waited.
    if let Some(entry) = early_key.as_deref().map(cached).transpose()?.flatten() {
        progress.finish();
        return Ok(BuildOutcome::Cached(entry));
    }
    // Before any make: a tree without sched_ext fails here in milliseconds.
    source::check_sched_ext(&tree)?;
    let log_name = early_key.clone().unwrap_or_else(|| {
        format!(
            "tree-{}",
            &sha256_hex(tree.to_string_lossy().as_bytes())[..16]
        )
    });
    let mut log = Log::create(&store.log_path(&log_name))?;
    progress.println(&format!("build log: {}", log.path().display()));

    let started = Instant::now();
    let result = compile(&tree, &fragments, &required, req.jobs, &mut log, &progress);
    progress.finish();
    result?;

    let image = tree.join("arch/x86/boot/bzImage");
    let identity = match &src.identity {
        Some(id) => id.clone(),
        None => source::dir_identity_after_build(&tree, &image)?,
    };
    let key = cache_key(&identity, &fragments);
    if let Some(entry) = cached(&key)? {
        return Ok(BuildOutcome::Cached(entry));
    }
    let staging = store.stage()?;
    let mut meta = collect(&tree, staging.path(), &log)?;
    meta.key = key;
    meta.source = src.description();
    meta.source_identity = identity;
    meta.fragments = fragments.iter().map(|f| f.name.clone()).collect();
    meta.variant = req.variant.name().to_string();
    meta.fragments_sha256 = fragments_digest(&fragments);
    meta.build_seconds = started.elapsed().as_secs_f64();
    let entry = store.commit(staging, meta)?;
    // The entry has its own copy; the side log is kept only for failures.
    let _ = fs::remove_file(log.path());
    Ok(BuildOutcome::Built(entry))
}

/// Configures and builds in `tree`; every command's output goes to `log`.
fn compile(
    tree: &Path,
    fragments: &[Fragment],
    required: &std::collections::BTreeMap<String, fragment::Requirement>,
    jobs: Option<usize>,
    log: &mut Log,
    progress: &Progress,
) -> Result<(), BuildError> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let jobs = jobs.unwrap_or(cpus + 1).max(1);
    let use_ccache = ccache::enabled();
    if use_ccache {
        progress.println("compiling through ccache (KTSTR_VM_CCACHE=0 turns it off)");
    }
    // Every make in the tree gets the same CC, or kbuild reconfigures.
    let tree_make = |args: &[&str]| {
        let mut c = make(tree, args);
        if use_ccache {
            ccache::apply(&mut c, tree);
        }
        c
    };

    let frag_dir = tempfile::tempdir().map_err(io(Path::new("/tmp")))?;
    let mut frag_paths = Vec::new();
    for (i, f) in fragments.iter().enumerate() {
        let file_name = Path::new(&f.name)
            .file_name()
            .map_or("fragment".into(), |n| n.to_string_lossy().into_owned());
        let p = frag_dir.path().join(format!("{i:02}-{file_name}"));
        fs::write(&p, &f.text).map_err(io(&p))?;
        frag_paths.push(p);
    }
    run_step("tinyconfig", tree_make(&["tinyconfig"]), log, progress)?;
    let mut merge = Command::new("bash");
    merge
        .current_dir(tree)
        .arg("scripts/kconfig/merge_config.sh")
        .arg("-m")
        .arg(".config")
        .args(&frag_paths);
    run_step("merge fragments", merge, log, progress)?;
    run_step("olddefconfig", tree_make(&["olddefconfig"]), log, progress)?;
    let config_path = tree.join(".config");
    let config = fs::read_to_string(&config_path).map_err(io(&config_path))?;
    fragment::verify(required, &config).map_err(|source| BuildError::Verify {
        source,
        log: log.path().to_path_buf(),
    })?;
    progress.println(&format!(
        "config verified: all {} requested options present",
        required.len()
    ));

    let mut kernel = tree_make(&["bzImage"]);
    kernel.arg(format!("-j{jobs}"));
    run_step("make bzImage", kernel, log, progress)?;

    let mut scx = make(tree, &[]);
    scx.arg("-C")
        .arg("tools/sched_ext")
        .arg(format!("-j{cpus}"));
    for (var, candidates) in LLVM_TOOLS {
        let found =
            candidates
                .iter()
                .find(|c| on_path(c))
                .ok_or_else(|| BuildError::MissingTool {
                    tool: var,
                    candidates: candidates.join(", "),
                })?;
        scx.arg(format!("{var}={found}"));
    }
    run_step("make sched_ext", scx, log, progress)?;
    Ok(())
}

/// `make -C tree ARGS` with a quiet-enough, locale-independent environment.
fn make(tree: &Path, args: &[&str]) -> Command {
    let mut c = Command::new("make");
    c.arg("-C").arg(tree).args(args).env("LC_ALL", "C");
    c
}

fn on_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
}

/// Copies the build's results into `staging`; returns the meta fields it knows.
fn collect(tree: &Path, staging: &Path, log: &Log) -> Result<Meta, BuildError> {
    let need = |rel: &str| {
        let p = tree.join(rel);
        if p.is_file() {
            Ok(p)
        } else {
            Err(BuildError::MissingOutput {
                path: p,
                log: log.path().to_path_buf(),
            })
        }
    };
    let copy = |from: &Path, to: &Path| fs::copy(from, to).map_err(io(to));
    let image = need("arch/x86/boot/bzImage")?;
    copy(&image, &staging.join(store::IMAGE_FILE))?;
    let config = fs::read(need(".config")?).map_err(io(tree))?;
    fs::write(staging.join(store::CONFIG_FILE), &config).map_err(io(staging))?;
    strip_vmlinux(&need("vmlinux")?, &staging.join(store::VMLINUX_FILE))?;
    let sched_dir = staging.join(store::SCHED_DIR);
    fs::create_dir_all(&sched_dir).map_err(io(&sched_dir))?;
    for name in SCHEDULERS {
        let bin = need(&format!("tools/sched_ext/build/bin/{name}"))?;
        copy(&bin, &sched_dir.join(name))?;
    }
    copy(log.path(), &staging.join(store::LOG_FILE))?;
    let release =
        fs::read_to_string(tree.join("include/config/kernel.release")).unwrap_or_default();
    let version = match release.trim() {
        "" => source::makefile_version(tree).unwrap_or_else(|| "unknown".into()),
        r => r.to_string(),
    };
    Ok(Meta {
        format: META_FORMAT,
        key: String::new(),
        version,
        source: String::new(),
        source_identity: String::new(),
        fragments: Vec::new(),
        variant: String::new(),
        fragments_sha256: String::new(),
        config_sha256: sha256_hex(&config),
        schedulers: SCHEDULERS.iter().map(|s| s.to_string()).collect(),
        image_size: fs::metadata(&image).map_err(io(&image))?.len(),
        built_at: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        build_seconds: 0.0,
        builder: BUILDER_VERSION.to_string(),
    })
}

/// Copies vmlinux without DWARF: ~100 MB less per entry; symbols and the
/// `.BTF` section (not a debug section) stay.
fn strip_vmlinux(from: &Path, to: &Path) -> Result<(), BuildError> {
    let out = Command::new("objcopy")
        .arg("--strip-debug")
        .arg(from)
        .arg(to)
        .output()
        .map_err(io(from))?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(BuildError::Io {
            path: from.to_path_buf(),
            source: std::io::Error::other(format!("objcopy --strip-debug: {msg}")),
        });
    }
    Ok(())
}

/// One build per tree at a time: two makes in one tree corrupt each other.
/// The second build of the same tree waits, then finds the first one's
/// entry in the cache.
fn lock_tree(store: &Store, tree: &Path, progress: &Progress) -> Result<lock::Lock, BuildError> {
    let path = store
        .locks_dir()
        .join(lock::name_for(&tree.to_string_lossy()));
    let what = format!("building in {}", tree.display());
    Ok(lock::acquire(&path, lock::Mode::Exclusive, &what, &|m| {
        progress.println(m)
    })?)
}
