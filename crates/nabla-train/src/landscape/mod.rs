//! Loss landscapes (Li et al., "Visualizing the Loss Landscape of Neural Nets", NeurIPS 2018).
//!
//! Around trained weights `θ`, pick two random Gaussian directions `δ` and `η` in parameter
//! space and evaluate `L(θ + αδ + βη)` on a grid of `(α, β)`. Raw random directions mislead:
//! a network with ReLUs computes the same function when a layer's weights are scaled up and the
//! next one's down, so a step of fixed length means little. Li et al.'s *filter normalisation*
//! rescales the direction neuron by neuron — for a dense layer, each row of the weight matrix
//! (the weights into one unit) — to the norm of the same row of `θ`. Biases are left
//! unperturbed (their direction is zero), and so are a residual net's layer normalisation
//! gains and shifts ([`filter_normalize`] says exactly what moves). Then `α = 1` moves every
//! neuron by as much as its own weights, whatever their scale. [`roughness`] puts one number
//! on how non-convex the grid is, so that two nets' landscapes can be compared.
//!
//! [`interpolate`] is the 1-D view of Goodfellow et al. (2015) that the paper also uses:
//! `L((1 − α)θ_A + αθ_B)` along the line through two solutions.
//!
//! Grid points are independent, so they run on scoped threads; each worker owns a copy of
//! the network and its workspace, and the engine stays single-threaded inside each.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use nabla::loss::argmax_rows;
use nabla::{Loss, MatRef, Network, NetworkWorkspace, Targets};

mod directions;
mod roughness;
#[cfg(test)]
mod tests;
mod trajectory;

pub use directions::{cosine_similarity, filter_normalize, filter_normalized_pair, random_direction, weight_matrices};
pub use roughness::{roughness, Roughness};
pub use trajectory::{trajectory, Trajectory};

/// Examples per forward pass when evaluating the loss.
const EVAL_BATCH: usize = 500;

/// The examples the loss is measured on: inputs already normalised as the model expects.
#[derive(Debug, Clone, PartialEq)]
pub struct LossData {
    /// `[n, features]`, row by row.
    pub x: Vec<f32>,
    /// One class per example.
    pub labels: Vec<u32>,
    /// Inputs per example.
    pub features: usize,
}

impl LossData {
    /// Number of examples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// Mean softmax cross-entropy and accuracy of `net` on `data` (no regularisation penalty).
pub fn evaluate(net: &Network, data: &LossData, ws: &mut NetworkWorkspace) -> nabla::Result<(f64, f64)> {
    let f = data.features;
    let (mut loss_sum, mut correct) = (0.0f64, 0usize);
    let mut predicted = vec![0u32; EVAL_BATCH];
    for (x, labels) in data.x.chunks(EVAL_BATCH * f).zip(data.labels.chunks(EVAL_BATCH)) {
        let n = labels.len();
        let out = net.forward(MatRef::new(x, n, f)?, ws)?;
        // A batch mean: weighted by the batch size so a short last batch counts right.
        loss_sum += Loss::SoftmaxCrossEntropy.forward_backward(out, Targets::Classes(labels), None)? * n as f64;
        argmax_rows(out, &mut predicted[..n]);
        correct += predicted[..n].iter().zip(labels).filter(|(p, l)| p == l).count();
    }
    let n = data.len().max(1) as f64;
    Ok((loss_sum / n, correct as f64 / n))
}

/// `steps` evenly spaced values from `lo` to `hi` inclusive.
pub fn linspace(lo: f64, hi: f64, steps: usize) -> Vec<f64> {
    match steps {
        0 => Vec::new(),
        1 => vec![lo],
        _ => (0..steps).map(|i| lo + (hi - lo) * i as f64 / (steps - 1) as f64).collect(),
    }
}

/// The loss (and accuracy) over a grid of `(α, β)`.
#[derive(Debug, Clone, PartialEq)]
pub struct LossGrid {
    /// The step along the first direction, one per column.
    pub alphas: Vec<f64>,
    /// The step along the second direction, one per row.
    pub betas: Vec<f64>,
    /// `loss[r * alphas.len() + c]` at `(alphas[c], betas[r])`.
    pub loss: Vec<f64>,
    /// Accuracy at the same points.
    pub accuracy: Vec<f64>,
}

impl LossGrid {
    /// The loss at `(alphas[c], betas[r])`.
    pub fn at(&self, r: usize, c: usize) -> f64 {
        self.loss[r * self.alphas.len() + c]
    }
}

/// The loss along one line of parameter space.
#[derive(Debug, Clone, PartialEq)]
pub struct LossSlice {
    /// The position along the line.
    pub alphas: Vec<f64>,
    /// The loss at each position.
    pub loss: Vec<f64>,
    /// The accuracy at each position.
    pub accuracy: Vec<f64>,
}

/// What went wrong computing a landscape.
#[derive(Debug, thiserror::Error)]
pub enum LandscapeError {
    /// A setting is out of range.
    #[error("{0}")]
    Invalid(String),
    /// The engine refused (shapes).
    #[error(transparent)]
    Engine(#[from] nabla::Error),
}

/// Evaluates `points.len()` parameter vectors in parallel on `threads` workers. `params(i,
/// out)` writes point `i`'s parameters into `out`; `progress()` is called after each point.
fn evaluate_points(
    net: &Network,
    data: &LossData,
    points: usize,
    threads: usize,
    params: &(dyn Fn(usize, &mut [f32]) + Sync),
    progress: &(dyn Fn() + Sync),
) -> Result<Vec<(f64, f64)>, LandscapeError> {
    if data.is_empty() {
        return Err(LandscapeError::Invalid("no examples to measure the loss on".into()));
    }
    if data.features != net.inputs() || data.x.len() != data.len() * data.features {
        return Err(LandscapeError::Invalid(format!(
            "the model takes {} inputs but the data has {} per example",
            net.inputs(),
            data.features
        )));
    }
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(f64, f64)>> = Mutex::new(vec![(f64::NAN, f64::NAN); points]);
    let first_error: Mutex<Option<nabla::Error>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..threads.clamp(1, points.max(1)) {
            scope.spawn(|| {
                let mut net = net.clone();
                let mut ws = NetworkWorkspace::new(&net.spec(), EVAL_BATCH.min(data.len()));
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= points {
                        return;
                    }
                    params(i, net.params_mut());
                    match evaluate(&net, data, &mut ws) {
                        Ok(r) => results.lock().unwrap_or_else(|e| e.into_inner())[i] = r,
                        Err(e) => {
                            first_error.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(e);
                            // Stop the other workers too.
                            next.store(points, Ordering::Relaxed);
                            return;
                        }
                    }
                    progress();
                }
            });
        }
    });
    if let Some(e) = first_error.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(e.into());
    }
    Ok(results.into_inner().unwrap_or_else(|e| e.into_inner()))
}

