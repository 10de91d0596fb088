//! Line charts: training curves (loss and accuracy against epoch) and sweeps (a final metric
//! against a swept value), as one or more panels side by side under one title.
//!
//! The figure types, the entry points and the drawing of a panel are here; `axes` holds
//! the drawn ranges and tick text, `legend` where the legend goes and how it is drawn.

mod axes;
mod legend;

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::output::{animate, drawing, render, Figure};
use crate::PlotError;
use axes::{axis, panel_ranges, tick};
use legend::{
    corner_rect, draw_legend, entries, legend_size, placement, Corner, Placement, Rect, LEGEND_FONT, LEGEND_PAD,
};

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
/// trial) is drawn as a red × on the bottom edge instead. With `scatter`, the points are
/// drawn as markers only, unconnected (samples beside the curves fitted to them).
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
    /// Markers only, no line between them (data points).
    pub scatter: bool,
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

/// Draws the figures as the frames of a looping GIF, `delay_ms` per frame (e.g. a fitted
/// curve across training); `path` must end in `.gif`, every frame must have the first's size.
pub fn line_animation(frames: &[LineFigure], delay_ms: u32, path: &Path) -> Result<(), PlotError> {
    for frame in frames {
        if frame.panels.is_empty() {
            return Err(PlotError::Input("nothing to plot: no panels".into()));
        }
        for panel in &frame.panels {
            panel_ranges(panel)?;
        }
    }
    animate(frames, delay_ms, path)
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

/// Margin around a panel's chart.
const MARGIN: i32 = 12;
const X_LABEL_AREA: i32 = 48;
const Y_LABEL_AREA: i32 = 64;

fn draw_panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, panel: &Panel) -> Result<(), PlotError> {
    let ranges = panel_ranges(panel)?;
    let ((x0, x1), (y0, y1)) = ranges;
    let entries = entries(panel);
    let label_style = TextStyle::from(("sans-serif", LEGEND_FONT).into_font());
    let text: Vec<(u32, u32)> = entries
        .iter()
        .map(|e| area.estimate_text_size(e.label, &label_style))
        .collect::<Result<_, _>>()
        .map_err(drawing)?;
    let legend = legend_size(&text);

    // The plotting area as the chart builder will lay it out: margins, the caption, then the
    // axis label areas (see plotters' `ChartBuilder::build_cartesian_2d`).
    let caption_style = TextStyle::from(("sans-serif", 18).into_font());
    let (_, caption_h) = area.estimate_text_size(&panel.title, &caption_style).map_err(drawing)?;
    let caption = caption_h as i32 + 2 * (caption_h as i32 / 2).min(5);
    let (w, h) = area.dim_in_pixel();
    let plot: Rect = (MARGIN + Y_LABEL_AREA, MARGIN + caption, w as i32 - MARGIN, h as i32 - MARGIN - X_LABEL_AREA);
    let place = if entries.is_empty() {
        Placement::Inside(Corner::UpperRight)
    } else {
        placement(panel, ranges, plot, legend, entries.len())
    };

    // Outside: the legend takes a strip at the right; the chart the rest.
    let strip = w as i32 - legend.0 - LEGEND_PAD;
    let chart_area = match place {
        Placement::Outside => area.split_horizontally(strip).0,
        Placement::Inside(_) => area.clone(),
    };
    let mut chart = ChartBuilder::on(&chart_area)
        .caption(&panel.title, ("sans-serif", 18))
        .margin(MARGIN)
        .x_label_area_size(X_LABEL_AREA)
        .y_label_area_size(Y_LABEL_AREA)
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
    // Dots on top: samples stay visible under the curves fitted to them.
    let lines_then_dots = panel.series.iter().filter(|s| !s.scatter).chain(panel.series.iter().filter(|s| s.scatter));
    for s in lines_then_dots {
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
        let inside = |p: &&(f64, f64)| (y0..=y1).contains(&p.1);
        if s.scatter {
            // A filled dot with a white rim stays visible where it sits on a curve.
            let dots = segments.iter().flatten().filter(inside).map(|&p| {
                EmptyElement::at(p)
                    + Circle::new((0, 0), 4, color.filled())
                    + Circle::new((0, 0), 4, WHITE.stroke_width(1))
            });
            chart.draw_series(dots).map_err(drawing)?;
            continue;
        }
        for points in segments.into_iter().filter(|p| !p.is_empty()) {
            let few = points.len() <= 40;
            // A fixed y range cuts a line where it leaves (plotters would flatten it onto the edge).
            let pieces = if panel.y_range.is_some() { clip_to_band(&points, (y0, y1)) } else { vec![points.clone()] };
            for piece in pieces {
                if s.dashed {
                    chart.draw_series(DashedLineSeries::new(piece, 7, 4, style)).map_err(drawing)?;
                } else {
                    chart.draw_series(LineSeries::new(piece, style)).map_err(drawing)?;
                }
            }
            if few {
                let marks = points.iter().filter(inside).map(|&p| Circle::new(p, 3, color.filled()));
                chart.draw_series(marks).map_err(drawing)?;
            }
        }
    }
    if !diverged.is_empty() {
        let red = RGBColor(200, 0, 0);
        let bottom = y0 + 0.03 * (y1 - y0);
        chart
            .draw_series(diverged.iter().map(|&x| Cross::new((x, bottom), 7, red.stroke_width(3))))
            .map_err(drawing)?;
    }
    if entries.is_empty() {
        return Ok(());
    }
    // Pixels of `area`, from the chart's real plotting area.
    let (base_x, base_y) = area.get_base_pixel();
    let (xs, ys) = chart.plotting_area().get_pixel_range();
    let drawn: Rect = (xs.start - base_x, ys.start - base_y, xs.end - base_x, ys.end - base_y);
    let at = match place {
        Placement::Outside => (strip, drawn.1),
        Placement::Inside(corner) => {
            let r = corner_rect(drawn, legend, corner);
            (r.0, r.1)
        }
    };
    draw_legend(area, &entries, &text, at)
}

