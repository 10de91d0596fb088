//! The Rust half of `nabla.MLPClassifier` and `nabla.MLPRegressor`: [`Network`], a fitted
//! model (a checkpoint: the network, its preprocessing, its optimiser state) that the Python
//! estimators hold. It only converts: NumPy arrays in and out, keywords as JSON, errors as
//! Python exceptions; the training, the preprocessing and the predictions are
//! `nabla_train::arrays`'.
//!
//! The features come in as a C-contiguous float32 array, read in place; the GIL is released
//! while the engine trains or predicts.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nabla_train::arrays::{self, ArrayError, Rows, Target};
use nabla_train::checkpoint::{self, Checkpoint};
use nabla_train::config::TrainConfig;
use nabla_train::schedule::Schedule;
use nabla_train::train::{TableSet, TrainError};
use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use serde_json::{Map, Value};

use crate::fit_run::{FitRun, TrackSpec};

/// A fitted network with everything prediction and further training need.
#[pyclass(frozen, module = "nabla._nabla")]
pub struct Network {
    ckpt: Checkpoint,
}

/// The exception an error becomes: bad input or keywords are the caller's (`ValueError`);
/// a failure while training (a diverged loss) is a `RuntimeError`.
fn py_err(e: ArrayError) -> PyErr {
    match &e {
        ArrayError::Input(_)
        | ArrayError::Param { .. }
        | ArrayError::Table(_)
        | ArrayError::Train(TrainError::Config(_) | TrainError::Checkpoint(_)) => PyValueError::new_err(e.to_string()),
        ArrayError::Train(_) | ArrayError::Model(_) | ArrayError::Engine(_) => PyRuntimeError::new_err(e.to_string()),
    }
}

fn params(json: &str) -> PyResult<Map<String, Value>> {
    match serde_json::from_str(json) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(PyTypeError::new_err("the estimator's parameters must be a JSON object")),
    }
}

/// The features as a slice, checked against the column names.
fn features<'a>(x: &'a PyReadonlyArray2<'_, f32>, columns: &[String]) -> PyResult<&'a [f32]> {
    if !x.is_c_contiguous() {
        return Err(PyTypeError::new_err("X must be a C-contiguous float32 array (np.ascontiguousarray)"));
    }
    if x.shape()[1] != columns.len() {
        return Err(PyValueError::new_err(format!(
            "X has {} columns and {} column names",
            x.shape()[1],
            columns.len()
        )));
    }
    x.as_slice().map_err(|e| PyTypeError::new_err(e.to_string()))
}

/// `y` as the model's targets: class indices (`classes` given) or values.
enum Labels {
    Classes(Vec<u32>, Vec<String>),
    Values(Vec<f64>, String),
}

impl Labels {
    fn of(y: &Bound<'_, PyAny>, classes: Option<Vec<String>>, target_name: &str) -> PyResult<Self> {
        match classes {
            Some(names) => {
                let y: PyReadonlyArray1<'_, i64> = y.extract()?;
                let labels = y
                    .as_array()
                    .iter()
                    .map(|&l| u32::try_from(l).ok().filter(|&l| (l as usize) < names.len()))
                    .collect::<Option<Vec<u32>>>()
                    .ok_or_else(|| PyValueError::new_err("y holds a class index outside the classes"))?;
                Ok(Labels::Classes(labels, names))
            }
            None => {
                let y: PyReadonlyArray1<'_, f64> = y.extract()?;
                Ok(Labels::Values(y.as_array().to_vec(), target_name.to_string()))
            }
        }
    }

    fn target(&self) -> Target<'_> {
        match self {
            Labels::Classes(labels, names) => Target::Classes { labels, names },
            Labels::Values(values, name) => Target::Values { values, name },
        }
    }
}

