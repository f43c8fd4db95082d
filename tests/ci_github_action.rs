//! The GitHub workflow and composite action run on this machine: the
//! workflow's `kernels` job reads a plan file, then its `test` job runs the
//! composite action's own steps in order (install, build ktstr-vm, make
//! /dev/kvm usable, identify the kernel, build or reuse it, run a 2-cell
//! matrix), with only actions/checkout, the cache and the artifact upload
//! stubbed; the stubs check what they were given. Then `kernel-id.sh`, the
//! cache-key step, against a local git repository and mirror.
//!
//! ktstr-vm is built with `cargo install` into a persistent target
//! directory (`target/action-steps`), so later runs are incremental.

mod common;
mod gha;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use gha::expr::{self, Status};
use gha::runner::{Job, Outputs, Scope, Uses};
use gha::yaml;
use serde_json::{json, Value};

/// The kernel the test plan names, by version as a workflow author writes
/// it: the suite's Debian 6.12.117 build, which `.ci/run` builds or reuses.
fn plan_kernel() -> String {
    "6.12.117".to_string()
}

fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR is under the target directory")
        .to_path_buf()
}

/// What the stubs saw.
#[derive(Debug, Default)]
struct Stubs {
    restored: Vec<Outputs>,
    saved: Vec<Outputs>,
    uploaded: Vec<Outputs>,
    action_outputs: Vec<Outputs>,
}

impl Uses for Stubs {
    fn uses(&mut self, job: &mut Job, uses: &str, with: &Outputs) -> Result<Outputs, String> {
        let (name, version) = uses
            .split_once('@')
            .ok_or_else(|| format!("{uses}: not pinned to a version"))?;
        let get = |k: &str| {
            with.get(k)
                .filter(|v| !v.trim().is_empty())
                .cloned()
                .ok_or_else(|| format!("{uses}: with: {k} is missing or empty"))
        };
        match name {
            // The workspace is the checkout: it must hold the plan.
            "actions/checkout" => {
                let plan = job.workspace.join("ktstr-vm.toml");
                plan.is_file()
                    .then(Outputs::new)
                    .ok_or_else(|| format!("checkout: no {}", plan.display()))
            }
            "ktstr-vm/ktstr-vm/ci/github/action" => {
                let out = job.run_action(&yaml::action_dir(), with, self)?;
                self.action_outputs.push(out.clone());
                Ok(out)
            }
            // A miss: the kernel comes from the build-or-reuse step.
            "actions/cache/restore" => {
                get("key")?;
                get("path")?;
                self.restored.push(with.clone());
                Ok(Outputs::from([("cache-hit".into(), "false".into())]))
            }
            "actions/cache/save" => {
                get("key")?;
                let path = PathBuf::from(get("path")?);
                let entries = kernel_entries(&path);
                if entries.is_empty() {
                    return Err(format!(
                        "cache save: {} holds no built kernel",
                        path.display()
                    ));
                }
                self.saved.push(with.clone());
                Ok(Outputs::new())
            }
            "actions/upload-artifact" => {
                get("name")?;
                let lines = get("path")?;
                let (excluded, included): (Vec<&str>, Vec<&str>) = lines
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .partition(|l| l.starts_with('!'));
                for p in &included {
                    if !non_empty(Path::new(p)) {
                        return Err(format!("upload: {p} is missing or empty"));
                    }
                }
                // An exclusion is a pattern under an uploaded directory.
                for x in excluded {
                    if !included
                        .iter()
                        .any(|p| x[1..].starts_with(&format!("{p}/")))
                    {
                        return Err(format!("upload: {x} excludes nothing uploaded"));
                    }
                }
                self.uploaded.push(with.clone());
                Ok(Outputs::new())
            }
            _ => Err(format!("no stub for {name}@{version}")),
        }
    }
}

/// Cache entries (a bzImage and meta.json each) under a kernels/ directory.
fn kernel_entries(kernels: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(kernels)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("bzImage").is_file() && p.join("meta.json").is_file())
        .collect()
}

