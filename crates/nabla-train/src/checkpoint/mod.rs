//! Checkpoints: a trained [`Network`] (a plain [`nabla::Mlp`] or a [`nabla::ResidualMlp`]) with everything needed to use or resume it, in one
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
//! A residual net's tensors have the names of [`nabla::ResidualSpec::tensors`] (`input.*`,
//! `blocks.{i}.norm|fc1|fc2.*`, `norm.*`, `output.*`); its `architecture` is
//! `{"kind":"residual","inputs":64,"width":32,"depth":3,"outputs":10,"hidden":"relu","output":"identity"}`
//! and its `format_version` is 2, so that a nabla from before residual nets refuses the file
//! as too new instead of misreading it. A plain net's file is exactly what it was (version 1,
//! no `kind`), and a file without `kind` is a plain net.
//!
//! The optimiser buffers (momentum's `velocity`, Adam's `m` and `v`) have the layout of the
//! whole parameter vector. The safetensors `__metadata__` (a string → string map) holds:
//! `format` = `nabla-mlp`, `format_version` = `1`, `architecture` (JSON
//! `{"sizes":[784,128,10],"hidden":"relu","output":"identity"}`), `dataset`, `classes` (JSON
//! array), `input` (JSON, see below), `config` (JSON), `epoch`, `step`, `metrics` (JSON),
//! `optimizer` (JSON array of buffer names, in order) and `nabla_version`.
//!
//! What the model takes, [`ModelInput`], is the `input` field:
//!
//! | model | `input`                                               | `classes`                      |
//! |-------|-------------------------------------------------------|--------------------------------|
//! | image | [`InputSpec`]: `{"height":28,"width":28,"max_value":255,"mean":0.0,"std":1.0}` | the class names |
//! | table | `{"table": `[`Preprocessor`]`}` (features, target, imputation) | classification: the class names, as the preprocessor has them; regression: `[target column]` (one output) |
//!
//! An object with a `table` key is a table model, anything else an image model (so files
//! written before tables load unchanged). Writing and reading both check that the input makes
//! as many values as the network takes, and for a table model that `classes` are the
//! preprocessor's classes (or, for a regression, that the network has one output).
//!
//! [`save`] writes atomically: a temporary file in the same folder, flushed to disk, then
//! renamed over the target, so a crash never leaves a half-written checkpoint behind.
//! Writing and reading the safetensors file itself is [`crate::safetensors_file`]'s; this
//! module is the f32 format on top of it.

use std::collections::HashMap;
use std::path::Path;

use nabla::{Network, NetworkSpec};
use nabla_data::table::Preprocessor;
use nabla_data::Normalizer;
use serde::{Deserialize, Serialize};

use crate::safetensors_file::{
    check_format, count_field, json_field, metadata_field, open_safetensors, read_f32, read_file, save_bytes,
    serialize, to_json, CheckpointError, RawTensor,
};

/// The value of the `format` metadata field.
pub const FORMAT: &str = "nabla-mlp";
/// The format version of a plain net's file.
pub const FORMAT_VERSION: u32 = 1;
/// The format version of a residual net's file, and the newest this nabla reads.
pub const FORMAT_VERSION_RESIDUAL: u32 = 2;

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

/// What a model takes as input, and how it is prepared: the `input` metadata field.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelInput {
    /// Images, their pixels scaled as the spec says.
    Image(InputSpec),
    /// Rows of a table, encoded by the preprocessing fitted on the training split.
    Table(Box<Preprocessor>),
}

/// The JSON of a table model's `input` field: `{"table": …}`.
#[derive(Serialize, Deserialize)]
struct TableInputJson<T> {
    table: T,
}

impl ModelInput {
    /// The image input, for an image model.
    pub fn image(&self) -> Option<&InputSpec> {
        match self {
            ModelInput::Image(spec) => Some(spec),
            ModelInput::Table(_) => None,
        }
    }

    /// The preprocessing, for a table model.
    pub fn table(&self) -> Option<&Preprocessor> {
        match self {
            ModelInput::Image(_) => None,
            ModelInput::Table(pre) => Some(pre),
        }
    }

