//! The legend of a line chart: its entries (one per series, one for diverged points), where
//! it goes (inside, in the corner over the least data, or in a strip right of the plot), and
//! drawing it.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::axes::{axis, Span};
use super::{Panel, PALETTE};
use crate::output::drawing;
use crate::PlotError;

/// One line of the legend: how its mark is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mark {
    /// A line sample, solid or dashed.
    Line { dashed: bool },
    /// The red × of diverged points.
    Cross,
    /// A dot: a scatter series.
    Dot,
}

/// A legend entry.
pub(super) struct Entry<'a> {
    pub(super) label: &'a str,
    color: RGBColor,
    mark: Mark,
}

/// Where the legend goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Corner {
    UpperRight,
    UpperLeft,
    LowerRight,
    LowerLeft,
}

/// Corners in order of preference when they cover as much data and keep as far from it.
const CORNERS: [Corner; 4] = [Corner::UpperRight, Corner::UpperLeft, Corner::LowerRight, Corner::LowerLeft];

/// Where the legend goes: in a corner of the plot, or in a strip to its right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Placement {
    Inside(Corner),
    Outside,
}

/// A rectangle in pixels: left, top, right, bottom.
pub(super) type Rect = (i32, i32, i32, i32);

pub(super) const LEGEND_FONT: u32 = 13;
/// Space inside the legend's box, and between the box and the plot's edge.
pub(super) const LEGEND_PAD: i32 = 6;
/// Width of a line sample and the gap before its label.
const SWATCH: i32 = 24;
/// More entries than this always go outside the plot.
const MAX_INSIDE: usize = 6;
/// Below this width the plot is too narrow to give up a strip for the legend.
const MIN_PLOT_WIDTH: i32 = 240;

/// The legend box for `entries` whose labels measure `text` (width, height) each.
pub(super) fn legend_size(text: &[(u32, u32)]) -> (i32, i32) {
    let width = text.iter().map(|t| t.0 as i32).max().unwrap_or(0);
    let row = text.iter().map(|t| t.1 as i32).max().unwrap_or(LEGEND_FONT as i32).max(12) + 4;
    (2 * LEGEND_PAD + SWATCH + 6 + width, 2 * LEGEND_PAD + row * text.len() as i32)
}

/// The legend's rectangle in a corner of `plot`.
pub(super) fn corner_rect(plot: Rect, legend: (i32, i32), corner: Corner) -> Rect {
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
/// lines (not between scatter points), and the diverged markers on the bottom edge.
pub(super) fn data_pixels(panel: &Panel, ranges: (Span, Span), plot: Rect) -> Vec<(i32, i32)> {
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
            // Scatter points are not joined: only the dots themselves are data on the plot.
            if let (Some(from), false) = (previous, s.scatter) {
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
pub(super) fn covered(pixels: &[(i32, i32)], rect: Rect) -> usize {
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
pub(super) fn emptiest_corner(pixels: &[(i32, i32)], plot: Rect, legend: (i32, i32)) -> (Corner, usize) {
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
pub(super) fn placement(
    panel: &Panel,
    ranges: (Span, Span),
    plot: Rect,
    legend: (i32, i32),
    entries: usize,
) -> Placement {
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
pub(super) fn entries(panel: &Panel) -> Vec<Entry<'_>> {
    let mut out: Vec<Entry<'_>> = panel
        .series
        .iter()
        .map(|s| Entry {
            label: &s.label,
            color: PALETTE[s.color % PALETTE.len()],
            mark: if s.scatter { Mark::Dot } else { Mark::Line { dashed: s.dashed } },
        })
        .collect();
    if panel.series.iter().any(|s| s.points.iter().any(|p| p.0.is_finite() && !p.1.is_finite())) {
        out.push(Entry { label: "diverged (loss NaN)", color: RGBColor(200, 0, 0), mark: Mark::Cross });
    }
    out
}

/// Draws the legend box with its top-left corner at `at` (pixels of `area`).
pub(super) fn draw_legend<DB: DrawingBackend>(
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
            Mark::Dot => {
                area.draw(&Circle::new((x + SWATCH / 2, y), 4, e.color.filled())).map_err(drawing)?;
            }
        }
        area.draw(&Text::new(e.label.to_string(), (x + SWATCH + 6, y), style.clone())).map_err(drawing)?;
    }
    Ok(())
}
