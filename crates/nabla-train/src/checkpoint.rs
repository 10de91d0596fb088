//! Checkpoints: a trained [`Mlp`] with everything needed to use or resume it, in one
//! safetensors file.
//!
//! The layout is PyTorch's, so that a Python user loads a nabla model with
//! `safetensors.torch.load_file` and a `torch.nn.Sequential` of `Linear` layers
//! (tests/reference/load_checkpoint.py shows how):
//!
//! | tensor              | dtype | shape          |
//! |---------------------|-------|----------------|
//! | `layers.{i}.weight` | F32   | `[out, in]`    |
//! | `layers.{i}.bias`   | F32   | `[out]`        |
//! | `optimizer.{name}`  | F32   | `[num_params]` |
//!
//! The optimiser buffers (momentum's `velocity`, Adam's `m` and `v`) have the layout of the
//! whole parameter vector. The safetensors `__metadata__` (a string → string map) holds:
//! `format` = `nabla-mlp`, `format_version` = `1`, `architecture` (JSON
//! `{"sizes":[784,128,10],"hidden":"relu","output":"identity"}`), `dataset`, `classes` (JSON
//! array), `input` (JSON [`InputSpec`]), `config` (JSON), `epoch`, `step`, `metrics` (JSON),
//! `optimizer` (JSON array of buffer names, in order) and `nabla_version`.
//!
//! [`save`] writes atomically: a temporary file in the same folder, flushed to disk, then
//! renamed over the target, so a crash never leaves a half-written checkpoint behind.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use nabla::{Activation, Mlp, MlpSpec};
use nabla_data::Normalizer;
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};

/// The value of the `format` metadata field.
pub const FORMAT: &str = "nabla-mlp";
/// The format version this nabla writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;

/// How stored pixels become model inputs: `x = (p / max_value − mean) / std`. With
/// `mean = 0` and `std = 1` that is plain `[0, 1]` scaling.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct InputSpec {
    /// Image height in pixels.
    pub height: usize,
    /// Image width in pixels.
    pub width: usize,
    /// The value of a full-ink pixel in the training data (255 for MNIST, 16 for digits).
    pub max_value: u8,
    /// Mean subtracted after scaling to `[0, 1]`.
    pub mean: f32,
    /// Standard deviation divided by after subtracting the mean.
    pub std: f32,
}

impl InputSpec {
    /// Plain `[0, 1]` scaling of `height × width` images whose full ink is `max_value`.
    pub fn unit(height: usize, width: usize, max_value: u8) -> Self {
        Self { height, width, max_value, mean: 0.0, std: 1.0 }
    }

    /// Input values per image (`height * width`).
    pub fn features(&self) -> usize {
        self.height * self.width
    }

    /// The model input for a pixel `p` in `0..=max_value` (any real value, so resampled
    /// images work too). A `std` of zero or less counts as 1, as in [`Normalizer`].
    pub fn normalize(&self, p: f32) -> f32 {
        let std = if self.std > 0.0 { self.std } else { 1.0 };
        (p / f32::from(self.max_value.max(1)) - self.mean) / std
    }

    /// The batch normaliser for stored pixels of a data set whose full ink is `max_value`
    /// (usually this spec's own `max_value`).
    pub fn normalizer(&self, max_value: u8) -> Normalizer {
        Normalizer::standardized(max_value, self.mean, self.std)
    }
}

/// A saved model: the network, what it was trained on, how inputs are prepared, and the
/// training state needed to resume.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// The network and its parameters.
    pub mlp: Mlp,
    /// The data set's name (`mnist`).
    pub dataset: String,
    /// Class names, indexed by output (as many as the network has outputs).
    pub classes: Vec<String>,
    /// How pixels become inputs.
    pub input: InputSpec,
    /// The trainer's full configuration (opaque here).
    pub config: serde_json::Value,
    /// Epochs completed.
    pub epoch: usize,
    /// Optimiser steps taken.
    pub step: u64,
    /// Optimiser state buffers by name, each as long as the parameter vector; may be empty.
    pub optimizer: Vec<(String, Vec<f32>)>,
    /// Metrics at save time, e.g. `{"val_acc": 0.98, "val_loss": 0.06}`.
    pub metrics: serde_json::Value,
}