/// Runs `work` without the GIL on a thread of its own while this (the calling) thread looks
/// for signals every 50 ms: Python runs its signal handlers only on the main thread and only
/// when it holds the GIL, so Ctrl-C in a notebook would otherwise wait for the whole fit. On
/// a `KeyboardInterrupt` (or any error a handler raises) `work`'s stop flag is set, the
/// trainer stops between steps, and the error is raised once it has.
fn interruptible<T: Send>(py: Python<'_>, work: impl FnOnce(&AtomicBool) -> T + Send) -> PyResult<T> {
    let stop = AtomicBool::new(false);
    let done = (std::sync::Mutex::new(false), std::sync::Condvar::new());
    std::thread::scope(|scope| {
        let worker = scope.spawn(|| {
            let out = work(&stop);
            *done.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = true;
            done.1.notify_all();
            out
        });
        let mut raised = None;
        loop {
            let finished = py.detach(|| {
                let guard = done.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let (guard, _) = done
                    .1
                    .wait_timeout_while(guard, Duration::from_millis(50), |finished| !*finished)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                *guard || worker.is_finished()
            });
            if finished {
                break;
            }
            if raised.is_none() {
                if let Err(e) = py.check_signals() {
                    stop.store(true, Ordering::SeqCst);
                    raised = Some(e);
                }
            }
        }
        let out = worker.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        match raised {
            Some(e) => Err(e),
            None => Ok(out),
        }
    })
}

/// A layer's weights `[in, out]` and bias `[out]`.
type Layer<'py> = (Bound<'py, PyArray2<f32>>, Bound<'py, PyArray1<f32>>);

/// What a fit reports besides the model: the training loss of each epoch; with early
/// stopping, the validation loss of each epoch; the epoch whose weights were kept; the tracked
/// run's id (when tracked); a note on why tracking stopped or never started (for a warning).
type FitReport = (Vec<f64>, Vec<f64>, usize, Option<String>, Option<String>);

/// The Python side's `track` argument: (project, config as JSON text, heartbeat seconds,
/// system-sampling seconds or `None`).
type TrackArg = (String, String, f64, Option<f64>);

fn track_spec(track: Option<TrackArg>) -> PyResult<Option<TrackSpec>> {
    let Some((project, config, heartbeat, system)) = track else { return Ok(None) };
    let config: Value = serde_json::from_str(&config)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| PyTypeError::new_err("the tracked run's config must be a JSON object"))?;
    let seconds = |what: &str, s: f64| {
        Duration::try_from_secs_f64(s)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| PyValueError::new_err(format!("{what} must be a positive number of seconds, got {s}")))
    };
    Ok(Some(TrackSpec {
        project,
        config,
        heartbeat: seconds("the heartbeat interval", heartbeat)?,
        system: system.map(|s| seconds("the system sampling interval", s)).transpose()?,
    }))
}

/// Trains on `set` as a tracked run when `track` asks for one, and reports.
fn train_tracked(
    config: &TrainConfig,
    set: &TableSet,
    resume: Option<Checkpoint>,
    stop: &AtomicBool,
    track: Option<TrackSpec>,
) -> Result<(Network, FitReport), ArrayError> {
    let validated = set.val.is_some();
    let mut run = FitRun::start(track, config, validated);
    let trained = arrays::train_set(config, set, resume, Some(stop), &mut run);
    let (run_id, note) = run.end(trained.as_ref().map(|(_, outcome)| outcome));
    let (ckpt, outcome) = trained?;
    let losses = outcome.history.iter().map(|m| m.train_loss).collect();
    let val = if validated { outcome.history.iter().map(|m| m.val_loss).collect() } else { Vec::new() };
    Ok((Network { ckpt }, (losses, val, outcome.best_epoch, run_id, note)))
}

#[pymethods]
impl Network {
    /// Fits a new network on `x` (`[rows, columns]`, float32, C order) and `y`: class indices
    /// into `classes` for a classifier (int64), else values (float64). `params` is the
    /// estimator's keywords as a JSON object; `track`, when given, records the fit as a run
    /// (project, config JSON, heartbeat and system-sampling seconds). Returns the network and
    /// the fit's report.
    #[staticmethod]
    #[pyo3(signature = (params, x, columns, y, classes=None, target_name=String::from("y"), track=None))]
    #[allow(clippy::too_many_arguments)]
    fn fit(
        py: Python<'_>,
        params: &str,
        x: PyReadonlyArray2<'_, f32>,
        columns: Vec<String>,
        y: &Bound<'_, PyAny>,
        classes: Option<Vec<String>>,
        target_name: String,
        track: Option<TrackArg>,
    ) -> PyResult<(Network, FitReport)> {
        let params = self::params(params)?;
        let track = track_spec(track)?;
        let labels = Labels::of(y, classes, &target_name)?;
        let x = features(&x, &columns)?;
        let rows = Rows { x, columns: &columns };
        interruptible(py, |stop| {
            let target = labels.target();
            let config = arrays::estimator_config(&params, rows.len(), target.task())?;
            let scale = arrays::estimator_scale(&params)?;
            let set = arrays::fit_set(rows, target, config.val_split, config.seed, scale)?;
            train_tracked(&config, &set, None, stop, track)
        })?
        .map_err(py_err)
    }

