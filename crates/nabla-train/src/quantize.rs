//! Quantised models on disk (what `nabla quantize` writes, and `nabla eval` / `predict`
//! read), and the accuracy of a model, f32 or quantised, on a data set.
//!
//! A quantised file is safetensors, written and read through [`crate::safetensors_file`] and
//! describing its model as an f32 [`crate::checkpoint`] does:
//!
//! | tensor                    | dtype         | shape       |
//! |---------------------------|---------------|-------------|
//! | `layers.{i}.weight`       | I8 or BF16    | `[out, in]` |
//! | `layers.{i}.weight_scale` | F32 (I8 only) | `[out]`     |
//! | `layers.{i}.bias`         | F32           | `[out]`     |
//!
//! An int8 weight `q` stands for `q · weight_scale[out]`; a BF16 weight is the top half of an
//! f32. The `__metadata__` holds `format` = `nabla-mlp-quantized`, `format_version` = `1`,
//! `precision` (`int8` or `bf16`), `source` (the f32 checkpoint it came from), and, as an f32
//! checkpoint has them (and checked as it checks them), `architecture`, `dataset`, `classes`,
//! `input` (an image's [`InputSpec`] or a table's `{"table": …}`), `epoch`, `step`,
//! `metrics` (JSON; `nabla quantize` records the test accuracy before and after) and
//! `nabla_version`. Files are written atomically (temporary file, then rename).

use std::path::Path;

use nabla::loss::argmax_rows;
use nabla::quant::{Bf16Linear, Int8Linear, Precision, QuantWorkspace, QuantizedMlp};
use nabla::{MatRef, MlpSpec, Network, NetworkSpec, NetworkWorkspace, PackedMlp};
use nabla_data::table::Preprocessor;
use nabla_data::{BatchBuffers, Dataset, Normalizer};
use safetensors::Dtype;

use crate::checkpoint::{self, input_json, ArchitectureJson, Checkpoint, InputSpec, ModelInput, ModelMeta};
use crate::safetensors_file::{
    self, check_format, metadata_field, open_safetensors, read_f32, read_file, tensor, to_json, CheckpointError,
    RawTensor,
};

/// The value of the `format` metadata field of a quantised model.
pub const FORMAT: &str = "nabla-mlp-quantized";
/// The format version this nabla writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;

/// A quantised model with what it needs to be used: data set, classes, input preparation.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizedCheckpoint {
    /// The network.
    pub model: QuantizedMlp,
    /// The data set's name (`mnist`).
    pub dataset: String,
    /// Class names, indexed by output (a regression's one name is its target column).
    pub classes: Vec<String>,
    /// What the network takes: images or a table's rows, and how they become inputs.
    pub input: ModelInput,
    /// The f32 checkpoint it was made from, as given to `nabla quantize`.
    pub source: String,
    /// Epochs the source had completed.
    pub epoch: usize,
    /// Optimiser steps the source had taken.
    pub step: u64,
    /// Metrics, e.g. `{"test_acc_f32": 0.981, "test_acc": 0.980}`.
    pub metrics: serde_json::Value,
}

impl QuantizedCheckpoint {
    /// Quantises the network of `ckpt` (read from `source`), keeping its description. A
    /// residual net is refused ([`CheckpointError::Unsupported`]): the quantised forward pass
    /// and file are a plain MLP's.
    pub fn from_checkpoint(ckpt: &Checkpoint, precision: Precision, source: &Path) -> Result<Self, CheckpointError> {
        let Some(mlp) = ckpt.network.plain() else {
            return Err(CheckpointError::Unsupported {
                path: source.to_path_buf(),
                what: "quantising",
                architecture: checkpoint::describe_network(&ckpt.spec()),
            });
        };
        Ok(QuantizedCheckpoint {
            model: QuantizedMlp::quantize(mlp, precision),
            dataset: ckpt.dataset.clone(),
            classes: ckpt.classes.clone(),
            input: ckpt.input.clone(),
            source: source.display().to_string(),
            epoch: ckpt.epoch,
            step: ckpt.step,
            metrics: serde_json::Value::Object(serde_json::Map::new()),
        })
    }

    /// The network's architecture.
    pub fn spec(&self) -> &MlpSpec {
        self.model.spec()
    }
}

