//! `nabla perceptron`: the perceptron learning rule on AND, OR, NAND and XOR — epochs to
//! convergence, XOR's endless cycle and the reason for it, and the separating line per
//! epoch as a picture (`--plot`) or an animation (`--gif`).

use std::io::{self, Write};
use std::path::PathBuf;

use nabla::perceptron::{self, Gate, Outcome, Perceptron, Training};
use nabla_plot::graph::format_number;
use nabla_plot::perceptron::{perceptron_animation, perceptron_lines, PerceptronFigure, PerceptronPanel};
use serde_json::json;

use super::parse;

/// Flags of `nabla perceptron`.
#[derive(Debug, clap::Args)]
pub struct PerceptronArgs {
    /// The data sets: and, or, nand, xor (all four when none is named).
    #[arg(value_name = "GATE", value_parser = gate)]
    pub gates: Vec<Gate>,
    /// The learning rate η.
    #[arg(long, value_name = "F", default_value_t = 1.0, value_parser = positive_f64)]
    pub lr: f64,
    /// Stop after this many epochs if neither convergence nor a cycle has shown.
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = parse::positive_usize)]
    pub epochs: usize,
    /// Draw the points and every epoch's separating line to FILE (.svg or .png).
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    /// Animate the separating line, one frame per epoch, to FILE (.gif).
    #[arg(long, value_name = "FILE")]
    pub gif: Option<PathBuf>,
    /// Milliseconds per frame of the animation.
    #[arg(long, value_name = "MS", default_value_t = 700, value_parser = parse::positive_u64)]
    pub delay: u64,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

fn gate(s: &str) -> Result<Gate, String> {
    s.parse().map_err(|e: nabla::Error| e.to_string())
}

fn positive_f64(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("expected a finite number > 0, got `{s}`")),
    }
}

/// Runs `nabla perceptron`.
pub fn run(args: &PerceptronArgs) -> anyhow::Result<()> {
    let gates: Vec<Gate> = if args.gates.is_empty() { Gate::ALL.to_vec() } else { args.gates.clone() };
    let mut runs = Vec::with_capacity(gates.len());
    for &g in &gates {
        runs.push((g, perceptron::train(&g.examples(), Perceptron::default(), args.lr, args.epochs)?));
    }

    let figure = || PerceptronFigure {
        title: format!("perceptron learning rule, η = {}", format_number(args.lr)),
        panels: runs.iter().map(|(g, t)| panel(*g, t)).collect(),
        upto: None,
    };
    if let Some(path) = &args.plot {
        perceptron_lines(&figure(), path)?;
    }
    if let Some(path) = &args.gif {
        let delay = u32::try_from(args.delay).unwrap_or(u32::MAX);
        perceptron_animation(&figure(), delay, path)?;
    }

    let mut out = io::stdout().lock();
    if args.json {
        let gates: Vec<_> = runs
            .iter()
            .map(|(g, t)| {
                let p = t.last();
                let (outcome, epoch, cycle) = match t.outcome {
                    Outcome::Converged { epoch } => ("converged", Some(epoch), None),
                    Outcome::Cycle { first, repeat } => ("cycle", None, Some([first, repeat])),
                    Outcome::EpochLimit => ("epoch-limit", None, None),
                };
                json!({
                    "gate": g.name(),
                    "outcome": outcome,
                    "converged_epoch": epoch,
                    "cycle": cycle,
                    "w": p.w,
                    "b": p.b,
                    "mistakes": t.epochs.iter().map(|r| r.mistakes).collect::<Vec<_>>(),
                })
            })
            .collect();
        writeln!(out, "{}", json!({"lr": args.lr, "gates": gates}))?;
    } else {
        print_text(&mut out, args, &runs)?;
    }
    out.flush()?;
    Ok(())
}

fn panel(g: Gate, t: &Training) -> PerceptronPanel {
    let title = match t.outcome {
        Outcome::Converged { epoch } => format!("{g}: converged at epoch {epoch}"),
        Outcome::Cycle { .. } => format!("{g}: cycles, never converges"),
        Outcome::EpochLimit => format!("{g}: not converged"),
    };
    PerceptronPanel {
        title,
        points: g.examples().iter().map(|e| (e.x[0], e.x[1], u8::from(e.target > 0.5))).collect(),
        lines: t.epochs.iter().map(|r| (r.perceptron.w[0], r.perceptron.w[1], r.perceptron.b)).collect(),
    }
}

fn weights(p: Perceptron) -> String {
    format!("w = ({}, {}), b = {}", format_number(p.w[0]), format_number(p.w[1]), format_number(p.b))
}

fn print_text(out: &mut impl Write, args: &PerceptronArgs, runs: &[(Gate, Training)]) -> io::Result<()> {
    writeln!(out, "perceptron: y = 1 if w·x + b > 0 else 0; weights start at 0; examples in truth-table order")?;
    writeln!(out, "rule: w ← w + η(t − y)x, b ← b + η(t − y), η = {}", format_number(args.lr))?;
    writeln!(out)?;
    for (g, t) in runs {
        let mistakes: Vec<String> = t.epochs.iter().map(|r| r.mistakes.to_string()).collect();
        let shown = if mistakes.len() > 12 {
            format!("{} … {}", mistakes[..6].join(" "), mistakes[mistakes.len() - 3..].join(" "))
        } else {
            mistakes.join(" ")
        };
        let label = g.to_string();
        match t.outcome {
            Outcome::Converged { epoch } => {
                writeln!(out, "{label:<5} converged at epoch {epoch}: {}", weights(t.last()))?;
            }
            Outcome::Cycle { first, repeat } => {
                let when = if first == 0 { "the start".to_string() } else { format!("epoch {first}") };
                writeln!(
                    out,
                    "{label:<5} never converges: the weights after epoch {repeat} equal those after {when} ({}), so it cycles forever (period {} epoch{}), never without a mistake",
                    weights(t.last()),
                    repeat - first,
                    if repeat - first == 1 { "" } else { "s" }
                )?;
            }
            Outcome::EpochLimit => {
                writeln!(
                    out,
                    "{label:<5} no epoch without a mistake in {} epochs: {} (raise --epochs)",
                    t.epochs.len(),
                    weights(t.last())
                )?;
            }
        }
        writeln!(out, "      mistakes per epoch: {shown}")?;
    }
    if runs.iter().any(|(g, t)| *g == Gate::Xor && !matches!(t.outcome, Outcome::Converged { .. })) {
        writeln!(out)?;
        writeln!(out, "Why XOR never converges: a line w₁x₁ + w₂x₂ + b = 0 that separates it would need")?;
        writeln!(out, "  (0,1) → 1:  w₂ + b > 0")?;
        writeln!(out, "  (1,0) → 1:  w₁ + b > 0        adding these two: w₁ + w₂ + 2b > 0")?;
        writeln!(out, "  (0,0) → 0:  b ≤ 0")?;
        writeln!(out, "  (1,1) → 0:  w₁ + w₂ + b ≤ 0   adding these two: w₁ + w₂ + 2b ≤ 0")?;
        writeln!(out, "which contradict each other: no line separates XOR's two classes. The perceptron")?;
        writeln!(out, "convergence theorem promises an end only for separable data; a hidden layer")?;
        writeln!(out, "(`nabla xor`) is what solves XOR.")?;
    }
    for (what, path) in [("picture", &args.plot), ("animation", &args.gif)] {
        if let Some(p) = path {
            writeln!(out, "wrote the {what} to {}", p.display())?;
        }
    }
    Ok(())
}
