//! The axes of a line chart: a panel's drawn x and y ranges (padded, checked for log axes),
//! the mapping of values onto a linear or logarithmic axis, and the tick text.

use super::Panel;
use crate::PlotError;

/// Maps a value onto the drawn axis (log10 for a log axis).
pub(super) fn axis(v: f64, log: bool) -> f64 {
    if log {
        v.log10()
    } else {
        v
    }
}

/// Tick text: plain numbers, or the power of ten back for a log axis.
pub(super) fn tick(v: f64, log: bool) -> String {
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

/// A drawn axis range, low to high.
pub(super) type Span = (f64, f64);

/// The drawn x and y ranges of a panel, padded; an error if there is nothing finite to draw
/// or a log axis gets a value ≤ 0.
pub(super) fn panel_ranges(panel: &Panel) -> Result<(Span, Span), PlotError> {
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
