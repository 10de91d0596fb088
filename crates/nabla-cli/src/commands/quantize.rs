//! `nabla quantize CKPT --to int8|bf16`: an f32 checkpoint's weights as int8 (per-channel
//! scales; 7-bit activations at run time) or bf16, written as a safetensors file that
//! `nabla eval` and `nabla predict` read, with the test accuracy before and after.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use nabla::quant::{Precision, QuantizedMlp};
use nabla_train::checkpoint::describe_network;
use nabla_train::quantize::{self, ModelFile, QuantizedCheckpoint, Runner};
use serde_json::json;

use super::eval::{check_data_fits, load_data};
use super::parse;

/// The number formats `--to` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum To {
    /// 8-bit integer weights with a scale per output; activations quantised to 7 bits per row.
    Int8,
    /// bfloat16 weights (half the bytes of f32; computed in f32).
    Bf16,
}

impl From<To> for Precision {
    fn from(to: To) -> Self {
        match to {
            To::Int8 => Precision::Int8,
            To::Bf16 => Precision::Bf16,
        }
    }
}

/// Flags of `nabla quantize`.
#[derive(Debug, clap::Args)]
pub struct QuantizeArgs {
    /// The f32 checkpoint: a .safetensors file written by `nabla train`.
    pub checkpoint: PathBuf,
    /// The weights' number format.
    #[arg(long, value_enum)]
    pub to: To,
    /// Where to write the quantised model (default: beside CKPT, NAME.int8.safetensors or
    /// NAME.bf16.safetensors).
    #[arg(short, long, value_name = "OUT")]
    pub out: Option<PathBuf>,
    /// Look for the data in DIR first (then $NABLA_DATA, then the user data directory).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Do not measure the test accuracy before and after (no data needed).
    #[arg(long)]
    pub no_eval: bool,
    /// Examples per forward pass while measuring.
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = parse::positive_usize)]
    pub batch_size: usize,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `nabla quantize`.
pub fn run(args: &QuantizeArgs) -> anyhow::Result<()> {
    let source = &args.checkpoint;
    let ckpt = match ModelFile::load(source)? {
        ModelFile::F32(ckpt) => ckpt,
        ModelFile::Quantized(q) => bail!(
            "{}: already quantised ({}); quantise the f32 checkpoint it came from ({})",
            source.display(),
            q.model.precision(),
            q.source
        ),
    };
    let precision = Precision::from(args.to);
    let out = args.out.clone().unwrap_or_else(|| default_output(source, precision));
    if same_file(&out, source) {
        bail!("{}: the output would overwrite the f32 checkpoint; choose another path with -o", out.display());
    }
    let mut q = QuantizedCheckpoint::from_checkpoint(&ckpt, precision, source)?;

    let accuracies = if args.no_eval {
        None
    } else {
        if let Some(pre) = ckpt.table() {
            bail!(
                "{}: a table model (trained on {}, target `{}`): quantise it with --no-eval, then score it with `nabla eval {} table.csv`",
                source.display(),
                ckpt.dataset,
                pre.target.column(),
                out.display()
            );
        }
        let split = load_data(&ckpt.dataset, args.data.as_deref())
            .with_context(|| format!("measuring the accuracy on {} (or pass --no-eval)", ckpt.dataset))?;
        let input = check_data_fits(source, &ckpt, &ckpt.dataset, &split.test)?;
        let norm = input.normalizer(split.test.max_value);
        let before =
            quantize::accuracy(&mut Runner::f32(&ckpt.network, args.batch_size), &split.test, &norm, args.batch_size)?;
        let after =
            quantize::accuracy(&mut Runner::quantized(&q.model, args.batch_size), &split.test, &norm, args.batch_size)?;
        q.metrics = json!({
            "test_acc_f32": before,
            "test_acc": after,
            "accuracy_drop_points": 100.0 * (before - after),
            "test_examples": split.test.len,
        });
        Some((before, after, split.test.len))
    };
    quantize::save(&out, &q)?;

    let f32_bytes = 4 * q.spec().sizes.windows(2).map(|w| w[0] * w[1]).sum::<usize>();
    let kernel = QuantizedMlp::kernel_name(precision);
    let mut stdout = io::stdout().lock();
    if args.json {
        let doc = json!({
            "checkpoint": source.display().to_string(),
            "output": out.display().to_string(),
            "precision": precision.to_string(),
            "dataset": ckpt.dataset,
            "weight_bytes_f32": f32_bytes,
            "weight_bytes": q.model.weight_bytes(),
            "kernel": kernel,
            "test_acc_f32": accuracies.map(|a| a.0),
            "test_acc": accuracies.map(|a| a.1),
            "accuracy_drop_points": accuracies.map(|a| 100.0 * (a.0 - a.1)),
        });
        writeln!(stdout, "{doc}")?;
    } else {
        writeln!(stdout, "checkpoint  {} ({}, f32)", source.display(), describe_network(&ckpt.spec()))?;
        writeln!(stdout, "quantised   {} ({precision}, kernel {kernel})", out.display())?;
        writeln!(
            stdout,
            "weights     {} → {} bytes{}",
            f32_bytes,
            q.model.weight_bytes(),
            if precision == Precision::Int8 { " (with the per-output scales)" } else { "" }
        )?;
        match accuracies {
            Some((before, after, n)) => writeln!(
                stdout,
                "accuracy    {} test split ({n} examples): f32 {:.2}%  {precision} {:.2}%  (drop {:.2} points)",
                ckpt.dataset,
                100.0 * before,
                100.0 * after,
                100.0 * (before - after)
            )?,
            None => writeln!(stdout, "accuracy    not measured (--no-eval)")?,
        }
    }
    stdout.flush()?;
    Ok(())
}

/// `runs/mnist/best.safetensors` → `runs/mnist/best.int8.safetensors`.
fn default_output(source: &Path, precision: Precision) -> PathBuf {
    let stem = source.file_stem().map_or_else(|| "model".into(), |s| s.to_string_lossy().into_owned());
    source.with_file_name(format!("{stem}.{precision}.safetensors"))
}

/// Whether two paths name the same file (by canonical path where both exist).
fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_output_sits_beside_the_source() {
        assert_eq!(
            default_output(Path::new("runs/mnist/best.safetensors"), Precision::Int8),
            PathBuf::from("runs/mnist/best.int8.safetensors")
        );
        assert_eq!(default_output(Path::new("m"), Precision::Bf16), PathBuf::from("m.bf16.safetensors"));
    }
}
