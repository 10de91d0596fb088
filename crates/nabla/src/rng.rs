//! An explicit, seeded random number generator.
//!
//! nabla has no global or thread-local randomness: every function that draws takes a
//! `&mut Rng`. The generator is PCG64 (O'Neill 2014, the 128-bit LCG with the XSL-RR output
//! function), seeded through the SeedSequence hash that numpy uses. The consequence is
//! worth having: `Rng::new(s).uniform(a, b)` draws exactly the numbers that
//! `numpy.random.default_rng(s).uniform(a, b)` draws, so a nabla experiment can start from
//! the very same weights as a numpy script (the XOR peer, for one).

/// The PCG64 generator. `Clone` it to fork an identical stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rng {
    state: u128,
    inc: u128,
    /// A second normal deviate left over from the last polar-method draw.
    spare_normal: Option<u64>,
}

/// The 128-bit LCG multiplier of PCG64.
const PCG_MULT: u128 = (2_549_297_995_355_413_924u128 << 64) | 4_865_540_595_714_422_341u128;

impl Rng {
    /// A generator seeded from `seed` as numpy's `default_rng(seed)` is.
    pub fn new(seed: u64) -> Self {
        let words = seed_sequence_u64(seed);
        let initstate = (u128::from(words[0]) << 64) | u128::from(words[1]);
        let initseq = (u128::from(words[2]) << 64) | u128::from(words[3]);
        let mut rng = Rng { state: 0, inc: (initseq << 1) | 1, spare_normal: None };
        rng.step();
        rng.state = rng.state.wrapping_add(initstate);
        rng.step();
        rng
    }

    fn step(&mut self) {
        self.state = self.state.wrapping_mul(PCG_MULT).wrapping_add(self.inc);
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.step();
        // XSL-RR: fold the high half onto the low half, then rotate by the top 6 bits.
        let folded = ((self.state >> 64) as u64) ^ (self.state as u64);
        folded.rotate_right((self.state >> 122) as u32)
    }

    /// A uniform double in `[0, 1)` with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / 9_007_199_254_740_992.0)
    }

    /// A uniform double in `[low, high)`, drawn as numpy's `uniform(low, high)`.
    pub fn uniform(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.next_f64()
    }

    /// A uniform `f32` in `[low, high)` (drawn in `f64`, then rounded).
    pub fn uniform_f32(&mut self, low: f32, high: f32) -> f32 {
        self.uniform(f64::from(low), f64::from(high)) as f32
    }

    /// A standard normal deviate (Marsaglia's polar method).
    pub fn normal(&mut self) -> f64 {
        if let Some(bits) = self.spare_normal.take() {
            return f64::from_bits(bits);
        }
        loop {
            let u = 2.0 * self.next_f64() - 1.0;
            let v = 2.0 * self.next_f64() - 1.0;
            let s = u * u + v * v;
            if s > 0.0 && s < 1.0 {
                let factor = (-2.0 * s.ln() / s).sqrt();
                self.spare_normal = Some((v * factor).to_bits());
                return u * factor;
            }
        }
    }

    /// A uniform integer in `0..n` without modulo bias (Lemire's method). `n` must be > 0.
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "Rng::below(0)");
        let threshold = n.wrapping_neg() % n;
        loop {
            let m = u128::from(self.next_u64()) * u128::from(n);
            if (m as u64) >= threshold {
                return (m >> 64) as u64;
            }
        }
    }

    /// Shuffles `items` in place (Fisher–Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

