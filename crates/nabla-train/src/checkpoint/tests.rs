//! The f32 checkpoint format: round trips, cross-checks and table models' metadata.

use super::*;
use nabla::{Activation, Init, Mlp, MlpSpec, ResidualMlp, ResidualSpec, Rng};

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

/// A preprocessor of a numeric column `x` and a text column `colour` (red, blue: two
/// inputs), predicting `target` as classes `a`, `b` or as a value.
fn preprocessor(classify: bool) -> Preprocessor {
    use nabla_data::table::{FeatureSpec, TargetSpec, Unknown};
    let target = if classify {
        TargetSpec::Classes { column: "label".into(), names: vec!["a".into(), "b".into()] }
    } else {
        TargetSpec::Value { column: "price".into(), mean: 10.0, std: 2.5 }
    };
    Preprocessor {
        features: vec![
            FeatureSpec::Numeric { column: "x".into(), mean: 1.5, std: 0.5, fill: None },
            FeatureSpec::OneHot { column: "colour".into(), categories: vec!["blue".into(), "red".into()] },
        ],
        target,
        ignored: vec!["id".into()],
        impute: None,
        unknown: Unknown::Error,
        scale: nabla_data::table::Scale::Standard,
    }
}

/// A 3-input table model: two classes, or one regressed value.
fn table_model(classify: bool) -> Checkpoint {
    let outputs = if classify { 2 } else { 1 };
    let spec = MlpSpec::new(vec![3, 4, outputs], Activation::Relu, Activation::Identity).unwrap();
    let mlp = Mlp::new(spec, Init::HeNormal, &mut Rng::new(11));
    let pre = preprocessor(classify);
    let classes = match pre.classes() {
        Some(names) => names.to_vec(),
        None => vec![pre.target.column().to_string()],
    };
    Checkpoint::new(mlp, "houses.csv", classes, pre)
}

/// The `__metadata__` of `bytes`.
fn metadata(bytes: &[u8]) -> HashMap<String, String> {
    open_safetensors(Path::new("m"), bytes).unwrap().1
}

/// `bytes` with metadata field `name` set to `value`.
fn with_field(bytes: &[u8], name: &str, value: &str) -> Vec<u8> {
    let (st, mut meta) = open_safetensors(Path::new("m"), bytes).unwrap();
    meta.insert(name.into(), value.into());
    let tensors: Vec<(String, RawTensor)> = st
        .tensors()
        .into_iter()
        .map(|(n, v)| (n, RawTensor { dtype: v.dtype(), shape: v.shape().to_vec(), bytes: v.data().to_vec() }))
        .collect();
    safetensors::serialize(tensors.iter().map(|(n, t)| (n.as_str(), t)), Some(meta)).unwrap()
}

