//! The number formats of a quantised model ([`Precision`]) and the conversions of f32 values
//! into them: bf16 rounding and symmetric per-channel int8 quantisation.

use std::fmt;

use super::int8::W_MAX;
use crate::error::{Error, Result};

/// The number format of a quantised model's weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// 8-bit integers, a scale per output channel; activations quantised to 7 bits per row.
    Int8,
    /// bfloat16 weights; activations rounded to bf16 and f32 sums with AVX-512-BF16, else
    /// the weights widened to f32.
    Bf16,
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Precision::Int8 => "int8",
            Precision::Bf16 => "bf16",
        })
    }
}

impl std::str::FromStr for Precision {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "int8" | "i8" => Ok(Precision::Int8),
            "bf16" | "bfloat16" => Ok(Precision::Bf16),
            _ => Err(Error::Parse { what: "precision", input: s.to_string(), reason: "expected int8 or bf16".into() }),
        }
    }
}

/// `x` rounded to bfloat16, to nearest with ties to even; NaN stays a (quiet) NaN.
pub fn f32_to_bf16(x: f32) -> u16 {
    let bits = x.to_bits();
    if x.is_nan() {
        return ((bits >> 16) as u16) | 0x0040;
    }
    // Adding 0x7FFF plus the lowest kept bit rounds the dropped half to nearest, ties to even.
    let rounded = bits + 0x7FFF + ((bits >> 16) & 1);
    (rounded >> 16) as u16
}

/// The f32 value of a bfloat16 (exact).
pub fn bf16_to_f32(b: u16) -> f32 {
    f32::from_bits(u32::from(b) << 16)
}

/// Symmetric per-row (per output channel) int8 quantisation of `w: [n, k]`: the values and
/// each row's scale `max |w| / 127` (1 for an all-zero row).
pub fn quantize_weights(w: &[f32], n: usize, k: usize) -> (Vec<i8>, Vec<f32>) {
    assert_eq!(w.len(), n * k, "weights are not n × k");
    let mut q = Vec::with_capacity(n * k);
    let mut scales = Vec::with_capacity(n);
    for row in w.chunks_exact(k.max(1)).take(n) {
        let max = row.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let scale = if max > 0.0 && max.is_finite() { max / W_MAX as f32 } else { 1.0 };
        q.extend(row.iter().map(|&v| (v / scale).round().clamp(-W_MAX as f32, W_MAX as f32) as i8));
        scales.push(scale);
    }
    if k == 0 {
        scales.resize(n, 1.0);
    }
    (q, scales)
}