impl Checkpoint {
    /// A checkpoint of `mlp` before any training: epoch 0, step 0, no optimiser state, an
    /// empty config and empty metrics.
    pub fn new(mlp: Mlp, dataset: impl Into<String>, classes: Vec<String>, input: InputSpec) -> Self {
        Checkpoint {
            mlp,
            dataset: dataset.into(),
            classes,
            input,
            config: serde_json::Value::Object(serde_json::Map::new()),
            epoch: 0,
            step: 0,
            optimizer: Vec::new(),
            metrics: serde_json::Value::Object(serde_json::Map::new()),
        }
    }

    /// The network's architecture.
    pub fn spec(&self) -> &MlpSpec {
        self.mlp.spec()
    }

    /// The batch normaliser for this model's inputs, for data whose full ink is `max_value`.
    pub fn input_normalizer(&self, max_value: u8) -> Normalizer {
        self.input.normalizer(max_value)
    }

    /// Whether this checkpoint's network has the architecture `spec` (for `--resume`).
    /// The error names both, e.g. `checkpoint is 784-128-10 (relu) but the run asks for
    /// 784-256-10 (relu)`.
    pub fn check_compatible(&self, spec: &MlpSpec) -> Result<(), CheckpointError> {
        if self.spec() == spec {
            return Ok(());
        }
        Err(CheckpointError::Incompatible {
            path: None,
            checkpoint: describe_architecture(self.spec()),
            requested: describe_architecture(spec),
        })
    }

    /// An optimiser buffer by name.
    pub fn optimizer_state(&self, name: &str) -> Option<&[f32]> {
        self.optimizer.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_slice())
    }
}

/// An architecture as people write it: `784-128-10 (relu)`, with the output activation
/// added when it is not the identity: `2-2-1 (sigmoid, output sigmoid)`.
pub fn describe_architecture(spec: &MlpSpec) -> String {
    let sizes: Vec<String> = spec.sizes.iter().map(ToString::to_string).collect();
    let mut text = format!("{} ({}", sizes.join("-"), spec.hidden);
    if spec.output != Activation::Identity {
        text.push_str(&format!(", output {}", spec.output));
    }
    text.push(')');
    text
}

/// What can go wrong reading or writing a checkpoint. Every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The file does not exist.
    #[error("{}: no such checkpoint file", path.display())]
    NotFound {
        /// The file.
        path: PathBuf,
    },
    /// The file could not be read or written.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        error: io::Error,
    },
    /// The file is not a (complete) safetensors file.
    #[error("{}: not a safetensors file (truncated or corrupt?): {reason}", path.display())]
    NotSafetensors {
        /// The file.
        path: PathBuf,
        /// What the safetensors reader said.
        reason: String,
    },
    /// The file is safetensors but not a nabla model checkpoint (or from a newer nabla).
    #[error("{}: not a nabla checkpoint: {reason}", path.display())]
    NotNabla {
        /// The file.
        path: PathBuf,
        /// What is missing or different.
        reason: String,
    },
    /// A tensor the architecture needs is not in the file.
    #[error("{}: missing tensor `{name}`", path.display())]
    MissingTensor {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
    },
    /// A tensor has the wrong shape or data type.
    #[error("{}: tensor `{name}` is {found}, expected {expected}", path.display())]
    BadTensor {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
        /// The data type and shape the architecture needs, e.g. `F32 [128, 784]`.
        expected: String,
        /// The data type and shape in the file, e.g. `F64 [128, 784]`.
        found: String,
    },
    /// A tensor has the right type and shape but a value the model cannot hold.
    #[error("{}: tensor `{name}`: {reason}", path.display())]
    BadValue {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
        /// What is wrong with its values.
        reason: String,
    },
    /// An f32 checkpoint where a quantised model was expected.
    #[error("{}: an f32 checkpoint, not a quantised model (make one with `nabla quantize`)", path.display())]
    NotQuantized {
        /// The file.
        path: PathBuf,
    },
    /// A metadata field is missing or does not parse.
    #[error("{}: bad metadata field `{field}`: {reason}", path.display())]
    BadMetadata {
        /// The file.
        path: PathBuf,
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The checkpoint holds another architecture than the one asked for.
    #[error("{}checkpoint is {checkpoint} but the run asks for {requested}", PathPrefix(path))]
    Incompatible {
        /// The file, when known.
        path: Option<PathBuf>,
        /// The checkpoint's architecture, described.
        checkpoint: String,
        /// The requested architecture, described.
        requested: String,
    },
    /// The checkpoint to save is inconsistent (a caller's bug, reported rather than written).
    #[error("{}: cannot save checkpoint: {reason}", path.display())]
    Invalid {
        /// The file that was to be written.
        path: PathBuf,
        /// What is inconsistent.
        reason: String,
    },
}

