//! Checkpoints on disk: bit-exact round trips, every way a file can be wrong, atomic writes,
//! and the proof that Python (safetensors + numpy, and torch when present) reproduces
//! nabla's logits from a checkpoint.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use nabla::{Activation, Init, Mlp, MlpSpec, Rng};
use nabla_testkit::files_in;
use nabla_train::checkpoint::{self, Checkpoint, InputSpec};
use nabla_train::safetensors_file::CheckpointError;
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use serde_json::json;
use tempfile::TempDir;

fn spec(sizes: &[usize], hidden: &str) -> MlpSpec {
    MlpSpec::new(sizes.to_vec(), hidden.parse().unwrap(), Activation::Identity).unwrap()
}

fn digit_classes() -> Vec<String> {
    (0..10).map(|i| i.to_string()).collect()
}

/// A checkpoint with every field set to something other than its default.
fn full_checkpoint() -> Checkpoint {
    let mlp = Mlp::new(spec(&[16, 12, 8, 10], "leaky-relu:0.2"), Init::HeNormal, &mut Rng::new(11));
    let n = mlp.num_params();
    let mut rng = Rng::new(5);
    let mut buffer = || (0..n).map(|_| rng.normal() as f32 * 1e-3).collect::<Vec<f32>>();
    let (m, v) = (buffer(), buffer());
    Checkpoint {
        network: mlp.into(),
        dataset: "digits".into(),
        classes: digit_classes(),
        input: InputSpec { height: 4, width: 4, max_value: 16, mean: 0.3071, std: 0.2911 }.into(),
        config: json!({"hidden": [12, 8], "optimizer": "adam", "lr": 0.001, "seed": 42, "schedule": {"kind": "cosine"}}),
        epoch: 3,
        step: 1234,
        optimizer: vec![("m".into(), m), ("v".into(), v)],
        metrics: json!({"val_acc": 0.9721, "val_loss": 0.0913}),
    }
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn round_trip_is_bit_exact() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("model.safetensors");
    let ckpt = full_checkpoint();
    checkpoint::save(&path, &ckpt).unwrap();
    let back = checkpoint::load(&path).unwrap();
    assert_eq!(bits(back.network.params()), bits(ckpt.network.params()));
    for ((name, a), (name_b, b)) in back.optimizer.iter().zip(&ckpt.optimizer) {
        assert_eq!((name, bits(a)), (name_b, bits(b)));
    }
    assert_eq!(back, ckpt);
    assert_eq!(back.optimizer_state("v").map(<[f32]>::len), Some(ckpt.network.num_params()));
}

#[test]
fn the_file_is_laid_out_as_pytorch_names_it() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("model.safetensors");
    checkpoint::save(&path, &full_checkpoint()).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut shapes: Vec<(String, Vec<usize>)> =
        st.tensors().into_iter().map(|(name, t)| (name, t.shape().to_vec())).collect();
    shapes.sort();
    let want = [
        ("layers.0.bias", vec![12]),
        ("layers.0.weight", vec![12, 16]),
        ("layers.1.bias", vec![8]),
        ("layers.1.weight", vec![8, 12]),
        ("layers.2.bias", vec![10]),
        ("layers.2.weight", vec![10, 8]),
        ("optimizer.m", vec![398]),
        ("optimizer.v", vec![398]),
    ];
    assert_eq!(shapes, want.map(|(n, s)| (n.to_string(), s)));
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    let meta = header.metadata().clone().unwrap();
    assert_eq!(meta["format"], "nabla-mlp");
    assert_eq!(meta["format_version"], "1");
    let arch: serde_json::Value = serde_json::from_str(&meta["architecture"]).unwrap();
    assert_eq!(arch, json!({"sizes": [16, 12, 8, 10], "hidden": "leaky-relu:0.2", "output": "identity"}));
    for key in ["dataset", "classes", "input", "config", "epoch", "step", "metrics", "nabla_version"] {
        assert!(meta.contains_key(key), "no {key}");
    }
}

