//! The lecture's claim, made runnable: linear regression is not a universal approximator, a
//! neural network is.
//!
//! Points sampled from a function of one or two variables (or read from CSV, see [`data`])
//! are fitted, side by side, by
//!
//! - **linear regression** `ŷ = w·x + b` and **polynomial regression** of a chosen degree
//!   (every monomial `xⁱ·yʲ` with `1 ≤ i + j ≤ degree`), solved in closed form by
//!   [`nabla::least_squares`], optionally with a ridge penalty;
//! - **MLPs** with one tanh hidden layer of each chosen width, trained full-batch with Adam on
//!   the half mean squared error, optionally with an L2 penalty.
//!
//! Both see the inputs mapped onto `[−1, 1]` (from the sampling range) and the MLP sees the
//! targets standardised; predictions are mapped back, so every error is in the units of the
//! data. The results are plain numbers — train and test MSE per model, its predictions on a
//! grid, and, if asked, snapshots of each MLP across training — and nothing is printed.

pub mod data;

use nabla::least_squares::LinearFit;
use nabla::loss::{Loss, Targets};
use nabla::{Activation, Init, MatRef, Mlp, MlpSpec, OptimizerConfig, OptimizerKind, Regularizer, Rng, Workspace};

pub use data::{parse_csv, sample, FitData, Points};

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum FitError {
    /// A setting or the data is unusable; the message says which and why.
    #[error("{0}")]
    Input(String),
    /// A model could not be fitted (too few points for its features, say).
    #[error("{model}: {source}")]
    Model {
        /// The model's name.
        model: String,
        /// The engine's reason.
        #[source]
        source: nabla::Error,
    },
}

/// The settings of one fit experiment: what the CLI's flags fill in.
#[derive(Debug, Clone, PartialEq)]
pub struct FitConfig {
    /// The sampling range of every input.
    pub range: (f64, f64),
    /// Training points.
    pub points: usize,
    /// Test points.
    pub test_points: usize,
    /// Standard deviation of the Gaussian noise added to each target.
    pub noise: f64,
    /// Seeds the points and the networks' initial weights.
    pub seed: u64,
    /// Degree of the polynomial regression.
    pub degree: usize,
    /// One MLP per hidden width.
    pub hidden: Vec<usize>,
    /// Full-batch Adam steps per MLP.
    pub epochs: u64,
    /// Adam's learning rate.
    pub lr: f32,
    /// Penalties λ: the first applies to every model; each further one adds a polynomial
    /// (ridge) row and a row for the widest MLP.
    pub l2: Vec<f64>,
    /// Keep a snapshot of every MLP every this many epochs (0: none), for an animation.
    pub frame_every: u64,
    /// Grid points per input for the predicted curves (a `grid × grid` grid for two inputs).
    pub grid: usize,
}

impl Default for FitConfig {
    /// `[-2, 2]`, 40 training and 200 test points, noise 0.1, degree 3, widths 1, 3, 10 and
    /// 100, 3000 epochs of Adam at 0.01 (enough for the 100-wide net to follow `sin(3x)`).
    fn default() -> Self {
        Self {
            range: (-2.0, 2.0),
            points: 40,
            test_points: 200,
            noise: 0.1,
            seed: 0,
            degree: 3,
            hidden: vec![1, 3, 10, 100],
            epochs: 3000,
            lr: 0.01,
            l2: vec![0.0],
            frame_every: 0,
            grid: 200,
        }
    }
}

