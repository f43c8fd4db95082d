//! Wake-up latency from every wake-up, in an HDR histogram: fixed memory
//! whatever the count, a constant-time record, and percentiles within 1%
//! (2 significant digits) of the exact ones. A bounded reservoir, as
//! before, made p99 rest on 5 of its 512 samples.
//!
//! Size: buckets up to a minute at 2 significant digits (64 ns steps below
//! 6.4 us, where 1% would be finer than reading the clock), with `u32`
//! counts (a bucket saturates at 4 billion wake-ups), are
//! [`Latency::memory_bytes`] per worker: 12 KiB, so a guest with hundreds
//! of workers in 1 GiB can afford one each (`benches/checkpoint.rs`
//! prints it, with the cost of a record).

use hdrhistogram::Histogram;
use ktstr_wire::workload::{LatencyBucket, LatencySummary};

/// The finest step is the power of two below this (64 ns).
const LOWEST_NS: u64 = 100;
/// Latencies above a minute are counted as a minute (the maximum stays exact).
const HIGHEST_NS: u64 = 60_000_000_000;
/// Two significant digits: percentiles within 1%.
const SIGNIFICANT_DIGITS: u8 = 2;

/// The wake-up latencies of one worker.
#[derive(Debug, Clone)]
pub struct Latency {
    hist: Histogram<u32>,
    /// Exact, unlike the histogram's (which is rounded up to a bucket).
    max_ns: u64,
}

impl Default for Latency {
    fn default() -> Self {
        Latency {
            hist: Histogram::new_with_bounds(LOWEST_NS, HIGHEST_NS, SIGNIFICANT_DIGITS)
                .expect("constant histogram bounds are valid"),
            max_ns: 0,
        }
    }
}

impl Latency {
    /// Counts one wake-up that took `ns`.
    #[inline]
    pub fn record(&mut self, ns: u64) {
        self.max_ns = self.max_ns.max(ns);
        self.hist.saturating_record(ns);
    }

    /// Bytes of counters one histogram holds.
    pub fn memory_bytes(&self) -> usize {
        self.hist.distinct_values() * std::mem::size_of::<u32>()
    }

    /// Count, percentiles (never above the exact maximum) and the
    /// non-empty buckets.
    pub fn summary(&self) -> LatencySummary {
        let pct = |q: f64| self.hist.value_at_quantile(q).min(self.max_ns);
        LatencySummary {
            count: self.hist.len(),
            p50_ns: pct(0.5),
            p90_ns: pct(0.9),
            p99_ns: pct(0.99),
            p999_ns: pct(0.999),
            max_ns: self.max_ns,
            buckets: self
                .hist
                .iter_recorded()
                .map(|v| LatencyBucket {
                    upper_ns: v.value_iterated_to(),
                    count: v.count_at_value() as u64,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ktstr_wire::workload::MAX_LATENCY_BUCKETS;

    #[test]
    fn percentiles_rest_on_every_wake_up() {
        // 1..=100 000 us: a reservoir of 512 would have seen 0.5% of them.
        let mut l = Latency::default();
        for us in 1..=100_000u64 {
            l.record(us * 1_000);
        }
        let s = l.summary();
        assert_eq!(s.count, 100_000);
        assert_eq!(s.max_ns, 100_000_000);
        let within = |got: u64, want: u64| got.abs_diff(want) <= want / 100;
        for (got, want) in [
            (s.p50_ns, 50_000_000),
            (s.p90_ns, 90_000_000),
            (s.p99_ns, 99_000_000),
            (s.p999_ns, 99_900_000),
        ] {
            assert!(within(got, want), "{got} vs {want}: {s:?}");
        }
        assert_eq!(s.buckets.iter().map(|b| b.count).sum::<u64>(), 100_000);
        assert!(s.buckets.windows(2).all(|b| b[0].upper_ns < b[1].upper_ns));
        assert!(s.buckets.len() <= MAX_LATENCY_BUCKETS);
    }

    #[test]
    fn two_slow_wake_ups_in_a_thousand_show_in_p999_not_p99() {
        let mut l = Latency::default();
        for i in 0..10_000u64 {
            l.record(if i % 500 == 499 { 50_000_000 } else { 20_000 });
        }
        let s = l.summary();
        assert!(s.p99_ns.abs_diff(20_000) <= 200, "{s:?}");
        assert!(s.p999_ns >= 49_000_000 && s.p999_ns <= 50_000_000, "{s:?}");
        assert_eq!(s.max_ns, 50_000_000);
    }

    #[test]
    fn extremes_are_counted_and_the_maximum_stays_exact() {
        let mut l = Latency::default();
        assert_eq!(l.summary(), LatencySummary::default());
        l.record(0);
        l.record(120_000_000_000);
        let s = l.summary();
        assert_eq!((s.count, s.max_ns), (2, 120_000_000_000));
        assert!(s.p999_ns <= s.max_ns);
        assert_eq!(s.buckets.len(), 2);
    }
}
