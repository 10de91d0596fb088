//! `nabla perceptron` as a user runs it: convergence on AND/OR/NAND, XOR's cycle, pictures.

mod support;

use predicates::prelude::*;
use support::nabla;

#[test]
fn and_or_nand_converge_and_xor_cycles() {
    let home = tempfile::tempdir().unwrap();
    let out = nabla(home.path()).arg("perceptron").assert().success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(text.contains("AND   converged at epoch 6: w = (2, 1), b = -2"), "{text}");
    assert!(text.contains("OR    converged at epoch 4: w = (1, 1), b = 0"), "{text}");
    assert!(text.contains("NAND  converged at epoch"), "{text}");
    assert!(text.contains("XOR   never converges: the weights after epoch 3 equal those after epoch 2"), "{text}");
    assert!(text.contains("Why XOR never converges"), "{text}");
}

#[test]
fn json_reports_each_gate() {
    let home = tempfile::tempdir().unwrap();
    let out = nabla(home.path()).args(["perceptron", "and", "xor", "--json", "--lr", "0.5"]).assert().success();
    let doc: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let gates = doc["gates"].as_array().unwrap();
    assert_eq!(gates.len(), 2);
    assert_eq!(gates[0]["gate"], "and");
    assert_eq!(gates[0]["outcome"], "converged");
    // With zero start weights, η only scales the weights: the same epochs as η = 1.
    assert_eq!(gates[0]["converged_epoch"], 6);
    assert_eq!(gates[0]["w"], serde_json::json!([1.0, 0.5]));
    assert_eq!(gates[1]["outcome"], "cycle");
    assert!(gates[1]["mistakes"].as_array().unwrap().iter().all(|m| m.as_u64().unwrap() > 0));
}

#[test]
fn plot_and_gif_are_written() {
    let home = tempfile::tempdir().unwrap();
    let (svg, png, gif) = (home.path().join("p.svg"), home.path().join("p.png"), home.path().join("p.gif"));
    nabla(home.path())
        .args(["perceptron", "--plot", svg.to_str().unwrap(), "--gif", gif.to_str().unwrap()])
        .assert()
        .success()
        .stdout(predicate::str::contains("wrote the animation to"));
    assert!(std::fs::read_to_string(&svg).unwrap().contains("XOR: cycles, never converges"));
    assert!(std::fs::read(&gif).unwrap().starts_with(b"GIF89a"));
    nabla(home.path()).args(["perceptron", "or", "--plot", png.to_str().unwrap()]).assert().success();
    assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"));
}

#[test]
fn bad_input_is_refused() {
    let home = tempfile::tempdir().unwrap();
    nabla(home.path()).args(["perceptron", "nor"]).assert().failure().code(2).stderr(predicate::str::contains("nor"));
    nabla(home.path()).args(["perceptron", "--lr", "0"]).assert().failure().code(2);
    let bad = home.path().join("p.jpg");
    nabla(home.path())
        .args(["perceptron", "--plot", bad.to_str().unwrap()])
        .assert()
        .failure()
        .code(1)
        .stderr(predicate::str::contains("unknown picture format"));
    let notgif = home.path().join("p.png");
    nabla(home.path())
        .args(["perceptron", "--gif", notgif.to_str().unwrap()])
        .assert()
        .failure()
        .code(1)
        .stderr(predicate::str::contains("an animation is written as .gif"));
}
