//! The points a fit learns from: sampled from a formula (uniform inputs, Gaussian noise on
//! the output, a training set and a test set from two seeded streams), or read from CSV
//! text (`x,y` or `x,y,z` rows, split into training and test points by a seeded shuffle).

use nabla::autodiff::expr::Expression;
use nabla::Rng;

use super::{FitConfig, FitError};

/// The test set's stream is seeded with `seed ^ TEST_STREAM`, so it never repeats the
/// training set's draws (any odd 64-bit constant would do; this one is ⌊2⁶⁴/φ⌋).
pub const TEST_STREAM: u64 = 0x9E37_79B9_7F4A_7C15;

/// The names the inputs may have: `x` alone, or `x` and `y`.
pub const VARIABLES: [&str; 2] = ["x", "y"];

/// Points with `dims` inputs each and one output.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Points {
    /// Inputs per point (1 or 2).
    pub dims: usize,
    /// `inputs: [n, dims]`, row-major.
    pub inputs: Vec<f64>,
    /// `targets: [n]`.
    pub targets: Vec<f64>,
}

impl Points {
    /// Number of points.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// Point `i`'s inputs.
    pub fn input(&self, i: usize) -> &[f64] {
        &self.inputs[i * self.dims..(i + 1) * self.dims]
    }
}

/// What a fit learns from and is scored on.
#[derive(Debug, Clone)]
pub struct FitData {
    /// The input names: `["x"]` or `["x", "y"]`.
    pub variables: Vec<String>,
    /// Each input's range (the sampling range, or the data's extent).
    pub ranges: Vec<(f64, f64)>,
    /// The points the models are fitted to.
    pub train: Points,
    /// Held-out points of the same distribution, for the test error.
    pub test: Points,
    /// The noiseless function, when the points were sampled from a formula.
    pub truth: Option<Expression>,
    /// Where the points came from: the formula, or the file's name.
    pub source: String,
}

impl FitData {
    /// Inputs per point.
    pub fn dims(&self) -> usize {
        self.variables.len()
    }
}

/// The formula's inputs in `x, y` order: an error names any other variable.
pub fn formula_variables(formula: &Expression) -> Result<Vec<String>, FitError> {
    let used = formula.variables();
    if let Some((name, column)) = used.iter().find(|(n, _)| !VARIABLES.contains(&n.as_str())) {
        return Err(FitError::Input(format!(
            "unknown variable `{name}` at column {column} of `{}`: a function of x (or of x and y)",
            formula.source()
        )));
    }
    let has = |v: &str| used.iter().any(|(n, _)| n == v);
    // A constant still has one input to draw along; `y` alone is read as a function of x, y.
    Ok(if has("y") { VARIABLES.map(String::from).to_vec() } else { vec!["x".to_string()] })
}

/// The formula's value at `point` (`[x]` or `[x, y]`); an error names the point where it is
/// not a finite number.
pub fn evaluate(formula: &Expression, variables: &[String], point: &[f64]) -> Result<f64, FitError> {
    let used = formula.variables();
    let bindings: Vec<(String, f64)> = variables
        .iter()
        .zip(point)
        .filter(|(name, _)| used.iter().any(|(n, _)| n == *name))
        .map(|(name, &v)| (name.clone(), v))
        .collect();
    let at = || variables.iter().zip(point).map(|(n, v)| format!("{n} = {v}")).collect::<Vec<_>>().join(", ");
    let value = formula.evaluate(&bindings).map_err(|e| FitError::Input(format!("at {}: {e}", at())))?.output.data();
    if value.is_finite() {
        Ok(value)
    } else {
        Err(FitError::Input(format!("`{}` is {value} at {}", formula.source(), at())))
    }
}

/// `n` points uniform over `ranges`, with targets `formula + noise·N(0, 1)`, drawn from `rng`
/// (per point: the inputs in order, then the noise).
fn draw(
    formula: &Expression,
    variables: &[String],
    ranges: &[(f64, f64)],
    n: usize,
    noise: f64,
    rng: &mut Rng,
) -> Result<Points, FitError> {
    let dims = variables.len();
    let mut points = Points { dims, inputs: Vec::with_capacity(n * dims), targets: Vec::with_capacity(n) };
    for _ in 0..n {
        let start = points.inputs.len();
        for &(lo, hi) in ranges {
            points.inputs.push(rng.uniform(lo, hi));
        }
        let clean = evaluate(formula, variables, &points.inputs[start..])?;
        let noisy = if noise > 0.0 { clean + noise * rng.normal() } else { clean };
        points.targets.push(noisy);
    }
    Ok(points)
}

