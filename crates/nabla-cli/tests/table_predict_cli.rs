//! `nabla predict` and `nabla eval` on models trained on a table, as a user runs them. The
//! tables are written here (two Gaussian blobs with a text column; a linear target with an
//! offset by category), the preprocessing fitted and the networks trained through the library
//! with plain full-batch SGD, and the checkpoints saved where the binary reads them.

mod support;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use nabla::{Activation, Init, Loss, MatRef, Mlp, MlpSpec, Optimizer, Rng, Sgd, Workspace};
use nabla_data::table::{PreprocessOptions, Preprocessor, ReadOptions, Table, Targets, Task};
use nabla_train::checkpoint::{self, Checkpoint, InputSpec};
use tempfile::TempDir;

fn nabla(dir: &Path) -> Command {
    support::nabla(dir)
}

/// Blobs: `x1`, `x2` around (−2, −2) for class `a` and (2, 2) for class `b`, a `colour`
/// (red or blue, unrelated to the class), the class in `label`; `rows` rows from `seed`.
fn blobs_csv(rows: usize, seed: u64) -> String {
    let mut rng = Rng::new(seed);
    let mut csv = String::from("x1,x2,colour,label\n");
    for i in 0..rows {
        let (centre, label) = if i % 2 == 0 { (-2.0, "a") } else { (2.0, "b") };
        let colour = if rng.below(2) == 0 { "red" } else { "blue" };
        writeln!(csv, "{},{},{colour},{label}", centre + rng.normal(), centre + rng.normal()).unwrap();
    }
    csv
}

/// A regression: `price = 3·x1 − 2·x2 + (5 if red) + 100` plus a little noise.
fn prices_csv(rows: usize, seed: u64) -> String {
    let mut rng = Rng::new(seed);
    let mut csv = String::from("x1,x2,colour,price\n");
    for _ in 0..rows {
        let (x1, x2) = (rng.uniform(-2.0, 2.0), rng.uniform(-2.0, 2.0));
        let red = rng.below(2) == 0;
        let price = 3.0 * x1 - 2.0 * x2 + if red { 5.0 } else { 0.0 } + 100.0 + 0.1 * rng.normal();
        writeln!(csv, "{x1},{x2},{},{price}", if red { "red" } else { "blue" }).unwrap();
    }
    csv
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Fits the preprocessing of `train` for `target`, trains a `width-16-outputs` ReLU net on it
/// with full-batch SGD, and saves the checkpoint in `dir`.
fn train_table_model(dir: &Path, train: &Path, target: &str, task: Task) -> PathBuf {
    let table = Table::read(train, &ReadOptions::default()).unwrap();
    let (pre, _) = Preprocessor::fit(&table, target, task, &PreprocessOptions::default()).unwrap();
    let encoded = pre.transform(&table).unwrap();
    let (rows, width) = (encoded.rows, encoded.features);
    let (classes, loss, lr) = match pre.classes() {
        Some(names) => (names.to_vec(), Loss::SoftmaxCrossEntropy, 0.2),
        None => (vec![target.to_string()], Loss::Mse, 0.05),
    };
    let spec = MlpSpec::new(vec![width, 16, classes.len()], Activation::Relu, Activation::Identity).unwrap();
    let mut mlp = Mlp::new(spec, Init::HeNormal, &mut Rng::new(5));
    let mut ws = Workspace::new(mlp.spec(), rows);
    let mut grads = vec![0.0; mlp.num_params()];
    let mut sgd = Sgd::new();
    let x = MatRef::new(&encoded.x, rows, width).unwrap();
    for _ in 0..600 {
        let targets = match encoded.targets.as_ref().unwrap() {
            Targets::Classes(labels) => nabla::Targets::Classes(labels),
            Targets::Values(values) => nabla::Targets::Values(MatRef::new(values, rows, 1).unwrap()),
        };
        mlp.forward(x, &mut ws).unwrap();
        mlp.output_loss(targets, loss, &mut ws).unwrap();
        mlp.backward(x, &mut ws, &mut grads).unwrap();
        sgd.step(mlp.params_mut(), &grads, lr);
    }
    let mut ckpt = Checkpoint::new(mlp, train.file_name().unwrap().to_string_lossy(), classes, pre);
    ckpt.step = 600;
    let path = dir.join(format!("{target}.safetensors"));
    checkpoint::save(&path, &ckpt).unwrap();
    path
}

/// A folder with `train.csv`/`test.csv` blobs and the classifier trained on them.
fn classifier() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let train = write(dir.path(), "blobs.csv", &blobs_csv(200, 1));
    write(dir.path(), "test.csv", &blobs_csv(100, 2));
    let ckpt = train_table_model(dir.path(), &train, "label", Task::Classify);
    (dir, ckpt)
}

