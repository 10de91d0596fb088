//! One dense layer with quantised weights: [`Int8Linear`] (int8, a scale per output channel)
//! and [`Bf16Linear`] (bfloat16), each with its f32 bias and its weights packed once for
//! the kernel.

use super::bf16;
use super::int8::{PackedWeights, W_MAX};
use super::precision::quantize_weights;
use crate::error::{Error, Result};
use crate::matrix::MatRef;

/// One dense layer with int8 weights: `q: [out, in]`, per-output scales and an f32 bias,
/// and the same weights packed for the kernel.
#[derive(Debug, Clone, PartialEq)]
pub struct Int8Linear {
    pub(super) inputs: usize,
    pub(super) outputs: usize,
    pub(super) weight: Vec<i8>,
    pub(super) scale: Vec<f32>,
    pub(super) bias: Vec<f32>,
    pub(super) packed: PackedWeights,
}

impl Int8Linear {
    /// A layer from its parts: `weight: [outputs, inputs]` in `−127..=127`, `scale: [outputs]`
    /// (finite, > 0), `bias: [outputs]`. The error names the part that does not fit.
    pub fn new(inputs: usize, outputs: usize, weight: Vec<i8>, scale: Vec<f32>, bias: Vec<f32>) -> Result<Self> {
        if weight.len() != inputs * outputs {
            return Err(Error::Length { what: "int8 weight", expected: inputs * outputs, got: weight.len() });
        }
        if scale.len() != outputs {
            return Err(Error::Length { what: "weight scale", expected: outputs, got: scale.len() });
        }
        if bias.len() != outputs {
            return Err(Error::Length { what: "bias", expected: outputs, got: bias.len() });
        }
        if let Some(&v) = weight.iter().find(|&&v| i32::from(v).abs() > W_MAX) {
            return Err(Error::Invalid {
                name: "int8 weight",
                value: v.to_string(),
                reason: format!("quantised weights lie in −{W_MAX}..={W_MAX}"),
            });
        }
        if let Some(&s) = scale.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(Error::Invalid {
                name: "weight scale",
                value: s.to_string(),
                reason: "must be finite and > 0".into(),
            });
        }
        let packed = PackedWeights::new(&weight, outputs, inputs);
        Ok(Self { inputs, outputs, weight, scale, bias, packed })
    }

    /// Quantises an f32 layer: `w: [outputs, inputs]`, `b: [outputs]`.
    pub fn quantize(w: MatRef<'_>, b: &[f32]) -> Self {
        let (outputs, inputs) = w.shape();
        let dense = w.to_matrix();
        let (q, scale) = quantize_weights(dense.as_slice(), outputs, inputs);
        Self::new(inputs, outputs, q, scale, b.to_vec()).expect("quantize_weights gives valid parts")
    }

    /// Input width.
    pub fn inputs(&self) -> usize {
        self.inputs
    }

    /// Output width.
    pub fn outputs(&self) -> usize {
        self.outputs
    }

    /// The int8 weights, `[outputs, inputs]`.
    pub fn weight(&self) -> &[i8] {
        &self.weight
    }

    /// The per-output scales.
    pub fn scale(&self) -> &[f32] {
        &self.scale
    }

    /// The bias.
    pub fn bias(&self) -> &[f32] {
        &self.bias
    }

    /// The weights as f32 (`q · s`), `[outputs, inputs]`.
    pub fn dequantized_weight(&self) -> Vec<f32> {
        let k = self.inputs.max(1);
        self.weight.iter().enumerate().map(|(i, &q)| f32::from(q) * self.scale[i / k]).collect()
    }
}

/// One dense layer with bfloat16 weights `[out, in]` and an f32 bias.
#[derive(Debug, Clone, PartialEq)]
pub struct Bf16Linear {
    pub(super) inputs: usize,
    pub(super) outputs: usize,
    pub(super) weight: Vec<u16>,
    pub(super) bias: Vec<f32>,
    pub(super) packed: bf16::PackedBf16,
}

impl Bf16Linear {
    /// A layer from its parts: `weight: [outputs, inputs]` (bf16 bits), `bias: [outputs]`.
    pub fn new(inputs: usize, outputs: usize, weight: Vec<u16>, bias: Vec<f32>) -> Result<Self> {
        if weight.len() != inputs * outputs {
            return Err(Error::Length { what: "bf16 weight", expected: inputs * outputs, got: weight.len() });
        }
        if bias.len() != outputs {
            return Err(Error::Length { what: "bias", expected: outputs, got: bias.len() });
        }
        let packed = bf16::PackedBf16::new(&weight, outputs, inputs);
        Ok(Self { inputs, outputs, weight, bias, packed })
    }

    /// Input width.
    pub fn inputs(&self) -> usize {
        self.inputs
    }

    /// Output width.
    pub fn outputs(&self) -> usize {
        self.outputs
    }

    /// The weights' bf16 bits, `[outputs, inputs]`.
    pub fn weight(&self) -> &[u16] {
        &self.weight
    }

    /// The bias.
    pub fn bias(&self) -> &[f32] {
        &self.bias
    }
}