impl FitConfig {
    /// Checks every setting, naming the first that is out of range.
    pub fn check(&self) -> Result<(), FitError> {
        let bad = |what: String| Err(FitError::Input(what));
        let (lo, hi) = self.range;
        if !(lo.is_finite() && hi.is_finite() && lo < hi) {
            return bad(format!("range {lo}..{hi}: need finite ends with low < high"));
        }
        if self.points < 2 {
            return bad(format!("{} training points: need at least 2", self.points));
        }
        if self.test_points < 1 {
            return bad("0 test points: need at least 1".into());
        }
        if !(self.noise.is_finite() && self.noise >= 0.0) {
            return bad(format!("noise {}: need a finite number ≥ 0", self.noise));
        }
        if !(1..=20).contains(&self.degree) {
            return bad(format!("degree {}: need 1 to 20", self.degree));
        }
        if self.hidden.contains(&0) {
            return bad("a hidden width of 0: every width must be ≥ 1".into());
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad(format!("learning rate {}: need a finite number > 0", self.lr));
        }
        if self.l2.is_empty() || self.l2.iter().any(|l| !(l.is_finite() && *l >= 0.0)) {
            return bad(format!("l2 {:?}: need one or more finite numbers ≥ 0", self.l2));
        }
        if self.grid < 2 {
            return bad(format!("grid {}: need at least 2", self.grid));
        }
        Ok(())
    }
}

/// Which model a row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// Least squares on the inputs themselves.
    Linear,
    /// Least squares on every monomial up to `degree`.
    Polynomial {
        /// The highest total degree.
        degree: usize,
    },
    /// A one-hidden-layer tanh network.
    Mlp {
        /// Its hidden width.
        hidden: usize,
    },
}

/// A model's predictions at one moment of its training.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// Adam steps taken.
    pub epoch: u64,
    /// The training MSE then.
    pub train_mse: f64,
    /// The predictions on [`FitReport::grid`].
    pub predictions: Vec<f64>,
}

/// One fitted model: what it is and how well it did.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelFit {
    /// `linear`, `poly-3`, `mlp-100`; `… λ=1e-2` when penalised.
    pub name: String,
    /// Which model.
    pub kind: ModelKind,
    /// Its ridge / L2 penalty λ.
    pub l2: f64,
    /// Its number of fitted numbers (weights and biases).
    pub params: usize,
    /// Mean squared error on the training points.
    pub train_mse: f64,
    /// Mean squared error on the test points.
    pub test_mse: f64,
    /// Its predictions on [`FitReport::grid`].
    pub predictions: Vec<f64>,
    /// Snapshots across training (MLPs, when [`FitConfig::frame_every`] > 0).
    pub frames: Vec<Frame>,
}

/// Points at which curves and surfaces are drawn: `cols` along x and `rows` along y (one row
/// for a function of x), row-major from the lowest y.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    /// Points along x.
    pub cols: usize,
    /// Points along y (1 for one input).
    pub rows: usize,
    /// `inputs: [rows·cols, dims]`.
    pub inputs: Vec<f64>,
}

/// Everything a fit experiment found.
#[derive(Debug, Clone)]
pub struct FitReport {
    /// The points.
    pub data: FitData,
    /// Where the predictions are sampled.
    pub grid: Grid,
    /// The noiseless function on the grid (sampled data only).
    pub truth: Option<Vec<f64>>,
    /// One row per model, in the order linear, polynomials, MLPs.
    pub models: Vec<ModelFit>,
}

/// Seeds an MLP's initial weights from the experiment's seed and the net's width only, so a
/// penalised row starts where its unpenalised twin does.
const MLP_STREAM: u64 = 0x5851_F42D_4C95_7F2D;

/// `λ` as a row name suffix: `""` for none, `" λ=1e-2"` otherwise.
fn penalty_name(l2: f64) -> String {
    if l2 == 0.0 {
        String::new()
    } else {
        format!(" λ={l2:e}")
    }
}

/// Maps each input onto `[−1, 1]` over its range.
fn scale_inputs(inputs: &[f64], ranges: &[(f64, f64)]) -> Vec<f64> {
    let dims = ranges.len();
    inputs
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let (lo, hi) = ranges[i % dims];
            (2.0 * v - lo - hi) / (hi - lo)
        })
        .collect()
}

/// Every monomial `u₀ⁱ·u₁ʲ` with `1 ≤ i + j ≤ degree` of each point, by total degree then
/// by falling power of the first input: `[n, features]`, and the feature count.
pub fn polynomial_features(scaled: &[f64], dims: usize, degree: usize) -> (Vec<f64>, usize) {
    let powers: Vec<(usize, usize)> = (1..=degree)
        .flat_map(|d| if dims == 1 { vec![(d, 0)] } else { (0..=d).rev().map(|i| (i, d - i)).collect() })
        .collect();
    let features = scaled
        .chunks_exact(dims)
        .flat_map(|p| {
            let y = if dims == 2 { p[1] } else { 1.0 };
            powers.iter().map(move |&(i, j)| p[0].powi(i as i32) * y.powi(j as i32))
        })
        .collect();
    (features, powers.len())
}

