use proptest::prelude::*;

use super::int8::{self, Isa, PackedWeights, ROW_ALIGN};
use super::model::{bf16_fallback, Layers};
use super::*;
use crate::activation::Activation;
use crate::init::Init;
use crate::matrix::{MatRef, Matrix};
use crate::mlp::{Mlp, MlpSpec};
use crate::rng::Rng;

/// `acc = u · qᵀ` through the packing and a kernel's blocked driver (`u`: `[m, k]` in
/// 0..=127, `q`: `[n, k]`).
fn packed_i32(isa: Isa, u: &[u8], q: &[i8], m: usize, n: usize, k: usize) -> Vec<i32> {
    let w = PackedWeights::new(q, n, k);
    let lda = int8::row_bytes(w.groups);
    // Padding rows hold junk: a kernel may read them but must not let them into a result.
    let mut packed = vec![0x55u8; m.div_ceil(ROW_ALIGN) * ROW_ALIGN * lda];
    for i in 0..m {
        packed[i * lda..(i + 1) * lda].fill(0);
        packed[i * lda..i * lda + k].copy_from_slice(&u[i * k..(i + 1) * k]);
    }
    let mut acc = vec![0i32; m * n];
    // SAFETY: `isa` is the portable kernel or one this CPU has (`kernels`).
    unsafe { isa.sums()(&packed, lda, m, &w, n, &mut acc) };
    acc
}

/// Every int8 kernel this CPU can run, the portable one first.
fn kernels() -> Vec<Isa> {
    [Isa::Portable, Isa::Avx2, Isa::Vnni].into_iter().filter(|isa| isa.available()).collect()
}

fn random_ints(m: usize, n: usize, k: usize, seed: u64) -> (Vec<u8>, Vec<i8>) {
    let mut rng = Rng::new(seed);
    let u = (0..m * k).map(|_| rng.below(ACT_MAX as u64 + 1) as u8).collect();
    let q = (0..n * k).map(|_| (rng.below(2 * W_MAX as u64 + 1) as i32 - W_MAX) as i8).collect();
    (u, q)
}

