//! Workflow and action files as JSON values (YAML 1.2 via yaml-rust2, so
//! `on:` stays a string key), and small accessors for their fields.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use yaml_rust2::{Yaml, YamlLoader};

/// The repository's `ci/github/` directory.
pub fn ci_github() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ has a parent")
        .join("ci/github")
}

/// The composite action's directory.
pub fn action_dir() -> PathBuf {
    ci_github().join("action")
}

/// Reads and parses one YAML document.
pub fn load(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn parse(text: &str) -> Result<Value, String> {
    let docs = YamlLoader::load_from_str(text).map_err(|e| e.to_string())?;
    match docs.as_slice() {
        [doc] => Ok(to_json(doc)),
        other => Err(format!("want one YAML document, found {}", other.len())),
    }
}

fn to_json(y: &Yaml) -> Value {
    match y {
        Yaml::Real(r) => r.parse::<f64>().map_or(Value::String(r.clone()), |f| {
            serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
        }),
        Yaml::Integer(i) => Value::from(*i),
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Boolean(b) => Value::Bool(*b),
        Yaml::Array(a) => Value::Array(a.iter().map(to_json).collect()),
        Yaml::Hash(h) => Value::Object(
            h.iter()
                .map(|(k, v)| (scalar(k), to_json(v)))
                .collect::<Map<_, _>>(),
        ),
        Yaml::Null | Yaml::BadValue | Yaml::Alias(_) => Value::Null,
    }
}

/// A scalar as the string Actions sees (`jobs: 2` is "2").
pub fn scalar(y: &Yaml) -> String {
    match y {
        Yaml::String(s) | Yaml::Real(s) => s.clone(),
        Yaml::Integer(i) => i.to_string(),
        Yaml::Boolean(b) => b.to_string(),
        _ => String::new(),
    }
}

/// A JSON scalar as a string (objects and arrays are not scalars).
pub fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A mapping of scalars (`env:`, `with:`), in its order.
pub fn string_map(v: &Value) -> Vec<(String, String)> {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), text(v).unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default()
}

/// The steps of a job or a composite action.
pub fn steps(v: &Value) -> Vec<Value> {
    v["steps"].as_array().cloned().unwrap_or_default()
}

/// A step's name for messages: its name, id, uses or first line of run.
pub fn step_label(step: &Value) -> String {
    ["name", "id", "uses"]
        .iter()
        .find_map(|k| step[*k].as_str().map(str::to_string))
        .or_else(|| {
            step["run"]
                .as_str()
                .map(|r| r.lines().next().unwrap_or("").to_string())
        })
        .unwrap_or_else(|| "?".into())
}