fn mse(predictions: &[f64], targets: &[f64]) -> f64 {
    predictions.iter().zip(targets).map(|(p, t)| (p - t).powi(2)).sum::<f64>() / targets.len().max(1) as f64
}

/// The grid over the data's ranges: `size` points along each input.
fn grid(data: &FitData, size: usize) -> Grid {
    let at = |(lo, hi): (f64, f64), k: usize| lo + (hi - lo) * k as f64 / (size - 1) as f64;
    if data.dims() == 1 {
        Grid { cols: size, rows: 1, inputs: (0..size).map(|k| at(data.ranges[0], k)).collect() }
    } else {
        let inputs =
            (0..size).flat_map(|r| (0..size).flat_map(move |c| [at(data.ranges[0], c), at(data.ranges[1], r)]));
        Grid { cols: size, rows: size, inputs: inputs.collect() }
    }
}

/// A least-squares row: linear (`degree` 1) or polynomial.
fn fit_regression(data: &FitData, grid: &Grid, kind: ModelKind, l2: f64) -> Result<ModelFit, FitError> {
    let (degree, base) = match kind {
        ModelKind::Polynomial { degree } => (degree, format!("poly-{degree}")),
        _ => (1, "linear".to_string()),
    };
    let name = format!("{base}{}", penalty_name(l2));
    let dims = data.dims();
    let features = |inputs: &[f64]| polynomial_features(&scale_inputs(inputs, &data.ranges), dims, degree);
    let (train, cols) = features(&data.train.inputs);
    let fit = LinearFit::fit(&train, data.train.len(), cols, &data.train.targets, l2)
        .map_err(|source| FitError::Model { model: name.clone(), source })?;
    let predict =
        |inputs: &[f64]| -> Vec<f64> { features(inputs).0.chunks_exact(cols).map(|row| fit.predict(row)).collect() };
    Ok(ModelFit {
        train_mse: mse(&predict(&data.train.inputs), &data.train.targets),
        test_mse: mse(&predict(&data.test.inputs), &data.test.targets),
        predictions: predict(&grid.inputs),
        name,
        kind,
        l2,
        params: cols + 1,
        frames: Vec::new(),
    })
}

