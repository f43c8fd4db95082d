//! `--trace`: the kernel's scheduling events from the guest, written as a
//! Perfetto trace (`trace.perfetto-trace` in the artifacts).
//!
//! Data flow: the guest ([`ktstr_wire::TraceStart`], then raw
//! ring-buffer pages on the trace port) -> [`receive`] (bounded copy into
//! `trace.raw`) -> [`convert`]: [`tracefs`] decodes the pages into
//! [`model::Record`]s, [`names`] names the tasks, [`markers`] places the
//! run's milestones, [`perfetto::write`] writes the file. The raw file is
//! removed once converted.
//!
//! Raw pages, not text: under TCG the guest pays for every instruction.
//! Measured in the guest on the same buffers (tests/fixtures/tracefs/
//! make-fixtures.sh, 2.8k-5.3k events per CPU): `per_cpu/cpuN/trace` text
//! took 0.09-0.15 s, `trace_pipe_raw` 0.01-0.02 s, about 30 against 4 us
//! per event; the host decodes the pages instead.

pub mod markers;
pub mod model;
pub mod names;
pub mod perfetto;
pub mod receive;
pub mod tracefs;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ktstr_wire::topology::Topology;
use ktstr_wire::{GuestMsg, PageLayout, TraceConfig, TraceStart};
use serde::Serialize;

use crate::events::TimedEvent;
use crate::exit::ExitCode;
use crate::finding::Finding;
use model::{Lost, Record};
use names::Names;

/// The raw frames as received (removed after conversion).
pub const RAW_FILE: &str = "trace.raw";
/// The Perfetto trace.
pub const TRACE_FILE: &str = "trace.perfetto-trace";
/// Ring buffer per CPU: enough for 100 ms between drains at about 10k
/// events per second per CPU (a sched_switch record is 68 bytes).
pub const BUFFER_KB: u32 = 1024;
/// Default cap on the pages the guest ships.
pub const DEFAULT_LIMIT: u64 = 64 << 20;
/// The host keeps this much beyond the guest's own limit, no more.
pub const HOST_SLACK: u64 = 1 << 20;

/// `--trace` and its bound, shared by every command that boots a VM.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TraceOpts {
    /// Record scheduling events (switches, wakeups, migrations, forks, exits, sched_ext) into trace.perfetto-trace
    #[arg(long)]
    pub trace: bool,
    /// Most trace data the guest ships (e.g. 16M); past it tracing stops, with a marker
    #[arg(long, value_name = "SIZE", value_parser = parse_size, requires = "trace")]
    pub trace_limit: Option<u64>,
}

impl TraceOpts {
    /// The guest's trace config, when tracing.
    pub fn config(&self) -> Option<TraceConfig> {
        self.trace.then(|| TraceConfig {
            buffer_kb: BUFFER_KB,
            limit_bytes: self.trace_limit.unwrap_or(DEFAULT_LIMIT),
        })
    }
}

/// `16M`, `512K`, `1G`, or bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, 'K' | 'k')) => (&t[..i], 1u64 << 10),
        Some((i, 'M' | 'm')) => (&t[..i], 1 << 20),
        Some((i, 'G' | 'g')) => (&t[..i], 1 << 30),
        _ => (t, 1),
    };
    match num
        .trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
    {
        Some(n) if n >= 64 << 10 => Ok(n),
        _ => Err(format!("bad size {s:?}: write e.g. 16M (at least 64K)")),
    }
}

/// Why the trace could not be written.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("writing the trace {path}: {source}; check the artifact directory is writable")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl crate::exit::ExitClass for TraceError {
    fn exit_code(&self) -> ExitCode {
        match self {
            TraceError::Write { .. } => ExitCode::Environment,
        }
    }
}

/// What `result.json` says about the trace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TraceSummary {
    /// The Perfetto file (in the artifacts), when one was written.
    pub file: Option<PathBuf>,
    pub bytes: u64,
    pub records: u64,
    /// Page bytes the guest shipped, and its limit.
    pub guest_bytes: u64,
    pub limit_bytes: u64,
    /// Trace-clock time at which the limit stopped tracing.
    pub capped_at_ns: Option<u64>,
    /// Events the kernel dropped (the drain fell behind).
    pub lost_events: u64,
    /// Guest CPU time the drain thread used.
    pub drain_cpu_ms: u64,
    /// Why there is no trace, or what is wrong with it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