/// A non-empty file, or a directory with one somewhere inside.
fn non_empty(p: &Path) -> bool {
    if p.is_file() {
        return p.metadata().is_ok_and(|m| m.len() > 0);
    }
    std::fs::read_dir(p)
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| non_empty(&e.path()))
}

/// (name, classname, failed?) of every JUnit test case.
fn junit_cases(xml: &str) -> Vec<(String, String, bool)> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut out = Vec::new();
    loop {
        match reader.read_event().expect("JUnit is well-formed XML") {
            Event::Start(e) | Event::Empty(e) => match e.name().as_ref() {
                b"testcase" => {
                    let attr = |key: &[u8]| {
                        e.attributes()
                            .flatten()
                            .find(|a| a.key.as_ref() == key)
                            .map(|a| String::from_utf8_lossy(&a.value).into_owned())
                            .unwrap_or_default()
                    };
                    out.push((attr(b"name"), attr(b"classname"), false));
                }
                b"failure" | b"error" | b"skipped" => {
                    if let Some(last) = out.last_mut() {
                        last.2 = true;
                    }
                }
                _ => {}
            },
            Event::Eof => return out,
            _ => {}
        }
    }
}

/// Runs one workflow job's steps; returns its evaluated `outputs:`.
fn run_job(job: &mut Job, spec: &Value, stubs: &mut Stubs) -> BTreeMap<String, String> {
    let mut scope = Scope::default();
    let result = job.run_steps(&yaml::steps(spec), &mut scope, stubs, false);
    result.unwrap_or_else(|e| panic!("the job's steps cannot run as written: {e}"));
    assert!(
        job.failures.is_empty(),
        "steps failed:\n{}",
        job.failures.join("\n\n")
    );
    let ctx = job.contexts(&scope);
    yaml::string_map(&spec["outputs"])
        .into_iter()
        .map(|(k, v)| (k, expr::interpolate(&v, &ctx, job.status).unwrap()))
        .collect()
}

