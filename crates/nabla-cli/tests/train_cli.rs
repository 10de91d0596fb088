//! `nabla train` as a user runs it, on the small digits set: output formats, checkpoints,
//! resume, the automatic download, and every bad input with its message and exit code.

mod support;

use std::path::Path;

use nabla_testkit::{shared_data, FileServer, FileServerOptions};
use predicates::prelude::*;
use serde_json::Value;
use support::nabla;

/// `nabla train digits` with the shared data and a small, fast network.
fn train_digits(home: &Path, out: &Path, extra: &[&str]) -> assert_cmd::Command {
    let mut cmd = nabla(home);
    cmd.env("NABLA_DATA", shared_data())
        .args(["train", "digits", "--hidden", "32", "--epochs", "3", "--lr", "0.01", "--out"])
        .arg(out)
        .args(extra);
    cmd
}

#[test]
fn json_lines_one_per_epoch_then_the_final_line() {
    let home = tempfile::tempdir().unwrap();
    let out = home.path().join("out");
    let output = train_digits(home.path(), &out, &["--json"]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let lines: Vec<Value> =
        String::from_utf8(output.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 4);
    for (i, line) in lines[..3].iter().enumerate() {
        let keys: Vec<&str> = line.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["epoch", "lr", "samples_per_sec", "seconds", "train_acc", "train_loss", "val_acc", "val_loss"]
        );
        assert_eq!(line["epoch"], i + 1);
    }
    let last = &lines[3];
    assert_eq!(last["final"], true);
    assert!(last["test_acc"].as_f64().unwrap() > 0.85, "{last}");
    assert!(last["test_loss"].as_f64().unwrap() > 0.0);
    let ckpt = last["checkpoint"].as_str().unwrap();
    assert!(Path::new(ckpt).is_file() && out.join("best.safetensors").is_file());
    assert!(std::fs::read_dir(&out).unwrap().all(|e| e
        .unwrap()
        .path()
        .extension()
        .is_some_and(|x| x == "safetensors")));

    // The checkpoint evaluates to the same test accuracy.
    let eval =
        nabla(home.path()).env("NABLA_DATA", shared_data()).args(["eval", ckpt, "digits", "--json"]).output().unwrap();
    assert!(eval.status.success(), "{}", String::from_utf8_lossy(&eval.stderr));
    let eval: Value = serde_json::from_slice(&eval.stdout).unwrap();
    assert!((eval["accuracy"].as_f64().unwrap() - last["test_acc"].as_f64().unwrap()).abs() < 1e-9);
}

#[test]
fn plain_lines_when_not_a_terminal() {
    let home = tempfile::tempdir().unwrap();
    train_digits(home.path(), &home.path().join("out"), &[])
        .assert()
        .success()
        .stdout(predicate::str::contains("training 64-32-10"))
        .stdout(predicate::str::contains("epoch   3  train loss"))
        .stdout(predicate::str::contains("test accuracy"))
        .stdout(predicate::str::contains("nabla eval"));
}

#[test]
fn same_seed_same_numbers_and_a_config_file() {
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("recipe.toml");
    std::fs::write(&config, "hidden = [32]\nepochs = 2\nlr = 0.01\noptimizer = \"nesterov\"\n").unwrap();
    let run = |dir: &str| {
        let out = nabla(home.path())
            .env("NABLA_DATA", shared_data())
            .args(["train", "digits", "--json", "--config"])
            .arg(&config)
            .arg("--out")
            .arg(home.path().join(dir))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout).unwrap();
        text.lines()
            .map(|l| {
                let mut v: Value = serde_json::from_str(l).unwrap();
                for k in ["seconds", "samples_per_sec", "checkpoint", "best_checkpoint"] {
                    v.as_object_mut().unwrap().remove(k);
                }
                v
            })
            .collect::<Vec<_>>()
    };
    let (a, b) = (run("a"), run("b"));
    assert_eq!(a.len(), 3, "two epochs from the file, then the final line");
    assert_eq!(a, b);
    // A flag beats the file.
    let out = nabla(home.path())
        .env("NABLA_DATA", shared_data())
        .args(["train", "digits", "--json", "--epochs", "1", "--config"])
        .arg(&config)
        .arg("--out")
        .arg(home.path().join("c"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 2);
}

