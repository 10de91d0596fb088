//! `nabla landscape CKPT DATASET`: the loss around a checkpoint (a plain or a residual net)
//! along two filter-normalised random directions (Li et al. 2018), as CSV, JSON, a contour
//! plot, 1-D slices and (`--surface`) a 3-D surface, with a roughness number;
//! `nabla landscape A B DATASET --compare`: two nets' landscapes side by side on one colour
//! scale (the lecture's pair, without and with skip connections; in `landscape_compare.rs`);
//! `--trajectory DIR`: the training path in its PCA plane (`landscape_trajectory.rs`);
//! and `nabla landscape --interpolate A B DATASET`: the loss along the line between two models.

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use nabla::Rng;
use nabla_data::{BatchBuffers, Dataset};
use nabla_plot::graph::format_number;
use nabla_plot::landscape::{loss_slices, loss_surface, LossPanels, LossSurface};
use nabla_plot::landscape3d::loss_surfaces_3d;
use nabla_train::checkpoint::{self, describe_network, Checkpoint, InputSpec};
use nabla_train::landscape::{self, linspace, roughness, LossData, LossGrid, LossSlice, Roughness};
use serde_json::json;

use super::eval::{check_data_fits, load_data, SplitName};
use super::parse;

/// Picture format of the plots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PictureFormat {
    /// Scalable vector graphics.
    Svg,
    /// PNG bitmaps.
    Png,
}

/// Flags of `nabla landscape`.
#[derive(Debug, clap::Args)]
pub struct LandscapeArgs {
    /// CKPT DATASET: the checkpoint (.safetensors) and the data set (mnist, fashion-mnist,
    /// digits); with --compare, CKPT_A CKPT_B DATASET; with --interpolate, only DATASET.
    #[arg(value_name = "CKPT DATASET", num_args = 1..=3, required = true)]
    pub positional: Vec<String>,
    /// Two checkpoints' landscapes side by side (e.g. a plain and a residual deep net): the
    /// same directions method, grid and examples, contour plots on one colour scale.
    #[arg(long, conflicts_with = "interpolate")]
    pub compare: bool,
    /// Also draw the landscape as a 3-D surface from a fixed viewpoint (surface.EXT; with
    /// --compare, OUTPUT's name with `-surface` added).
    #[arg(long, conflicts_with = "interpolate")]
    pub surface: bool,
    /// With --compare: the picture of the pair (default DIR/compare.EXT; the format from its
    /// extension, .png or .svg).
    #[arg(short = 'o', long, value_name = "FILE", requires = "compare")]
    pub output: Option<PathBuf>,
    /// Instead of random directions: the optimiser's path, from the epoch-K.safetensors in DIR
    /// (`nabla train --save-every N --out DIR`) to CKPT, projected on the first two PCA
    /// directions of those weights, over the loss in that plane (DIR/trajectory.EXT).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["compare", "interpolate", "surface"])]
    pub trajectory: Option<PathBuf>,
    /// Instead of the 2-D landscape: the loss along the line from checkpoint A (α = 0) to
    /// checkpoint B (α = 1).
    #[arg(long, num_args = 2, value_names = ["CKPT_A", "CKPT_B"])]
    pub interpolate: Option<Vec<PathBuf>>,
    /// Look for the data in DIR first (then $NABLA_DATA, then the user data directory).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Which split to measure the loss on.
    #[arg(long, value_enum, default_value_t = SplitName::Train)]
    pub split: SplitName,
    /// Measure the loss on N examples drawn at random from the split (all if it has fewer).
    #[arg(long, value_name = "N", default_value_t = 2000, value_parser = parse::positive_usize)]
    pub samples: usize,
    /// Grid points per axis (odd, so the checkpoint is the centre): N×N points in 2-D.
    /// Default 51; 41 with --interpolate (steps of 0.05, so A and B are points).
    #[arg(long, value_name = "N", value_parser = odd_steps)]
    pub steps: Option<usize>,
    /// The range of α (and β): LO,HI. Default -1,1; -0.5,1.5 with --interpolate.
    #[arg(long, value_name = "LO,HI", value_parser = range, allow_hyphen_values = true)]
    pub range: Option<(f64, f64)>,
    /// Seed of the random directions and of the examples drawn.
    #[arg(long, value_name = "S", default_value_t = 0, value_parser = parse::non_negative_u64)]
    pub seed: u64,
    /// Worker threads evaluating grid points (default: every core).
    #[arg(long, value_name = "N", value_parser = parse::positive_usize)]
    pub threads: Option<usize>,
    /// Folder for grid.csv, grid.json and the plots (interpolation.* with --interpolate).
    #[arg(long, value_name = "DIR", default_value = "landscape")]
    pub out: PathBuf,
    /// Picture format of the plots.
    #[arg(long, value_enum, default_value_t = PictureFormat::Svg)]
    pub format: PictureFormat,
    /// Print one JSON summary instead of text.
    #[arg(long)]
    pub json: bool,
}

