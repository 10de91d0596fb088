//! `nabla landscape` as a user runs it, on a small digits net trained here.

mod support;

use std::path::{Path, PathBuf};

use nabla_testkit::shared_data;
use predicates::prelude::*;
use support::nabla;

/// `nabla train digits` for a few epochs into `home/NAME`; returns the last checkpoint.
fn train(home: &Path, name: &str, seed: &str) -> PathBuf {
    let out = home.join(name);
    nabla(home)
        .env("NABLA_DATA", shared_data())
        .args(["train", "digits", "--hidden", "16", "--epochs", "3", "--lr", "0.01", "--no-track", "--seed", seed])
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    out.join("last.safetensors")
}

fn landscape(home: &Path) -> assert_cmd::Command {
    let mut cmd = nabla(home);
    cmd.env("NABLA_DATA", shared_data()).arg("landscape");
    cmd
}

fn json_file(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The grid's centre is the checkpoint: its loss there is the loss `nabla eval` reports on
/// the same examples (the whole train split here, so both see the same set).
#[test]
fn grid_centre_is_the_checkpoints_loss_and_files_are_written() {
    let home = tempfile::tempdir().unwrap();
    let ckpt = train(home.path(), "a", "1");
    let out = home.path().join("land");
    landscape(home.path())
        .arg(&ckpt)
        .args(["digits", "--steps", "7", "--samples", "100000", "--threads", "3", "--out"])
        .arg(&out)
        .assert()
        .success()
        .stdout(predicate::str::contains("grid        7 × 7 over [-1, 1]², 49 points on 3 threads"))
        .stdout(predicate::str::contains("cosine similarity"));
    let grid = json_file(&out.join("grid.json"));
    let eval = nabla(home.path())
        .env("NABLA_DATA", shared_data())
        .arg("eval")
        .arg(&ckpt)
        .args(["digits", "--split", "train", "--json"])
        .output()
        .unwrap();
    let eval: serde_json::Value = serde_json::from_slice(&eval.stdout).unwrap();
    let (centre, loss) = (grid["centre_loss"].as_f64().unwrap(), eval["loss"].as_f64().unwrap());
    // Same weights, same examples; only the order of the float sums differs.
    assert!((centre - loss).abs() < 1e-5 * loss.max(1.0), "centre {centre} vs eval {loss}");
    assert_eq!(grid["loss"][3][3].as_f64().unwrap(), centre);
    assert_eq!(grid["samples"], eval["examples"]);
    // Moving away from a trained minimum raises the loss at the corners.
    assert!(grid["loss"][0][0].as_f64().unwrap() > centre);
    let cos = grid["cosine_similarity"].as_f64().unwrap();
    assert!(cos.abs() < 0.2, "random directions should be nearly orthogonal, cosine {cos}");

    let csv = std::fs::read_to_string(out.join("grid.csv")).unwrap();
    assert_eq!(csv.lines().next(), Some("alpha,beta,loss,accuracy"));
    assert_eq!(csv.lines().count(), 1 + 49);
    assert!(std::fs::read_to_string(out.join("contour.svg")).unwrap().contains("<svg"));
    assert!(std::fs::read_to_string(out.join("slices.svg")).unwrap().contains("along δ"));

    // The same seed gives the same landscape; threads do not change it.
    let again = home.path().join("again");
    landscape(home.path())
        .arg(&ckpt)
        .args(["digits", "--steps", "7", "--samples", "100000", "--threads", "1", "--json", "--format", "png", "--out"])
        .arg(&again)
        .assert()
        .success();
    assert_eq!(json_file(&again.join("grid.json"))["loss"], grid["loss"]);
    assert!(std::fs::read(again.join("contour.png")).unwrap().starts_with(b"\x89PNG"));
}

/// `nabla train digits --depth 4 --width 12 [--residual]` for 2 epochs into `home/NAME`.
fn train_deep(home: &Path, name: &str, residual: bool) -> PathBuf {
    let out = home.join(name);
    let mut cmd = nabla(home);
    cmd.env("NABLA_DATA", shared_data()).args([
        "train",
        "digits",
        "--depth",
        "4",
        "--width",
        "12",
        "--epochs",
        "2",
        "--no-track",
        "--dropout",
        "0",
        "--out",
    ]);
    cmd.arg(&out);
    if residual {
        cmd.arg("--residual");
    }
    cmd.assert().success();
    out.join("last.safetensors")
}

/// The lecture's pair: a plain and a residual net on the same grid and examples, one picture
/// with both panels, the 3-D surfaces beside it, and each net's landscape the one a single
/// run draws.
#[test]
fn compare_draws_a_plain_and_a_residual_net_side_by_side() {
    let home = tempfile::tempdir().unwrap();
    let (plain, residual) = (train_deep(home.path(), "p", false), train_deep(home.path(), "r", true));
    let out = home.path().join("cmp");
    let pair = home.path().join("pair.png");
    landscape(home.path())
        .arg(&plain)
        .arg(&residual)
        .args(["digits", "--compare", "--surface", "--steps", "5", "--samples", "200", "--out"])
        .arg(&out)
        .arg("-o")
        .arg(&pair)
        .assert()
        .success()
        .stdout(predicate::str::contains("(a) without skip connections"))
        .stdout(predicate::str::contains("(b) with skip connections"))
        .stdout(predicate::str::contains("non-convex along α or β at"));
    assert!(std::fs::read(&pair).unwrap().starts_with(b"\x89PNG"));
    assert!(std::fs::read(home.path().join("pair-surface.png")).unwrap().starts_with(b"\x89PNG"));
    let doc = json_file(&out.join("compare.json"));
    let nets = doc["nets"].as_array().unwrap();
    assert_eq!((nets[0]["residual"].clone(), nets[1]["residual"].clone()), (false.into(), true.into()));
    assert_eq!(doc["samples"], 200);
    for net in nets {
        let f = net["nonconvex_fraction"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&f), "{net}");
        assert_eq!(net["loss"].as_array().unwrap().len(), 5);
    }
    // Net A's side is exactly the single-net landscape with the same seed and samples.
    let single = home.path().join("single");
    landscape(home.path())
        .arg(&plain)
        .args(["digits", "--steps", "5", "--samples", "200", "--json", "--surface", "--out"])
        .arg(&single)
        .assert()
        .success()
        .stdout(predicate::str::contains("\"nonconvex_fraction\""));
    assert_eq!(json_file(&single.join("grid.json"))["loss"], nets[0]["loss"]);
    assert!(std::fs::read_to_string(single.join("surface.svg")).unwrap().contains("<polygon"));

    // Wrong argument counts are named.
    landscape(home.path())
        .arg(&plain)
        .args(["digits", "--compare"])
        .assert()
        .failure()
        .code(1)
        .stderr(predicate::str::contains("--compare takes two checkpoints and a data set"));
    landscape(home.path())
        .arg(&plain)
        .arg(&residual)
        .arg("digits")
        .assert()
        .failure()
        .code(1)
        .stderr(predicate::str::contains("add --compare"));
}

