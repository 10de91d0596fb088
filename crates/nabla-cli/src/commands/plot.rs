//! `nabla plot KIND …`: pictures from tracked runs, sweeps and checkpoints, as SVG or PNG
//! (by the extension of `-o`). The numbers come from the tracker's store and from
//! checkpoints; `nabla-plot` draws them.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use nabla::loss::argmax_rows;
use nabla::{MatRef, Mlp, Network, NetworkWorkspace, Workspace};
use nabla_data::{BatchBuffers, Dataset};
use nabla_plot::{Boundary, Confusion, ImageGrid, LabeledPoint, Tone};
use nabla_report::{curves_figure, sweep_figure};
use nabla_track::{RunRecord, Store};
use nabla_train::checkpoint::{self, Checkpoint};
use nabla_train::metrics::ConfusionMatrix;
use nabla_train::xor::{self, XorConfig};
use serde_json::Value;

use crate::commands::eval::{check_data_fits, image_input, load_data};
use crate::commands::parse;

/// Flags of `nabla plot`.
#[derive(Debug, clap::Args)]
pub struct PlotArgs {
    #[command(subcommand)]
    #[allow(missing_docs)]
    pub kind: PlotKind,
}

/// The flags every plot shares.
#[derive(Debug, Clone, clap::Args)]
pub struct Common {
    /// The picture to write: .svg or .png (.gif for `boundary --every`).
    #[arg(short, long, value_name = "FILE")]
    pub out: PathBuf,
    /// Where the tracker keeps its runs.
    #[arg(long, value_name = "DIR")]
    pub tracking_dir: Option<PathBuf>,
}

/// What to draw.
#[derive(Debug, clap::Subcommand)]
pub enum PlotKind {
    /// Training and validation loss and accuracy against epoch, for one or more runs.
    Curves {
        /// Run ids (or unique prefixes).
        #[arg(required = true)]
        runs: Vec<String>,
        #[command(flatten)]
        #[allow(missing_docs)]
        common: Common,
    },
    /// A sweep's final metric against a swept value, one line per value of the other keys.
    Sweep {
        /// The sweep id (printed by `nabla sweep`).
        sweep: String,
        /// The swept key on the x axis (default: the sweep's first key).
        #[arg(long)]
        x: Option<String>,
        /// The metric on the y axis: its last value in each run (default: the sweep's metric).
        #[arg(long)]
        y: Option<String>,
        /// A logarithmic x axis (for learning rates).
        #[arg(long)]
        log_x: bool,
        #[command(flatten)]
        #[allow(missing_docs)]
        common: Common,
    },
    /// A 2-input model's output over the input plane with the data points (XOR runs).
    Boundary {
        /// A tracked `nabla xor` run id, or a checkpoint of a 2-input model.
        source: String,
        /// Draw an animation (.gif): one frame every N epochs of the run's training.
        #[arg(long, value_name = "N", value_parser = parse::positive_u64)]
        every: Option<u64>,
        #[command(flatten)]
        #[allow(missing_docs)]
        common: Common,
    },
    /// The first layer's weights, one image per hidden unit.
    Weights {
        /// A checkpoint written by `nabla train`.
        checkpoint: PathBuf,
        /// How many hidden units to show.
        #[arg(long, default_value_t = 64, value_parser = parse::positive_usize)]
        count: usize,
        #[command(flatten)]
        #[allow(missing_docs)]
        common: Common,
    },
    /// The confusion matrix of a checkpoint on a data set's test split.
    Confusion {
        /// A checkpoint written by `nabla train`.
        checkpoint: PathBuf,
        /// The data set: mnist, fashion-mnist or digits.
        dataset: String,
        /// Where data sets are looked for.
        #[arg(long, value_name = "DIR")]
        data: Option<PathBuf>,
        #[command(flatten)]
        #[allow(missing_docs)]
        common: Common,
    },
    /// The test images the checkpoint got most wrong, with true and predicted labels.
    Mistakes {
        /// A checkpoint written by `nabla train`.
        checkpoint: PathBuf,
        /// The data set: mnist, fashion-mnist or digits.
        dataset: String,
        /// How many images.
        #[arg(long, default_value_t = 24, value_parser = parse::positive_usize)]
        count: usize,
        /// Where data sets are looked for.
        #[arg(long, value_name = "DIR")]
        data: Option<PathBuf>,
        #[command(flatten)]
        #[allow(missing_docs)]
        common: Common,
    },
}

