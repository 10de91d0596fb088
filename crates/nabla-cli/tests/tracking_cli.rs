//! `nabla train` and `nabla xor` record their runs in the tracker by default.

mod support;

use std::path::Path;

use nabla_testkit::shared_data;
use predicates::prelude::*;
use serde_json::Value;
use support::nabla;

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

/// Ctrl-C (SIGINT) stops training between steps: the run is `interrupted`, its last
/// checkpoint is kept and logged, and the command says how to resume.
#[test]
fn ctrl_c_marks_the_run_interrupted_and_keeps_its_checkpoint() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let home = tempfile::tempdir().unwrap();
    let out = home.path().join("out");
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("nabla"))
        .env_remove("NABLA_HOME")
        .env("HOME", home.path())
        .env("XDG_DATA_HOME", home.path().join("share"))
        .env("NABLA_DATA", shared_data())
        .args(["train", "digits", "--hidden", "16", "--epochs", "100000", "--json", "--out"])
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // Wait for two finished epochs (so a checkpoint exists), then press Ctrl-C.
    for _ in 0..2 {
        let line = lines.next().expect("an epoch line").unwrap();
        assert!(line.contains("\"epoch\""), "{line}");
    }
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    let exit = child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(exit.code(), Some(1), "{stderr}");
    assert!(stderr.contains("interrupted after epoch") && stderr.contains("--resume"), "{stderr}");
    let last: Value = serde_json::from_str(rest.last().expect("a final line")).unwrap();
    assert_eq!(last["interrupted"], true);
    assert!(out.join("last.safetensors").is_file());

    let runs = runs_json(home.path());
    let text = serde_json::to_string(&runs).unwrap();
    assert!(text.contains("interrupted"), "{text}");
    let id = runs[0]["id"].as_str().unwrap().to_string();
    let show = nabla(home.path()).args(["runs", "show", &id, "--json"]).output().unwrap();
    let show = String::from_utf8(show.stdout).unwrap();
    assert!(show.contains("checkpoint") && show.contains("last.safetensors"), "{show}");
}
