//! The optimisers' tests: first steps by hand, the same bits on any thread count and
//! SIMD width, a decayed state kept as zero, convergence, state round trips.

use super::rule::{adam_range, momentum_range, sgd_range, AdamStep};
use super::*;
use crate::widest_simd;

const ALL_KINDS: [OptimizerKind; 5] =
    [OptimizerKind::Sgd, OptimizerKind::Momentum, OptimizerKind::Nesterov, OptimizerKind::Adam, OptimizerKind::AdamW];

fn run(kind: OptimizerKind, wd: f32, steps: usize) -> Vec<f32> {
    // Minimise f(θ) = ½‖θ − c‖² from θ = 0; the gradient is θ − c.
    let c = [1.0f32, -2.0];
    let mut p = vec![0.0f32; 2];
    let mut opt = OptimizerConfig { kind, weight_decay: wd, ..OptimizerConfig::default() }.build(2);
    for _ in 0..steps {
        let g: Vec<f32> = p.iter().zip(c).map(|(p, c)| p - c).collect();
        opt.step(&mut p, &g, 0.1);
    }
    assert_eq!(opt.steps(), steps as u64);
    p
}

#[test]
fn first_steps_by_hand() {
    // SGD: θ = 0 − 0.1·(0 − 1) = 0.1
    assert_eq!(run(OptimizerKind::Sgd, 0.0, 1), vec![0.1, -0.2]);
    // Momentum: v1 = g1, θ1 = 0.1; g2 = 0.1 − 1 = −0.9, v2 = 0.9·(−1) − 0.9 = −1.8, θ2 = 0.1 + 0.18
    let p = run(OptimizerKind::Momentum, 0.0, 2);
    assert!((p[0] - 0.28).abs() < 1e-6, "{p:?}");
    // Nesterov: θ1 = 0 − 0.1·(g + 0.9·g) = 0.19
    let p = run(OptimizerKind::Nesterov, 0.0, 1);
    assert!((p[0] - 0.19).abs() < 1e-6, "{p:?}");
    // Adam's first step is lr·sign(g) (bias-corrected m/√v = ±1).
    let p = run(OptimizerKind::Adam, 0.0, 1);
    assert!((p[0] - 0.1).abs() < 1e-6 && (p[1] + 0.1).abs() < 1e-6, "{p:?}");
}

#[test]
fn split_across_threads_gives_the_same_bits() {
    // Long enough that `split` uses several threads; an odd length leaves a short last range.
    let n = 100_003;
    let run = |kind: OptimizerKind, threads: usize| {
        let (p, parallel) = crate::pool::with_threads(threads, || {
            let mut rng = crate::rng::Rng::new(7);
            let mut p: Vec<f32> = (0..n).map(|_| rng.uniform_f32(-1.0, 1.0)).collect();
            let mut opt = OptimizerConfig { kind, weight_decay: 0.01, ..OptimizerConfig::default() }.build(n);
            for step in 0..3 {
                let g: Vec<f32> =
                    p.iter().enumerate().map(|(i, &x)| x * 0.5 - (i % 7) as f32 * 0.1 + step as f32).collect();
                opt.step(&mut p, &g, 0.05);
            }
            p
        });
        assert!(threads == 1 || parallel == 3, "{kind:?}: {parallel} of 3 steps split across threads");
        p
    };
    for kind in ALL_KINDS {
        let one = run(kind, 1);
        let three = run(kind, 3);
        assert!(one.iter().zip(&three).all(|(a, b)| a.to_bits() == b.to_bits()), "{kind:?}");
        // Every element moved, the last range's included.
        let mut rng = crate::rng::Rng::new(7);
        let start: Vec<f32> = (0..n).map(|_| rng.uniform_f32(-1.0, 1.0)).collect();
        assert!(one.iter().zip(&start).all(|(a, b)| a != b), "{kind:?}");
    }
}

