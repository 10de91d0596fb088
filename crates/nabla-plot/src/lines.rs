//! Line charts: training curves (loss and accuracy against epoch) and sweeps (a final metric
//! against a swept value), as one or more panels side by side under one title.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

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

/// One line of the legend: how its mark is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mark {
    /// A line sample, solid or dashed.
    Line { dashed: bool },
    /// The red × of diverged points.
    Cross,
}

/// A legend entry.
struct Entry<'a> {
    label: &'a str,
    color: RGBColor,
    mark: Mark,
}

/// Where the legend goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Corner {
    UpperRight,
    UpperLeft,
    LowerRight,
    LowerLeft,
}

/// Corners in order of preference when they cover as much data and keep as far from it.
const CORNERS: [Corner; 4] = [Corner::UpperRight, Corner::UpperLeft, Corner::LowerRight, Corner::LowerLeft];

/// Where the legend goes: in a corner of the plot, or in a strip to its right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placement {
    Inside(Corner),
    Outside,
}

/// A rectangle in pixels: left, top, right, bottom.
type Rect = (i32, i32, i32, i32);

const LEGEND_FONT: u32 = 13;
/// Space inside the legend's box, and between the box and the plot's edge.
const LEGEND_PAD: i32 = 6;
/// Width of a line sample and the gap before its label.
const SWATCH: i32 = 24;
/// More entries than this always go outside the plot.
const MAX_INSIDE: usize = 6;
/// Below this width the plot is too narrow to give up a strip for the legend.
const MIN_PLOT_WIDTH: i32 = 240;

/// The legend box for `entries` whose labels measure `text` (width, height) each.
fn legend_size(text: &[(u32, u32)]) -> (i32, i32) {
    let width = text.iter().map(|t| t.0 as i32).max().unwrap_or(0);
    let row = text.iter().map(|t| t.1 as i32).max().unwrap_or(LEGEND_FONT as i32).max(12) + 4;
    (2 * LEGEND_PAD + SWATCH + 6 + width, 2 * LEGEND_PAD + row * text.len() as i32)
}

/// The legend's rectangle in a corner of `plot`.
fn corner_rect(plot: Rect, legend: (i32, i32), corner: Corner) -> Rect {
    let (l, t, r, b) = plot;
    let x = match corner {
        Corner::UpperLeft | Corner::LowerLeft => l + LEGEND_PAD,
        Corner::UpperRight | Corner::LowerRight => r - LEGEND_PAD - legend.0,
    };
    let y = match corner {
        Corner::UpperLeft | Corner::UpperRight => t + LEGEND_PAD,
        Corner::LowerLeft | Corner::LowerRight => b - LEGEND_PAD - legend.1,
    };
    (x, y, x + legend.0, y + legend.1)
}

/// The panel's drawn data in pixels of `plot`: its points, samples every 2 pixels along its
/// lines, and the diverged markers on the bottom edge.
fn data_pixels(panel: &Panel, ranges: (Span, Span), plot: Rect) -> Vec<(i32, i32)> {
    let ((x0, x1), (y0, y1)) = ranges;
    let (l, t, r, b) = plot;
    let px = |x: f64| f64::from(l) + (axis(x, panel.log_x) - x0) / (x1 - x0) * f64::from(r - l);
    let py = |y: f64| f64::from(b) - (axis(y, panel.log_y) - y0) / (y1 - y0) * f64::from(b - t);
    let mut out = Vec::new();
    for s in &panel.series {
        let mut previous: Option<(f64, f64)> = None;
        for &(x, y) in &s.points {
            if !x.is_finite() {
                continue;
            }
            if !y.is_finite() {
                out.push((px(x) as i32, b - 4));
                previous = None;
                continue;
            }
            let here = (px(x), py(y));
            if let Some(from) = previous {
                let steps = ((here.0 - from.0).hypot(here.1 - from.1) / 2.0).ceil().max(1.0) as usize;
                for i in 1..steps {
                    let f = i as f64 / steps as f64;
                    out.push(((from.0 + f * (here.0 - from.0)) as i32, (from.1 + f * (here.1 - from.1)) as i32));
                }
            }
            out.push((here.0 as i32, here.1 as i32));
            previous = Some(here);
        }
    }
    out
}