/// Training and test points sampled from `formula` as `config` says (`range` for every
/// input; the training set from `Rng::new(seed)`, the test set from
/// `Rng::new(seed ^ TEST_STREAM)`).
pub fn sample(formula: &Expression, config: &FitConfig) -> Result<FitData, FitError> {
    config.check()?;
    let variables = formula_variables(formula)?;
    let ranges = vec![config.range; variables.len()];
    let mut rng = Rng::new(config.seed);
    let train = draw(formula, &variables, &ranges, config.points, config.noise, &mut rng)?;
    let mut rng = Rng::new(config.seed ^ TEST_STREAM);
    let test = draw(formula, &variables, &ranges, config.test_points, config.noise, &mut rng)?;
    Ok(FitData { variables, ranges, train, test, truth: Some(formula.clone()), source: formula.source().to_string() })
}

/// Points from CSV text: one point per line, `x,y` (a function of x) or `x,y,z` (a function
/// of x and y), an optional header line, blank lines and `#` comments skipped. `source` names
/// the file in errors (`points.csv:7: …`). A quarter of the points (at least one), chosen by a
/// shuffle seeded with `config.seed`, are held out as the test set.
pub fn parse_csv(text: &str, source: &str, config: &FitConfig) -> Result<FitData, FitError> {
    let mut columns = 0;
    let mut rows: Vec<Vec<f64>> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let numbers: Vec<Option<f64>> = fields.iter().map(|f| f.parse::<f64>().ok()).collect();
        if rows.is_empty() && columns == 0 && numbers.iter().all(Option::is_none) {
            // A header such as `x,y`: it fixes the column count.
            columns = fields.len();
            if !(2..=3).contains(&columns) {
                return Err(bad_row(source, line_no, line, "expected 2 columns (x,y) or 3 (x,y,z)"));
            }
            continue;
        }
        if columns == 0 {
            columns = fields.len();
            if !(2..=3).contains(&columns) {
                return Err(bad_row(source, line_no, line, "expected 2 columns (x,y) or 3 (x,y,z)"));
            }
        }
        if fields.len() != columns {
            let want = if columns == 2 { "2 columns (x,y)" } else { "3 columns (x,y,z)" };
            return Err(bad_row(source, line_no, line, &format!("expected {want}, found {}", fields.len())));
        }
        let mut row = Vec::with_capacity(columns);
        for (field, number) in fields.iter().zip(numbers) {
            match number {
                Some(v) if v.is_finite() => row.push(v),
                _ => return Err(bad_row(source, line_no, line, &format!("`{field}` is not a finite number"))),
            }
        }
        rows.push(row);
    }
    if rows.len() < 3 {
        return Err(FitError::Input(format!(
            "{source}: {} points; a fit needs at least 3 (two to fit, one to test)",
            rows.len()
        )));
    }
    let dims = columns - 1;
    let mut order: Vec<usize> = (0..rows.len()).collect();
    Rng::new(config.seed).shuffle(&mut order);
    let held_out = (rows.len() / 4).max(1);
    let (test_rows, train_rows) = order.split_at(held_out);
    let collect = |ids: &[usize]| {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        Points {
            dims,
            inputs: ids.iter().flat_map(|&i| rows[i][..dims].to_vec()).collect(),
            targets: ids.iter().map(|&i| rows[i][dims]).collect(),
        }
    };
    let ranges = (0..dims)
        .map(|d| {
            let lo = rows.iter().map(|r| r[d]).fold(f64::INFINITY, f64::min);
            let hi = rows.iter().map(|r| r[d]).fold(f64::NEG_INFINITY, f64::max);
            if hi > lo {
                (lo, hi)
            } else {
                (lo - 1.0, hi + 1.0)
            }
        })
        .collect();
    Ok(FitData {
        variables: VARIABLES[..dims].iter().map(|s| s.to_string()).collect(),
        ranges,
        train: collect(train_rows),
        test: collect(test_rows),
        truth: None,
        source: source.to_string(),
    })
}

