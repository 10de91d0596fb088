//! Loss landscapes (Li et al., "Visualizing the Loss Landscape of Neural Nets", NeurIPS 2018).
//!
//! Around trained weights `θ`, pick two random Gaussian directions `δ` and `η` in parameter
//! space and evaluate `L(θ + αδ + βη)` on a grid of `(α, β)`. Raw random directions mislead:
//! a network with ReLUs computes the same function when a layer's weights are scaled up and the
//! next one's down, so a step of fixed length means little. Li et al.'s *filter normalisation*
//! rescales the direction neuron by neuron — for a dense layer, each row of the weight matrix
//! (the weights into one unit) — to the norm of the same row of `θ`. Biases are left
//! unperturbed (their direction is zero). Then `α = 1` moves every neuron by as much as its
//! own weights, whatever their scale.
//!
//! [`interpolate`] is the 1-D view of Goodfellow et al. (2015) that the paper also uses:
//! `L((1 − α)θ_A + αθ_B)` along the line through two solutions.
//!
//! Grid points are independent, so they run on scoped threads; each worker owns a copy of
//! the network and its workspace, and the engine stays single-threaded inside each.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use nabla::loss::argmax_rows;
use nabla::{Loss, MatRef, Mlp, Rng, Targets, Workspace};

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

/// Mean softmax cross-entropy and accuracy of `mlp` on `data` (no regularisation penalty).
pub fn evaluate(mlp: &Mlp, data: &LossData, ws: &mut Workspace) -> nabla::Result<(f64, f64)> {
    let f = data.features;
    let (mut loss_sum, mut correct) = (0.0f64, 0usize);
    let mut predicted = vec![0u32; EVAL_BATCH];
    for (x, labels) in data.x.chunks(EVAL_BATCH * f).zip(data.labels.chunks(EVAL_BATCH)) {
        let n = labels.len();
        let out = mlp.forward(MatRef::new(x, n, f)?, ws)?;
        // A batch mean: weighted by the batch size so a short last batch counts right.
        loss_sum += Loss::SoftmaxCrossEntropy.forward_backward(out, Targets::Classes(labels), None)? * n as f64;
        argmax_rows(out, &mut predicted[..n]);
        correct += predicted[..n].iter().zip(labels).filter(|(p, l)| p == l).count();
    }
    let n = data.len().max(1) as f64;
    Ok((loss_sum / n, correct as f64 / n))
}

/// A random direction in `mlp`'s parameter layout: standard Gaussian for every weight, zero
/// for every bias.
pub fn random_direction(mlp: &Mlp, rng: &mut Rng) -> Vec<f32> {
    let mut d = vec![0.0f32; mlp.num_params()];
    for l in 0..mlp.layers().len() {
        let layer = mlp.layers()[l];
        let start = mlp.layer_range(l).start;
        for v in &mut d[start..start + layer.outputs * layer.inputs] {
            *v = rng.normal() as f32;
        }
    }
    d
}

/// Filter normalisation: scales each row of each layer's weight direction to the norm of the
/// same row of `mlp`'s weights, and zeroes the bias directions. A zero direction row stays
/// zero.
pub fn filter_normalize(mlp: &Mlp, direction: &mut [f32]) {
    for l in 0..mlp.layers().len() {
        let layer = mlp.layers()[l];
        let range = mlp.layer_range(l);
        let (n_out, n_in) = (layer.outputs, layer.inputs);
        let weights = &mlp.params()[range.start..range.start + n_out * n_in];
        let (dw, db) = direction[range].split_at_mut(n_out * n_in);
        for (d_row, w_row) in dw.chunks_mut(n_in).zip(weights.chunks(n_in)) {
            let norm = |v: &[f32]| v.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>().sqrt();
            let (dn, wn) = (norm(d_row), norm(w_row));
            if dn > 0.0 {
                let scale = wn / dn;
                for v in d_row.iter_mut() {
                    *v = (f64::from(*v) * scale) as f32;
                }
            }
        }
        db.fill(0.0);
    }
}

