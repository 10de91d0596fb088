//! The formula parser's tests: values and gradients of parsed formulas, every error with its
//! column, and formulas deep enough to have overflowed the stack.

use super::*;

fn grads(src: &str, bindings: &[(&str, f64)]) -> (f64, Vec<f64>) {
    let bindings: Vec<(String, f64)> = bindings.iter().map(|(n, v)| (n.to_string(), *v)).collect();
    let e = parse(src).unwrap().evaluate(&bindings).unwrap();
    e.output.backward();
    (e.output.data(), e.inputs.iter().map(|(_, v)| v.grad()).collect())
}

fn error(src: &str, bindings: &[(&str, f64)]) -> ExprError {
    let bindings: Vec<(String, f64)> = bindings.iter().map(|(n, v)| (n.to_string(), *v)).collect();
    match parse(src) {
        Err(e) => e,
        Ok(e) => e.evaluate(&bindings).expect_err(src),
    }
}

#[test]
fn the_lecture_formula() {
    let b = [("x", 3.0), ("y", -2.0), ("z", 1.0), ("w", 4.0)];
    assert_eq!(grads("x*y + max(z, w)", &b), (-2.0, vec![-2.0, 3.0, 0.0, 1.0]));
    // A tie in max routes to z, the first argument.
    let b = [("x", 3.0), ("y", -2.0), ("z", 4.0), ("w", 4.0)];
    assert_eq!(grads("x*y + max(z, w)", &b), (-2.0, vec![-2.0, 3.0, 1.0, 0.0]));
    assert_eq!(grads("x·y+max(z,w)", &[("x", 3.0), ("y", -4.0), ("z", 2.0), ("w", -1.0)]).1, vec![-4.0, 3.0, 1.0, 0.0]);
}

#[test]
fn precedence_and_associativity() {
    assert_eq!(grads("1 + 2 * 3", &[]).0, 7.0);
    assert_eq!(grads("(1 + 2) * 3", &[]).0, 9.0);
    assert_eq!(grads("8 / 4 / 2", &[]).0, 1.0);
    assert_eq!(grads("10 - 4 - 3", &[]).0, 3.0);
    assert_eq!(grads("2 ^ 3 ^ 2", &[]).0, 512.0);
    assert_eq!(grads("2 ** 3", &[]).0, 8.0);
    assert_eq!(grads("-x^2", &[("x", 3.0)]), (-9.0, vec![-6.0]));
    assert_eq!(grads("2^-1", &[]).0, 0.5);
    assert_eq!(grads("1.5e1 + .5", &[]).0, 15.5);
    assert_eq!(grads("x*x*x", &[("x", 2.0)]), (8.0, vec![12.0]));
}

#[test]
fn functions() {
    let (v, g) =
        grads("exp(log(x)) + tanh(0) + sigmoid(0) + relu(-x) + sqrt(x) + pow(x, 2) + min(x, 1)", &[("x", 4.0)]);
    assert!((v - (4.0 + 0.5 + 2.0 + 16.0 + 1.0)).abs() < 1e-12);
    assert!((g[0] - (1.0 + 0.25 + 8.0)).abs() < 1e-12);
    // d/dx [sin(3x) + cos(x)] = 3·cos(3x) − sin(x).
    let x = 0.7f64;
    let (v, g) = grads("sin(3*x) + cos(x)", &[("x", x)]);
    assert!((v - ((3.0 * x).sin() + x.cos())).abs() < 1e-12);
    assert!((g[0] - (3.0 * (3.0 * x).cos() - x.sin())).abs() < 1e-12);
}

#[test]
fn parse_errors_point_at_the_column() {
    let cases = [
        ("x*y + max(z, w", 15, "expected `,` or `)` to close the `(` at column 10, found the end of the formula"),
        ("x*(y + 2", 9, "expected `)` to close the `(` at column 3, found the end of the formula"),
        ("x + * y", 5, "expected a number, a name or `(`, found `*`"),
        ("x y", 3, "expected an operator or the end of the formula, found `y`"),
        ("x + $", 5, "unexpected character `$`"),
        ("foo(x)", 1, "unknown function `foo`"),
        ("max(x)", 1, "max takes 2 arguments, got 1"),
        ("exp + 1", 1, "`exp` is a function: write exp(…)"),
        ("1.2.3", 1, "`1.2.3` is not a number"),
        ("", 1, "expected a number, a name or `(`, found the end of the formula"),
        ("x + )", 5, "found `)`"),
    ];
    for (src, column, message) in cases {
        let e = parse(src).expect_err(src);
        assert_eq!(e.column, column, "{src}: {e}");
        assert!(e.message.contains(message), "{src}: {}", e.message);
    }
    let shown = parse("x*(y + 2").unwrap_err().to_string();
    assert_eq!(
        shown,
        "column 9: expected `)` to close the `(` at column 3, found the end of the formula\n    x*(y + 2\n            ^"
    );
}

