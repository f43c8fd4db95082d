//! Runs a job's or a composite action's steps on this machine the way a
//! GitHub runner does: `run:` steps as `bash --noprofile --norc -eo
//! pipefail FILE` after `${{ }}` substitution, with the `GITHUB_*` and
//! `RUNNER_*` variables and a fresh GITHUB_OUTPUT/GITHUB_ENV/GITHUB_PATH
//! file per step (read back into `steps.<id>.outputs`, the environment and
//! PATH of later steps), `if:` conditions, and the job status that
//! `always()`/`failure()` see. `uses:` steps go to a [`Uses`] handler: the
//! test runs the local action for real and stubs only what needs GitHub's
//! services (cache, artifact upload).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use super::expr::{self, Status};
use super::yaml;

pub type Outputs = BTreeMap<String, String>;

/// What a test does for a `uses:` step.
pub trait Uses {
    /// Runs `uses` with its (substituted) `with:` values; returns its outputs.
    fn uses(&mut self, job: &mut Job, uses: &str, with: &Outputs) -> Result<Outputs, String>;
}

/// One step as it ran.
#[derive(Debug, Clone)]
pub struct StepRun {
    pub label: String,
    pub outcome: &'static str,
    pub took: Duration,
}

/// A job on this machine.
#[derive(Debug)]
pub struct Job {
    /// The environment every step starts from (GITHUB_ENV adds to it).
    pub env: BTreeMap<String, String>,
    /// `github`, `runner`, `env`, `matrix`, `needs`, ... (not `steps`/`inputs`).
    pub contexts: Map<String, Value>,
    pub workspace: PathBuf,
    pub status: Status,
    /// Failed steps with the tail of their output.
    pub failures: Vec<String>,
    pub runs: Vec<StepRun>,
    files: PathBuf,
    counter: usize,
}

/// The steps context and inputs of one list of steps (a job, or one
/// invocation of a composite action).
#[derive(Debug, Default)]
pub struct Scope {
    pub steps: Map<String, Value>,
    pub inputs: Option<Map<String, Value>>,
    pub action_path: Option<PathBuf>,
}

impl Job {
    /// A job named `name` whose files (RUNNER_TEMP, step scripts and logs)
    /// live under `root`; `workspace` is GITHUB_WORKSPACE.
    pub fn new(name: &str, root: &Path, workspace: &Path) -> Job {
        let temp = root.join("runner-temp");
        let files = root.join("steps");
        for d in [&temp, &files] {
            let _ = fs::remove_dir_all(d);
            fs::create_dir_all(d).unwrap();
        }
        let summary = root.join("step-summary.md");
        let _ = fs::remove_file(&summary);
        let ws = workspace.display().to_string();
        let mut env: BTreeMap<String, String> =
            std::env::vars().filter(|(k, _)| inherited(k)).collect();
        let set = [
            ("CI", "true".to_string()),
            ("GITHUB_ACTIONS", "true".into()),
            ("GITHUB_WORKSPACE", ws.clone()),
            ("GITHUB_JOB", name.into()),
            ("GITHUB_RUN_ID", "1".into()),
            ("GITHUB_REPOSITORY", "example/scx-mine".into()),
            ("GITHUB_EVENT_NAME", "push".into()),
            ("GITHUB_STEP_SUMMARY", summary.display().to_string()),
            ("RUNNER_TEMP", temp.display().to_string()),
            ("RUNNER_OS", "Linux".into()),
            ("RUNNER_ARCH", "X64".into()),
            (
                "RUNNER_TOOL_CACHE",
                root.join("tool-cache").display().to_string(),
            ),
        ];
        env.extend(set.iter().map(|(k, v)| (k.to_string(), v.clone())));
        let contexts = json!({
            "github": {"workspace": ws, "job": name, "run_id": "1",
                       "repository": "example/scx-mine", "event_name": "push"},
            "runner": {"os": "Linux", "arch": "X64", "name": "local",
                       "temp": temp, "tool_cache": root.join("tool-cache")},
            "env": {}, "matrix": {}, "needs": {}, "strategy": {"job-index": 0}, "job": {},
        });
        Job {
            env,
            contexts: contexts.as_object().cloned().unwrap(),
            workspace: workspace.to_path_buf(),
            status: Status::default(),
            failures: Vec::new(),
            runs: Vec::new(),
            files,
            counter: 0,
        }
    }

    /// Sets a job-level `env:` variable (the workflow's or the job's).
    pub fn set_env(&mut self, k: &str, v: &str) {
        self.env.insert(k.into(), v.into());
        self.contexts["env"][k] = Value::String(v.into());
    }