/// `a·b / (‖a‖ ‖b‖)` (0 when either is zero).
pub fn cosine_similarity(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(&x, &y)| f64::from(x) * f64::from(y)).sum();
    let na: f64 = a.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
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
    mlp: &Mlp,
    data: &LossData,
    points: usize,
    threads: usize,
    params: &(dyn Fn(usize, &mut [f32]) + Sync),
    progress: &(dyn Fn() + Sync),
) -> Result<Vec<(f64, f64)>, LandscapeError> {
    if data.is_empty() {
        return Err(LandscapeError::Invalid("no examples to measure the loss on".into()));
    }
    if data.features != mlp.spec().inputs() || data.x.len() != data.len() * data.features {
        return Err(LandscapeError::Invalid(format!(
            "the model takes {} inputs but the data has {} per example",
            mlp.spec().inputs(),
            data.features
        )));
    }
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(f64, f64)>> = Mutex::new(vec![(f64::NAN, f64::NAN); points]);
    let first_error: Mutex<Option<nabla::Error>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..threads.clamp(1, points.max(1)) {
            scope.spawn(|| {
                let mut net = mlp.clone();
                let mut ws = Workspace::new(mlp.spec(), EVAL_BATCH.min(data.len()));
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
    mlp: &Mlp,
    directions: (&[f32], &[f32]),
    alphas: &[f64],
    betas: &[f64],
    data: &LossData,
    threads: usize,
    progress: &(dyn Fn() + Sync),
) -> Result<LossGrid, LandscapeError> {
    let (d1, d2) = directions;
    if d1.len() != mlp.num_params() || d2.len() != mlp.num_params() {
        return Err(LandscapeError::Invalid("a direction does not have the model's parameter count".into()));
    }
    let theta = mlp.params();
    let cols = alphas.len();
    let at = |i: usize, out: &mut [f32]| {
        let (a, b) = (alphas[i % cols], betas[i / cols]);
        for (((o, &t), &x), &y) in out.iter_mut().zip(theta).zip(d1).zip(d2) {
            // In f64, so that α = β = 0 gives θ back bit for bit.
            *o = (f64::from(t) + a * f64::from(x) + b * f64::from(y)) as f32;
        }
    };
    let r = evaluate_points(mlp, data, cols * betas.len(), threads, &at, progress)?;
    Ok(LossGrid {
        alphas: alphas.to_vec(),
        betas: betas.to_vec(),
        loss: r.iter().map(|p| p.0).collect(),
        accuracy: r.iter().map(|p| p.1).collect(),
    })
}

/// `L((1 − α)θ_A + αθ_B)` for every `α` in `alphas`: α = 0 is model A, α = 1 model B.
pub fn interpolate(
    a: &Mlp,
    b: &Mlp,
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

#[cfg(test)]
mod tests {
    use super::*;
    use nabla::{Activation, Init, MlpSpec};

    fn model(seed: u64) -> Mlp {
        let spec = MlpSpec::parse("6-5-4-3", Activation::Relu, Activation::Identity).unwrap();
        Mlp::new(spec, Init::Uniform { limit: 0.7 }, &mut Rng::new(seed))
    }

    fn data() -> LossData {
        let mut rng = Rng::new(3);
        let n = 37;
        LossData {
            x: (0..n * 6).map(|_| rng.uniform_f32(-1.0, 1.0)).collect(),
            labels: (0..n).map(|i| (i % 3) as u32).collect(),
            features: 6,
        }
    }

    /// Every row of a filter-normalised direction has the norm of the same weight row; the
    /// bias entries are zero.
    #[test]
    fn filter_normalisation_matches_each_row_norm() {
        let mlp = model(1);
        let mut d = random_direction(&mlp, &mut Rng::new(9));
        filter_normalize(&mlp, &mut d);
        for l in 0..mlp.layers().len() {
            let layer = mlp.layers()[l];
            let r = mlp.layer_range(l);
            let nw = layer.outputs * layer.inputs;
            for row in 0..layer.outputs {
                let span = r.start + row * layer.inputs..r.start + (row + 1) * layer.inputs;
                let norm = |v: &[f32]| v.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
                let (dn, wn) = (norm(&d[span.clone()]), norm(&mlp.params()[span]));
                assert!((dn - wn).abs() < 1e-5 * wn.max(1.0), "layer {l} row {row}: {dn} vs {wn}");
            }
            assert!(d[r.start + nw..r.end].iter().all(|&b| b == 0.0), "layer {l} biases perturbed");
        }
        // A zero row stays zero instead of becoming NaN.
        let mut z = vec![0.0f32; mlp.num_params()];
        filter_normalize(&mlp, &mut z);
        assert!(z.iter().all(|&v| v == 0.0));
    }

    /// The centre of the grid is the model itself: its loss, bit for bit.
    #[test]
    fn grid_centre_is_the_models_loss() {
        let mlp = model(2);
        let data = data();
        let mut rng = Rng::new(5);
        let (mut d1, mut d2) = (random_direction(&mlp, &mut rng), random_direction(&mlp, &mut rng));
        filter_normalize(&mlp, &mut d1);
        filter_normalize(&mlp, &mut d2);
        let steps = linspace(-1.0, 1.0, 5);
        let calls = AtomicUsize::new(0);
        let grid = loss_grid(&mlp, (&d1, &d2), &steps, &steps, &data, 3, &|| {
            calls.fetch_add(1, Ordering::Relaxed);
        })
        .unwrap();
        assert_eq!(calls.load(Ordering::Relaxed), 25);
        let (centre, _) = evaluate(&mlp, &data, &mut Workspace::new(mlp.spec(), 8)).unwrap();
        assert_eq!(grid.at(2, 2), centre);
        // Away from the centre the loss changes, and threads do not change the numbers.
        assert!(grid.loss.iter().all(|v| v.is_finite()));
        assert_ne!(grid.at(0, 0), centre);
        let serial = loss_grid(&mlp, (&d1, &d2), &steps, &steps, &data, 1, &|| {}).unwrap();
        assert_eq!(serial, grid);
        // The grid is laid out row = β, column = α: moving along α only is L(θ + αδ).
        let mut shifted = mlp.clone();
        for (p, d) in shifted.params_mut().iter_mut().zip(&d1) {
            *p = (f64::from(*p) + 0.5 * f64::from(*d)) as f32;
        }
        let (along, _) = evaluate(&shifted, &data, &mut Workspace::new(mlp.spec(), 8)).unwrap();
        assert_eq!(grid.at(2, 3), along);
    }

    #[test]
    fn interpolation_ends_are_the_two_models() {
        let (a, b) = (model(1), model(2));
        let data = data();
        let alphas = linspace(-0.5, 1.5, 9);
        let s = interpolate(&a, &b, &alphas, &data, 2, &|| {}).unwrap();
        let mut ws = Workspace::new(a.spec(), 8);
        assert_eq!(s.loss[2], evaluate(&a, &data, &mut ws).unwrap().0);
        assert_eq!(s.loss[6], evaluate(&b, &data, &mut ws).unwrap().0);
        let other = Mlp::zeros(MlpSpec::parse("6-3", Activation::Relu, Activation::Identity).unwrap());
        assert!(matches!(interpolate(&a, &other, &alphas, &data, 1, &|| {}), Err(LandscapeError::Invalid(_))));
    }

    #[test]
    fn cosine_and_linspace() {
        assert_eq!(cosine_similarity(&[1.0, 0.0], &[0.0, 2.0]), 0.0);
        assert!((cosine_similarity(&[1.0, 1.0], &[2.0, 2.0]) - 1.0).abs() < 1e-12);
        assert_eq!(cosine_similarity(&[0.0], &[1.0]), 0.0);
        assert_eq!(linspace(-1.0, 1.0, 5), vec![-1.0, -0.5, 0.0, 0.5, 1.0]);
        assert_eq!(linspace(0.0, 1.0, 1), vec![0.0]);
    }

    #[test]
    fn bad_inputs_are_errors() {
        let mlp = model(1);
        let empty = LossData { x: vec![], labels: vec![], features: 6 };
        let d = vec![0.0; mlp.num_params()];
        assert!(loss_grid(&mlp, (&d, &d), &[0.0], &[0.0], &empty, 1, &|| {}).is_err());
        let narrow = LossData { x: vec![0.0; 4], labels: vec![0, 1], features: 2 };
        assert!(loss_grid(&mlp, (&d, &d), &[0.0], &[0.0], &narrow, 1, &|| {}).is_err());
        assert!(loss_grid(&mlp, (&d[1..], &d), &[0.0], &[0.0], &data(), 1, &|| {}).is_err());
    }
}
