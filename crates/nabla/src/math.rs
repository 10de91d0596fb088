//! `exp`, `tanh` and the logistic function in plain `f32` arithmetic, branch-free.
//!
//! The platform's `expf`/`tanhf` are calls the compiler cannot vectorise, so a loop over
//! activations spent most of its time in them (the XOR experiment of 1,000 nets side by side
//! was bound by three libm calls per net and step). These versions use only `+ − × ÷`, a
//! comparison-and-select and integer bit moves, so a loop of them becomes SIMD code, and the
//! same function is used by the scalar path ([`crate::Activation::apply`]) and by the
//! vectorised one: per element they run the same IEEE operations in the same order, so the
//! two agree bit for bit.
//!
//! The polynomials are Cephes' (S. L. Moshier): `expf` on `[−ln2/2, ln2/2]` after the
//! Cody–Waite range reduction, and `tanhf` below 0.625. Both are within 2 ulp of the true
//! value (the logistic function within 3) over the whole range (tested below against `f64`), including gradual underflow,
//! overflow to infinity, ±0 and NaN.

/// `e^x`. Below about −103.9 the result is 0, above about 88.72 it is `+∞`; NaN stays NaN.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split in two: LN2_HI has 9 significant bits, so n · LN2_HI is exact for |n| ≤ 150.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding 1.5 · 2^23 rounds to an integer (ties to even), which the low mantissa bits then hold.
    const ROUND: f32 = 12_582_912.0;
    const P: [f32; 6] = [1.987_569_1e-4, 1.398_2e-3, 8.333_452e-3, 4.166_579_6e-2, 0.166_666_65, 0.5];
    // Beyond these, e^x is 0 or ∞ anyway; clamping keeps n in [−150, 129]. (NaN passes through.)
    let x = x.clamp(-104.0, 89.0);
    let shifted = x * LOG2E + ROUND;
    let n = shifted - ROUND;
    let r = x - n * LN2_HI;
    let r = r - n * LN2_LO;
    let poly = ((((P[0] * r + P[1]) * r + P[2]) * r + P[3]) * r + P[4]) * r + P[5];
    let p = poly * (r * r) + r + 1.0;
    // n as an integer, from the mantissa of `shifted` (no float-to-int conversion needed).
    let ni = (shifted.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    // 2^n as two factors, each a normal number, so that results in the subnormal range are
    // rounded once, at the last multiplication, and overflow still gives ∞.
    let n1 = ni >> 1;
    let n2 = ni.wrapping_sub(n1);
    let s1 = f32::from_bits((n1.wrapping_add(127) as u32) << 23);
    let s2 = f32::from_bits((n2.wrapping_add(127) as u32) << 23);
    p * s1 * s2
}

/// `tanh x`: an odd polynomial for `|x| ≤ 0.625`, `1 − 2 / (e^{2|x|} + 1)` (with the sign
/// of `x`) above, where no cancellation can hurt.
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    const Q: [f32; 5] = [-5.704_988_7e-3, 2.063_909e-2, -5.373_971_6e-2, 0.133_314_42, -0.333_332_8];
    let ax = x.abs();
    let s = x * x;
    // copysign keeps tanh(−0) = −0 (the sum alone would give +0).
    let small = (((((Q[0] * s + Q[1]) * s + Q[2]) * s + Q[3]) * s + Q[4]) * s * x + x).copysign(x);
    let e = exp(ax + ax);
    let large = (1.0 - 2.0 / (e + 1.0)).copysign(x);
    // Both sides are computed, so this is a select, not a branch (NaN takes `large`: NaN).
    if ax <= 0.625 {
        small
    } else {
        large
    }
}