/// A folder with `prices.csv`/`test.csv` and the regression trained on them.
fn regression() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let train = write(dir.path(), "prices.csv", &prices_csv(300, 3));
    write(dir.path(), "test.csv", &prices_csv(100, 4));
    let ckpt = train_table_model(dir.path(), &train, "price", Task::Regress);
    (dir, ckpt)
}

fn stdout_of(cmd: &mut Command) -> String {
    String::from_utf8(cmd.assert().success().get_output().stdout.clone()).unwrap()
}

/// Runs `cmd`, expecting exit code 1, nothing on stdout and one error line with every needle.
fn fails_with(cmd: &mut Command, needles: &[&str]) -> String {
    let out = cmd.assert().failure().code(1).get_output().clone();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with("error: "), "stderr: {err}");
    for needle in needles {
        assert!(err.contains(needle), "no `{needle}` in stderr: {err}");
    }
    assert_eq!(err.trim_end().lines().count(), 1, "one line expected: {err}");
    assert!(out.stdout.is_empty());
    err
}

/// The CSV text as rows of fields (no quoting in these files).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    text.lines().map(|l| l.split(',').map(str::to_string).collect()).collect()
}

#[test]
fn predict_writes_a_class_and_probabilities_for_every_row() {
    let (dir, ckpt) = classifier();
    let out = dir.path().join("predictions.csv");
    let text =
        stdout_of(nabla(dir.path()).arg("predict").arg(&ckpt).arg(dir.path().join("test.csv")).arg("-o").arg(&out));
    assert!(text.contains("test.csv: 100 rows") && text.contains("predictions.csv"), "{text}");
    let written = std::fs::read_to_string(&out).unwrap();
    let rows = parse_csv(&written);
    assert_eq!(rows[0], ["prediction", "p_a", "p_b"]);
    assert_eq!(rows.len(), 101);
    let truth: Vec<String> = parse_csv(&blobs_csv(100, 2))[1..].iter().map(|r| r[3].clone()).collect();
    let mut right = 0;
    for (row, label) in rows[1..].iter().zip(&truth) {
        let (pa, pb): (f64, f64) = (row[1].parse().unwrap(), row[2].parse().unwrap());
        assert!((pa + pb - 1.0).abs() < 1e-5, "{row:?}");
        assert_eq!(row[0], if pb > pa { "b" } else { "a" }, "{row:?}");
        right += usize::from(&row[0] == label);
    }
    assert!(right >= 95, "{right} of 100 right");
    // Without -o the same CSV goes to stdout; a file without the target column works too.
    let stdout = stdout_of(nabla(dir.path()).arg("predict").arg(&ckpt).arg(dir.path().join("test.csv")));
    assert_eq!(stdout, written);
    let no_target: String =
        blobs_csv(100, 2).lines().map(|l| l.rsplit_once(',').unwrap().0.to_string() + "\n").collect();
    let unlabelled = write(dir.path(), "unlabelled.csv", &no_target);
    assert_eq!(stdout_of(nabla(dir.path()).arg("predict").arg(&ckpt).arg(&unlabelled)), written);
    // --json gives a summary of what went to -o.
    let json_out = dir.path().join("p.csv");
    let doc: serde_json::Value = serde_json::from_str(&stdout_of(
        nabla(dir.path()).arg("predict").arg(&ckpt).arg(&unlabelled).arg("--json").arg("-o").arg(&json_out),
    ))
    .unwrap();
    assert_eq!((&doc["rows"], &doc["target"]), (&100.into(), &"label".into()), "{doc}");
    assert_eq!(doc["predicted"]["a"].as_u64().unwrap() + doc["predicted"]["b"].as_u64().unwrap(), 100, "{doc}");
    assert!(json_out.exists());
}