/// Serialises `q` to the bytes of a safetensors file (what [`save`] writes).
pub fn to_bytes(path: &Path, q: &QuantizedCheckpoint) -> Result<Vec<u8>, CheckpointError> {
    let invalid = |reason: String| CheckpointError::Invalid { path: path.to_path_buf(), reason };
    let spec = q.spec();
    if q.classes.len() != spec.outputs() {
        return Err(invalid(format!(
            "{} classes for a network {}",
            q.classes.len(),
            checkpoint::describe_architecture(spec)
        )));
    }
    q.input.check(&spec.clone().into(), &q.classes).map_err(|(_, reason)| invalid(reason))?;
    let mut tensors: Vec<(String, RawTensor)> = Vec::new();
    if let Some(layers) = q.model.int8_layers() {
        for (l, layer) in layers.iter().enumerate() {
            let shape = vec![layer.outputs(), layer.inputs()];
            let bytes = layer.weight().iter().map(|&v| v.to_le_bytes()[0]).collect();
            tensors.push((format!("layers.{l}.weight"), RawTensor { dtype: Dtype::I8, shape, bytes }));
            tensors.push((format!("layers.{l}.weight_scale"), RawTensor::f32(vec![layer.outputs()], layer.scale())));
            tensors.push((format!("layers.{l}.bias"), RawTensor::f32(vec![layer.outputs()], layer.bias())));
        }
    }
    if let Some(layers) = q.model.bf16_layers() {
        for (l, layer) in layers.iter().enumerate() {
            let shape = vec![layer.outputs(), layer.inputs()];
            let bytes = layer.weight().iter().flat_map(|v| v.to_le_bytes()).collect();
            tensors.push((format!("layers.{l}.weight"), RawTensor { dtype: Dtype::BF16, shape, bytes }));
            tensors.push((format!("layers.{l}.bias"), RawTensor::f32(vec![layer.outputs()], layer.bias())));
        }
    }
    let metadata = vec![
        ("format", FORMAT.to_string()),
        ("format_version", FORMAT_VERSION.to_string()),
        ("precision", q.model.precision().to_string()),
        ("source", q.source.clone()),
        ("architecture", to_json(path, &ArchitectureJson::of(spec))?),
        ("dataset", q.dataset.clone()),
        ("classes", to_json(path, &q.classes)?),
        ("input", input_json(path, &q.input)?),
        ("epoch", q.epoch.to_string()),
        ("step", q.step.to_string()),
        ("metrics", to_json(path, &q.metrics)?),
    ];
    safetensors_file::serialize(path, &tensors, metadata)
}

/// Saves `q` to `path` atomically (temporary sibling file, flushed, renamed).
pub fn save(path: &Path, q: &QuantizedCheckpoint) -> Result<(), CheckpointError> {
    safetensors_file::save_bytes(path, &to_bytes(path, q)?)
}

/// Loads a quantised model. An f32 checkpoint is refused with an error saying so.
pub fn load(path: &Path) -> Result<QuantizedCheckpoint, CheckpointError> {
    from_bytes(path, &read_file(path)?)
}

