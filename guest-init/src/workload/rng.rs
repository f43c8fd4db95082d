//! A tiny seeded generator (SplitMix64) for reproducible `Churn` choices and
//! reservoir sampling. Not cryptographic; it only has to be fast, allocation
//! free after fork, and give the same sequence for the same seed.

/// SplitMix64 state.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0); the modulo bias is negligible for the
    /// small ranges used here.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// Seed of one worker, derived from the spec's seed and its identity so
/// that workers differ but a rerun repeats every choice.
pub fn worker_seed(seed: u64, group: u32, index: u32) -> u64 {
    let mut r = Rng::new(seed ^ ((group as u64) << 32 | index as u64));
    r.next_u64()
}