fn odd_steps(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if n >= 3 && n % 2 == 1 && n <= 1001 => Ok(n),
        _ => Err(format!("expected an odd whole number from 3 to 1001 (the checkpoint sits at the centre), got `{s}`")),
    }
}

fn range(s: &str) -> Result<(f64, f64), String> {
    let parts: Vec<&str> = s.split(',').collect();
    let parsed: Vec<f64> =
        parts.iter().filter_map(|p| p.trim().parse::<f64>().ok()).filter(|v| v.is_finite()).collect();
    match parsed.as_slice() {
        [lo, hi] if parts.len() == 2 && lo < hi => Ok((*lo, *hi)),
        _ => Err(format!("expected LO,HI with LO < HI (e.g. -1,1), got `{s}`")),
    }
}

/// Runs `nabla landscape`.
pub fn run(args: &LandscapeArgs) -> anyhow::Result<()> {
    let usage = "give a checkpoint and a data set: nabla landscape CKPT DATASET";
    let (checkpoints, dataset): (Vec<PathBuf>, &str) =
        match (&args.interpolate, args.compare, args.positional.as_slice()) {
            (None, false, [ckpt, dataset]) => (vec![PathBuf::from(ckpt)], dataset),
            (None, true, [a, b, dataset]) => (vec![PathBuf::from(a), PathBuf::from(b)], dataset),
            (None, true, _) => {
                bail!("--compare takes two checkpoints and a data set: nabla landscape A B DATASET --compare")
            }
            (None, false, [_, _, _]) => bail!("three arguments: to compare two checkpoints, add --compare"),
            (Some(pair), _, [dataset]) => (pair.clone(), dataset),
            (Some(_), _, _) => {
                bail!("with --interpolate A B, give only the data set: nabla landscape --interpolate A B DATASET")
            }
            (None, false, _) => bail!("{usage}"),
        };
    let ckpts = checkpoints
        .iter()
        .map(|p| checkpoint::load(p).map_err(anyhow::Error::from))
        .collect::<anyhow::Result<Vec<Checkpoint>>>()?;
    let split = load_data(dataset, args.data.as_deref())?;
    let ds = match args.split {
        SplitName::Train => &split.train,
        SplitName::Test => &split.test,
    };
    let inputs = checkpoints
        .iter()
        .zip(&ckpts)
        .map(|(path, ckpt)| check_data_fits(path, ckpt, dataset, ds))
        .collect::<anyhow::Result<Vec<&InputSpec>>>()?;
    if let ([a, b], Some(_)) = (ckpts.as_slice(), &args.interpolate) {
        if a.spec() != b.spec() {
            bail!(
                "{} and {} have different architectures ({} vs {}): there is no line between them",
                checkpoints[0].display(),
                checkpoints[1].display(),
                describe_network(&a.spec()),
                describe_network(&b.spec())
            );
        }
    }
    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    let threads = args.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
    let mut rng = Rng::new(args.seed);
    let ext = match args.format {
        PictureFormat::Svg => "svg",
        PictureFormat::Png => "png",
    };

    if args.compare {
        return super::landscape_compare::run(args, &checkpoints, &ckpts, &inputs, dataset, ds, threads, ext);
    }
    if let [_, _] = ckpts.as_slice() {
        let data = draw_examples(inputs[0], ds, args.samples, &mut rng);
        let (lo, hi) = args.range.unwrap_or((-0.5, 1.5));
        let alphas = linspace(lo, hi, args.steps.unwrap_or(41));
        let bar = progress(alphas.len(), args.json);
        let nets = (&ckpts[0].network, &ckpts[1].network);
        let slice = landscape::interpolate(nets.0, nets.1, &alphas, &data, threads, &|| bar.inc(1))?;
        bar.finish_and_clear();
        let files = write_interpolation(args, &checkpoints, dataset, &data, &slice, ext)?;
        return report_interpolation(args, &checkpoints, &data, &slice, &files);
    }

    let ckpt = &ckpts[0];
    if let Some(dir) = &args.trajectory {
        let data = draw_examples(inputs[0], ds, args.samples, &mut rng);
        return super::landscape_trajectory::run(args, dir, &checkpoints[0], ckpt, &data, threads, ext);
    }
    // Directions first, so that --samples does not change them.
    let (d1, d2) = landscape::filter_normalized_pair(&ckpt.network, &mut rng);
    let cosine = landscape::cosine_similarity(&d1, &d2);
    let data = draw_examples(inputs[0], ds, args.samples, &mut rng);
    let steps = grid_steps(args);
    let bar = progress(steps.len() * steps.len(), args.json);
    let grid = landscape::loss_grid(&ckpt.network, (&d1, &d2), &steps, &steps, &data, threads, &|| bar.inc(1))?;
    bar.finish_and_clear();
    let rough = roughness(&grid);
    let files = write_grid(args, &checkpoints[0], dataset, &data, &grid, cosine, rough, ext)?;
    report_grid(args, &checkpoints[0], ckpt, &data, &grid, cosine, rough, threads, &files)
}