#[test]
fn the_workflow_runs_the_actions_steps_here() {
    let kernel = plan_kernel();
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ci-github-action");
    let workspace = root.join("workspace");
    let _ = std::fs::remove_dir_all(&workspace);
    std::fs::create_dir_all(&workspace).unwrap();
    std::fs::write(
        workspace.join("ktstr-vm.toml"),
        format!(
            "kernels = [\"{kernel}\"]\ntopologies = [\"1n1l2c1t\"]\n\
             schedulers = [\"scx_simple\", \"eevdf\"]\nduration = \"2s\"\n"
        ),
    )
    .unwrap();
    let workflow = yaml::load(&yaml::ci_github().join("workflow.yml"));
    let mut stubs = Stubs::default();
    let new_job = |name: &str| {
        let mut job = Job::new(name, &root.join(name), &workspace);
        for (k, v) in yaml::string_map(&workflow["env"]) {
            job.set_env(&k, &v);
        }
        // Incremental builds of ktstr-vm across test runs, and unoptimised
        // (this runner's choice, not the action's): the steps are under
        // test, not ktstr-vm's speed, and a cold build takes 5 min instead
        // of 14 on 2 busy cores.
        job.env.insert(
            "CARGO_TARGET_DIR".into(),
            target_dir().join("action-steps").display().to_string(),
        );
        job.env
            .insert("CARGO_PROFILE_RELEASE_OPT_LEVEL".into(), "0".into());
        job.env
            .insert("CARGO_PROFILE_RELEASE_CODEGEN_UNITS".into(), "256".into());
        // The real cache, where ci/build-kernel.sh put the kernel.
        let cache = ktstr_vm::cache_dir::CacheDir::resolve(None).unwrap();
        job.env.insert(
            "KTSTR_VM_CACHE_DIR".into(),
            cache.root().display().to_string(),
        );
        job
    };

    // Job 1: the kernels of the plan, as a JSON list for the matrix.
    let mut job = new_job("kernels");
    let outputs = run_job(&mut job, &workflow["jobs"]["kernels"], &mut stubs);
    let needs = json!({"kernels": {"outputs": outputs}});
    let matrix = &workflow["jobs"]["test"]["strategy"]["matrix"]["kernel"];
    let ctx = json!({"needs": needs});
    let kernels = expr::eval(
        matrix
            .as_str()
            .unwrap()
            .trim()
            .trim_start_matches("${{")
            .trim_end_matches("}}"),
        &ctx,
        Status::default(),
    )
    .unwrap();
    assert_eq!(kernels, json!([kernel]));

    // Job 2: one matrix entry: the action with the workflow's inputs.
    let mut job = new_job("test");
    job.contexts.insert("needs".into(), needs);
    job.contexts
        .insert("matrix".into(), json!({"kernel": kernels[0]}));
    let cache_dir = job.env["KTSTR_VM_CACHE_DIR"].clone();
    run_job(&mut job, &workflow["jobs"]["test"], &mut stubs);
    for r in &job.runs {
        eprintln!(
            "{:>7.1} s  {}  {}",
            r.took.as_secs_f64(),
            r.outcome,
            r.label
        );
    }

    // The action ran and said where its results are.
    let out = stubs.action_outputs.first().expect("the action ran");
    let junit = PathBuf::from(&out["junit"]);
    let artifacts = PathBuf::from(&out["artifacts"]);
    let cases = junit_cases(&std::fs::read_to_string(&junit).unwrap());
    assert_eq!(cases.len(), 2, "{cases:?}");
    assert!(cases.iter().all(|c| !c.2 && c.1 == kernel), "{cases:?}");
    assert!(artifacts.join("matrix.json").is_file());
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(artifacts.join("matrix.json")).unwrap())
            .unwrap();
    assert_eq!(report["passed"], 2, "{report:#}");
    for c in report["cells"].as_array().unwrap() {
        let id = c["id"].as_str().unwrap();
        assert!(artifacts.join(id).join("result.json").is_file(), "{id}");
    }
    let summary = std::fs::read_to_string(job.summary()).unwrap_or_default();
    assert!(summary.contains("| kernel |"), "step summary: {summary}");

    // The cache was asked for this kernel and given it under the same key.
    assert_eq!(stubs.restored.len(), 1);
    assert_eq!(stubs.saved.len(), 1);
    let key = &stubs.saved[0]["key"];
    assert_eq!(key, &stubs.restored[0]["key"]);
    assert!(key.contains(&kernel), "{key}");
    assert_eq!(
        Path::new(&stubs.saved[0]["path"]),
        Path::new(&cache_dir).join("kernels")
    );
    // The upload got the JUnit file and the artifacts, under the kernel's name.
    let up = &stubs.uploaded[0];
    assert_eq!(up["name"], format!("ktstr-vm-{kernel}"));
    let paths: Vec<PathBuf> = up["path"].lines().map(PathBuf::from).collect();
    assert!(
        up["path"].contains('!'),
        "the initramfs images stay out: {paths:?}"
    );
    assert!(
        paths.contains(&junit) && paths.contains(&artifacts),
        "{paths:?}"
    );
}

