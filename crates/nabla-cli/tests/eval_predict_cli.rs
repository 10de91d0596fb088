//! `nabla eval` and `nabla predict` as a user runs them, on checkpoints written here through
//! the library: a small MNIST net trained in the test itself, and odd ones for the error paths.

mod support;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use assert_cmd::Command;
use nabla::{Activation, Init, Loss, MatRef, Mlp, MlpSpec, Optimizer, Regularizer, Rng, Sgd, Targets, Workspace};
use nabla_data::{BatchBuffers, Dataset, Normalizer};
use nabla_testkit::shared_data;
use nabla_train::checkpoint::{self, Checkpoint, InputSpec};
use tempfile::TempDir;

/// `nabla` reading data from the shared folder only.
fn nabla() -> Command {
    let mut cmd = Command::cargo_bin("nabla").unwrap();
    for var in support::USER_ENV {
        cmd.env_remove(var);
    }
    cmd.env("NABLA_DATA", shared_data());
    cmd
}

/// The MNIST test split.
fn mnist_test() -> &'static Dataset {
    static TEST: OnceLock<Dataset> = OnceLock::new();
    TEST.get_or_init(|| nabla_data::find("mnist", Some(&shared_data())).unwrap().load().unwrap().test)
}

/// A 784-32-10 ReLU net trained with plain SGD for 400 steps of 64 MNIST examples (about
/// 90% test accuracy), saved once per test run under the target folder (a static is never
/// dropped, so a temporary folder would outlive the run).
fn trained() -> &'static Path {
    static CKPT: OnceLock<PathBuf> = OnceLock::new();
    CKPT.get_or_init(|| {
        let train = nabla_data::find("mnist", Some(&shared_data())).unwrap().load().unwrap().train;
        let spec = MlpSpec::new(vec![784, 32, 10], Activation::Relu, Activation::Identity).unwrap();
        let mut rng = Rng::new(1);
        let mut mlp = Mlp::new(spec, Init::HeNormal, &mut rng);
        let (batch, norm) = (64, Normalizer::unit(train.max_value));
        let mut buffers = BatchBuffers::new(batch, 784);
        let mut ws = Workspace::new(mlp.spec(), batch);
        let mut grads = vec![0.0; mlp.num_params()];
        let mut sgd = Sgd::new();
        let mut order: Vec<usize> = (0..train.len).collect();
        rng.shuffle(&mut order);
        for chunk in order.chunks(batch).take(400) {
            let (x, y) = buffers.fill(&train, chunk, &norm);
            let labels: Vec<u32> = y.iter().map(|&l| u32::from(l)).collect();
            let x = MatRef::new(x, chunk.len(), 784).unwrap();
            let loss = Loss::SoftmaxCrossEntropy;
            mlp.loss_and_gradient(x, Targets::Classes(&labels), loss, Regularizer::NONE, &mut ws, &mut grads).unwrap();
            sgd.step(mlp.params_mut(), &grads, 0.1);
        }
        let mut ckpt = Checkpoint::new(mlp, "mnist", train.classes.clone(), InputSpec::unit(28, 28, 255));
        (ckpt.epoch, ckpt.step) = (0, 400);
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("eval_predict_cli");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("mnist-784-32-10.safetensors");
        checkpoint::save(&path, &ckpt).unwrap();
        path
    })
}

/// A randomly initialised net of the given sizes for 8×8 inputs, saved in `dir`.
fn digits_sized(dir: &Path) -> PathBuf {
    let spec = MlpSpec::new(vec![64, 16, 10], Activation::Relu, Activation::Identity).unwrap();
    let mlp = Mlp::new(spec, Init::HeNormal, &mut Rng::new(3));
    let classes = (0..10).map(|i| i.to_string()).collect();
    let path = dir.join("digits.safetensors");
    checkpoint::save(&path, &Checkpoint::new(mlp, "digits", classes, InputSpec::unit(8, 8, 16))).unwrap();
    path
}