/// The update loops compiled for AVX-512 / AVX2 (whichever this CPU has) give the same
/// bits as the same loops compiled for the baseline target, on a length that leaves a
/// partial vector, for every flag combination.
#[test]
fn vector_update_loops_match_the_baseline_bits() {
    let n = 1_003;
    let mut rng = crate::rng::Rng::new(11);
    let mut draw = |scale: f32| -> Vec<f32> { (0..n).map(|_| rng.uniform_f32(-scale, scale)).collect() };
    let (p0, g, m0, v0) = (draw(1.0), draw(2.0), draw(0.1), draw(1.0).iter().map(|x| x * x).collect::<Vec<_>>());
    let same = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
    for decoupled in [false, true] {
        let c = AdamStep {
            b1: 0.9,
            b2: 0.999,
            step_size: 1e-3 / 0.19,
            inv_sqrt_c2: 1.0 / 0.05f32.sqrt(),
            eps: 1e-8,
            wd: 0.01,
            decay: 1.0 - 1e-5,
            decoupled,
        };
        let (mut p1, mut m1, mut v1) = (p0.clone(), m0.clone(), v0.clone());
        adam_range(c, &mut p1, &g, &mut m1, &mut v1);
        let (mut p2, mut m2, mut v2) = (p0.clone(), m0.clone(), v0.clone());
        widest_simd!(adam_range(c, &mut p2, &g, &mut m2, &mut v2));
        assert!(same(&p1, &p2) && same(&m1, &m2) && same(&v1, &v2), "adam, decoupled {decoupled}");
        assert!(!same(&p1, &p0), "adam moved nothing");
    }
    for (first, nesterov) in [(true, true), (true, false), (false, true), (false, false)] {
        let (mut p1, mut v1) = (p0.clone(), m0.clone());
        momentum_range(0.05, 0.9, 0.01, first, nesterov, &mut p1, &g, &mut v1);
        let (mut p2, mut v2) = (p0.clone(), m0.clone());
        widest_simd!(momentum_range(0.05, 0.9, 0.01, first, nesterov, &mut p2, &g, &mut v2));
        assert!(same(&p1, &p2) && same(&v1, &v2), "momentum first {first} nesterov {nesterov}");
    }
    let (mut p1, mut p2) = (p0.clone(), p0.clone());
    sgd_range(0.1, 0.01, &mut p1, &g);
    widest_simd!(sgd_range(0.1, 0.01, &mut p2, &g));
    assert!(same(&p1, &p2), "sgd");
}

/// Adam's coefficients without bias correction or decay: β₁ 0.9, β₂ 0.999, step 10⁻³, ε 10⁻⁸.
fn plain_adam() -> AdamStep {
    AdamStep { b1: 0.9, b2: 0.999, step_size: 1e-3, inv_sqrt_c2: 1.0, eps: 1e-8, wd: 0.0, decay: 1.0, decoupled: false }
}

