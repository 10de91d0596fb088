//! The `nabla._nabla` extension module: [`RunCore`], a [`Run`] with wandb's step rules, that the
//! Python package (`python/nabla`) wraps.
//!
//! Every call that may wait (start, flush, finish, artifacts) releases the GIL first and only
//! then takes the run's lock, so that a thread holding the GIL never waits on a thread that
//! waits for the GIL. `log` keeps the GIL: it converts the values, does a few hash lookups and
//! hands the points to the writer thread.
//!
//! A run given a server is sent to it in the background by the tracker; what goes wrong there
//! never raises: it reaches the user as one [`ServerWarning`] (a refusal, as soon as a `log`
//! notices it; a run not delivered, at `finish`).

use std::collections::HashMap;
use std::ffi::CString;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use nabla_track::{EndStatus, MetricHandle, Remote, Run, RunOptions, TrackError};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyUserWarning, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use serde_json::Value;

use crate::steps::{StepError, Steps};

/// This process's id, updated by [`forked`] in a forked child: `std::process::id()` is a
/// system call, too slow to make on every `log`.
static PID: AtomicU32 = AtomicU32::new(0);

pyo3::create_exception!(
    nabla,
    ServerWarning,
    PyUserWarning,
    "A run could not be sent to its nabla server (refused, or the server away): the run is \
     recorded in the local store all the same, and `nabla runs sync` sends it later."
);

/// Issues a [`ServerWarning`] with `text` (an error when the warning filters say so).
fn warn_server(py: Python<'_>, text: &str) -> PyResult<()> {
    let text = CString::new(text.replace('\0', " ")).unwrap_or_default();
    PyErr::warn(py, &py.get_type::<ServerWarning>(), &text, 1)
}

/// Distinct metric-name objects remembered before the cache starts again.
const KEY_CACHE_LIMIT: usize = 4096;

/// Hashes an object address: one multiply (SipHash would cost more than the rest of `log`).
#[derive(Default)]
struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }

    fn write_usize(&mut self, n: usize) {
        // Addresses are 16-byte aligned: the high bits of the product mix in every bit.
        self.0 = (n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(26);
    }
}

/// Maps metric-name string objects to their text and their run's metric handle, so that a name
/// logged every step is decoded and looked up once. Each entry holds a reference to its
/// object, so that its address cannot be reused by another string while it is in the cache.
#[derive(Default)]
struct KeyCache {
    by_address: HashMap<usize, usize, BuildHasherDefault<AddressHasher>>,
    objects: Vec<Py<PyString>>,
    names: Vec<String>,
    /// Made on first use by the direct path.
    handles: Vec<Option<MetricHandle>>,
}

impl KeyCache {
    fn index(&mut self, key: &Bound<'_, PyString>) -> PyResult<usize> {
        let address = key.as_ptr() as usize;
        if let Some(&i) = self.by_address.get(&address) {
            return Ok(i);
        }
        let name = key.to_cow()?.into_owned();
        self.by_address.insert(address, self.names.len());
        self.objects.push(key.clone().unbind());
        self.names.push(name);
        self.handles.push(None);
        Ok(self.names.len() - 1)
    }

    /// Starts again when full (names made afresh every call, such as f-strings, would grow it
    /// without end). Only called between `log` calls, when no index is held.
    fn trim(&mut self) {
        if self.names.len() > KEY_CACHE_LIMIT {
            self.by_address.clear();
            self.objects.clear();
            self.names.clear();
            self.handles.clear();
        }
    }
}

/// The recording state behind the lock.
struct State {
    /// `None` once finished.
    run: Option<Run>,
    steps: Steps,
}