    pub fn summary(&self) -> PathBuf {
        PathBuf::from(&self.env["GITHUB_STEP_SUMMARY"])
    }

    /// The contexts an expression in `scope` sees.
    pub fn contexts(&self, scope: &Scope) -> Value {
        let mut c = self.contexts.clone();
        c.insert("steps".into(), Value::Object(scope.steps.clone()));
        if let Some(i) = &scope.inputs {
            c.insert("inputs".into(), Value::Object(i.clone()));
        }
        if let Some(p) = &scope.action_path {
            c["github"]["action_path"] = json!(p);
        }
        Value::Object(c)
    }

    /// Runs a composite action from `dir` with `with:`; returns its outputs.
    pub fn run_action(
        &mut self,
        dir: &Path,
        with: &Outputs,
        uses: &mut dyn Uses,
    ) -> Result<Outputs, String> {
        let meta = yaml::load(&dir.join("action.yml"));
        if meta["runs"]["using"] != "composite" {
            return Err(format!("{}: not a composite action", dir.display()));
        }
        let mut inputs = Map::new();
        for (name, spec) in meta["inputs"].as_object().into_iter().flatten() {
            let value = match with.get(name) {
                Some(v) => v.clone(),
                None if spec["required"] == true => {
                    return Err(format!("input {name} is required and not given"))
                }
                None => yaml::text(&spec["default"]).unwrap_or_default(),
            };
            inputs.insert(name.clone(), Value::String(value));
        }
        if let Some(unknown) = with.keys().find(|k| !inputs.contains_key(*k)) {
            return Err(format!(
                "with: {unknown} is not an input of {}",
                dir.display()
            ));
        }
        let mut scope = Scope {
            inputs: Some(inputs),
            action_path: Some(dir.to_path_buf()),
            ..Scope::default()
        };
        self.run_steps(&yaml::steps(&meta["runs"]), &mut scope, uses, true)?;
        let ctx = self.contexts(&scope);
        let mut out = Outputs::new();
        for (name, spec) in meta["outputs"].as_object().into_iter().flatten() {
            let value = spec["value"].as_str().unwrap_or_default();
            out.insert(name.clone(), expr::interpolate(value, &ctx, self.status)?);
        }
        Ok(out)
    }

    /// Runs `steps` in order in `scope`. Err only when the steps cannot be
    /// run as written; a failing step marks the job failed.
    pub fn run_steps(
        &mut self,
        steps: &[Value],
        scope: &mut Scope,
        uses: &mut dyn Uses,
        composite: bool,
    ) -> Result<(), String> {
        for step in steps {
            let label = yaml::step_label(step);
            let ctx = self.contexts(scope);
            let cond = step["if"]
                .as_str()
                .map(str::to_string)
                .or_else(|| yaml::text(&step["if"]));
            let wanted = match &cond {
                Some(c) => expr::condition(c, &ctx, self.status)
                    .map_err(|e| format!("{label}: if: {e}"))?,
                None => !self.status.failed,
            };
            let start = Instant::now();
            let (outcome, outputs) = if !wanted {
                ("skipped", Outputs::new())
            } else if let Some(u) = step["uses"].as_str() {
                let mut with = Outputs::new();
                for (k, v) in yaml::string_map(&step["with"]) {
                    with.insert(k, expr::interpolate(&v, &ctx, self.status)?);
                }
                eprintln!("gha: step {label}: uses {u}");
                match uses.uses(self, u, &with) {
                    Ok(out) => ("success", out),
                    Err(e) => {
                        self.failures.push(format!("{label}: {e}"));
                        ("failure", Outputs::new())
                    }
                }
            } else if step["run"].is_string() {
                self.run_script(step, &ctx, scope, composite)
                    .map_err(|e| format!("{label}: {e}"))?
            } else {
                return Err(format!("{label}: neither run: nor uses:"));
            };
            let took = start.elapsed();
            eprintln!(
                "gha: step {label}: {outcome} in {:.1} s",
                took.as_secs_f64()
            );
            if outcome == "failure" {
                self.status.failed = true;
            }
            self.runs.push(StepRun {
                label,
                outcome,
                took,
            });
            if let Some(id) = step["id"].as_str() {
                scope.steps.insert(
                    id.to_string(),
                    json!({"outputs": outputs, "outcome": outcome, "conclusion": outcome}),
                );
            }
        }
        Ok(())
    }