/// Runs `nabla plot`.
pub fn run(args: &PlotArgs) -> Result<()> {
    let out = match &args.kind {
        PlotKind::Curves { runs, common } => {
            let store = open_store(common)?;
            nabla_plot::line_figure(&curves_figure(&store, runs)?, &common.out)?;
            &common.out
        }
        PlotKind::Sweep { sweep, x, y, log_x, common } => {
            let store = open_store(common)?;
            let dir = nabla_track::tracking_dir(common.tracking_dir.as_deref())?;
            let def = nabla_sweep::load_def(&dir, sweep)?;
            nabla_plot::line_figure(&sweep_figure(&store, &def, x.as_deref(), y.as_deref(), *log_x)?, &common.out)?;
            &common.out
        }
        PlotKind::Boundary { source, every, common } => {
            boundary(source, *every, common)?;
            &common.out
        }
        PlotKind::Weights { checkpoint, count, common } => {
            let ckpt = checkpoint::load(checkpoint)?;
            nabla_plot::image_grid(&weights_grid(&ckpt, checkpoint, *count)?, &common.out)?;
            &common.out
        }
        PlotKind::Confusion { checkpoint, dataset, data, common } => {
            let (ckpt, ds) = checkpoint_and_test(checkpoint, dataset, data.as_deref())?;
            let p = predict(&ckpt, &ds)?;
            let mut m = ConfusionMatrix::new(ckpt.classes.len());
            for (t, (c, _)) in ds.labels.iter().zip(&p) {
                m.add(usize::from(*t), *c);
            }
            let figure = Confusion {
                title: format!("{} test set: accuracy {:.2}% ({} images)", dataset, 100.0 * m.accuracy(), ds.len),
                classes: ckpt.classes.clone(),
                counts: m.rows(),
                size: 560,
            };
            nabla_plot::confusion(&figure, &common.out)?;
            &common.out
        }
        PlotKind::Mistakes { checkpoint, dataset, count, data, common } => {
            let (ckpt, ds) = checkpoint_and_test(checkpoint, dataset, data.as_deref())?;
            nabla_plot::image_grid(&mistakes_grid(&ckpt, &ds, dataset, *count)?, &common.out)?;
            &common.out
        }
    };
    #[allow(clippy::print_stdout)]
    {
        println!("wrote {}", out.display());
    }
    Ok(())
}

fn open_store(common: &Common) -> Result<Store> {
    let dir = nabla_track::tracking_dir(common.tracking_dir.as_deref())?;
    Ok(Store::open_read_only(&dir)?)
}

/// The XOR settings and seed a tracked `nabla xor` (or xor sweep) run was trained with.
fn xor_from_run(record: &RunRecord) -> Result<(XorConfig, u64)> {
    let c = &record.config;
    if c.get("experiment").and_then(Value::as_str) != Some("xor") {
        bail!("run {} is not an XOR run (boundary needs a 2-input model: an xor run or a checkpoint)", record.id);
    }
    if c.get("seeds").and_then(Value::as_u64).unwrap_or(1) > 1 {
        bail!("run {} trained many seeds (--seeds): it kept no single network to draw", record.id);
    }
    let text =
        |k: &str| c.get(k).and_then(Value::as_str).ok_or_else(|| anyhow!("run {}: config has no {k}", record.id));
    let num = |k: &str| c.get(k).and_then(Value::as_f64).ok_or_else(|| anyhow!("run {}: config has no {k}", record.id));
    let config = XorConfig {
        epochs: num("epochs")? as u64,
        lr: num("lr")? as f32,
        hidden: num("hidden")? as usize,
        hidden_activation: parse::activation(text("hidden_activation")?).map_err(anyhow::Error::msg)?,
        output_activation: parse::activation(text("output_activation")?).map_err(anyhow::Error::msg)?,
        init: parse::init(text("init")?).map_err(anyhow::Error::msg)?,
    };
    Ok((config, num("seed")? as u64))
}