#[test]
fn evaluation_errors() {
    let e = error("x*y + z", &[("x", 1.0), ("y", 2.0)]);
    assert_eq!((e.column, e.message.as_str()), (7, "`z` has no value: add z=NUMBER"));
    let e = error("x*y", &[("x", 1.0), ("y", 2.0), ("q", 3.0)]);
    assert!(e.message.contains("`q` is given a value"), "{e}");
    let e = error("1 + log(x)", &[("x", 0.0)]);
    assert_eq!(e.column, 5, "{e}");
    assert!(e.message.contains("log of 0 gives -inf"), "{e}");
    let e = error("x / (y - 1)", &[("x", 1.0), ("y", 1.0)]);
    assert_eq!(e.column, 1, "{e}");
    assert!(e.message.contains("division"), "{e}");
    let e = error("(0-8)^0.5", &[]);
    assert!(e.message.contains("power"), "{e}");
}

/// Unicode formulas: columns count characters, not bytes.
#[test]
fn columns_count_characters() {
    let e = parse("x·y × ?").unwrap_err();
    assert_eq!(e.column, 7);
}

/// Regressions (issue 21, seen while writing the `formula` fuzz target): formulas whose
/// parse, evaluation or drop recursed as deep as the formula was long overflowed the stack.
mod deep_formulas {
    use super::*;
    use crate::limits::{MAX_FORMULA_NESTING, MAX_FORMULA_TOKENS};

    #[test]
    fn formula_nested_in_a_hundred_thousand_brackets_is_refused() {
        let src = format!("{}x{}", "(".repeat(100_000), ")".repeat(100_000));
        let e = parse(&src).unwrap_err();
        assert!(e.message.contains("tokens"), "{}", e.message);
        let src = format!("{}x{}", "(".repeat(MAX_FORMULA_NESTING + 1), ")".repeat(MAX_FORMULA_NESTING + 1));
        let e = parse(&src).unwrap_err();
        assert!(e.message.contains("nests deeper"), "{}", e.message);
        assert_eq!(e.column, MAX_FORMULA_NESTING + 1, "{e}");
        let src = format!("{}x{}", "(".repeat(MAX_FORMULA_NESTING - 1), ")".repeat(MAX_FORMULA_NESTING - 1));
        assert_eq!(parse(&src).unwrap().variables(), vec![("x".to_string(), MAX_FORMULA_NESTING)]);
    }

    #[test]
    fn formula_of_nested_signs_powers_and_calls_is_refused() {
        for src in ["-".repeat(5000) + "x", "x^".repeat(5000) + "x", "exp(".repeat(5000) + "x" + &")".repeat(5000)] {
            let e = parse(&src).unwrap_err();
            assert!(e.message.contains("tokens") || e.message.contains("nests deeper"), "{}", e.message);
        }
        let src = "-".repeat(MAX_FORMULA_NESTING + 1) + "x";
        assert!(parse(&src).unwrap_err().message.contains("nests deeper"));
    }

    #[test]
    fn formula_of_a_hundred_thousand_terms_is_refused() {
        let src = vec!["x"; 100_000].join("+");
        let e = parse(&src).unwrap_err();
        assert!(e.message.contains(&format!("more than {MAX_FORMULA_TOKENS} tokens")), "{}", e.message);
        // The longest formula allowed parses, evaluates and differentiates.
        let terms = MAX_FORMULA_TOKENS.div_ceil(2);
        let src = vec!["x"; terms].join("+");
        let f = parse(&src).unwrap();
        let out = f.evaluate(&[("x".into(), 1.0)]).unwrap();
        out.output.backward();
        assert_eq!(out.output.data(), terms as f64);
        assert_eq!(out.inputs[0].1.grad(), terms as f64);
    }
}
