//! Cost of the progress checkpoint against SpinWait throughput.
//!
//! Runs the SpinWait inner loop (calibrated batches of `spin_unit`) with and
//! without `Meter::checkpoint` between batches, alternating the two several
//! times on one pinned CPU and timing each on the thread CPU clock (so
//! preemption by other load does not count). Prints both throughputs, the
//! overhead, and the cost of one checkpoint; exits non-zero if the median
//! overhead reaches 2%. Also prints the cost of recording one wake-up
//! latency and the memory of one worker's latency histogram.
//!
//! Run: `cargo bench -p ktstr-guest --bench checkpoint`

use std::sync::atomic::AtomicU32;

use ktstr_guest::workload::measure::{
    spin_unit, units_per_checkpoint, Latency, Meter, CHECKPOINT_TARGET_NS,
};
use ktstr_guest::workload::{set_thread_affinity, thread_affinity};

const ROUNDS: usize = 9;
const BATCHES: u64 = 20_000; // about 0.5 s per measurement

fn cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid clock id and out pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Units per CPU second without checkpoints.
fn bare(per: u64) -> f64 {
    let mut state = 1;
    let start = cpu_ns();
    for _ in 0..BATCHES {
        for _ in 0..per {
            spin_unit(&mut state);
        }
    }
    std::hint::black_box(state);
    (BATCHES * per) as f64 / ((cpu_ns() - start) as f64 / 1e9)
}

/// Units per CPU second with a checkpoint after every batch.
fn checked(per: u64, stop: &AtomicU32) -> f64 {
    let mut meter = Meter::new(stop, 0, per);
    let mut state = 1;
    let start = cpu_ns();
    for _ in 0..BATCHES {
        for _ in 0..per {
            spin_unit(&mut state);
        }
        meter.work_units += per;
        if !meter.checkpoint() {
            break;
        }
    }
    std::hint::black_box(state);
    (meter.work_units) as f64 / ((cpu_ns() - start) as f64 / 1e9)
}

/// Nanoseconds per checkpoint call, measured back to back.
fn checkpoint_ns(stop: &AtomicU32) -> f64 {
    let mut meter = Meter::new(stop, 0, 1);
    let n = 1_000_000;
    let start = cpu_ns();
    for _ in 0..n {
        std::hint::black_box(meter.checkpoint());
    }
    (cpu_ns() - start) as f64 / n as f64
}

/// Nanoseconds per latency record, over latencies spread like real
/// wake-ups (5 us to 5 ms, so the histogram's buckets vary).
fn record_ns() -> f64 {
    let mut lat = Latency::default();
    let n = 1_000_000u64;
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let start = cpu_ns();
    for _ in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        lat.record(std::hint::black_box(5_000 + x % 5_000_000));
    }
    let per = (cpu_ns() - start) as f64 / n as f64;
    std::hint::black_box(lat.summary().count);
    per
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let cpu = *thread_affinity().unwrap().last().unwrap();
    set_thread_affinity(&[cpu]).unwrap();
    let per = units_per_checkpoint();
    let stop = AtomicU32::new(0);
    let (mut b, mut c, mut over) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let x = bare(per);
        let y = checked(per, &stop);
        over.push((x - y) / x * 100.0);
        b.push(x);
        c.push(y);
    }
    let overhead = median(over.clone());
    println!(
        "checkpoint every {per} spin units (target {CHECKPOINT_TARGET_NS} ns of work), CPU {cpu}"
    );
    println!(
        "spin_wait without checkpoint: {:.1} M units/s (median of {ROUNDS})",
        median(b) / 1e6
    );
    println!(
        "spin_wait with checkpoint:    {:.1} M units/s",
        median(c) / 1e6
    );
    println!(
        "overhead per round (%): {:?}",
        over.iter()
            .map(|o| (o * 100.0).round() / 100.0)
            .collect::<Vec<_>>()
    );
    println!("median overhead: {overhead:.2}%");
    println!("one checkpoint: {:.1} ns", checkpoint_ns(&stop));
    println!(
        "one wake-latency record: {:.1} ns (median of {ROUNDS}, including a 3-step xorshift)",
        median((0..ROUNDS).map(|_| record_ns()).collect())
    );
    println!(
        "latency histogram per worker: {} bytes",
        Latency::default().memory_bytes()
    );
    if overhead >= 2.0 {
        eprintln!("FAIL: checkpoint overhead {overhead:.2}% is not under 2%");
        std::process::exit(1);
    }
}
