//! A small deterministic number generator: demo data and generated load are the same on every
//! machine and every run with the same seed. Not for anything that needs real randomness.

#[derive(Debug, Clone)]
pub struct Lcg(pub u64);

impl Lcg {
    /// The next number in `0..n` (`0` when `n` is `0`).
    pub fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n.max(1)
    }
}
