//! A small deterministic random generator for generated places, the solver's ruin choices,
//! benchmarks and tests. Depends on nothing.

/// A small deterministic generator (SplitMix64), so generated places do not change with a
/// dependency's version.
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// What each draw adds to the state before finalising it (the golden ratio's bits).
    pub const INCREMENT: u64 = 0x9e37_79b9_7f4a_7c15;

    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(Self::INCREMENT);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0; the tiny modulo bias does not matter here).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1_u64 << 53) as f64
    }
}