/// numpy's `SeedSequence(seed).generate_state(4, uint64)`: the seed's 32-bit words are
/// hashed into a pool of four words, which is then stretched into the four 64-bit words that
/// seed PCG64 (state high, state low, stream high, stream low).
fn seed_sequence_u64(seed: u64) -> [u64; 4] {
    const INIT_A: u32 = 0x43b0_d7e5;
    const MULT_A: u32 = 0x931e_8875;
    const INIT_B: u32 = 0x8b51_f9dd;
    const MULT_B: u32 = 0x58f3_8ded;
    const MIX_MULT_L: u32 = 0xca01_f9dd;
    const MIX_MULT_R: u32 = 0x4973_f715;

    let mut hash_const = INIT_A;
    let mut hashmix = |value: u32| {
        let mut v = value ^ hash_const;
        hash_const = hash_const.wrapping_mul(MULT_A);
        v = v.wrapping_mul(hash_const);
        v ^ (v >> 16)
    };
    let mix = |x: u32, y: u32| {
        let r = MIX_MULT_L.wrapping_mul(x).wrapping_sub(MIX_MULT_R.wrapping_mul(y));
        r ^ (r >> 16)
    };

    // The seed as little-endian 32-bit words; 0 is one word, not none.
    let entropy: Vec<u32> = if seed >> 32 == 0 { vec![seed as u32] } else { vec![seed as u32, (seed >> 32) as u32] };
    let mut pool = [0u32; 4];
    for (i, slot) in pool.iter_mut().enumerate() {
        *slot = hashmix(entropy.get(i).copied().unwrap_or(0));
    }
    for src in 0..4 {
        for dst in 0..4 {
            if src != dst {
                let h = hashmix(pool[src]);
                pool[dst] = mix(pool[dst], h);
            }
        }
    }

    let mut hash_const = INIT_B;
    let mut words = [0u32; 8];
    for (i, w) in words.iter_mut().enumerate() {
        let mut v = pool[i % 4] ^ hash_const;
        hash_const = hash_const.wrapping_mul(MULT_B);
        v = v.wrapping_mul(hash_const);
        *w = v ^ (v >> 16);
    }
    std::array::from_fn(|i| u64::from(words[2 * i]) | (u64::from(words[2 * i + 1]) << 32))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `numpy.random.default_rng(s).uniform(-1, 1, 3)` printed with `repr`, numpy 2.x.
    #[test]
    fn uniform_matches_numpy_default_rng() {
        let cases = NUMPY_UNIFORM;
        for (seed, want) in cases {
            let mut rng = Rng::new(seed);
            let got: Vec<f64> = (0..3).map(|_| rng.uniform(-1.0, 1.0)).collect();
            assert_eq!(got, want, "seed {seed}");
        }
    }

    const NUMPY_UNIFORM: [(u64, [f64; 3]); 4] = [
        (0, [0.2739233746429086, -0.4604265724722594, -0.9180529521276106]),
        (1, [0.023643249400513433, 0.9009273926518706, -0.7116807745607325]),
        (4_294_967_297, [-0.33625521626379906, 0.22379194729131746, 0.015265319784833142]),
        (123_456_789_012, [0.13212935018932281, -0.832658280769691, -0.4401542357284267]),
    ];

    #[test]
    fn same_seed_same_stream_other_seed_other_stream() {
        let a: Vec<u64> = {
            let mut r = Rng::new(42);
            (0..5).map(|_| r.next_u64()).collect()
        };
        let b: Vec<u64> = {
            let mut r = Rng::new(42);
            (0..5).map(|_| r.next_u64()).collect()
        };
        let c: Vec<u64> = {
            let mut r = Rng::new(43);
            (0..5).map(|_| r.next_u64()).collect()
        };
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn normal_has_unit_moments() {
        let mut rng = Rng::new(3);
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "var {var}");
    }

    #[test]
    fn below_is_in_range_and_shuffle_permutes() {
        let mut rng = Rng::new(9);
        let mut counts = [0usize; 3];
        for _ in 0..30_000 {
            counts[rng.below(3) as usize] += 1;
        }
        assert!(counts.iter().all(|&c| (9_000..11_000).contains(&c)), "{counts:?}");
        let mut v: Vec<usize> = (0..100).collect();
        rng.shuffle(&mut v);
        assert_ne!(v, (0..100).collect::<Vec<_>>());
        v.sort_unstable();
        assert_eq!(v, (0..100).collect::<Vec<_>>());
    }
}
