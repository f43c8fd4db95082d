//! Forwards the kernel log records that matter from `/dev/kmsg`.
//!
//! `/dev/kmsg` gives one structured record per read, with the priority and
//! a microsecond timestamp, so no console scraping is needed while the
//! guest lives. Only warnings and worse, and anything from sched_ext, are
//! forwarded (the full log stays on the console file), with caps so that a
//! storm of messages cannot flood the results port.

use std::fs::File;
use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use ktstr_wire::{GuestMsg, Stage};

use super::port::Reporter;

/// Longest forwarded line; the rest is cut.
const MAX_LINE: usize = 1024;
/// Most records forwarded in one run.
const MAX_RECORDS: usize = 4000;
/// Highest syslog level forwarded unconditionally (4 = warning).
const MAX_LEVEL: u8 = 4;

/// One parsed `/dev/kmsg` record.
#[derive(Debug, PartialEq, Eq)]
pub struct Record {
    pub level: u8,
    pub ts_us: u64,
    pub text: String,
}

/// Parses `"<prio>,<seq>,<ts_us>,<flags>;<text>\n KEY=val..."`.
pub fn parse_record(raw: &str) -> Option<Record> {
    let (header, rest) = raw.split_once(';')?;
    let mut fields = header.split(',');
    let prio: u32 = fields.next()?.parse().ok()?;
    let _seq = fields.next()?;
    let ts_us: u64 = fields.next()?.parse().ok()?;
    let text = rest.lines().next().unwrap_or("").to_string();
    Some(Record {
        level: (prio & 7) as u8,
        ts_us,
        text,
    })
}

/// Whether a record goes to the host.
pub fn matters(r: &Record) -> bool {
    r.level <= MAX_LEVEL || r.text.contains("sched_ext")
}

/// Reads `/dev/kmsg` until `stop` is set, forwarding records that matter
/// (all of them when `forward_all`). Runs on its own thread.
pub fn forward(rep: Reporter, forward_all: bool, stop: Arc<AtomicBool>) {
    let mut file = match File::open("/dev/kmsg") {
        Ok(f) => f,
        Err(e) => {
            rep.error(Stage::Kmsg, format!("open /dev/kmsg: {e}"));
            return;
        }
    };
    let mut buf = vec![0u8; 8192];
    let mut sent = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            // EPIPE: records were overwritten before we read them; go on.
            Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        let Some(mut rec) = parse_record(&String::from_utf8_lossy(&buf[..n])) else {
            continue;
        };
        if !(forward_all || matters(&rec)) {
            continue;
        }
        sent += 1;
        if sent > MAX_RECORDS {
            if sent == MAX_RECORDS + 1 {
                rep.send(&GuestMsg::LogCut {
                    log: "kmsg".into(),
                    kept: MAX_RECORDS as u64,
                });
            }
            // Past the cap, sched_ext's own lines still go through (bounded):
            // they carry the verdict on the scheduler.
            if !rec.text.contains("sched_ext") || sent > 2 * MAX_RECORDS {
                continue;
            }
        }
        if rec.text.len() > MAX_LINE {
            let mut cut = MAX_LINE;
            while !rec.text.is_char_boundary(cut) {
                cut -= 1;
            }
            rec.text.truncate(cut);
        }
        rep.send(&GuestMsg::KernelLog {
            level: rec.level,
            ts_us: rec.ts_us,
            line: rec.text,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_records_and_filters() {
        let cases = [
            (
                "6,339,5140900,-;NET: Registered protocol family 10\n",
                Some((6, 5140900, "NET: Registered protocol family 10")),
                false,
            ),
            (
                "3,1,20,-;sched_ext: qmap: test triggering error\n SUBSYSTEM=x\n",
                Some((3, 20, "sched_ext: qmap: test triggering error")),
                true,
            ),
            (
                "14,2,30,-;sched_ext: BPF scheduler \"simple\" enabled\n",
                Some((6, 30, "sched_ext: BPF scheduler \"simple\" enabled")),
                true,
            ),
            (
                "4,3,40,c;WARNING: CPU: 0 PID: 1 at x\n",
                Some((4, 40, "WARNING: CPU: 0 PID: 1 at x")),
                true,
            ),
            ("garbage", None, false),
            ("x,1,2,-;t", None, false),
        ];
        for (raw, want, want_matters) in cases {
            let got = parse_record(raw);
            match want {
                None => assert_eq!(got, None, "{raw}"),
                Some((level, ts, text)) => {
                    let r = got.unwrap();
                    assert_eq!((r.level, r.ts_us, r.text.as_str()), (level, ts, text));
                    assert_eq!(matters(&r), want_matters, "{raw}");
                }
            }
        }
    }
}