/// A run being recorded: the Rust half of `nabla.Run`.
#[pyclass(frozen, module = "nabla._nabla")]
pub struct RunCore {
    state: Mutex<State>,
    /// Only touched with the GIL held (see the module documentation).
    keys: Mutex<KeyCache>,
    /// Reused by `log`: (key index, value) of each value of the call.
    values: Mutex<Vec<(usize, f64)>>,
    pid: u32,
    #[pyo3(get)]
    id: String,
    #[pyo3(get)]
    project: String,
    #[pyo3(get)]
    name: Option<String>,
    #[pyo3(get)]
    dir: PathBuf,
    /// The server the run is sent to, if any.
    #[pyo3(get)]
    server: Option<String>,
    /// Whether the user was warned that the server refused the run (then `finish` says no more).
    refusal_warned: std::sync::atomic::AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a lock leaves the state usable: each update is one assignment.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn track_err(call: &str, e: TrackError) -> PyErr {
    match e {
        TrackError::StepNotIncreasing { .. } | TrackError::InvalidMetricName { .. } | TrackError::StepTooLarge(_) => {
            PyValueError::new_err(format!("{call}: {e}"))
        }
        other => PyRuntimeError::new_err(format!("{call}: {other}")),
    }
}

fn step_err(call: &str, e: StepError<TrackError>) -> PyErr {
    match e {
        StepError::Sink(e) => track_err(call, e),
        other => PyValueError::new_err(format!("{call}: {other}")),
    }
}

fn parse_json(call: &str, what: &str, text: &str) -> PyResult<Value> {
    serde_json::from_str(text).map_err(|e| PyValueError::new_err(format!("{call}: {what} is not valid JSON: {e}")))
}

/// The interval in seconds as a `Duration`, refusing what is not a positive finite number.
fn seconds(what: &str, secs: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(secs).ok().filter(|d| !d.is_zero()).ok_or_else(|| {
        PyValueError::new_err(format!("nabla.init: {what} must be a positive number of seconds, got {secs}"))
    })
}

/// Reads `data` into `out` as (key index, value), nested dicts flattened with `/`.
fn read_values(
    data: &Bound<'_, PyDict>,
    prefix: Option<&str>,
    keys: &mut KeyCache,
    out: &mut Vec<(usize, f64)>,
) -> PyResult<()> {
    for (key, value) in data.iter() {
        let Ok(key) = key.cast::<PyString>() else {
            let shown = key.repr().map_or_else(|_| "?".into(), |r| r.to_string());
            return Err(PyTypeError::new_err(format!(
                "nabla.log: metric names must be str, got {} ({shown})",
                type_name(&key)
            )));
        };
        let index = match prefix {
            None => keys.index(key)?,
            Some(prefix) => {
                let joined = PyString::new(key.py(), &format!("{prefix}/{}", key.to_cow()?));
                keys.index(&joined)?
            }
        };
        if let Ok(nested) = value.cast::<PyDict>() {
            let name = keys.names[index].clone();
            read_values(nested, Some(&name), keys, out)?;
            continue;
        }
        // `float()`: Python floats and ints, numpy scalars and 0-d arrays, one-element torch
        // tensors (through `__float__`, or `__index__`), without importing numpy or torch.
        match value.extract::<f64>() {
            Ok(v) => out.push((index, v)),
            Err(e) => {
                return Err(PyTypeError::new_err(format!(
                    "nabla.log: the value of `{}` is {} ({}); nabla records numbers: int, float, numpy \
                     scalars and 0-d arrays, one-element torch tensors, or anything float() accepts",
                    keys.names[index],
                    type_name(&value),
                    e.value(value.py())
                )))
            }
        }
    }
    Ok(())
}

fn type_name(value: &Bound<'_, PyAny>) -> String {
    let ty = value.get_type();
    let name = ty.fully_qualified_name().or_else(|_| ty.name()).map_or_else(|_| "?".into(), |n| n.to_string());
    let article = if name.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
    format!("{article} {name}")
}

impl RunCore {
    /// The state, after checking that this is the process that started the run.
    fn check_process(&self, call: &str) -> PyResult<()> {
        let here = PID.load(Ordering::Relaxed);
        if here == self.pid {
            return Ok(());
        }
        Err(PyRuntimeError::new_err(format!(
            "{call}: run {} was started in process {}, and this is process {here} (a fork, such as a \
             multiprocessing worker); call nabla.init() in the worker to record from it",
            self.id, self.pid
        )))
    }

