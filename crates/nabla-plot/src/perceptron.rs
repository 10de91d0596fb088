//! The perceptron's separating line, epoch by epoch: one panel per data set (AND, OR, …) with
//! its four points and the line `w₁x₁ + w₂x₂ + b = 0` after each epoch, earlier lines fainter;
//! or, as a GIF, one frame per epoch.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::output::{drawing, encode_gif, render, render_rgb, write_atomic, Figure, Format};
use crate::PlotError;

/// The visible square of the input plane.
const VIEW: (f64, f64) = (-0.5, 1.5);

/// One data set and the perceptron's lines while learning it.
#[derive(Debug, Clone, PartialEq)]
pub struct PerceptronPanel {
    /// The panel's title, e.g. `AND: converged at epoch 6`.
    pub title: String,
    /// The points `(x₁, x₂, class)`, class 0 or 1.
    pub points: Vec<(f64, f64, u8)>,
    /// `(w₁, w₂, b)` at the end of each epoch, first to last.
    pub lines: Vec<(f64, f64, f64)>,
}

/// Panels side by side (two per row), with the lines of every epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct PerceptronFigure {
    /// The figure's title.
    pub title: String,
    /// One panel per data set.
    pub panels: Vec<PerceptronPanel>,
    /// Draw only the lines up to this epoch (1-based; `None` for all). Frames of the GIF
    /// set it; a panel with fewer epochs keeps showing its last line.
    pub upto: Option<usize>,
}

impl PerceptronFigure {
    fn check(&self) -> Result<(), PlotError> {
        if self.panels.is_empty() {
            return Err(PlotError::Input("a perceptron figure needs at least one panel".into()));
        }
        Ok(())
    }

    fn grid(&self) -> (u32, u32) {
        let n = self.panels.len() as u32;
        let cols = n.min(2);
        (cols, n.div_ceil(cols))
    }

    /// The most epochs of any panel: the number of frames of the animation.
    pub fn epochs(&self) -> usize {
        self.panels.iter().map(|p| p.lines.len()).max().unwrap_or(0)
    }
}

/// The two points where the line `w₁x + w₂y + b = 0` crosses the view square, if it does.
fn clip_line((w1, w2, b): (f64, f64, f64)) -> Option<((f64, f64), (f64, f64))> {
    let (lo, hi) = VIEW;
    let mut hits: Vec<(f64, f64)> = Vec::new();
    let inside = |v: f64| (lo - 1e-12..=hi + 1e-12).contains(&v);
    if w2 != 0.0 {
        for x in [lo, hi] {
            let y = -(w1 * x + b) / w2;
            if inside(y) {
                hits.push((x, y));
            }
        }
    }
    if w1 != 0.0 {
        for y in [lo, hi] {
            let x = -(w2 * y + b) / w1;
            if inside(x) {
                hits.push((x, y));
            }
        }
    }
    let first = *hits.first()?;
    // The farthest hit from the first, so a corner counted twice does not make a dot.
    let far = hits.iter().copied().max_by(|a, b| {
        let d = |p: &(f64, f64)| (p.0 - first.0).powi(2) + (p.1 - first.1).powi(2);
        d(a).total_cmp(&d(b))
    })?;
    (far != first).then_some((first, far))
}

/// The part of the view square where `w₁x + w₂y + b > 0` (the side the perceptron calls 1),
/// as a polygon: the square clipped by the half-plane (Sutherland–Hodgman, one edge).
fn positive_side((w1, w2, b): (f64, f64, f64)) -> Vec<(f64, f64)> {
    let (lo, hi) = VIEW;
    let square = [(lo, lo), (hi, lo), (hi, hi), (lo, hi)];
    let net = |p: (f64, f64)| w1 * p.0 + w2 * p.1 + b;
    let mut out = Vec::new();
    for k in 0..4 {
        let (p, q) = (square[k], square[(k + 1) % 4]);
        let (np, nq) = (net(p), net(q));
        if np > 0.0 {
            out.push(p);
        }
        if (np > 0.0) != (nq > 0.0) {
            let t = np / (np - nq);
            out.push((p.0 + t * (q.0 - p.0), p.1 + t * (q.1 - p.1)));
        }
    }
    out
}

/// Draws every epoch's line to `path` (`.svg` or `.png`).
pub fn perceptron_lines(figure: &PerceptronFigure, path: &Path) -> Result<(), PlotError> {
    figure.check()?;
    render(figure, path)
}

/// Draws one frame per epoch as a looping GIF, `delay_ms` per frame.
pub fn perceptron_animation(figure: &PerceptronFigure, delay_ms: u32, path: &Path) -> Result<(), PlotError> {
    figure.check()?;
    if Format::from_path(path)? != Format::Gif {
        return Err(PlotError::Input(format!("{}: an animation is written as .gif", path.display())));
    }
    let mut frames = Vec::new();
    for epoch in 1..=figure.epochs().max(1) {
        let frame = PerceptronFigure { upto: Some(epoch), ..figure.clone() };
        frames.push(render_rgb(&frame)?);
    }
    let (w, h) = figure.size();
    write_atomic(path, &encode_gif(&frames, w, h, delay_ms)?)
}

impl Figure for PerceptronFigure {
    fn size(&self) -> (u32, u32) {
        let (cols, rows) = self.grid();
        (20 + 380 * cols, 60 + 380 * rows)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
        let body = root.titled(&self.title, ("sans-serif", 22)).map_err(drawing)?;
        let (cols, rows) = self.grid();
        let areas = body.split_evenly((rows as usize, cols as usize));
        for (panel, area) in self.panels.iter().zip(&areas) {
            self.draw_panel(panel, area)?;
        }
        Ok(())
    }
}

