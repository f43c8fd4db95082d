//! Live progress of a matrix on stderr: cells done, running and failed,
//! elapsed time and an estimate of what is left. A bar on a terminal; a
//! line per finished cell elsewhere (CI logs).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::cells::Cell;
use super::result::{CellResult, Status};

/// Counts and shows progress; shared by the worker threads.
#[derive(Debug)]
pub struct Progress {
    total: usize,
    start: Instant,
    done: AtomicUsize,
    running: AtomicUsize,
    failed: AtomicUsize,
    bar: Option<ProgressBar>,
    quiet: bool,
}

impl Progress {
    pub fn new(total: usize, quiet: bool) -> Progress {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar =
                ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{elapsed_precise} [{bar:30}] {pos}/{len} cells, ETA {eta} {msg}",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
            bar.enable_steady_tick(Duration::from_millis(500));
            bar
        });
        Progress {
            total,
            start: Instant::now(),
            done: AtomicUsize::new(0),
            running: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            bar,
            quiet,
        }
    }

    /// A line of its own (preparing a kernel...).
    pub fn note(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(format!("ktstr-vm matrix: {text}")),
            None if !self.quiet => eprintln!("ktstr-vm matrix: {text}"),
            None => {}
        }
    }

    pub fn started(&self, _cell: &Cell) {
        self.running.fetch_add(1, Ordering::SeqCst);
        self.refresh();
    }

    pub fn finished(&self, r: &CellResult) {
        if r.status != Status::Skipped || r.result.is_some() {
            self.running.fetch_sub(1, Ordering::SeqCst);
        }
        let done = self.done.fetch_add(1, Ordering::SeqCst) + 1;
        if matches!(r.status, Status::Fail | Status::CannotTest | Status::Error) {
            self.failed.fetch_add(1, Ordering::SeqCst);
        }
        let line = format!("[{}] {}", self.counts(done), line(r));
        match &self.bar {
            Some(bar) => {
                bar.set_position(done as u64);
                bar.println(line);
                self.refresh();
            }
            None if !self.quiet => eprintln!("ktstr-vm matrix: {line}"),
            None => {}
        }
    }

    fn refresh(&self) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!(
                "running {}, failed {}",
                self.running.load(Ordering::SeqCst),
                self.failed.load(Ordering::SeqCst)
            ));
        }
    }

    /// `3/8 done, 2 running, 1 failed, 1m05s elapsed, ETA 2m10s`.
    fn counts(&self, done: usize) -> String {
        let elapsed = self.start.elapsed();
        let left = self.total.saturating_sub(done);
        let eta = (done > 0 && left > 0).then(|| elapsed.mul_f64(left as f64 / done as f64));
        format!(
            "{done}/{} done, {} running, {} failed, {} elapsed{}",
            self.total,
            self.running.load(Ordering::SeqCst),
            self.failed.load(Ordering::SeqCst),
            short(elapsed),
            eta.map(|e| format!(", ETA {}", short(e)))
                .unwrap_or_default()
        )
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// `PASS scx_simple on 6.12.117 [1n2l2c1t] in 8.2s`.
pub fn line(r: &CellResult) -> String {
    let word = match r.status {
        Status::Pass => "PASS",
        Status::Fail => "FAIL",
        Status::CannotTest => "CANNOT TEST",
        Status::Skipped => "SKIP",
        Status::Error => "ERROR",
    };
    let mut s = format!("{word} {}", r.cell.label());
    if let Some(res) = &r.result {
        s.push_str(&format!(" in {:.1}s", res.wall_ms as f64 / 1000.0));
        let classes: Vec<String> = res.findings.iter().map(|f| f.class.name()).collect();
        if !classes.is_empty() {
            s.push_str(&format!(": {}", classes.join(", ")));
        }
    }
    if let Some(why) = &r.reason {
        s.push_str(&format!(": {why}"));
    }
    s
}

fn short(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_short() {
        assert_eq!(short(Duration::from_secs(5)), "5s");
        assert_eq!(short(Duration::from_secs(65)), "1m05s");
    }

    #[test]
    fn counts_estimate_what_is_left() {
        let p = Progress::new(4, true);
        let c = p.counts(2);
        assert!(c.starts_with("2/4 done, 0 running, 0 failed, "), "{c}");
        assert!(c.contains("ETA"), "{c}");
        assert!(!p.counts(4).contains("ETA"));
    }
}
