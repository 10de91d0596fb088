//! Quantised inference: a trained [`Mlp`](crate::Mlp) with int8 or bf16 weights, and the
//! kernels that run it.
//!
//! **int8.** Weights are quantised symmetrically per output channel, `w[j, k] ≈ s_j · q[j, k]`
//! with `q` in `−127..=127` and `s_j = max_k |w[j, k]| / 127`. The input of every layer is
//! quantised per row (per example) when the layer runs, onto 7 bits: `x[i, k] ≈ t_i · (u[i, k]
//! − z_i)` with `u` in `0..=127`, the row's range `[lo, hi]` (widened to hold 0) spread over
//! the 128 levels, `t_i = (hi − lo) / 127`, and the zero point `z_i = round(−lo / t_i)`.
//! Pixels and ReLU outputs are ≥ 0, so for them `z_i = 0`. Then
//!
//! ```text
//! y[i, j] = Σ_k x[i, k] w[j, k] + b_j  ≈  t_i · s_j · (Σ_k u[i, k] q[j, k] − z_i · Σ_k q[j, k]) + b_j
//! ```
//!
//! The sum of products is exact in i32 (784 · 127 · 127 < 2³¹), and the column sums `Σ_k q`
//! are computed once when the weights are packed. The micro-kernel is chosen at run time:
//! AVX-512 VNNI's `vpdpbusd` (u8 × i8, four products summed into an i32 lane, an 8 × 32
//! tile) where the CPU has it, else AVX2's `vpmaddubsw` + `vpmaddwd` (4 × 16), else a
//! portable one. Why 7-bit activations and not 8: `vpmaddubsw` adds adjacent u8 × i8
//! products into a saturating i16, and 2 · 127 · 127 = 32,258 fits where 2 · 255 · 127 would
//! not; VNNI would not saturate, but keeping 7 bits there too makes every kernel give the
//! same bits. The row quantisation, and the dequantisation, bias and activation as each tile
//! of sums is written back, are compiled with the kernel's instruction set (AVX-512 code for
//! VNNI).
//!
//! **bf16.** Weights are rounded to bfloat16 (the top 16 bits of an f32, round to nearest
//! even): half the bytes of f32 in the file. With AVX-512-BF16 they are packed in pairs once,
//! when the model is built, every layer's input is rounded to bf16 when the layer runs, and
//! `vdpbf16ps` multiplies pairs of bf16 and adds them into f32 lanes (an 8 × 32 tile), the
//! bias and the activation fused into the write-back. Without it there is nothing faster to
//! compute with, so the weights are widened back to f32 once and run by the f32
//! [`Mlp`](crate::Mlp) forward pass. Biases stay f32 either way.
//!
//! Both run depth first, a block of 64 rows through every layer at a time, and split the
//! batch across threads by rows, so no thread count changes a bit of the result.
//!
//! [`mod@reference`] holds the quantised layers as plain loops; every kernel (VNNI, AVX2 and
//! portable int8, AVX-512-BF16) is tested against it for equal bits.
//!
//! One idea a file: `precision` ([`Precision`] and the conversions of f32 weights into
//! int8 and bf16), `linear` ([`Int8Linear`], [`Bf16Linear`]: one quantised layer each),
//! `model` ([`QuantizedMlp`] and its depth-first forward pass on the pool) and `workspace`
//! ([`QuantWorkspace`]: its buffers); the kernels sit beside them (`int8` with `vnni`, `avx2`
//! and `portable`, and `bf16`).

#[cfg(target_arch = "x86_64")]
mod avx2;
mod bf16;
mod int8;
mod linear;
mod model;
mod portable;
mod precision;
pub mod reference;
#[cfg(target_arch = "x86_64")]
mod vnni;
mod workspace;

pub use int8::{ACT_MAX, W_MAX};
pub use linear::{Bf16Linear, Int8Linear};
pub use model::{dequantize, predict, QuantizedMlp};
pub use precision::{bf16_to_f32, f32_to_bf16, quantize_weights, Precision};
pub use workspace::QuantWorkspace;

#[cfg(test)]
mod tests;
