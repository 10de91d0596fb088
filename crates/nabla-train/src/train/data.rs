//! What the trainer learns from and how it scores it: images or an encoded table, cut into
//! batches; the objective (a class or a value); and the running sums an epoch's or an
//! evaluation's scores come from.

use std::borrow::Cow;

use nabla::loss::{Loss, Targets};
use nabla::{MatRef, Network, NetworkWorkspace};
use nabla_data::table::{Encoded, Preprocessor, Targets as EncodedTargets};
use nabla_data::{BatchBuffers, Dataset, Normalizer, Split};

use super::TrainError;
use crate::distributed::{self, Reducer};
use crate::metrics::RegressionScores;

/// A table ready to train on: the preprocessing fitted on the training rows alone, and each
/// part of the table encoded with it.
#[derive(Debug, Clone)]
pub struct TableSet {
    /// A name for the data (the file's stem), stored in checkpoints.
    pub name: String,
    /// Columns to inputs and the target to what the loss compares with.
    pub preprocessor: Preprocessor,
    /// The rows trained on.
    pub train: Encoded,
    /// Rows scored after each epoch (early stopping and the best checkpoint); without them
    /// the test rows are.
    pub val: Option<Encoded>,
    /// Rows scored once, at the end.
    pub test: Encoded,
}

/// What a run trains on.
#[derive(Debug, Clone, Copy)]
pub enum TrainData<'a> {
    /// A built-in image set; the validation split is cut from its training part.
    Images(&'a Split),
    /// An encoded table with its own validation and test rows.
    Table(&'a TableSet),
}

impl<'a> From<&'a Split> for TrainData<'a> {
    fn from(split: &'a Split) -> Self {
        TrainData::Images(split)
    }
}

impl<'a> From<&'a TableSet> for TrainData<'a> {
    fn from(table: &'a TableSet) -> Self {
        TrainData::Table(table)
    }
}

/// What the network is trained to output.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Objective {
    /// One of this many classes: softmax cross-entropy over as many outputs.
    Classes(usize),
    /// One number, standardised: `loss` on a single output. `std` is the target's standard
    /// deviation, which turns errors back into the target's own units.
    Value {
        /// MSE, MAE or Huber.
        loss: Loss,
        /// The target's training standard deviation.
        std: f64,
    },
}

impl Objective {
    /// The network's output width.
    pub fn outputs(self) -> usize {
        match self {
            Objective::Classes(k) => k,
            Objective::Value { .. } => 1,
        }
    }

    /// The loss trained on.
    pub fn loss(self) -> Loss {
        match self {
            Objective::Classes(_) => Loss::SoftmaxCrossEntropy,
            Objective::Value { loss, .. } => loss,
        }
    }
}

/// The examples of one part (training, evaluation or test), in the form batches are cut from.
pub(crate) enum Examples<'a> {
    /// Stored pixels, converted to inputs batch by batch.
    Images {
        /// The images.
        set: Cow<'a, Dataset>,
        /// Pixels to inputs.
        norm: Normalizer,
    },
    /// Rows already encoded.
    Rows(&'a Encoded),
}

impl Examples<'_> {
    /// Number of examples.
    pub fn len(&self) -> usize {
        match self {
            Examples::Images { set, .. } => set.len,
            Examples::Rows(rows) => rows.rows,
        }
    }

    /// Inputs per example.
    pub fn features(&self) -> usize {
        match self {
            Examples::Images { set, .. } => set.features(),
            Examples::Rows(rows) => rows.features,
        }
    }
}

/// Reusable buffers for one batch of either kind of example: made once, refilled every step.
pub(crate) struct Batch {
    images: BatchBuffers,
    x: Vec<f32>,
    classes: Vec<u32>,
    values: Vec<f32>,
    features: usize,
}

impl Batch {
    /// Buffers for up to `batch_size` examples of `examples`.
    pub fn new(examples: &Examples<'_>, batch_size: usize) -> Self {
        let features = examples.features();
        let (images, x) = match examples {
            Examples::Images { .. } => (BatchBuffers::new(batch_size, features), Vec::new()),
            Examples::Rows(_) => (BatchBuffers::new(0, 0), vec![0.0; batch_size * features]),
        };
        Batch { images, x, classes: vec![0; batch_size], values: vec![0.0; batch_size], features }
    }

