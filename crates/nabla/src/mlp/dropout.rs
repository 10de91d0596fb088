//! Inverted dropout for training: the probabilities ([`Dropout`]), the masks drawn from the
//! random stream, and the training forward passes of [`Mlp`] that draw them, for a whole
//! batch or for one data-parallel rank's rows of it.

use std::ops::Range;

use super::network::Mlp;
use super::workspace::Workspace;
use crate::error::{Error, Result};
use crate::matrix::MatRef;
use crate::rng::Rng;

impl Mlp {
    /// The forward pass of training with (inverted) dropout: each input feature is zeroed
    /// with probability `dropout.input`, each hidden unit's output with probability
    /// `dropout.hidden`, and the survivors are scaled by `1 / (1 − p)` so that the expected
    /// activation is unchanged and inference needs no rescaling (Srivastava et al. 2014).
    /// The masks are drawn from `rng` and kept in `ws` for [`Mlp::backward`].
    pub fn forward_train<'w>(
        &self,
        x: MatRef<'_>,
        ws: &'w mut Workspace,
        dropout: Dropout,
        rng: &mut Rng,
    ) -> Result<MatRef<'w>> {
        dropout.validate()?;
        let rows = 0..x.rows();
        self.forward_impl(x, ws, Some((dropout, rng, rows.clone(), rows.end)))
    }

    /// [`Mlp::forward_train`] on rows `rows` of a batch of `batch` rows, as one rank of a
    /// data-parallel job computes its shard: `x: [rows.len(), n_0]` holds those rows, and the
    /// masks are exactly the rows `rows` of the masks [`Mlp::forward_train`] would draw for
    /// the whole batch. `rng` is left where the whole batch would leave it (the other rows'
    /// draws are made and discarded), so every rank walks the one-process stream.
    ///
    /// ```
    /// use nabla::{Activation, Dropout, Init, Matrix, Mlp, MlpSpec, Rng, Workspace};
    /// let spec = MlpSpec::new(vec![3, 4, 2], Activation::Relu, Activation::Identity).unwrap();
    /// let mlp = Mlp::new(spec.clone(), Init::HeNormal, &mut Rng::new(1));
    /// let x = Matrix::from_vec(5, 3, (0..15).map(|i| i as f32 / 7.0).collect()).unwrap();
    /// let d = Dropout { input: 0.1, hidden: 0.5 };
    /// let (mut whole_rng, mut shard_rng) = (Rng::new(7), Rng::new(7));
    /// let mut ws = Workspace::new(&spec, 5);
    /// let whole = mlp.forward_train(x.view(), &mut ws, d, &mut whole_rng).unwrap().to_matrix();
    /// let rows = x.view().rows_range(2, 5);
    /// let shard = mlp.forward_train_rows(rows, &mut ws, d, &mut shard_rng, 2..5, 5).unwrap().to_matrix();
    /// assert_eq!(shard.as_slice(), &whole.as_slice()[2 * 2..]);
    /// assert_eq!(whole_rng.next_u64(), shard_rng.next_u64());
    /// ```
    pub fn forward_train_rows<'w>(
        &self,
        x: MatRef<'_>,
        ws: &'w mut Workspace,
        dropout: Dropout,
        rng: &mut Rng,
        rows: Range<usize>,
        batch: usize,
    ) -> Result<MatRef<'w>> {
        dropout.validate()?;
        if rows.len() != x.rows() || rows.end > batch || rows.is_empty() {
            return Err(Error::Invalid {
                name: "rows",
                value: format!("{rows:?} of a batch of {batch}"),
                reason: format!(
                    "must be a non-empty range within the batch, as long as the input ({} rows); \
                     a rank without rows calls skip_dropout_masks",
                    x.rows()
                ),
            });
        }
        self.forward_impl(x, ws, Some((dropout, rng, rows, batch)))
    }

    /// Advances `rng` past every draw [`Mlp::forward_train`] makes for a batch of `batch` rows,
    /// without computing anything: a data-parallel rank with no rows in a batch still walks
    /// the one-process stream.
    pub fn skip_dropout_masks(&self, dropout: Dropout, rng: &mut Rng, batch: usize) -> Result<()> {
        dropout.validate()?;
        let mut draws = if dropout.input > 0.0 { self.spec.inputs() } else { 0 };
        if dropout.hidden > 0.0 && self.layers.len() > 1 {
            draws += self.spec.sizes[1..self.spec.sizes.len() - 1].iter().sum::<usize>();
        }
        skip_draws(rng, draws * batch);
        Ok(())
    }
}

/// Dropout probabilities for [`Mlp::forward_train`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Dropout {
    /// Probability of zeroing an input feature.
    pub input: f32,
    /// Probability of zeroing a hidden unit's output.
    pub hidden: f32,
}

impl Dropout {
    /// No dropout.
    pub const NONE: Dropout = Dropout { input: 0.0, hidden: 0.0 };

    /// Both probabilities must be in `[0, 1)`.
    pub fn validate(&self) -> Result<()> {
        for (name, p) in [("input dropout", self.input), ("dropout", self.hidden)] {
            if !(0.0..1.0).contains(&p) {
                return Err(Error::Invalid { name, value: p.to_string(), reason: "must be in [0, 1)".into() });
            }
        }
        Ok(())
    }
}

/// Advances `rng` by `count` of [`draw_mask`]'s draws (one `u64` each).
pub(super) fn skip_draws(rng: &mut Rng, count: usize) {
    for _ in 0..count {
        rng.next_u64();
    }
}

/// Fills `mask` with 0 (probability `p`) or `1 / (1 − p)`.
pub(super) fn draw_mask(mask: &mut [f32], p: f32, rng: &mut Rng) {
    let keep = 1.0 / (1.0 - p);
    let p = f64::from(p);
    for m in mask {
        *m = if rng.next_f64() < p { 0.0 } else { keep };
    }
}