    /// Input values per example.
    pub fn features(&self) -> usize {
        match self {
            ModelInput::Image(spec) => spec.features(),
            ModelInput::Table(pre) => pre.width(),
        }
    }

    /// The JSON text of the `input` metadata field: an image model's is exactly its
    /// [`InputSpec`], a table model's `{"table": <preprocessor>}`.
    pub fn to_json(&self) -> serde_json::Result<String> {
        match self {
            ModelInput::Image(spec) => serde_json::to_string(spec),
            ModelInput::Table(pre) => serde_json::to_string(&TableInputJson { table: pre }),
        }
    }

    /// Parses the `input` metadata field: an object with a `table` key is a table model,
    /// anything else an [`InputSpec`]. The error says what is wrong (without the field name).
    pub fn from_json(text: &str) -> Result<ModelInput, String> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        if value.get("table").is_some() {
            let json: TableInputJson<Preprocessor> =
                serde_json::from_value(value).map_err(|e| format!("not a table's preprocessing: {e}"))?;
            return Ok(ModelInput::Table(Box::new(json.table)));
        }
        serde_json::from_value(value).map(ModelInput::Image).map_err(|e| format!("not an image input: {e}"))
    }

    /// Checks that this input and the class names fit a network of architecture `spec`
    /// (`classes` already has one name per output). The error names the metadata field at
    /// fault and says why.
    pub(crate) fn check(&self, spec: &NetworkSpec, classes: &[String]) -> Result<(), (&'static str, String)> {
        let inputs = spec.inputs();
        match self {
            ModelInput::Image(input) if input.features() != inputs => Err((
                "input",
                format!(
                    "{}×{} images are {} values for a network of {inputs} inputs",
                    input.height,
                    input.width,
                    input.features()
                ),
            )),
            ModelInput::Image(_) => Ok(()),
            ModelInput::Table(pre) => {
                if pre.width() != inputs {
                    return Err((
                        "input",
                        format!("the table's preprocessing makes {} inputs for a network of {inputs}", pre.width()),
                    ));
                }
                match pre.classes() {
                    Some(names) if names != classes => Err((
                        "classes",
                        format!("{classes:?} are not the table's classes {names:?} (target `{}`)", pre.target.column()),
                    )),
                    Some(_) => Ok(()),
                    None if spec.outputs() != 1 => Err((
                        "architecture",
                        format!(
                            "a regression of `{}` has one output, this network {}",
                            pre.target.column(),
                            spec.outputs()
                        ),
                    )),
                    None if classes != [pre.target.column()] => Err((
                        "classes",
                        format!("a regression's one name is its target `{}`, not {classes:?}", pre.target.column()),
                    )),
                    None => Ok(()),
                }
            }
        }
    }
}

impl From<InputSpec> for ModelInput {
    fn from(spec: InputSpec) -> Self {
        ModelInput::Image(spec)
    }
}

impl From<Preprocessor> for ModelInput {
    fn from(pre: Preprocessor) -> Self {
        ModelInput::Table(Box::new(pre))
    }
}

