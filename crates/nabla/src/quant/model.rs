//! A quantised network, [`QuantizedMlp`]: its layers, and the forward pass that runs them
//! depth first, in blocks of rows, with the batch split into bands of rows on the pool.

use super::bf16;
use super::int8::{self, row_bytes, ActBuf, Epilogue, ROW_ALIGN};
use super::linear::{Bf16Linear, Int8Linear};
use super::precision::{bf16_to_f32, f32_to_bf16, Precision};
use super::workspace::QuantWorkspace;
use crate::error::{Error, Result};
use crate::matrix::{MatRef, Matrix};
use crate::mlp::{Mlp, MlpSpec};
use crate::pool::SharedMut;

/// The layers of a quantised model.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Layers {
    Int8(Vec<Int8Linear>),
    /// The bf16 layers, and the f32 network they widen to where that is what runs (no
    /// AVX-512-BF16 on this CPU); `None` where the bf16 kernel runs them.
    Bf16(Vec<Bf16Linear>, Option<Mlp>),
}

/// An MLP with quantised weights, for inference.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizedMlp {
    pub(super) spec: MlpSpec,
    pub(super) layers: Layers,
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

    pub(super) fn forward_with<'w>(
        &self,
        isa: int8::Isa,
        x: MatRef<'_>,
        ws: &'w mut QuantWorkspace,
    ) -> Result<MatRef<'w>> {
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
pub(super) fn bf16_fallback(spec: &MlpSpec, layers: &[Bf16Linear], native: bool) -> Result<Option<Mlp>> {
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