    /// Warns once that the server refused the run, if a background sync just found out.
    fn warn_refusal(&self, py: Python<'_>, run: &Run) -> PyResult<()> {
        let Some(reason) = run.take_sync_refusal() else { return Ok(()) };
        self.refusal_warned.store(true, Ordering::Relaxed);
        let uri = self.server.as_deref().unwrap_or("the server");
        warn_server(
            py,
            &format!(
                "{uri} refused run {} ({reason}); training goes on and the run is recorded locally \
                 in {}; `nabla runs sync` with a valid $NABLA_TOKEN sends it",
                self.id,
                self.dir.display()
            ),
        )
    }

    fn not_finished(&self, call: &str) -> PyErr {
        PyRuntimeError::new_err(format!("{call}: run {} is finished; start another with nabla.init()", self.id))
    }
}

#[pymethods]
impl RunCore {
    /// Starts a run: `dir` is the tracking directory (None: `$NABLA_HOME/tracking`, else the
    /// user data directory); `config` is JSON text; `server` (with `token`) a `nabla server`
    /// to send the run to in the background, as the Python side resolved it.
    #[new]
    #[pyo3(signature = (dir, project, name, config, tags, heartbeat_secs=5.0, system_secs=Some(5.0), server=None, token=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        dir: Option<PathBuf>,
        project: String,
        name: Option<String>,
        config: &str,
        tags: Vec<String>,
        heartbeat_secs: f64,
        system_secs: Option<f64>,
        server: Option<String>,
        token: Option<String>,
    ) -> PyResult<RunCore> {
        let config = parse_json("nabla.init", "config", config)?;
        let remote =
            server.map(|uri| Remote::new(&uri, token.as_deref().unwrap_or_default())).transpose().map_err(|e| {
                PyValueError::new_err(format!(
                    "nabla.init: {e} (server= and token=, or $NABLA_TRACKING_URI and $NABLA_TOKEN)"
                ))
            })?;
        let heartbeat = seconds("the heartbeat interval", heartbeat_secs)?;
        let system = system_secs.map(|s| seconds("the system sampling interval", s)).transpose()?;
        let mut options =
            RunOptions::new(project).config(config).tags(tags).heartbeat_interval(heartbeat).system_interval(system);
        options.name = name;
        options.remote = remote;
        let run = py.detach(|| {
            let dir = nabla_track::tracking_dir(dir.as_deref())?;
            Run::start(dir, options)
        });
        let run = run.map_err(|e| track_err("nabla.init", e))?;
        let pid = std::process::id();
        PID.store(pid, Ordering::Relaxed);
        Ok(RunCore {
            id: run.id().to_string(),
            project: run.project().to_string(),
            name: run.name().map(str::to_string),
            dir: run.tracking_dir().to_path_buf(),
            server: run.server().map(str::to_string),
            refusal_warned: std::sync::atomic::AtomicBool::new(false),
            pid,
            state: Mutex::new(State { run: Some(run), steps: Steps::new() }),
            keys: Mutex::new(KeyCache::default()),
            values: Mutex::new(Vec::new()),
        })
    }

