//! [`PackedMlp`]: an [`Mlp`] made ready for inference. Its weights are packed once for the
//! GEMM's micro-kernel, and its forward pass runs the batch depth first: each thread takes a
//! band of rows and sends them, a block of [`DEPTH_ROWS`] at a time, through every layer
//! while the block's hidden outputs are still in L2, with the bias and the activation applied
//! to each output tile as it is finished (`gemm::fast::prepacked`).
//!
//! Its outputs have the bits of [`Mlp::forward`] for batches large enough that the GEMM
//! blocks them (not the tiny-product loops): the same kernel, the same k blocks, the same
//! roundings. Rows never mix, so neither the thread count nor the batch split changes a bit.

use super::network::Mlp;
use super::spec::MlpSpec;
use crate::error::{Error, Result};
use crate::gemm::fast::prepacked::{dense_forward, PackedWeights};
use crate::matrix::MatRef;
use crate::pool::SharedMut;

/// An MLP with its weights packed for the forward pass (inference only: no backward pass,
/// no intermediate values kept).
#[derive(Debug, Clone, PartialEq)]
pub struct PackedMlp {
    spec: MlpSpec,
    /// Each layer's packed weight and its bias.
    layers: Vec<(PackedWeights, Vec<f32>)>,
}

/// Rows per block of the depth-first schedule: a block's 800 hidden outputs (600 KiB) stay
/// in L2 beside one k block of packed weights (196 × 800, 613 KiB), and it is a multiple of
/// every tile's rows (6, 12, 16).
const DEPTH_ROWS: usize = 192;

/// Below this many multiply-adds a forward pass is not worth splitting across threads.
const PARALLEL_MIN_WORK: usize = 1 << 20;

impl PackedMlp {
    /// Packs `mlp`'s weights (a copy: later changes to `mlp` are not seen).
    pub fn new(mlp: &Mlp) -> Self {
        let layers = (0..mlp.layers().len())
            .map(|l| {
                let (w, b) = mlp.layer(l);
                (PackedWeights::new(w), b.to_vec())
            })
            .collect();
        Self { spec: mlp.spec().clone(), layers }
    }

    /// The architecture.
    pub fn spec(&self) -> &MlpSpec {
        &self.spec
    }

    /// The forward pass. `x: [B, n_0]`; returns the output `[B, n_L]`, a view into `out`
    /// (resized as needed; allocates nothing once it has held a batch this large).
    pub fn forward<'o>(&self, x: MatRef<'_>, out: &'o mut Vec<f32>) -> Result<MatRef<'o>> {
        if x.cols() != self.spec.inputs() {
            return Err(Error::Shape {
                op: "packed mlp forward",
                left: format!("input {}×{}", x.rows(), x.cols()),
                right: format!("network {}", self.spec),
            });
        }
        let (batch, n_out) = (x.rows(), self.spec.outputs());
        out.resize(batch * n_out, 0.0);
        let work = batch * self.spec.param_count();
        let threads = if work >= PARALLEL_MIN_WORK { crate::pool::threads() } else { 1 };
        // Equal bands (in whole tiles), each cut into depth-first blocks by its thread.
        let tile = crate::gemm::fast::tile_rows();
        let band = crate::gemm::band_len(batch, threads, tile);
        let bands = batch.div_ceil(band);
        let shared = SharedMut::new(&mut out[..]);
        crate::pool::run(bands, &|t| {
            let (i0, i1) = (t * band, ((t + 1) * band).min(batch));
            // SAFETY: bands are disjoint ranges of rows, so of `out`, which is borrowed
            // mutably for the whole of `pool::run`.
            let out = unsafe { shared.range(i0 * n_out..i1 * n_out) };
            self.forward_band(x.rows_range(i0, i1), out);
        });
        MatRef::new(&out[..batch * n_out], batch, n_out)
    }

    /// Rows `x` through every layer, a block of [`DEPTH_ROWS`] at a time, into `out`.
    fn forward_band(&self, x: MatRef<'_>, out: &mut [f32]) {
        let n_out = self.spec.outputs();
        HIDDEN.with(|hidden| {
            let mut hidden = hidden.borrow_mut();
            let [h0, h1] = &mut *hidden;
            let widest = self.spec.sizes[1..].iter().max().copied().unwrap_or(0);
            for h in [&mut *h0, &mut *h1] {
                if h.len() < DEPTH_ROWS * widest {
                    h.resize(DEPTH_ROWS * widest, 0.0);
                }
            }
            let last = self.layers.len() - 1;
            // Equal blocks of at most DEPTH_ROWS rows, in whole tiles (1000 rows: six of 168,
            // not five of 192 and one of 40 that streams all the weights for few rows).
            let tile = crate::gemm::fast::tile_rows();
            let block = x.rows().div_ceil(x.rows().div_ceil(DEPTH_ROWS)).div_ceil(tile) * tile;
            for r0 in (0..x.rows()).step_by(block) {
                let r1 = (r0 + block).min(x.rows());
                let rows = r1 - r0;
                // Layer l reads the previous layer's outputs from one buffer and writes the
                // other (the first reads `x`, the last writes `out`).
                for (l, (w, b)) in self.layers.iter().enumerate() {
                    let f = self.spec.activation(l);
                    let n = w.outputs();
                    let (src, dst) = if l % 2 == 0 { (&*h1, &mut *h0) } else { (&*h0, &mut *h1) };
                    let input = if l == 0 {
                        x.rows_range(r0, r1)
                    } else {
                        MatRef::new(&src[..rows * w.inputs()], rows, w.inputs()).expect("sized above")
                    };
                    let target = if l == last { &mut out[r0 * n_out..r1 * n_out] } else { &mut dst[..rows * n] };
                    dense_forward(input, w, b, f, target);
                }
            }
        });
    }
}

thread_local! {
    /// The two hidden-output buffers of a block, kept per thread (allocated once).
    static HIDDEN: std::cell::RefCell<[Vec<f32>; 2]> = const { std::cell::RefCell::new([Vec::new(), Vec::new()]) };
}

#[cfg(test)]
mod tests;
