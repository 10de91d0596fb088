//! `nabla landscape A B DATASET --compare`: two nets' loss landscapes side by side, the
//! lecture's pair (Li et al. 2018, fig. 5: a deep net (a) without and (b) with skip
//! connections).
//!
//! Both grids are computed the same way: two Gaussian directions drawn from `--seed` and
//! filter-normalised for each net's own weights, the same steps, the same examples. The
//! contour plots share one colour scale (the joint range of both), so the same colour is the
//! same loss in both panels; `--surface` draws the same grids as 3-D surfaces.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use nabla::{NetworkSpec, Rng};
use nabla_data::Dataset;
use nabla_plot::landscape::{loss_panels, LossPanels, LossSurface};
use nabla_plot::landscape3d::loss_surfaces_3d;
use nabla_train::checkpoint::{describe_network, Checkpoint, InputSpec};
use nabla_train::landscape::{self, roughness, LossGrid, Roughness};
use serde_json::json;

use super::landscape::{
    contour_panel, draw_order, examples, grid_steps, progress, roughness_phrase, split_name, LandscapeArgs, DIRECTIONS,
};

/// One net's side of the pair.
struct Side<'a> {
    path: &'a Path,
    ckpt: &'a Checkpoint,
    grid: LossGrid,
    rough: Roughness,
    cosine: f64,
    caption: String,
}

/// `(a) without skip connections` / `(b) with skip connections` by the checkpoint's
/// architecture, then its depth in a few words (the whole architecture is in the report).
fn caption(index: usize, ckpt: &Checkpoint) -> String {
    let letter = if index == 0 { 'a' } else { 'b' };
    let shape = match ckpt.spec() {
        NetworkSpec::Plain(s) => {
            let hidden = &s.sizes[1..s.sizes.len() - 1];
            if hidden.windows(2).all(|w| w[0] == w[1]) && !hidden.is_empty() {
                format!("{} hidden layers of {}", hidden.len(), hidden[0])
            } else {
                format!("{} hidden layers", hidden.len())
            }
        }
        NetworkSpec::Residual(s) => format!("{} residual blocks of {}", s.blocks, s.width),
    };
    let kind = if ckpt.network.plain().is_some() { "without" } else { "with" };
    format!("({letter}) {kind} skip connections, {shape}")
}

/// Computes both landscapes, draws the pair and reports.
#[allow(clippy::too_many_arguments)]
pub(super) fn run(
    args: &LandscapeArgs,
    paths: &[PathBuf],
    ckpts: &[Checkpoint],
    inputs: &[&InputSpec],
    dataset: &str,
    ds: &Dataset,
    threads: usize,
    ext: &str,
) -> anyhow::Result<()> {
    // Net A's directions and the examples come from one generator as in a single-net run
    // (so A's landscape here is the one `nabla landscape A` draws); B's directions from a
    // fresh generator with the same seed. Both nets see the same examples.
    let mut rng = Rng::new(args.seed);
    let first = landscape::filter_normalized_pair(&ckpts[0].network, &mut rng);
    let order = draw_order(ds, args.samples, &mut rng);
    let second = landscape::filter_normalized_pair(&ckpts[1].network, &mut Rng::new(args.seed));
    let steps = grid_steps(args);
    let bar = progress(2 * steps.len() * steps.len(), args.json);
    let mut sides = Vec::with_capacity(2);
    for (i, (d1, d2)) in [first, second].into_iter().enumerate() {
        let data = examples(inputs[i], ds, &order);
        let net = &ckpts[i].network;
        let grid = landscape::loss_grid(net, (&d1, &d2), &steps, &steps, &data, threads, &|| bar.inc(1))?;
        let rough = roughness(&grid);
        let cosine = landscape::cosine_similarity(&d1, &d2);
        sides.push(Side { path: &paths[i], ckpt: &ckpts[i], grid, rough, cosine, caption: caption(i, &ckpts[i]) });
    }
    bar.finish_and_clear();

    let picture = args.output.clone().unwrap_or_else(|| args.out.join(format!("compare.{ext}")));
    let panels: Vec<LossSurface> = sides
        .iter()
        .map(|s| {
            let title = format!("{} · non-convex {:.0}%", s.caption, 100.0 * s.rough.nonconvex_fraction);
            contour_panel(&s.grid, title)
        })
        .collect();
    let title = format!(
        "loss around each net on {} {dataset} {} examples, filter-normalised random directions (seed {})",
        order.len(),
        split_name(args),
        args.seed
    );
    let mut figure = LossPanels { title, panels, width: 1500, height: 640 };
    loss_panels(&figure, &picture)?;
    let mut files = vec![picture.clone()];
    if args.surface {
        let stem = picture.file_stem().map_or_else(|| "compare".into(), |s| s.to_string_lossy().into_owned());
        let ext = picture.extension().map_or_else(|| ext.into(), |e| e.to_string_lossy().into_owned());
        let file = picture.with_file_name(format!("{stem}-surface.{ext}"));
        figure.height = 620;
        loss_surfaces_3d(&figure, &file)?;
        files.push(file);
    }
    let json_file = args.out.join("compare.json");
    let doc = json!({
        "dataset": dataset,
        "split": split_name(args),
        "samples": order.len(),
        "seed": args.seed,
        "directions": DIRECTIONS,
        "alphas": steps,
        "betas": steps,
        "nets": sides.iter().map(|s| side_json(s, true)).collect::<Vec<_>>(),
    });
    nabla_plot::write_atomic(&json_file, format!("{doc}\n").as_bytes())?;
    files.push(json_file);
    report(args, &sides, order.len(), &files)
}