/// A saved model: the network, what it was trained on, how inputs are prepared, and the
/// training state needed to resume.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// The network and its parameters.
    pub network: Network,
    /// The data set's name (`mnist`).
    pub dataset: String,
    /// Class names, indexed by output (as many as the network has outputs).
    pub classes: Vec<String>,
    /// What the network takes: images or a table's rows, and how they become inputs.
    pub input: ModelInput,
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
    /// A checkpoint of `network` (a [`Network`], or an `Mlp` or `ResidualMlp`) before any
    /// training: epoch 0, step 0, no optimiser state, an empty config and empty metrics.
    /// `input` is an [`InputSpec`], a [`Preprocessor`] or a [`ModelInput`].
    pub fn new(
        network: impl Into<Network>,
        dataset: impl Into<String>,
        classes: Vec<String>,
        input: impl Into<ModelInput>,
    ) -> Self {
        Checkpoint {
            network: network.into(),
            dataset: dataset.into(),
            classes,
            input: input.into(),
            config: serde_json::Value::Object(serde_json::Map::new()),
            epoch: 0,
            step: 0,
            optimizer: Vec::new(),
            metrics: serde_json::Value::Object(serde_json::Map::new()),
        }
    }

    /// The network's architecture.
    pub fn spec(&self) -> NetworkSpec {
        self.network.spec()
    }

    /// How pixels become inputs, for an image model.
    pub fn image_input(&self) -> Option<&InputSpec> {
        self.input.image()
    }

    /// The table preprocessing, for a table model.
    pub fn table(&self) -> Option<&Preprocessor> {
        self.input.table()
    }

    /// Whether this checkpoint's network has the architecture `spec` (for `--resume`).
    /// The error names both, e.g. `checkpoint is 784-128-10 (relu) but the run asks for
    /// 784-256-10 (relu)`.
    pub fn check_compatible(&self, spec: &NetworkSpec) -> Result<(), CheckpointError> {
        if self.spec() == *spec {
            return Ok(());
        }
        Err(CheckpointError::Incompatible {
            path: None,
            checkpoint: describe_network(&self.spec()),
            requested: describe_network(spec),
        })
    }

    /// An optimiser buffer by name.
    pub fn optimizer_state(&self, name: &str) -> Option<&[f32]> {
        self.optimizer.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_slice())
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
    ckpt.input.check(&spec, &ckpt.classes).map_err(|(_, reason)| invalid(reason))?;
    let params = ckpt.network.params();
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

    let version = if spec.plain().is_some() { FORMAT_VERSION } else { FORMAT_VERSION_RESIDUAL };
    let metadata = vec![
        ("format", FORMAT.to_string()),
        ("format_version", version.to_string()),
        ("architecture", to_json(path, &ArchitectureJson::of_network(&spec))?),
        ("dataset", ckpt.dataset.clone()),
        ("classes", to_json(path, &ckpt.classes)?),
        ("input", input_json(path, &ckpt.input)?),
        ("config", to_json(path, &ckpt.config)?),
        ("epoch", ckpt.epoch.to_string()),
        ("step", ckpt.step.to_string()),
        ("metrics", to_json(path, &ckpt.metrics)?),
        ("optimizer", to_json(path, &names)?),
    ];
    serialize(path, &tensors, metadata)
}

/// The `input` metadata field of `input`, for a file to be written at `path`.
pub(crate) fn input_json(path: &Path, input: &ModelInput) -> Result<String, CheckpointError> {
    input.to_json().map_err(|e| CheckpointError::Invalid {
        path: path.to_path_buf(),
        reason: format!("cannot write JSON metadata: {e}"),
    })
}

/// Saves `ckpt` to `path` atomically: the bytes go to a temporary file in the same folder,
/// which is flushed to disk and then renamed over `path`. On any error the temporary file
/// is removed and `path` is left as it was.
pub fn save(path: &Path, ckpt: &Checkpoint) -> Result<(), CheckpointError> {
    save_bytes(path, &to_bytes(path, ckpt)?)
}

/// Loads a checkpoint, checking that it is a complete nabla checkpoint whose tensors fit
/// its architecture.
pub fn load(path: &Path) -> Result<Checkpoint, CheckpointError> {
    from_bytes(path, &read_file(path)?)
}