fn bad_row(source: &str, line: usize, text: &str, why: &str) -> FitError {
    FitError::Input(format!("{source}:{line}: {why} (the row reads `{text}`)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nabla::autodiff::expr::parse;

    #[test]
    fn sampling_is_seeded_uniform_and_noisy() {
        let f = parse("2*x + 1").unwrap();
        let config = FitConfig { points: 500, test_points: 300, noise: 0.0, ..FitConfig::default() };
        let data = sample(&f, &config).unwrap();
        assert_eq!(data.variables, ["x"]);
        assert_eq!((data.train.len(), data.test.len()), (500, 300));
        // Noiseless: every target is the formula; every x in the range.
        for i in 0..data.train.len() {
            let x = data.train.input(i)[0];
            assert!((-2.0..2.0).contains(&x));
            assert!((data.train.targets[i] - (2.0 * x + 1.0)).abs() < 1e-12);
        }
        // Uniform on (−2, 2): mean ≈ 0, variance ≈ 16/12.
        let xs = &data.train.inputs;
        let mean = xs.iter().sum::<f64>() / 500.0;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 500.0;
        assert!(mean.abs() < 0.15 && (var - 4.0 / 3.0).abs() < 0.2, "mean {mean}, var {var}");
        // The same seed gives the same points; the test set is another stream.
        let again = sample(&f, &config).unwrap();
        assert_eq!(again.train, data.train);
        assert_ne!(data.train.inputs[..10], data.test.inputs[..10]);
        // The noise has the asked-for standard deviation.
        let noisy = sample(&f, &FitConfig { noise: 0.5, ..config }).unwrap();
        let resid: Vec<f64> =
            (0..500).map(|i| noisy.train.targets[i] - (2.0 * noisy.train.input(i)[0] + 1.0)).collect();
        let sd = (resid.iter().map(|r| r * r).sum::<f64>() / 500.0).sqrt();
        assert!((sd - 0.5).abs() < 0.05, "noise sd {sd}");
    }

    #[test]
    fn two_variables_and_bad_formulas() {
        let config = FitConfig { points: 20, test_points: 5, ..FitConfig::default() };
        let data = sample(&parse("x*y").unwrap(), &config).unwrap();
        assert_eq!(data.variables, ["x", "y"]);
        assert_eq!(data.train.inputs.len(), 40);
        let err = sample(&parse("x + z").unwrap(), &config).unwrap_err().to_string();
        assert!(err.contains("unknown variable `z` at column 5"), "{err}");
        let err = sample(&parse("log(x)").unwrap(), &config).unwrap_err().to_string();
        assert!(err.contains("at x = "), "{err}");
        // A constant is a (flat) function of x.
        assert_eq!(sample(&parse("3").unwrap(), &config).unwrap().variables, ["x"]);
    }

    #[test]
    fn csv_rows_header_split_and_errors() {
        let config = FitConfig::default();
        let text = "x,y\n# a comment\n0,1\n1,3\n\n2,5\n3,7\n";
        let data = parse_csv(text, "p.csv", &config).unwrap();
        assert_eq!(data.variables, ["x"]);
        assert_eq!((data.train.len(), data.test.len()), (3, 1));
        assert_eq!(data.ranges, [(0.0, 3.0)]);
        let mut all: Vec<f64> = data.train.inputs.iter().chain(&data.test.inputs).copied().collect();
        all.sort_by(f64::total_cmp);
        assert_eq!(all, [0.0, 1.0, 2.0, 3.0]);
        let three = parse_csv("1,2,3\n4,5,6\n7,8,9\n0,0,0\n", "q.csv", &config).unwrap();
        assert_eq!(three.variables, ["x", "y"]);
        let err = parse_csv("x,y\n0,1\n1,oops\n", "p.csv", &config).unwrap_err().to_string();
        assert_eq!(err, "p.csv:3: `oops` is not a finite number (the row reads `1,oops`)");
        let err = parse_csv("0,1\n1,2,3\n", "p.csv", &config).unwrap_err().to_string();
        assert!(err.starts_with("p.csv:2: expected 2 columns (x,y), found 3"), "{err}");
        let err = parse_csv("0\n", "p.csv", &config).unwrap_err().to_string();
        assert!(err.starts_with("p.csv:1: expected 2 columns"), "{err}");
        let err = parse_csv("0,1\n", "p.csv", &config).unwrap_err().to_string();
        assert!(err.contains("at least 3"), "{err}");
    }
}