    /// Fills the leading rows with the examples at `indices`: `x: [n, features]` and their
    /// targets (class indices, or standardised values as `[n, 1]`).
    pub fn fill(
        &mut self,
        examples: &Examples<'_>,
        indices: &[usize],
    ) -> Result<(MatRef<'_>, Targets<'_>), TrainError> {
        let (n, f) = (indices.len(), self.features);
        match examples {
            Examples::Images { set, norm } => {
                let (x, labels) = self.images.fill(set, indices, norm);
                for (l32, &l) in self.classes.iter_mut().zip(labels) {
                    *l32 = u32::from(l);
                }
                Ok((MatRef::new(x, n, f)?, Targets::Classes(&self.classes[..n])))
            }
            Examples::Rows(rows) => {
                for (&i, out) in indices.iter().zip(self.x.chunks_exact_mut(f)) {
                    out.copy_from_slice(&rows.x[i * f..(i + 1) * f]);
                }
                let x = MatRef::new(&self.x[..n * f], n, f)?;
                match &rows.targets {
                    Some(EncodedTargets::Classes(labels)) => {
                        for (&i, out) in indices.iter().zip(self.classes.iter_mut()) {
                            *out = labels[i];
                        }
                        Ok((x, Targets::Classes(&self.classes[..n])))
                    }
                    Some(EncodedTargets::Values(values)) => {
                        for (&i, out) in indices.iter().zip(self.values.iter_mut()) {
                            *out = values[i];
                        }
                        Ok((x, Targets::Values(MatRef::new(&self.values[..n], n, 1)?)))
                    }
                    None => Err(TrainError::NoTargets),
                }
            }
        }
    }
}

/// Running sums over scored examples, from which accuracy or the regression scores follow;
/// as an array, summed over the ranks of a data-parallel job.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Tally {
    /// Examples scored.
    pub n: f64,
    /// Examples whose arg-max output is their class.
    pub correct: f64,
    /// Sum of squared errors, standardised units.
    pub sse: f64,
    /// Sum of absolute errors, standardised units.
    pub sae: f64,
    /// Sum of the standardised targets.
    pub sum_t: f64,
    /// Sum of their squares.
    pub sum_tt: f64,
}

impl Tally {
    /// Entries of [`Tally::to_array`].
    pub const LEN: usize = 6;

    pub fn to_array(self) -> [f64; Self::LEN] {
        [self.n, self.correct, self.sse, self.sae, self.sum_t, self.sum_tt]
    }

    pub fn from_array(a: &[f64]) -> Self {
        Tally { n: a[0], correct: a[1], sse: a[2], sae: a[3], sum_t: a[4], sum_tt: a[5] }
    }

    /// Both tallies together.
    pub fn plus(&self, other: &Tally) -> Tally {
        Tally {
            n: self.n + other.n,
            correct: self.correct + other.correct,
            sse: self.sse + other.sse,
            sae: self.sae + other.sae,
            sum_t: self.sum_t + other.sum_t,
            sum_tt: self.sum_tt + other.sum_tt,
        }
    }

    /// Adds a batch: `out: [n, outputs]` against its targets. `predicted` holds at least `n`.
    pub fn add(&mut self, out: MatRef<'_>, targets: Targets<'_>, predicted: &mut [u32]) {
        let n = out.rows();
        self.n += n as f64;
        match targets {
            Targets::Classes(labels) => {
                nabla::loss::argmax_rows(out, &mut predicted[..n]);
                self.correct += predicted[..n].iter().zip(labels).filter(|(p, l)| p == l).count() as f64;
            }
            Targets::Values(t) => {
                for (y, t) in out.as_slice().iter().zip(t.as_slice()) {
                    let (y, t) = (f64::from(*y), f64::from(*t));
                    self.sse += (y - t) * (y - t);
                    self.sae += (y - t).abs();
                    self.sum_t += t;
                    self.sum_tt += t * t;
                }
            }
        }
    }

