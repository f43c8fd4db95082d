//! Checks a parsed scenario before anything boots: names, references to
//! cgroups at the step where they are used, worker specs, and (once the
//! topology is known) every cpuset. Errors name the field by its path in
//! the file (`steps[1].ops[0].cgroup`).

use std::collections::BTreeSet;

use ktstr_wire::scenario::{CgroupDef, CpusetSpec, Op};
use ktstr_wire::topology::Topology;
use ktstr_wire::workload::WorkloadConfig;

use super::ScenarioFile;

/// A scenario that parses but does not make sense.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct CheckError {
    /// Path of the field in the file, e.g. `steps[0].ops[1].cgroup`.
    pub field: String,
    pub message: String,
}

fn err(field: impl Into<String>, message: impl Into<String>) -> CheckError {
    CheckError {
        field: field.into(),
        message: message.into(),
    }
}

impl ScenarioFile {
    /// Everything that can be checked without a topology.
    pub fn check(&self) -> Result<(), CheckError> {
        if self.duration.is_some_and(|d| d.0 == 0) {
            return Err(err("duration", "must be longer than 0"));
        }
        let mut live: BTreeSet<String> = BTreeSet::new();
        let mut with_workers: BTreeSet<String> = BTreeSet::new();
        let mut any_workers = false;
        for (i, def) in self.cgroups.iter().enumerate() {
            let at = format!("cgroups[{i}]");
            check_def(def, &at, &live)?;
            add(&mut live, &def.name);
            if !def.workers.is_empty() {
                with_workers.insert(def.name.clone());
                any_workers = true;
            }
        }
        for (s, step) in self.steps.iter().enumerate() {
            for (o, op) in step.ops.iter().enumerate() {
                let at = format!("steps[{s}].ops[{o}]");
                let need = |field: &str, name: &str| -> Result<(), CheckError> {
                    if live.contains(name) {
                        return Ok(());
                    }
                    let names: Vec<&str> = live.iter().map(String::as_str).collect();
                    Err(err(
                        format!("{at}.{field}"),
                        format!(
                            "{} names cgroup {name:?}, which does not exist at this step{}; cgroups now: {}",
                            op.name(),
                            ktstr_wire::suggest(name, &names),
                            if names.is_empty() { "none".into() } else { names.join(", ") }
                        ),
                    ))
                };
                match op {
                    Op::AddCgroup(def) => {
                        check_def(def, &at, &live)?;
                        add(&mut live, &def.name);
                        if !def.workers.is_empty() {
                            with_workers.insert(def.name.clone());
                            any_workers = true;
                        }
                    }
                    Op::RemoveCgroup { cgroup } => {
                        need("cgroup", cgroup)?;
                        live.retain(|c| !(c == cgroup || c.starts_with(&format!("{cgroup}/"))));
                    }
                    Op::SetCpuset { cgroup, .. }
                    | Op::ClearCpuset { cgroup }
                    | Op::SetAffinity { cgroup, .. }
                    | Op::StopWorkers { cgroup }
                    | Op::Freeze { cgroup }
                    | Op::Unfreeze { cgroup } => need("cgroup", cgroup)?,
                    Op::SpawnWorkers { cgroup, workers } => {
                        need("cgroup", cgroup)?;
                        check_workers(workers, &format!("{at}.workers"))?;
                        with_workers.insert(cgroup.clone());
                        any_workers |= !workers.is_empty();
                    }
                    Op::SwapCpusets { a, b } => {
                        need("a", a)?;
                        need("b", b)?;
                    }
                    Op::MoveTasks { from, to } => {
                        need("from", from)?;
                        need("to", to)?;
                        with_workers.insert(to.clone());
                    }
                    Op::DetachScheduler | Op::AttachScheduler | Op::RestartScheduler => {}
                }
            }
        }
        // cgroup v2: a cgroup that delegates controllers holds no tasks.
        for w in &with_workers {
            if let Some(child) = live
                .iter()
                .chain(&with_workers)
                .find(|c| c.starts_with(&format!("{w}/")))
            {
                return Err(err(
                    "cgroups",
                    format!("cgroup {w:?} has workers and a child {child:?}; cgroup v2 allows tasks only in leaves: put the workers in a child"),
                ));
            }
        }
        if !any_workers {
            return Err(err(
                "cgroups",
                "the scenario starts no workers; give a cgroup a `workers` list",
            ));
        }
        Ok(())
    }

    /// Resolves every cpuset against `topo` (the topology the run boots).
    pub fn check_topology(&self, topo: &Topology) -> Result<(), CheckError> {
        let resolve = |spec: &CpusetSpec, field: String| {
            spec.resolve(topo)
                .map(|_| ())
                .map_err(|e| err(field, e.to_string()))
        };
        for (i, def) in self.cgroups.iter().enumerate() {
            if let Some(c) = &def.cpuset {
                resolve(c, format!("cgroups[{i}].cpuset"))?;
            }
        }
        for (s, step) in self.steps.iter().enumerate() {
            for (o, op) in step.ops.iter().enumerate() {
                let at = format!("steps[{s}].ops[{o}]");
                match op {
                    Op::AddCgroup(CgroupDef {
                        cpuset: Some(c), ..
                    })
                    | Op::SetCpuset { cpuset: c, .. } => resolve(c, format!("{at}.cpuset"))?,
                    Op::SetAffinity { cpus: Some(c), .. } => resolve(c, format!("{at}.cpus"))?,
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

/// Adds `name` and its parents.
fn add(live: &mut BTreeSet<String>, name: &str) {
    let mut path = String::new();
    for part in name.split('/') {
        if !path.is_empty() {
            path.push('/');
        }
        path.push_str(part);
        live.insert(path.clone());
    }
}

fn check_def(def: &CgroupDef, at: &str, live: &BTreeSet<String>) -> Result<(), CheckError> {
    let valid = !def.name.is_empty()
        && def
            .name
            .split('/')
            .all(|p| !p.is_empty() && p != "." && p != ".." && !p.contains(char::is_whitespace));
    if !valid {
        return Err(err(
            format!("{at}.name"),
            format!(
                "{:?} is not a cgroup name: use letters, digits, '_' or '-', and '/' to nest",
                def.name
            ),
        ));
    }
    if live.contains(&def.name) {
        return Err(err(
            format!("{at}.name"),
            format!("cgroup {:?} already exists", def.name),
        ));
    }
    check_workers(&def.workers, &format!("{at}.workers"))
}

fn check_workers(workers: &[ktstr_wire::workload::WorkSpec], at: &str) -> Result<(), CheckError> {
    if let Some(i) = workers.iter().position(|w| !w.cgroup.is_empty()) {
        return Err(err(
            format!("{at}[{i}].cgroup"),
            "leave it out: a worker group runs in the cgroup it is listed under",
        ));
    }
    let config = WorkloadConfig {
        duration_ms: 1,
        groups: workers.to_vec(),
    };
    config.validate().map_err(|e| err(at, e.to_string()))
}
