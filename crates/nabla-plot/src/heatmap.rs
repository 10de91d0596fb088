//! The parts every heat map shares: a chart with labelled axes and no grid, a raster that
//! colours each pixel of its plotting area by the value under it, and a colour bar beside it.
//! The decision surface and the loss landscape draw their overlays (points, contours) on top.

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::output::drawing;
use crate::PlotError;

/// A chart over `x` × `y` for a heat map.
pub(crate) type HeatChart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Splits `body` into the chart's area and a 110-pixel strip on the right for the colour bar.
pub(crate) fn split_for_bar<DB: DrawingBackend>(
    body: &DrawingArea<DB, Shift>,
) -> (DrawingArea<DB, Shift>, DrawingArea<DB, Shift>) {
    body.split_horizontally(body.dim_in_pixel().0.saturating_sub(110))
}

/// Builds the chart over `x` × `y` with its axes drawn and labelled, and fills its plotting
/// area with `colour(x, y)` sampled at each pixel's centre.
pub(crate) fn heat_chart<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    (x0, x1): (f64, f64),
    (y0, y1): (f64, f64),
    (x_label, y_label): (&str, &str),
    colour: impl Fn(f64, f64) -> [u8; 3],
) -> Result<HeatChart<'a, DB>, PlotError> {
    let mut chart = ChartBuilder::on(area)
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(56)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(drawing)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .label_style(("sans-serif", 13))
        .axis_desc_style(("sans-serif", 15))
        .draw()
        .map_err(drawing)?;
    let (pw, ph) = chart.plotting_area().dim_in_pixel();
    let mut buf = Vec::with_capacity(pw as usize * ph as usize * 3);
    for j in 0..ph {
        let y = y1 - (f64::from(j) + 0.5) / f64::from(ph) * (y1 - y0);
        for i in 0..pw {
            let x = x0 + (f64::from(i) + 0.5) / f64::from(pw) * (x1 - x0);
            buf.extend_from_slice(&colour(x, y));
        }
    }
    let heat = BitMapElement::with_owned_buffer((x0, y1), (pw, ph), buf)
        .ok_or_else(|| PlotError::Draw("heat map buffer of the wrong size".into()))?;
    chart.draw_series(std::iter::once(heat)).map_err(drawing)?;
    Ok(chart)
}

/// Draws a vertical colour bar over values `lo..hi` (bottom to top) labelled `label`, with
/// tick labels written by `format` (plotters' own labels when `None`), each row coloured
/// `colour(value)`.
pub(crate) fn colour_bar<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    (lo, hi): (f64, f64),
    label: &str,
    format: Option<&dyn Fn(&f64) -> String>,
    colour: impl Fn(f64) -> [u8; 3],
) -> Result<(), PlotError> {
    let mut bar = ChartBuilder::on(area)
        .margin_top(12)
        .margin_bottom(60)
        .margin_right(8)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..1.0, lo..hi)
        .map_err(drawing)?;
    let mut mesh = bar.configure_mesh();
    mesh.disable_mesh()
        .disable_x_axis()
        .y_desc(label)
        .y_labels(6)
        .label_style(("sans-serif", 12))
        .axis_desc_style(("sans-serif", 14));
    if let Some(format) = format {
        mesh.y_label_formatter(format);
    }
    mesh.draw().map_err(drawing)?;
    let (pw, ph) = bar.plotting_area().dim_in_pixel();
    let mut buf = Vec::with_capacity(pw as usize * ph as usize * 3);
    for j in 0..ph {
        let c = colour(hi - (f64::from(j) + 0.5) / f64::from(ph) * (hi - lo));
        for _ in 0..pw {
            buf.extend_from_slice(&c);
        }
    }
    let gradient = BitMapElement::with_owned_buffer((0.0, hi), (pw, ph), buf)
        .ok_or_else(|| PlotError::Draw("colour bar buffer of the wrong size".into()))?;
    bar.draw_series(std::iter::once(gradient)).map_err(drawing)?;
    Ok(())
}
