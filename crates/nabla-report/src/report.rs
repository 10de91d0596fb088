//! The reports: a sweep's (settings, ranked trials, the metric against the swept value, the
//! best and worst trials' curves) and one of any runs (settings side by side, their curves).
//! Under each plot the observed facts are filled in; "expected" and "explanation" are left
//! for the student.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use nabla_sweep::{describe, SweepDef, TrialResult};
use nabla_track::{RunStatus, Store};
use serde_json::Value;

use crate::figures::{curves_figure, sweep_figure};
use crate::html::{esc, image, page, sections, table};
use crate::ReportError;

/// A report: the page and what to call it.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The page's title.
    pub title: String,
    /// A file name for a download (`report-sweep-ID.html`): letters, digits, `.`, `-`.
    pub file_name: String,
    /// The self-contained HTML page (the pictures are inlined).
    pub html: String,
}

/// The report `nabla report TARGET…` makes: a sweep's when the one target names a sweep in
/// `tracking`, else one of the runs named (ids or unique prefixes).
pub fn report_for(store: &Store, tracking: &Path, targets: &[String]) -> Result<Report, ReportError> {
    match targets {
        [one] if nabla_sweep::exists(tracking, one) => sweep_report(store, &nabla_sweep::load_def(tracking, one)?),
        runs => runs_report(store, runs),
    }
}

fn fmt(v: Option<f64>) -> String {
    v.map_or_else(|| "—".into(), |v| format!("{v:.4}"))
}

/// Facts about a run's final epoch: losses, accuracies and the gap between them.
fn gap_facts(store: &Store, run: &str, label: &str) -> Vec<String> {
    let last = |metric: &str| nabla_sweep::last_value(store, run, metric);
    let mut facts = Vec::new();
    let (tl, vl) = (last("train/loss"), last("val/loss"));
    let (ta, va) = (last("train/acc"), last("val/acc"));
    if let (Some(t), Some(v)) = (ta, va) {
        facts.push(format!(
            "{label}: final training accuracy {:.2}%, validation accuracy {:.2}%: a gap of {:+.2} points (training − validation).",
            100.0 * t,
            100.0 * v,
            100.0 * (t - v)
        ));
    }
    if let (Some(t), Some(v)) = (last("train/r2"), last("val/r2")) {
        facts.push(format!("{label}: final training R² {t:.4}, validation R² {v:.4} (gap {:+.4}).", t - v));
    }
    if let (Some(t), Some(v)) = (tl, vl) {
        facts.push(format!("{label}: final training loss {t:.4}, validation loss {v:.4} (gap {:+.4}).", v - t));
    }
    let val = store.history(run, "val/acc", ..).unwrap_or_default();
    if let Some(best) = val.iter().max_by(|a, b| a.value.total_cmp(&b.value)) {
        let epochs: Vec<_> = store.history(run, "epoch", ..).unwrap_or_default();
        let epoch = epochs.iter().find(|p| p.step == best.step).map_or(best.step as f64, |p| p.value);
        facts.push(format!(
            "{label}: best validation accuracy {:.2}% at epoch {epoch:.0} of {}.",
            100.0 * best.value,
            epochs.len()
        ));
    }
    facts
}