/// The steps along each direction: `--steps` (default 51) over `--range` (default -1,1).
/// With odd steps over a symmetric range the middle step is exactly 0: the checkpoint.
pub(super) fn grid_steps(args: &LandscapeArgs) -> Vec<f64> {
    let (lo, hi) = args.range.unwrap_or((-1.0, 1.0));
    linspace(lo, hi, args.steps.unwrap_or(51))
}

/// What moves along the directions, in one line (for the text report and the JSON files).
pub(super) const DIRECTIONS: &str = "gaussian, filter-normalised per row of each dense weight matrix; \
     biases and layer norm gains and shifts not perturbed";

/// `grid` as a contour panel titled `title`.
pub(super) fn contour_panel(grid: &LossGrid, title: String) -> LossSurface {
    let n = grid.alphas.len();
    LossSurface {
        title,
        x_label: "α (direction δ)".into(),
        y_label: "β (direction η)".into(),
        xs: grid.alphas.clone(),
        ys: grid.betas.clone(),
        values: grid.loss.clone(),
        levels: 14,
        marker: (grid.alphas[0] <= 0.0 && grid.alphas[n - 1] >= 0.0).then_some((0.0, 0.0)),
        path: Vec::new(),
        width: 760,
        height: 620,
    }
}

/// `samples` examples of `ds` drawn without replacement (all of them if it has fewer), as the
/// model's normalised inputs (`input`).
fn draw_examples(input: &InputSpec, ds: &Dataset, samples: usize, rng: &mut Rng) -> LossData {
    examples(input, ds, &draw_order(ds, samples, rng))
}

/// Which `samples` examples of `ds` to measure on, drawn without replacement.
pub(super) fn draw_order(ds: &Dataset, samples: usize, rng: &mut Rng) -> Vec<usize> {
    let mut order: Vec<usize> = (0..ds.len).collect();
    rng.shuffle(&mut order);
    order.truncate(samples.min(ds.len));
    order
}