    /// Logs the numbers in `data` (nested dicts flattened with `/`) with wandb's step rules.
    #[pyo3(signature = (data, step=None, commit=None))]
    fn log(&self, data: &Bound<'_, PyAny>, step: Option<&Bound<'_, PyAny>>, commit: Option<bool>) -> PyResult<()> {
        self.check_process("nabla.log")?;
        let Ok(data) = data.cast::<PyDict>() else {
            return Err(PyTypeError::new_err(format!(
                "nabla.log: expected a dict of metrics, got {}",
                type_name(data)
            )));
        };
        let step = match step {
            None => None,
            Some(s) => Some(s.extract::<u64>().map_err(|_| {
                let shown = s.repr().map_or_else(|_| "?".into(), |r| r.to_string());
                PyValueError::new_err(format!("nabla.log: step must be an int >= 0, got {shown}"))
            })?),
        };
        let mut keys = lock(&self.keys);
        keys.trim();
        let mut values = lock(&self.values);
        values.clear();
        read_values(data, None, &mut keys, &mut values)?;
        let mut state = lock(&self.state);
        let State { run, steps } = &mut *state;
        let Some(run) = run.as_mut() else { return Err(self.not_finished("nabla.log")) };
        if let Some(at) = steps.direct(step, commit) {
            // The common `log(data)`: by metric handle, without a name lookup per value.
            let mut points = Vec::with_capacity(values.len());
            for &(k, v) in values.iter() {
                let handle = match keys.handles[k] {
                    Some(handle) => handle,
                    None => {
                        let handle = run.metric(&keys.names[k]).map_err(|e| track_err("nabla.log", e))?;
                        keys.handles[k] = Some(handle);
                        handle
                    }
                };
                points.push((handle, v));
            }
            run.log_handles(at, &points).map_err(|e| track_err("nabla.log", e))?;
            steps.advance();
            return self.warn_refusal(data.py(), run);
        }
        let points: Vec<(&str, f64)> = values.iter().map(|&(k, v)| (keys.names[k].as_str(), v)).collect();
        steps.log(&points, step, commit, |s, p| run.log(s, p)).map_err(|e| step_err("nabla.log", e))?;
        self.warn_refusal(data.py(), run)
    }

    /// The current step: where the next `log` without `step` lands.
    #[getter]
    fn step(&self) -> u64 {
        lock(&self.state).steps.step()
    }

    /// Whether the run is finished.
    #[getter]
    fn finished(&self) -> bool {
        lock(&self.state).run.is_none()
    }

    /// Plots `name` (or a glob such as `val/*`) against the metric `step_metric`.
    fn define_axis(&self, name: &str, step_metric: &str) -> PyResult<()> {
        self.check_process("define_metric")?;
        lock(&self.state).steps.define_axis(name, step_metric);
        Ok(())
    }

    /// Sets summary `key` to the JSON value `value`.
    fn summary(&self, key: &str, value: &str) -> PyResult<()> {
        self.check_process("run.summary")?;
        let value = parse_json("run.summary", "the value", value)?;
        let mut state = lock(&self.state);
        let run = state.run.as_mut().ok_or_else(|| self.not_finished("run.summary"))?;
        run.summary(key, value).map_err(|e| track_err("run.summary", e))
    }

    /// Replaces the stored config with the JSON object `config`.
    fn set_config(&self, py: Python<'_>, config: &str) -> PyResult<()> {
        self.check_process("run.config")?;
        let config = parse_json("run.config", "the config", config)?;
        py.detach(|| {
            let mut state = lock(&self.state);
            let run = state.run.as_mut().ok_or_else(|| self.not_finished("run.config"))?;
            run.set_config(&config).map_err(|e| track_err("run.config", e))
        })
    }

    /// Stores the file at `path` as an artifact of kind `kind`: returns (name, sha256, bytes).
    fn log_artifact(&self, py: Python<'_>, path: PathBuf, kind: &str) -> PyResult<(String, String, u64)> {
        self.check_process("run.log_artifact")?;
        py.detach(|| {
            let mut state = lock(&self.state);
            let run = state.run.as_mut().ok_or_else(|| self.not_finished("run.log_artifact"))?;
            let record = run.log_artifact_path(&path, kind).map_err(|e| track_err("run.log_artifact", e))?;
            Ok((record.name, record.sha256, record.bytes))
        })
    }

