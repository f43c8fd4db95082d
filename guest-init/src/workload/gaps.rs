//! The gaps a worker saw between progress checkpoints: the longest one,
//! and the longest [`MAX_GAPS`] over [`GAP_FLOOR_NS`] with their times, plus
//! an exact count of those. The host excuses gaps inside a freeze or a
//! scheduler switch; keeping more than the single longest lets it judge
//! the longest gap outside them, and the count tells it when some gaps it
//! would need were not kept.
//!
//! The checkpoint is the hot path, so it costs one compare: a gap goes to
//! the cold [`GapLog::record`] only when it could change the result, that is
//! when it is over the floor or longer than the longest so far.

use ktstr_wire::workload::{Gap, GAP_FLOOR_NS, MAX_GAPS};

/// Gaps kept for one worker.
#[derive(Debug, Clone)]
pub struct GapLog {
    /// The checkpoint calls [`record`](Self::record) for gaps of at least
    /// this: the longest gap so far plus one, capped at the floor.
    slow_from: u64,
    max: Option<Gap>,
    kept: Vec<Gap>,
    over_floor: u64,
}

/// What a [`GapLog`] hands to the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GapSummary {
    pub max: Option<Gap>,
    /// Longest first.
    pub kept: Vec<Gap>,
    pub over_floor: u64,
}

impl Default for GapLog {
    fn default() -> Self {
        GapLog {
            slow_from: 0,
            max: None,
            kept: Vec::with_capacity(MAX_GAPS),
            over_floor: 0,
        }
    }
}

impl GapLog {
    /// Whether a gap of `len_ns` must be [`record`](Self::record)ed: the
    /// one compare the checkpoint pays.
    #[inline(always)]
    pub fn wants(&self, len_ns: u64) -> bool {
        len_ns >= self.slow_from
    }

    /// Notes a gap that [`wants`](Self::wants) said matters.
    #[cold]
    #[inline(never)]
    pub fn record(&mut self, gap: Gap) {
        if self.max.is_none_or(|m| gap.len_ns > m.len_ns) {
            self.max = Some(gap);
        }
        if gap.len_ns >= GAP_FLOOR_NS {
            self.over_floor += 1;
            if self.kept.len() < MAX_GAPS {
                self.kept.push(gap);
            } else if let Some(shortest) = self.kept.iter_mut().min_by_key(|g| g.len_ns) {
                if gap.len_ns > shortest.len_ns {
                    *shortest = gap;
                }
            }
        }
        let above_max = self.max.map_or(0, |m| m.len_ns.saturating_add(1));
        self.slow_from = above_max.min(GAP_FLOOR_NS);
    }

    /// The longest gap, the kept ones longest first, and the exact count.
    pub fn finish(mut self) -> GapSummary {
        self.kept
            .sort_by(|a, b| b.len_ns.cmp(&a.len_ns).then(a.at_ns.cmp(&b.at_ns)));
        GapSummary {
            max: self.max,
            kept: self.kept,
            over_floor: self.over_floor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn gap(len_ns: u64, at_ns: u64) -> Gap {
        Gap {
            len_ns,
            cpu: 0,
            at_ns,
        }
    }

    /// Feeds gaps the way the checkpoint does: through `wants`.
    fn log(lens: &[u64]) -> GapSummary {
        let mut log = GapLog::default();
        for (i, &len) in lens.iter().enumerate() {
            if log.wants(len) {
                log.record(gap(len, i as u64));
            }
        }
        log.finish()
    }

    #[test]
    fn short_gaps_count_only_for_the_longest() {
        let s = log(&[10, 500, 20, 999_999]);
        assert_eq!(s.max, Some(gap(999_999, 3)));
        assert!(s.kept.is_empty());
        assert_eq!(s.over_floor, 0);
        assert_eq!(log(&[]).max, None);
    }

    #[test]
    fn keeps_the_longest_over_the_floor_and_counts_all() {
        // 100 gaps over the floor, lengths 1..=100 ms in a scrambled order.
        let lens: Vec<u64> = (0..100u64).map(|i| ((i * 37) % 100 + 1) * MS).collect();
        let s = log(&lens);
        assert_eq!(s.over_floor, 100);
        assert_eq!(s.kept.len(), MAX_GAPS);
        let kept: Vec<u64> = s.kept.iter().map(|g| g.len_ns / MS).collect();
        let want: Vec<u64> = (100 - MAX_GAPS as u64 + 1..=100).rev().collect();
        assert_eq!(kept, want, "the longest, longest first");
        assert_eq!(s.max.unwrap().len_ns, 100 * MS);
        // Each kept gap keeps its own time.
        for g in &s.kept {
            assert_eq!(lens[g.at_ns as usize], g.len_ns);
        }
    }

    #[test]
    fn a_gap_over_the_floor_is_seen_after_a_longer_one() {
        // Once the longest is 50 ms, a 2 ms gap must still reach `record`.
        let s = log(&[50 * MS, 2 * MS, 3 * MS]);
        assert_eq!(s.over_floor, 3);
        assert_eq!(s.kept.len(), 3);
        assert_eq!(s.kept[2].len_ns, 2 * MS);
    }
}