#[test]
fn eval_scores_a_classifier_on_a_table() {
    let (dir, ckpt) = classifier();
    let test = dir.path().join("test.csv");
    let doc: serde_json::Value =
        serde_json::from_str(&stdout_of(nabla(dir.path()).arg("eval").arg(&ckpt).arg(&test).arg("--json"))).unwrap();
    assert_eq!(doc["rows"], 100, "{doc}");
    let acc = doc["acc"].as_f64().unwrap();
    assert!(acc >= 0.95, "{doc}");
    let loss = doc["loss"].as_f64().unwrap();
    assert!(loss > 0.0 && loss < 0.3, "{doc}");
    assert!(doc["auc"].as_f64().unwrap() > 0.98, "{doc}");
    let per_class = doc["per_class"].as_array().unwrap();
    assert_eq!(per_class.len(), 2);
    assert_eq!((&per_class[0]["class"], &per_class[0]["support"]), (&"a".into(), &50.into()));
    let confusion: Vec<Vec<u64>> = serde_json::from_value(doc["confusion"].clone()).unwrap();
    assert_eq!(confusion.iter().flatten().sum::<u64>(), 100);

    // A quantised table model is scored the same way.
    let int8 = dir.path().join("int8.safetensors");
    nabla(dir.path())
        .arg("quantize")
        .arg(&ckpt)
        .args(["--to", "int8", "--no-eval", "-o"])
        .arg(&int8)
        .assert()
        .success();
    let doc: serde_json::Value =
        serde_json::from_str(&stdout_of(nabla(dir.path()).arg("eval").arg(&int8).arg(&test).arg("--json"))).unwrap();
    assert_eq!(doc["precision"], "int8", "{doc}");
    assert!(doc["acc"].as_f64().unwrap() >= 0.95, "{doc}");

    let text = stdout_of(nabla(dir.path()).arg("eval").arg(&ckpt).arg(&test));
    for needle in [
        "trained on blobs.csv: epoch 0, step 600",
        "test.csv: 100 rows, target `label`",
        "accuracy    ",
        "ROC AUC     ",
        "(positive class `b`)",
        "confusion matrix",
    ] {
        assert!(text.contains(needle), "no `{needle}` in {text}");
    }
}

#[test]
fn a_regression_predicts_and_is_scored_in_the_targets_units() {
    let (dir, ckpt) = regression();
    let test = dir.path().join("test.csv");
    let written = stdout_of(nabla(dir.path()).arg("predict").arg(&ckpt).arg(&test));
    let rows = parse_csv(&written);
    assert_eq!(rows[0], ["prediction"]);
    assert_eq!(rows.len(), 101);
    let truth: Vec<f64> = parse_csv(&prices_csv(100, 4))[1..].iter().map(|r| r[3].parse().unwrap()).collect();
    let predicted: Vec<f64> = rows[1..].iter().map(|r| r[0].parse().unwrap()).collect();
    // Prices are around 100: predictions in standardised units would be near 0.
    let worst = truth.iter().zip(&predicted).map(|(t, p)| (t - p).abs()).fold(0.0, f64::max);
    assert!(worst < 3.0, "worst error {worst}: {predicted:?}");

    let doc: serde_json::Value =
        serde_json::from_str(&stdout_of(nabla(dir.path()).arg("eval").arg(&ckpt).arg(&test).arg("--json"))).unwrap();
    assert_eq!(doc["rows"], 100, "{doc}");
    assert!(doc["r2"].as_f64().unwrap() > 0.95, "{doc}");
    let (rmse, mae) = (doc["rmse"].as_f64().unwrap(), doc["mae"].as_f64().unwrap());
    assert!(rmse > 0.0 && rmse < 1.5 && mae <= rmse, "{doc}");
    assert!(doc["loss"].as_f64().unwrap() < 0.05, "{doc}");
    assert!(doc.get("acc").is_none(), "{doc}");
    let text = stdout_of(nabla(dir.path()).arg("eval").arg(&ckpt).arg(&test));
    assert!(text.contains("RMSE") && text.contains("R²") && text.contains("target `price`"), "{text}");
}

#[test]
fn columns_that_do_not_match_are_named_and_nothing_is_written() {
    let (dir, ckpt) = classifier();
    let renamed = blobs_csv(20, 9).replacen("colour", "color", 1);
    let bad = write(dir.path(), "bad.csv", &renamed);
    let out = dir.path().join("never.csv");
    fails_with(
        nabla(dir.path()).arg("predict").arg(&ckpt).arg(&bad).arg("-o").arg(&out),
        &["bad.csv", "missing column(s) colour", "not trained on: color"],
    );
    assert!(!out.exists());
    // Only what the test wrote is in the folder: no temporary file was left behind.
    let mut names: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
    names.sort();
    assert_eq!(names, ["bad.csv", "blobs.csv", "label.safetensors", "test.csv"]);
    fails_with(nabla(dir.path()).arg("eval").arg(&ckpt).arg(&bad), &["missing column(s) colour"]);
    // eval needs the target; predict does not.
    let no_target: String =
        blobs_csv(10, 9).lines().map(|l| l.rsplit_once(',').unwrap().0.to_string() + "\n").collect();
    let unlabelled = write(dir.path(), "unlabelled.csv", &no_target);
    fails_with(
        nabla(dir.path()).arg("eval").arg(&ckpt).arg(&unlabelled),
        &["no target column `label`", "nabla predict"],
    );
    // A semicolon-separated file reads with --delimiter.
    let semi = write(dir.path(), "semi.csv", &blobs_csv(10, 9).replace(',', ";"));
    let text = stdout_of(nabla(dir.path()).arg("predict").arg(&ckpt).arg(&semi).args(["--delimiter", ";"]));
    assert_eq!(text.lines().count(), 11, "{text}");
}