/// Parses the bytes of a quantised model file; `path` is only used in error messages.
pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<QuantizedCheckpoint, CheckpointError> {
    let (st, meta) = open_safetensors(path, bytes)?;
    if meta.get("format").map(String::as_str) == Some(checkpoint::FORMAT) {
        return Err(CheckpointError::NotQuantized { path: path.to_path_buf() });
    }
    check_format(path, &meta, FORMAT, FORMAT_VERSION)?;
    let field = |name: &'static str| metadata_field(path, &meta, name);
    let bad = |name: &'static str, reason: String| CheckpointError::bad_metadata(path, name, reason);
    let precision: Precision =
        field("precision")?.parse().map_err(|e: nabla::Error| bad("precision", e.to_string()))?;
    let ModelMeta { spec, dataset, classes, input, epoch, step, metrics } = ModelMeta::parse(path, &meta, bytes.len())?;
    let spec = match spec {
        nabla::NetworkSpec::Plain(spec) => spec,
        nabla::NetworkSpec::Residual(_) => {
            return Err(bad("architecture", "a quantised file holds a plain MLP, not a residual net".into()));
        }
    };
    let bad_value = |name: String, e: nabla::Error| CheckpointError::BadValue {
        path: path.to_path_buf(),
        name,
        reason: e.to_string(),
    };

    let mut int8 = Vec::new();
    let mut bf16 = Vec::new();
    for (l, w) in spec.sizes.windows(2).enumerate() {
        let (inputs, outputs) = (w[0], w[1]);
        let name = format!("layers.{l}.weight");
        let mut bias = vec![0.0f32; outputs];
        read_f32(path, &st, &format!("layers.{l}.bias"), &[outputs], &mut bias)?;
        checkpoint::all_finite(path, &format!("layers.{l}.bias"), &bias)?;
        match precision {
            Precision::Int8 => {
                let view = tensor(path, &st, &name, Dtype::I8, &[outputs, inputs])?;
                let weight: Vec<i8> = view.data().iter().map(|&b| i8::from_le_bytes([b])).collect();
                let mut scale = vec![0.0f32; outputs];
                let scale_name = format!("layers.{l}.weight_scale");
                read_f32(path, &st, &scale_name, &[outputs], &mut scale)?;
                let layer = Int8Linear::new(inputs, outputs, weight, scale, bias).map_err(|e| {
                    // Name the tensor that holds the bad value.
                    let which = if e.to_string().contains("scale") { scale_name.clone() } else { name.clone() };
                    bad_value(which, e)
                })?;
                int8.push(layer);
            }
            Precision::Bf16 => {
                let view = tensor(path, &st, &name, Dtype::BF16, &[outputs, inputs])?;
                let weight: Vec<u16> = view.data().chunks_exact(2).map(|b| u16::from_le_bytes([b[0], b[1]])).collect();
                // A bf16 whose exponent bits are all ones is an infinity or NaN.
                if let Some(i) = weight.iter().position(|w| w & 0x7f80 == 0x7f80) {
                    return Err(CheckpointError::BadValue {
                        path: path.to_path_buf(),
                        name,
                        reason: format!("value {i} is NaN or infinite: nabla does not use a model with such weights"),
                    });
                }
                bf16.push(Bf16Linear::new(inputs, outputs, weight, bias).map_err(|e| bad_value(name, e))?);
            }
        }
    }
    let model = match precision {
        Precision::Int8 => QuantizedMlp::from_int8(spec, int8),
        Precision::Bf16 => QuantizedMlp::from_bf16(spec, bf16),
    }
    .map_err(|e| bad("architecture", e.to_string()))?;
    Ok(QuantizedCheckpoint {
        model,
        dataset,
        classes,
        input,
        source: field("source")?.to_string(),
        epoch,
        step,
        metrics,
    })
}

/// A model file of either kind.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelFile {
    /// An f32 checkpoint (`nabla train`).
    F32(Box<Checkpoint>),
    /// A quantised model (`nabla quantize`).
    Quantized(Box<QuantizedCheckpoint>),
}

impl ModelFile {
    /// Loads `path`, telling the kinds apart by the `format` metadata field.
    pub fn load(path: &Path) -> Result<Self, CheckpointError> {
        let bytes = read_file(path)?;
        let (_, meta) = open_safetensors(path, &bytes)?;
        if meta.get("format").map(String::as_str) == Some(FORMAT) {
            Ok(ModelFile::Quantized(Box::new(from_bytes(path, &bytes)?)))
        } else {
            Ok(ModelFile::F32(Box::new(checkpoint::from_bytes(path, &bytes)?)))
        }
    }

    /// The architecture.
    pub fn spec(&self) -> NetworkSpec {
        match self {
            ModelFile::F32(c) => c.spec(),
            ModelFile::Quantized(q) => q.spec().clone().into(),
        }
    }

    /// What the network takes: images or a table's rows.
    pub fn input(&self) -> &ModelInput {
        match self {
            ModelFile::F32(c) => &c.input,
            ModelFile::Quantized(q) => &q.input,
        }
    }

    /// How pixels become inputs, for an image model.
    pub fn image_input(&self) -> Option<&InputSpec> {
        self.input().image()
    }

    /// The table preprocessing, for a table model.
    pub fn table(&self) -> Option<&Preprocessor> {
        self.input().table()
    }