/// The model's output over `[-0.25, 1.25]²` with the XOR points.
fn surface(mlp: &Mlp, title: String) -> Result<Boundary> {
    let n = 101;
    let (lo, hi) = (-0.25, 1.25);
    let mut inputs = Vec::with_capacity(n * n * 2);
    for r in 0..n {
        for c in 0..n {
            let at = |i: usize| (lo + (hi - lo) * i as f64 / (n - 1) as f64) as f32;
            inputs.extend([at(c), at(r)]);
        }
    }
    let mut ws = Workspace::new(mlp.spec(), n * n);
    let out = mlp.forward(MatRef::new(&inputs, n * n, 2)?, &mut ws)?;
    if out.cols() != 1 {
        bail!("boundary draws models with one output; this one has {}", out.cols());
    }
    let values = (0..n * n).map(|i| f64::from(out.get(i, 0))).collect();
    let points = xor::X
        .iter()
        .zip(xor::Y)
        .map(|(x, y)| LabeledPoint { x: f64::from(x[0]), y: f64::from(x[1]), class: y as usize })
        .collect();
    Ok(Boundary {
        title,
        x_label: "x1".into(),
        y_label: "x2".into(),
        x_range: (lo, hi),
        y_range: (lo, hi),
        cols: n,
        rows: n,
        values,
        value_range: (0.0, 1.0),
        value_label: "network output".into(),
        points,
        width: 680,
        height: 560,
    })
}

fn boundary(source: &str, every: Option<u64>, common: &Common) -> Result<()> {
    let path = Path::new(source);
    if path.extension().is_some_and(|e| e == "safetensors") || path.is_file() {
        if every.is_some() {
            bail!("--every needs a tracked XOR run (a checkpoint holds one moment of training)");
        }
        let ckpt = checkpoint::load(path)?;
        if ckpt.spec().inputs() != 2 {
            bail!("{}: boundary draws 2-input models; this one takes {} inputs", path.display(), ckpt.spec().inputs());
        }
        let title = format!("Decision surface of {}", path.display());
        let mlp = ckpt.network.require_plain("plot boundary").with_context(|| path.display().to_string())?;
        return Ok(nabla_plot::boundary(&surface(mlp, title)?, &common.out)?);
    }
    let store = open_store(common)?;
    let record = store.run(source)?;
    let (config, seed) = xor_from_run(&record)?;
    let short: String = record.id.chars().take(8).collect();
    // Training is deterministic for a seed: the run's network is trained again to the epoch
    // of each frame.
    let at = |epochs: u64| -> Result<Boundary> {
        let o = xor::train(&XorConfig { epochs, ..config.clone() }, seed);
        let title = format!("XOR, run {short}: epoch {epochs}, loss {:.4}", o.final_loss);
        surface(&o.mlp, title)
    };
    match every {
        None => Ok(nabla_plot::boundary(&at(config.epochs)?, &common.out)?),
        Some(n) => {
            let mut epochs: Vec<u64> = (0..=config.epochs).step_by(n as usize).collect();
            if epochs.last() != Some(&config.epochs) {
                epochs.push(config.epochs);
            }
            if epochs.len() > 300 {
                bail!("--every {n} makes {} frames; choose N ≥ {}", epochs.len(), config.epochs / 300 + 1);
            }
            let frames = epochs.into_iter().map(at).collect::<Result<Vec<_>>>()?;
            Ok(nabla_plot::boundary_animation(&frames, 150, &common.out)?)
        }
    }
}