#[test]
fn a_truncated_file_is_not_a_checkpoint() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("model.safetensors");
    checkpoint::save(&path, &full_checkpoint()).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    for keep in [0, 5, 8, 100, bytes.len() / 2, bytes.len() - 1] {
        std::fs::write(&path, &bytes[..keep]).unwrap();
        let err = checkpoint::load(&path).unwrap_err();
        assert!(matches!(err, CheckpointError::NotSafetensors { .. }), "{keep} bytes: {err}");
        assert!(err.to_string().starts_with(&format!("{}: not a safetensors file", path.display())), "{err}");
    }
}

#[test]
fn a_missing_file_is_named() {
    let err = checkpoint::load(Path::new("no/such/model.safetensors")).unwrap_err();
    assert_eq!(err.to_string(), "no/such/model.safetensors: no such checkpoint file");
}

/// Rewrites a checkpoint file: `edit` may change its tensors (name → (shape, f32 data))
/// and metadata before it is written back.
fn rewrite(path: &Path, edit: impl FnOnce(&mut Vec<(String, Vec<usize>, Vec<u8>)>, &mut HashMap<String, String>)) {
    let bytes = std::fs::read(path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> =
        st.tensors().into_iter().map(|(n, t)| (n, t.shape().to_vec(), t.data().to_vec())).collect();
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    let mut meta = header.metadata().clone().unwrap_or_default();
    edit(&mut tensors, &mut meta);
    let views: Vec<(String, TensorView<'_>)> =
        tensors.iter().map(|(n, s, d)| (n.clone(), TensorView::new(Dtype::F32, s.clone(), d).unwrap())).collect();
    let meta = if meta.is_empty() { None } else { Some(meta) };
    std::fs::write(path, safetensors::serialize(views, meta).unwrap()).unwrap();
}

/// Saves [`full_checkpoint`], applies `edit`, and returns the load error's message.
fn load_error_after(
    edit: impl FnOnce(&mut Vec<(String, Vec<usize>, Vec<u8>)>, &mut HashMap<String, String>),
) -> String {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("m.safetensors");
    checkpoint::save(&path, &full_checkpoint()).unwrap();
    rewrite(&path, edit);
    let err = checkpoint::load(&path).unwrap_err().to_string();
    assert!(err.starts_with(&format!("{}: ", path.display())), "{err}");
    err
}

#[test]
fn a_plain_safetensors_file_is_not_a_nabla_checkpoint() {
    let err = load_error_after(|_, meta| meta.clear());
    assert!(
        err.ends_with("not a nabla checkpoint: its metadata has no `format` field (a plain safetensors file?)"),
        "{err}"
    );
    let err = load_error_after(|_, meta| {
        meta.insert("format".into(), "pt".into());
    });
    assert!(err.ends_with("not a nabla checkpoint: format is `pt`, not `nabla-mlp`"), "{err}");
    let err = load_error_after(|_, meta| {
        meta.insert("format_version".into(), "3".into());
    });
    assert!(err.contains("format version 3; this nabla reads version 2"), "{err}");
}

#[test]
fn missing_and_misshapen_tensors_are_named() {
    let err = load_error_after(|tensors, _| tensors.retain(|(n, _, _)| n != "layers.1.bias"));
    assert!(err.ends_with("missing tensor `layers.1.bias`"), "{err}");
    let err = load_error_after(|tensors, _| {
        let t = tensors.iter_mut().find(|(n, _, _)| n == "layers.0.weight").unwrap();
        t.1 = vec![16, 12];
    });
    assert!(err.ends_with("tensor `layers.0.weight` is F32 [16, 12], expected F32 [12, 16]"), "{err}");
    let err = load_error_after(|tensors, _| tensors.retain(|(n, _, _)| n != "optimizer.v"));
    assert!(err.ends_with("missing tensor `optimizer.v`"), "{err}");
}

#[test]
fn bad_metadata_fields_are_named() {
    let cases: [(&str, &str, &str); 8] = [
        (
            "architecture",
            "{\"sizes\":[4000000000,4000000000,10],\"hidden\":\"relu\",\"output\":\"identity\"}",
            "needs more parameters than the file's",
        ),
        (
            "architecture",
            "{\"sizes\":[100000,1000,10],\"hidden\":\"relu\",\"output\":\"identity\"}",
            "needs more parameters than the file's",
        ),
        ("architecture", "{\"sizes\": [16, 10]}", "bad metadata field `architecture`: missing field `hidden`"),
        (
            "architecture",
            "{\"sizes\":[16,12,8,10],\"hidden\":\"swish\",\"output\":\"identity\"}",
            "invalid activation `swish`",
        ),
        ("classes", "[\"a\", \"b\"]", "bad metadata field `classes`: 2 names for 10 outputs"),
        ("input", "{\"height\":2}", "bad metadata field `input`"),
        ("epoch", "three", "bad metadata field `epoch`: `three` is not a count"),
        ("config", "{not json", "bad metadata field `config`: not JSON"),
    ];
    for (field, value, want) in cases {
        let err = load_error_after(|_, meta| {
            meta.insert(field.into(), value.into());
        });
        assert!(err.contains(want), "{field}: {err}");
    }
    let err = load_error_after(|_, meta| {
        meta.remove("step");
    });
    assert!(err.ends_with("bad metadata field `step`: missing"), "{err}");
}

#[test]
fn another_architecture_is_refused_with_both_named() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("mnist.safetensors");
    let mlp = Mlp::new(spec(&[784, 128, 10], "relu"), Init::HeNormal, &mut Rng::new(1));
    checkpoint::save(&path, &Checkpoint::new(mlp, "mnist", digit_classes(), InputSpec::unit(28, 28, 255))).unwrap();

    let err = checkpoint::load_compatible(&path, &spec(&[784, 256, 10], "relu").into()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{}: checkpoint is 784-128-10 (relu) but the run asks for 784-256-10 (relu)", path.display())
    );
    let err = checkpoint::load(&path).unwrap().check_compatible(&spec(&[784, 128, 10], "tanh").into()).unwrap_err();
    assert_eq!(err.to_string(), "checkpoint is 784-128-10 (relu) but the run asks for 784-128-10 (tanh)");
    assert!(checkpoint::load_compatible(&path, &spec(&[784, 128, 10], "relu").into()).is_ok());
}

#[test]
fn saving_is_atomic_and_leaves_no_temporary_files() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("last.safetensors");
    let first = full_checkpoint();
    checkpoint::save(&path, &first).unwrap();
    let mut second = full_checkpoint();
    second.epoch = 4;
    second.network.params_mut()[0] += 1.0;
    checkpoint::save(&path, &second).unwrap();
    assert_eq!(files_in(dir.path()), ["last.safetensors"]);
    assert_eq!(checkpoint::load(&path).unwrap(), second);

    // A checkpoint that cannot be written leaves the old file as it was, and nothing else.
    let mut broken = full_checkpoint();
    broken.optimizer[1].1.truncate(7);
    let err = checkpoint::save(&path, &broken).unwrap_err().to_string();
    assert!(err.contains("last.safetensors: cannot save checkpoint: optimizer buffer `v` has 7 values"), "{err}");
    assert_eq!(files_in(dir.path()), ["last.safetensors"]);
    assert_eq!(checkpoint::load(&path).unwrap(), second);

    // A folder that does not exist: an error naming the file, no stray files anywhere.
    let missing = dir.path().join("no-such-dir").join("best.safetensors");
    let err = checkpoint::save(&missing, &first).unwrap_err().to_string();
    assert!(err.starts_with(&missing.display().to_string()), "{err}");
    assert_eq!(files_in(dir.path()), ["last.safetensors"]);
}