    /// The scores these sums stand for.
    pub fn scores(&self, objective: Objective) -> Scores {
        let n = self.n.max(1.0);
        match objective {
            Objective::Classes(_) => Scores::Classes { acc: self.correct / n },
            Objective::Value { std, .. } => {
                // R² = 1 − SS_res / SS_tot, scale-free, so the standardised sums serve; the
                // errors are scaled back to the target's units. scikit-learn's convention for a
                // constant truth: 1 when the predictions are exact, else 0.
                let ss_tot = (self.sum_tt - self.sum_t * self.sum_t / n).max(0.0);
                let r2 = if ss_tot > 0.0 {
                    1.0 - self.sse / ss_tot
                } else if self.sse == 0.0 {
                    1.0
                } else {
                    0.0
                };
                Scores::Values(RegressionScores { rmse: (self.sse / n).sqrt() * std, mae: self.sae / n * std, r2 })
            }
        }
    }
}

/// How well a network does on a set of examples, beyond the loss.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub enum Scores {
    /// A classification: the share of examples whose arg-max class is the label.
    Classes {
        /// Accuracy.
        acc: f64,
    },
    /// A regression, in the target's units.
    Values(RegressionScores),
}

impl Scores {
    /// The accuracy, for a classification.
    pub fn acc(&self) -> Option<f64> {
        match self {
            Scores::Classes { acc } => Some(*acc),
            Scores::Values(_) => None,
        }
    }

    /// The regression scores, for a regression.
    pub fn regression(&self) -> Option<RegressionScores> {
        match self {
            Scores::Values(r) => Some(*r),
            Scores::Classes { .. } => None,
        }
    }

    /// The headline number, larger is better: accuracy, or R².
    pub fn headline(&self) -> f64 {
        match self {
            Scores::Classes { acc } => *acc,
            Scores::Values(r) => r.r2,
        }
    }

    /// The scores under the names the tracker stores, for `prefix` `train`, `val` or `test`
    /// (`val/acc`; `val/rmse`, `val/mae`, `val/r2`).
    pub fn named(&self, prefix: &str) -> Vec<(&'static str, f64)> {
        let [acc, rmse, mae, r2] = match prefix {
            "train" => ["train/acc", "train/rmse", "train/mae", "train/r2"],
            "val" => ["val/acc", "val/rmse", "val/mae", "val/r2"],
            _ => ["test/acc", "test/rmse", "test/mae", "test/r2"],
        };
        match self {
            Scores::Classes { acc: a } => vec![(acc, *a)],
            Scores::Values(r) => vec![(rmse, r.rmse), (mae, r.mae), (r2, r.r2)],
        }
    }
}

/// Mean loss and scores of `network` on `examples`, as one rank of a job: this rank scores its
/// [`distributed::shard`] of the examples, and the sums are added over the ranks, so every
/// rank gets the whole set's numbers.
pub(crate) fn score(
    network: &Network,
    examples: &Examples<'_>,
    objective: Objective,
    batch_size: usize,
    reducer: &mut dyn Reducer,
) -> Result<(f64, Scores), TrainError> {
    // Buffers for no more rows than there are (an empty set, a validation split of 50 rows):
    // a pass over fewer rows uses the leading rows, so the numbers are the same, and a short
    // epoch does not pay for 1,000 rows of zeroed memory each time it is scored.
    let batch_size = batch_size.clamp(1, examples.len().max(1));
    let mut batch = Batch::new(examples, batch_size);
    let mut ws = NetworkWorkspace::new(&network.spec(), batch_size);
    let mut predicted = vec![0u32; batch_size];
    let mut loss = 0.0f64;
    let mut tally = Tally::default();
    let indices: Vec<usize> = distributed::shard(examples.len(), reducer.rank(), reducer.size()).collect();
    for chunk in indices.chunks(batch_size) {
        let (x, targets) = batch.fill(examples, chunk)?;
        let out = network.forward(x, &mut ws)?;
        loss += objective.loss().forward_backward(out, targets, None)? * chunk.len() as f64;
        tally.add(out, targets, &mut predicted);
    }
    let mut sums = [0.0f64; 1 + Tally::LEN];
    sums[0] = loss;
    sums[1..].copy_from_slice(&tally.to_array());
    reducer.sum_f64(&mut sums);
    let tally = Tally::from_array(&sums[1..]);
    Ok((sums[0] / examples.len().max(1) as f64, tally.scores(objective)))
}