/// Decodes `dir/trace.raw` with what the guest reported, writes
/// `dir/trace.perfetto-trace`, and removes the raw file.
pub fn convert(
    dir: &Path,
    events: &[TimedEvent],
    findings: &[Finding],
) -> Result<TraceSummary, TraceError> {
    let guest = || events.iter().filter_map(TimedEvent::guest);
    let start = guest().find_map(|m| match m {
        GuestMsg::TraceStarted(s) => Some(s.as_ref()),
        _ => None,
    });
    let stop = guest().find_map(|m| match m {
        GuestMsg::TraceStopped(s) => Some(s.as_ref()),
        _ => None,
    });
    let mut summary = TraceSummary::default();
    let Some(start) = start else {
        let why = stop.and_then(|s| s.error.clone()).map_or_else(
            || "the guest never started tracing (it died before, or is too old)".to_string(),
            |e| format!("the guest could not trace: {e}"),
        );
        summary.problems.push(why);
        return Ok(summary);
    };
    let raw = dir.join(RAW_FILE);
    let decoded = decode(start, &raw, &mut summary);
    let clock = markers::Clock::new(start);
    let end = decoded
        .cpus
        .values()
        .filter_map(|r| r.last())
        .map(|r| r.ts)
        .max()
        .unwrap_or(0);
    let mut all_markers = markers::from_events(events, &clock);
    all_markers.extend(markers::from_findings(findings, &clock, end));
    if let Some(stop) = stop {
        summary.guest_bytes = stop.bytes;
        summary.limit_bytes = stop.limit_bytes;
        summary.capped_at_ns = stop.capped_at_ns;
        summary.drain_cpu_ms = stop.drain_cpu_ns / 1_000_000;
        summary.lost_events = stop.cpus.iter().map(|c| c.dropped + c.overrun).sum();
    } else {
        summary.problems.push("the guest never reported the end of tracing (it died or hung): the trace ends where its data does".into());
    }
    all_markers.extend(markers::from_gaps(
        stop.and_then(|s| s.capped_at_ns.map(|ts| (ts, s.limit_bytes))),
        &decoded.lost,
        &decoded.notes,
        end,
    ));
    all_markers.truncate(markers::MAX_MARKERS);
    all_markers.sort_by_key(|m| m.ts);
    let names = task_names(start, &decoded.cpus, events);
    let topology = last_topology(events);
    let path = dir.join(TRACE_FILE);
    let write_err = |source| TraceError::Write {
        path: path.clone(),
        source,
    };
    let file = std::fs::File::create(&path).map_err(write_err)?;
    let mut out = std::io::BufWriter::new(file);
    let data = perfetto::write::TraceData {
        cpus: &decoded.cpus,
        lost: &decoded.lost,
        topology: topology.as_ref(),
        names: &names,
        markers: &all_markers,
    };
    summary.bytes = perfetto::write::write(&data, &mut out).map_err(write_err)?;
    std::io::Write::flush(&mut out).map_err(write_err)?;
    summary.records = decoded.cpus.values().map(|v| v.len() as u64).sum();
    summary.file = Some(PathBuf::from(TRACE_FILE));
    let _ = std::fs::remove_file(&raw);
    Ok(summary)
}

/// Records per CPU, lost-event points, and host notes from the raw file.
#[derive(Debug, Default)]
struct Raw {
    cpus: BTreeMap<u32, Vec<Record>>,
    lost: Vec<Lost>,
    notes: Vec<String>,
}

fn decode(start: &TraceStart, raw: &Path, summary: &mut TraceSummary) -> Raw {
    let mut out = Raw::default();
    let Some(layout) = PageLayout::parse(&start.header_page) else {
        summary
            .problems
            .push("the guest's header_page does not describe a page".into());
        return out;
    };
    let decoder = match tracefs::Decoder::new(layout, &start.formats) {
        Ok(d) => d,
        Err(e) => {
            summary.problems.push(format!("event formats: {e}"));
            return out;
        }
    };
    let frames = match receive::open(raw) {
        Ok(f) => f,
        Err(e) => {
            summary
                .problems
                .push(format!("no trace data received ({}: {e})", raw.display()));
            return out;
        }
    };
    let (mut unknown, mut malformed) = (0, 0);
    for frame in frames {
        match frame {
            Ok(receive::Frame::Page { cpu, bytes }) => {
                let d = decoder.page(cpu, &bytes);
                unknown += d.unknown;
                malformed += u64::from(d.malformed);
                out.lost.extend(d.lost);
                out.cpus.entry(cpu).or_default().extend(d.records);
            }
            Ok(receive::Frame::Note(n)) => out.notes.push(n),
            Err(e) => {
                out.notes.push(e.to_string());
                break;
            }
        }
    }
    for records in out.cpus.values_mut() {
        records.sort_by_key(|r| r.ts);
    }
    if unknown + malformed > 0 {
        summary.problems.push(format!(
            "{unknown} events of unknown type and {malformed} malformed pages were skipped"
        ));
    }
    out
}

fn task_names(
    start: &TraceStart,
    cpus: &BTreeMap<u32, Vec<Record>>,
    events: &[TimedEvent],
) -> Names {
    let mut ordered: Vec<&Record> = cpus.values().flatten().collect();
    ordered.sort_by_key(|r| r.ts);
    let workers: Vec<_> = events
        .iter()
        .filter_map(TimedEvent::guest)
        .filter_map(|m| match m {
            GuestMsg::Worker(w) => Some(w.as_ref().clone()),
            _ => None,
        })
        .collect();
    let scheduler = events
        .iter()
        .filter_map(TimedEvent::guest)
        .find_map(|m| match m {
            GuestMsg::SchedulerStarted { pid, path, .. } => Some((*pid, path.as_str())),
            _ => None,
        });
    Names::build(&start.tasks, &ordered, &workers, scheduler)
}

fn last_topology(events: &[TimedEvent]) -> Option<Topology> {
    events
        .iter()
        .filter_map(TimedEvent::guest)
        .filter_map(|m| match m {
            GuestMsg::Topology(t) => Some(t.clone()),
            _ => None,
        })
        .next_back()
}

#[cfg(test)]
mod tests;