/// The examples `order` of `ds` as a model with input `input` sees them.
pub(super) fn examples(input: &InputSpec, ds: &Dataset, order: &[usize]) -> LossData {
    let features = ds.features();
    let norm = input.normalizer(ds.max_value);
    let mut buffers = BatchBuffers::new(order.len().max(1), features);
    let (x, y) = buffers.fill(ds, order, &norm);
    LossData { x: x.to_vec(), labels: y.iter().map(|&l| u32::from(l)).collect(), features }
}

pub(super) fn progress(total: usize, json: bool) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(
        Some(total as u64),
        if !json && io::stderr().is_terminal() { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() },
    );
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} points  {per_sec}  eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

pub(super) fn split_name(args: &LandscapeArgs) -> &'static str {
    match args.split {
        SplitName::Train => "train",
        SplitName::Test => "test",
    }
}

/// Writes grid.csv, grid.json, contour.EXT, slices.EXT and (--surface) surface.EXT;
/// returns their paths.
#[allow(clippy::too_many_arguments)]
fn write_grid(
    args: &LandscapeArgs,
    path: &Path,
    dataset: &str,
    data: &LossData,
    grid: &LossGrid,
    cosine: f64,
    rough: Roughness,
    ext: &str,
) -> anyhow::Result<Vec<PathBuf>> {
    let n = grid.alphas.len();
    let mut csv = String::from("alpha,beta,loss,accuracy\n");
    for (r, beta) in grid.betas.iter().enumerate() {
        for (c, alpha) in grid.alphas.iter().enumerate() {
            csv.push_str(&format!("{alpha},{beta},{},{}\n", grid.loss[r * n + c], grid.accuracy[r * n + c]));
        }
    }
    let rows = |v: &[f64]| v.chunks(n).map(<[f64]>::to_vec).collect::<Vec<_>>();
    let mid = n / 2;
    let doc = json!({
        "checkpoint": path.display().to_string(),
        "dataset": dataset,
        "split": split_name(args),
        "samples": data.len(),
        "seed": args.seed,
        "directions": DIRECTIONS,
        "cosine_similarity": cosine,
        "centre_loss": grid.at(mid, mid),
        "nonconvex_fraction": rough.nonconvex_fraction,
        "descending_fraction": rough.descending_fraction,
        "alphas": grid.alphas,
        "betas": grid.betas,
        "loss": rows(&grid.loss),
        "accuracy": rows(&grid.accuracy),
    });
    let out = &args.out;
    let mut files = vec![
        out.join("grid.csv"),
        out.join("grid.json"),
        out.join(format!("contour.{ext}")),
        out.join(format!("slices.{ext}")),
    ];
    nabla_plot::write_atomic(&files[0], csv.as_bytes())?;
    nabla_plot::write_atomic(&files[1], format!("{doc}\n").as_bytes())?;
    let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
    let title =
        format!("loss around {} on {} {dataset} examples (cos δ,η = {:.3})", path.display(), data.len(), cosine);
    let surface = contour_panel(grid, title);
    loss_surface(&surface, &files[2])?;
    if args.surface {
        let file = out.join(format!("surface.{ext}"));
        let title = format!("loss around {name} (non-convex at {:.1}% of points)", 100.0 * rough.nonconvex_fraction);
        let figure = LossPanels {
            title,
            panels: vec![LossSurface { title: String::new(), ..surface }],
            width: 860,
            height: 680,
        };
        loss_surfaces_3d(&figure, &file)?;
        files.push(file);
    }
    let along_d1: Vec<(f64, f64)> = grid.alphas.iter().enumerate().map(|(c, &a)| (a, grid.at(mid, c))).collect();
    let along_d2: Vec<(f64, f64)> = grid.betas.iter().enumerate().map(|(r, &b)| (b, grid.at(r, mid))).collect();
    loss_slices(
        &format!("1-D slices through {name}"),
        "step along the direction (α or β)",
        &[("along δ (β = 0)".into(), along_d1), ("along η (α = 0)".into(), along_d2)],
        &files[3],
    )?;
    Ok(files)
}

