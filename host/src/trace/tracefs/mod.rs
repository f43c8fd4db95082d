//! From what the guest shipped (event formats, raw ring-buffer pages) to
//! [`Record`]s: [`format`] reads `events/*/format`, [`page`] walks a page,
//! and [`Decoder`] turns each event's bytes into a typed record.

pub mod format;
pub mod page;

use std::collections::HashMap;

use ktstr_wire::PageLayout;

use super::model::{Kind, Lost, Record, Wake};
use format::{Format, FormatError};

/// Decodes pages with the formats the guest reported.
#[derive(Debug)]
pub struct Decoder {
    layout: PageLayout,
    by_id: HashMap<u16, Format>,
    /// `common_type` is where every record keeps its event id.
    type_field: format::Field,
}

/// What one page gave.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Decoded {
    pub records: Vec<Record>,
    pub lost: Option<Lost>,
    /// Events whose id no format names, and pages that ended early.
    pub unknown: u64,
    pub malformed: bool,
}

impl Decoder {
    pub fn new(layout: PageLayout, formats: &[String]) -> Result<Decoder, FormatError> {
        let mut by_id = HashMap::new();
        for text in formats {
            let f = Format::parse(text)?;
            by_id.insert(f.id, f);
        }
        let type_field = by_id
            .values()
            .find_map(|f| f.field("common_type").cloned())
            .unwrap_or(format::Field {
                name: "common_type".into(),
                offset: 0,
                size: 2,
                signed: false,
                kind: format::FieldKind::Int,
            });
        Ok(Decoder {
            layout,
            by_id,
            type_field,
        })
    }

    /// Decodes one page of `cpu`.
    pub fn page(&self, cpu: u32, bytes: &[u8]) -> Decoded {
        let page = page::parse(bytes, &self.layout);
        let mut out = Decoded {
            malformed: page.malformed,
            ..Decoded::default()
        };
        out.lost = page.missed.map(|count| Lost {
            cpu,
            ts: page.events.first().map_or(0, |e| e.0),
            count,
        });
        for (ts, payload) in page.events {
            let id = self.type_field.int(payload).unwrap_or(-1);
            let Some(fmt) = u16::try_from(id).ok().and_then(|id| self.by_id.get(&id)) else {
                out.unknown += 1;
                continue;
            };
            match decode(fmt, payload) {
                Some((pid, kind)) => out.records.push(Record { ts, cpu, pid, kind }),
                None => out.unknown += 1,
            }
        }
        out
    }
}

/// One record's fields by name, per its format.
struct Fields<'a> {
    fmt: &'a Format,
    rec: &'a [u8],
}

impl Fields<'_> {
    fn int(&self, name: &str) -> Option<i64> {
        self.fmt.field(name)?.int(self.rec)
    }
    fn i32(&self, name: &str) -> Option<i32> {
        self.int(name).map(|v| v as i32)
    }
    fn text(&self, name: &str) -> Option<String> {
        self.fmt.field(name)?.text(self.rec)
    }
    fn wake(&self) -> Option<Wake> {
        Some(Wake {
            comm: self.text("comm")?,
            pid: self.i32("pid")?,
            prio: self.i32("prio")?,
            target_cpu: self.i32("target_cpu").unwrap_or(-1),
        })
    }
}

/// The record's `common_pid` and typed content; `None` when a field the
/// event must have is missing or out of bounds.
fn decode(fmt: &Format, rec: &[u8]) -> Option<(i32, Kind)> {
    let f = Fields { fmt, rec };
    let kind = match fmt.name.as_str() {
        "sched_switch" => Kind::Switch {
            prev_comm: f.text("prev_comm")?,
            prev_pid: f.i32("prev_pid")?,
            prev_prio: f.i32("prev_prio")?,
            prev_state: f.int("prev_state")?,
            next_comm: f.text("next_comm")?,
            next_pid: f.i32("next_pid")?,
            next_prio: f.i32("next_prio")?,
        },
        "sched_waking" => Kind::Waking(f.wake()?),
        "sched_wakeup" => Kind::Wakeup(f.wake()?),
        "sched_wakeup_new" => Kind::WakeupNew(f.wake()?),
        "sched_migrate_task" => Kind::Migrate {
            comm: f.text("comm")?,
            pid: f.i32("pid")?,
            prio: f.i32("prio")?,
            orig_cpu: f.i32("orig_cpu")?,
            dest_cpu: f.i32("dest_cpu")?,
        },
        "sched_process_fork" => Kind::Fork {
            parent_comm: f.text("parent_comm")?,
            parent_pid: f.i32("parent_pid")?,
            child_comm: f.text("child_comm")?,
            child_pid: f.i32("child_pid")?,
        },
        "sched_process_exit" => Kind::Exit {
            comm: f.text("comm")?,
            pid: f.i32("pid")?,
            prio: f.i32("prio")?,
        },
        "task_newtask" => Kind::NewTask {
            pid: f.i32("pid")?,
            comm: f.text("comm")?,
            clone_flags: f.int("clone_flags")? as u64,
        },
        "task_rename" => Kind::Rename {
            pid: f.i32("pid")?,
            oldcomm: f.text("oldcomm")?,
            newcomm: f.text("newcomm")?,
        },
        other => Kind::Text {
            event: other.to_string(),
            text: fmt
                .fields
                .iter()
                .filter(|fd| !fd.name.starts_with("common_"))
                .filter_map(|fd| fd.text(rec).or_else(|| fd.int(rec).map(|v| v.to_string())))
                .collect::<Vec<_>>()
                .join(" "),
        },
    };
    Some((f.i32("common_pid")?, kind))
}

#[cfg(test)]
mod tests;