/// How many of `pixels` fall in `rect` (grown by the line width).
fn covered(pixels: &[(i32, i32)], rect: Rect) -> usize {
    let (l, t, r, b) = rect;
    pixels.iter().filter(|&&(x, y)| x >= l - 2 && x <= r + 2 && y >= t - 2 && y <= b + 2).count()
}

/// The squared distance from `rect` to the nearest of `pixels` (none: as far as can be).
fn clearance(pixels: &[(i32, i32)], rect: Rect) -> i64 {
    let (l, t, r, b) = rect;
    pixels
        .iter()
        .map(|&(x, y)| {
            let dx = i64::from((l - x).max(x - r).max(0));
            let dy = i64::from((t - y).max(y - b).max(0));
            dx * dx + dy * dy
        })
        .min()
        .unwrap_or(i64::MAX)
}

/// The corner whose legend box covers the fewest of `pixels` and, among those, keeps the
/// farthest from them; and how many it covers.
fn emptiest_corner(pixels: &[(i32, i32)], plot: Rect, legend: (i32, i32)) -> (Corner, usize) {
    let mut best = (Corner::UpperRight, usize::MAX, 0);
    for corner in CORNERS {
        let rect = corner_rect(plot, legend, corner);
        let (count, clear) = (covered(pixels, rect), clearance(pixels, rect));
        if count < best.1 || (count == best.1 && clear > best.2) {
            best = (corner, count, clear);
        }
    }
    (best.0, best.1)
}

/// Inside, in the corner over the least data; outside (a strip right of the plot) when there
/// are many entries, when the box would fill much of the plot, or when every corner would
/// cover data and the plot is wide enough to give up the strip.
fn placement(panel: &Panel, ranges: (Span, Span), plot: Rect, legend: (i32, i32), entries: usize) -> Placement {
    let (w, h) = (plot.2 - plot.0, plot.3 - plot.1);
    let room = w - legend.0 - LEGEND_PAD >= MIN_PLOT_WIDTH;
    let too_big = 2 * legend.0 > w || 2 * legend.1 > h;
    if room && (entries > MAX_INSIDE || too_big) {
        return Placement::Outside;
    }
    let (corner, count) = emptiest_corner(&data_pixels(panel, ranges, plot), plot, legend);
    if count > 0 && room {
        Placement::Outside
    } else {
        Placement::Inside(corner)
    }
}

/// The legend's entries: one per series, and one for the diverged markers if there are any.
fn entries(panel: &Panel) -> Vec<Entry<'_>> {
    let mut out: Vec<Entry<'_>> = panel
        .series
        .iter()
        .map(|s| Entry {
            label: &s.label,
            color: PALETTE[s.color % PALETTE.len()],
            mark: Mark::Line { dashed: s.dashed },
        })
        .collect();
    if panel.series.iter().any(|s| s.points.iter().any(|p| p.0.is_finite() && !p.1.is_finite())) {
        out.push(Entry { label: "diverged (loss NaN)", color: RGBColor(200, 0, 0), mark: Mark::Cross });
    }
    out
}

