//! Quantised inference: a trained [`Mlp`] with int8 or bf16 weights, and the kernels that
//! run it.
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
//! compute with, so the weights are widened back to f32 once and run by the f32 [`Mlp`]
//! forward pass. Biases stay f32 either way.
//!
//! Both run depth first, a block of 64 rows through every layer at a time, and split the
//! batch across threads by rows, so no thread count changes a bit of the result.
//!
//! [`reference`] holds the quantised layers as plain loops; every kernel (VNNI, AVX2 and
//! portable int8, AVX-512-BF16) is tested against it for equal bits.

#[cfg(target_arch = "x86_64")]
mod avx2;
mod bf16;
mod int8;
mod portable;
pub mod reference;
#[cfg(target_arch = "x86_64")]
mod vnni;

use std::fmt;

use crate::error::{Error, Result};
use crate::matrix::{MatRef, Matrix};
use crate::mlp::{Mlp, MlpSpec, Workspace};
use crate::pool::SharedMut;

use int8::{row_bytes, ActBuf, Epilogue, PackedWeights, RowScale, ROW_ALIGN};
pub use int8::{ACT_MAX, W_MAX};

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

/// One dense layer with int8 weights: `q: [out, in]`, per-output scales and an f32 bias,
/// and the same weights packed for the kernel.
#[derive(Debug, Clone, PartialEq)]
pub struct Int8Linear {
    inputs: usize,
    outputs: usize,
    weight: Vec<i8>,
    scale: Vec<f32>,
    bias: Vec<f32>,
    packed: PackedWeights,
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
    inputs: usize,
    outputs: usize,
    weight: Vec<u16>,
    bias: Vec<f32>,
    packed: bf16::PackedBf16,
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

/// The layers of a quantised model.
#[derive(Debug, Clone, PartialEq)]
enum Layers {
    Int8(Vec<Int8Linear>),
    /// The bf16 layers, and the f32 network they widen to where that is what runs (no
    /// AVX-512-BF16 on this CPU); `None` where the bf16 kernel runs them.
    Bf16(Vec<Bf16Linear>, Option<Mlp>),
}

/// An MLP with quantised weights, for inference.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizedMlp {
    spec: MlpSpec,
    layers: Layers,
}

impl QuantizedMlp {
    /// Quantises a trained network.
    pub fn quantize(mlp: &Mlp, precision: Precision) -> Self {
        let spec = mlp.spec().clone();
        let count = mlp.layers().len();
        let layers = match precision {
            Precision::Int8 => Layers::Int8(
                (0..count)
                    .map(|l| {
                        let (w, b) = mlp.layer(l);
                        Int8Linear::quantize(w, b)
                    })
                    .collect(),
            ),
            Precision::Bf16 => {
                let bf16: Vec<Bf16Linear> = (0..count)
                    .map(|l| {
                        let (w, b) = mlp.layer(l);
                        let bits = w.to_matrix().as_slice().iter().map(|&v| f32_to_bf16(v)).collect();
                        Bf16Linear::new(w.cols(), w.rows(), bits, b.to_vec()).expect("shapes of the source layer")
                    })
                    .collect();
                let widened = bf16_fallback(&spec, &bf16, bf16::available()).expect("shapes of the source network");
                Layers::Bf16(bf16, widened)
            }
        };
        Self { spec, layers }
    }

    /// A model from int8 layers, which must chain `spec`'s widths.
    pub fn from_int8(spec: MlpSpec, layers: Vec<Int8Linear>) -> Result<Self> {
        check_widths(&spec, layers.iter().map(|l| (l.inputs, l.outputs)))?;
        Ok(Self { spec, layers: Layers::Int8(layers) })
    }

    /// A model from bf16 layers, which must chain `spec`'s widths.
    pub fn from_bf16(spec: MlpSpec, layers: Vec<Bf16Linear>) -> Result<Self> {
        check_widths(&spec, layers.iter().map(|l| (l.inputs, l.outputs)))?;
        let widened = bf16_fallback(&spec, &layers, bf16::available())?;
        Ok(Self { spec, layers: Layers::Bf16(layers, widened) })
    }

    /// The architecture.
    pub fn spec(&self) -> &MlpSpec {
        &self.spec
    }

