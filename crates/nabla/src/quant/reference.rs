//! The quantised layers in plain loops: slow and obviously right, the truth the packed
//! kernels are tested against, bit for bit. int8: integer sums have no rounding, and the
//! write-back is the same formula. bf16: the loops round where `vdpbf16ps` rounds, in the
//! same order.

use super::int8::{dequantise, quantize_value, row_scale, RowScale};
use super::{bf16_to_f32, f32_to_bf16, Bf16Linear, Int8Linear};
use crate::activation::Activation;
use crate::matrix::MatRef;

/// `acc[i, j] = Σ_k u[i, k] · q[j, k]` for `u: [m, k]` (u8) and `q: [n, k]` (i8), row-major.
pub fn matmul_i32(u: &[u8], q: &[i8], m: usize, n: usize, k: usize) -> Vec<i32> {
    assert!(u.len() == m * k && q.len() == n * k, "operands are not m × k and n × k");
    let mut acc = vec![0i32; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut sum = 0i32;
            for p in 0..k {
                sum += i32::from(u[i * k + p]) * i32::from(q[j * k + p]);
            }
            acc[i * n + j] = sum;
        }
    }
    acc
}

/// Quantises each row of `x: [m, k]` onto `0..=127`: the values `[m, k]` and each row's
/// scale and zero point.
pub(crate) fn quantize_rows(x: MatRef<'_>) -> (Vec<u8>, Vec<RowScale>) {
    let mut u = Vec::with_capacity(x.rows() * x.cols());
    let mut scales = Vec::with_capacity(x.rows());
    for i in 0..x.rows() {
        let rs = row_scale(x.row(i));
        let (inv, zero) = (1.0 / rs.scale, rs.zero as f32);
        u.extend(x.row(i).iter().map(|&v| quantize_value(v, inv, zero)));
        scales.push(rs);
    }
    (u, scales)
}

/// One quantised layer, `y = f(x · Wᵀ + b)` with `x: [m, k]` quantised per row and `W` the
/// layer's int8 weights: `[m, n]`, row-major.
pub fn linear(x: MatRef<'_>, layer: &Int8Linear, activation: Activation) -> Vec<f32> {
    let (m, k, n) = (x.rows(), layer.inputs(), layer.outputs());
    assert_eq!(x.cols(), k, "input width");
    let (u, rows) = quantize_rows(x);
    let acc = matmul_i32(&u, layer.weight(), m, n, k);
    let mut y = vec![0.0f32; m * n];
    for i in 0..m {
        for j in 0..n {
            let col_sum: i32 = layer.weight()[j * k..(j + 1) * k].iter().map(|&q| i32::from(q)).sum();
            let v = dequantise(acc[i * n + j], rows[i], col_sum, layer.scale()[j], layer.bias()[j]);
            y[i * n + j] = match activation {
                Activation::Identity => v,
                Activation::Relu => v.max(0.0),
                other => other.apply(v),
            };
        }
    }
    y
}

/// `x` with a denormal read as a zero of its sign (what AVX-512-BF16 does to its inputs and
/// results).
fn flush(x: f32) -> f32 {
    if x.is_subnormal() {
        0.0f32.copysign(x)
    } else {
        x
    }
}

/// An activation as the bf16 kernel rounds it: to nearest even, a denormal to a signed zero
/// (`vcvtne2ps2bf16`).
pub fn bf16_activation(x: f32) -> f32 {
    bf16_to_f32(f32_to_bf16(flush(x)))
}

/// One bf16 layer, `y = f(x · Wᵀ + b)` with `x: [m, k]` rounded to bf16 and `W` the layer's
/// bf16 weights: `[m, n]`, row-major. The sums follow `vdpbf16ps` step by step: k in pairs
/// (a zero pads an odd k), the odd product added first, then the even one, each product
/// exact and each sum rounded once (a fused multiply-add), denormal inputs and results
/// flushed to zero; then the bias, then `f`.
pub fn bf16_linear(x: MatRef<'_>, layer: &Bf16Linear, activation: Activation) -> Vec<f32> {
    let (m, k, n) = (x.rows(), layer.inputs(), layer.outputs());
    assert_eq!(x.cols(), k, "input width");
    let pairs = k.div_ceil(2);
    let mut y = vec![0.0f32; m * n];
    for i in 0..m {
        let a: Vec<f32> = (0..2 * pairs).map(|p| if p < k { bf16_activation(x.get(i, p)) } else { 0.0 }).collect();
        for j in 0..n {
            let w = |p: usize| if p < k { flush(bf16_to_f32(layer.weight()[j * k + p])) } else { 0.0 };
            let mut acc = 0.0f32;
            for g in 0..pairs {
                acc = flush(a[2 * g + 1].mul_add(w(2 * g + 1), acc));
                acc = flush(a[2 * g].mul_add(w(2 * g), acc));
            }
            let v = acc + layer.bias()[j];
            y[i * n + j] = match activation {
                Activation::Identity => v,
                Activation::Relu => v.max(0.0),
                other => other.apply(v),
            };
        }
    }
    y
}
