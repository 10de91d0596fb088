//! `nabla xor`: train the lecture's XOR network, one seed or many.

use std::io::Write;

use anyhow::Result;
use nabla::{Activation, Init};
use nabla_train::xor::{self, XorConfig, X, Y};
use serde_json::json;

use crate::commands::parse;
use crate::commands::tracking::{self, TrackArgs};

/// Flags of `nabla xor`.
#[derive(Debug, clap::Args)]
pub struct XorArgs {
    /// Passes over the four examples.
    #[arg(long, default_value_t = 10_000, value_parser = parse::non_negative_u64, allow_hyphen_values = true)]
    pub epochs: u64,
    /// SGD learning rate (> 0).
    #[arg(long, default_value_t = 0.5, value_parser = parse::positive_f32, allow_hyphen_values = true)]
    pub lr: f32,
    /// Random seed: the initial weights are numpy's `default_rng(seed).uniform(-1, 1, 9)`.
    #[arg(long, default_value_t = 1, value_parser = parse::non_negative_u64, allow_hyphen_values = true)]
    pub seed: u64,
    /// Width of the hidden layer.
    #[arg(long, default_value_t = 2, value_parser = parse::positive_usize, allow_hyphen_values = true)]
    pub hidden: usize,
    /// Hidden activation: identity, sigmoid, tanh, relu, leaky-relu[:alpha], elu[:alpha].
    #[arg(long, default_value = "sigmoid", value_parser = parse::activation)]
    pub hidden_activation: Activation,
    /// Output activation (same choices).
    #[arg(long, default_value = "tanh", value_parser = parse::activation)]
    pub output_activation: Activation,
    /// Initialiser: uniform[:limit], xavier, he, he-uniform.
    #[arg(long, default_value = "uniform", value_parser = parse::init)]
    pub init: Init,
    /// Train N seeds (seed, seed+1, …) and report how many solve XOR.
    #[arg(long, value_parser = parse::positive_u64, allow_hyphen_values = true)]
    pub seeds: Option<u64>,
    /// Threads for `--seeds` (default: all cores). Results do not depend on it.
    #[arg(long, value_parser = parse::positive_usize, allow_hyphen_values = true)]
    pub threads: Option<usize>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub track: TrackArgs,
}

/// Runs `nabla xor`.
pub fn run(args: &XorArgs) -> Result<()> {
    let config = XorConfig {
        epochs: args.epochs,
        lr: args.lr,
        hidden: args.hidden,
        hidden_activation: args.hidden_activation,
        output_activation: args.output_activation,
        init: args.init,
    };
    let tracked = json!({
        "experiment": "xor",
        "epochs": config.epochs,
        "lr": config.lr,
        "hidden": config.hidden,
        "hidden_activation": config.hidden_activation.to_string(),
        "output_activation": config.output_activation.to_string(),
        "init": config.init.to_string(),
        "seed": args.seed,
        "seeds": args.seeds.unwrap_or(1),
    });
    let threads = args.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let meta = nabla_track::RunMeta::detect().with_threads(threads);
    let mut run = tracking::start(&args.track, "xor", tracked, meta, false);
    let mut out = std::io::stdout().lock();
    match args.seeds {
        Some(count) => {
            let started = std::time::Instant::now();
            let result = xor::success_rate(&config, args.seed, count, threads);
            tracking::with_run(&mut run, |r| {
                r.summary("success_rate", result.rate())?;
                r.summary("successes", result.successes)?;
                r.summary("mean_final_loss", result.mean_final_loss)
            });
            if args.json {
                let value = json!({
                    "seeds": count,
                    "epochs": config.epochs,
                    "lr": config.lr,
                    "success_rate": result.rate(),
                    "mean_final_loss": result.mean_final_loss,
                });
                writeln!(out, "{value}")?;
            } else {
                writeln!(out, "{}", describe(&config))?;
                writeln!(
                    out,
                    "seeds {}..{}: {} of {} solved XOR ({:.1}%), mean final loss {:.6} ({:.1} s)",
                    args.seed,
                    args.seed + count - 1,
                    result.successes,
                    count,
                    100.0 * result.rate(),
                    result.mean_final_loss,
                    started.elapsed().as_secs_f64()
                )?;
            }
        }
        None => {
            // The loss curve goes to the tracker, one point per epoch (up to 2,000 points).
            let every = (config.epochs / 2000).max(1);
            let outcome = xor::train_with(&config, args.seed, |epoch, loss| {
                if epoch % every == 0 || epoch == config.epochs {
                    tracking::with_run(&mut run, |r| r.log(epoch, &[("train/loss", loss)]));
                }
            });
            tracking::with_run(&mut run, |r| {
                r.summary("final_loss", outcome.final_loss)?;
                r.summary("solved", outcome.solved)?;
                r.summary("predictions", json!(outcome.predictions))
            });
            if args.json {
                let value = json!({
                    "seed": args.seed,
                    "epochs": config.epochs,
                    "lr": config.lr,
                    "final_loss": outcome.final_loss,
                    "predictions": outcome.predictions,
                    "solved": outcome.solved,
                });
                writeln!(out, "{value}")?;
            } else {
                writeln!(out, "{}, seed {}", describe(&config), args.seed)?;
                writeln!(out)?;
                writeln!(out, "  x1  x2 | target | output")?;
                writeln!(out, "  ------------------------")?;
                for ((x, t), y) in X.iter().zip(Y).zip(outcome.predictions) {
                    let mark = if (y > 0.5) == (t > 0.5) { "✓" } else { "✗" };
                    writeln!(out, "  {:>2}  {:>2} | {:>6} | {:.4} {mark}", x[0], x[1], t, y)?;
                }
                writeln!(out)?;
                let verdict = if outcome.solved {
                    "solved XOR".to_string()
                } else {
                    "did not solve XOR (stuck on a plateau: try more --epochs, --hidden 3, or another --seed; \
                     `--seeds 100` shows how often it works)"
                        .to_string()
                };
                writeln!(out, "final loss {:.6}: {verdict}", outcome.final_loss)?;
            }
        }
    }
    tracking::finish(run, nabla_track::EndStatus::Finished);
    Ok(())
}

fn describe(config: &XorConfig) -> String {
    format!(
        "XOR 2-{}-1 ({} hidden, {} output), {} init, SGD lr {}, {} epochs",
        config.hidden, config.hidden_activation, config.output_activation, config.init, config.lr, config.epochs
    )
}