    /// The weights' number format.
    pub fn precision(&self) -> Precision {
        match self.layers {
            Layers::Int8(_) => Precision::Int8,
            Layers::Bf16(..) => Precision::Bf16,
        }
    }

    /// The int8 layers (`None` for a bf16 model).
    pub fn int8_layers(&self) -> Option<&[Int8Linear]> {
        match &self.layers {
            Layers::Int8(l) => Some(l),
            Layers::Bf16(..) => None,
        }
    }

    /// The bf16 layers (`None` for an int8 model).
    pub fn bf16_layers(&self) -> Option<&[Bf16Linear]> {
        match &self.layers {
            Layers::Bf16(l, _) => Some(l),
            Layers::Int8(_) => None,
        }
    }

    /// Bytes of weights and scales as stored (biases excluded).
    pub fn weight_bytes(&self) -> usize {
        match &self.layers {
            Layers::Int8(l) => l.iter().map(|l| l.weight.len() + 4 * l.scale.len()).sum(),
            Layers::Bf16(l, _) => l.iter().map(|l| 2 * l.weight.len()).sum(),
        }
    }

    /// The micro-kernel a forward pass of this precision uses on this CPU, e.g.
    /// `"avx512 vnni vpdpbusd 8x32"` or `"avx2 vpmaddubsw 4x16"` for int8,
    /// `"avx512 bf16 vdpbf16ps 8x32"` for bf16 (or, without AVX-512-BF16, the f32 GEMM's
    /// kernel that runs the widened weights).
    pub fn kernel_name(precision: Precision) -> &'static str {
        match precision {
            Precision::Int8 => int8::selected().name(),
            Precision::Bf16 if bf16::available() => bf16::KERNEL_NAME,
            Precision::Bf16 => crate::gemm::fast::micro_kernel_name(),
        }
    }

    /// The forward pass. `x: [B, n_0]`; returns the output `[B, n_L]`, a view into `ws`.
    /// Allocates nothing once `ws` has seen a batch this large.
    pub fn forward<'w>(&self, x: MatRef<'_>, ws: &'w mut QuantWorkspace) -> Result<MatRef<'w>> {
        self.forward_with(int8::selected(), x, ws)
    }

    /// [`QuantizedMlp::forward`] on the portable int8 kernel (for tests and comparisons).
    pub fn forward_portable<'w>(&self, x: MatRef<'_>, ws: &'w mut QuantWorkspace) -> Result<MatRef<'w>> {
        self.forward_with(int8::Isa::Portable, x, ws)
    }

    fn forward_with<'w>(&self, isa: int8::Isa, x: MatRef<'_>, ws: &'w mut QuantWorkspace) -> Result<MatRef<'w>> {
        if x.cols() != self.spec.inputs() {
            return Err(Error::Shape {
                op: "quantized mlp forward",
                left: format!("input {}×{}", x.rows(), x.cols()),
                right: format!("network {}", self.spec),
            });
        }
        if let Layers::Bf16(_, Some(mlp)) = &self.layers {
            return mlp.forward(x, &mut ws.f32);
        }
        let batch = x.rows();
        ws.prepare(&self.spec, batch, self.precision());
        let blocks = batch.div_ceil(ROW_ALIGN);
        let work = batch * self.spec.param_count();
        let threads = if work >= PARALLEL_MIN_WORK { crate::pool::threads().min(blocks).max(1) } else { 1 };
        let per_band = blocks.div_ceil(threads);
        let bands = blocks.div_ceil(per_band.max(1));
        let layer_fn = isa.layer();
        let (lda, lda16, capacity) = (row_bytes(ws.groups), ws.lda16, ws.capacity);
        let packed = SharedMut::new(&mut ws.packed);
        let halves = SharedMut::new(&mut ws.halves);
        let scales = SharedMut::new(&mut ws.rows);
        let outs = SharedMut::new(&mut ws.outs);
        let sizes = &self.spec.sizes;
        // Each band of rows goes through every layer on its own: rows never mix, so the split
        // (the thread count) changes no bit of the result.
        crate::pool::run(bands, &|t| {
            let (b0, b1) = (t * per_band, ((t + 1) * per_band).min(blocks));
            let (i0, i1) = (b0 * ROW_ALIGN, (b1 * ROW_ALIGN).min(batch));
            // SAFETY: bands cover disjoint blocks of ROW_ALIGN rows, hence disjoint ranges of
            // the packed activations (whole blocks, padding rows included), the row scales
            // and every layer's output rows; the buffers are borrowed mutably for the whole
            // of `pool::run`.
            let packed = unsafe { packed.range(b0 * ROW_ALIGN * lda..b1 * ROW_ALIGN * lda) };
            let halves = unsafe { halves.range(b0 * ROW_ALIGN * lda16..b1 * ROW_ALIGN * lda16) };
            let rows = unsafe { scales.range(i0..i1) };
            // Depth first: each block of rows goes through every layer before the next
            // block starts, so a hidden layer's output is read back from L2, not memory.
            // The packed activations and row scales are scratch, reused by every block.
            for c0 in (i0..i1).step_by(DEPTH_ROWS) {
                let c1 = (c0 + DEPTH_ROWS).min(i1);
                let mut offset = 0;
                for l in 0..self.spec.depth() {
                    let (n_in, n) = (sizes[l], sizes[l + 1]);
                    let x_block = if l == 0 {
                        x.rows_range(c0, c1)
                    } else {
                        let start = offset - capacity * n_in;
                        // SAFETY: as above; layer l − 1's rows of this block were written by
                        // this task, and nothing writes them now.
                        let input = unsafe { outs.range_ref(start + c0 * n_in..start + c1 * n_in) };
                        MatRef::new(input, c1 - c0, n_in).expect("sized by prepare")
                    };
                    // SAFETY: as above.
                    let out = unsafe { outs.range(offset + c0 * n..offset + c1 * n) };
                    let activation = self.spec.activation(l);
                    match &self.layers {
                        Layers::Int8(layers) => {
                            let layer = &layers[l];
                            let e = Epilogue {
                                scale: &layer.scale,
                                col_sums: &layer.packed.col_sums,
                                bias: &layer.bias,
                                activation,
                            };
                            let a = ActBuf { packed: &mut *packed, lda, rows: &mut rows[..c1 - c0] };
                            // SAFETY: `isa` is the portable one or one `available` on this CPU.
                            unsafe { layer_fn(x_block, a, &layer.packed, &e, out) };
                        }
                        // SAFETY: a model without the widened network exists only where
                        // `bf16::available()` holds.
                        Layers::Bf16(layers, None) => unsafe {
                            bf16::layer(x_block, halves, lda16, &layers[l], activation, out)
                        },
                        Layers::Bf16(_, Some(_)) => unreachable!("the widened network ran above"),
                    }
                    offset += capacity * n;
                }
            }
        });
        let last = capacity * (sizes[1..].iter().sum::<usize>() - self.spec.outputs());
        let n = self.spec.outputs();
        MatRef::new(&ws.outs[last..last + batch * n], batch, n)
    }
}

