//! Several functions of two inputs side by side: one heat map per panel over the same plane
//! and the same colour scale (one colour bar for all), with the same points on each — e.g. the
//! true function and every model fitted to samples of it.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::boundary::{bilinear, diverging};
use crate::heatmap::{colour_bar, heat_chart, split_for_bar};
use crate::output::{animate, drawing, render, Figure};
use crate::PlotError;

/// One panel: a caption and its values on the figure's grid.
#[derive(Debug, Clone, PartialEq)]
pub struct SurfacePanel {
    /// The panel's caption.
    pub title: String,
    /// `values[r * cols + c]` at `x = x0 + c/(cols−1)·(x1−x0)`, `y = y0 + r/(rows−1)·(y1−y0)`
    /// (row 0 at the bottom).
    pub values: Vec<f64>,
}

/// Heat maps of functions on one grid, in a grid of panels under a title.
#[derive(Debug, Clone, PartialEq)]
pub struct Surfaces {
    /// The figure's title.
    pub title: String,
    /// First input's axis label.
    pub x_label: String,
    /// Second input's axis label.
    pub y_label: String,
    /// The first input's range.
    pub x_range: (f64, f64),
    /// The second input's range.
    pub y_range: (f64, f64),
    /// Samples per row (along x).
    pub cols: usize,
    /// Rows (along y).
    pub rows: usize,
    /// The panels, left to right, then top to bottom.
    pub panels: Vec<SurfacePanel>,
    /// Panels per row of the figure.
    pub columns: usize,
    /// The values mapped to the ends of the colour scale (shared by every panel).
    pub value_range: (f64, f64),
    /// What the colour shows (the colour bar's label).
    pub value_label: String,
    /// Points drawn on every panel (e.g. the training samples).
    pub points: Vec<(f64, f64)>,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

impl Surfaces {
    fn check(&self) -> Result<(), PlotError> {
        if self.panels.is_empty() || self.columns == 0 {
            return Err(PlotError::Input("nothing to plot: no panels".into()));
        }
        if self.cols < 2 || self.rows < 2 {
            return Err(PlotError::Input(format!(
                "surfaces need at least 2×2 samples; got {}×{}",
                self.cols, self.rows
            )));
        }
        if let Some(p) = self.panels.iter().find(|p| p.values.len() != self.cols * self.rows) {
            return Err(PlotError::Input(format!(
                "{}: {} values for a {}×{} grid",
                p.title,
                p.values.len(),
                self.cols,
                self.rows
            )));
        }
        let ordered = |(a, b): (f64, f64)| a.is_finite() && b.is_finite() && a < b;
        if !ordered(self.x_range) || !ordered(self.y_range) || !ordered(self.value_range) {
            return Err(PlotError::Input("surfaces need finite ranges with low < high".into()));
        }
        Ok(())
    }
}

/// Draws the panels to `path` (`.svg` or `.png`).
pub fn surfaces(figure: &Surfaces, path: &Path) -> Result<(), PlotError> {
    figure.check()?;
    render(figure, path)
}

/// Draws the figures as the frames of a looping GIF, `delay_ms` per frame (e.g. fitted
/// surfaces across training); `path` must end in `.gif`, every frame must have the first's size.
pub fn surfaces_animation(frames: &[Surfaces], delay_ms: u32, path: &Path) -> Result<(), PlotError> {
    for frame in frames {
        frame.check()?;
    }
    animate(frames, delay_ms, path)
}

impl Figure for Surfaces {
    fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
        let body = root.titled(&self.title, ("sans-serif", 22)).map_err(drawing)?;
        let (main, bar) = split_for_bar(&body);
        let columns = self.columns.min(self.panels.len());
        let rows = self.panels.len().div_ceil(columns);
        let areas = main.split_evenly((rows, columns));
        let labels = (self.x_label.as_str(), self.y_label.as_str());
        let grid = ((self.cols, self.rows), (self.x_range, self.y_range));
        for (area, panel) in areas.iter().zip(&self.panels) {
            let area = area.titled(&panel.title, ("sans-serif", 16)).map_err(drawing)?;
            let colour = |x, y| diverging(bilinear(&panel.values, grid.0, grid.1, x, y), self.value_range);
            let mut chart = heat_chart(&area, self.x_range, self.y_range, labels, colour)?;
            let dots = self.points.iter().map(|&p| {
                EmptyElement::at(p)
                    + Circle::new((0, 0), 3, BLACK.filled())
                    + Circle::new((0, 0), 3, WHITE.stroke_width(1))
            });
            chart.draw_series(dots).map_err(drawing)?;
        }
        colour_bar(&bar, self.value_range, &self.value_label, None, |v| diverging(v, self.value_range))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figure() -> Surfaces {
        let (cols, rows) = (5, 4);
        let plane = |f: fn(f64, f64) -> f64| -> Vec<f64> {
            (0..rows).flat_map(|r| (0..cols).map(move |c| f(f64::from(c as u8), f64::from(r as u8)))).collect()
        };
        Surfaces {
            title: "t".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            x_range: (0.0, 4.0),
            y_range: (0.0, 3.0),
            cols,
            rows,
            panels: vec![
                SurfacePanel { title: "x + y".into(), values: plane(|x, y| x + y) },
                SurfacePanel { title: "x - y".into(), values: plane(|x, y| x - y) },
                SurfacePanel { title: "x".into(), values: plane(|x, _| x) },
            ],
            columns: 2,
            value_range: (-3.0, 7.0),
            value_label: "f".into(),
            points: vec![(1.0, 1.0)],
            width: 700,
            height: 600,
        }
    }

    #[test]
    fn draws_every_panel_and_checks_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.png");
        surfaces(&figure(), &path).unwrap();
        assert!(std::fs::metadata(&path).unwrap().len() > 1000);
        let mut bad = figure();
        bad.panels[1].values.pop();
        let err = surfaces(&bad, &dir.path().join("bad.png")).unwrap_err().to_string();
        assert!(err.contains("x - y: 19 values for a 5×4 grid"), "{err}");
        assert!(!dir.path().join("bad.png").exists());
        let gif = dir.path().join("s.gif");
        surfaces_animation(&[figure(), figure()], 100, &gif).unwrap();
        assert!(std::fs::read(&gif).unwrap().starts_with(b"GIF89a"));
        assert!(surfaces_animation(&[figure()], 100, &dir.path().join("s.png")).is_err());
    }
}