#[test]
fn image_commands_refuse_a_table_model_and_say_what_to_do() {
    let (dir, ckpt) = classifier();
    let hint = "was trained on the table blobs.csv";
    fails_with(nabla(dir.path()).arg("predict").arg(&ckpt).arg("mnist:0"), &[hint, ".csv"]);
    fails_with(nabla(dir.path()).arg("eval").arg(&ckpt).arg("mnist"), &[hint]);
    let picture = dir.path().join("w.svg");
    fails_with(
        nabla(dir.path()).args(["plot", "weights"]).arg(&ckpt).arg("-o").arg(&picture),
        &[hint, "use `nabla predict", "rows.csv`"],
    );
    fails_with(nabla(dir.path()).arg("quantize").arg(&ckpt).args(["--to", "int8"]), &["a table model", "--no-eval"]);
    // And an image model refuses a table.
    let spec = MlpSpec::new(vec![4, 3], Activation::Relu, Activation::Identity).unwrap();
    let mlp = Mlp::new(spec, Init::HeNormal, &mut Rng::new(1));
    let image = dir.path().join("image.safetensors");
    let classes = vec!["x".into(), "y".into(), "z".into()];
    checkpoint::save(&image, &Checkpoint::new(mlp, "toy", classes, InputSpec::unit(2, 2, 255))).unwrap();
    let test = dir.path().join("test.csv");
    fails_with(nabla(dir.path()).arg("predict").arg(&image).arg(&test), &["trained on toy images"]);
    fails_with(nabla(dir.path()).arg("eval").arg(&image).arg(&test), &["trained on toy images"]);
}

/// `nabla train TABLE --scale minmax` keeps the choice in the model, and `nabla predict`
/// scales new rows the same way: its probabilities are the network's on rows scaled onto the
/// training rows' [0, 1]. An unknown choice is a usage error naming the three.
#[test]
fn a_scale_chosen_at_training_is_the_one_predict_uses() {
    let dir = tempfile::tempdir().unwrap();
    let train = write(dir.path(), "blobs.csv", &blobs_csv(200, 1));
    let test = write(dir.path(), "test.csv", &blobs_csv(100, 2));
    let train_cmd = |scale: &str, out: &str| {
        let mut cmd = nabla(dir.path());
        cmd.arg("train").arg(&train).args(["--target", "label", "--no-track", "--epochs", "20", "--scale", scale]);
        cmd.arg("--out").arg(dir.path().join(out));
        cmd
    };
    train_cmd("minmax", "minmax").assert().success();
    let ckpt_path = dir.path().join("minmax").join("model.safetensors");
    let ckpt = checkpoint::load(&ckpt_path).unwrap();
    let nabla_train::checkpoint::ModelInput::Table(pre) = &ckpt.input else { panic!("a table model") };
    assert_eq!(pre.scale, nabla_data::table::Scale::MinMax);

    let encoded = pre.transform(&Table::read(&test, &ReadOptions::default()).unwrap()).unwrap();
    let training = pre.transform(&Table::read(&train, &ReadOptions::default()).unwrap()).unwrap();
    // The scaling was fitted on the training split, so the whole file reaches a little past
    // [0, 1]; standardised, the same columns would span about ±3.
    let names = pre.input_names();
    for column in ["x1", "x2"] {
        let j = names.iter().position(|n| n == column).unwrap();
        let seen: Vec<f32> = training.x.chunks(training.features).map(|r| r[j]).collect();
        let (lo, hi) = seen.iter().fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        assert!(lo > -0.2 && lo < 0.05 && hi > 0.95 && hi < 1.2, "{column}: [{lo}, {hi}]");
    }
    let logits = ckpt.network.predict(MatRef::new(&encoded.x, encoded.rows, encoded.features).unwrap()).unwrap();
    let rows = parse_csv(&stdout_of(nabla(dir.path()).arg("predict").arg(&ckpt_path).arg(&test)));
    assert_eq!(rows.len(), 101);
    for (i, row) in rows[1..].iter().enumerate() {
        let (za, zb) = (logits.get(i, 0), logits.get(i, 1));
        let pb = 1.0 / (1.0 + (za - zb).exp());
        let written: f32 = row[2].parse().unwrap();
        assert!((written - pb).abs() < 1e-4, "row {i}: predict wrote {written}, the network gives {pb}");
    }

    let out = train_cmd("robust", "robust").output().unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "{err}");
    for needle in ["--scale", "robust", "standard", "minmax", "none"] {
        assert!(err.contains(needle), "no `{needle}` in {err}");
    }
    assert!(!dir.path().join("robust").exists());
}