    /// One more epoch on `x` and `y` (as in [`Network::fit`], with this network's classes),
    /// from this network's weights and optimiser state, at a constant learning rate and
    /// without early stopping. Keywords given (not `None`) replace the stored settings; the
    /// architecture must stay the same. `track` as in [`Network::fit`]. Returns the new
    /// network and the epoch's report.
    #[pyo3(signature = (params, x, columns, y, track=None))]
    fn partial_fit(
        &self,
        py: Python<'_>,
        params: &str,
        x: PyReadonlyArray2<'_, f32>,
        columns: Vec<String>,
        y: &Bound<'_, PyAny>,
        track: Option<TrackArg>,
    ) -> PyResult<(Network, FitReport)> {
        let params = self::params(params)?;
        let track = track_spec(track)?;
        let pre = self.pre()?;
        let labels = Labels::of(y, pre.classes().map(<[String]>::to_vec), pre.target.column())?;
        let x = features(&x, &columns)?;
        let rows = Rows { x, columns: &columns };
        interruptible(py, |stop| {
            let stored: TrainConfig = serde_json::from_value(self.ckpt.config.clone())
                .map_err(|e| ArrayError::Input(format!("the model's stored settings: {e}")))?;
            let mut config = arrays::estimator_config_over(&params, stored)?;
            config.epochs = self.ckpt.epoch + 1;
            config.patience = 0;
            config.val_split = 0.0;
            config.schedule = Schedule::Constant;
            let set = arrays::more_set(pre, rows, labels.target())?;
            train_tracked(&config, &set, Some(self.ckpt.clone()), stop, track)
        })?
        .map_err(py_err)
    }

