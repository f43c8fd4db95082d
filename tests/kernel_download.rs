//! `kernel build --version` against a kernel.org-layout mirror on
//! 127.0.0.1 that serves Debian's 6.12.117 source as
//! `v6.x/linux-6.12.117.tar.xz`, with `sha256sums.asc` and `releases.json`.
//!
//! The tarball's bytes are those the cached default kernel was built from,
//! so its cache key is that kernel's: these tests link that entry into a
//! temporary cache and never compile a kernel. They need the default
//! kernel built (`ci/build-kernel.sh`) and fail, not skip, without it.

mod common;

use ktstr_vm::exit::ExitClass;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::http_server::{dead_port_url, Mode, Server};
use ktstr_vm::cache_dir::CacheDir;
use ktstr_vm::kernel::download;
use ktstr_vm::kernel::http::Http;
use ktstr_vm::kernel::key::cache_key;
use ktstr_vm::kernel::release::{Mirror, Release, VersionRequest};
use ktstr_vm::kernel::source::file_sha256;
use ktstr_vm::kernel::store::Store;
use ktstr_vm::kernel::variant::Variant;

const TARBALL: &str = "/usr/src/linux-source-6.12.tar.xz";
const VERSION: &str = "6.12.117";
const URL_PATH: &str = "/v6.x/linux-6.12.117.tar.xz";

fn tarball_sha() -> &'static str {
    static SHA: OnceLock<String> = OnceLock::new();
    SHA.get_or_init(|| {
        assert!(
            Path::new(TARBALL).is_file(),
            "{TARBALL} is missing: install linux-source-6.12 (ci/setup.sh)"
        );
        file_sha256(Path::new(TARBALL)).unwrap()
    })
}

/// A mirror directory, its server, and an empty cache.
struct Fixture {
    _root: tempfile::TempDir,
    server: Server,
    cache: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let root = tempfile::tempdir().unwrap();
        let v6 = root.path().join("v6.x");
        std::fs::create_dir_all(&v6).unwrap();
        std::os::unix::fs::symlink(TARBALL, v6.join("linux-6.12.117.tar.xz")).unwrap();
        let sums = format!(
            "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n{}  linux-6.12.117.tar.xz\n{}  linux-6.12.116.tar.xz\n\
             -----BEGIN PGP SIGNATURE-----\n\nnot verified\n-----END PGP SIGNATURE-----\n",
            tarball_sha(),
            "0".repeat(64)
        );
        std::fs::write(v6.join("sha256sums.asc"), sums).unwrap();
        // 6.12 is in releases.json; 6.11 only in the listing (end of life).
        std::fs::write(v6.join("linux-6.11.10.tar.xz"), b"not a tarball").unwrap();
        std::fs::write(
            root.path().join("releases.json"),
            r#"{"releases": [{"version": "6.13-rc2"}, {"version": "6.12.117"}, {"version": "6.6.60"}]}"#,
        )
        .unwrap();
        let server = Server::start(root.path());
        Fixture {
            _root: root,
            server,
            cache: tempfile::tempdir().unwrap(),
        }
    }

    fn cache(&self) -> &Path {
        self.cache.path()
    }

    /// Links the already built default kernel of the Debian tarball into
    /// this fixture's cache; returns its key.
    fn link_built_kernel(&self) -> String {
        let key = cache_key(
            &format!("tarball:sha256:{}", tarball_sha()),
            &Variant::default().fragments(),
        );
        let shared = CacheDir::resolve(None).unwrap();
        let entry = Store::new(&shared).get(&key).unwrap().unwrap_or_else(|| {
            panic!(
                "no default kernel of {TARBALL} (key {key}) in {}: build it with ci/build-kernel.sh",
                shared.kernels().display()
            )
        });
        let kernels = self.cache().join("kernels");
        std::fs::create_dir_all(&kernels).unwrap();
        std::os::unix::fs::symlink(&entry.dir, kernels.join(&key)).unwrap();
        key
    }

    fn build_cmd(&self, version: &str, mirror: &str) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_ktstr-vm"));
        c.args(["kernel", "build", "--version", version, "--mirror", mirror])
            .arg("--cache-dir")
            .arg(self.cache())
            .env_remove("KTSTR_VM_KERNEL_MIRROR")
            .stdin(Stdio::null());
        c
    }

    fn build(&self, version: &str, mirror: &str) -> (Output, Duration) {
        let started = Instant::now();
        let out = self.build_cmd(version, mirror).output().unwrap();
        let took = started.elapsed();
        eprintln!(
            "kernel build --version {version} --mirror {mirror}: exit {:?} in {took:?}\n--- stdout\n{}--- stderr\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out, took)
    }

    fn downloaded(&self) -> PathBuf {
        self.cache().join("downloads/v6.x/linux-6.12.117.tar.xz")
    }

    /// Files under downloads/ (any name, `.part` included).
    fn download_files(&self) -> Vec<String> {
        let dir = self.cache().join("downloads/v6.x");
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn download_verifies_then_the_cache_answers() {
    let f = Fixture::new();
    let key = f.link_built_kernel();
    let (out, _) = f.build(VERSION, &f.server.url());
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let progress = err
        .lines()
        .find(|l| l.starts_with("downloaded ") && l.contains("MB/s"))
        .unwrap_or_else(|| panic!("no progress summary with bytes and rate:\n{err}"));
    eprintln!("throughput: {progress}");
    assert!(err.contains("sha256 matches"), "{err}");
    assert!(err.contains(&format!("cached kernel {key}")), "{err}");
    assert_eq!(file_sha256(&f.downloaded()).unwrap(), tarball_sha());
    assert_eq!(f.server.hits(URL_PATH), 1);
    assert_eq!(
        f.download_files(),
        ["linux-6.12.117.tar.xz"],
        "no .part left"
    );

    // Second call: no download, the same kernel.
    let (again, _) = f.build(VERSION, &f.server.url());
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert_eq!(
        f.server.hits(URL_PATH),
        1,
        "the second call must not download"
    );
    assert!(stderr(&again).contains(&format!("cached kernel {key}")));
    assert_eq!(again.stdout, out.stdout);
}

#[test]
fn nonexistent_version_fails_clearly() {
    let f = Fixture::new();
    let (out, took) = f.build("6.12.999", &f.server.url());
    let err = stderr(&out);
    let first = err.lines().next().unwrap_or("");
    assert_eq!(out.status.code(), Some(129), "{err}");
    assert!(first.contains("kernel 6.12.999 does not exist"), "{first}");
    assert!(
        first.contains(&format!("{}/v6.x/linux-6.12.999.tar.xz", f.server.url())),
        "{first}"
    );
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[test]
fn truncated_download_fails_and_keeps_nothing() {
    let f = Fixture::new();
    f.server.set_mode(URL_PATH, Mode::Truncate);
    let (out, _) = f.build(VERSION, &f.server.url());
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(131), "{err}");
    assert!(
        err.contains("kernel 6.12.117: the download of") && err.contains("cut short"),
        "{err}"
    );
    assert!(f.download_files().is_empty(), "{:?}", f.download_files());
}

#[test]
fn wrong_checksum_fails_and_keeps_nothing() {
    let f = Fixture::new();
    f.server.set_mode(URL_PATH, Mode::Corrupt);
    let (out, _) = f.build(VERSION, &f.server.url());
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(131), "{err}");
    assert!(
        err.contains("has sha256") && err.contains(tarball_sha()),
        "{err}"
    );
    assert!(f.download_files().is_empty(), "{:?}", f.download_files());
}

#[test]
fn unreachable_server_fails_within_seconds() {
    let f = Fixture::new();
    let dead = dead_port_url();
    let (out, took) = f.build(VERSION, &dead);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(131), "{err}");
    assert!(
        err.contains(&format!("kernel 6.12.117: cannot reach {dead}/v6.x/")),
        "{err}"
    );
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[test]
fn newest_patch_comes_from_releases_json_then_the_listing() {
    let f = Fixture::new();
    let mirror = Mirror::new(&f.server.url());
    let http = Http::new();
    let series = |minor| VersionRequest::Series { major: 6, minor };
    let rel = |minor, patch| Release {
        major: 6,
        minor,
        patch,
    };
    assert_eq!(
        download::resolve(series(12), &mirror, &http).unwrap(),
        rel(12, 117)
    );
    assert_eq!(f.server.hits("/v6.x/"), 0, "releases.json answered");
    assert_eq!(
        download::resolve(series(11), &mirror, &http).unwrap(),
        rel(11, 10)
    );
    assert_eq!(f.server.hits("/v6.x/"), 1, "the listing answered");
    let err = download::resolve(series(10), &mirror, &http).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("kernel 6.10: no 6.10.x release"),
        "{err}"
    );
    assert_eq!(err.exit_code(), ktstr_vm::exit::ExitCode::Usage);
}

