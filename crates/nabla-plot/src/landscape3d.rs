//! Loss landscapes in 3-D: each grid of [`LossPanels`] as a surface seen from one fixed
//! viewpoint, the height and the colour both log10 of the loss, every panel on the same
//! vertical range and colour scale (as Li et al. 2018 draw their surface plots, with a log
//! axis so that a deep plain net's exploding corners do not flatten the other panel).

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::heatmap::{colour_bar, split_for_bar};
use crate::landscape::{format_loss, joint_log_range, viridis, LossPanels, LossSurface};
use crate::output::{drawing, render, Figure};
use crate::PlotError;

/// The fixed viewpoint: turned 40° about the vertical axis, looking down 28°.
const YAW: f64 = 0.7;
const PITCH: f64 = 0.5;

/// Draws every panel of `figure` as a 3-D surface, side by side, to `path` (`.svg` or `.png`).
pub fn loss_surfaces_3d(figure: &LossPanels, path: &Path) -> Result<(), PlotError> {
    figure.check()?;
    render(&Surfaces3d(figure), path)
}

struct Surfaces3d<'a>(&'a LossPanels);

impl Figure for Surfaces3d<'_> {
    fn size(&self) -> (u32, u32) {
        (self.0.width, self.0.height)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
        let fig = self.0;
        let body = root.titled(&fig.title, ("sans-serif", 22)).map_err(drawing)?;
        let (main, bar) = split_for_bar(&body);
        let range = joint_log_range(&fig.panels);
        let areas = main.split_evenly((1, fig.panels.len()));
        for (surface, area) in fig.panels.iter().zip(&areas) {
            let area = area.titled(&surface.title, ("sans-serif", 17)).map_err(drawing)?;
            draw_surface(surface, &area, range)?;
        }
        let (lo, hi) = range;
        let colour = |log_loss: f64| viridis((log_loss - lo) / (hi - lo));
        colour_bar(&bar, range, "loss (log scale)", Some(&|v: &f64| format_loss(10f64.powf(*v))), colour)
    }
}

/// One surface: a filled quadrilateral per grid cell, coloured by its mean log loss and drawn
/// from the back to the front so that nearer cells hide farther ones.
fn draw_surface<DB: DrawingBackend>(
    s: &LossSurface,
    area: &DrawingArea<DB, Shift>,
    (lo, hi): (f64, f64),
) -> Result<(), PlotError> {
    let (xs, ys) = (&s.xs, &s.ys);
    let (x0, x1, y0, y1) = (xs[0], xs[xs.len() - 1], ys[0], ys[ys.len() - 1]);
    // Plotters' vertical axis is its y: the surface is (α, log loss, β).
    let mut chart = ChartBuilder::on(area).margin(14).build_cartesian_3d(x0..x1, lo..hi, y0..y1).map_err(drawing)?;
    chart.with_projection(|mut pb| {
        pb.yaw = YAW;
        pb.pitch = PITCH;
        pb.scale = 0.8;
        pb.into_matrix()
    });
    let loss_label = |v: &f64| format_loss(10f64.powf(*v));
    // Rounding to one decimal, with no `-0.0`.
    let step_label = |v: &f64| format!("{:.1}", if v.abs() < 0.05 { 0.0 } else { *v });
    chart
        .configure_axes()
        .label_style(("sans-serif", 12))
        .x_labels(5)
        .z_labels(5)
        .y_labels(5)
        .x_formatter(&step_label)
        .z_formatter(&step_label)
        .y_formatter(&loss_label)
        .max_light_lines(0)
        .draw()
        .map_err(drawing)?;
    let n = xs.len();
    // Missing (non-finite) losses are drawn at the top of the scale, as the contour plot
    // colours them.
    let height = |r: usize, c: usize| {
        let v = s.values[r * n + c];
        if v.is_finite() && v > 0.0 {
            v.log10().clamp(lo, hi)
        } else {
            hi
        }
    };
    let mut cells = Vec::with_capacity((n - 1) * (ys.len() - 1));
    for r in 0..ys.len() - 1 {
        for c in 0..n - 1 {
            let corners = [(r, c), (r, c + 1), (r + 1, c + 1), (r + 1, c)];
            let pts: Vec<(f64, f64, f64)> = corners.iter().map(|&(r, c)| (xs[c], height(r, c), ys[r])).collect();
            let mean = pts.iter().map(|p| p.1).sum::<f64>() / 4.0;
            let (cx, cz) = ((xs[c] + xs[c + 1]) / 2.0, (ys[r] + ys[r + 1]) / 2.0);
            let depth = chart.as_coord_spec().projected_depth(&cx, &mean, &cz);
            cells.push((depth, mean, pts));
        }
    }
    // Farthest first.
    cells.sort_by_key(|c| std::cmp::Reverse(c.0));
    let polygons = cells.into_iter().map(|(_, mean, pts)| {
        let [r, g, b] = viridis((mean - lo) / (hi - lo));
        Polygon::new(pts, RGBColor(r, g, b).filled())
    });
    chart.draw_series(polygons).map_err(drawing)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn surface(title: &str, f: impl Fn(f64, f64) -> f64) -> LossSurface {
        let xs: Vec<f64> = (0..15).map(|i| -1.0 + 2.0 * f64::from(i) / 14.0).collect();
        let values = xs.iter().flat_map(|&y| xs.iter().map(move |&x| (x, y))).map(|(x, y)| f(x, y)).collect();
        LossSurface {
            title: title.into(),
            x_label: "α".into(),
            y_label: "β".into(),
            xs: xs.clone(),
            ys: xs,
            values,
            levels: 8,
            marker: None,
            path: Vec::new(),
            width: 0,
            height: 0,
        }
    }

    #[test]
    fn surfaces_are_drawn_as_png_and_svg() {
        let dir = tempfile::tempdir().unwrap();
        let smooth = surface("(b) smooth", |x, y| 0.05 + x * x + y * y);
        let mut rough = surface("(a) rough", |x, y| 1.0 + 0.8 * (9.0 * x).sin() * (7.0 * y).cos() + 3.0 * x * x);
        rough.values[3] = f64::NAN;
        let fig = LossPanels { title: "pair".into(), panels: vec![rough, smooth], width: 1000, height: 480 };
        loss_surfaces_3d(&fig, &dir.path().join("s.png")).unwrap();
        let png = std::fs::read(dir.path().join("s.png")).unwrap();
        assert!(png.starts_with(b"\x89PNG"));
        loss_surfaces_3d(&fig, &dir.path().join("s.svg")).unwrap();
        let svg = std::fs::read_to_string(dir.path().join("s.svg")).unwrap();
        assert!(svg.contains("(a) rough") && svg.contains("(b) smooth") && svg.contains("<polygon"));
        assert!(loss_surfaces_3d(&fig, &dir.path().join("s.txt")).is_err());
    }
}