/// Draws the legend box with its top-left corner at `at` (pixels of `area`).
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[Entry<'_>],
    text: &[(u32, u32)],
    at: (i32, i32),
) -> Result<(), PlotError> {
    let size = legend_size(text);
    let (x0, y0) = at;
    let (x1, y1) = (x0 + size.0, y0 + size.1);
    area.draw(&Rectangle::new([(x0, y0), (x1, y1)], WHITE.mix(0.85).filled())).map_err(drawing)?;
    area.draw(&Rectangle::new([(x0, y0), (x1, y1)], RGBColor(180, 180, 180).stroke_width(1))).map_err(drawing)?;
    let row = (size.1 - 2 * LEGEND_PAD) / entries.len().max(1) as i32;
    let style = TextStyle::from(("sans-serif", LEGEND_FONT).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    for (i, e) in entries.iter().enumerate() {
        let y = y0 + LEGEND_PAD + row * i as i32 + row / 2;
        let x = x0 + LEGEND_PAD;
        let stroke = e.color.stroke_width(2);
        match e.mark {
            Mark::Line { dashed: false } => {
                area.draw(&PathElement::new(vec![(x, y), (x + SWATCH, y)], stroke)).map_err(drawing)?;
            }
            Mark::Line { dashed: true } => {
                for (a, b) in [(0, 7), (11, 18), (22, SWATCH)] {
                    area.draw(&PathElement::new(vec![(x + a, y), (x + b, y)], stroke)).map_err(drawing)?;
                }
            }
            Mark::Cross => {
                area.draw(&Cross::new((x + SWATCH / 2, y), 6, e.color.stroke_width(3))).map_err(drawing)?;
            }
        }
        area.draw(&Text::new(e.label.to_string(), (x + SWATCH + 6, y), style.clone())).map_err(drawing)?;
    }
    Ok(())
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
        for points in segments.into_iter().filter(|p| !p.is_empty()) {
            let few = points.len() <= 40;
            if s.dashed {
                chart.draw_series(DashedLineSeries::new(points.clone(), 7, 4, style)).map_err(drawing)?;
            } else {
                chart.draw_series(LineSeries::new(points.clone(), style)).map_err(drawing)?;
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

    fn panel(series: Vec<Series>) -> Panel {
        Panel {
            title: "accuracy".into(),
            x_label: "epoch".into(),
            y_label: "accuracy (%)".into(),
            series,
            log_x: false,
            log_y: false,
            y_range: None,
        }
    }

    fn line(label: &str, color: usize, f: impl Fn(f64) -> f64) -> Series {
        let points = (1..=20).map(|e| (f64::from(e), f(f64::from(e)))).collect();
        Series { label: label.into(), points, color, dashed: false }
    }

    /// A 472 × 360 plot, as in a 560 × 460 panel.
    const PLOT: Rect = (76, 40, 548, 400);

    fn corner_of(p: &Panel, legend: (i32, i32)) -> (Corner, usize) {
        emptiest_corner(&data_pixels(p, panel_ranges(p).unwrap(), PLOT), PLOT, legend)
    }

    #[test]
    fn the_legend_goes_to_the_corner_with_the_least_data() {
        let legend = (150, 40);
        // Accuracy rises to a plateau along the top: the upper right is taken, the lower right free.
        assert_eq!(corner_of(&panel(vec![line("train", 0, |e| 100.0 - 60.0 / e)]), legend), (Corner::LowerRight, 0));
        // Loss falls from the upper left and flattens along the bottom: the upper right is free.
        assert_eq!(corner_of(&panel(vec![line("train", 0, |e| 2.0 / e)]), legend), (Corner::UpperRight, 0));
        // A rising line leaves the upper left and the lower right free.
        let (corner, n) = corner_of(&panel(vec![line("lr", 0, |e| e)]), legend);
        assert!(n == 0 && (corner == Corner::UpperLeft || corner == Corner::LowerRight), "{corner:?}");
        // Data in every corner: the one with the fewest points under the box.
        let mut x = panel(vec![line("a", 0, |e| e), line("b", 1, |e| 21.0 - e)]);
        x.series.push(Series { label: "c".into(), points: vec![(18.0, 19.0), (20.0, 20.0)], color: 2, dashed: false });
        let (corner, n) = corner_of(&x, legend);
        assert!(n > 0 && corner != Corner::UpperRight, "{corner:?} {n}");
        // A diverged marker on the bottom edge counts as data under a lower corner's box.
        let acc = panel(vec![line("acc", 0, |e| 100.0 - 60.0 / e)]);
        let mut diverged = acc.clone();
        diverged.series[0].points.push((19.5, f64::NAN));
        let lower_right = corner_rect(PLOT, legend, Corner::LowerRight);
        let under = |p: &Panel| covered(&data_pixels(p, panel_ranges(p).unwrap(), PLOT), lower_right);
        assert_eq!((under(&acc), under(&diverged)), (0, 1));
    }

    #[test]
    fn many_series_or_no_free_corner_put_the_legend_outside_when_there_is_room() {
        let legend = (150, 40);
        let many = panel((0..8).map(|i| line(&format!("s{i}"), i, move |e| e + f64::from(i as u8))).collect());
        let ranges = panel_ranges(&many).unwrap();
        assert_eq!(placement(&many, ranges, PLOT, (150, 8 * 17 + 12), 8), Placement::Outside);
        let narrow: Rect = (76, 40, 400, 400);
        assert!(matches!(placement(&many, ranges, narrow, (150, 8 * 17 + 12), 8), Placement::Inside(_)));
        let x = panel(vec![line("a", 0, |e| e), line("b", 1, |e| 21.0 - e)]);
        assert_eq!(placement(&x, panel_ranges(&x).unwrap(), PLOT, legend, 2), Placement::Outside);
        let acc = panel(vec![line("train", 0, |e| 100.0 - 60.0 / e)]);
        assert_eq!(
            placement(&acc, panel_ranges(&acc).unwrap(), PLOT, legend, 1),
            Placement::Inside(Corner::LowerRight)
        );
    }

    /// Every SVG `<text>`: its content and its `x`, `y`.
    fn texts(svg: &str) -> Vec<(String, f64, f64)> {
        svg.split("<text")
            .skip(1)
            .filter_map(|t| {
                let (tag, rest) = t.split_once('>')?;
                let attr = |name: &str| -> Option<f64> {
                    let at = tag.find(&format!(" {name}=\""))? + name.len() + 3;
                    tag[at..].split('"').next()?.parse().ok()
                };
                Some((rest.split_once("</text>")?.0.trim().to_string(), attr("x")?, attr("y")?))
            })
            .collect()
    }

    fn text_at(svg: &str, label: &str) -> (f64, f64) {
        let found = texts(svg).into_iter().find(|t| t.0 == label);
        found.map(|t| (t.1, t.2)).unwrap_or_else(|| panic!("no text {label}"))
    }

    #[test]
    fn a_drawn_legend_lands_where_it_was_placed() {
        let figure = |series| LineFigure { title: "t".into(), panels: vec![panel(series)], width: 560, height: 460 };
        let svg = crate::output::render_svg(&figure(vec![line("rising accuracy", 0, |e| 100.0 - 60.0 / e)])).unwrap();
        let (x, y) = text_at(&svg, "rising accuracy");
        assert!(x > 280.0 && y > 230.0, "lower right: ({x}, {y})");
        let svg = crate::output::render_svg(&figure(vec![line("falling loss", 0, |e| 2.0 / e)])).unwrap();
        let (x, y) = text_at(&svg, "falling loss");
        assert!(x > 280.0 && y < 230.0, "upper right: ({x}, {y})");
        // Outside: every tick label of the x axis lies left of the legend.
        let many: Vec<Series> =
            (0..8).map(|i| line(&format!("series {i}"), i, move |e| e * f64::from(i as u8 + 1))).collect();
        let svg = crate::output::render_svg(&figure(many)).unwrap();
        let (legend_x, _) = text_at(&svg, "series 0");
        let right =
            texts(&svg).iter().filter(|t| t.0.parse::<f64>().is_ok()).map(|t| t.1).fold(f64::NEG_INFINITY, f64::max);
        assert!(right + 20.0 < legend_x, "a tick at x = {right}, the legend at {legend_x}");
    }
}