/// The parts of the polyline `points` inside the band `lo ≤ y ≤ hi`, cut where it crosses an
/// edge (at the crossing).
fn clip_to_band(points: &[(f64, f64)], (lo, hi): (f64, f64)) -> Vec<Vec<(f64, f64)>> {
    let mut pieces = Vec::new();
    let mut piece: Vec<(f64, f64)> = Vec::new();
    if let [only] = points {
        if (lo..=hi).contains(&only.1) {
            pieces.push(vec![*only]);
        }
        return pieces;
    }
    for pair in points.windows(2) {
        let (p, q) = (pair[0], pair[1]);
        let dy = q.1 - p.1;
        let (t0, t1) = if dy == 0.0 {
            if (lo..=hi).contains(&p.1) {
                (0.0, 1.0)
            } else {
                (1.0, 0.0)
            }
        } else {
            let (a, b) = ((lo - p.1) / dy, (hi - p.1) / dy);
            (a.min(b).max(0.0), a.max(b).min(1.0))
        };
        if t0 > t1 {
            pieces.extend((!piece.is_empty()).then(|| std::mem::take(&mut piece)));
            continue;
        }
        let at = |t: f64| (p.0 + t * (q.0 - p.0), p.1 + t * dy);
        if t0 > 0.0 || piece.is_empty() {
            pieces.extend((!piece.is_empty()).then(|| std::mem::take(&mut piece)));
            piece.push(at(t0));
        }
        piece.push(at(t1));
        if t1 < 1.0 {
            pieces.push(std::mem::take(&mut piece));
        }
    }
    pieces.extend((!piece.is_empty()).then_some(piece));
    pieces
}

#[cfg(test)]
mod tests;
