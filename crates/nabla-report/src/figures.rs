//! Figures drawn from the run store: a run's training curves and a sweep's final metric
//! against a swept value. They return plain [`LineFigure`]s; `nabla-plot` draws them.

use std::collections::BTreeMap;

use nabla_plot::{LineFigure, Panel, Series};
use nabla_sweep::SweepDef;
use nabla_track::Store;

use crate::ReportError;

/// A metric's points as `(epoch, value)`: the step mapped to the epoch logged at the same
/// step (data-set runs), or the step itself (XOR runs log by epoch).
fn by_epoch(store: &Store, run: &str, metric: &str, epochs: &BTreeMap<u64, f64>, scale: f64) -> Vec<(f64, f64)> {
    // A metric the run never logged is no line, not an error.
    store
        .history(run, metric, ..)
        .unwrap_or_default()
        .iter()
        .map(|p| (epochs.get(&p.step).copied().unwrap_or(p.step as f64), p.value * scale))
        .collect()
}

/// The curves of runs: a loss panel and, when the runs have them, an accuracy panel (a
/// classification) or an R² panel (a regression on a table).
pub fn curves_figure(store: &Store, runs: &[String]) -> Result<LineFigure, ReportError> {
    if runs.is_empty() {
        return Err(ReportError::Input("no runs to draw".into()));
    }
    let mut loss = Vec::new();
    let mut acc = Vec::new();
    let mut r2 = Vec::new();
    let mut names = Vec::new();
    for (i, id) in runs.iter().enumerate() {
        let record = store.run(id)?;
        let short: String = record.id.chars().take(8).collect();
        let name = record.name.clone().unwrap_or(short);
        let epochs: BTreeMap<u64, f64> =
            store.history(&record.id, "epoch", ..).unwrap_or_default().iter().map(|p| (p.step, p.value)).collect();
        let prefix = if runs.len() > 1 { format!("{name} ") } else { String::new() };
        for (metric, split, dashed) in [("train", "train", false), ("val", "validation", true)] {
            let l = by_epoch(store, &record.id, &format!("{metric}/loss"), &epochs, 1.0);
            if !l.is_empty() {
                loss.push(Series { label: format!("{prefix}{split}"), points: l, color: i, dashed, scatter: false });
            }
            let a = by_epoch(store, &record.id, &format!("{metric}/acc"), &epochs, 100.0);
            if !a.is_empty() {
                acc.push(Series { label: format!("{prefix}{split}"), points: a, color: i, dashed, scatter: false });
            }
            let r = by_epoch(store, &record.id, &format!("{metric}/r2"), &epochs, 1.0);
            if !r.is_empty() {
                r2.push(Series { label: format!("{prefix}{split}"), points: r, color: i, dashed, scatter: false });
            }
        }
        names.push(name);
    }
    if loss.is_empty() && acc.is_empty() {
        return Err(ReportError::Input(format!(
            "run{} {} recorded no train/val loss or accuracy",
            if runs.len() > 1 { "s" } else { "" },
            runs.join(", ")
        )));
    }
    let panel = |title: &str, y: &str, series| Panel {
        title: title.into(),
        x_label: "epoch".into(),
        y_label: y.into(),
        series,
        log_x: false,
        log_y: false,
        y_range: None,
    };
    let mut panels = Vec::new();
    if !loss.is_empty() {
        panels.push(panel("loss (solid: training, dashed: validation)", "loss (nats per example)", loss));
    }
    if !acc.is_empty() {
        panels.push(panel("accuracy (solid: training, dashed: validation)", "accuracy (%)", acc));
    }
    if !r2.is_empty() {
        panels.push(panel("R² (solid: training, dashed: validation)", "R² (1 is perfect)", r2));
    }
    let width = 560 * panels.len() as u32;
    Ok(LineFigure { title: format!("Training curves: {}", names.join(", ")), panels, width, height: 460 })
}

/// A sweep's final `y` against the swept `x`, one line per combination of the other keys.
/// `x` defaults to the sweep's first key, `y` to its ranking metric.
pub fn sweep_figure(
    store: &Store,
    def: &SweepDef,
    x: Option<&str>,
    y: Option<&str>,
    log_x: bool,
) -> Result<LineFigure, ReportError> {
    let x = x.map_or_else(|| def.keys.first().cloned().unwrap_or_default(), str::to_string);
    if !def.keys.contains(&x) {
        return Err(ReportError::Input(format!(
            "sweep {} did not sweep `{x}` (it swept {})",
            def.id,
            def.keys.join(", ")
        )));
    }
    let y = y.unwrap_or(&def.metric).to_string();
    let percent = y.ends_with("acc");
    let mut groups: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for r in nabla_sweep::results(store, def)? {
        let value = r.value(&x).unwrap_or_default().to_string();
        let xv: f64 = value
            .parse()
            .map_err(|_| ReportError::Input(format!("{x} = {value} is not a number: it cannot go on an axis")))?;
        let yv = if r.status == "diverged" {
            f64::NAN
        } else {
            match nabla_sweep::last_value(store, &r.run, &y) {
                Some(v) => v * if percent { 100.0 } else { 1.0 },
                None => continue,
            }
        };
        let group: Vec<String> = r.values.iter().filter(|(k, _)| *k != x).map(|(k, v)| format!("{k}={v}")).collect();
        groups.entry(group.join(" ")).or_default().push((xv, yv));
    }
    if groups.is_empty() {
        return Err(ReportError::Input(format!("sweep {} has no finished trial with {y} yet", def.id)));
    }
    let series = groups
        .into_iter()
        .enumerate()
        .map(|(i, (label, mut points))| {
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            Series {
                label: if label.is_empty() { y.clone() } else { label },
                points,
                color: i,
                dashed: false,
                scatter: false,
            }
        })
        .collect();
    let fixed: Vec<String> = def.fixed.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let unit = if percent {
        " (%)"
    } else if y.contains("loss") {
        " (nats)"
    } else {
        ""
    };
    Ok(LineFigure {
        title: format!("{} on {}: final {y} against {x}", def.id, def.target),
        panels: vec![Panel {
            title: if fixed.is_empty() { String::new() } else { fixed.join(", ") },
            x_label: if log_x { format!("{x} (log scale)") } else { x },
            y_label: format!("final {y}{unit}"),
            series,
            log_x,
            log_y: false,
            y_range: None,
        }],
        width: 900,
        height: 560,
    })
}