/// Loads `path` and checks that it holds the architecture `spec` (for `--resume`).
pub fn load_compatible(path: &Path, spec: &NetworkSpec) -> Result<Checkpoint, CheckpointError> {
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
    let (st, meta) = open_safetensors(path, bytes)?;
    check_format(path, &meta, FORMAT, FORMAT_VERSION_RESIDUAL)?;
    let field = |name: &'static str| metadata_field(path, &meta, name);
    let bad = |name: &'static str, reason: String| CheckpointError::bad_metadata(path, name, reason);
    let ModelMeta { spec, dataset, classes, input, epoch, step, metrics } = ModelMeta::parse(path, &meta, bytes.len())?;

    let read_f32 = |name: &str, expected: &[usize], out: &mut [f32]| read_f32(path, &st, name, expected, out);

    let mut params = vec![0.0f32; spec.param_count()];
    for t in spec.tensors() {
        read_f32(&t.name, &t.shape, &mut params[t.range.clone()])?;
        all_finite(path, &t.name, &params[t.range])?;
    }
    let n = params.len();
    let network = Network::from_params(spec, params).map_err(|e| bad("architecture", e.to_string()))?;

    let names: Vec<String> = serde_json::from_str(field("optimizer")?).map_err(|e| bad("optimizer", e.to_string()))?;
    // Each buffer is as large as the network: a header naming many (or one many times) would
    // allocate without limit before any tensor is found missing.
    if names.len() > nabla::limits::MAX_OPTIMIZER_BUFFERS {
        let reason =
            format!("{} buffers; an optimiser keeps at most {}", names.len(), nabla::limits::MAX_OPTIMIZER_BUFFERS);
        return Err(bad("optimizer", reason));
    }
    if let Some(dup) = names.iter().enumerate().find(|(i, n)| names[..*i].contains(n)).map(|(_, n)| n) {
        return Err(bad("optimizer", format!("names the buffer `{dup}` twice")));
    }
    let mut optimizer = Vec::with_capacity(names.len());
    for name in names {
        let mut buffer = vec![0.0f32; n];
        read_f32(&format!("optimizer.{name}"), &[n], &mut buffer)?;
        all_finite(path, &format!("optimizer.{name}"), &buffer)?;
        optimizer.push((name, buffer));
    }

    Ok(Checkpoint {
        network,
        dataset,
        classes,
        input,
        config: json_field(path, &meta, "config")?,
        epoch,
        step,
        optimizer,
        metrics,
    })
}

/// Refuses a tensor holding NaN or an infinity: a model written by a run that diverged (or a
/// damaged file) would otherwise be evaluated, predicted with and quantised without a word.
pub(crate) fn all_finite(path: &Path, name: &str, values: &[f32]) -> Result<(), CheckpointError> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(CheckpointError::BadValue {
            path: path.to_path_buf(),
            name: name.to_string(),
            reason: format!(
                "value {i} is {} (a run that diverged?): nabla does not use a model with NaN or infinite weights",
                values[i]
            ),
        }),
    }
}

/// What every nabla model file says about its model: architecture, data set, classes, input.
pub(crate) struct ModelMeta {
    pub spec: NetworkSpec,
    pub dataset: String,
    pub classes: Vec<String>,
    pub input: ModelInput,
    /// The epoch the weights are from.
    pub epoch: usize,
    /// The optimiser step the weights are from.
    pub step: u64,
    /// The metrics recorded then.
    pub metrics: serde_json::Value,
}

impl ModelMeta {
    /// Parses and cross-checks the fields of a file of `file_len` bytes.
    pub fn parse(path: &Path, meta: &HashMap<String, String>, file_len: usize) -> Result<Self, CheckpointError> {
        let field = |name: &'static str| metadata_field(path, meta, name);
        let bad = |name: &'static str, reason: String| CheckpointError::bad_metadata(path, name, reason);
        let arch: ArchitectureJson =
            serde_json::from_str(field("architecture")?).map_err(|e| bad("architecture", e.to_string()))?;
        // Checked before anything is allocated for it: a corrupt header could ask for more
        // parameters than memory (or usize) holds.
        let spec = arch.spec(file_len).map_err(|reason| bad("architecture", reason))?;
        let classes: Vec<String> = serde_json::from_str(field("classes")?)
            .map_err(|e| bad("classes", format!("not a JSON list of names: {e}")))?;
        if classes.len() != spec.outputs() {
            return Err(bad("classes", format!("{} names for {} outputs", classes.len(), spec.outputs())));
        }
        let input = ModelInput::from_json(field("input")?).map_err(|reason| bad("input", reason))?;
        input.check(&spec, &classes).map_err(|(name, reason)| bad(name, reason))?;
        Ok(ModelMeta {
            spec,
            dataset: field("dataset")?.to_string(),
            classes,
            input,
            epoch: count_field(path, meta, "epoch")?,
            step: count_field(path, meta, "step")?,
            metrics: json_field(path, meta, "metrics")?,
        })
    }
}

mod architecture;

pub(crate) use architecture::ArchitectureJson;
pub use architecture::{describe_architecture, describe_network};

#[cfg(test)]
mod tests;