/// A parameter whose gradient stops: its velocity or moments decay into the subnormal range,
/// where rounding to nearest would keep them for ever (a few units of the last place times
/// 0.9 round back to themselves). The state keeps zero instead, and the parameters move
/// exactly as they would with the subnormals kept.
#[test]
fn a_decayed_state_is_zero_not_subnormal_and_moves_nothing() {
    let g0 = [0.5f32, -3e-3, 2e-6, 7.0];
    let p0 = [0.3f32, -0.2, 1e-3, 2.0];
    let steps = 1_500;
    let grad = |s: usize| if s < 3 { g0 } else { [0.0; 4] };
    let subnormal = |b: &[f32]| b.iter().filter(|x| x.is_subnormal()).count();
    for kind in [OptimizerKind::Momentum, OptimizerKind::Nesterov, OptimizerKind::Adam, OptimizerKind::AdamW] {
        let mut opt = OptimizerConfig { kind, ..OptimizerConfig::default() }.build(4);
        let mut p = p0.to_vec();
        for s in 0..steps {
            opt.step(&mut p, &grad(s), 0.01);
        }
        for (name, buffer) in opt.state() {
            assert_eq!(subnormal(buffer), 0, "{kind} {name}: {buffer:?}");
        }
        let decayed = if kind == OptimizerKind::Adam || kind == OptimizerKind::AdamW { "m" } else { "velocity" };
        let state = opt.state().into_iter().find(|(n, _)| *n == decayed).unwrap().1;
        assert!(state.iter().all(|&x| x == 0.0), "{kind} {decayed}: {state:?}");
    }

    // The rules against the same arithmetic without the flush.
    let c = plain_adam();
    let (mut p1, mut m1, mut v1) = (p0.to_vec(), vec![0.0; 4], vec![0.0; 4]);
    let (mut p2, mut m2, mut v2) = (p0.to_vec(), vec![0.0f32; 4], vec![0.0f32; 4]);
    let (mut q1, mut u1, mut q2, mut u2) = (p0.to_vec(), vec![0.0; 4], p0.to_vec(), vec![0.0f32; 4]);
    for s in 0..steps {
        let g = grad(s);
        adam_range(c, &mut p1, &g, &mut m1, &mut v1);
        momentum_range(0.05, 0.9, 0.0, s == 0, false, &mut q1, &g, &mut u1);
        for i in 0..4 {
            m2[i] = c.b1 * m2[i] + (1.0 - c.b1) * g[i];
            v2[i] = c.b2 * v2[i] + (1.0 - c.b2) * g[i] * g[i];
            p2[i] -= c.step_size * m2[i] / (v2[i].sqrt() * c.inv_sqrt_c2 + c.eps);
            u2[i] = if s == 0 { g[i] } else { 0.9 * u2[i] + g[i] };
            q2[i] -= 0.05 * u2[i];
        }
    }
    let bits = |b: &[f32]| b.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&p1), bits(&p2), "adam's parameters");
    assert_eq!(bits(&q1), bits(&q2), "momentum's parameters");
    assert_eq!(bits(&v1), bits(&v2), "adam's second moment (not decayed this far)");
    assert!(m1.iter().chain(&u1).all(|&x| x == 0.0), "{m1:?} {u1:?}");
    assert_eq!((subnormal(&m2), subnormal(&u2)), (4, 4), "without the flush the state sticks: {m2:?} {u2:?}");
    assert!(p1.iter().zip(p0).all(|(a, b)| *a != b), "the first steps moved every parameter");
}

#[test]
fn all_converge_on_a_quadratic() {
    for kind in ALL_KINDS {
        let p = run(kind, 0.0, 500);
        assert!((p[0] - 1.0).abs() < 1e-3 && (p[1] + 2.0).abs() < 1e-3, "{kind}: {p:?}");
    }
    // Weight decay pulls the optimum towards zero: ½‖θ−c‖² + ½wd‖θ‖² has θ* = c/(1+wd).
    let p = run(OptimizerKind::Sgd, 1.0, 500);
    assert!((p[0] - 0.5).abs() < 1e-3, "{p:?}");
}

#[test]
fn state_round_trip_and_names() {
    let mut a = OptimizerConfig { kind: OptimizerKind::Adam, ..OptimizerConfig::default() }.build(3);
    let mut p = vec![1.0; 3];
    a.step(&mut p, &[0.1, 0.2, 0.3], 0.01);
    let saved: Vec<(String, Vec<f32>)> = a.state().iter().map(|(n, d)| (n.to_string(), d.to_vec())).collect();
    let mut b = OptimizerConfig { kind: OptimizerKind::Adam, ..OptimizerConfig::default() }.build(3);
    for (n, d) in &saved {
        b.load_state(n, d).unwrap();
    }
    b.set_steps(a.steps());
    let (mut pa, mut pb) = (p.clone(), p);
    a.step(&mut pa, &[0.3, 0.2, 0.1], 0.01);
    b.step(&mut pb, &[0.3, 0.2, 0.1], 0.01);
    assert_eq!(pa, pb);
    assert!(b.load_state("nope", &[]).is_err());
    assert!(b.load_state("m", &[0.0; 2]).is_err());
    for name in OptimizerKind::NAMES.split(", ") {
        assert_eq!(name.parse::<OptimizerKind>().unwrap().to_string(), name);
    }
    assert!("rmsprop".parse::<OptimizerKind>().is_err());
}