/// `L(θ + αδ + βη)` for every `α` in `alphas` and `β` in `betas`, on `threads` workers.
pub fn loss_grid(
    net: &Network,
    directions: (&[f32], &[f32]),
    alphas: &[f64],
    betas: &[f64],
    data: &LossData,
    threads: usize,
    progress: &(dyn Fn() + Sync),
) -> Result<LossGrid, LandscapeError> {
    let (d1, d2) = directions;
    if d1.len() != net.num_params() || d2.len() != net.num_params() {
        return Err(LandscapeError::Invalid("a direction does not have the model's parameter count".into()));
    }
    let theta = net.params();
    let cols = alphas.len();
    let at = |i: usize, out: &mut [f32]| {
        let (a, b) = (alphas[i % cols], betas[i / cols]);
        for (((o, &t), &x), &y) in out.iter_mut().zip(theta).zip(d1).zip(d2) {
            // In f64, so that α = β = 0 gives θ back bit for bit.
            *o = (f64::from(t) + a * f64::from(x) + b * f64::from(y)) as f32;
        }
    };
    let r = evaluate_points(net, data, cols * betas.len(), threads, &at, progress)?;
    Ok(LossGrid {
        alphas: alphas.to_vec(),
        betas: betas.to_vec(),
        loss: r.iter().map(|p| p.0).collect(),
        accuracy: r.iter().map(|p| p.1).collect(),
    })
}

/// `L((1 − α)θ_A + αθ_B)` for every `α` in `alphas`: α = 0 is model A, α = 1 model B.
pub fn interpolate(
    a: &Network,
    b: &Network,
    alphas: &[f64],
    data: &LossData,
    threads: usize,
    progress: &(dyn Fn() + Sync),
) -> Result<LossSlice, LandscapeError> {
    if a.spec() != b.spec() {
        return Err(LandscapeError::Invalid(format!(
            "the two models differ in architecture ({} vs {})",
            a.spec(),
            b.spec()
        )));
    }
    let (ta, tb) = (a.params(), b.params());
    let at = |i: usize, out: &mut [f32]| {
        let t = alphas[i];
        for ((o, &x), &y) in out.iter_mut().zip(ta).zip(tb) {
            *o = ((1.0 - t) * f64::from(x) + t * f64::from(y)) as f32;
        }
    };
    let r = evaluate_points(a, data, alphas.len(), threads, &at, progress)?;
    Ok(LossSlice {
        alphas: alphas.to_vec(),
        loss: r.iter().map(|p| p.0).collect(),
        accuracy: r.iter().map(|p| p.1).collect(),
    })
}