/// One side as JSON: the summary, and the grid itself when `grid`.
fn side_json(s: &Side<'_>, grid: bool) -> serde_json::Value {
    let n = s.grid.alphas.len();
    let mid = n / 2;
    let mut doc = json!({
        "checkpoint": s.path.display().to_string(),
        "architecture": describe_network(&s.ckpt.spec()),
        "residual": s.ckpt.network.plain().is_none(),
        "params": s.ckpt.network.num_params(),
        "caption": s.caption,
        "cosine_similarity": s.cosine,
        "centre_loss": s.grid.at(mid, mid),
        "centre_accuracy": s.grid.accuracy[mid * n + mid],
        "nonconvex_fraction": s.rough.nonconvex_fraction,
        "descending_fraction": s.rough.descending_fraction,
        "roughness_points": s.rough.points,
    });
    if grid {
        doc["loss"] = s.grid.loss.chunks(n).map(<[f64]>::to_vec).collect::<Vec<_>>().into();
    }
    doc
}

fn report(args: &LandscapeArgs, sides: &[Side<'_>], samples: usize, files: &[PathBuf]) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    let names = || files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>();
    if args.json {
        let doc = json!({
            "samples": samples,
            "steps": sides[0].grid.alphas.len(),
            "nets": sides.iter().map(|s| side_json(s, false)).collect::<Vec<_>>(),
            "files": names(),
        });
        writeln!(out, "{doc}")?;
        return Ok(());
    }
    let n = sides[0].grid.alphas.len();
    let mid = n / 2;
    writeln!(out, "data        {samples} {} examples drawn with seed {}", split_name(args), args.seed)?;
    writeln!(out, "grid        {n} × {n}, the same steps for both nets")?;
    for s in sides {
        writeln!(out, "\n{}: {}", s.caption, describe_network(&s.ckpt.spec()))?;
        writeln!(out, "  checkpoint  {} (epoch {})", s.path.display(), s.ckpt.epoch)?;
        let acc = 100.0 * s.grid.accuracy[mid * n + mid];
        writeln!(out, "  centre      loss {:.4}, accuracy {acc:.2}%", s.grid.at(mid, mid))?;
        let max = s.grid.loss.iter().copied().filter(|v| v.is_finite()).fold(f64::NAN, f64::max);
        writeln!(out, "  highest     loss {max:.4}")?;
        writeln!(out, "  roughness   {}", roughness_phrase(s.rough))?;
    }
    writeln!(out, "\nwrote       {}", names().join(", "))?;
    Ok(())
}