/// The report of a sweep.
pub fn sweep_report(store: &Store, def: &SweepDef) -> Result<Report, ReportError> {
    let results = nabla_sweep::results(store, def)?;
    if results.is_empty() {
        return Err(ReportError::Empty(format!("sweep {} has no runs yet", def.id)));
    }
    let ranked = nabla_sweep::ranked(def, &results);
    let last = |run: &str, metric: &str| nabla_sweep::last_value(store, run, metric);
    let mut body = String::new();
    let _ = writeln!(
        body,
        "<p>Sweep <code>{}</code> on <b>{}</b>: {} trials ({} with a run), ranked by the last value of <code>{}</code> ({} is better). Command: <code>{}</code></p>",
        esc(&def.id),
        esc(&def.target),
        def.trials.len(),
        results.len(),
        esc(&def.metric),
        if def.maximises() { "higher" } else { "lower" },
        esc(&def.command)
    );
    body.push_str("<h2>Settings</h2>\n");
    let mut settings: Vec<Vec<String>> =
        def.fixed.iter().map(|(k, v)| vec![k.clone(), v.clone(), "fixed".into()]).collect();
    for key in &def.keys {
        let mut values: Vec<String> =
            def.trials.iter().filter_map(|t| t.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())).collect();
        values.dedup();
        values.sort();
        values.dedup();
        settings.push(vec![key.clone(), values.join(", "), "swept".into()]);
    }
    body.push_str(&table(&["setting".into(), "value".into(), String::new()], &settings));

    let mut header = vec!["rank".to_string(), "trial".into(), "run".into()];
    header.extend(def.keys.iter().cloned());
    header.extend([def.metric.clone(), "train loss".into(), "val loss".into(), "status".into()]);
    let mut rows = Vec::new();
    for (i, r) in ranked.iter().enumerate() {
        let mut row = vec![(i + 1).to_string(), (r.trial + 1).to_string(), r.run.clone()];
        row.extend(r.values.iter().map(|(_, v)| v.clone()));
        row.push(fmt(r.metric));
        row.push(fmt(last(&r.run, "train/loss")));
        row.push(fmt(last(&r.run, "val/loss")));
        row.push(r.status.clone());
        rows.push(row);
    }
    body.push_str("<h2>Trials</h2>\n");
    body.push_str(&table(&header, &rows));

    // The sweep plot, over the first swept key that is a number.
    let numeric =
        def.keys.iter().find(|k| results.iter().all(|r| r.value(k).is_some_and(|v| v.parse::<f64>().is_ok())));
    if let Some(x) = numeric {
        let xs: Vec<f64> = results.iter().filter_map(|r| r.value(x).and_then(|v| v.parse().ok())).collect();
        let (lo, hi) = xs.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| (l.min(v), h.max(v)));
        let log_x = lo > 0.0 && hi / lo >= 100.0;
        let figure = sweep_figure(store, def, Some(x), None, log_x)?;
        let _ = writeln!(body, "<h2>{} against {}</h2>", esc(&def.metric), esc(x));
        body.push_str(&image(&nabla_plot::line_figure_svg(&figure)?, "sweep plot"));
        body.push_str(&sections(&sweep_facts(def, &ranked, x)));
    }

    if let Some(best) = ranked.first().filter(|r| r.metric.is_some()) {
        let mut runs = vec![best.run.clone()];
        if let Some(worst) = ranked.iter().rev().find(|r| r.metric.is_some() && r.run != best.run) {
            runs.push(worst.run.clone());
        }
        if let Ok(figure) = curves_figure(store, &runs) {
            body.push_str("<h2>Training curves of the best and the worst finished trial</h2>\n");
            body.push_str(&image(&nabla_plot::line_figure_svg(&figure)?, "training curves"));
            let mut facts = gap_facts(store, &best.run, &format!("best trial ({})", describe(&best.values)));
            if let Some(worst) = runs.get(1) {
                let w = ranked.iter().find(|r| &r.run == worst).map(|r| describe(&r.values)).unwrap_or_default();
                facts.extend(gap_facts(store, worst, &format!("worst finished trial ({w})")));
            }
            body.push_str(&sections(&facts));
        }
    }
    let title = format!("Sweep {} on {}", def.id, def.target);
    Ok(Report { html: page(&title, &body), title, file_name: file_name(&format!("report-sweep-{}", def.id)) })
}

/// Best value, divergence threshold and spread, per group of the other keys.
fn sweep_facts(def: &SweepDef, ranked: &[TrialResult], x: &str) -> Vec<String> {
    let mut facts = Vec::new();
    if let Some(best) = ranked.first().filter(|r| r.metric.is_some()) {
        facts.push(format!(
            "The best trial is {} with {} = {:.4}.",
            describe(&best.values),
            def.metric,
            best.metric.unwrap_or(f64::NAN)
        ));
    }
    let mut groups: BTreeMap<String, Vec<&TrialResult>> = BTreeMap::new();
    for r in ranked {
        let others: Vec<String> = r.values.iter().filter(|(k, _)| k != x).map(|(k, v)| format!("{k}={v}")).collect();
        groups.entry(others.join(" ")).or_default().push(r);
    }
    for (group, mut trials) in groups {
        let label = if group.is_empty() { String::new() } else { format!("With {group}: ") };
        let xv = |r: &TrialResult| r.value(x).and_then(|v| v.parse::<f64>().ok()).unwrap_or(f64::NAN);
        trials.sort_by(|a, b| xv(a).total_cmp(&xv(b)));
        let text = |r: &TrialResult| r.value(x).unwrap_or("?").to_string();
        let diverged: Vec<&&TrialResult> = trials.iter().filter(|r| r.status == "diverged").collect();
        let finished: Vec<&&TrialResult> = trials.iter().filter(|r| r.metric.is_some()).collect();
        if let Some(b) = finished.iter().max_by(|a, b| {
            let o = a.metric.unwrap_or(f64::NAN).total_cmp(&b.metric.unwrap_or(f64::NAN));
            if def.maximises() {
                o
            } else {
                o.reverse()
            }
        }) {
            facts.push(format!(
                "{label}the best {x} is {} ({} {:.4}).",
                text(b),
                def.metric,
                b.metric.unwrap_or(f64::NAN)
            ));
        }
        match diverged.first() {
            Some(first) => {
                let below =
                    finished.iter().rev().find(|r| xv(r) < xv(first)).map_or_else(|| "none".to_string(), |r| text(r));
                facts.push(format!(
                    "{label}training diverged (loss NaN) from {x} = {} on ({} of {} trials); the largest {x} that did not diverge is {below}.",
                    text(first),
                    diverged.len(),
                    trials.len()
                ));
            }
            None => facts.push(format!("{label}no trial diverged.")),
        }
        if let (Some(lo), Some(hi)) = (finished.first(), finished.last()) {
            facts.push(format!(
                "{label}at the smallest {x} = {} the {} is {:.4}; at the largest finished {x} = {} it is {:.4}.",
                text(lo),
                def.metric,
                lo.metric.unwrap_or(f64::NAN),
                text(hi),
                hi.metric.unwrap_or(f64::NAN)
            ));
        }
    }
    facts
}