#[test]
fn kernels_match_the_reference_sums_exactly_at_the_extremes() {
    // Every product at its largest magnitude, both signs: the i16 pair sums must not saturate.
    for (m, n, k) in [(1, 1, 1), (4, 16, 4), (5, 17, 9), (9, 33, 784)] {
        let u = vec![ACT_MAX as u8; m * k];
        for w in [W_MAX as i8, -W_MAX as i8] {
            let q = vec![w; n * k];
            let want = reference::matmul_i32(&u, &q, m, n, k);
            assert!(want.iter().all(|&v| v == k as i32 * ACT_MAX * i32::from(w)));
            for isa in kernels() {
                assert_eq!(packed_i32(isa, &u, &q, m, n, k), want, "{isa:?} {m}×{n}×{k} w={w}");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 150, ..ProptestConfig::default() })]

    /// The packed kernels give the reference's i32 sums bit for bit, on any shape (1×1, odd,
    /// not multiples of the tile or of the k-group).
    #[test]
    fn kernels_match_the_reference_sums(m in 1usize..40, n in 1usize..50, k in 1usize..70, seed in 0u64..1000) {
        let (u, q) = random_ints(m, n, k, seed);
        let want = reference::matmul_i32(&u, &q, m, n, k);
        for isa in kernels() {
            prop_assert_eq!(&packed_i32(isa, &u, &q, m, n, k), &want, "{:?}", isa);
        }
    }

    /// A whole int8 network: the packed forward pass (each kernel, 1 or 2 threads) gives the
    /// reference layers' f32 outputs bit for bit, and stays within the quantisation error of
    /// the f32 network.
    #[test]
    fn int8_forward_matches_the_reference_and_f32(
        batch in 1usize..30, n0 in 1usize..40, n1 in 1usize..40, n2 in 1usize..20,
        hidden in 0usize..3, seed in 0u64..1000,
    ) {
        let hidden = [Activation::Relu, Activation::Tanh, Activation::LeakyRelu { alpha: 0.1 }][hidden];
        let spec = MlpSpec::new(vec![n0, n1, n2], hidden, Activation::Identity).unwrap();
        let mut rng = Rng::new(seed);
        let mlp = Mlp::new(spec.clone(), Init::HeUniform, &mut rng);
        // Inputs of both signs, so the zero points are exercised.
        let x = Matrix::random_uniform(batch, n0, -1.0, 2.0, &mut rng);
        let model = QuantizedMlp::quantize(&mlp, Precision::Int8);
        let layers = model.int8_layers().unwrap();

        let h = reference::linear(x.view(), &layers[0], hidden);
        let want = reference::linear(MatRef::new(&h, batch, n1).unwrap(), &layers[1], Activation::Identity);
        for threads in [1, 2] {
            let (checked, _) = crate::pool::with_threads(threads, || -> Result<(), TestCaseError> {
                let mut ws = QuantWorkspace::new(&model, batch);
                let fast = model.forward(x.view(), &mut ws).unwrap().to_matrix();
                prop_assert_eq!(fast.as_slice(), &want[..]);
                for isa in kernels() {
                    let got = model.forward_with(isa, x.view(), &mut ws).unwrap().to_matrix();
                    prop_assert_eq!(got.as_slice(), &want[..], "{:?}", isa);
                }
                Ok(())
            });
            checked?;
        }

        // Error bound of one layer: |Σ x w − Σ x̂ ŵ| ≤ Σ_k (|x_k| s_j/2 + |ŵ_k| t_i/2), plus f32
        // rounding. Checked on the first layer, before the activation (identity net).
        let one = MlpSpec::new(vec![n0, n1], hidden, Activation::Identity).unwrap();
        let (w, b) = mlp.layer(0);
        let mut params = w.to_matrix().into_vec();
        params.extend_from_slice(b);
        let single = Mlp::from_params(one, params).unwrap();
        let exact = single.predict(x.view()).unwrap();
        let q1 = QuantizedMlp::quantize(&single, Precision::Int8);
        let got = predict(&q1, x.view()).unwrap();
        let l = &q1.int8_layers().unwrap()[0];
        let what = l.dequantized_weight();
        for i in 0..batch {
            let t = int8::row_scale(x.row(i)).scale;
            for j in 0..n1 {
                let mut bound = 0.0f32;
                let mut size = 0.0f32;
                for p in 0..n0 {
                    bound += x.get(i, p).abs() * l.scale()[j] / 2.0 + what[j * n0 + p].abs() * t / 2.0;
                    size += (x.get(i, p) * w.get(j, p)).abs();
                }
                let err = (got.get(i, j) - exact.get(i, j)).abs();
                prop_assert!(err <= bound * 1.01 + 1e-5 * (size + 1.0), "({}, {}): {} > {}", i, j, err, bound);
            }
        }
    }

    /// bf16 rounding is to the nearest representable value (ties to even): the error is at
    /// most half a bf16 step, and every bf16 value converts back to itself.
    #[test]
    fn bf16_rounds_to_nearest(x in -1e30f32..1e30f32) {
        let b = f32_to_bf16(x);
        let y = bf16_to_f32(b);
        prop_assert_eq!(f32_to_bf16(y), b);
        let step = bf16_to_f32(b.wrapping_add(1)) - y;
        prop_assert!((x - y).abs() <= step.abs() / 2.0, "{} -> {}", x, y);
    }
}

#[test]
fn bf16_ties_go_to_even_and_specials_survive() {
    assert_eq!(f32_to_bf16(1.0), 0x3F80);
    assert_eq!(f32_to_bf16(-2.0), 0xC000);
    // Exactly half way: to the even neighbour, down from 0x3F80 and up from 0x3F81.
    assert_eq!(f32_to_bf16(f32::from_bits(0x3F80_8000)), 0x3F80);
    assert_eq!(f32_to_bf16(f32::from_bits(0x3F81_8000)), 0x3F82);
    assert_eq!(f32_to_bf16(f32::from_bits(0x3F80_8001)), 0x3F81);
    assert_eq!(f32_to_bf16(f32::INFINITY), 0x7F80);
    assert_eq!(f32_to_bf16(f32::MAX), 0x7F80, "rounds past the largest bf16 to infinity");
    assert!(bf16_to_f32(f32_to_bf16(f32::NAN)).is_nan());
    assert_eq!(bf16_to_f32(0x3F80), 1.0);
}

#[test]
fn weights_use_the_full_range_per_channel() {
    let w = [0.3f32, -1.0, 0.25, 0.0, 0.0, 0.0, 2.0, 0.6, -0.5];
    let (q, s) = quantize_weights(&w, 3, 3);
    assert_eq!(&q[..3], &[38, -127, 32]);
    assert_eq!(&q[3..6], &[0, 0, 0]);
    assert_eq!(&q[6..], &[127, 38, -32]);
    assert_eq!(s, vec![1.0 / 127.0, 1.0, 2.0 / 127.0]);
}