/// The logistic function `1 / (1 + e^(−z))`, written so that nothing overflows: with
/// `e = e^(−|z|) ≤ 1`, it is `1 / (1 + e)` for `z ≥ 0` and `e / (1 + e)` below.
#[inline(always)]
pub fn sigmoid(z: f32) -> f32 {
    let e = exp(-z.abs());
    let d = 1.0 + e;
    if z >= 0.0 {
        1.0 / d
    } else {
        e / d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distance in units in the last place between `got` and the correctly rounded `want`.
    fn ulps(got: f32, want: f64) -> f64 {
        let w = want as f32;
        if got == w {
            return 0.0;
        }
        let ulp =
            (f64::from(f32::from_bits(w.abs().to_bits() + 1)) - f64::from(w.abs())).max(f64::from(f32::from_bits(1)));
        (f64::from(got) - want).abs() / ulp
    }

    /// Every value of x in a fine sweep, plus the edges.
    fn sweep(lo: f32, hi: f32, steps: usize) -> impl Iterator<Item = f32> {
        (0..=steps).map(move |i| lo + (hi - lo) * (i as f32 / steps as f32))
    }

    #[test]
    fn exp_is_within_two_ulp_everywhere() {
        let mut worst = (0.0, 0.0f32);
        for x in sweep(-103.0, 88.7, 2_000_000).chain([0.0, -0.0, 1.0, -1.0, 1e-8, -1e-8, 88.72, -87.33]) {
            let u = ulps(exp(x), f64::from(x).exp());
            if u > worst.0 {
                worst = (u, x);
            }
        }
        assert!(worst.0 <= 2.0, "exp: {} ulp at {}", worst.0, worst.1);
    }

    #[test]
    fn exp_edges() {
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-0.0), 1.0);
        assert_eq!(exp(89.0), f32::INFINITY);
        assert_eq!(exp(1e30), f32::INFINITY);
        assert_eq!(exp(f32::INFINITY), f32::INFINITY);
        assert_eq!(exp(-1000.0), 0.0);
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert!(exp(f32::NAN).is_nan());
        // Gradual underflow: e^−100 ≈ 3.72e−44 is a subnormal, not 0.
        let sub = exp(-100.0);
        assert!(sub > 0.0 && sub < f32::MIN_POSITIVE, "{sub}");
        assert!((f64::from(sub) - (-100f64).exp()).abs() <= f64::from(f32::from_bits(1)));
        assert!(exp(88.7) < f32::MAX && exp(88.7) > 3.3e38);
    }

    #[test]
    fn tanh_is_within_two_ulp_everywhere() {
        let mut worst = (0.0, 0.0f32);
        let tiny = sweep(-1e-3, 1e-3, 200_000);
        for x in sweep(-12.0, 12.0, 2_000_000).chain(tiny).chain([0.625, -0.625, 0.625_000_06, 1e-30, 20.0, -20.0]) {
            let u = ulps(tanh(x), f64::from(x).tanh());
            if u > worst.0 {
                worst = (u, x);
            }
        }
        assert!(worst.0 <= 2.0, "tanh: {} ulp at {}", worst.0, worst.1);
    }

    #[test]
    fn tanh_edges() {
        assert_eq!(tanh(0.0).to_bits(), 0.0f32.to_bits());
        assert_eq!(tanh(-0.0).to_bits(), (-0.0f32).to_bits());
        assert_eq!(tanh(1e4), 1.0);
        assert_eq!(tanh(-1e4), -1.0);
        assert_eq!(tanh(f32::INFINITY), 1.0);
        assert_eq!(tanh(f32::NEG_INFINITY), -1.0);
        assert!(tanh(f32::NAN).is_nan());
    }

    #[test]
    fn sigmoid_is_within_two_ulp_and_safe() {
        let mut worst = (0.0, 0.0f32);
        for z in sweep(-80.0, 20.0, 1_000_000) {
            let want = 1.0 / (1.0 + (-f64::from(z)).exp());
            let u = ulps(sigmoid(z), want);
            if u > worst.0 {
                worst = (u, z);
            }
        }
        // exp's error plus one rounding of the division.
        assert!(worst.0 <= 3.0, "sigmoid: {} ulp at {}", worst.0, worst.1);
        assert_eq!(sigmoid(0.0), 0.5);
        assert_eq!(sigmoid(1000.0), 1.0);
        assert_eq!(sigmoid(-1000.0), 0.0);
        assert!(sigmoid(f32::NAN).is_nan());
    }

    /// The reason this module exists: a loop of them may be vectorised by the compiler, and
    /// that must not change a single bit (checked here with a loop long enough to vectorise).
    #[test]
    fn loops_agree_with_single_calls() {
        let xs: Vec<f32> = sweep(-30.0, 30.0, 4099).collect();
        let looped: Vec<[f32; 3]> = xs.iter().map(|&x| [exp(x), tanh(x), sigmoid(x)]).collect();
        for (&x, l) in xs.iter().zip(&looped) {
            let one = [std::hint::black_box(exp)(x), std::hint::black_box(tanh)(x), std::hint::black_box(sigmoid)(x)];
            assert_eq!(l.map(f32::to_bits), one.map(f32::to_bits), "at {x}");
        }
    }
}
