//! A command's output shown live on the host terminal (`exec`), from a
//! thread of its own. The run loop only hands chunks over a bounded
//! channel and never waits: a host stdout that stops being read (a full
//! pipe, a paused terminal) must not stall the run past its deadline. What
//! could not be shown is counted and said at the end; the whole output is
//! in the artifacts either way.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ktstr_wire::{GuestMsg, Stream};

use crate::events::TimedEvent;
use crate::payload::result::drop_marker;

/// Chunks waiting to be written before new ones are dropped.
const QUEUE: usize = 1024;

/// The live view of a run's payload output.
#[derive(Debug)]
pub struct LiveOutput {
    /// `None` tells the writer that the run is over.
    tx: SyncSender<Option<(Stream, String)>>,
    dropped: Arc<AtomicU64>,
    done: Receiver<()>,
}

impl LiveOutput {
    /// Starts the writer thread: stdout chunks to `out`, stderr to `err`.
    pub fn start<O, E>(out: O, err: E) -> LiveOutput
    where
        O: Write + Send + 'static,
        E: Write + Send + 'static,
    {
        let (tx, rx) = mpsc::sync_channel::<Option<(Stream, String)>>(QUEUE);
        let (done_tx, done) = mpsc::channel();
        std::thread::spawn(move || {
            let (mut out, mut err) = (out, err);
            while let Ok(Some((stream, data))) = rx.recv() {
                let w: &mut dyn Write = match stream {
                    Stream::Stdout => &mut out,
                    Stream::Stderr => &mut err,
                };
                if w.write_all(data.as_bytes())
                    .and_then(|()| w.flush())
                    .is_err()
                {
                    break;
                }
            }
            let _ = done_tx.send(());
        });
        LiveOutput {
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
            done,
        }
    }

    /// The observer for the run loop: hands payload output to the writer
    /// without waiting; counts what did not fit.
    pub fn observer(&self) -> impl Fn(&TimedEvent) + Send + Sync + 'static {
        let tx = self.tx.clone();
        let dropped = self.dropped.clone();
        // Whether each stream's last byte shown ended a line (the guest's
        // "bytes dropped" marker goes on a line of its own).
        let at_line_start = [AtomicBool::new(true), AtomicBool::new(true)];
        move |ev: &TimedEvent| {
            let (stream, text) = match ev.guest() {
                Some(GuestMsg::PayloadOutput { stream, data, .. }) => (*stream, data.clone()),
                Some(GuestMsg::PayloadOutputDropped { stream, bytes, .. }) => {
                    let at_start = at_line_start[*stream as usize].load(Ordering::Relaxed);
                    let nl = if at_start { "" } else { "\n" };
                    (*stream, format!("{nl}{}", drop_marker(*bytes)))
                }
                _ => return,
            };
            if let Some(&last) = text.as_bytes().last() {
                at_line_start[stream as usize].store(last == b'\n', Ordering::Relaxed);
            }
            match tx.try_send(Some((stream, text))) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                    dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// Lets the writer drain for at most `wait`; returns how many chunks
    /// were not shown.
    pub fn finish(self, wait: Duration) -> u64 {
        let LiveOutput { tx, dropped, done } = self;
        let deadline = Instant::now() + wait;
        // The end marker queues behind what is still to be written.
        let mut ended = false;
        while !ended && Instant::now() < deadline {
            match tx.try_send(None) {
                Ok(()) | Err(TrySendError::Disconnected(_)) => ended = true,
                Err(TrySendError::Full(_)) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match done.recv_timeout(left) {
            Ok(()) | Err(RecvTimeoutError::Disconnected) => {}
            Err(RecvTimeoutError::Timeout) => {
                // Still blocked writing: what is queued will not be shown.
                dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Condvar, Mutex};

    use super::*;
    use crate::events::Event;

    fn chunk(data: &str) -> TimedEvent {
        TimedEvent::new(
            0,
            Event::Guest {
                msg: GuestMsg::PayloadOutput {
                    name: "p".into(),
                    stream: Stream::Stdout,
                    data: data.into(),
                },
            },
        )
    }

    /// A writer that blocks until released, like a pipe nobody reads.
    #[derive(Clone)]
    struct Stuck(Arc<(Mutex<bool>, Condvar)>);

    impl Write for Stuck {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let (lock, cv) = &*self.0;
            let mut open = lock.lock().unwrap();
            while !*open {
                open = cv.wait(open).unwrap();
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_stdout_nobody_reads_never_stalls_the_run() {
        let stuck = Stuck(Arc::new((Mutex::new(false), Condvar::new())));
        let live = LiveOutput::start(stuck.clone(), std::io::sink());
        let show = live.observer();
        let t = Instant::now();
        for i in 0..(QUEUE * 4) {
            show(&chunk(&format!("line {i}\n")));
        }
        assert!(t.elapsed() < Duration::from_secs(5), "the observer waited");
        let dropped = live.finish(Duration::from_millis(50));
        assert!(dropped >= (QUEUE * 2) as u64, "dropped {dropped}");
        *stuck.0 .0.lock().unwrap() = true;
        stuck.0 .1.notify_all();
    }

    #[test]
    fn a_reading_stdout_gets_everything_in_order() {
        let buf = Arc::new(Mutex::new(Vec::new()));
        struct Shared(Arc<Mutex<Vec<u8>>>);
        impl Write for Shared {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let live = LiveOutput::start(Shared(buf.clone()), std::io::sink());
        let show = live.observer();
        for i in 0..100 {
            show(&chunk(&format!("{i},")));
        }
        assert_eq!(live.finish(Duration::from_secs(5)), 0);
        let text = String::from_utf8(buf.lock().unwrap().clone()).unwrap();
        let want: String = (0..100).map(|i| format!("{i},")).collect();
        assert_eq!(text, want);
    }
}