#[test]
fn row_scales_keep_zero_exact() {
    // Pixels (≥ 0): zero point 0, full ink at the top level.
    let rs = int8::row_scale(&[0.0, 0.5, 1.0]);
    assert_eq!((rs.scale, rs.zero), (1.0 / 127.0, 0));
    // A row with negatives: 0 falls on a level.
    let rs = int8::row_scale(&[-1.0, 0.0, 3.0]);
    assert_eq!(rs.zero, 32);
    assert_eq!(int8::quantize_value(0.0, 1.0 / rs.scale, rs.zero as f32), 32);
    assert_eq!(int8::quantize_value(-1.0, 1.0 / rs.scale, rs.zero as f32), 0);
    assert_eq!(int8::quantize_value(3.0, 1.0 / rs.scale, rs.zero as f32), 127);
    // All zero.
    assert_eq!(int8::row_scale(&[0.0; 5]), int8::RowScale { scale: 1.0, zero: 0 });
}

#[test]
fn bad_int8_parts_are_named() {
    let err = Int8Linear::new(2, 1, vec![1, -128], vec![1.0], vec![0.0]).unwrap_err().to_string();
    assert!(err.contains("-128") && err.contains("int8 weight"), "{err}");
    let err = Int8Linear::new(2, 1, vec![1, 2], vec![0.0], vec![0.0]).unwrap_err().to_string();
    assert!(err.contains("weight scale"), "{err}");
    let err = Int8Linear::new(2, 2, vec![1, 2], vec![1.0, 1.0], vec![0.0, 0.0]).unwrap_err().to_string();
    assert!(err.contains("expected 4 values, got 2"), "{err}");
    let spec = MlpSpec::new(vec![3, 1], Activation::Relu, Activation::Identity).unwrap();
    let layer = Int8Linear::new(2, 1, vec![1, 2], vec![1.0], vec![0.0]).unwrap();
    assert!(QuantizedMlp::from_int8(spec, vec![layer]).is_err());
}

/// A bf16 model that runs on the widened f32 network whatever the CPU (the fallback path).
fn widened_bf16(model: &QuantizedMlp) -> QuantizedMlp {
    let layers = model.bf16_layers().unwrap().to_vec();
    let widened = bf16_fallback(model.spec(), &layers, false).unwrap();
    QuantizedMlp { spec: model.spec().clone(), layers: Layers::Bf16(layers, widened) }
}

