//! Residual nets through the CLI (issue 22): `nabla train … --depth N --width W --residual`,
//! then `eval`, `predict`, `--resume` and `landscape` on its checkpoint; what is refused for
//! them (`quantize`) and the flags that do not go together.

mod support;

use std::path::Path;

use nabla_testkit::shared_data;
use serde_json::Value;
use support::nabla;

fn run(home: &Path, args: &[&str]) -> std::process::Output {
    nabla(home).env("NABLA_DATA", shared_data()).args(args).output().unwrap()
}

fn stdout(output: &std::process::Output) -> String {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// Fails with `code` and one stderr line containing every needle.
fn refused(output: &std::process::Output, code: i32, needles: &[&str]) {
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(code), "{err}");
    for needle in needles {
        assert!(err.contains(needle), "`{needle}` not in: {err}");
    }
}

#[test]
fn a_residual_net_trains_evaluates_predicts_resumes_and_is_refused_where_unsupported() {
    let home = tempfile::tempdir().unwrap();
    let out = home.path().join("out");
    let out_s = out.to_str().unwrap();
    let args = ["train", "digits", "--depth", "3", "--width", "32", "--residual", "--epochs", "2", "--json", "--out"];
    let text = stdout(&run(home.path(), &[&args[..], &[out_s]].concat()));
    let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["final"], true, "{text}");
    let ckpt_path = out.join("last.safetensors");
    let ckpt = ckpt_path.to_str().unwrap();
    let loaded = nabla_train::checkpoint::load(&ckpt_path).unwrap();
    assert_eq!(loaded.spec().to_string(), "64 → 32 → 3 × [norm, 32-relu-32, +skip] → norm → 10 identity");
    // --residual turned the default dropout off; the stored settings say so.
    assert_eq!((loaded.config["residual"].clone(), loaded.config["dropout"].clone()), (true.into(), 0.0.into()));

    let eval: Value = serde_json::from_str(&stdout(&run(home.path(), &["eval", ckpt, "digits", "--json"]))).unwrap();
    assert_eq!(eval["examples"], 359);
    assert!(eval["accuracy"].as_f64().unwrap() > 0.5, "{eval}");
    let text = stdout(&run(home.path(), &["eval", ckpt, "digits"]));
    assert!(text.contains("64 → 3 residual blocks of 32 → 10 (relu), trained on digits"), "{text}");
    let doc: Value =
        serde_json::from_str(&stdout(&run(home.path(), &["predict", ckpt, "digits:0", "--json"]))).unwrap();
    assert_eq!(doc["top"].as_array().unwrap().len(), 3, "{doc}");

    // Resume continues the residual run to epoch 3.
    let text =
        stdout(&run(home.path(), &["train", "digits", "--resume", ckpt, "--epochs", "3", "--json", "--out", out_s]));
    assert_eq!(text.lines().count(), 2, "one epoch, then the final line: {text}");
    assert_eq!(nabla_train::checkpoint::load(&ckpt_path).unwrap().epoch, 3);

    let q = home.path().join("q.safetensors");
    let output = run(home.path(), &["quantize", ckpt, "--to", "int8", "-o", q.to_str().unwrap(), "--no-eval"]);
    refused(&output, 1, &["quantising is only implemented for plain MLPs", "residual net"]);
    assert!(!q.exists());
    // The landscape of a residual net is drawn (its tests are in landscape_cli.rs).
    let land = home.path().join("l");
    let args =
        ["landscape", ckpt, "digits", "--steps", "3", "--samples", "50", "--json", "--out", land.to_str().unwrap()];
    let doc: Value = serde_json::from_str(&stdout(&run(home.path(), &args))).unwrap();
    assert!(doc["centre_loss"].as_f64().unwrap().is_finite(), "{doc}");
}

#[test]
fn flags_that_do_not_go_together_are_named() {
    let home = tempfile::tempdir().unwrap();
    let out = home.path().join("out");
    let out = out.to_str().unwrap();
    let output = run(home.path(), &["train", "digits", "--hidden", "32", "--depth", "3", "--width", "8", "--out", out]);
    refused(&output, 2, &["--depth", "--hidden"]);
    let output = run(home.path(), &["train", "digits", "--residual", "--out", out]);
    refused(&output, 1, &["residual", "--depth N --width W"]);
    let output = run(home.path(), &["train", "digits", "--depth", "3", "--out", out]);
    refused(&output, 1, &["width"]);
    let output = run(home.path(), &["train", "digits", "--depth", "3", "--width", "300000", "--out", out]);
    refused(&output, 1, &["width", "MAX_WIDTH"]);
    let output = run(
        home.path(),
        &["train", "digits", "--depth", "2", "--width", "8", "--residual", "--dropout", "0.3", "--out", out],
    );
    refused(&output, 1, &["dropout", "residual nets train without dropout"]);
}