/// Rows per block of the depth-first schedule (a multiple of `ROW_ALIGN`): the hidden
/// outputs of 64 rows (200 KiB for 800 units) and their packed activations stay in L2.
const DEPTH_ROWS: usize = 64;
const _: () = assert!(DEPTH_ROWS.is_multiple_of(ROW_ALIGN));

/// Below this many multiply-adds a forward pass is not worth splitting across threads.
const PARALLEL_MIN_WORK: usize = 1 << 20;

/// The widened f32 network that runs bf16 layers where the bf16 kernel cannot (`native`
/// false), else `None`.
fn bf16_fallback(spec: &MlpSpec, layers: &[Bf16Linear], native: bool) -> Result<Option<Mlp>> {
    if native {
        Ok(None)
    } else {
        widen(spec, layers).map(Some)
    }
}

/// Widens bf16 layers to the f32 network that runs them.
fn widen(spec: &MlpSpec, layers: &[Bf16Linear]) -> Result<Mlp> {
    let mut params = Vec::with_capacity(spec.param_count());
    for l in layers {
        params.extend(l.weight.iter().map(|&b| bf16_to_f32(b)));
        params.extend_from_slice(&l.bias);
    }
    Mlp::from_params(spec.clone(), params)
}

/// Checks that layers of `(inputs, outputs)` chain the widths of `spec`.
fn check_widths(spec: &MlpSpec, layers: impl ExactSizeIterator<Item = (usize, usize)>) -> Result<()> {
    if layers.len() != spec.depth() {
        return Err(Error::Length { what: "quantized layers", expected: spec.depth(), got: layers.len() });
    }
    for (l, (inputs, outputs)) in layers.enumerate() {
        if (inputs, outputs) != (spec.sizes[l], spec.sizes[l + 1]) {
            return Err(Error::Shape {
                op: "quantized layer",
                left: format!("layer {l}: {outputs}×{inputs}"),
                right: format!("network {spec}"),
            });
        }
    }
    Ok(())
}

