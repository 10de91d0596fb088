//! `nabla landscape CKPT DATASET --trajectory DIR`: the optimiser's path (the
//! `epoch-K.safetensors` that `nabla train --save-every N` keeps in DIR, then CKPT) projected
//! on the first two principal directions of the saved weights, drawn over the loss contours
//! of the plane they span, with each direction's explained variance on its axis — as Li et
//! al.'s repository draws it.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use nabla_plot::landscape::loss_surface;
use nabla_train::checkpoint::{self, describe_network, Checkpoint};
use nabla_train::landscape::{self, linspace, trajectory, LossData};
use serde_json::json;

use super::landscape::{contour_panel, progress, LandscapeArgs};

/// The `epoch-K.safetensors` files of `dir`, by K.
fn saved_epochs(dir: &Path) -> anyhow::Result<Vec<(usize, PathBuf)>> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("cannot read the folder {}", dir.display()))?;
    let mut found = Vec::new();
    for entry in entries {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if let Some(k) = name.strip_prefix("epoch-").and_then(|r| r.strip_suffix(".safetensors")) {
            if let Ok(k) = k.parse::<usize>() {
                found.push((k, path));
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Computes the path's plane, its loss grid and the picture; reports.
pub(super) fn run(
    args: &LandscapeArgs,
    dir: &Path,
    path: &Path,
    ckpt: &Checkpoint,
    data: &LossData,
    threads: usize,
    ext: &str,
) -> anyhow::Result<()> {
    let saved = saved_epochs(dir)?;
    let mut epochs = Vec::with_capacity(saved.len() + 1);
    let mut weights: Vec<Vec<f32>> = Vec::with_capacity(saved.len() + 1);
    for (k, file) in &saved {
        let c = checkpoint::load(file)?;
        if c.spec() != ckpt.spec() {
            bail!(
                "{} is {}, but {} is {}: a path is one net's weights",
                file.display(),
                describe_network(&c.spec()),
                path.display(),
                describe_network(&ckpt.spec())
            );
        }
        epochs.push(*k);
        weights.push(c.network.params().to_vec());
    }
    // The final weights end the path (once, if the last saved epoch is the same checkpoint).
    if weights.last().map(Vec::as_slice) != Some(ckpt.network.params()) {
        epochs.push(ckpt.epoch);
        weights.push(ckpt.network.params().to_vec());
    }
    if weights.len() < 3 {
        bail!(
            "{}: {} saved epochs (epoch-K.safetensors) and the checkpoint make {} points; a path needs 3 \
             (train with --save-every 1 --out {})",
            dir.display(),
            saved.len(),
            weights.len(),
            dir.display()
        );
    }
    let refs: Vec<&[f32]> = weights.iter().map(Vec::as_slice).collect();
    let t = trajectory(&ckpt.network, &refs)?;
    // The grid covers the path with a margin; --range overrides both axes.
    let span = |values: Vec<f64>| {
        let (lo, hi) = values.iter().fold((0.0f64, 0.0f64), |(a, b), &v| (a.min(v), b.max(v)));
        let margin = 0.15 * (hi - lo).max(1e-6);
        (lo - margin, hi + margin)
    };
    let (xr, yr) = match args.range {
        Some(r) => (r, r),
        None => (span(t.path.iter().map(|p| p.0).collect()), span(t.path.iter().map(|p| p.1).collect())),
    };
    let n = args.steps.unwrap_or(31);
    let (alphas, betas) = (linspace(xr.0, xr.1, n), linspace(yr.0, yr.1, n));
    let bar = progress(n * n, args.json);
    let (d1, d2) = (&t.directions.0, &t.directions.1);
    let grid = landscape::loss_grid(&ckpt.network, (d1, d2), &alphas, &betas, data, threads, &|| bar.inc(1))?;
    bar.finish_and_clear();

    let (e1, e2) = (100.0 * t.explained.0, 100.0 * t.explained.1);
    let (first, last) = (epochs[0], epochs[epochs.len() - 1]);
    let title = format!("training path, epochs {first}–{last}, in its PCA plane ({} examples)", data.len());
    let mut panel = contour_panel(&grid, title);
    panel.x_label = format!("1st PCA component: {e1:.2} %");
    panel.y_label = format!("2nd PCA component: {e2:.2} %");
    panel.path.clone_from(&t.path);
    panel.marker = Some((0.0, 0.0));
    let picture = args.out.join(format!("trajectory.{ext}"));
    loss_surface(&panel, &picture)?;
    let json_file = args.out.join("trajectory.json");
    let doc = json!({
        "checkpoint": path.display().to_string(),
        "epochs": epochs,
        "explained_variance_ratio": [t.explained.0, t.explained.1],
        "path": t.path.iter().map(|p| [p.0, p.1]).collect::<Vec<_>>(),
        "alphas": grid.alphas,
        "betas": grid.betas,
        "loss": grid.loss.chunks(n).map(<[f64]>::to_vec).collect::<Vec<_>>(),
    });
    nabla_plot::write_atomic(&json_file, format!("{doc}\n").as_bytes())?;
    let mut out = io::stdout().lock();
    let files = [picture.display().to_string(), json_file.display().to_string()];
    if args.json {
        let doc = json!({
            "checkpoint": path.display().to_string(),
            "epochs": epochs,
            "explained_variance_ratio": [t.explained.0, t.explained.1],
            "files": files,
        });
        writeln!(out, "{doc}")?;
        return Ok(());
    }
    writeln!(out, "checkpoint  {} ({})", path.display(), describe_network(&ckpt.spec()))?;
    writeln!(out, "path        {} points: epochs {:?}", epochs.len(), epochs)?;
    writeln!(out, "PCA         explained variance {e1:.2}% and {e2:.2}% (dense weights only, centred)")?;
    writeln!(out, "grid        {n} × {n} over the path's extent, {} examples", data.len())?;
    writeln!(out, "wrote       {}", files.join(", "))?;
    Ok(())
}
