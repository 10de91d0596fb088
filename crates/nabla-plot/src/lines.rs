//! Line charts: training curves (loss and accuracy against epoch) and sweeps (a final metric
//! against a swept value), as one or more panels side by side under one title.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::output::{drawing, render, Figure};
use crate::PlotError;

/// Colours of series, by index (Tableau 10: distinct, and readable when printed).
pub(crate) const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// One line: `(x, y)` points in order. A point whose `y` is NaN or infinite (a diverged
/// trial) is drawn as a red × on the bottom edge instead.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The legend entry.
    pub label: String,
    /// The points, in drawing order.
    pub points: Vec<(f64, f64)>,
    /// Index into the palette (series of one run share a colour across panels).
    pub color: usize,
    /// Dashed instead of solid (e.g. validation beside a solid training line).
    pub dashed: bool,
}

/// One chart: axes, labels and its series.
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    /// The chart's caption.
    pub title: String,
    /// The x axis label, with its unit.
    pub x_label: String,
    /// The y axis label, with its unit.
    pub y_label: String,
    /// The lines.
    pub series: Vec<Series>,
    /// A logarithmic x axis (every x must then be > 0).
    pub log_x: bool,
    /// A logarithmic y axis (every finite y must then be > 0).
    pub log_y: bool,
    /// A fixed y range instead of the data's.
    pub y_range: Option<(f64, f64)>,
}

/// Panels side by side under a title.
#[derive(Debug, Clone, PartialEq)]
pub struct LineFigure {
    /// The figure's title.
    pub title: String,
    /// The charts, left to right.
    pub panels: Vec<Panel>,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

/// Draws `figure` to `path` (`.svg` or `.png`).
pub fn line_figure(figure: &LineFigure, path: &Path) -> Result<(), PlotError> {
    if figure.panels.is_empty() {
        return Err(PlotError::Input("nothing to plot: no panels".into()));
    }
    for panel in &figure.panels {
        panel_ranges(panel)?;
    }
    render(figure, path)
}

/// `figure` as SVG text (to inline in a page).
pub fn line_figure_svg(figure: &LineFigure) -> Result<String, PlotError> {
    if figure.panels.is_empty() {
        return Err(PlotError::Input("nothing to plot: no panels".into()));
    }
    for panel in &figure.panels {
        panel_ranges(panel)?;
    }
    crate::output::render_svg(figure)
}

impl Figure for LineFigure {
    fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
        let body = root.titled(&self.title, ("sans-serif", 24)).map_err(drawing)?;
        let areas = body.split_evenly((1, self.panels.len()));
        for (area, panel) in areas.iter().zip(&self.panels) {
            draw_panel(area, panel)?;
        }
        Ok(())
    }
}

/// Maps a value onto the drawn axis (log10 for a log axis).
fn axis(v: f64, log: bool) -> f64 {
    if log {
        v.log10()
    } else {
        v
    }
}

