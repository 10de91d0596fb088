//! `nabla fit 'sin(3*x) + 0.3*x^2'`: the lecture's "linear regressions are not universal
//! approximators, neural networks are", as a table of errors and a picture. Samples a
//! function of x (or of x and y), or reads `--data points.csv`, fits linear and polynomial
//! least squares and one-hidden-layer MLPs of several widths side by side, prints train and
//! test MSE per model, and draws the samples, the true function and every fit (`-o`), and the
//! MLPs learning (`--gif`).

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use nabla::autodiff::expr;
use nabla_plot::{
    line_animation, line_figure, surfaces, surfaces_animation, Format, LineFigure, Panel, Series, SurfacePanel,
    Surfaces,
};
use nabla_train::fit::{self, FitConfig, FitData, FitReport, ModelKind};
use serde_json::json;

use super::parse;

/// Flags of `nabla fit`.
#[derive(Debug, clap::Args)]
pub struct FitArgs {
    /// The function to sample, of x or of x and y, e.g. 'sin(3*x) + 0.3*x^2': + - * / ^,
    /// parentheses, and exp, log, tanh, sin, cos, sigmoid, relu, sqrt, max, min, pow.
    #[arg(allow_hyphen_values = true)]
    pub expression: Option<String>,
    /// Read the points from a CSV file instead: `x,y` rows (or `x,y,z` for two inputs),
    /// an optional header; a quarter of the rows are held out as the test set.
    #[arg(long, value_name = "FILE", conflicts_with = "expression")]
    pub data: Option<PathBuf>,
    /// The sampling range of x (and y): LOW..HIGH.
    #[arg(long, default_value = "-2..2", allow_hyphen_values = true, value_parser = range)]
    pub range: (f64, f64),
    /// Training points, drawn uniformly over the range.
    #[arg(long, default_value_t = FitConfig::default().points, value_parser = parse::positive_usize)]
    pub points: usize,
    /// Test points, from a different random stream.
    #[arg(long, default_value_t = FitConfig::default().test_points, value_parser = parse::positive_usize)]
    pub test_points: usize,
    /// Standard deviation of the Gaussian noise added to each sampled value.
    #[arg(long, default_value_t = FitConfig::default().noise, value_parser = non_negative_f64)]
    pub noise: f64,
    /// Seeds the points and the networks' initial weights.
    #[arg(long, default_value_t = 0, value_parser = parse::non_negative_u64)]
    pub seed: u64,
    /// Degree of the polynomial regression.
    #[arg(long, default_value_t = FitConfig::default().degree, value_parser = parse::positive_usize)]
    pub degree: usize,
    /// One MLP (one tanh hidden layer) per width.
    #[arg(long, value_delimiter = ',', default_value = "1,3,10,100", value_parser = parse::positive_usize)]
    pub hidden: Vec<usize>,
    /// Full-batch Adam steps per MLP.
    #[arg(long, default_value_t = FitConfig::default().epochs, value_parser = parse::positive_u64)]
    pub epochs: u64,
    /// Adam's learning rate.
    #[arg(long, default_value_t = FitConfig::default().lr, value_parser = parse::positive_f32)]
    pub lr: f32,
    /// Penalties λ (½λ‖w‖² on the weights): the first for every model, each further one adds
    /// a ridge polynomial and a widest-MLP row, e.g. 0,1e-4,1e-2.
    #[arg(long, value_delimiter = ',', default_value = "0", value_parser = non_negative_f64)]
    pub l2: Vec<f64>,
    /// Draw the samples, the true function and every model's fit to FILE (.svg or .png).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Animate the MLPs' fits across training to FILE (.gif).
    #[arg(long, value_name = "FILE")]
    pub gif: Option<PathBuf>,
    /// One animation frame every N epochs (default: about 40 frames).
    #[arg(long, value_name = "N", value_parser = parse::positive_u64)]
    pub every: Option<u64>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// `LOW..HIGH` with finite ends and LOW < HIGH.
fn range(s: &str) -> Result<(f64, f64), String> {
    let parsed =
        s.split_once("..").and_then(|(a, b)| Some((a.trim().parse::<f64>().ok()?, b.trim().parse::<f64>().ok()?)));
    match parsed {
        Some((lo, hi)) if lo.is_finite() && hi.is_finite() && lo < hi => Ok((lo, hi)),
        _ => Err(format!("expected LOW..HIGH with LOW < HIGH (e.g. -2..2), got `{s}`")),
    }
}

/// A finite number ≥ 0.
fn non_negative_f64(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("expected a finite number ≥ 0, got `{s}`")),
    }
}

