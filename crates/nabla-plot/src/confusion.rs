//! The confusion matrix as a picture: true class down, predicted class across, each cell
//! shaded by the share of its row and labelled with its count.

use std::path::Path;

use plotters::coord::ranged1d::SegmentValue;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::output::{drawing, render, Figure};
use crate::PlotError;

/// Counts of (true class, predicted class).
#[derive(Debug, Clone, PartialEq)]
pub struct Confusion {
    /// The figure's title.
    pub title: String,
    /// Class names, in index order.
    pub classes: Vec<String>,
    /// `counts[true][predicted]`, a square matrix with one row per class.
    pub counts: Vec<Vec<u64>>,
    /// Width and height in pixels (the figure is square).
    pub size: u32,
}

/// Draws the matrix to `path` (`.svg` or `.png`).
pub fn confusion(matrix: &Confusion, path: &Path) -> Result<(), PlotError> {
    let n = matrix.classes.len();
    if n == 0 || matrix.counts.len() != n || matrix.counts.iter().any(|row| row.len() != n) {
        return Err(PlotError::Input(format!(
            "a confusion matrix needs one row and one column per class: {n} classes, {} rows",
            matrix.counts.len()
        )));
    }
    render(matrix, path)
}

impl Figure for Confusion {
    fn size(&self) -> (u32, u32) {
        (self.size, self.size)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
        // An integer range includes its end: 0..n − 1 is n segments.
        let n = self.classes.len() as i32;
        let body = root.titled(&self.title, ("sans-serif", 20)).map_err(drawing)?;
        let mut chart = ChartBuilder::on(&body)
            .margin(16)
            .x_label_area_size(52)
            .y_label_area_size(72)
            .build_cartesian_2d((0..n - 1).into_segmented(), (0..n - 1).into_segmented())
            .map_err(drawing)?;
        // Row 0 (the first true class) is drawn at the top: y counts down from n − 1.
        let name = |v: &SegmentValue<i32>, flip: bool| match v {
            SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
                let k = if flip { n - 1 - i } else { *i };
                usize::try_from(k).ok().and_then(|k| self.classes.get(k)).cloned().unwrap_or_default()
            }
            SegmentValue::Last => String::new(),
        };
        let x_fmt = |v: &SegmentValue<i32>| name(v, false);
        let y_fmt = |v: &SegmentValue<i32>| name(v, true);
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("predicted class")
            .y_desc("true class")
            .x_labels(self.classes.len())
            .y_labels(self.classes.len())
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .label_style(("sans-serif", 13))
            .axis_desc_style(("sans-serif", 15))
            .draw()
            .map_err(drawing)?;
        let mut cells = Vec::new();
        let mut labels = Vec::new();
        for (t, row) in self.counts.iter().enumerate() {
            let total = row.iter().sum::<u64>().max(1) as f64;
            let y = n - 1 - t as i32;
            for (p, &count) in row.iter().enumerate() {
                let share = count as f64 / total;
                // White for 0 to dark blue for the whole row.
                let mix = |full: f64| (255.0 + (full - 255.0) * share).round() as u8;
                let fill = RGBColor(mix(8.0), mix(48.0), mix(107.0));
                let x = p as i32;
                cells.push(Rectangle::new(
                    [
                        (SegmentValue::Exact(x), SegmentValue::Exact(y)),
                        (SegmentValue::Exact(x + 1), SegmentValue::Exact(y + 1)),
                    ],
                    fill.filled(),
                ));
                let ink: &RGBColor = if share > 0.5 { &WHITE } else { &BLACK };
                let style = TextStyle::from(("sans-serif", 13).into_font())
                    .color(ink)
                    .pos(Pos::new(HPos::Center, VPos::Center));
                labels.push(Text::new(
                    count.to_string(),
                    (SegmentValue::CenterOf(x), SegmentValue::CenterOf(y)),
                    style,
                ));
            }
        }
        chart.draw_series(cells).map_err(drawing)?;
        chart.draw_series(labels).map_err(drawing)?;
        Ok(())
    }
}