    /// The raw outputs for `x`: `[rows, classes]` logits, or `[rows, 1]` standardised values.
    fn outputs<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArray2<'_, f32>,
        columns: Vec<String>,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let x = features(&x, &columns)?;
        let out = py.detach(|| arrays::outputs(&self.ckpt, Rows { x, columns: &columns })).map_err(py_err)?;
        let array = Array2::from_shape_vec((out.rows, out.width), out.values).expect("outputs are rows × width");
        Ok(array.into_pyarray(py))
    }

    /// Class probabilities for `x`, `[rows, classes]`: the softmax of the logits, in float32
    /// as the engine computes them.
    fn predict_proba<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArray2<'_, f32>,
        columns: Vec<String>,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let pre = self.pre()?;
        let x = features(&x, &columns)?;
        let (rows, classes, p) = py
            .detach(|| -> Result<_, ArrayError> {
                let out = arrays::outputs(&self.ckpt, Rows { x, columns: &columns })?;
                match nabla_train::table_model::predict(pre, &out)? {
                    nabla_train::table_model::Predictions::Classes { probabilities, classes, .. } => {
                        Ok((out.rows, classes, probabilities))
                    }
                    nabla_train::table_model::Predictions::Values(_) => {
                        Err(ArrayError::Input("a regression has no class probabilities".into()))
                    }
                }
            })
            .map_err(py_err)?;
        Ok(Array2::from_shape_vec((rows, classes), p).expect("probabilities are rows × classes").into_pyarray(py))
    }

    /// A regression's predictions for `x`, in the target's units.
    fn predict_values<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArray2<'_, f32>,
        columns: Vec<String>,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let pre = self.pre()?;
        let x = features(&x, &columns)?;
        let values = py
            .detach(|| -> Result<_, ArrayError> {
                let out = arrays::outputs(&self.ckpt, Rows { x, columns: &columns })?;
                match nabla_train::table_model::predict(pre, &out)? {
                    nabla_train::table_model::Predictions::Values(v) => Ok(v),
                    nabla_train::table_model::Predictions::Classes { .. } => {
                        Err(ArrayError::Input("a classifier predicts classes, not values".into()))
                    }
                }
            })
            .map_err(py_err)?;
        Ok(values.into_pyarray(py))
    }

    /// Each layer's weights and bias as scikit-learn lays them out: `coefs` `[in, out]`
    /// (the transpose of nabla's `[out, in]`) and `intercepts` `[out]`. The first layer's
    /// inputs are the standardised columns the preprocessing keeps. A plain MLP's alone: a
    /// residual network (a model of `nabla train TABLE --residual`) raises `ValueError`.
    fn layers<'py>(&self, py: Python<'py>) -> PyResult<Vec<Layer<'py>>> {
        let spec = self.ckpt.spec();
        if spec.plain().is_none() {
            return Err(PyValueError::new_err(format!(
                "coefs_ and intercepts_ are a plain MLP's layers; this model is a residual network ({spec}), \
                 whose blocks and layer norms have no such layout (predict works; its weights are in the \
                 checkpoint, named as in PyTorch)"
            )));
        }
        let params = self.ckpt.network.params();
        let tensors = spec.tensors();
        Ok(tensors
            .chunks_exact(2)
            .map(|pair| {
                let (w, b) = (&pair[0], &pair[1]);
                let (out, inp) = (w.shape[0], w.shape[1]);
                let weight = Array2::from_shape_vec((out, inp), params[w.range.clone()].to_vec())
                    .expect("a weight is out × in")
                    .reversed_axes();
                (
                    weight.as_standard_layout().to_owned().into_pyarray(py),
                    params[b.range.clone()].to_vec().into_pyarray(py),
                )
            })
            .collect())
    }

    /// The class names, for a classifier (`None` for a regression).
    #[getter]
    fn classes(&self) -> Option<Vec<String>> {
        self.ckpt.table().and_then(|p| p.classes().map(<[String]>::to_vec))
    }

    /// The columns the model reads, in input order, then those it was given and left out
    /// (constant in training): what a loaded model takes, in that order.
    #[getter]
    fn columns(&self) -> PyResult<Vec<String>> {
        let pre = self.pre()?;
        let mut names: Vec<String> = pre.features.iter().map(|f| f.column().to_string()).collect();
        names.extend(pre.ignored.iter().cloned());
        Ok(names)
    }

    /// The regression target's name (the classifier's target column).
    #[getter]
    fn target_name(&self) -> PyResult<String> {
        Ok(self.pre()?.target.column().to_string())
    }

    /// Epochs trained so far.
    #[getter]
    fn epochs(&self) -> usize {
        self.ckpt.epoch
    }

    /// The model as the bytes of a checkpoint file (what `save` writes).
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = checkpoint::to_bytes(Path::new("<estimator>"), &self.ckpt)
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// A model from the bytes [`Network::to_bytes`] made.
    #[staticmethod]
    fn from_bytes(py: Python<'_>, bytes: &[u8]) -> PyResult<Network> {
        let ckpt = py
            .detach(|| checkpoint::from_bytes(Path::new("<estimator>"), bytes))
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        Network::table_model(ckpt)
    }

    /// Writes the model as a checkpoint file at `path`, atomically (`nabla predict` and
    /// `nabla eval` read it).
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        py.detach(|| checkpoint::save(&path, &self.ckpt)).map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// Reads a table model's checkpoint file (written by `save` or `nabla train TABLE`).
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Network> {
        let ckpt = py.detach(|| checkpoint::load(&path)).map_err(|e| PyValueError::new_err(e.to_string()))?;
        Network::table_model(ckpt)
    }
}

impl Network {
    fn pre(&self) -> PyResult<&nabla_data::table::Preprocessor> {
        self.ckpt.table().ok_or_else(|| PyValueError::new_err("the model is an image model, not a table's"))
    }

    fn table_model(ckpt: Checkpoint) -> PyResult<Network> {
        if ckpt.table().is_none() {
            return Err(PyValueError::new_err(format!(
                "the checkpoint is a model of {} images ({}), not of a table: nabla.load and the estimators \
                 take table models (written by an estimator's save or by `nabla train TABLE`); evaluate an \
                 image model with `nabla eval CKPT {}`",
                ckpt.dataset,
                ckpt.spec(),
                ckpt.dataset
            )));
        }
        Ok(Network { ckpt })
    }
}