    /// Class names, one per output (a regression's one name is its target column).
    pub fn classes(&self) -> &[String] {
        match self {
            ModelFile::F32(c) => &c.classes,
            ModelFile::Quantized(q) => &q.classes,
        }
    }

    /// The data set it was trained on.
    pub fn dataset(&self) -> &str {
        match self {
            ModelFile::F32(c) => &c.dataset,
            ModelFile::Quantized(q) => &q.dataset,
        }
    }

    /// `f32`, `int8` or `bf16`.
    pub fn precision(&self) -> String {
        match self {
            ModelFile::F32(_) => "f32".into(),
            ModelFile::Quantized(q) => q.model.precision().to_string(),
        }
    }

    /// A runner for batches of up to `batch` examples.
    pub fn runner(&self, batch: usize) -> Runner<'_> {
        match self {
            ModelFile::F32(c) => Runner::f32(&c.network, batch),
            ModelFile::Quantized(q) => Runner::quantized(&q.model, batch),
        }
    }
}

/// A network, f32 or quantised, with the buffers of its forward pass.
pub enum Runner<'m> {
    /// The f32 forward pass of a residual net.
    F32(&'m Network, Box<NetworkWorkspace>),
    /// The f32 forward pass of a plain net, on its weights packed once (the outputs'
    /// buffer beside it).
    Packed(Box<PackedMlp>, Vec<f32>),
    /// The quantised forward pass.
    Quantized(&'m QuantizedMlp, Box<QuantWorkspace>),
}

impl<'m> Runner<'m> {
    /// Runs `network` on batches of up to `batch` rows (a plain net on its packed weights).
    pub fn f32(network: &'m Network, batch: usize) -> Self {
        if let Network::Plain(mlp) = network {
            return Runner::Packed(Box::new(PackedMlp::new(mlp)), Vec::new());
        }
        Runner::F32(network, Box::new(NetworkWorkspace::new(&network.spec(), batch)))
    }

    /// Runs `model` on batches of up to `batch` rows.
    pub fn quantized(model: &'m QuantizedMlp, batch: usize) -> Self {
        Runner::Quantized(model, Box::new(QuantWorkspace::new(model, batch)))
    }

    /// The network's architecture.
    pub fn spec(&self) -> NetworkSpec {
        match self {
            Runner::F32(network, _) => network.spec(),
            Runner::Packed(mlp, _) => mlp.spec().clone().into(),
            Runner::Quantized(model, _) => model.spec().clone().into(),
        }
    }

    /// The forward pass: `x: [B, n_0]` to the outputs `[B, n_L]`.
    pub fn forward(&mut self, x: MatRef<'_>) -> nabla::Result<MatRef<'_>> {
        match self {
            Runner::F32(network, ws) => network.forward(x, ws),
            Runner::Packed(mlp, out) => mlp.forward(x, out),
            Runner::Quantized(model, ws) => model.forward(x, ws),
        }
    }
}

/// The share of `ds`'s examples that `runner` classifies right, `batch` at a time, inputs
/// prepared by `norm`.
pub fn accuracy(runner: &mut Runner<'_>, ds: &Dataset, norm: &Normalizer, batch: usize) -> nabla::Result<f64> {
    let features = ds.features();
    let mut buffers = BatchBuffers::new(batch, features);
    let mut predicted = vec![0u32; batch];
    let indices: Vec<usize> = (0..ds.len).collect();
    let mut correct = 0usize;
    for chunk in indices.chunks(batch) {
        let n = chunk.len();
        let (x, y) = buffers.fill(ds, chunk, norm);
        let out = runner.forward(MatRef::new(x, n, features)?)?;
        argmax_rows(out, &mut predicted[..n]);
        correct += predicted[..n].iter().zip(y).filter(|&(&p, &y)| p == u32::from(y)).count();
    }
    Ok(correct as f64 / ds.len.max(1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nabla::{Activation, Init, Mlp, ResidualMlp, ResidualSpec, Rng};

    fn source() -> Checkpoint {
        let spec = MlpSpec::new(vec![4, 6, 3], Activation::Relu, Activation::Identity).unwrap();
        let mlp = Mlp::new(spec, Init::HeUniform, &mut Rng::new(5));
        Checkpoint::new(mlp, "toy", vec!["a".into(), "b".into(), "c".into()], InputSpec::unit(2, 2, 255))
    }

    fn quantized(precision: Precision) -> QuantizedCheckpoint {
        let mut q =
            QuantizedCheckpoint::from_checkpoint(&source(), precision, Path::new("runs/x/best.safetensors")).unwrap();
        q.metrics = serde_json::json!({"test_acc": 0.5});
        q
    }

    /// The bytes of `q` with its tensors changed by `edit` (name → tensor).
    fn edited(q: &QuantizedCheckpoint, edit: impl FnOnce(&mut Vec<(String, RawTensor)>)) -> Vec<u8> {
        let bytes = to_bytes(Path::new("m"), q).unwrap();
        let (st, meta) = open_safetensors(Path::new("m"), &bytes).unwrap();
        let mut tensors: Vec<(String, RawTensor)> = st
            .tensors()
            .into_iter()
            .map(|(n, v)| (n, RawTensor { dtype: v.dtype(), shape: v.shape().to_vec(), bytes: v.data().to_vec() }))
            .collect();
        edit(&mut tensors);
        safetensors::serialize(tensors.iter().map(|(n, t)| (n.as_str(), t)), Some(meta)).unwrap()
    }

    #[test]
    fn a_residual_net_is_refused_by_name() {
        let spec = ResidualSpec::new(4, 6, 2, 3, Activation::Relu, Activation::Identity).unwrap();
        let net = ResidualMlp::new(spec, Init::HeUniform, &mut Rng::new(5));
        let ckpt = Checkpoint::new(net, "toy", vec!["a".into(), "b".into(), "c".into()], InputSpec::unit(2, 2, 255));
        let e = QuantizedCheckpoint::from_checkpoint(&ckpt, Precision::Int8, Path::new("r.safetensors")).unwrap_err();
        let text = e.to_string();
        assert!(text.starts_with("r.safetensors: quantising is only implemented for plain MLPs"), "{text}");
        assert!(text.contains("4 → 2 residual blocks of 6 → 3 (relu)"), "{text}");
    }

    #[test]
    fn files_round_trip_in_both_precisions() {
        for precision in [Precision::Int8, Precision::Bf16] {
            let q = quantized(precision);
            let bytes = to_bytes(Path::new("q"), &q).unwrap();
            assert_eq!(from_bytes(Path::new("q"), &bytes).unwrap(), q, "{precision}");
        }
        // int8 weights take a quarter of f32's bytes, bf16 half (plus the scales).
        let f32_bytes = 4 * (4 * 6 + 6 * 3);
        assert_eq!(quantized(Precision::Int8).model.weight_bytes(), f32_bytes / 4 + 4 * (6 + 3));
        assert_eq!(quantized(Precision::Bf16).model.weight_bytes(), f32_bytes / 2);
    }

    #[test]
    fn a_table_models_input_survives_quantisation() {
        use nabla_data::table::{FeatureSpec, TargetSpec, Unknown};
        let pre = Preprocessor {
            features: vec![FeatureSpec::OneHot {
                column: "c".into(),
                categories: ["p", "q", "r", "s"].map(String::from).to_vec(),
            }],
            target: TargetSpec::Classes { column: "y".into(), names: ["a", "b", "c"].map(String::from).to_vec() },
            ignored: Vec::new(),
            impute: None,
            unknown: Unknown::Ignore,
            scale: nabla_data::table::Scale::Standard,
        };
        let mut ckpt = source();
        ckpt.input = pre.clone().into();
        for precision in [Precision::Int8, Precision::Bf16] {
            let q = QuantizedCheckpoint::from_checkpoint(&ckpt, precision, Path::new("t.safetensors")).unwrap();
            let bytes = to_bytes(Path::new("q"), &q).unwrap();
            let back = from_bytes(Path::new("q"), &bytes).unwrap();
            assert_eq!(back.input.table(), Some(&pre));
            assert_eq!(back, q);
        }
        // Classes that are not the table's are refused here too.
        ckpt.classes[2] = "z".into();
        let q = QuantizedCheckpoint::from_checkpoint(&ckpt, Precision::Int8, Path::new("t.safetensors")).unwrap();
        assert!(to_bytes(Path::new("q"), &q).unwrap_err().to_string().contains("not the table's classes"));
    }

    #[test]
    fn save_and_load_through_a_file_and_tell_the_kinds_apart() {
        let dir = tempfile::tempdir().unwrap();
        let qpath = dir.path().join("q.safetensors");
        let fpath = dir.path().join("f.safetensors");
        let q = quantized(Precision::Int8);
        save(&qpath, &q).unwrap();
        checkpoint::save(&fpath, &source()).unwrap();
        assert_eq!(load(&qpath).unwrap(), q);
        assert!(matches!(ModelFile::load(&qpath).unwrap(), ModelFile::Quantized(_)));
        assert!(matches!(ModelFile::load(&fpath).unwrap(), ModelFile::F32(_)));
        let err = load(&fpath).unwrap_err().to_string();
        assert!(err.contains("f.safetensors") && err.contains("not a quantised model"), "{err}");
        // And the f32 reader refuses the quantised file, naming its format.
        let err = checkpoint::load(&qpath).unwrap_err().to_string();
        assert!(err.contains("q.safetensors") && err.contains(FORMAT), "{err}");
        // Only the target is left in the folder (the temporary file was renamed).
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn bad_tensors_are_named() {
        let q = quantized(Precision::Int8);
        let path = Path::new("bad.safetensors");
        // A weight stored as F32 in an int8 file.
        let bytes = edited(&q, |t| {
            let w = t.iter_mut().find(|(n, _)| n == "layers.1.weight").unwrap();
            w.1 = RawTensor::f32(vec![3, 6], &[0.0; 18]);
        });
        let err = from_bytes(path, &bytes).unwrap_err().to_string();
        assert!(
            err.contains("bad.safetensors") && err.contains("`layers.1.weight` is F32 [3, 6], expected I8 [3, 6]"),
            "{err}"
        );
        // A missing scale.
        let bytes = edited(&q, |t| t.retain(|(n, _)| n != "layers.0.weight_scale"));
        let err = from_bytes(path, &bytes).unwrap_err().to_string();
        assert!(err.contains("bad.safetensors") && err.contains("missing tensor `layers.0.weight_scale`"), "{err}");
        // A weight of −128 (outside the symmetric range the kernel relies on).
        let bytes = edited(&q, |t| {
            let w = t.iter_mut().find(|(n, _)| n == "layers.0.weight").unwrap();
            w.1.bytes[3] = 0x80;
        });
        let err = from_bytes(path, &bytes).unwrap_err().to_string();
        assert!(err.contains("tensor `layers.0.weight`") && err.contains("-128"), "{err}");
        // A zero scale.
        let bytes = edited(&q, |t| {
            let s = t.iter_mut().find(|(n, _)| n == "layers.1.weight_scale").unwrap();
            s.1 = RawTensor::f32(vec![3], &[1.0, 0.0, 1.0]);
        });
        let err = from_bytes(path, &bytes).unwrap_err().to_string();
        assert!(err.contains("tensor `layers.1.weight_scale`"), "{err}");
        // Garbage.
        let err = from_bytes(path, b"not a file").unwrap_err().to_string();
        assert!(err.contains("bad.safetensors") && err.contains("not a safetensors file"), "{err}");
    }

    #[test]
    fn accuracy_counts_right_answers() {
        // A 1-input net whose output 1 grows with the pixel and output 0 shrinks: pixels above
        // half ink are class 1.
        let spec = MlpSpec::new(vec![1, 2], Activation::Relu, Activation::Identity).unwrap();
        let mlp = Mlp::from_params(spec, vec![-1.0, 1.0, 0.5, -0.5]).unwrap();
        let ds = Dataset {
            name: "toy".into(),
            images: vec![0, 50, 200, 255],
            labels: vec![0, 0, 1, 0],
            len: 4,
            height: 1,
            width: 1,
            max_value: 255,
            classes: vec!["low".into(), "high".into()],
        };
        let norm = Normalizer::standardized(255, 0.0, 1.0);
        assert_eq!(accuracy(&mut Runner::f32(&Network::from(mlp.clone()), 3), &ds, &norm, 3).unwrap(), 0.75);
        let q = QuantizedMlp::quantize(&mlp, Precision::Int8);
        assert_eq!(accuracy(&mut Runner::quantized(&q, 3), &ds, &norm, 3).unwrap(), 0.75);
    }
}