#[test]
fn resume_continues_from_the_checkpoint() {
    let home = tempfile::tempdir().unwrap();
    let out = home.path().join("out");
    train_digits(home.path(), &out, &["--epochs", "2"]).assert().success();
    let output = nabla(home.path())
        .env("NABLA_DATA", shared_data())
        .args(["train", "digits", "--epochs", "3", "--json", "--resume"])
        .arg(out.join("last.safetensors"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8(output.stdout).unwrap();
    let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["epoch"], 3, "resumed at epoch 3: {text}");
    assert_eq!(text.lines().count(), 2);
}

#[test]
fn downloads_the_data_set_when_missing_and_offline_names_the_fix() {
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    std::fs::create_dir(&data).unwrap();
    nabla(home.path())
        .args(["train", "digits", "--offline", "--data"])
        .arg(&data)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("digits").and(predicate::str::contains("nabla data fetch digits")));

    let server = FileServer::start(FileServerOptions::serving(shared_data()));
    nabla(home.path())
        .args(["train", "digits", "--hidden", "16", "--epochs", "1", "--mirror", &server.url("digits"), "--data"])
        .arg(&data)
        .arg("--out")
        .arg(home.path().join("out"))
        .assert()
        .success()
        .stdout(predicate::str::contains("test accuracy"));
    assert!(data.join("digits").join("digits.csv.gz").is_file());
}

#[test]
fn bad_inputs_give_one_line_and_a_non_zero_exit() {
    let home = tempfile::tempdir().unwrap();
    let out = home.path().join("out");
    let bad_toml = home.path().join("bad.toml");
    std::fs::write(&bad_toml, "learning-rate = 0.1\n").unwrap();
    let cases: Vec<(Vec<String>, i32, &str)> = vec![
        (vec!["train".into(), "cifar10".into()], 1, "cifar10"),
        (vec!["train".into(), "digits".into(), "--lr".into(), "0".into()], 2, "--lr"),
        (vec!["train".into(), "digits".into(), "--hidden".into(), "32,x".into()], 2, "--hidden"),
        (vec!["train".into(), "digits".into(), "--dropout".into(), "1.5".into()], 2, "--dropout"),
        (vec!["train".into(), "digits".into(), "--optimizer".into(), "rmsprop".into()], 2, "rmsprop"),
        (vec!["train".into(), "digits".into(), "--schedule".into(), "linear".into()], 2, "linear"),
        (vec!["train".into(), "digits".into(), "--config".into(), bad_toml.display().to_string()], 1, "learning-rate"),
        (vec!["train".into(), "digits".into(), "--config".into(), "/nonexistent.toml".into()], 1, "/nonexistent.toml"),
        (
            vec!["train".into(), "digits".into(), "--resume".into(), "/nonexistent.safetensors".into()],
            1,
            "/nonexistent",
        ),
    ];
    for (args, code, needle) in cases {
        let output =
            nabla(home.path()).env("NABLA_DATA", shared_data()).args(&args).arg("--out").arg(&out).output().unwrap();
        assert_eq!(output.status.code(), Some(code), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
        let err = String::from_utf8(output.stderr).unwrap();
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("error:") && err.contains(needle), "{args:?}: {err}");
    }
}

#[test]
fn resume_of_another_architecture_or_data_set_is_refused() {
    let home = tempfile::tempdir().unwrap();
    let out = home.path().join("out");
    train_digits(home.path(), &out, &["--epochs", "1"]).assert().success();
    let ckpt = out.join("last.safetensors");
    nabla(home.path())
        .env("NABLA_DATA", shared_data())
        .args(["train", "digits", "--hidden", "48", "--resume"])
        .arg(&ckpt)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("64-32-10").and(predicate::str::contains("64-48-10")));
    nabla(home.path())
        .env("NABLA_DATA", shared_data())
        .args(["train", "mnist", "--resume"])
        .arg(&ckpt)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("trained on digits"));
}

#[test]
fn a_truncated_or_wrong_data_file_is_named() {
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    std::fs::create_dir_all(data.join("mnist")).unwrap();
    for f in ["train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"] {
        std::fs::copy(shared_data().join("mnist").join(f), data.join("mnist").join(f)).unwrap();
    }
    let full = std::fs::read(shared_data().join("mnist/train-images-idx3-ubyte.gz")).unwrap();
    std::fs::write(data.join("mnist/train-images-idx3-ubyte.gz"), &full[..full.len() / 2]).unwrap();
    nabla(home.path())
        .args(["train", "mnist", "--offline", "--data"])
        .arg(&data)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("train-images-idx3-ubyte"));

    // A labels file where the images should be: the wrong magic number is named.
    std::fs::copy(shared_data().join("mnist/t10k-labels-idx1-ubyte.gz"), data.join("mnist/train-images-idx3-ubyte.gz"))
        .unwrap();
    nabla(home.path())
        .args(["train", "mnist", "--offline", "--data"])
        .arg(&data)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("train-images-idx3-ubyte").and(predicate::str::contains("magic")));
}

#[test]
fn divergence_exits_non_zero_and_suggests_a_lower_learning_rate() {
    let home = tempfile::tempdir().unwrap();
    train_digits(home.path(), &home.path().join("out"), &["--lr", "1e30", "--optimizer", "sgd", "--dropout", "0"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("epoch 1, step").and(predicate::str::contains("lower learning rate")));
}
