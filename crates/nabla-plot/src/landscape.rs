//! Loss landscapes: the loss over a 2-D grid of steps `(α, β)` along two directions, as a
//! heat map (log-scaled colours) with contour lines and the trained model marked at the
//! centre, optionally with the optimiser's path drawn on it; several of them side by side on
//! one colour scale ([`LossPanels`]); and 1-D slices as line charts. The 3-D view of the same
//! grids is in [`crate::landscape3d`].

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::heatmap::{colour_bar, heat_chart, split_for_bar};
use crate::lines::{line_figure, LineFigure, Panel, Series};
use crate::output::{drawing, render, Figure};
use crate::PlotError;

/// Viridis, sampled at nine points (dark blue low, yellow high): perceptually even and
/// readable in grey.
const VIRIDIS: [(f64, f64, f64); 9] = [
    (68.0, 1.0, 84.0),
    (71.0, 44.0, 122.0),
    (59.0, 81.0, 139.0),
    (44.0, 113.0, 142.0),
    (33.0, 144.0, 141.0),
    (39.0, 173.0, 129.0),
    (92.0, 200.0, 99.0),
    (170.0, 220.0, 50.0),
    (253.0, 231.0, 37.0),
];

pub(crate) fn viridis(t: f64) -> [u8; 3] {
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 1.0 };
    let x = t * (VIRIDIS.len() - 1) as f64;
    let i = (x.floor() as usize).min(VIRIDIS.len() - 2);
    let u = x - i as f64;
    let (a, b) = (VIRIDIS[i], VIRIDIS[i + 1]);
    let mix = |p: f64, q: f64| (p + (q - p) * u).round() as u8;
    [mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2)]
}

