//! A past run as the report sees it, read from its artifact directory:
//! `result.json` (through lenient mirror types, so a report can still be
//! drawn for results written by older or newer versions), the guest
//! stream `guest.jsonl` (bounded, untrusted) for markers, and the trace.

use std::path::Path;

use ktstr_wire::codec::Decoder;
use ktstr_wire::topology::Topology;
use ktstr_wire::workload::WorkerReport;
use ktstr_wire::GuestMsg;
use serde::Deserialize;

use super::HtmlError;
use crate::artifacts::{GUEST_STREAM, RESULT_JSON};
use crate::events::{Event, TimedEvent};
use crate::trace::perfetto::read::{read, TraceFile};
use crate::trace::TRACE_FILE;

/// Largest trace the report reads (bigger ones are shown without it).
const MAX_TRACE_READ: u64 = 512 << 20;
/// Largest `result.json` read.
const MAX_RESULT: u64 = 64 << 20;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct FindingView {
    pub class: String,
    pub outcome: String,
    pub message: String,
    pub at_guest_ms: Option<u64>,
    pub evidence: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SchedulerView {
    pub name: String,
    pub args: Vec<String>,
    pub ops: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct KernelView {
    pub image: String,
    pub release: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct TimelineView {
    pub point: String,
    pub host_ms: u64,
    pub guest_ms: Option<u64>,
}

/// The parts of `result.json` the report shows.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ResultView {
    pub outcome: String,
    pub exit_code: i32,
    pub findings: Vec<FindingView>,
    pub kernel: KernelView,
    pub scheduler: Option<SchedulerView>,
    pub duration_ms: u64,
    pub wall_ms: u64,
    pub timeline: Vec<TimelineView>,
    pub topology: serde_json::Value,
    pub workers: Vec<serde_json::Value>,
    pub trace: Option<serde_json::Value>,
}

/// Everything the page is drawn from.
#[derive(Debug, Clone, Default)]
pub struct Run {
    pub result: ResultView,
    pub workers: Vec<WorkerReport>,
    pub topology: Topology,
    pub events: Vec<TimedEvent>,
    pub trace: Option<TraceFile>,
    /// Why parts are missing (no trace, unreadable stream...).
    pub notes: Vec<String>,
}

impl Run {
    /// Reads `dir`'s artifacts. Only `result.json` is required.
    pub fn load(dir: &Path) -> Result<Run, HtmlError> {
        let path = dir.join(RESULT_JSON);
        if !path.is_file() {
            return Err(HtmlError::NoResult {
                dir: dir.to_path_buf(),
            });
        }
        let bytes = read_capped(&path, MAX_RESULT).map_err(|e| HtmlError::BadResult {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let result: ResultView =
            serde_json::from_slice(&bytes).map_err(|e| HtmlError::BadResult {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        Ok(Run::from_parts(result, dir))
    }

    fn from_parts(result: ResultView, dir: &Path) -> Run {
        let mut run = Run {
            workers: result
                .workers
                .iter()
                .filter_map(|w| serde_json::from_value(w.clone()).ok())
                .collect(),
            topology: ["observed", "expected"]
                .iter()
                .find_map(|k| serde_json::from_value(result.topology[*k].clone()).ok())
                .unwrap_or_default(),
            result,
            ..Run::default()
        };
        if run.workers.len() < run.result.workers.len() {
            run.notes.push(format!(
                "{} worker reports in result.json did not parse and are left out",
                run.result.workers.len() - run.workers.len()
            ));
        }
        run.events = guest_events(&dir.join(GUEST_STREAM), &mut run.notes);
        let trace = dir.join(TRACE_FILE);
        if trace.is_file() {
            match read_capped(&trace, MAX_TRACE_READ).map(|b| read(&b)) {
                Ok(Ok(t)) => run.trace = Some(t),
                Ok(Err(e)) => run.notes.push(format!("{TRACE_FILE}: {e}")),
                Err(e) => run.notes.push(format!("{TRACE_FILE}: {e}")),
            }
        }
        run
    }
}

fn read_capped(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let f = std::fs::File::open(path)?;
    if f.metadata()?.len() > max {
        return Err(std::io::Error::other(format!(
            "larger than {max} bytes; not read"
        )));
    }
    let mut out = Vec::new();
    f.take(max).read_to_end(&mut out)?;
    Ok(out)
}

/// The guest's messages from `guest.jsonl`, through the bounded decoder.
fn guest_events(path: &Path, notes: &mut Vec<String>) -> Vec<TimedEvent> {
    let Ok(file) = std::fs::File::open(path) else {
        notes.push(format!("no {GUEST_STREAM}: markers are missing"));
        return Vec::new();
    };
    let mut dec = Decoder::new(std::io::BufReader::new(file));
    let mut out = Vec::new();
    let mut bad = 0;
    while let Ok(Some(item)) = dec.next_msg::<GuestMsg>() {
        match item {
            Ok(msg) => out.push(TimedEvent::new(0, Event::Guest { msg })),
            Err(_) => bad += 1,
        }
    }
    if bad > 0 {
        notes.push(format!("{bad} lines of {GUEST_STREAM} were not messages"));
    }
    out
}