/// The report of one or more runs (ids or unique prefixes).
pub fn runs_report(store: &Store, runs: &[String]) -> Result<Report, ReportError> {
    if runs.is_empty() {
        return Err(ReportError::Empty("no runs to report on".into()));
    }
    let mut records = Vec::new();
    for id in runs {
        records.push(store.run(id)?);
    }
    let mut body = String::from("<h2>Settings</h2>\n");
    // Every config key, one column per run.
    let mut keys: Vec<String> = Vec::new();
    for r in &records {
        if let Value::Object(map) = &r.config {
            for k in map.keys() {
                if !keys.contains(k) {
                    keys.push(k.clone());
                }
            }
        }
    }
    let mut header = vec!["setting".to_string()];
    header.extend(records.iter().map(|r| r.id.clone()));
    let rows: Vec<Vec<String>> = keys
        .iter()
        .map(|k| {
            let mut row = vec![k.clone()];
            row.extend(records.iter().map(|r| match r.config.get(k) {
                Some(Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
                None => "—".into(),
            }));
            row
        })
        .collect();
    body.push_str(&table(&header, &rows));
    let status: Vec<Vec<String>> =
        records.iter().map(|r| vec![r.id.clone(), r.project.clone(), r.status.to_string()]).collect();
    body.push_str(&table(&["run".into(), "project".into(), "status".into()], &status));
    let ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
    let figure = curves_figure(store, &ids)?;
    body.push_str("<h2>Training curves</h2>\n");
    body.push_str(&image(&nabla_plot::line_figure_svg(&figure)?, "training curves"));
    let mut facts = Vec::new();
    for r in &records {
        facts.extend(gap_facts(store, &r.id, &format!("run {}", r.id)));
        if let Some(loss) = nabla_sweep::last_value(store, &r.id, "train/loss") {
            if facts.iter().all(|f| !f.starts_with(&format!("run {}: final training loss", r.id))) {
                facts.push(format!("run {}: final training loss {loss:.6}.", r.id));
            }
        }
        if r.status == RunStatus::Diverged {
            facts.push(format!("run {} diverged (its loss became NaN).", r.id));
        }
    }
    body.push_str(&sections(&facts));
    let short = |id: &str| id.chars().take(8).collect::<String>();
    let (title, name) = if records.len() == 1 {
        (format!("Run {}", records[0].id), format!("report-run-{}", short(&records[0].id)))
    } else {
        (format!("{} runs", records.len()), format!("report-{}-runs-{}", records.len(), short(&records[0].id)))
    };
    Ok(Report { html: page(&title, &body), title, file_name: file_name(&name) })
}

/// `stem.html` with every character outside letters, digits, `.` and `-` replaced by `_`, so
/// that the name can go in a header unquoted.
fn file_name(stem: &str) -> String {
    let clean: String =
        stem.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '_' }).collect();
    format!("{clean}.html")
}

#[cfg(test)]
mod tests {
    use super::file_name;

    #[test]
    fn file_names_are_header_safe() {
        assert_eq!(file_name("report-sweep-0a1b"), "report-sweep-0a1b.html");
        assert_eq!(file_name("a\"b c/d"), "a_b_c_d.html");
    }
}