fn stdout_of(cmd: &mut Command) -> String {
    String::from_utf8(cmd.assert().success().get_output().stdout.clone()).unwrap()
}

fn json_of(cmd: &mut Command) -> serde_json::Value {
    serde_json::from_str(&stdout_of(cmd)).unwrap()
}

/// Runs `cmd`, expecting failure with exit code 1 and one error line containing `needle`.
fn fails_with(cmd: &mut Command, needle: &str) {
    let out = cmd.assert().failure().code(1).get_output().clone();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with("error: ") && err.contains(needle), "stderr: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line expected: {err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn eval_prints_accuracy_per_class_scores_and_the_confusion_matrix() {
    let out = stdout_of(nabla().arg("eval").arg(trained()).arg("mnist"));
    assert!(out.contains("mnist, test split: 10000 examples"), "{out}");
    assert!(out.contains("784-32-10 (relu), trained on mnist: epoch 0, step 400"), "{out}");
    assert!(out.contains("accuracy    ") && out.contains("/ 10000)"), "{out}");
    assert!(out.contains("class  precision  recall      f1  support"), "{out}");
    assert!(out.contains("confusion matrix (rows: true class, columns: predicted class)"), "{out}");
    // The confusion table: a header of 10 column numbers, then 10 rows of 10 counts.
    let table: Vec<&str> = out.lines().skip_while(|l| !l.starts_with("confusion")).skip(1).collect();
    assert_eq!(table.len(), 11, "{out}");
    assert_eq!(table[0].split_whitespace().collect::<Vec<_>>(), ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);
    for (i, row) in table[1..].iter().enumerate() {
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!((cells.len(), cells[0]), (11, i.to_string().as_str()), "{row}");
    }
}

#[test]
fn eval_json_has_every_key_and_a_trained_net_is_well_above_chance() {
    let doc = json_of(nabla().arg("eval").arg(trained()).args(["mnist", "--json", "--batch-size", "777"]));
    for key in ["checkpoint", "dataset", "split", "examples", "accuracy", "loss", "per_class", "confusion"] {
        assert!(doc.get(key).is_some(), "missing {key}: {doc}");
    }
    assert_eq!((&doc["dataset"], &doc["split"], &doc["examples"]), (&"mnist".into(), &"test".into(), &10000.into()));
    let acc = doc["accuracy"].as_f64().unwrap();
    assert!(acc > 0.85, "accuracy {acc}");
    let loss = doc["loss"].as_f64().unwrap();
    assert!(loss > 0.0 && loss < 0.6, "loss {loss}");
    let confusion: Vec<Vec<u64>> = serde_json::from_value(doc["confusion"].clone()).unwrap();
    assert_eq!(confusion.len(), 10);
    assert_eq!(confusion.iter().flatten().sum::<u64>(), 10000);
    let diagonal: u64 = (0..10).map(|i| confusion[i][i]).sum();
    assert!((diagonal as f64 / 10000.0 - acc).abs() < 1e-12);
    let per_class = doc["per_class"].as_array().unwrap();
    assert_eq!(per_class.len(), 10);
    assert_eq!(per_class[7]["class"], "7");
    for (i, c) in per_class.iter().enumerate() {
        assert_eq!(c["support"].as_u64().unwrap(), confusion[i].iter().sum::<u64>());
        for key in ["precision", "recall", "f1"] {
            let v = c[key].as_f64().unwrap();
            assert!((0.5..=1.0).contains(&v), "{key} of class {i}: {v}");
        }
    }
}

#[test]
fn eval_train_split_counts_the_training_examples() {
    let doc = json_of(nabla().arg("eval").arg(trained()).args(["mnist", "--split", "train", "--json"]));
    assert_eq!((&doc["split"], &doc["examples"]), (&"train".into(), &60000.into()));
}