#[test]
fn concurrent_saves_to_one_path_leave_one_complete_file() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("model.safetensors");
    let ckpt = full_checkpoint();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| checkpoint::save(&path, &ckpt).unwrap());
        }
    });
    assert_eq!(files_in(dir.path()), ["model.safetensors"]);
    assert_eq!(checkpoint::load(&path).unwrap(), ckpt);
}

/// The Python to run the reference script with: `$NABLA_PYTHON`, else the venv that
/// .ci/python-env.sh makes, else `python3` when it has safetensors and numpy; `None` (with a
/// note on stderr) when there is none, outside CI; under CI (`$CI` set) the test fails instead.
fn python() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("NABLA_PYTHON").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let venv = workspace().join("target/pyenv/bin/python");
    for candidate in [venv, PathBuf::from("python3")] {
        let works = Command::new(&candidate)
            .args(["-c", "import safetensors, numpy"])
            .output()
            .is_ok_and(|o| o.status.success());
        if works {
            return Some(candidate);
        }
    }
    // CI installs that Python (.ci/python-env.sh): there, a missing one is a failure, not a skip.
    assert!(
        std::env::var_os("CI").is_none(),
        "no Python with safetensors and numpy, and CI is set: .ci/python-env.sh should have made one (or set NABLA_PYTHON)"
    );
    #[allow(clippy::print_stderr)]
    {
        eprintln!("skipped: no Python with safetensors and numpy; set NABLA_PYTHON (see .ci/python-env.sh)");
    }
    None
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Writes `mlp` as a checkpoint and a batch of inputs, has Python compute the logits from
/// the file alone, and compares them with nabla's.
fn python_matches_nabla(python: &Path, dir: &Path, mlp: Mlp, input: InputSpec) {
    let n_in = mlp.spec().inputs();
    let name = checkpoint::describe_architecture(mlp.spec()).replace([' ', '(', ')', ',', ':'], "_");
    let ckpt_path = dir.join(format!("{name}.safetensors"));
    let classes: Vec<String> = (0..mlp.spec().outputs()).map(|i| format!("class {i}")).collect();
    checkpoint::save(&ckpt_path, &Checkpoint::new(mlp.clone(), "synthetic", classes, input)).unwrap();

    let batch = 17;
    let mut rng = Rng::new(99);
    let x: Vec<f32> = (0..batch * n_in).map(|_| rng.uniform_f32(0.0, 1.0)).collect();
    let x_path = dir.join(format!("{name}.inputs.f32"));
    let out_path = dir.join(format!("{name}.logits.f32"));
    std::fs::write(&x_path, x.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>()).unwrap();

    let out = Command::new(python)
        .arg(workspace().join("tests/reference/load_checkpoint.py"))
        .args([&ckpt_path, &x_path, &out_path])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    assert!(
        out.status.success(),
        "python failed for {name}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs: Vec<f32> = std::fs::read(&out_path)
        .unwrap()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let ours = mlp.predict(nabla::MatRef::new(&x, batch, n_in).unwrap()).unwrap();
    assert_eq!(theirs.len(), ours.as_slice().len(), "{name}: logits count");
    for (i, (a, b)) in ours.as_slice().iter().zip(&theirs).enumerate() {
        assert!((a - b).abs() <= 1e-5, "{name}: logit {i}: nabla {a}, python {b}");
    }
}

#[test]
fn python_reproduces_the_logits_from_the_checkpoint() {
    let Some(python) = python() else { return };
    let dir = TempDir::new().unwrap();
    let mut rng = Rng::new(2024);
    for hidden in ["relu", "leaky-relu", "leaky-relu:0.2", "elu", "elu:0.5", "sigmoid", "tanh"] {
        let mlp = Mlp::new(spec(&[12, 10, 8, 5], hidden), Init::XavierUniform, &mut rng);
        python_matches_nabla(&python, dir.path(), mlp, InputSpec::unit(3, 4, 255));
    }
    // An MNIST-sized network, and one with a non-identity output layer.
    let mlp = Mlp::new(spec(&[784, 64, 10], "relu"), Init::HeNormal, &mut rng);
    python_matches_nabla(&python, dir.path(), mlp, InputSpec::unit(28, 28, 255));
    let xor = MlpSpec::new(vec![2, 2, 1], Activation::Sigmoid, Activation::Sigmoid).unwrap();
    python_matches_nabla(
        &python,
        dir.path(),
        Mlp::new(xor, Init::Uniform { limit: 1.0 }, &mut rng),
        InputSpec::unit(1, 2, 1),
    );
}