/// Displays `path: ` when there is a path, nothing otherwise.
struct PathPrefix<'a>(&'a Option<PathBuf>);

impl fmt::Display for PathPrefix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(p) => write!(f, "{}: ", p.display()),
            None => Ok(()),
        }
    }
}

/// The `architecture` metadata field.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ArchitectureJson {
    sizes: Vec<usize>,
    hidden: String,
    output: String,
}

impl ArchitectureJson {
    /// The field for `spec`.
    pub(crate) fn of(spec: &MlpSpec) -> Self {
        ArchitectureJson { sizes: spec.sizes.clone(), hidden: spec.hidden.to_string(), output: spec.output.to_string() }
    }
}

/// A tensor to write: little-endian bytes of `dtype` with a shape.
pub(crate) struct RawTensor {
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub bytes: Vec<u8>,
}

impl RawTensor {
    /// An F32 tensor.
    pub fn f32(shape: Vec<usize>, values: &[f32]) -> Self {
        RawTensor { dtype: Dtype::F32, shape, bytes: values.iter().flat_map(|v| v.to_le_bytes()).collect() }
    }
}

impl safetensors::View for &RawTensor {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.bytes)
    }
    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

/// Serialises `ckpt` to the bytes of a safetensors file (what [`save`] writes).
pub fn to_bytes(path: &Path, ckpt: &Checkpoint) -> Result<Vec<u8>, CheckpointError> {
    let invalid = |reason: String| CheckpointError::Invalid { path: path.to_path_buf(), reason };
    let spec = ckpt.spec();
    if ckpt.classes.len() != spec.outputs() {
        return Err(invalid(format!(
            "{} class names for a network with {} outputs",
            ckpt.classes.len(),
            spec.outputs()
        )));
    }
    if ckpt.input.features() != spec.inputs() {
        return Err(invalid(format!(
            "input {}×{} is {} values but the network takes {}",
            ckpt.input.height,
            ckpt.input.width,
            ckpt.input.features(),
            spec.inputs()
        )));
    }
    let params = ckpt.mlp.params();
    let mut tensors: Vec<(String, RawTensor)> =
        spec.tensors().into_iter().map(|t| (t.name, RawTensor::f32(t.shape, &params[t.range]))).collect();
    let mut names = Vec::with_capacity(ckpt.optimizer.len());
    for (name, buffer) in &ckpt.optimizer {
        if buffer.len() != params.len() {
            return Err(invalid(format!(
                "optimizer buffer `{name}` has {} values, the model {} parameters",
                buffer.len(),
                params.len()
            )));
        }
        if name.is_empty() || names.contains(name) {
            return Err(invalid(format!("optimizer buffer name `{name}` is empty or repeated")));
        }
        names.push(name.clone());
        tensors.push((format!("optimizer.{name}"), RawTensor::f32(vec![buffer.len()], buffer)));
    }

    let json = |v: serde_json::Result<String>| v.map_err(|e| invalid(format!("cannot write JSON metadata: {e}")));
    let architecture = ArchitectureJson::of(spec);
    let metadata = vec![
        ("format", FORMAT.to_string()),
        ("format_version", FORMAT_VERSION.to_string()),
        ("architecture", json(serde_json::to_string(&architecture))?),
        ("dataset", ckpt.dataset.clone()),
        ("classes", json(serde_json::to_string(&ckpt.classes))?),
        ("input", json(serde_json::to_string(&ckpt.input))?),
        ("config", json(serde_json::to_string(&ckpt.config))?),
        ("epoch", ckpt.epoch.to_string()),
        ("step", ckpt.step.to_string()),
        ("metrics", json(serde_json::to_string(&ckpt.metrics))?),
        ("optimizer", json(serde_json::to_string(&names))?),
    ];
    serialize(path, &tensors, metadata)
}