#[test]
fn bf16_fallback_runs_the_widened_weights() {
    let spec = MlpSpec::new(vec![5, 7, 3], Activation::Relu, Activation::Identity).unwrap();
    let mlp = Mlp::new(spec, Init::HeUniform, &mut Rng::new(3));
    let model = widened_bf16(&QuantizedMlp::quantize(&mlp, Precision::Bf16));
    assert_eq!(model.weight_bytes(), 2 * (5 * 7 + 7 * 3));
    let x = Matrix::random_uniform(4, 5, 0.0, 1.0, &mut Rng::new(4));
    let got = predict(&model, x.view()).unwrap();
    let widened = dequantize(&model);
    assert_eq!(got, widened.predict(x.view()).unwrap());
    let close = mlp.predict(x.view()).unwrap().max_abs_diff(&got).unwrap();
    assert!(close < 0.05, "{close}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 100, ..ProptestConfig::default() })]

    /// The bf16 kernel (where the CPU has AVX-512-BF16) gives the reference layers' outputs
    /// bit for bit at 1 and 2 threads, on any shape (odd k, n not a multiple of 16, a batch
    /// not a multiple of the tile), and stays close to the f32 network.
    #[test]
    fn bf16_forward_matches_the_reference(
        batch in 1usize..40, n0 in 1usize..70, n1 in 1usize..50, n2 in 1usize..20,
        hidden in 0usize..3, seed in 0u64..1000,
    ) {
        let hidden = [Activation::Relu, Activation::Tanh, Activation::LeakyRelu { alpha: 0.1 }][hidden];
        let spec = MlpSpec::new(vec![n0, n1, n2], hidden, Activation::Identity).unwrap();
        let mut rng = Rng::new(seed);
        let mlp = Mlp::new(spec.clone(), Init::HeUniform, &mut rng);
        let x = Matrix::random_uniform(batch, n0, -1.0, 2.0, &mut rng);
        let model = QuantizedMlp::quantize(&mlp, Precision::Bf16);
        let layers = model.bf16_layers().unwrap();
        let h = reference::bf16_linear(x.view(), &layers[0], hidden);
        let want = reference::bf16_linear(MatRef::new(&h, batch, n1).unwrap(), &layers[1], Activation::Identity);
        if bf16::available() {
            for threads in [1, 2] {
                let (got, _) = crate::pool::with_threads(threads, || {
                    let mut ws = QuantWorkspace::new(&model, batch);
                    model.forward(x.view(), &mut ws).unwrap().to_matrix()
                });
                prop_assert_eq!(got.as_slice(), &want[..]);
            }
        }
        // Both paths, and the reference, stay within bf16's rounding of the f32 network:
        // each of the two roundings (weights, activations) moves a product by ≤ 2⁻⁹ of it.
        let exact = mlp.predict(x.view()).unwrap();
        let fallback = predict(&widened_bf16(&model), x.view()).unwrap();
        let scale = 1.0 + exact.as_slice().iter().fold(0.0f32, |m, v| m.max(v.abs()));
        for (got, name) in [(&want[..], "reference"), (fallback.as_slice(), "fallback")] {
            let err = exact.as_slice().iter().zip(got).fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
            prop_assert!(err <= 0.05 * scale, "{}: {} (scale {})", name, err, scale);
        }
    }
}

#[test]
fn bf16_kernel_flushes_denormals_as_the_reference_does() {
    if !bf16::available() {
        return;
    }
    // Inputs and products at and below f32's smallest normal, both signs.
    let spec = MlpSpec::new(vec![3, 2], Activation::Relu, Activation::Identity).unwrap();
    let tiny = f32::MIN_POSITIVE;
    let w = [1e-20f32, -1e-20, 1.0, 1e-39, 2.0, -1.0];
    let bits: Vec<u16> = w.iter().map(|&v| f32_to_bf16(v)).collect();
    let layer = Bf16Linear::new(3, 2, bits, vec![0.0, -0.0]).unwrap();
    let model = QuantizedMlp::from_bf16(spec, vec![layer.clone()]).unwrap();
    let x =
        Matrix::from_vec(3, 3, vec![1e-20, 1e-20, 0.0, tiny / 4.0, -tiny, tiny * 1.5, -1e-20, 1e-20, -0.0]).unwrap();
    let want = reference::bf16_linear(x.view(), &layer, Activation::Identity);
    let got = predict(&model, x.view()).unwrap();
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(got.as_slice()), bits(&want));
}

#[test]
fn forward_rejects_the_wrong_width() {
    let spec = MlpSpec::new(vec![4, 2], Activation::Relu, Activation::Identity).unwrap();
    let model = QuantizedMlp::quantize(&Mlp::zeros(spec), Precision::Int8);
    let x = Matrix::zeros(1, 3);
    let err = predict(&model, x.view()).unwrap_err().to_string();
    assert!(err.contains("1×3"), "{err}");
}

/// Which quantised kernels ran, said and checked against the CPU's flags from
/// `/proc/cpuinfo` (see the GEMM's `kernel_report_…` test): int8 VNNI and AVX2, and the bf16
/// `vdpbf16ps` kernel, each tested where the CPU has it, printed as untested where it lacks it.
#[cfg(target_os = "linux")]
#[test]
#[allow(clippy::print_stdout)] // the report is the point: CI shows it with --nocapture
fn kernel_report_every_quantised_kernel_the_cpu_can_run_is_tested() {
    let flags = crate::simd::cpu_flags();
    let has = |f: &str| flags.contains(f);
    let expected = [
        (Isa::Vnni.name(), has("avx512f") && has("avx512bw") && has("avx512_vnni"), kernels().contains(&Isa::Vnni)),
        (Isa::Avx2.name(), has("avx2"), kernels().contains(&Isa::Avx2)),
        ("avx512 bf16 vdpbf16ps", has("avx512f") && has("avx512_bf16"), bf16::available()),
    ];
    let tested: Vec<&str> = expected.iter().filter(|e| e.2).map(|e| e.0).collect();
    let untested: Vec<&str> = expected.iter().filter(|e| !e.1).map(|e| e.0).collect();
    println!(
        "quantised kernels tested on this CPU: {tested:?} and portable; untested (the CPU lacks them): {untested:?}"
    );
    for (name, can, runs) in expected {
        assert_eq!(runs, can, "{name}: the CPU can run it: {can}; the tests run it: {runs}");
    }
}