/// A one-file HTTP server on 127.0.0.1: `GET /v6.x/` gets `listing`,
/// anything else 404, until `requests` requests were served.
fn serve_listing(listing: &'static str, requests: usize) -> String {
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", server.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in server.incoming().take(requests).flatten() {
            let mut stream = stream;
            let mut buf = [0u8; 2048];
            let n = stream.read(&mut buf).unwrap_or(0);
            let head = String::from_utf8_lossy(&buf[..n]);
            let (status, body) = if head.starts_with("GET /v6.x/ ") {
                ("200 OK", listing)
            } else {
                ("404 Not Found", "")
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn kernel_ids_name_the_source_and_variant() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("linux");
    std::fs::create_dir(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    git(&repo, &["commit", "-q", "--allow-empty", "-m", "one"]);
    let first = git(&repo, &["rev-parse", "HEAD"]);
    git(&repo, &["tag", "-a", "-m", "tag", "v6.12"]);
    git(&repo, &["commit", "-q", "--allow-empty", "-m", "two"]);
    let second = git(&repo, &["rev-parse", "HEAD"]);
    let mirror = dir.path().join("mirror");
    std::fs::create_dir(&mirror).unwrap();
    std::fs::write(
        mirror.join("releases.json"),
        r#"{"releases": [{"version": "6.13.4"}, {"version": "6.13.12"}, {"version": "6.14-rc2"}]}"#,
    )
    .unwrap();
    let file_mirror = format!("file://{}", mirror.display());
    let http = serve_listing(
        r#"<a href="linux-6.12.9.tar.xz">x</a> <a href="linux-6.12.10.tar.xz">x</a> <a href="linux-6.12.10.tar.sign">"#,
        2,
    );
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let id = |kernel: &str, mirror: &str| -> Result<BTreeMap<String, String>, String> {
        let out = Command::new("bash")
            .arg(yaml::action_dir().join("kernel-id.sh"))
            .args([kernel, src.to_str().unwrap()])
            .env("KTSTR_VM_KERNEL_MIRROR", mirror)
            .output()
            .unwrap();
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        let text = String::from_utf8_lossy(&out.stdout);
        Ok(gha::runner::file_command(&text)?.into_iter().collect())
    };
    let url = repo.display().to_string();
    // kernel, mirror -> resolved, the key's source-and-variant part (None: not cached)
    let cases: Vec<(String, &str, &str, Option<String>)> = vec![
        (
            "6.12.117".into(),
            &file_mirror,
            "6.12.117",
            Some("-release-6.12.117-default-".into()),
        ),
        (
            "6.12.117+debug".into(),
            &file_mirror,
            "6.12.117+debug",
            Some("-release-6.12.117-debug-".into()),
        ),
        (
            "6.13+debug".into(),
            &file_mirror,
            "6.13.12+debug",
            Some("-release-6.13.12-debug-".into()),
        ),
        (
            "6.12".into(),
            &http,
            "6.12.10",
            Some("-release-6.12.10-default-".into()),
        ),
        (
            format!("git+{url}#main"),
            &file_mirror,
            "",
            Some(format!("-git-{second}-default-")),
        ),
        (
            format!("git+file://{url}#v6.12+debug"),
            &file_mirror,
            "",
            Some(format!("-git-{first}-debug-")),
        ),
        (
            format!("git+{url}#{first}"),
            &file_mirror,
            "",
            Some(format!("-git-{first}-default-")),
        ),
        (
            "0269ABCD".into(),
            &file_mirror,
            "0269ABCD",
            Some("-key-0269abcd-default-".into()),
        ),
        (
            src.join("Cargo.toml").display().to_string(),
            &file_mirror,
            "",
            None,
        ),
    ];
    for (kernel, mirror, resolved, key) in &cases {
        let got = id(kernel, mirror).unwrap_or_else(|e| panic!("{kernel}: {e}"));
        let want_resolved = if resolved.is_empty() {
            kernel.as_str()
        } else {
            resolved
        };
        assert_eq!(got["resolved"], want_resolved, "{kernel}");
        match key {
            Some(part) => {
                assert_eq!(got["cache"], "true", "{kernel}");
                assert!(
                    got["key"].starts_with("ktstr-vm-kernel-"),
                    "{kernel}: {got:?}"
                );
                assert!(got["key"].contains(part.as_str()), "{kernel}: {got:?}");
            }
            None => assert_eq!((got["cache"].as_str(), got.get("key")), ("false", None)),
        }
        let slug = &got["slug"];
        assert!(
            !slug.is_empty()
                && slug
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b)),
            "{kernel}: slug {slug}"
        );
    }
    // The same kernel gets the same key; another variant another one.
    let a = id("6.12.117", &file_mirror).unwrap();
    assert_eq!(a, id("6.12.117", &file_mirror).unwrap());
    assert_ne!(a["key"], id("6.12.117+debug", &file_mirror).unwrap()["key"]);
    // What cannot be identified fails, naming it.
    for (kernel, needle) in [
        ("6.99".to_string(), "6.99: no release"),
        (format!("git+{url}#nope"), "no branch or tag named nope"),
        (format!("git+{url}"), "git+URL#REF"),
        ("not-a-kernel".to_string(), "not a kernel version"),
    ] {
        let err = id(&kernel, &file_mirror).expect_err(&kernel);
        assert!(err.contains(needle), "{kernel}: {err}");
    }
}
