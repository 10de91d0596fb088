//! `nabla grad` as a user runs it: the lecture's formula, ties, pictures, bad input.

mod support;

use predicates::prelude::*;
use support::nabla;

fn grad(home: &std::path::Path, args: &[&str]) -> assert_cmd::assert::Assert {
    nabla(home).arg("grad").args(args).assert()
}

#[test]
fn the_lecture_formula_prints_value_and_every_partial() {
    let home = tempfile::tempdir().unwrap();
    let out = grad(home.path(), &["x*y + max(z, w)", "x=3", "y=-2", "z=1", "w=4"]).success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    for line in ["f = -2", "∂f/∂x = -2", "∂f/∂y = 3", "∂f/∂z = 0", "∂f/∂w = 1"] {
        assert!(text.lines().any(|l| l == line), "missing `{line}` in\n{text}");
    }
    assert!(text.contains("t1 = x · y"), "{text}");
    assert!(text.contains("t2 = max(z, w)"), "{text}");
    assert!(text.contains("f = t1 + t2"), "{text}");
}

#[test]
fn a_tie_in_max_routes_to_the_first_argument() {
    let home = tempfile::tempdir().unwrap();
    let out = grad(home.path(), &["x*y + max(z, w)", "x=3", "y=-2", "z=4", "w=4", "--json"]).success();
    let doc: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(doc["value"], -2.0);
    let grads: Vec<(String, f64)> = doc["variables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["name"].as_str().unwrap().to_string(), v["grad"].as_f64().unwrap()))
        .collect();
    let expected = [("x", -2.0), ("y", 3.0), ("z", 1.0), ("w", 0.0)];
    assert_eq!(grads, expected.map(|(n, g)| (n.to_string(), g)));
    let text = grad(home.path(), &["max(z, w)", "z=4", "w=4"]).success();
    text.stdout(predicate::str::contains("a tie: max routes the gradient to its first argument, z"));
}

#[test]
fn dot_and_svg_pictures_are_written() {
    let home = tempfile::tempdir().unwrap();
    let (dot, svg) = (home.path().join("f.dot"), home.path().join("f.svg"));
    grad(home.path(), &["x*y + max(z, w)", "x=3", "y=-4", "z=2", "w=-1", "--dot"]).failure().code(2);
    grad(
        home.path(),
        &[
            "x*y + max(z, w)",
            "x=3",
            "y=-4",
            "z=2",
            "w=-1",
            "--dot",
            dot.to_str().unwrap(),
            "--svg",
            svg.to_str().unwrap(),
        ],
    )
    .success();
    let dot = std::fs::read_to_string(dot).unwrap();
    assert!(dot.starts_with("digraph"), "{dot}");
    assert_eq!(dot.matches("label=\"max\"").count(), 1);
    let svg = std::fs::read_to_string(svg).unwrap();
    assert!(svg.contains(">max<") && svg.contains(">-10<") && svg.contains(">-4<"), "{svg}");
}

#[test]
fn a_formula_can_start_with_a_minus_sign() {
    let home = tempfile::tempdir().unwrap();
    grad(home.path(), &["-x^2 + exp(0)", "x=3"])
        .success()
        .stdout(predicate::str::contains("f = -8\n").and(predicate::str::contains("∂f/∂x = -6")));
}

#[test]
fn parse_errors_show_the_formula_and_a_caret() {
    let home = tempfile::tempdir().unwrap();
    let out = grad(home.path(), &["x*y + max(z w)", "x=1", "y=2", "z=3", "w=4"]).failure().code(1);
    let err = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    assert!(err.starts_with("error: cannot parse the formula: column 13: expected `,` or `)`"), "{err}");
    assert!(err.contains("\n    x*y + max(z w)\n                ^\n"), "{err}");
}

#[test]
fn bad_values_are_named() {
    let home = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &str); 7] = [
        (&["x*y", "x=3"], "`y` has no value: add y=NUMBER"),
        (&["x*y", "x=3", "y=2", "q=1"], "`q` is given a value but the formula has no `q`"),
        (&["x*y", "x=3", "y"], "`y` is not NAME=NUMBER"),
        (&["x*y", "x=3", "y=two"], "`y=two`: `two` is not a finite number"),
        (&["x*y", "x=3", "y=2", "x=4"], "`x` is given a value twice"),
        (&["x*y", "x=3", "exp=2"], "`exp` is a function"),
        (&["log(x)", "x=-1"], "column 1: this log of -1 gives NaN"),
    ];
    for (args, message) in cases {
        grad(home.path(), args).failure().code(1).stderr(predicate::str::contains(message));
    }
}
