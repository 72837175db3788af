//! A small seeded pseudo-random generator (SplitMix64), for synthetic data that is the
//! same on every machine and every run with the same seed. Not for anything secret.

/// SplitMix64 (Steele, Lea and Flood 2014), as in `java.util.SplittableRandom`.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// An independent generator for one key, such as `["values", "4.1", "anting-town"]`:
    /// the same seed and key always give the same stream, whatever else was drawn before.
    pub fn for_key(seed: u64, key: &[&str]) -> Self {
        // FNV-1a over the parts, separated so that ["ab", "c"] and ["a", "bc"] differ.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for part in key {
            for byte in part.bytes().chain(std::iter::once(0x1f)) {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
        }
        let mut mixer = Self::new(seed ^ hash);
        Self::new(mixer.next_u64())
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        // 53 random bits: every value is exactly representable.
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `[low, high)`.
    pub fn range(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.next_f64()
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        // Multiply-shift: no modulo bias worth speaking of for small n.
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.next_f64() < p
    }

    /// A standard normal deviate (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.next_f64(); // (0, 1]: the logarithm stays finite
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// `k` distinct elements of `items` (all of them if there are fewer), in their order.
    pub fn sample<T: Clone>(&mut self, items: &[T], k: usize) -> Vec<T> {
        let mut indices: Vec<usize> = (0..items.len()).collect();
        // Partial Fisher-Yates.
        for i in 0..k.min(items.len()) {
            let j = i + self.below(items.len() - i);
            indices.swap(i, j);
        }
        let mut chosen: Vec<usize> = indices.into_iter().take(k).collect();
        chosen.sort_unstable();
        chosen.into_iter().map(|i| items[i].clone()).collect()
    }

    /// A UUID-shaped id (version 4 layout) from the next 128 bits: the same for the same
    /// stream, so a rerun sends the same idempotency keys.
    pub fn uuid(&mut self) -> String {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.next_u64().to_be_bytes());
        bytes[8..].copy_from_slice(&self.next_u64().to_be_bytes());
        uuid::Builder::from_random_bytes(bytes).into_uuid().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_reference_splitmix64() {
        // The first outputs of SplitMix64 seeded with 0, as published with the algorithm.
        let mut rng = SplitMix64::new(0);
        assert_eq!(rng.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(rng.next_u64(), 0x6e78_9e6a_a1b9_65f4);
        assert_eq!(rng.next_u64(), 0x06c4_5d18_8009_454f);
    }

    #[test]
    fn the_same_seed_and_key_give_the_same_stream() {
        let draw = |seed, key: &[&str]| {
            let mut rng = SplitMix64::for_key(seed, key);
            (
                rng.next_u64(),
                rng.range(1.0, 2.0),
                rng.below(7),
                rng.normal(),
                rng.uuid(),
            )
        };
        assert_eq!(draw(42, &["a", "b"]), draw(42, &["a", "b"]));
        assert_ne!(draw(42, &["a", "b"]).0, draw(43, &["a", "b"]).0);
        assert_ne!(draw(42, &["ab", ""]).0, draw(42, &["a", "b"]).0);
        assert_ne!(draw(42, &["a", "b"]).4, draw(42, &["a", "c"]).4);
    }

    #[test]
    fn draws_stay_in_range() {
        let mut rng = SplitMix64::new(7);
        for _ in 0..10_000 {
            let x = rng.next_f64();
            assert!((0.0..1.0).contains(&x));
            assert!(rng.below(3) < 3);
            assert!(rng.normal().is_finite());
        }
        let sample = rng.sample(&[1, 2, 3, 4, 5], 3);
        assert_eq!(sample.len(), 3);
        assert!(sample.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(rng.sample(&[1, 2], 5), vec![1, 2]);
        let id = rng.uuid();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
    }
}