impl PerceptronFigure {
    fn draw_panel<DB: DrawingBackend>(
        &self,
        panel: &PerceptronPanel,
        area: &DrawingArea<DB, Shift>,
    ) -> Result<(), PlotError> {
        let shown = match self.upto {
            Some(k) => &panel.lines[..k.min(panel.lines.len())],
            None => &panel.lines[..],
        };
        let title = match self.upto {
            Some(_) => format!("{} — epoch {}", panel.title, shown.len()),
            None => panel.title.clone(),
        };
        let (lo, hi) = VIEW;
        let mut chart = ChartBuilder::on(area)
            .caption(title, ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(34)
            .y_label_area_size(40)
            .build_cartesian_2d(lo..hi, lo..hi)
            .map_err(drawing)?;
        chart
            .configure_mesh()
            .light_line_style(RGBColor(238, 238, 238))
            .x_desc("x₁")
            .y_desc("x₂")
            .x_labels(5)
            .y_labels(5)
            .label_style(("sans-serif", 12))
            .axis_desc_style(("sans-serif", 13))
            .draw()
            .map_err(drawing)?;
        // The side the current line calls 1, lightly shaded; points on the line itself are 0.
        if let Some(&last) = shown.last() {
            let side = positive_side(last);
            if side.len() >= 3 {
                let shade = Polygon::new(side, RGBColor(160, 10, 30).mix(0.08).filled());
                chart.draw_series(std::iter::once(shade)).map_err(drawing)?;
            }
        }
        // Older lines fade: the last is drawn solid and thick.
        let n = shown.len();
        for (k, &line) in shown.iter().enumerate() {
            let Some((a, b)) = clip_line(line) else { continue };
            let last = k + 1 == n;
            let style = if last {
                RGBColor(30, 30, 30).stroke_width(3)
            } else {
                let age = (n - 1 - k) as f64 / n.max(2) as f64;
                RGBColor(120, 120, 120).mix(0.15 + 0.5 * (1.0 - age)).stroke_width(1)
            };
            chart.draw_series(std::iter::once(PathElement::new(vec![a, b], style))).map_err(drawing)?;
        }
        for &(x, y, class) in &panel.points {
            let color = if class == 1 { RGBColor(160, 10, 30) } else { RGBColor(20, 60, 140) };
            let marker = EmptyElement::at((x, y))
                + Circle::new((0, 0), 9, color.filled())
                + Circle::new((0, 0), 9, WHITE.stroke_width(2));
            chart.draw_series(std::iter::once(marker)).map_err(drawing)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_clipped_to_the_view() {
        // x₁ + x₂ − 1.5 = 0 crosses the square at (0, 1.5) and (1.5, 0).
        let (a, b) = clip_line((1.0, 1.0, -1.5)).unwrap();
        let mut ends = [a, b];
        ends.sort_by(|p, q| p.0.total_cmp(&q.0));
        assert!((ends[0].0 - 0.0).abs() < 1e-12 && (ends[0].1 - 1.5).abs() < 1e-12, "{ends:?}");
        assert!((ends[1].0 - 1.5).abs() < 1e-12 && (ends[1].1 - 0.0).abs() < 1e-12, "{ends:?}");
        // A vertical line x₁ = 0.5.
        let (a, b) = clip_line((2.0, 0.0, -1.0)).unwrap();
        assert_eq!((a.0, b.0), (0.5, 0.5));
        // Zero weights draw nothing; a line outside the square neither.
        assert!(clip_line((0.0, 0.0, 1.0)).is_none());
        assert!(clip_line((1.0, 1.0, 10.0)).is_none());
    }

    #[test]
    fn positive_side_is_the_clipped_half_plane() {
        // x₁ > 0.5: the right part of the square, a rectangle.
        let side = positive_side((1.0, 0.0, -0.5));
        assert_eq!(side.len(), 4);
        assert!(side.iter().all(|p| p.0 >= 0.5));
        // Everything, and nothing.
        assert_eq!(positive_side((0.0, 0.0, 1.0)).len(), 4);
        assert!(positive_side((0.0, 0.0, -1.0)).is_empty());
        // x₁ + x₂ > 2.5 cuts off the top-right corner: a triangle.
        assert_eq!(positive_side((1.0, 1.0, -2.5)).len(), 3);
    }

    fn figure() -> PerceptronFigure {
        let points = vec![(0.0, 0.0, 0), (0.0, 1.0, 0), (1.0, 0.0, 0), (1.0, 1.0, 1)];
        PerceptronFigure {
            title: "perceptron".into(),
            panels: vec![PerceptronPanel {
                title: "AND".into(),
                points,
                lines: vec![(1.0, 1.0, 1.0), (2.0, 1.0, -1.0), (2.0, 1.0, -2.0)],
            }],
            upto: None,
        }
    }

    #[test]
    fn svg_png_and_gif_are_written() {
        let dir = tempfile::tempdir().unwrap();
        perceptron_lines(&figure(), &dir.path().join("p.svg")).unwrap();
        let svg = std::fs::read_to_string(dir.path().join("p.svg")).unwrap();
        assert!(svg.contains("AND"));
        perceptron_lines(&figure(), &dir.path().join("p.png")).unwrap();
        assert!(std::fs::read(dir.path().join("p.png")).unwrap().starts_with(b"\x89PNG"));
        perceptron_animation(&figure(), 500, &dir.path().join("p.gif")).unwrap();
        assert!(std::fs::read(dir.path().join("p.gif")).unwrap().starts_with(b"GIF89a"));
        assert!(perceptron_animation(&figure(), 500, &dir.path().join("p.png")).is_err());
        let empty = PerceptronFigure { panels: vec![], ..figure() };
        assert!(matches!(perceptron_lines(&empty, &dir.path().join("e.svg")), Err(PlotError::Input(_))));
    }
}