/// The safetensors bytes of `tensors` with `metadata` and nabla's version (for checkpoints and
/// quantised files alike); an error names `path`.
pub(crate) fn serialize(
    path: &Path,
    tensors: &[(String, RawTensor)],
    metadata: Vec<(&str, String)>,
) -> Result<Vec<u8>, CheckpointError> {
    let metadata: HashMap<String, String> = metadata
        .into_iter()
        .chain([("nabla_version", env!("CARGO_PKG_VERSION").to_string())])
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    safetensors::serialize(tensors.iter().map(|(n, t)| (n.as_str(), t)), Some(metadata))
        .map_err(|e| CheckpointError::Invalid { path: path.to_path_buf(), reason: format!("safetensors: {e}") })
}

/// Writes `bytes` to `path` atomically ([`write_atomic`]); an error names `path`.
pub(crate) fn save_bytes(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    write_atomic(path, bytes).map_err(|error| CheckpointError::Io { path: path.to_path_buf(), error })
}

/// Saves `ckpt` to `path` atomically: the bytes go to a temporary file in the same folder,
/// which is flushed to disk and then renamed over `path`. On any error the temporary file
/// is removed and `path` is left as it was.
pub fn save(path: &Path, ckpt: &Checkpoint) -> Result<(), CheckpointError> {
    save_bytes(path, &to_bytes(path, ckpt)?)
}

/// Writes `bytes` to `path` through a temporary sibling file and a rename.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let file_name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"))?
        .to_string_lossy();
    // Unique per process and call, so concurrent saves (best and last) never share a file.
    let tmp = dir.join(format!(".{file_name}.{}.{}.tmp", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed)));
    let result = (|| {
        let mut file = fs::OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)?;
        // Make the rename itself durable; not every platform can open a folder, so best effort.
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Loads a checkpoint, checking that it is a complete nabla checkpoint whose tensors fit
/// its architecture.
pub fn load(path: &Path) -> Result<Checkpoint, CheckpointError> {
    let bytes = fs::read(path).map_err(|error| match error.kind() {
        io::ErrorKind::NotFound => CheckpointError::NotFound { path: path.to_path_buf() },
        _ => CheckpointError::Io { path: path.to_path_buf(), error },
    })?;
    from_bytes(path, &bytes)
}

/// Loads `path` and checks that it holds the architecture `spec` (for `--resume`).
pub fn load_compatible(path: &Path, spec: &MlpSpec) -> Result<Checkpoint, CheckpointError> {
    let ckpt = load(path)?;
    ckpt.check_compatible(spec).map_err(|e| match e {
        CheckpointError::Incompatible { checkpoint, requested, .. } => {
            CheckpointError::Incompatible { path: Some(path.to_path_buf()), checkpoint, requested }
        }
        other => other,
    })?;
    Ok(ckpt)
}

/// Parses the bytes of a checkpoint file; `path` is only used in error messages.
pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Checkpoint, CheckpointError> {
    let file = || path.to_path_buf();
    let (st, meta) = open_safetensors(path, bytes)?;
    check_format(path, &meta, FORMAT, FORMAT_VERSION)?;
    let field = |name: &'static str| metadata_field(path, &meta, name);
    let bad = |name: &'static str, reason: String| CheckpointError::BadMetadata { path: file(), field: name, reason };
    let parse_json = |name: &'static str| -> Result<serde_json::Value, CheckpointError> {
        serde_json::from_str(field(name)?).map_err(|e| bad(name, format!("not JSON: {e}")))
    };
    let ModelMeta { spec, dataset, classes, input } = ModelMeta::parse(path, &meta, bytes.len())?;

    let read_f32 = |name: &str, expected: &[usize], out: &mut [f32]| read_f32(path, &st, name, expected, out);

    let mut params = vec![0.0f32; spec.param_count()];
    for t in spec.tensors() {
        read_f32(&t.name, &t.shape, &mut params[t.range])?;
    }
    let n = params.len();
    let mlp = Mlp::from_params(spec, params).map_err(|e| bad("architecture", e.to_string()))?;

    let names: Vec<String> = serde_json::from_str(field("optimizer")?).map_err(|e| bad("optimizer", e.to_string()))?;
    let mut optimizer = Vec::with_capacity(names.len());
    for name in names {
        let mut buffer = vec![0.0f32; n];
        read_f32(&format!("optimizer.{name}"), &[n], &mut buffer)?;
        optimizer.push((name, buffer));
    }

    let epoch = field("epoch")?.parse().map_err(|_| bad("epoch", format!("`{}` is not a count", meta["epoch"])))?;
    let step = field("step")?.parse().map_err(|_| bad("step", format!("`{}` is not a count", meta["step"])))?;

    Ok(Checkpoint {
        mlp,
        dataset,
        classes,
        input,
        config: parse_json("config")?,
        epoch,
        step,
        optimizer,
        metrics: parse_json("metrics")?,
    })
}