#[test]
fn two_processes_download_once() {
    let f = Fixture::new();
    f.link_built_kernel();
    // Slow enough that the second process starts mid-download.
    f.server
        .set_mode(URL_PATH, Mode::Slow(Duration::from_millis(20)));
    let url = f.server.url();
    let first = f
        .build_cmd(VERSION, &url)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while f.server.sent(URL_PATH) == 0 {
        assert!(
            Instant::now() < deadline,
            "the first download never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let (second, _) = f.build(VERSION, &url);
    let first = first.wait_with_output().unwrap();
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    assert!(
        stderr(&second)
            .contains("waiting for another ktstr-vm that is downloading linux-6.12.117.tar.xz"),
        "{}",
        stderr(&second)
    );
    assert_eq!(f.server.hits(URL_PATH), 1, "one download for both");
}

#[test]
fn killed_download_leaves_nothing_trusted() {
    let f = Fixture::new();
    f.link_built_kernel();
    f.server.set_mode(URL_PATH, Mode::Stall);
    let url = f.server.url();
    let mut child = f
        .build_cmd(VERSION, &url)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    // Wait until the server has sent half the tarball (it then stalls),
    // give the client a moment to write it, then SIGKILL.
    while f.server.sent(URL_PATH) < 50_000_000 {
        assert!(Instant::now() < deadline, "the download never got half-way");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_secs(1));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !f.downloaded().exists(),
        "a killed download must not have its real name"
    );
    assert_eq!(f.download_files(), [".linux-6.12.117.tar.xz.part"]);

    let list = Command::new(env!("CARGO_BIN_EXE_ktstr-vm"))
        .args(["kernel", "list", "--cache-dir"])
        .arg(f.cache())
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&list.stdout)
            .contains("1 leftover(s) of interrupted builds or downloads"),
        "{}",
        String::from_utf8_lossy(&list.stdout)
    );

    // The next run downloads it whole, ignoring the partial file.
    f.server.set_mode(URL_PATH, Mode::Normal);
    let (out, _) = f.build(VERSION, &url);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(f.server.hits(URL_PATH), 2);
    assert_eq!(file_sha256(&f.downloaded()).unwrap(), tarball_sha());
    assert_eq!(f.download_files(), ["linux-6.12.117.tar.xz"]);
}
