//! `nabla xor` as a user runs it.

mod support;

use predicates::prelude::*;
use serde_json::Value;

/// `nabla` with a home of its own (the tracker writes there), kept for the test's duration.
fn nabla() -> assert_cmd::Command {
    let home = std::env::temp_dir().join(format!("nabla-xor-cli-{}", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();
    support::nabla(&home)
}

fn json_of(args: &[&str]) -> Value {
    let out = nabla().args(args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 1, "exactly one JSON object: {text}");
    serde_json::from_str(&text).unwrap()
}

#[test]
fn default_run_solves_xor_and_prints_the_truth_table() {
    nabla()
        .arg("xor")
        .assert()
        .success()
        .stdout(predicate::str::contains("solved XOR"))
        .stdout(predicate::str::contains("x1  x2 | target | output"))
        .stdout(predicate::str::contains("✗").not());
}

#[test]
fn json_for_one_seed() {
    let v = json_of(&["xor", "--epochs", "2000", "--seed", "1", "--json"]);
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["epochs", "final_loss", "lr", "predictions", "seed", "solved"]);
    assert_eq!(v["seed"], 1);
    assert_eq!(v["epochs"], 2000);
    assert_eq!(v["lr"], 0.5);
    let preds: Vec<f64> = v["predictions"].as_array().unwrap().iter().map(|p| p.as_f64().unwrap()).collect();
    assert_eq!(preds.len(), 4);
    let right = preds.iter().zip([0.0, 1.0, 1.0, 0.0]).all(|(p, t)| (*p > 0.5) == (t > 0.5));
    assert_eq!(v["solved"], right);
    // Same seed, same numbers.
    assert_eq!(v, json_of(&["xor", "--epochs", "2000", "--seed", "1", "--json"]));
}

#[test]
fn json_for_many_seeds() {
    let v = json_of(&["xor", "--seeds", "40", "--epochs", "1000", "--hidden", "4", "--json"]);
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["epochs", "lr", "mean_final_loss", "seeds", "success_rate"]);
    assert_eq!(v["seeds"], 40);
    let rate = v["success_rate"].as_f64().unwrap();
    assert!(rate > 0.5 && rate <= 1.0, "{rate}");
    let one_thread =
        json_of(&["xor", "--seeds", "40", "--epochs", "1000", "--hidden", "4", "--json", "--threads", "1"]);
    assert_eq!(v, one_thread, "results do not depend on the thread count");
}

#[test]
fn bad_flags_give_one_line_and_a_non_zero_exit() {
    for (args, needle) in [
        (vec!["xor", "--epochs", "-5"], "--epochs"),
        (vec!["xor", "--lr", "0"], "--lr"),
        (vec!["xor", "--lr", "-0.1"], "--lr"),
        (vec!["xor", "--lr", "NaN"], "--lr"),
        (vec!["xor", "--hidden-activation", "swish"], "swish"),
        (vec!["xor", "--output-activation", "softplus"], "softplus"),
        (vec!["xor", "--init", "zeros"], "zeros"),
        (vec!["xor", "--seeds", "0"], "--seeds"),
        (vec!["xor", "--hidden", "0"], "--hidden"),
        (vec!["xor", "--frobnicate"], "--frobnicate"),
    ] {
        let out = nabla().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("error:") && err.contains(needle), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn help_and_version_succeed() {
    nabla().arg("--help").assert().success().stdout(predicate::str::contains("xor"));
    nabla().arg("--version").assert().success();
    nabla().args(["xor", "--help"]).assert().success().stdout(predicate::str::contains("--seeds"));
}
