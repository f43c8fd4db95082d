//! A bound on the log and output text the host keeps from one guest.
//!
//! Every message is kept in memory until the run is judged. The decoder
//! caps the stream at 256 MiB, so a hostile guest sending the largest
//! well-formed kernel-log or payload-output messages could make the host
//! hold that much. An honest guest sends far less (kmsg: 8000 lines of at
//! most 1 KiB; a payload: 4.25 MiB per stream), so past [`MAX_TEXT_BYTES`]
//! such messages are dropped and the run records one `LogCut`. Not a
//! protocol error: a run with several payloads at their caps is honest,
//! and must not turn inconclusive; what is judged (exits, reports, phases)
//! is never dropped.

use ktstr_wire::GuestMsg;

/// Text kept from kernel-log, scheduler-log and payload-output messages.
pub const MAX_TEXT_BYTES: u64 = 16 << 20;

/// Counts the text of bulk messages against [`MAX_TEXT_BYTES`].
#[derive(Debug)]
pub struct TextBudget {
    left: u64,
    spent: bool,
    kept: u64,
}

/// What to do with one message.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    Keep,
    /// The first message over the budget: drop it, and record this.
    DropFirst(GuestMsg),
    Drop,
}

impl TextBudget {
    pub fn new(max: u64) -> TextBudget {
        TextBudget {
            left: max,
            spent: false,
            kept: 0,
        }
    }

    pub fn admit(&mut self, msg: &GuestMsg) -> Verdict {
        let len = match msg {
            GuestMsg::KernelLog { line, .. } | GuestMsg::SchedulerLog { line, .. } => line.len(),
            GuestMsg::PayloadOutput { data, .. } => data.len(),
            _ => return Verdict::Keep,
        } as u64;
        if !self.spent && len <= self.left {
            self.left -= len;
            self.kept += 1;
            return Verdict::Keep;
        }
        if std::mem::replace(&mut self.spent, true) {
            return Verdict::Drop;
        }
        Verdict::DropFirst(GuestMsg::LogCut {
            log: format!("guest text (the host keeps {} MiB)", MAX_TEXT_BYTES >> 20),
            kept: self.kept,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ktstr_wire::Stream;

    fn log(n: usize) -> GuestMsg {
        GuestMsg::KernelLog {
            level: 6,
            ts_us: 1,
            line: "k".repeat(n),
        }
    }

    #[test]
    fn bulk_text_is_kept_until_the_budget_then_dropped_once_noted() {
        let out = |n: usize| GuestMsg::PayloadOutput {
            name: "p".into(),
            stream: Stream::Stdout,
            data: "o".repeat(n),
        };
        let done = GuestMsg::LogCut {
            log: "kmsg".into(),
            kept: 1,
        };
        let mut b = TextBudget::new(10);
        let cases = [
            (log(4), "keep"),
            (out(6), "keep"),
            (done.clone(), "keep"),
            (log(1), "first"),
            (out(0), "drop"),
            (done, "keep"),
            (log(1), "drop"),
        ];
        for (i, (msg, want)) in cases.into_iter().enumerate() {
            let got = match b.admit(&msg) {
                Verdict::Keep => "keep",
                Verdict::DropFirst(_) => "first",
                Verdict::Drop => "drop",
            };
            assert_eq!(got, want, "case {i}: {msg:?}");
        }
    }
}