/// A loss with three significant digits: `0.421`, `5.77`, `12.3`.
pub(crate) fn format_loss(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else if v >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// A loss surface sampled on a grid.
#[derive(Debug, Clone, PartialEq)]
pub struct LossSurface {
    /// The figure's title.
    pub title: String,
    /// The x axis label (the first direction).
    pub x_label: String,
    /// The y axis label (the second direction).
    pub y_label: String,
    /// The x of each column, increasing.
    pub xs: Vec<f64>,
    /// The y of each row, increasing.
    pub ys: Vec<f64>,
    /// `values[r * xs.len() + c]` at `(xs[c], ys[r])`.
    pub values: Vec<f64>,
    /// Number of contour lines.
    pub levels: usize,
    /// Where to mark the trained model (usually `(0, 0)`).
    pub marker: Option<(f64, f64)>,
    /// A path drawn over the surface, point by point (the optimiser's, projected); empty for
    /// none. Its first point is ringed.
    pub path: Vec<(f64, f64)>,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

impl LossSurface {
    pub(crate) fn check(&self) -> Result<(), PlotError> {
        let (c, r) = (self.xs.len(), self.ys.len());
        if c < 2 || r < 2 || self.values.len() != c * r {
            return Err(PlotError::Input(format!(
                "a loss surface needs at least 2×2 samples and one value per sample; got {c}×{r} and {} values",
                self.values.len()
            )));
        }
        let increasing = |v: &[f64]| v.windows(2).all(|w| w[0] < w[1]) && v.iter().all(|x| x.is_finite());
        if !increasing(&self.xs) || !increasing(&self.ys) {
            return Err(PlotError::Input("a loss surface's coordinates must be finite and increasing".into()));
        }
        if !self.values.iter().any(|v| v.is_finite() && *v > 0.0) {
            return Err(PlotError::Input("a loss surface needs at least one finite, positive loss".into()));
        }
        Ok(())
    }

    /// The colour scale's ends, on log10 of the loss: the smallest and largest finite loss.
    fn log_range(&self) -> (f64, f64) {
        joint_log_range(std::slice::from_ref(self))
    }

    /// The loss at a point, interpolated between the four nearest samples.
    fn sample(&self, x: f64, y: f64) -> f64 {
        let locate = |v: &[f64], p: f64| {
            let i = v.partition_point(|&q| q <= p).clamp(1, v.len() - 1) - 1;
            (i, ((p - v[i]) / (v[i + 1] - v[i])).clamp(0.0, 1.0))
        };
        let (c, tx) = locate(&self.xs, x);
        let (r, ty) = locate(&self.ys, y);
        let n = self.xs.len();
        let v = |r: usize, c: usize| self.values[r * n + c];
        let bottom = v(r, c) * (1.0 - tx) + v(r, c + 1) * tx;
        let top = v(r + 1, c) * (1.0 - tx) + v(r + 1, c + 1) * tx;
        bottom * (1.0 - ty) + top * ty
    }
}

/// The log10 of the smallest and largest finite, positive loss over all `surfaces` (widened
/// by ±0.5 when they are equal): the one colour scale of a side-by-side figure.
pub(crate) fn joint_log_range(surfaces: &[LossSurface]) -> (f64, f64) {
    let finite = surfaces.iter().flat_map(|s| s.values.iter().copied()).filter(|v| v.is_finite() && *v > 0.0);
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    let (lo, hi) = (lo.log10(), hi.log10());
    if hi - lo < 1e-9 {
        (lo - 0.5, hi + 0.5)
    } else {
        (lo, hi)
    }
}

/// Several loss surfaces side by side under one title, on one colour scale (the joint range
/// of all of them) with one colour bar, and contour lines at the same levels in every panel:
/// the same colour and the same line mean the same loss everywhere. Each panel's own `title`
/// is its caption; its `width` and `height` are ignored.
#[derive(Debug, Clone, PartialEq)]
pub struct LossPanels {
    /// The figure's title.
    pub title: String,
    /// The panels, left to right.
    pub panels: Vec<LossSurface>,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

impl LossPanels {
    pub(crate) fn check(&self) -> Result<(), PlotError> {
        if self.panels.is_empty() {
            return Err(PlotError::Input("a side-by-side figure needs at least one panel".into()));
        }
        self.panels.iter().try_for_each(LossSurface::check)
    }
}

/// Draws the panels side by side to `path` (`.svg` or `.png`).
pub fn loss_panels(figure: &LossPanels, path: &Path) -> Result<(), PlotError> {
    figure.check()?;
    render(figure, path)
}

impl Figure for LossPanels {
    fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
        let body = root.titled(&self.title, ("sans-serif", 22)).map_err(drawing)?;
        let (main, bar) = split_for_bar(&body);
        let range = joint_log_range(&self.panels);
        let areas = main.split_evenly((1, self.panels.len()));
        for (surface, area) in self.panels.iter().zip(&areas) {
            let area = area.titled(&surface.title, ("sans-serif", 17)).map_err(drawing)?;
            surface.draw_contours(&area, range)?;
        }
        let (lo, hi) = range;
        let colour = |log_loss: f64| viridis((log_loss - lo) / (hi - lo));
        colour_bar(&bar, range, "loss (log scale)", Some(&|v: &f64| format_loss(10f64.powf(*v))), colour)
    }
}

/// The contour lines of `values` (rows along `ys`, columns along `xs`) at `level`, as line
/// segments, by marching squares.
pub fn contour_segments(xs: &[f64], ys: &[f64], values: &[f64], level: f64) -> Vec<((f64, f64), (f64, f64))> {
    let n = xs.len();
    let mut out = Vec::new();
    if n < 2 || ys.len() < 2 || values.len() != n * ys.len() {
        return out;
    }
    let v = |r: usize, c: usize| values[r * n + c];
    for r in 0..ys.len() - 1 {
        for c in 0..n - 1 {
            let corners = [v(r, c), v(r, c + 1), v(r + 1, c + 1), v(r + 1, c)];
            if corners.iter().any(|x| !x.is_finite()) {
                continue;
            }
            let pts = [(xs[c], ys[r]), (xs[c + 1], ys[r]), (xs[c + 1], ys[r + 1]), (xs[c], ys[r + 1])];
            // Crossings on the four edges: bottom, right, top, left (corner k to k + 1).
            let mut cross: Vec<(usize, (f64, f64))> = Vec::new();
            for k in 0..4 {
                let (a, b) = (corners[k], corners[(k + 1) % 4]);
                if (a < level) != (b < level) {
                    let t = (level - a) / (b - a);
                    let (p, q) = (pts[k], pts[(k + 1) % 4]);
                    cross.push((k, (p.0 + t * (q.0 - p.0), p.1 + t * (q.1 - p.1))));
                }
            }
            match cross.len() {
                2 => out.push((cross[0].1, cross[1].1)),
                4 => {
                    // A saddle: the cell's mean decides which corners the lines cut off.
                    let centre = corners.iter().sum::<f64>() / 4.0;
                    let first_low = corners[0] < level;
                    if (centre < level) == first_low {
                        out.push((cross[0].1, cross[1].1));
                        out.push((cross[2].1, cross[3].1));
                    } else {
                        out.push((cross[0].1, cross[3].1));
                        out.push((cross[1].1, cross[2].1));
                    }
                }
                _ => {}
            }
        }
    }
    out
}

/// Draws the surface to `path` (`.svg` or `.png`).
pub fn loss_surface(surface: &LossSurface, path: &Path) -> Result<(), PlotError> {
    surface.check()?;
    render(surface, path)
}

/// Draws 1-D loss curves (`(position, loss)` per curve) to `path`, on a log loss axis.
pub fn loss_slices(
    title: &str,
    x_label: &str,
    curves: &[(String, Vec<(f64, f64)>)],
    path: &Path,
) -> Result<(), PlotError> {
    let figure = LineFigure {
        title: title.to_string(),
        panels: vec![Panel {
            title: String::new(),
            x_label: x_label.to_string(),
            y_label: "loss (mean cross-entropy)".into(),
            series: curves
                .iter()
                .enumerate()
                .map(|(i, (label, points))| Series {
                    label: label.clone(),
                    points: points.clone(),
                    color: i,
                    dashed: false,
                    scatter: false,
                })
                .collect(),
            log_x: false,
            log_y: false,
            y_range: None,
        }],
        width: 720,
        height: 480,
    };
    line_figure(&figure, path)
}

impl Figure for LossSurface {
    fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
        let body = root.titled(&self.title, ("sans-serif", 20)).map_err(drawing)?;
        let (main, bar) = split_for_bar(&body);
        let (lo, hi) = self.log_range();
        self.draw_contours(&main, (lo, hi))?;
        let colour = |log_loss: f64| viridis((log_loss - lo) / (hi - lo));
        // The bar runs over log10(loss); its ticks are labelled with the loss itself.
        colour_bar(&bar, (lo, hi), "loss (log scale)", Some(&|v: &f64| format_loss(10f64.powf(*v))), colour)
    }
}

impl LossSurface {
    /// The heat map, its contour lines, the path and the marker on `area`, coloured over
    /// log10(loss) from `lo` to `hi`.
    fn draw_contours<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        (lo, hi): (f64, f64),
    ) -> Result<(), PlotError> {
        let x_range = (self.xs[0], self.xs[self.xs.len() - 1]);
        let y_range = (self.ys[0], self.ys[self.ys.len() - 1]);
        let colour = |log_loss: f64| viridis((log_loss - lo) / (hi - lo));
        let labels = (self.x_label.as_str(), self.y_label.as_str());
        let mut chart = heat_chart(area, x_range, y_range, labels, |x, y| colour(self.sample(x, y).log10()))?;

        // Contours evenly spaced in log loss, so the basin's floor gets lines as well as its walls.
        for k in 1..=self.levels {
            let level = 10f64.powf(lo + (hi - lo) * k as f64 / (self.levels + 1) as f64);
            let segments = contour_segments(&self.xs, &self.ys, &self.values, level);
            let style = WHITE.mix(0.75).stroke_width(1);
            chart
                .draw_series(segments.into_iter().map(|(a, b)| PathElement::new(vec![a, b], style)))
                .map_err(drawing)?;
        }
        if !self.path.is_empty() {
            let line = RGBColor(255, 64, 64).stroke_width(2);
            chart.draw_series(std::iter::once(PathElement::new(self.path.clone(), line))).map_err(drawing)?;
            let dots = self.path.iter().map(|&p| Circle::new(p, 3, RGBColor(255, 64, 64).filled()));
            chart.draw_series(dots).map_err(drawing)?;
            chart.draw_series(std::iter::once(Circle::new(self.path[0], 7, WHITE.stroke_width(2)))).map_err(drawing)?;
        }
        if let Some(m) = self.marker {
            let marker = EmptyElement::at(m) + Cross::new((0, 0), 7, RED.stroke_width(3));
            chart.draw_series(std::iter::once(marker)).map_err(drawing)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bowl(n: usize) -> LossSurface {
        let xs: Vec<f64> = (0..n).map(|i| -1.0 + 2.0 * i as f64 / (n - 1) as f64).collect();
        let values = xs.iter().flat_map(|&y| xs.iter().map(move |&x| 0.1 + x * x + 2.0 * y * y)).collect();
        LossSurface {
            title: "bowl".into(),
            x_label: "α".into(),
            y_label: "β".into(),
            xs: xs.clone(),
            ys: xs,
            values,
            levels: 8,
            marker: Some((0.0, 0.0)),
            path: Vec::new(),
            width: 640,
            height: 520,
        }
    }

    /// Every contour point of a bowl lies on (near) its level set; the grid's linear
    /// interpolation is the only error.
    #[test]
    fn contours_follow_the_level_set() {
        let s = bowl(41);
        let segments = contour_segments(&s.xs, &s.ys, &s.values, 0.6);
        assert!(segments.len() > 20);
        for (a, b) in segments {
            for (x, y) in [a, b] {
                let v = 0.1 + x * x + 2.0 * y * y;
                assert!((v - 0.6).abs() < 0.01, "({x}, {y}) has {v}");
            }
        }
        assert!(contour_segments(&s.xs, &s.ys, &s.values, 100.0).is_empty());
        assert!(contour_segments(&s.xs, &s.ys, &s.values[1..], 0.6).is_empty());
    }

    #[test]
    fn svg_and_png_are_written() {
        let dir = tempfile::tempdir().unwrap();
        loss_surface(&bowl(11), &dir.path().join("s.svg")).unwrap();
        assert!(std::fs::read_to_string(dir.path().join("s.svg")).unwrap().contains("bowl"));
        loss_surface(&bowl(11), &dir.path().join("s.png")).unwrap();
        assert!(std::fs::read(dir.path().join("s.png")).unwrap().starts_with(b"\x89PNG"));
        let curve = vec![("along δ".to_string(), vec![(-1.0, 2.0), (0.0, 0.1), (1.0, 1.5)])];
        loss_slices("slice", "α", &curve, &dir.path().join("c.svg")).unwrap();
        let mut bad = bowl(11);
        bad.values.pop();
        assert!(matches!(loss_surface(&bad, &dir.path().join("b.svg")), Err(PlotError::Input(_))));
        let mut flat = bowl(11);
        flat.values.iter_mut().for_each(|v| *v = f64::NAN);
        assert!(loss_surface(&flat, &dir.path().join("f.svg")).is_err());
    }

    /// Two panels share one colour scale: the joint range of both, so a rough surface's high
    /// loss and a smooth one's low loss are read off the same bar.
    #[test]
    fn panels_share_one_colour_scale() {
        let (a, mut b) = (bowl(11), bowl(11));
        b.values.iter_mut().for_each(|v| *v *= 100.0);
        b.path = vec![(-0.8, 0.5), (-0.3, 0.2), (0.0, 0.0)];
        let (lo, hi) = joint_log_range(&[a.clone(), b.clone()]);
        assert!((lo - 0.1f64.log10()).abs() < 1e-12 && (hi - (100.0 * 3.1f64).log10()).abs() < 1e-12);
        let dir = tempfile::tempdir().unwrap();
        let fig = LossPanels { title: "pair".into(), panels: vec![a, b], width: 1200, height: 520 };
        loss_panels(&fig, &dir.path().join("p.svg")).unwrap();
        let svg = std::fs::read_to_string(dir.path().join("p.svg")).unwrap();
        assert!(svg.contains("pair") && svg.matches("bowl").count() == 2);
        loss_panels(&fig, &dir.path().join("p.png")).unwrap();
        assert!(matches!(
            loss_panels(&LossPanels { panels: vec![], ..fig }, &dir.path().join("e.svg")),
            Err(PlotError::Input(_))
        ));
    }
}