#[test]
fn eval_shows_fashion_mnist_class_names() {
    // An MNIST model evaluated on Fashion-MNIST is meaningless, but the shapes fit: the
    // report uses the evaluated data set's class names.
    let doc = json_of(nabla().arg("eval").arg(trained()).args(["fashion-mnist", "--json"]));
    assert_eq!(doc["per_class"][0]["class"], "T-shirt/top");
    let out = stdout_of(nabla().arg("eval").arg(trained()).arg("fashion-mnist"));
    assert!(out.contains("\n9 Ankle boot "), "{out}");
}

#[test]
fn predict_a_test_example_shows_its_label_and_the_top_three() {
    let out = stdout_of(nabla().arg("predict").arg(trained()).arg("mnist:0"));
    assert!(out.contains("true label  7"), "{out}");
    let lines: Vec<&str> = out.lines().filter(|l| l.ends_with("%)")).collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[0].starts_with("7  ("), "{out}");

    let doc = json_of(nabla().arg("predict").arg(trained()).args(["mnist:0", "--json", "--top", "5"]));
    assert_eq!(doc["label"]["class"], "7");
    let top = doc["top"].as_array().unwrap();
    assert_eq!(top.len(), 5);
    assert_eq!(top[0]["class"], "7");
    let p: Vec<f64> = top.iter().map(|t| t["probability"].as_f64().unwrap()).collect();
    assert!(p.windows(2).all(|w| w[0] >= w[1]) && p.iter().sum::<f64>() <= 1.0 + 1e-6, "{p:?}");
    assert!(p[0] > 0.5, "{p:?}");
}

/// MNIST test image `index` as a `size`×`size` RGB PNG: dark blue ink on light yellow paper,
/// scaled up with nearest-neighbour sampling.
fn write_png(index: usize, size: u32, path: &Path) {
    let ds = mnist_test();
    let pixels = ds.image(index);
    let img = image::RgbImage::from_fn(size, size, |x, y| {
        let (sx, sy) = ((x * 28 / size) as usize, (y * 28 / size) as usize);
        let ink = f32::from(pixels[sy * 28 + sx]) / 255.0;
        let paper = [250.0, 240.0, 200.0];
        let pen = [20.0, 30.0, 90.0];
        image::Rgb(std::array::from_fn(|c| (paper[c] * (1.0 - ink) + pen[c] * ink).round() as u8))
    });
    img.save(path).unwrap();
}

#[test]
fn predict_a_dark_on_light_colour_png() {
    let dir = TempDir::new().unwrap();
    let ds = mnist_test();
    // The first three test digits: 7, 2, 1.
    for index in 0..3 {
        let png = dir.path().join(format!("digit{index}.png"));
        write_png(index, 100, &png);
        let out = stdout_of(nabla().arg("predict").arg(trained()).arg(&png));
        assert!(out.contains("100×100 colour, dark on light: inverted"), "{out}");
        let first = out.lines().find(|l| l.ends_with("%)")).unwrap();
        let want = ds.labels[index].to_string();
        assert!(first.starts_with(&format!("{want}  (")), "digit {want}: {out}");
    }
}

#[test]
fn predict_a_grey_jpeg_of_another_size() {
    let dir = TempDir::new().unwrap();
    let ds = mnist_test();
    let jpg = dir.path().join("seven.jpg");
    // Light ink on black, 57×57, grey: no inversion needed.
    let img = image::GrayImage::from_fn(57, 57, |x, y| {
        image::Luma([ds.image(0)[(y * 28 / 57) as usize * 28 + (x * 28 / 57) as usize]])
    });
    img.save(&jpg).unwrap();
    let doc = json_of(nabla().arg("predict").arg(trained()).arg(&jpg).arg("--json"));
    assert_eq!(doc["top"][0]["class"], "7", "{doc}");
    assert!(doc["label"].is_null());
}

#[test]
fn missing_checkpoint() {
    fails_with(
        nabla().args(["eval", "no/such/model.safetensors", "mnist"]),
        "no/such/model.safetensors: no such checkpoint file",
    );
    fails_with(nabla().args(["predict", "no/such/model.safetensors", "mnist:0"]), "no such checkpoint file");
}

