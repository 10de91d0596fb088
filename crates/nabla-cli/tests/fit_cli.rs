//! `nabla fit` as a user runs it: the lecture's claim in numbers (a line fails on sin(3x), a
//! wide MLP fits it), the pictures, CSV input, and the bad-input paths.

mod support;

use nabla_testkit::files_in;
use predicates::prelude::*;
use support::nabla;

fn test_mse(doc: &serde_json::Value, name: &str) -> f64 {
    let models = doc["models"].as_array().unwrap();
    let model = models.iter().find(|m| m["name"] == name).unwrap_or_else(|| panic!("no {name} in {doc}"));
    model["test_mse"].as_f64().unwrap()
}

#[test]
fn a_line_fails_on_a_sine_and_a_wide_mlp_fits_it() {
    let home = tempfile::tempdir().unwrap();
    let out = nabla(home.path())
        .args(["fit", "sin(3*x)", "--hidden", "1,3,10,100", "--seed", "0", "--json"])
        .assert()
        .success();
    let doc: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let names: Vec<&str> = doc["models"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["linear", "poly-3", "mlp-1", "mlp-3", "mlp-10", "mlp-100"]);
    let (linear, wide) = (test_mse(&doc, "linear"), test_mse(&doc, "mlp-100"));
    assert!(linear > wide, "linear {linear} vs mlp-100 {wide}");
    // Not just ordered: the line misses most of the variance of sin(3x) (≈ ½), the wide net
    // gets close to the noise floor σ² = 0.01.
    assert!(linear > 0.3, "linear {linear}");
    assert!(wide < 0.03, "mlp-100 {wide}");
    assert_eq!(doc["train_points"], 40);
    assert_eq!(doc["test_points"], 200);
    assert_eq!(doc["variables"], serde_json::json!(["x"]));
}

#[test]
fn table_picture_and_animation() {
    let home = tempfile::tempdir().unwrap();
    let (svg, gif) = (home.path().join("fit.svg"), home.path().join("fit.gif"));
    nabla(home.path())
        .args(["fit", "sin(3*x) + 0.3*x^2", "--hidden", "3,30", "--epochs", "400", "--every", "100"])
        .args(["--l2", "0,1e-2", "-o", svg.to_str().unwrap(), "--gif", gif.to_str().unwrap()])
        .assert()
        .success()
        .stdout(predicate::str::contains("f(x) = sin(3*x) + 0.3*x^2 on [-2, 2]"))
        .stdout(predicate::str::contains("mlp-30 λ=1e-2"))
        .stdout(predicate::str::contains("poly-3 λ=1e-2"))
        .stdout(predicate::str::contains("wrote the picture to"));
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.contains("40 training points") && text.contains("true function"), "the legend names the samples");
    assert!(text.contains("mlp-30 (test MSE"), "and every model with its test error");
    assert!(std::fs::read(&gif).unwrap().starts_with(b"GIF89a"));
}

#[test]
fn two_variables_draw_heat_maps() {
    let home = tempfile::tempdir().unwrap();
    let png = home.path().join("xy.png");
    let out = nabla(home.path())
        .args(["fit", "x*y", "--hidden", "8", "--epochs", "300", "--points", "60", "--json"])
        .args(["-o", png.to_str().unwrap()])
        .assert()
        .success();
    let doc: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(doc["variables"], serde_json::json!(["x", "y"]));
    // x·y is one of the cubic's monomials: it fits to the noise, the plane cannot.
    assert!(test_mse(&doc, "poly-3") < 0.02 && test_mse(&doc, "linear") > 0.5, "{doc}");
    assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"));
}

#[test]
fn points_from_csv() {
    let home = tempfile::tempdir().unwrap();
    let csv = home.path().join("points.csv");
    let rows: String = (0..40).map(|i| f64::from(i) / 10.0).map(|x| format!("{x},{}\n", x * x - 1.0)).collect();
    std::fs::write(&csv, format!("x,y\n{rows}")).unwrap();
    let out = nabla(home.path())
        .args(["fit", "--data", csv.to_str().unwrap(), "--hidden", "4", "--epochs", "50", "--json"])
        .assert()
        .success();
    let doc: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!((doc["train_points"].as_u64(), doc["test_points"].as_u64()), (Some(30), Some(10)));
    assert!(test_mse(&doc, "poly-3") < 1e-20, "a parabola is a cubic's special case: {doc}");
    assert_eq!(doc["ranges"], serde_json::json!([[0.0, 3.9]]));
}

#[test]
fn bad_input_is_refused_and_leaves_no_picture() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("out");
    std::fs::create_dir(&dir).unwrap();
    let picture = dir.join("fit.svg");
    let o = picture.to_str().unwrap();
    let csv = dir.join("points.csv");
    std::fs::write(&csv, "x,y\n0,1\n1,2\n2,oops\n3,4\n").unwrap();
    let cases: [(&[&str], i32, &str); 7] = [
        (&["fit", "sin(3*z)", "-o", o], 1, "unknown variable `z` at column 7 of `sin(3*z)`"),
        (&["fit", "sin(3*x", "-o", o], 1, "cannot parse the formula: column 8: expected `,` or `)`"),
        (&["fit", "x", "--range", "2..-2", "-o", o], 2, "expected LOW..HIGH with LOW < HIGH (e.g. -2..2), got `2..-2`"),
        (&["fit", "x", "--range", "-2", "-o", o], 2, "--range"),
        (&["fit", "--data", csv.to_str().unwrap(), "-o", o], 1, "points.csv:4: `oops` is not a finite number"),
        (&["fit", "log(x)", "-o", o], 1, "at x = "),
        (&["fit", "-o", o], 1, "nothing to fit"),
    ];
    for (args, code, message) in cases {
        nabla(home.path())
            .args(args)
            .assert()
            .failure()
            .code(code)
            .stderr(predicate::str::contains(message))
            .stdout(predicate::str::is_empty());
    }
    // Pictures whose format is wrong are refused before anything is fitted.
    nabla(home.path())
        .args(["fit", "x", "-o", dir.join("fit.gif").to_str().unwrap()])
        .assert()
        .failure()
        .stderr(predicate::str::contains("--gif FILE for the animation"));
    nabla(home.path())
        .args(["fit", "x", "--gif", dir.join("fit.png").to_str().unwrap()])
        .assert()
        .failure()
        .stderr(predicate::str::contains("name the file .gif"));
    // Nothing but what the test wrote itself: no picture, no temporary file, left behind.
    assert_eq!(files_in(&dir), ["points.csv"]);
}