    /// Waits until everything logged so far (and gathered by `commit=False`) is committed.
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        self.check_process("run.flush")?;
        py.detach(|| {
            let mut state = lock(&self.state);
            let State { run, steps } = &mut *state;
            let run = run.as_mut().ok_or_else(|| self.not_finished("run.flush"))?;
            steps.flush(|s, p| run.log(s, p)).map_err(|e| step_err("run.flush", e))?;
            run.flush().map_err(|e| track_err("run.flush", e))
        })
    }

    /// Every metric of the run (system metrics left out) as (name, points, last, min, max),
    /// after a flush.
    #[allow(clippy::type_complexity)]
    fn metrics(&self, py: Python<'_>) -> PyResult<Vec<(String, u64, Option<f64>, Option<f64>, Option<f64>)>> {
        self.flush(py)?;
        py.detach(|| {
            let store = nabla_track::Store::open_read_only(&self.dir).map_err(|e| track_err("run.summary", e))?;
            let metrics = store.metrics(&self.id).map_err(|e| track_err("run.summary", e))?;
            Ok(metrics
                .into_iter()
                .filter(|m| !m.name.starts_with(nabla_track::SYSTEM_METRIC_PREFIX))
                .map(|m| (m.name, m.points, m.last_value, m.min, m.max))
                .collect())
        })
    }

    /// Ends the run with `status` (`finished`, `failed` or `interrupted`), committing
    /// everything first, and, for a run with a server, sends the server the rest (trying for a
    /// few seconds while it is away). A run the server did not take whole is a [`ServerWarning`]
    /// (unless its refusal was warned of already), not an error: it stays in the local store.
    /// Finishing a finished run does nothing.
    fn finish(&self, py: Python<'_>, status: &str) -> PyResult<()> {
        self.check_process("run.finish")?;
        let status = match status {
            "finished" => EndStatus::Finished,
            "failed" => EndStatus::Failed,
            "interrupted" => EndStatus::Interrupted,
            other => {
                return Err(PyValueError::new_err(format!(
                    "run.finish: unknown status `{other}` (finished, failed, interrupted)"
                )))
            }
        };
        let (flushed, finished) = py.detach(|| {
            let mut state = lock(&self.state);
            let State { run, steps } = &mut *state;
            let Some(mut active) = run.take() else { return (Ok(()), Ok(())) };
            let flushed = steps.flush(|s, p| active.log(s, p)).map_err(|e| step_err("run.finish", e));
            (flushed, active.finish(status))
        });
        match finished {
            Ok(()) => flushed,
            Err(TrackError::NotDelivered { refused, .. }) if refused && self.refusal_warned.load(Ordering::Relaxed) => {
                flushed
            }
            Err(e @ TrackError::NotDelivered { .. }) => {
                flushed?;
                warn_server(py, &e.to_string())
            }
            Err(e) => flushed.and(Err(track_err("run.finish", e))),
        }
    }
}

impl Drop for RunCore {
    fn drop(&mut self) {
        // In a forked child the run's writer thread does not exist: dropping the run would
        // wait for it forever. The parent's run is left to the parent.
        if PID.load(Ordering::Relaxed) != self.pid {
            let state = self.state.get_mut().unwrap_or_else(PoisonError::into_inner);
            std::mem::forget(state.run.take());
        }
    }
}

/// Tells the module it now runs in a forked child (`os.register_at_fork(after_in_child=…)`).
#[pyfunction]
fn forked() {
    PID.store(std::process::id(), Ordering::Relaxed);
}

/// The extension module.
#[pymodule]
fn _nabla(m: &Bound<'_, PyModule>) -> PyResult<()> {
    PID.store(std::process::id(), Ordering::Relaxed);
    m.add_class::<RunCore>()?;
    m.add("ServerWarning", m.py().get_type::<ServerWarning>())?;
    m.add_class::<crate::estimator::Network>()?;
    m.add_function(wrap_pyfunction!(forked, m)?)?;
    m.add("NABLA_VERSION", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
