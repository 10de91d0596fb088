//! Decision surfaces of 2-input models: the model's output over the input plane as a heat map,
//! the training points on top, a colour bar beside; and the same across training as a GIF.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::heatmap::{colour_bar, heat_chart, split_for_bar};
use crate::output::{animate, drawing, render, Figure};
use crate::PlotError;

/// Low end of the colour scale (blue), its middle (near white) and its high end (red).
const LOW: (f64, f64, f64) = (33.0, 102.0, 172.0);
const MID: (f64, f64, f64) = (247.0, 247.0, 247.0);
const HIGH: (f64, f64, f64) = (178.0, 24.0, 43.0);

/// A data point drawn over the surface, coloured by its class.
#[derive(Debug, Clone, PartialEq)]
pub struct LabeledPoint {
    /// First input.
    pub x: f64,
    /// Second input.
    pub y: f64,
    /// Its class (0 is drawn blue, 1 red, others from the palette).
    pub class: usize,
}

/// A model's output sampled on a grid over the input plane.
#[derive(Debug, Clone, PartialEq)]
pub struct Boundary {
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
    /// `values[r * cols + c]` is the output at `x = x0 + c/(cols−1)·(x1−x0)`,
    /// `y = y0 + r/(rows−1)·(y1−y0)` (row 0 at the bottom).
    pub values: Vec<f64>,
    /// The output values mapped to the ends of the colour scale.
    pub value_range: (f64, f64),
    /// What the colour shows (the colour bar's label).
    pub value_label: String,
    /// Points drawn on top.
    pub points: Vec<LabeledPoint>,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

impl Boundary {
    fn check(&self) -> Result<(), PlotError> {
        if self.cols < 2 || self.rows < 2 || self.values.len() != self.cols * self.rows {
            return Err(PlotError::Input(format!(
                "a decision surface needs at least 2×2 samples and cols·rows values; got {}×{} and {} values",
                self.cols,
                self.rows,
                self.values.len()
            )));
        }
        let ordered = |(a, b): (f64, f64)| a.is_finite() && b.is_finite() && a < b;
        if !ordered(self.x_range) || !ordered(self.y_range) || !ordered(self.value_range) {
            return Err(PlotError::Input("a decision surface needs finite ranges with low < high".into()));
        }
        Ok(())
    }

    /// The output at a point of the plane, interpolated between the four nearest samples.
    fn sample(&self, x: f64, y: f64) -> f64 {
        bilinear(&self.values, (self.cols, self.rows), (self.x_range, self.y_range), x, y)
    }

    /// The colour of an output value.
    fn color(&self, v: f64) -> [u8; 3] {
        diverging(v, self.value_range)
    }
}

/// The value at `(x, y)` of a `cols × rows` grid of samples over `x_range × y_range` (row 0
/// at the lowest y), interpolated between the four nearest samples.
pub(crate) fn bilinear(
    values: &[f64],
    (cols, rows): (usize, usize),
    (x_range, y_range): ((f64, f64), (f64, f64)),
    x: f64,
    y: f64,
) -> f64 {
    let fx = ((x - x_range.0) / (x_range.1 - x_range.0) * (cols - 1) as f64).clamp(0.0, (cols - 1) as f64);
    let fy = ((y - y_range.0) / (y_range.1 - y_range.0) * (rows - 1) as f64).clamp(0.0, (rows - 1) as f64);
    let (c, r) = (fx.floor() as usize, fy.floor() as usize);
    let (c1, r1) = ((c + 1).min(cols - 1), (r + 1).min(rows - 1));
    let (tx, ty) = (fx - c as f64, fy - r as f64);
    let v = |r: usize, c: usize| values[r * cols + c];
    let bottom = v(r, c) * (1.0 - tx) + v(r, c1) * tx;
    let top = v(r1, c) * (1.0 - tx) + v(r1, c1) * tx;
    bottom * (1.0 - ty) + top * ty
}

/// The colour of `v` on the blue–white–red scale over `lo..hi` (clamped; non-finite is white).
pub(crate) fn diverging(v: f64, (lo, hi): (f64, f64)) -> [u8; 3] {
    let t = if v.is_finite() { ((v - lo) / (hi - lo)).clamp(0.0, 1.0) } else { 0.5 };
    let (a, b, u) = if t < 0.5 { (LOW, MID, t * 2.0) } else { (MID, HIGH, t * 2.0 - 1.0) };
    let mix = |p: f64, q: f64| (p + (q - p) * u).round() as u8;
    [mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2)]
}

/// The colour of a point's class: black and gold stand out on both ends of the blue–red
/// surface (a point the same colour as the surface under it would vanish).
fn class_color(class: usize) -> RGBColor {
    match class {
        0 => RGBColor(20, 20, 20),
        1 => RGBColor(255, 200, 0),
        n => crate::lines::PALETTE[n % crate::lines::PALETTE.len()],
    }
}

/// Draws the surface to `path` (`.svg` or `.png`).
pub fn boundary(surface: &Boundary, path: &Path) -> Result<(), PlotError> {
    surface.check()?;
    render(surface, path)
}

/// Draws the surfaces as the frames of a looping GIF, `delay_ms` per frame; `path` must end
/// in `.gif`, and every frame must have the first one's size.
pub fn boundary_animation(frames: &[Boundary], delay_ms: u32, path: &Path) -> Result<(), PlotError> {
    for frame in frames {
        frame.check()?;
    }
    animate(frames, delay_ms, path)
}

impl Figure for Boundary {
    fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
        let body = root.titled(&self.title, ("sans-serif", 22)).map_err(drawing)?;
        let (main, bar) = split_for_bar(&body);
        let labels = (self.x_label.as_str(), self.y_label.as_str());
        let mut chart = heat_chart(&main, self.x_range, self.y_range, labels, |x, y| self.color(self.sample(x, y)))?;

        let mut classes: Vec<usize> = self.points.iter().map(|p| p.class).collect();
        classes.sort_unstable();
        classes.dedup();
        for class in classes {
            let color = class_color(class);
            let points = self.points.iter().filter(|p| p.class == class).map(|p| (p.x, p.y));
            chart
                .draw_series(points.map(|p| {
                    EmptyElement::at(p)
                        + Circle::new((0, 0), 9, color.filled())
                        + Circle::new((0, 0), 9, WHITE.stroke_width(2))
                }))
                .map_err(drawing)?
                .label(format!("class {class}"))
                .legend(move |(x, y)| {
                    EmptyElement::at((x + 8, y))
                        + Circle::new((0, 0), 6, color.filled())
                        + Circle::new((0, 0), 6, BLACK.stroke_width(1))
                });
        }
        if !self.points.is_empty() {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(180, 180, 180))
                .label_font(("sans-serif", 13))
                .draw()
                .map_err(drawing)?;
        }
        colour_bar(&bar, self.value_range, &self.value_label, None, |v| self.color(v))
    }
}