fn weights_grid(ckpt: &Checkpoint, path: &Path, count: usize) -> Result<ImageGrid> {
    // The first dense layer: a plain net's `layers.0`, a residual net's `input`; either way
    // its weight `[out, in]` opens the parameter vector.
    let first = match &ckpt.network {
        Network::Plain(mlp) => {
            mlp.layers().first().copied().ok_or_else(|| anyhow!("{}: the model has no layers", path.display()))?
        }
        Network::Residual(net) => net.spec().input_layer(),
    };
    let input = image_input(path, &ckpt.input, &ckpt.dataset)?;
    let (h, w) = (input.height, input.width);
    if h * w != first.inputs {
        bail!("{}: the first layer takes {} inputs, not {h}×{w} images", path.display(), first.inputs);
    }
    let params = &ckpt.network.params()[..first.inputs * first.outputs];
    let shown = count.min(first.outputs);
    let images = (0..shown).map(|u| params[u * first.inputs..(u + 1) * first.inputs].to_vec()).collect();
    Ok(ImageGrid {
        title: format!("First-layer weights of {} ({shown} of {} units)", path.display(), first.outputs),
        image_width: w,
        image_height: h,
        images,
        captions: Vec::new(),
        cols: 8,
        tone: Tone::Signed,
        cell: if h * 4 <= 64 { 64 } else { h as u32 * 2 },
        note: "red: positive weight, blue: negative; each unit scaled to its own largest |w|".into(),
    })
}

fn checkpoint_and_test(path: &Path, dataset: &str, data: Option<&Path>) -> Result<(Checkpoint, Dataset)> {
    let ckpt = checkpoint::load(path)?;
    let split = load_data(dataset, data)?;
    check_data_fits(path, &ckpt, dataset, &split.test)?;
    Ok((ckpt, split.test))
}

/// Each test image's predicted class and the probability the model gave its true class.
fn predict(ckpt: &Checkpoint, ds: &Dataset) -> Result<Vec<(usize, f32)>> {
    let batch = 1000;
    let features = ds.features();
    let norm = ckpt.image_input().context("an image model (checked on loading)")?.normalizer(ds.max_value);
    let mut buffers = BatchBuffers::new(batch, features);
    let mut ws = NetworkWorkspace::new(&ckpt.spec(), batch);
    let mut predicted = vec![0u32; batch];
    let mut out = Vec::with_capacity(ds.len);
    let indices: Vec<usize> = (0..ds.len).collect();
    for chunk in indices.chunks(batch) {
        let n = chunk.len();
        let (x, y) = buffers.fill(ds, chunk, &norm);
        let labels: Vec<usize> = y.iter().map(|&l| usize::from(l)).collect();
        let logits = ckpt.network.forward(MatRef::new(x, n, features)?, &mut ws).context("running the model")?;
        argmax_rows(logits, &mut predicted[..n]);
        for (i, &t) in labels.iter().enumerate() {
            let mut row = logits.row(i).to_vec();
            nabla::softmax::softmax_in_place(&mut row);
            out.push((predicted[i] as usize, row[t]));
        }
    }
    Ok(out)
}

fn mistakes_grid(ckpt: &Checkpoint, ds: &Dataset, dataset: &str, count: usize) -> Result<ImageGrid> {
    let p = predict(ckpt, ds)?;
    let mut wrong: Vec<usize> = (0..ds.len).filter(|&i| p[i].0 != usize::from(ds.labels[i])).collect();
    if wrong.is_empty() {
        bail!("the model classifies every {dataset} test image right: no mistakes to show");
    }
    let total = wrong.len();
    // Worst first: the least probability given to the true class.
    wrong.sort_by(|&a, &b| p[a].1.total_cmp(&p[b].1));
    wrong.truncate(count);
    let max = f32::from(ds.max_value.max(1));
    let name = |c: usize| ckpt.classes.get(c).cloned().unwrap_or_else(|| c.to_string());
    Ok(ImageGrid {
        title: format!("The {} worst of {total} misclassified {dataset} test images", wrong.len()),
        image_width: ds.width,
        image_height: ds.height,
        images: wrong.iter().map(|&i| ds.image(i).iter().map(|&v| f32::from(v) / max).collect()).collect(),
        captions: wrong
            .iter()
            .map(|&i| format!("{} → {}, p {:.1}%", name(usize::from(ds.labels[i])), name(p[i].0), 100.0 * p[i].1))
            .collect(),
        cols: 8,
        tone: Tone::Ink,
        cell: 72,
        note: "caption: true class → predicted class, p: the probability the model gave the true class".into(),
    })
}