/// An MLP row: `dims → hidden (tanh) → 1`, Xavier-uniform weights, full-batch Adam on the
/// standardised targets with the L2 penalty `l2`.
fn fit_mlp(data: &FitData, grid: &Grid, config: &FitConfig, hidden: usize, l2: f64) -> Result<ModelFit, FitError> {
    let name = format!("mlp-{hidden}{}", penalty_name(l2));
    let engine = |source| FitError::Model { model: name.clone(), source };
    let dims = data.dims();
    let n = data.train.len();
    let to_f32 = |v: Vec<f64>| v.into_iter().map(|x| x as f32).collect::<Vec<f32>>();
    let x_train = to_f32(scale_inputs(&data.train.inputs, &data.ranges));
    let x_test = to_f32(scale_inputs(&data.test.inputs, &data.ranges));
    let x_grid = to_f32(scale_inputs(&grid.inputs, &data.ranges));
    let mean = data.train.targets.iter().sum::<f64>() / n as f64;
    let sd = (data.train.targets.iter().map(|t| (t - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
    let sd = if sd > 0.0 { sd } else { 1.0 };
    let targets: Vec<f32> = data.train.targets.iter().map(|t| ((t - mean) / sd) as f32).collect();

    let spec = MlpSpec::new(vec![dims, hidden, 1], Activation::Tanh, Activation::Identity).map_err(engine)?;
    let mut rng = Rng::new(config.seed ^ MLP_STREAM ^ hidden as u64);
    let mut mlp = Mlp::new(spec, Init::XavierUniform, &mut rng);
    let mut optimizer =
        OptimizerConfig { kind: OptimizerKind::Adam, ..OptimizerConfig::default() }.build(mlp.num_params());
    let reg = Regularizer { l1: 0.0, l2: l2 as f32 };
    let mut ws = Workspace::new(mlp.spec(), n);
    let mut grads = vec![0.0; mlp.num_params()];
    let x = MatRef::new(&x_train, n, dims).map_err(engine)?;
    let t = MatRef::new(&targets, n, 1).map_err(engine)?;

    let predict = |mlp: &Mlp, inputs: &[f32]| -> Result<Vec<f64>, FitError> {
        let rows = inputs.len() / dims;
        let out = mlp.predict(MatRef::new(inputs, rows, dims).map_err(engine)?).map_err(engine)?;
        Ok(out.as_slice().iter().map(|&y| mean + sd * f64::from(y)).collect())
    };
    let snapshot = |mlp: &Mlp, epoch: u64| -> Result<Frame, FitError> {
        let train_mse = mse(&predict(mlp, &x_train)?, &data.train.targets);
        Ok(Frame { epoch, train_mse, predictions: predict(mlp, &x_grid)? })
    };
    let mut frames = Vec::new();
    if config.frame_every > 0 {
        frames.push(snapshot(&mlp, 0)?);
    }
    for epoch in 1..=config.epochs {
        mlp.loss_and_gradient(x, Targets::Values(t), Loss::Mse, reg, &mut ws, &mut grads).map_err(engine)?;
        optimizer.step(mlp.params_mut(), &grads, config.lr);
        let last = epoch == config.epochs;
        if config.frame_every > 0 && (epoch % config.frame_every == 0 || last) {
            frames.push(snapshot(&mlp, epoch)?);
        }
    }
    Ok(ModelFit {
        train_mse: mse(&predict(&mlp, &x_train)?, &data.train.targets),
        test_mse: mse(&predict(&mlp, &x_test)?, &data.test.targets),
        predictions: predict(&mlp, &x_grid)?,
        kind: ModelKind::Mlp { hidden },
        l2,
        params: mlp.num_params(),
        frames,
        name,
    })
}

/// Fits every model of `config` to `data`.
pub fn run(data: FitData, config: &FitConfig) -> Result<FitReport, FitError> {
    run_with(data, config, |_| {})
}

/// [`run`], calling `on_model` after each model is fitted (e.g. to show progress).
pub fn run_with(data: FitData, config: &FitConfig, mut on_model: impl FnMut(&ModelFit)) -> Result<FitReport, FitError> {
    config.check()?;
    if data.train.len() < 2 || data.test.is_empty() {
        return Err(FitError::Input("need at least 2 training points and 1 test point".into()));
    }
    let grid = grid(&data, if data.dims() == 1 { config.grid } else { config.grid.min(61) });
    let truth = match &data.truth {
        Some(f) => {
            let values: Result<Vec<f64>, FitError> =
                grid.inputs.chunks_exact(data.dims()).map(|p| data::evaluate(f, &data.variables, p)).collect();
            Some(values?)
        }
        None => None,
    };
    let (first, more) = config.l2.split_first().expect("check() ensures one λ");
    let mut models = Vec::new();
    let mut push = |m: ModelFit, models: &mut Vec<ModelFit>| {
        on_model(&m);
        models.push(m);
    };
    push(fit_regression(&data, &grid, ModelKind::Linear, *first)?, &mut models);
    for &l2 in std::iter::once(first).chain(more) {
        push(fit_regression(&data, &grid, ModelKind::Polynomial { degree: config.degree }, l2)?, &mut models);
    }
    let widest = config.hidden.iter().copied().max();
    for &hidden in &config.hidden {
        push(fit_mlp(&data, &grid, config, hidden, *first)?, &mut models);
    }
    if let Some(hidden) = widest {
        for &l2 in more {
            push(fit_mlp(&data, &grid, config, hidden, l2)?, &mut models);
        }
    }
    Ok(FitReport { data, grid, truth, models })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nabla::autodiff::expr::parse;

    fn quick(hidden: Vec<usize>, epochs: u64) -> FitConfig {
        FitConfig { hidden, epochs, grid: 50, ..FitConfig::default() }
    }

    #[test]
    fn polynomial_features_by_hand() {
        let (f, n) = polynomial_features(&[2.0, -1.0], 1, 3);
        assert_eq!((f, n), (vec![2.0, 4.0, 8.0, -1.0, 1.0, -1.0], 3));
        // x, y, x², xy, y² at (2, 3).
        let (f, n) = polynomial_features(&[2.0, 3.0], 2, 2);
        assert_eq!((f, n), (vec![2.0, 3.0, 4.0, 6.0, 9.0], 5));
    }

    /// A line is fitted exactly by both regressions; the cubic recovers a cubic exactly.
    #[test]
    fn regressions_recover_what_they_can_represent() {
        let config = FitConfig { noise: 0.0, ..quick(vec![], 0) };
        let report = run(sample(&parse("1 - 2*x").unwrap(), &config).unwrap(), &config).unwrap();
        assert!(report.models.iter().all(|m| m.test_mse < 1e-20), "{:?}", report.models);
        let report = run(sample(&parse("x^3 - x").unwrap(), &config).unwrap(), &config).unwrap();
        assert!(report.models[0].test_mse > 0.1, "a line cannot follow a cubic");
        assert!(report.models[1].test_mse < 1e-20, "poly-3: {}", report.models[1].test_mse);
        assert_eq!(report.models[1].params, 4);
    }

    /// The lecture's claim in numbers: on sin(3x) a line fails, a wide net does not.
    #[test]
    fn wide_mlp_beats_the_line_on_a_sine() {
        let config = quick(vec![1, 100], 1500);
        let report = run(sample(&parse("sin(3*x)").unwrap(), &config).unwrap(), &config).unwrap();
        let names: Vec<&str> = report.models.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["linear", "poly-3", "mlp-1", "mlp-100"]);
        let (linear, wide) = (&report.models[0], &report.models[3]);
        assert!(linear.test_mse > 0.3, "linear {}", linear.test_mse);
        assert!(wide.test_mse < 0.05, "mlp-100 {}", wide.test_mse);
        assert_eq!(report.truth.as_ref().map(Vec::len), Some(50));
    }

    /// λ rows: one ridge row and one widest-MLP row per extra λ, frames at 0, every k and the end.
    #[test]
    fn penalty_rows_and_frames() {
        let config = FitConfig { l2: vec![0.0, 1e-2], frame_every: 40, ..quick(vec![2, 5], 100) };
        let report = run(sample(&parse("x*x").unwrap(), &config).unwrap(), &config).unwrap();
        let names: Vec<&str> = report.models.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["linear", "poly-3", "poly-3 λ=1e-2", "mlp-2", "mlp-5", "mlp-5 λ=1e-2"]);
        let epochs: Vec<u64> = report.models[3].frames.iter().map(|f| f.epoch).collect();
        assert_eq!(epochs, [0, 40, 80, 100]);
        assert!(report.models[..3].iter().all(|m| m.frames.is_empty()));
    }

    #[test]
    fn two_inputs_give_a_grid_and_bad_settings_are_named() {
        let config = FitConfig { grid: 9, ..quick(vec![4], 50) };
        let report = run(sample(&parse("x*y").unwrap(), &config).unwrap(), &config).unwrap();
        assert_eq!((report.grid.cols, report.grid.rows, report.grid.inputs.len()), (9, 9, 162));
        // x·y is a degree-2 monomial: the cubic has it exactly, up to the noise.
        assert!(report.models[1].test_mse < 0.02, "{}", report.models[1].test_mse);
        let bad = FitConfig { range: (1.0, -1.0), ..FitConfig::default() };
        assert!(bad.check().unwrap_err().to_string().contains("range 1..-1"));
        // Too few points for the polynomial's features is an error naming the model.
        let few = FitConfig { points: 3, degree: 5, ..quick(vec![], 0) };
        let err = run(sample(&parse("x").unwrap(), &few).unwrap(), &few).unwrap_err().to_string();
        assert!(err.starts_with("poly-5: "), "{err}");
    }
}