/// The MXCSR status flags of this thread, cleared by `clear` (the control bits, rounding and
/// flush modes, are left as they are).
#[cfg(target_arch = "x86_64")]
fn mxcsr_flags(clear: bool) -> u32 {
    let mut csr = 0u32;
    // SAFETY: `stmxcsr` stores the 4-byte register into `csr`; `ldmxcsr` loads it back with
    // only the sticky exception flags (bits 0–5) cleared, which no code relies on.
    unsafe {
        std::arch::asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack));
        if clear {
            let cleared = csr & !0x3f;
            std::arch::asm!("ldmxcsr [{}]", in(reg) &cleared, options(nostack, readonly));
        }
    }
    csr & 0x3f
}

/// A moment or velocity just above the subnormal range (where a dead unit's decays through,
/// and which [`super::rule`]'s flush keeps) times the learning rate would be subnormal: the
/// step leaves such a parameter as the full arithmetic would (the update is below half a
/// unit in its last place) without computing that subnormal, which an Intel core takes a
/// microcode assist for. The x86 underflow flag (MXCSR bit 4) says whether one was made.
#[cfg(target_arch = "x86_64")]
#[test]
fn a_step_too_small_to_move_a_parameter_makes_no_subnormal() {
    const UNDERFLOW: u32 = 1 << 4;
    let tiny = 2f32.powi(-120);
    let p0 = vec![0.5f32, -1.25, 3e-3, 2.0, 0.5, -1.25, 3e-3, 2.0, 0.5, -1.25, 3e-3, 2.0, 0.5, -1.25, 3e-3, 2.0, 7.0];
    let n = p0.len();
    let g = vec![0.0f32; n];
    let c = plain_adam();
    for width in ["plain", "widest"] {
        let (mut pa, mut m, mut v) = (p0.clone(), vec![tiny; n], vec![0.0f32; n]);
        let (mut pm, mut vel) = (p0.clone(), vec![tiny; n]);
        let mut ps = p0.clone();
        let gs = vec![tiny; n];
        mxcsr_flags(true);
        // The learning rate as training has it, a value known only at run time: a constant
        // lets the compiler fold `lr · 0` and compute `lr · x` before choosing.
        let (c, lr) = (std::hint::black_box(c), std::hint::black_box(1e-3f32));
        if width == "plain" {
            adam_range(c, &mut pa, &g, &mut m, &mut v);
            momentum_range(lr, 0.9, 0.0, false, false, &mut pm, &g, &mut vel);
            sgd_range(lr, 0.0, &mut ps, &gs);
        } else {
            widest_simd!(adam_range(c, &mut pa, &g, &mut m, &mut v));
            widest_simd!(momentum_range(lr, 0.9, 0.0, false, false, &mut pm, &g, &mut vel));
            widest_simd!(sgd_range(lr, 0.0, &mut ps, &gs));
        }
        let flags = mxcsr_flags(false);
        assert_eq!(flags & UNDERFLOW, 0, "{width}: a subnormal was computed (MXCSR flags {flags:#x})");
        for (name, p) in [("adam", &pa), ("momentum", &pm), ("sgd", &ps)] {
            assert_eq!(p, &p0, "{width} {name}: a parameter moved");
        }
        // The state itself still decays as before (normal values, not flushed).
        assert!(m.iter().chain(&vel).all(|&x| x == 0.9 * tiny), "{width}: {m:?} {vel:?}");
    }
}