/// Runs `nabla fit`.
pub fn run(args: &FitArgs) -> anyhow::Result<()> {
    // Refuse a bad file name before fitting, so nothing is computed for a picture that
    // cannot be written.
    if let Some(path) = &args.output {
        if Format::from_path(path)? == Format::Gif {
            bail!("{}: -o draws a still picture (.svg or .png); use --gif FILE for the animation", path.display());
        }
    }
    if let Some(path) = &args.gif {
        if Format::from_path(path).ok() != Some(Format::Gif) {
            bail!("{}: --gif writes an animation: name the file .gif", path.display());
        }
    }
    let config = FitConfig {
        range: args.range,
        points: args.points,
        test_points: args.test_points,
        noise: args.noise,
        seed: args.seed,
        degree: args.degree,
        hidden: args.hidden.clone(),
        epochs: args.epochs,
        lr: args.lr,
        l2: args.l2.clone(),
        frame_every: if args.gif.is_some() { args.every.unwrap_or((args.epochs / 40).max(1)) } else { 0 },
        ..FitConfig::default()
    };
    config.check()?;
    let data = load(args, &config)?;
    let report = fit::run(data, &config)?;

    if let Some(path) = &args.output {
        if report.data.dims() == 1 {
            line_figure(&curves(&report, None), path)?;
        } else {
            surfaces(&surface_figure(&report, None), path)?;
        }
    }
    if let Some(path) = &args.gif {
        write_animation(&report, path)?;
    }

    let mut out = io::stdout().lock();
    if args.json {
        writeln!(out, "{}", to_json(&report, &config))?;
    } else {
        print_table(&mut out, &report, &config, args)?;
    }
    out.flush()?;
    Ok(())
}

/// The points: sampled from the formula, or read from `--data`.
fn load(args: &FitArgs, config: &FitConfig) -> anyhow::Result<FitData> {
    if let Some(path) = &args.data {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        return Ok(fit::parse_csv(&text, &path.display().to_string(), config)?);
    }
    let Some(source) = args.expression.as_deref() else {
        bail!("nothing to fit: give a formula (e.g. nabla fit 'sin(3*x)') or --data points.csv");
    };
    let formula = expr::parse(source).context("cannot parse the formula")?;
    Ok(fit::sample(&formula, config)?)
}

/// `f(x) = …` or `f(x, y) = …`, or the file's name.
fn describe(data: &FitData) -> String {
    if data.truth.is_some() {
        format!("f({}) = {}", data.variables.join(", "), data.source)
    } else {
        data.source.clone()
    }
}

/// The colour of model row `i`: the palette without grey (7), which the samples and the true
/// function use.
fn colour(i: usize) -> usize {
    [0, 1, 2, 3, 4, 5, 6, 8, 9][i % 9]
}

/// The y range to draw: the samples and the true function, with room around them (a wild fit
/// leaves the picture rather than squashing everything else).
fn y_range(report: &FitReport) -> (f64, f64) {
    let values = report.data.train.targets.iter().chain(report.truth.iter().flatten());
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let pad = 0.25 * (hi - lo).max(1e-6);
    (lo - pad, hi + pad)
}

