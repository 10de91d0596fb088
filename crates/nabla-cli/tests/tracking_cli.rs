//! `nabla train` and `nabla xor` record their runs in the tracker by default.

mod support;

use std::path::Path;

use predicates::prelude::*;
use serde_json::Value;
use support::{nabla, shared_data};

fn runs_json(home: &Path) -> Vec<Value> {
    let out = nabla(home).args(["runs", "list", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v.as_array().cloned().unwrap_or_else(|| v["runs"].as_array().cloned().unwrap_or_default())
}

#[test]
fn a_training_run_is_recorded_with_its_metrics_summary_and_checkpoint() {
    let home = tempfile::tempdir().unwrap();
    let out = home.path().join("out");
    let output = nabla(home.path())
        .env("NABLA_DATA", shared_data())
        .args(["train", "digits", "--hidden", "32", "--epochs", "3", "--lr", "0.01", "--name", "small", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("tracking run ") && stderr.contains("nabla runs show "), "{stderr}");
    let id = stderr.split("tracking run ").nth(1).unwrap().split_whitespace().next().unwrap().to_string();

    let runs = runs_json(home.path());
    assert_eq!(runs.len(), 1, "{runs:?}");
    let show = nabla(home.path()).args(["runs", "show", &id, "--json"]).output().unwrap();
    assert!(show.status.success(), "{}", String::from_utf8_lossy(&show.stderr));
    let text = String::from_utf8(show.stdout).unwrap();
    let run: Value = serde_json::from_str(&text).unwrap();
    assert!(text.contains("\"finished\""), "{text}");
    assert!(text.contains("\"digits\"") && text.contains("small"), "{text}");
    assert!(text.contains("test_acc") && text.contains("checkpoint"), "{text}");
    assert!(text.contains("val/acc") && text.contains("train/loss") && text.contains("train/batch_loss"), "{text}");
    assert!(run.is_object());

    let metrics =
        nabla(home.path()).args(["runs", "metrics", &id, "--metric", "val/acc", "--format", "csv"]).output().unwrap();
    let csv = String::from_utf8(metrics.stdout).unwrap();
    assert_eq!(csv.lines().filter(|l| !l.trim().is_empty()).count(), 4, "a header and three epochs: {csv}");
}

#[test]
fn no_track_records_nothing() {
    let home = tempfile::tempdir().unwrap();
    nabla(home.path())
        .env("NABLA_DATA", shared_data())
        .args(["train", "digits", "--hidden", "16", "--epochs", "1", "--no-track", "--out"])
        .arg(home.path().join("out"))
        .assert()
        .success()
        .stderr(predicate::str::contains("tracking run").not());
    nabla(home.path()).args(["xor", "--epochs", "10", "--no-track"]).assert().success();
    assert!(runs_json(home.path()).is_empty());
}

#[test]
fn xor_with_many_seeds_is_one_run_with_its_success_rate() {
    let home = tempfile::tempdir().unwrap();
    nabla(home.path()).args(["xor", "--seeds", "20", "--epochs", "500", "--json"]).assert().success();
    nabla(home.path()).args(["xor", "--epochs", "300", "--project", "lessons"]).assert().success();
    let runs = runs_json(home.path());
    assert_eq!(runs.len(), 2, "{runs:?}");
    let text = serde_json::to_string(&runs).unwrap();
    assert!(text.contains("success_rate") && text.contains("lessons"), "{text}");
}