#[test]
fn an_image_models_input_field_is_what_it_always_was() {
    // Files written before table models existed must keep loading, and new image models
    // must write the same field: exactly the InputSpec's JSON.
    let bytes = to_bytes(Path::new("x"), &sample()).unwrap();
    assert_eq!(metadata(&bytes)["input"], r#"{"height":2,"width":2,"max_value":255,"mean":0.0,"std":1.0}"#);
    let ckpt = from_bytes(Path::new("x"), &bytes).unwrap();
    assert_eq!(ckpt.image_input(), Some(&InputSpec::unit(2, 2, 255)));
    assert!(ckpt.table().is_none());
}

#[test]
fn table_models_round_trip_for_classes_and_values() {
    for classify in [true, false] {
        let ckpt = table_model(classify);
        let bytes = to_bytes(Path::new("t"), &ckpt).unwrap();
        let meta = metadata(&bytes);
        assert!(meta["input"].starts_with(r#"{"table":{"features":"#), "{}", meta["input"]);
        let back = from_bytes(Path::new("t"), &bytes).unwrap();
        assert_eq!(back, ckpt);
        assert_eq!(back.table(), Some(&preprocessor(classify)));
        assert!(back.image_input().is_none());
    }
    assert_eq!(table_model(false).classes, ["price"]);
}

#[test]
fn table_models_that_do_not_fit_their_network_are_not_written() {
    // Width: the preprocessor makes 3 inputs, the network takes 5.
    let mut ckpt = table_model(true);
    let spec = MlpSpec::new(vec![5, 4, 2], Activation::Relu, Activation::Identity).unwrap();
    ckpt.network = Mlp::zeros(spec).into();
    let err = to_bytes(Path::new("w.safetensors"), &ckpt).unwrap_err().to_string();
    assert!(err.contains("w.safetensors") && err.contains("makes 3 inputs for a network of 5"), "{err}");
    // Classes other than the preprocessor's.
    let mut ckpt = table_model(true);
    ckpt.classes = vec!["b".into(), "a".into()];
    let err = to_bytes(Path::new("c"), &ckpt).unwrap_err().to_string();
    assert!(err.contains(r#"are not the table's classes ["a", "b"]"#), "{err}");
    // A regression with two outputs.
    let mut ckpt = table_model(false);
    let spec = MlpSpec::new(vec![3, 4, 2], Activation::Relu, Activation::Identity).unwrap();
    (ckpt.network, ckpt.classes) = (Mlp::zeros(spec).into(), vec!["price".into(), "other".into()]);
    let err = to_bytes(Path::new("r"), &ckpt).unwrap_err().to_string();
    assert!(err.contains("a regression of `price` has one output, this network 2"), "{err}");
    // A regression whose one name is not its target.
    let mut ckpt = table_model(false);
    ckpt.classes = vec!["cost".into()];
    let err = to_bytes(Path::new("r"), &ckpt).unwrap_err().to_string();
    assert!(err.contains("its target `price`"), "{err}");
}

#[test]
fn table_metadata_that_does_not_fit_is_named_on_reading() {
    let path = Path::new("bad.safetensors");
    let classes = to_bytes(path, &table_model(true)).unwrap();
    let values = to_bytes(path, &table_model(false)).unwrap();
    let read = |bytes: &[u8], name: &str, value: &str| {
        from_bytes(path, &with_field(bytes, name, value)).unwrap_err().to_string()
    };
    // A preprocessor one input short (no `colour` column).
    let mut narrow = preprocessor(true);
    narrow.features.pop();
    let field = serde_json::json!({ "table": narrow }).to_string();
    let err = read(&classes, "input", &field);
    assert!(err.starts_with("bad.safetensors: bad metadata field `input`"), "{err}");
    assert!(err.contains("makes 1 inputs for a network of 3"), "{err}");
    // Classes that are not the preprocessor's.
    let err = read(&classes, "classes", r#"["a","c"]"#);
    assert!(err.contains("bad metadata field `classes`") && err.contains("the table's classes"), "{err}");
    // A regression's name that is not its target.
    let err = read(&values, "classes", r#"["cost"]"#);
    assert!(err.contains("bad metadata field `classes`") && err.contains("`price`"), "{err}");
    // A table field that is not a preprocessor, and an input that is neither kind.
    let err = read(&values, "input", r#"{"table":{"features":3}}"#);
    assert!(err.contains("bad metadata field `input`: not a table's preprocessing"), "{err}");
    let err = read(&values, "input", r#"{"height":1}"#);
    assert!(err.contains("bad metadata field `input`: not an image input"), "{err}");
    let err = read(&values, "input", "[1,2");
    assert!(err.contains("bad metadata field `input`: not JSON"), "{err}");
}

#[test]
fn input_spec_matches_the_data_normalizer() {
    let input = InputSpec { height: 1, width: 1, max_value: 255, mean: 0.1307, std: 0.3081 };
    let norm = input.normalizer(255);
    for p in [0u8, 1, 128, 255] {
        assert!((input.normalize(f32::from(p)) - norm.apply(p)).abs() < 1e-6);
    }
}

// Regression (issue 21): a checkpoint holding NaN or infinite weights was evaluated (10 %
// accuracy), predicted with (`"probability": null`) and quantised without a word.
#[test]
fn non_finite_weights_or_optimiser_state_are_refused_by_name() {
    let path = Path::new("diverged.safetensors");
    for (bad, tensor) in [(f32::NAN, "layers.0.weight"), (f32::INFINITY, "layers.1.bias")] {
        let mut ckpt = sample();
        let range = ckpt.spec().tensors().into_iter().find(|t| t.name == tensor).unwrap().range;
        ckpt.network.params_mut()[range.start] = bad;
        let e = from_bytes(path, &to_bytes(path, &ckpt).unwrap()).unwrap_err();
        assert!(matches!(&e, CheckpointError::BadValue { name, .. } if name == tensor), "{e}");
        assert!(e.to_string().contains("NaN or infinite"), "{e}");
    }
    let mut ckpt = sample();
    ckpt.optimizer[0].1[3] = f32::NEG_INFINITY;
    let e = from_bytes(path, &to_bytes(path, &ckpt).unwrap()).unwrap_err().to_string();
    assert!(e.contains("optimizer.velocity"), "{e}");

    // A bf16 file quantised from such weights is refused too.
    let mut ckpt = sample();
    ckpt.network.params_mut()[0] = f32::NAN;
    let q = crate::quantize::QuantizedCheckpoint::from_checkpoint(&ckpt, nabla::quant::Precision::Bf16, path).unwrap();
    let bytes = crate::quantize::to_bytes(path, &q).unwrap();
    let e = crate::quantize::from_bytes(path, &bytes).unwrap_err().to_string();
    assert!(e.contains("layers.0.weight") && e.contains("NaN or infinite"), "{e}");
}

// Regression (issue 21): optimiser metadata repeating a name allocated a network-sized buffer
// for every repetition.
#[test]
fn optimiser_metadata_naming_too_many_or_repeated_buffers_is_refused() {
    let bytes = to_bytes(Path::new("x"), &sample()).unwrap();
    let many = serde_json::to_string(&vec!["velocity"; 100_000]).unwrap();
    let e = from_bytes(Path::new("x"), &with_field(&bytes, "optimizer", &many)).unwrap_err().to_string();
    assert!(e.contains("100000 buffers"), "{e}");
    let twice = with_field(&bytes, "optimizer", r#"["velocity","velocity"]"#);
    let e = from_bytes(Path::new("x"), &twice).unwrap_err().to_string();
    assert!(e.contains("`velocity` twice"), "{e}");
}

/// Issue 22: a residual net round-trips bit for bit, under its PyTorch-style names, with its
/// own `architecture` and format version 2; a plain net's file keeps version 1 and no `kind`,
/// so files written before residual nets (and by older nablas) read as they did.
#[test]
fn a_residual_net_round_trips_and_a_plain_file_is_unchanged() {
    let path = Path::new("r.safetensors");
    let spec = ResidualSpec::new(4, 6, 2, 3, Activation::Tanh, Activation::Identity).unwrap();
    let net = ResidualMlp::new(spec, Init::HeNormal, &mut Rng::new(9));
    let classes = vec!["a".into(), "b".into(), "c".into()];
    let mut ckpt = Checkpoint::new(net, "toy", classes.clone(), InputSpec::unit(2, 2, 255));
    ckpt.optimizer = vec![("velocity".into(), vec![0.5; ckpt.network.num_params()])];
    let bytes = to_bytes(path, &ckpt).unwrap();
    assert_eq!(from_bytes(path, &bytes).unwrap(), ckpt);
    let (st, meta) = open_safetensors(path, &bytes).unwrap();
    assert_eq!(meta["format_version"], "2");
    let arch: serde_json::Value = serde_json::from_str(&meta["architecture"]).unwrap();
    let want = serde_json::json!({"kind": "residual", "inputs": 4, "width": 6, "depth": 2, "outputs": 3, "hidden": "tanh", "output": "identity"});
    assert_eq!(arch, want);
    assert_eq!(st.tensor("blocks.1.fc2.weight").unwrap().shape(), [6, 6]);
    assert_eq!(st.tensor("norm.bias").unwrap().shape(), [6]);

    let plain = MlpSpec::new(vec![4, 5, 3], Activation::Relu, Activation::Identity).unwrap();
    let plain =
        Checkpoint::new(Mlp::new(plain, Init::HeNormal, &mut Rng::new(9)), "toy", classes, InputSpec::unit(2, 2, 255));
    let plain_bytes = to_bytes(path, &plain).unwrap();
    let (_, meta) = open_safetensors(path, &plain_bytes).unwrap();
    assert_eq!(meta["format_version"], "1");
    assert_eq!(meta["architecture"], r#"{"sizes":[4,5,3],"hidden":"relu","output":"identity"}"#);

    // A residual header asking for more than the file holds, or an unknown kind, is refused.
    for (arch, want) in [
        (
            r#"{"kind":"residual","inputs":4,"width":200000,"depth":9000,"outputs":3,"hidden":"relu","output":"identity"}"#,
            "more parameters than the file",
        ),
        (
            r#"{"kind":"residual","inputs":4,"width":6,"outputs":3,"hidden":"relu","output":"identity"}"#,
            "without `depth`",
        ),
        (r#"{"kind":"conv","hidden":"relu","output":"identity"}"#, "unknown kind `conv`"),
    ] {
        let mut meta = meta.clone();
        meta.insert("architecture".into(), arch.into());
        let e = ModelMeta::parse(path, &meta, bytes.len()).err().unwrap().to_string();
        assert!(e.contains(want), "{e}");
    }
}