/// One panel: the samples as dots, the true function dashed, and each model's curve — every
/// model's, or (`frame = Some(k)`) the MLPs' at their `k`-th snapshot.
fn curves(report: &FitReport, frame: Option<usize>) -> LineFigure {
    let xs = &report.grid.inputs;
    let data = &report.data;
    let mut series = vec![Series {
        label: format!("{} training points", data.train.len()),
        points: data.train.inputs.iter().copied().zip(data.train.targets.iter().copied()).collect(),
        color: 7,
        dashed: false,
        scatter: true,
    }];
    if let Some(truth) = &report.truth {
        let points = xs.iter().copied().zip(truth.iter().copied()).collect();
        series.push(Series { label: "true function".into(), points, color: 7, dashed: true, scatter: false });
    }
    let mut epoch = 0;
    for (i, m) in report.models.iter().enumerate() {
        let (label, predictions) = match frame {
            None => (format!("{} (test MSE {})", m.name, mse_text(m.test_mse)), &m.predictions),
            Some(k) => match m.frames.get(k) {
                Some(f) => {
                    epoch = f.epoch;
                    (format!("{} (train MSE {})", m.name, mse_text(f.train_mse)), &f.predictions)
                }
                None => continue,
            },
        };
        let points = xs.iter().copied().zip(predictions.iter().copied()).collect();
        series.push(Series { label, points, color: colour(i), dashed: false, scatter: false });
    }
    let title = match frame {
        None => format!("Fitting {} from {} noisy points", describe(data), data.train.len()),
        Some(_) => format!("MLPs learning {}: epoch {epoch}", describe(data)),
    };
    LineFigure {
        title,
        panels: vec![Panel {
            title: String::new(),
            x_label: "x".into(),
            y_label: "y".into(),
            series,
            log_x: false,
            log_y: false,
            y_range: Some(y_range(report)),
        }],
        width: 1000,
        height: 560,
    }
}

/// One heat map per model (and one for the true function), on one colour scale, with the
/// training points on each; `frame` as in [`curves`].
fn surface_figure(report: &FitReport, frame: Option<usize>) -> Surfaces {
    let data = &report.data;
    let mut panels = Vec::new();
    if let Some(truth) = &report.truth {
        panels.push(SurfacePanel { title: "true function".into(), values: truth.clone() });
    }
    let mut epoch = 0;
    for m in &report.models {
        match frame {
            None => panels.push(SurfacePanel {
                title: format!("{}: test MSE {}", m.name, mse_text(m.test_mse)),
                values: m.predictions.clone(),
            }),
            Some(k) => {
                if let Some(f) = m.frames.get(k) {
                    epoch = f.epoch;
                    panels.push(SurfacePanel {
                        title: format!("{}: train MSE {}", m.name, mse_text(f.train_mse)),
                        values: f.predictions.clone(),
                    });
                }
            }
        }
    }
    let columns = panels.len().min(4);
    let rows = panels.len().div_ceil(columns.max(1)) as u32;
    let title = match frame {
        None => format!("Fitting {} from {} noisy points", describe(data), data.train.len()),
        Some(_) => format!("MLPs learning {}: epoch {epoch}", describe(data)),
    };
    Surfaces {
        title,
        x_label: "x".into(),
        y_label: "y".into(),
        x_range: data.ranges[0],
        y_range: data.ranges[1],
        cols: report.grid.cols,
        rows: report.grid.rows,
        panels,
        columns,
        value_range: y_range(report),
        value_label: "f(x, y)".into(),
        points: data.train.inputs.chunks_exact(2).map(|p| (p[0], p[1])).collect(),
        width: 110 + 320 * columns as u32,
        height: 60 + 300 * rows,
    }
}

fn write_animation(report: &FitReport, path: &Path) -> anyhow::Result<()> {
    let frames = report.models.iter().map(|m| m.frames.len()).max().unwrap_or(0);
    if frames == 0 {
        bail!("--gif animates the MLPs' training, and there are none (--hidden is empty)");
    }
    let delay = 120;
    if report.data.dims() == 1 {
        let figures: Vec<LineFigure> = (0..frames).map(|k| curves(report, Some(k))).collect();
        line_animation(&figures, delay, path)?;
    } else {
        let figures: Vec<Surfaces> = (0..frames).map(|k| surface_figure(report, Some(k))).collect();
        surfaces_animation(&figures, delay, path)?;
    }
    Ok(())
}

/// An error to four significant digits.
fn mse_text(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    if v != 0.0 && !(1e-3..1e4).contains(&v.abs()) {
        return format!("{v:.3e}");
    }
    let digits = (3 - v.abs().log10().floor() as i32).clamp(0, 6) as usize;
    format!("{v:.digits$}")
}