/// The safetensors view of `bytes` and its `__metadata__` map (empty when absent).
pub(crate) fn open_safetensors<'b>(
    path: &Path,
    bytes: &'b [u8],
) -> Result<(SafeTensors<'b>, HashMap<String, String>), CheckpointError> {
    let not = |e: safetensors::SafeTensorError| CheckpointError::NotSafetensors {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let st = SafeTensors::deserialize(bytes).map_err(not)?;
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(not)?;
    Ok((st, header.metadata().clone().unwrap_or_default()))
}

/// Checks the `format` and `format_version` fields against what this reader understands.
pub(crate) fn check_format(
    path: &Path,
    meta: &HashMap<String, String>,
    format: &str,
    newest: u32,
) -> Result<(), CheckpointError> {
    let file = || path.to_path_buf();
    match meta.get("format") {
        Some(f) if f == format => {}
        Some(f) => {
            return Err(CheckpointError::NotNabla { path: file(), reason: format!("format is `{f}`, not `{format}`") })
        }
        None => {
            return Err(CheckpointError::NotNabla {
                path: file(),
                reason: "its metadata has no `format` field (a plain safetensors file?)".into(),
            })
        }
    }
    let text = metadata_field(path, meta, "format_version")?;
    let version: u32 = text.parse().map_err(|_| CheckpointError::BadMetadata {
        path: file(),
        field: "format_version",
        reason: format!("`{text}` is not a whole number"),
    })?;
    if version > newest || version == 0 {
        return Err(CheckpointError::NotNabla {
            path: file(),
            reason: format!("format version {version}; this nabla reads version {newest}"),
        });
    }
    Ok(())
}

/// A metadata field that must be present.
pub(crate) fn metadata_field<'m>(
    path: &Path,
    meta: &'m HashMap<String, String>,
    name: &'static str,
) -> Result<&'m str, CheckpointError> {
    meta.get(name).map(String::as_str).ok_or_else(|| CheckpointError::BadMetadata {
        path: path.to_path_buf(),
        field: name,
        reason: "missing".into(),
    })
}

/// What every nabla model file says about its model: architecture, data set, classes, input.
pub(crate) struct ModelMeta {
    pub spec: MlpSpec,
    pub dataset: String,
    pub classes: Vec<String>,
    pub input: InputSpec,
}

impl ModelMeta {
    /// Parses and cross-checks the fields of a file of `file_len` bytes.
    pub fn parse(path: &Path, meta: &HashMap<String, String>, file_len: usize) -> Result<Self, CheckpointError> {
        let field = |name: &'static str| metadata_field(path, meta, name);
        let bad = |name: &'static str, reason: String| CheckpointError::BadMetadata {
            path: path.to_path_buf(),
            field: name,
            reason,
        };
        let arch: ArchitectureJson =
            serde_json::from_str(field("architecture")?).map_err(|e| bad("architecture", e.to_string()))?;
        let activation = |which: &str| -> Result<Activation, CheckpointError> {
            which.parse().map_err(|e: nabla::Error| bad("architecture", e.to_string()))
        };
        let spec = MlpSpec::new(arch.sizes, activation(&arch.hidden)?, activation(&arch.output)?)
            .map_err(|e| bad("architecture", e.to_string()))?;
        // Check the size before anything is allocated for it: a corrupt header could ask for
        // more parameters than memory (or usize) holds. Every parameter takes at least a byte.
        let needed = spec.sizes.windows(2).try_fold(0usize, |total, w| {
            w[0].checked_mul(w[1]).and_then(|n| n.checked_add(w[1])).and_then(|n| total.checked_add(n))
        });
        match needed {
            Some(n) if n <= file_len => {}
            _ => {
                return Err(bad(
                    "architecture",
                    format!("{:?} needs more parameters than the file's {file_len} bytes hold", spec.sizes),
                ))
            }
        }
        let classes: Vec<String> = serde_json::from_str(field("classes")?)
            .map_err(|e| bad("classes", format!("not a JSON list of names: {e}")))?;
        if classes.len() != spec.outputs() {
            return Err(bad("classes", format!("{} names for {} outputs", classes.len(), spec.outputs())));
        }
        let input: InputSpec = serde_json::from_str(field("input")?).map_err(|e| bad("input", e.to_string()))?;
        if input.features() != spec.inputs() {
            return Err(bad(
                "input",
                format!("{}×{} images for a network of {} inputs", input.height, input.width, spec.inputs()),
            ));
        }
        Ok(ModelMeta { spec, dataset: field("dataset")?.to_string(), classes, input })
    }
}

