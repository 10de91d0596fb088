//! The buffers of a quantised forward pass ([`QuantWorkspace`]), sized once for a network
//! and a batch size and reused.

use super::bf16;
use super::int8::{self, row_bytes, RowScale, ROW_ALIGN};
use super::model::{Layers, QuantizedMlp};
use super::precision::Precision;
use crate::mlp::{MlpSpec, Workspace};

/// The buffers of [`QuantizedMlp::forward`], sized once for a network and a batch size and
/// reused; a smaller batch uses the leading rows.
#[derive(Debug, Default)]
pub struct QuantWorkspace {
    /// Packed int8 activations of the current layer: `capacity` rounded up to `ROW_ALIGN`
    /// rows.
    pub(super) packed: Vec<u8>,
    /// Packed bf16 activations of the current layer, as `packed`, `lda16` values a row.
    pub(super) halves: Vec<u16>,
    pub(super) lda16: usize,
    pub(super) precision: Option<Precision>,
    /// The current layer's row scales.
    pub(super) rows: Vec<RowScale>,
    /// Every layer's output, `[capacity, n_l]` one after the other.
    pub(super) outs: Vec<f32>,
    /// k-groups of the widest layer input.
    pub(super) groups: usize,
    pub(super) capacity: usize,
    pub(super) sizes: Vec<usize>,
    /// The f32 buffers of a bf16 model.
    pub(super) f32: Workspace,
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

    pub(super) fn prepare(&mut self, spec: &MlpSpec, batch: usize, precision: Precision) {
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