fn write_interpolation(
    args: &LandscapeArgs,
    paths: &[PathBuf],
    dataset: &str,
    data: &LossData,
    slice: &LossSlice,
    ext: &str,
) -> anyhow::Result<Vec<PathBuf>> {
    let mut csv = String::from("alpha,loss,accuracy\n");
    for ((a, l), acc) in slice.alphas.iter().zip(&slice.loss).zip(&slice.accuracy) {
        csv.push_str(&format!("{a},{l},{acc}\n"));
    }
    let doc = json!({
        "checkpoint_a": paths[0].display().to_string(),
        "checkpoint_b": paths[1].display().to_string(),
        "dataset": dataset,
        "split": split_name(args),
        "samples": data.len(),
        "seed": args.seed,
        "alphas": slice.alphas,
        "loss": slice.loss,
        "accuracy": slice.accuracy,
    });
    let out = &args.out;
    let files =
        [out.join("interpolation.csv"), out.join("interpolation.json"), out.join(format!("interpolation.{ext}"))];
    nabla_plot::write_atomic(&files[0], csv.as_bytes())?;
    nabla_plot::write_atomic(&files[1], format!("{doc}\n").as_bytes())?;
    let points: Vec<(f64, f64)> = slice.alphas.iter().copied().zip(slice.loss.iter().copied()).collect();
    loss_slices(
        &format!("(1 − α)·A + α·B on {} {dataset} examples", data.len()),
        "α (0: A, 1: B)",
        &[("loss".into(), points)],
        &files[2],
    )?;
    Ok(files.to_vec())
}

/// The roughness number in words.
pub(super) fn roughness_phrase(rough: Roughness) -> String {
    format!(
        "non-convex along α or β at {:.1}% of {} interior grid points (second difference < 0); \
         the loss falls on the way out from the centre at {:.1}% of points",
        100.0 * rough.nonconvex_fraction,
        rough.points,
        100.0 * rough.descending_fraction
    )
}

/// The smallest finite loss and where.
fn minimum(values: impl Iterator<Item = (f64, (f64, f64))>) -> Option<(f64, (f64, f64))> {
    values.filter(|(v, _)| v.is_finite()).min_by(|a, b| a.0.total_cmp(&b.0))
}