    fn run_script(
        &mut self,
        step: &Value,
        ctx: &Value,
        scope: &Scope,
        composite: bool,
    ) -> Result<(&'static str, Outputs), String> {
        let shell = match step["shell"].as_str() {
            Some(s) => s,
            None if composite => return Err("a composite action's run step needs shell:".into()),
            None => "bash",
        };
        if shell != "bash" {
            return Err(format!("shell {shell:?} is not supported here"));
        }
        let script = expr::interpolate(step["run"].as_str().unwrap_or_default(), ctx, self.status)?;
        self.counter += 1;
        let dir = self.files.join(format!("{:02}", self.counter));
        fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let file = |n: &str| dir.join(n);
        fs::write(file("script.sh"), &script).map_err(|e| e.to_string())?;
        for f in ["output", "env", "path", "state"] {
            fs::write(file(f), "").map_err(|e| e.to_string())?;
        }
        let mut cmd = Command::new("bash");
        cmd.args(["--noprofile", "--norc", "-eo", "pipefail"])
            .arg(file("script.sh"))
            .env_clear()
            .envs(&self.env)
            .env("GITHUB_OUTPUT", file("output"))
            .env("GITHUB_ENV", file("env"))
            .env("GITHUB_PATH", file("path"))
            .env("GITHUB_STATE", file("state"));
        if let Some(p) = &scope.action_path {
            cmd.env("GITHUB_ACTION_PATH", p);
        }
        for (k, v) in yaml::string_map(&step["env"]) {
            cmd.env(k, expr::interpolate(&v, ctx, self.status)?);
        }
        let cwd = match step["working-directory"].as_str() {
            Some(d) => self.workspace.join(expr::interpolate(d, ctx, self.status)?),
            None => self.workspace.clone(),
        };
        let log = fs::File::create(file("log")).map_err(|e| e.to_string())?;
        let status = cmd
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .status()
            .map_err(|e| format!("running bash: {e}"))?;
        let read = |n: &str| fs::read_to_string(file(n)).unwrap_or_default();
        let outputs: Outputs = file_command(&read("output"))?.into_iter().collect();
        for (k, v) in file_command(&read("env"))? {
            self.set_env(&k, &v);
        }
        for p in read("path").lines().filter(|l| !l.trim().is_empty()) {
            let old = self.env.get("PATH").cloned().unwrap_or_default();
            self.env
                .insert("PATH".into(), format!("{}:{old}", p.trim()));
        }
        if status.success() {
            return Ok(("success", outputs));
        }
        let log = read("log");
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        self.failures.push(format!(
            "{}: {status} (script and log in {})\n{}",
            yaml::step_label(step),
            dir.display(),
            tail.join("\n")
        ));
        Ok(("failure", outputs))
    }
}

/// Which of this process's variables a step inherits: not the test's own
/// cargo variables, and no GITHUB_/RUNNER_ variable of an outer runner.
fn inherited(k: &str) -> bool {
    let cargo_own = k.starts_with("CARGO_") && k != "CARGO_HOME";
    let runner = k.starts_with("GITHUB_") || k.starts_with("RUNNER_") || k == "CI";
    !(cargo_own || runner || k == "CARGO" || k == "RUSTFLAGS" || k == "RUST_TEST_THREADS")
}

/// GITHUB_OUTPUT/GITHUB_ENV lines: `name=value`, or `name<<DELIM`, the
/// value's lines, then `DELIM`.
pub fn file_command(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.trim().is_empty() {
            continue;
        }
        let eq = line.find('=');
        let heredoc = line.find("<<");
        match (eq, heredoc) {
            (Some(e), h) if h.is_none_or(|h| e < h) => {
                out.push((line[..e].to_string(), line[e + 1..].to_string()));
            }
            (_, Some(h)) => {
                let (name, delim) = (&line[..h], &line[h + 2..]);
                let mut value = Vec::new();
                loop {
                    match lines.next() {
                        Some(l) if l == delim => break,
                        Some(l) => value.push(l),
                        None => return Err(format!("{name}<<{delim}: no closing {delim}")),
                    }
                }
                out.push((name.to_string(), value.join("\n")));
            }
            _ => return Err(format!("bad file-command line {line:?}")),
        }
    }
    Ok(out)
}

#[test]
fn file_commands_table() {
    let got = file_command("a=1\n\nb=x<<y\nc<<EOF\nl1\nl2\nEOF\nd=\n").unwrap();
    let want = [("a", "1"), ("b", "x<<y"), ("c", "l1\nl2"), ("d", "")];
    assert_eq!(
        got,
        want.map(|(k, v)| (k.to_string(), v.to_string())).to_vec()
    );
    assert!(file_command("c<<EOF\nnever closed\n").is_err());
    assert!(file_command("no separator\n").is_err());
}