/// The buffers of [`QuantizedMlp::forward`], sized once for a network and a batch size and
/// reused; a smaller batch uses the leading rows.
#[derive(Debug, Default)]
pub struct QuantWorkspace {
    /// Packed int8 activations of the current layer: `capacity` rounded up to `ROW_ALIGN`
    /// rows.
    packed: Vec<u8>,
    /// Packed bf16 activations of the current layer, as `packed`, `lda16` values a row.
    halves: Vec<u16>,
    lda16: usize,
    precision: Option<Precision>,
    /// The current layer's row scales.
    rows: Vec<RowScale>,
    /// Every layer's output, `[capacity, n_l]` one after the other.
    outs: Vec<f32>,
    /// k-groups of the widest layer input.
    groups: usize,
    capacity: usize,
    sizes: Vec<usize>,
    /// The f32 buffers of a bf16 model.
    f32: Workspace,
}

impl QuantWorkspace {
    /// Buffers for `model` and batches of up to `batch` rows.
    pub fn new(model: &QuantizedMlp, batch: usize) -> Self {
        match model.layers {
            Layers::Bf16(_, Some(_)) => Self { f32: Workspace::new(&model.spec, batch), ..Self::default() },
            _ => {
                let mut ws = Self::default();
                ws.prepare(&model.spec, batch, model.precision());
                ws
            }
        }
    }

    fn prepare(&mut self, spec: &MlpSpec, batch: usize, precision: Precision) {
        if self.sizes == spec.sizes && batch <= self.capacity && self.precision == Some(precision) {
            return;
        }
        let cap = batch.max(self.capacity);
        let widest_input = spec.sizes[..spec.sizes.len() - 1].iter().copied().max().unwrap_or(0);
        let padded_rows = cap.div_ceil(ROW_ALIGN) * ROW_ALIGN;
        // Only the activation buffer of this precision; the other stays empty (a band takes
        // an empty part of it).
        (self.groups, self.lda16) = (0, 0);
        (self.packed, self.halves) = (Vec::new(), Vec::new());
        self.rows = vec![RowScale { scale: 1.0, zero: 0 }; cap];
        match precision {
            Precision::Int8 => {
                self.groups = widest_input.div_ceil(int8::KU);
                self.packed = vec![0; padded_rows * row_bytes(self.groups)];
            }
            Precision::Bf16 => {
                self.lda16 = bf16::row_len(widest_input);
                self.halves = vec![0; padded_rows * self.lda16];
            }
        }
        self.precision = Some(precision);
        self.outs = vec![0.0; cap * spec.sizes[1..].iter().sum::<usize>()];
        self.capacity = cap;
        self.sizes = spec.sizes.clone();
    }
}

/// The dequantised f32 network of an int8 model (weights `q · s`), for comparisons.
pub fn dequantize(model: &QuantizedMlp) -> Mlp {
    match &model.layers {
        Layers::Bf16(layers, _) => widen(&model.spec, layers).expect("layers chain the spec"),
        Layers::Int8(layers) => {
            let mut params = Vec::with_capacity(model.spec.param_count());
            for l in layers {
                params.extend(l.dequantized_weight());
                params.extend_from_slice(&l.bias);
            }
            Mlp::from_params(model.spec.clone(), params).expect("layers chain the spec")
        }
    }
}

/// Predictions of `model` for `x: [B, n_0]` as a new matrix (one-off use; loops should keep
/// a [`QuantWorkspace`]).
pub fn predict(model: &QuantizedMlp, x: MatRef<'_>) -> Result<Matrix> {
    let mut ws = QuantWorkspace::new(model, x.rows());
    Ok(model.forward(x, &mut ws)?.to_matrix())
}

#[cfg(test)]
mod tests;