/// Reads the F32 tensor `name` of shape `expected` into `out`; the error names the file and
/// the tensor.
pub(crate) fn read_f32(
    path: &Path,
    st: &SafeTensors<'_>,
    name: &str,
    expected: &[usize],
    out: &mut [f32],
) -> Result<(), CheckpointError> {
    let view = tensor(path, st, name, Dtype::F32, expected)?;
    decode_f32(&view, out);
    Ok(())
}

/// The tensor `name`, checked to be of `dtype` and shape `expected`.
pub(crate) fn tensor<'b>(
    path: &Path,
    st: &SafeTensors<'b>,
    name: &str,
    dtype: Dtype,
    expected: &[usize],
) -> Result<TensorView<'b>, CheckpointError> {
    let view =
        st.tensor(name).map_err(|_| CheckpointError::MissingTensor { path: path.to_path_buf(), name: name.into() })?;
    if view.dtype() != dtype || view.shape() != expected {
        return Err(CheckpointError::BadTensor {
            path: path.to_path_buf(),
            name: name.into(),
            expected: format!("{dtype:?} {expected:?}"),
            found: format!("{:?} {:?}", view.dtype(), view.shape()),
        });
    }
    Ok(view)
}

/// Copies a little-endian F32 tensor into `out` (same element count, checked by the caller).
/// The data may sit at any byte offset, so it is decoded rather than cast.
fn decode_f32(view: &TensorView<'_>, out: &mut [f32]) {
    for (o, b) in out.iter_mut().zip(view.data().chunks_exact(4)) {
        *o = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nabla::{Init, Rng};

    fn sample() -> Checkpoint {
        let spec = MlpSpec::new(vec![4, 3, 2], Activation::LeakyRelu { alpha: 0.2 }, Activation::Identity).unwrap();
        let mlp = Mlp::new(spec, Init::HeNormal, &mut Rng::new(7));
        let mut ckpt = Checkpoint::new(mlp, "toy", vec!["a".into(), "b".into()], InputSpec::unit(2, 2, 255));
        ckpt.optimizer.push(("velocity".into(), (0..23).map(|i| i as f32 * 0.5).collect()));
        ckpt
    }

    #[test]
    fn bytes_round_trip() {
        let ckpt = sample();
        let bytes = to_bytes(Path::new("x"), &ckpt).unwrap();
        assert_eq!(from_bytes(Path::new("x"), &bytes).unwrap(), ckpt);
    }

    #[test]
    fn describes_architectures() {
        let spec = MlpSpec::new(vec![784, 128, 10], Activation::Relu, Activation::Identity).unwrap();
        assert_eq!(describe_architecture(&spec), "784-128-10 (relu)");
        let spec = MlpSpec::new(vec![2, 2, 1], Activation::Sigmoid, Activation::Sigmoid).unwrap();
        assert_eq!(describe_architecture(&spec), "2-2-1 (sigmoid, output sigmoid)");
    }

    #[test]
    fn inconsistent_checkpoints_are_not_written() {
        let mut ckpt = sample();
        ckpt.optimizer[0].1.pop();
        let err = to_bytes(Path::new("m.safetensors"), &ckpt).unwrap_err().to_string();
        assert!(err.contains("m.safetensors") && err.contains("velocity"), "{err}");
        let mut ckpt = sample();
        ckpt.classes.pop();
        assert!(to_bytes(Path::new("m"), &ckpt).unwrap_err().to_string().contains("1 class names"));
    }

    #[test]
    fn input_spec_matches_the_data_normalizer() {
        let input = InputSpec { height: 1, width: 1, max_value: 255, mean: 0.1307, std: 0.3081 };
        let norm = input.normalizer(255);
        for p in [0u8, 1, 128, 255] {
            assert!((input.normalize(f32::from(p)) - norm.apply(p)).abs() < 1e-6);
        }
    }
}