fn to_json(report: &FitReport, config: &FitConfig) -> serde_json::Value {
    let data = &report.data;
    let models: Vec<_> = report
        .models
        .iter()
        .map(|m| {
            let (kind, degree, hidden) = match m.kind {
                ModelKind::Linear => ("linear", Some(1), None),
                ModelKind::Polynomial { degree } => ("polynomial", Some(degree), None),
                ModelKind::Mlp { hidden } => ("mlp", None, Some(hidden)),
            };
            json!({
                "name": m.name, "kind": kind, "degree": degree, "hidden": hidden, "l2": m.l2,
                "params": m.params, "train_mse": m.train_mse, "test_mse": m.test_mse,
            })
        })
        .collect();
    json!({
        "source": data.source,
        "variables": data.variables,
        "ranges": data.ranges.iter().map(|r| [r.0, r.1]).collect::<Vec<_>>(),
        "train_points": data.train.len(),
        "test_points": data.test.len(),
        "noise": if data.truth.is_some() { Some(config.noise) } else { None },
        "seed": config.seed,
        "epochs": config.epochs,
        // Through its shortest text, so 0.01f32 reads 0.01 rather than 0.009999999776…
        "lr": config.lr.to_string().parse::<f64>().unwrap_or(f64::from(config.lr)),
        "models": models,
    })
}

fn print_table(out: &mut impl Write, report: &FitReport, config: &FitConfig, args: &FitArgs) -> io::Result<()> {
    let data = &report.data;
    let range = data.ranges.iter().map(|(lo, hi)| format!("[{lo}, {hi}]")).collect::<Vec<_>>().join(" × ");
    writeln!(out, "{} on {range}", describe(data))?;
    if data.truth.is_some() {
        writeln!(
            out,
            "{} training points (noise σ = {}), {} test points, seed {}; MLPs: tanh, Adam lr {}, {} epochs",
            data.train.len(),
            config.noise,
            data.test.len(),
            config.seed,
            config.lr,
            config.epochs
        )?;
    } else {
        writeln!(
            out,
            "{} training points, {} held-out test points, seed {}; MLPs: tanh, Adam lr {}, {} epochs",
            data.train.len(),
            data.test.len(),
            config.seed,
            config.lr,
            config.epochs
        )?;
    }
    writeln!(out)?;
    let width = report.models.iter().map(|m| m.name.chars().count()).max().unwrap_or(5).max(5);
    writeln!(out, "{:<width$}  {:>7}  {:>10}  {:>10}", "model", "params", "train MSE", "test MSE")?;
    for m in &report.models {
        let pad = width - m.name.chars().count();
        writeln!(
            out,
            "{}{:pad$}  {:>7}  {:>10}  {:>10}",
            m.name,
            "",
            m.params,
            mse_text(m.train_mse),
            mse_text(m.test_mse)
        )?;
    }
    if let Some(best) =
        report.models.iter().filter(|m| m.test_mse.is_finite()).min_by(|a, b| a.test_mse.total_cmp(&b.test_mse))
    {
        writeln!(out)?;
        write!(out, "lowest test MSE: {}", best.name)?;
        if data.truth.is_some() && config.noise > 0.0 {
            write!(out, " (the noise alone costs σ² = {})", mse_text(config.noise * config.noise))?;
        }
        writeln!(out)?;
    }
    for (what, path) in [("picture", &args.output), ("animation", &args.gif)] {
        if let Some(p) = path {
            writeln!(out, "wrote the {what} to {}", p.display())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_numbers() {
        assert_eq!(range("-2..2"), Ok((-2.0, 2.0)));
        assert_eq!(range(" 0.5 .. 3"), Ok((0.5, 3.0)));
        for bad in ["2..-2", "1..1", "-2", "a..b", "0..inf"] {
            assert!(range(bad).unwrap_err().contains("LOW..HIGH"), "{bad}");
        }
        assert_eq!(mse_text(0.012345), "0.01235");
        assert_eq!(mse_text(1.5), "1.500");
        assert_eq!(mse_text(2e-5), "2.000e-5");
    }
}