/// Tick text: plain numbers, or the power of ten back for a log axis.
fn tick(v: f64, log: bool) -> String {
    let value = if log { 10f64.powf(v) } else { v };
    if value == 0.0 {
        return "0".into();
    }
    let magnitude = value.abs();
    let plain = if log { (0.01..1000.0).contains(&magnitude) } else { (1e-3..1e5).contains(&magnitude) };
    if !plain {
        let text = format!("{value:.1e}");
        // 1.0e-3 reads better as 1e-3.
        return text.replace(".0e", "e");
    }
    let text = format!("{value:.4}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The drawn x and y ranges of a panel, padded; an error if there is nothing finite to draw
/// or a log axis gets a value ≤ 0.
/// A drawn axis range, low to high.
type Span = (f64, f64);

fn panel_ranges(panel: &Panel) -> Result<(Span, Span), PlotError> {
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    for s in &panel.series {
        for &(x, y) in &s.points {
            if !x.is_finite() {
                continue;
            }
            if panel.log_x && x <= 0.0 {
                return Err(PlotError::Input(format!(
                    "{}: x = {x} cannot go on a logarithmic axis (values must be > 0)",
                    panel.title
                )));
            }
            xs.push(axis(x, panel.log_x));
            if y.is_finite() {
                if panel.log_y && y <= 0.0 {
                    return Err(PlotError::Input(format!(
                        "{}: y = {y} cannot go on a logarithmic axis (values must be > 0)",
                        panel.title
                    )));
                }
                ys.push(axis(y, panel.log_y));
            }
        }
    }
    if xs.is_empty() {
        return Err(PlotError::Input(format!("{}: no points to plot", panel.title)));
    }
    let span = |v: &[f64]| {
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if hi - lo < 1e-12 {
            (lo - 0.5, hi + 0.5)
        } else {
            let pad = 0.05 * (hi - lo);
            (lo - pad, hi + pad)
        }
    };
    let x = span(&xs);
    let y = match panel.y_range {
        Some((lo, hi)) => (axis(lo, panel.log_y), axis(hi, panel.log_y)),
        None if ys.is_empty() => (0.0, 1.0),
        None => span(&ys),
    };
    Ok((x, y))
}

fn draw_panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, panel: &Panel) -> Result<(), PlotError> {
    let ((x0, x1), (y0, y1)) = panel_ranges(panel)?;
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(drawing)?;
    let (log_x, log_y) = (panel.log_x, panel.log_y);
    let x_fmt = move |v: &f64| tick(*v, log_x);
    let y_fmt = move |v: &f64| tick(*v, log_y);
    chart
        .configure_mesh()
        .x_desc(panel.x_label.as_str())
        .y_desc(panel.y_label.as_str())
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .x_labels(8)
        .y_labels(8)
        .label_style(("sans-serif", 13))
        .axis_desc_style(("sans-serif", 15))
        .light_line_style(RGBColor(238, 238, 238))
        .bold_line_style(RGBColor(215, 215, 215))
        .draw()
        .map_err(drawing)?;

    let mut diverged = Vec::new();
    for s in &panel.series {
        let color = PALETTE[s.color % PALETTE.len()];
        let style = color.stroke_width(2);
        let mut segment: Vec<(f64, f64)> = Vec::new();
        let mut segments = Vec::new();
        for &(x, y) in &s.points {
            if !x.is_finite() {
                continue;
            }
            if y.is_finite() {
                segment.push((axis(x, log_x), axis(y, log_y)));
            } else {
                diverged.push(axis(x, log_x));
                segments.push(std::mem::take(&mut segment));
            }
        }
        segments.push(segment);
        let mut labelled = false;
        for points in segments.into_iter().filter(|p| !p.is_empty()) {
            let few = points.len() <= 40;
            let anno = if s.dashed {
                chart.draw_series(DashedLineSeries::new(points.clone(), 7, 4, style)).map_err(drawing)?
            } else {
                chart.draw_series(LineSeries::new(points.clone(), style)).map_err(drawing)?
            };
            if !labelled {
                let dashed = s.dashed;
                anno.label(s.label.as_str()).legend(move |(x, y)| {
                    let end = if dashed { x + 8 } else { x + 22 };
                    PathElement::new(vec![(x, y), (end, y)], color.stroke_width(2))
                });
                labelled = true;
            }
            if few {
                chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled()))).map_err(drawing)?;
            }
        }
    }
    if !diverged.is_empty() {
        let red = RGBColor(200, 0, 0);
        let bottom = y0 + 0.03 * (y1 - y0);
        chart
            .draw_series(diverged.iter().map(|&x| Cross::new((x, bottom), 7, red.stroke_width(3))))
            .map_err(drawing)?
            .label("diverged (loss NaN)")
            .legend(move |(x, y)| Cross::new((x + 10, y), 6, red.stroke_width(3)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(180, 180, 180))
        .label_font(("sans-serif", 13))
        .draw()
        .map_err(drawing)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_read_as_numbers() {
        assert_eq!(tick(-3.0, true), "1e-3");
        assert_eq!(tick(0.0, true), "1");
        assert_eq!(tick(-1.0, true), "0.1");
        assert_eq!(tick(0.5, false), "0.5");
        assert_eq!(tick(2.0, false), "2");
        assert_eq!(tick(0.0, false), "0");
    }

    #[test]
    fn log_axis_refuses_zero() {
        let panel = Panel {
            title: "t".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            series: vec![Series { label: "a".into(), points: vec![(0.0, 1.0)], color: 0, dashed: false }],
            log_x: true,
            log_y: false,
            y_range: None,
        };
        assert!(panel_ranges(&panel).unwrap_err().to_string().contains("logarithmic"));
    }
}