/// `--save-every 1` keeps each epoch's checkpoint; `--trajectory` projects them on their PCA
/// plane, with the explained variance on the axes and the path ending at the checkpoint.
#[test]
fn trajectory_projects_the_saved_epochs_on_their_pca_plane() {
    let home = tempfile::tempdir().unwrap();
    let run = home.path().join("run");
    nabla(home.path())
        .env("NABLA_DATA", shared_data())
        .args(["train", "digits", "--hidden", "16", "--epochs", "4", "--no-track", "--save-every", "1", "--out"])
        .arg(&run)
        .assert()
        .success();
    for k in 0..=4 {
        assert!(run.join(format!("epoch-{k}.safetensors")).is_file(), "epoch {k} not kept");
    }
    assert!(!run.join("initial.safetensors").exists(), "the initial weights are kept as epoch-0 only");
    // Epoch 0 is the initialised net, before any step.
    let initial = nabla_train::checkpoint::load(&run.join("epoch-0.safetensors")).unwrap();
    let first = nabla_train::checkpoint::load(&run.join("epoch-1.safetensors")).unwrap();
    assert_eq!((initial.epoch, initial.step, first.epoch), (0, 0, 1));
    assert_eq!(initial.spec(), first.spec());
    assert_ne!(initial.network.params(), first.network.params());
    let out = home.path().join("traj");
    landscape(home.path())
        .arg(run.join("last.safetensors"))
        .args(["digits", "--steps", "7", "--samples", "200", "--trajectory"])
        .arg(&run)
        .arg("--out")
        .arg(&out)
        .assert()
        .success()
        .stdout(predicate::str::contains("path        5 points: epochs [0, 1, 2, 3, 4]"));
    let doc = json_file(&out.join("trajectory.json"));
    let ratio: Vec<f64> =
        doc["explained_variance_ratio"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert!(ratio[0] >= ratio[1] && ratio[1] >= 0.0 && ratio[0] + ratio[1] <= 1.0 + 1e-9, "{ratio:?}");
    let path = doc["path"].as_array().unwrap();
    assert_eq!(path.len(), 5);
    assert_eq!(path[4], serde_json::json!([0.0, 0.0]));
    let svg = std::fs::read_to_string(out.join("trajectory.svg")).unwrap();
    assert!(svg.contains("1st PCA component: ") && svg.contains(" %"), "axis labels");

    // Too few saved epochs is a clear error.
    for k in 2..=4 {
        std::fs::remove_file(run.join(format!("epoch-{k}.safetensors"))).unwrap();
    }
    std::fs::remove_file(run.join("epoch-1.safetensors")).unwrap();
    landscape(home.path())
        .arg(run.join("last.safetensors"))
        .args(["digits", "--trajectory"])
        .arg(&run)
        .arg("--out")
        .arg(&out)
        .assert()
        .failure()
        .code(1)
        .stderr(predicate::str::contains("a path needs 3"));
    // A trajectory has no 3-D surface: said, not ignored.
    landscape(home.path())
        .arg(run.join("last.safetensors"))
        .args(["digits", "--surface", "--trajectory"])
        .arg(&run)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--surface").and(predicate::str::contains("--trajectory")));
}

#[test]
fn interpolation_between_two_checkpoints() {
    let home = tempfile::tempdir().unwrap();
    let (a, b) = (train(home.path(), "a", "1"), train(home.path(), "b", "2"));
    let out = home.path().join("interp");
    landscape(home.path())
        .arg("--interpolate")
        .arg(&a)
        .arg(&b)
        .args(["digits", "--steps", "9", "--samples", "300", "--out"])
        .arg(&out)
        .assert()
        .success()
        .stdout(predicate::str::contains("highest loss between A and B"));
    let doc = json_file(&out.join("interpolation.json"));
    let alphas: Vec<f64> = doc["alphas"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert_eq!(alphas, vec![-0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5]);
    assert_eq!(doc["samples"], 300);
    assert!(out.join("interpolation.svg").is_file() && out.join("interpolation.csv").is_file());
}

#[test]
fn bad_input_is_refused_with_a_clear_message() {
    let home = tempfile::tempdir().unwrap();
    let ckpt = train(home.path(), "a", "1");
    let cases: Vec<(Vec<String>, i32, &str)> = vec![
        (vec![ckpt.display().to_string()], 1, "give a checkpoint and a data set"),
        (vec![ckpt.display().to_string(), "digits".into(), "--steps".into(), "50".into()], 2, "odd whole number"),
        (vec![ckpt.display().to_string(), "digits".into(), "--range".into(), "1,-1".into()], 2, "LO < HI"),
        (vec![ckpt.display().to_string(), "mnist".into()], 1, "the model takes 8×8 images"),
        (vec!["missing.safetensors".into(), "digits".into()], 1, "missing.safetensors"),
        (
            vec![
                "--interpolate".into(),
                ckpt.display().to_string(),
                ckpt.display().to_string(),
                "x".into(),
                "digits".into(),
            ],
            1,
            "give only the data set",
        ),
    ];
    for (args, code, message) in cases {
        landscape(home.path())
            .args(&args)
            .arg("--out")
            .arg(home.path().join("o"))
            .assert()
            .failure()
            .code(code)
            .stderr(predicate::str::contains(message));
    }
}
