//! `nabla quantize` as a user runs it, on a small digits net: the int8 and bf16 files, their
//! accuracy, `nabla eval` / `predict` on them, and the bad-input paths.

mod support;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use nabla_testkit::shared_data;
use serde_json::Value;
use support::nabla;

/// A 64-32-10 net trained on digits for 10 epochs at lr 0.01, once per test run (under the target
/// folder: a static is never dropped, so a temporary folder would outlive the run).
fn trained() -> &'static Path {
    static CKPT: OnceLock<PathBuf> = OnceLock::new();
    CKPT.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("quantize_cli");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let out = nabla(&dir)
            .env("NABLA_DATA", shared_data())
            .args(["train", "digits", "--hidden", "32", "--epochs", "10", "--lr", "0.01", "--no-track", "--out"])
            .arg(dir.join("run"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        dir.join("run/last.safetensors")
    })
}

fn run(args: &[&str], paths: &[&Path]) -> std::process::Output {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = nabla(home.path());
    cmd.env("NABLA_DATA", shared_data());
    for a in args {
        if let Some(i) = a.strip_prefix('@').and_then(|i| i.parse::<usize>().ok()) {
            cmd.arg(paths[i]);
        } else {
            cmd.arg(a);
        }
    }
    cmd.output().unwrap()
}

fn json(out: &std::process::Output) -> Value {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn fails_with(out: &std::process::Output, code: i32, needles: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{err}");
    for n in needles {
        assert!(err.contains(n), "`{n}` not in: {err}");
    }
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn int8_keeps_the_accuracy_and_eval_and_predict_read_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let q = dir.path().join("digits.int8.safetensors");
    let doc = json(&run(&["quantize", "@0", "--to", "int8", "-o", "@1", "--json"], &[trained(), &q]));
    assert_eq!(doc["precision"], "int8");
    let (before, after) = (doc["test_acc_f32"].as_f64().unwrap(), doc["test_acc"].as_f64().unwrap());
    assert!(before > 0.9, "the f32 net learned digits: {before}");
    // 360 test examples: one example is 0.28 points.
    assert!((before - after) * 100.0 <= 1.0, "int8 drops {} points", (before - after) * 100.0);
    assert!(doc["weight_bytes"].as_u64().unwrap() * 3 < doc["weight_bytes_f32"].as_u64().unwrap());

    let eval = json(&run(&["eval", "@0", "digits", "--json", "--batch-size", "77"], &[&q]));
    assert_eq!(eval["precision"], "int8");
    // Rows are quantised one by one, so the batch size changes nothing.
    assert_eq!(eval["accuracy"].as_f64().unwrap(), after);

    let text = run(&["eval", "@0", "digits"], &[&q]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("int8 weights (from ") && text.contains("last.safetensors"), "{text}");

    let pred = json(&run(&["predict", "@0", "digits:0", "--json"], &[&q]));
    assert_eq!(pred["top"].as_array().unwrap().len(), 3);
    let p: f64 = pred["top"].as_array().unwrap().iter().map(|t| t["probability"].as_f64().unwrap()).sum();
    assert!(p > 0.0 && p <= 1.0 + 1e-6, "{pred}");
}

#[test]
fn bf16_writes_beside_the_source_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("best.safetensors");
    std::fs::copy(trained(), &src).unwrap();
    let out = run(&["quantize", "@0", "--to", "bf16"], &[&src]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("bf16") && text.contains("drop"), "{text}");
    let q = dir.path().join("best.bf16.safetensors");
    let eval = json(&run(&["eval", "@0", "digits", "--json"], &[&q]));
    assert_eq!(eval["precision"], "bf16");
    let f32_eval = json(&run(&["eval", "@0", "digits", "--json"], &[&src]));
    assert_eq!(f32_eval["precision"], "f32");
    let drop = f32_eval["accuracy"].as_f64().unwrap() - eval["accuracy"].as_f64().unwrap();
    assert!(drop.abs() * 100.0 <= 1.0, "bf16 changes the accuracy by {} points", drop * 100.0);
    // The file is about half the f32 one (weights are most of it).
    let (qb, fb) = (std::fs::metadata(&q).unwrap().len(), std::fs::metadata(trained()).unwrap().len());
    assert!(qb < fb, "{qb} vs {fb}");
}

#[test]
fn bad_inputs_are_named_and_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let q = dir.path().join("q.safetensors");
    let out = run(&["quantize", "@0", "--to", "int8", "-o", "@1", "--no-eval"], &[trained(), &q]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("not measured"));

    // A quantised file is not quantised again.
    fails_with(&run(&["quantize", "@0", "--to", "bf16"], &[&q]), 1, &["q.safetensors", "already quantised (int8)"]);
    // An unknown format is a usage error.
    fails_with(&run(&["quantize", "@0", "--to", "int4"], &[trained()]), 2, &["int4"]);
    // A missing file.
    let missing = dir.path().join("nope.safetensors");
    fails_with(&run(&["quantize", "@0", "--to", "int8"], &[&missing]), 1, &["nope.safetensors"]);
    // The output must not replace the input.
    let src = dir.path().join("src.safetensors");
    std::fs::copy(trained(), &src).unwrap();
    fails_with(&run(&["quantize", "@0", "--to", "int8", "-o", "@0"], &[&src]), 1, &["overwrite"]);
    // A truncated quantised file.
    let bytes = std::fs::read(&q).unwrap();
    let cut = dir.path().join("cut.safetensors");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    fails_with(&run(&["eval", "@0", "digits"], &[&cut]), 1, &["cut.safetensors", "not a safetensors file"]);
    fails_with(&run(&["predict", "@0", "digits:0"], &[&cut]), 1, &["cut.safetensors"]);
    // A quantised model for 8×8 images does not take MNIST.
    fails_with(&run(&["eval", "@0", "mnist"], &[&q]), 1, &["q.safetensors", "8×8"]);
}