#[test]
fn corrupt_and_truncated_checkpoints() {
    let dir = TempDir::new().unwrap();
    let junk = dir.path().join("junk.safetensors");
    std::fs::write(&junk, b"this is not a checkpoint at all").unwrap();
    fails_with(nabla().arg("eval").arg(&junk).arg("mnist"), "junk.safetensors: not a safetensors file");
    let cut = dir.path().join("cut.safetensors");
    let bytes = std::fs::read(trained()).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() - 100]).unwrap();
    fails_with(nabla().arg("predict").arg(&cut).arg("mnist:0"), "cut.safetensors: not a safetensors file (truncated");
}

#[test]
fn a_64_input_net_does_not_take_mnist() {
    let dir = TempDir::new().unwrap();
    let ckpt = digits_sized(dir.path());
    fails_with(
        nabla().arg("eval").arg(&ckpt).arg("mnist"),
        "the model takes 8×8 images (64 inputs) but mnist has 28×28 images (784 inputs)",
    );
    fails_with(nabla().arg("predict").arg(&ckpt).arg("mnist:3"), "the model takes 8×8 images");
    // The digits data set itself fits it.
    let doc = json_of(nabla().arg("eval").arg(&ckpt).args(["digits", "--json"]));
    assert_eq!(doc["examples"], 359);
}

#[test]
fn unknown_data_set() {
    fails_with(nabla().arg("eval").arg(trained()).arg("cifar"), "unknown data set `cifar`");
    fails_with(nabla().arg("predict").arg(trained()).arg("cifar:3"), "unknown data set `cifar`");
}

#[test]
fn missing_data_says_how_to_fetch_it() {
    let dir = TempDir::new().unwrap();
    let mut cmd = support::nabla(dir.path());
    fails_with(cmd.arg("eval").arg(trained()).arg("mnist"), "nabla data fetch mnist");
}

#[test]
fn bad_example_index() {
    fails_with(
        nabla().arg("predict").arg(trained()).arg("mnist:10000"),
        "example 10000 is out of range: mnist has 10000 test examples (0 to 9999)",
    );
    fails_with(nabla().arg("predict").arg(trained()).arg("mnist:seven"), "bad example index `seven` in `mnist:seven`");
}

#[test]
fn unreadable_or_missing_image() {
    let dir = TempDir::new().unwrap();
    let fake = dir.path().join("fake.png");
    std::fs::write(&fake, b"definitely not a PNG").unwrap();
    fails_with(nabla().arg("predict").arg(trained()).arg(&fake), "fake.png: not a readable PNG or JPEG image");
    let missing = dir.path().join("missing.png");
    fails_with(nabla().arg("predict").arg(trained()).arg(&missing), "missing.png: no such file");
    // Regression (issue 21): a small PNG declaring 16000 × 16000 pixels took 3.3 GB to decode;
    // the header is read first and a picture past nabla's limit refused.
    let huge = dir.path().join("huge.png");
    image::GrayImage::new(4100, 4100).save(&huge).unwrap();
    assert!(std::fs::metadata(&huge).unwrap().len() < 1 << 20);
    fails_with(nabla().arg("predict").arg(trained()).arg(&huge), "huge.png: the image is 4100×4100 pixels");
}

#[test]
fn bad_flags_are_usage_errors() {
    nabla().arg("eval").arg(trained()).args(["mnist", "--batch-size", "0"]).assert().failure().code(2);
    // Regression (issue 21): a batch past memory aborted with exit 134 and a backtrace.
    nabla().arg("eval").arg(trained()).args(["mnist", "--batch-size", "1000000000000"]).assert().failure().code(2);
    nabla().arg("eval").arg(trained()).args(["mnist", "--split", "val"]).assert().failure().code(2);
    nabla().arg("predict").arg(trained()).args(["mnist:0", "--top", "0"]).assert().failure().code(2);
}