#[allow(clippy::too_many_arguments)]
fn report_grid(
    args: &LandscapeArgs,
    path: &Path,
    ckpt: &Checkpoint,
    data: &LossData,
    grid: &LossGrid,
    cosine: f64,
    rough: Roughness,
    threads: usize,
    files: &[PathBuf],
) -> anyhow::Result<()> {
    let n = grid.alphas.len();
    let mid = n / 2;
    let centre = grid.at(mid, mid);
    let points = grid.loss.iter().enumerate().map(|(i, &v)| (v, (grid.alphas[i % n], grid.betas[i / n])));
    let min = minimum(points.clone());
    let max = points.filter(|(v, _)| v.is_finite()).max_by(|a, b| a.0.total_cmp(&b.0));
    let mut out = io::stdout().lock();
    if args.json {
        let doc = json!({
            "checkpoint": path.display().to_string(),
            "samples": data.len(),
            "steps": n,
            "cosine_similarity": cosine,
            "centre_loss": centre,
            "centre_accuracy": grid.accuracy[mid * n + mid],
            "min_loss": min.map(|m| m.0),
            "min_at": min.map(|m| [m.1 .0, m.1 .1]),
            "max_loss": max.map(|m| m.0),
            "nonconvex_fraction": rough.nonconvex_fraction,
            "descending_fraction": rough.descending_fraction,
            "roughness_points": rough.points,
            "files": files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>(),
        });
        writeln!(out, "{doc}")?;
        return Ok(());
    }
    let (lo, hi) = (grid.alphas[0], grid.alphas[n - 1]);
    writeln!(out, "checkpoint  {} ({}, epoch {})", path.display(), describe_network(&ckpt.spec()), ckpt.epoch)?;
    writeln!(out, "data        {} {} examples drawn with seed {}", data.len(), split_name(args), args.seed)?;
    writeln!(
        out,
        "directions  two Gaussian, filter-normalised (each weight row scaled to its row's norm); biases and layer norm parameters not moved"
    )?;
    writeln!(
        out,
        "            cosine similarity {cosine:.4} (random directions in {} dimensions are nearly orthogonal)",
        ckpt.network.num_params()
    )?;
    writeln!(
        out,
        "grid        {n} × {n} over [{}, {}]², {} points on {threads} threads",
        format_number(lo),
        format_number(hi),
        n * n
    )?;
    let what = if grid.alphas[mid] == 0.0 {
        "the checkpoint itself".to_string()
    } else {
        format!("α = β = {}", format_number(grid.alphas[mid]))
    };
    writeln!(out, "centre      loss {centre:.4}, accuracy {:.2}% ({what})", 100.0 * grid.accuracy[mid * n + mid])?;
    if let (Some((v, (a, b))), Some((m, (ma, mb)))) = (min, max) {
        writeln!(out, "lowest      loss {v:.4} at (α, β) = ({}, {})", format_number(a), format_number(b))?;
        writeln!(out, "highest     loss {m:.4} at (α, β) = ({}, {})", format_number(ma), format_number(mb))?;
    }
    writeln!(out, "roughness   {}", roughness_phrase(rough))?;
    writeln!(out, "wrote       {}", files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(", "))?;
    Ok(())
}

fn report_interpolation(
    args: &LandscapeArgs,
    paths: &[PathBuf],
    data: &LossData,
    slice: &LossSlice,
    files: &[PathBuf],
) -> anyhow::Result<()> {
    let points = slice.alphas.iter().zip(&slice.loss).map(|(&a, &v)| (v, (a, 0.0)));
    let min = minimum(points);
    // The highest loss strictly between the two models: the barrier, if any.
    let between = slice.alphas.iter().zip(&slice.loss).filter(|(a, v)| (0.0..=1.0).contains(*a) && v.is_finite());
    let barrier = between.max_by(|a, b| a.1.total_cmp(b.1));
    let mut out = io::stdout().lock();
    if args.json {
        let doc = json!({
            "checkpoint_a": paths[0].display().to_string(),
            "checkpoint_b": paths[1].display().to_string(),
            "samples": data.len(),
            "min_loss": min.map(|m| m.0),
            "min_at": min.map(|m| m.1 .0),
            "max_between": barrier.map(|b| *b.1),
            "max_between_at": barrier.map(|b| *b.0),
            "files": files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>(),
        });
        writeln!(out, "{doc}")?;
        return Ok(());
    }
    writeln!(out, "A           {}", paths[0].display())?;
    writeln!(out, "B           {}", paths[1].display())?;
    writeln!(out, "data        {} {} examples drawn with seed {}", data.len(), split_name(args), args.seed)?;
    writeln!(out, "\n     α      loss  accuracy")?;
    let every = (slice.alphas.len() / 10).max(1);
    for (i, ((a, l), acc)) in slice.alphas.iter().zip(&slice.loss).zip(&slice.accuracy).enumerate() {
        let model = (a - 0.0).abs() < 1e-9 || (a - 1.0).abs() < 1e-9;
        if i % every == 0 || i + 1 == slice.alphas.len() || model {
            writeln!(out, "{a:>6.2}  {l:>8.4}  {:>7.2}%", 100.0 * acc)?;
        }
    }
    if let Some((a, l)) = barrier {
        writeln!(out, "\nhighest loss between A and B: {l:.4} at α = {}", format_number(*a))?;
    }
    writeln!(out, "wrote       {}", files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(", "))?;
    Ok(())
}
