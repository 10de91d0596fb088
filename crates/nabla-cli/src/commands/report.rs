//! `nabla report SWEEP|RUN… -o report.html`: one self-contained HTML page (the pictures are
//! inlined) with the settings, the plots and, under each plot, three sections: what you
//! expected, what was observed, and how you explain it. The observed part is filled with
//! the measured facts (best value, where training diverged, the train–validation gap); the
//! other two are left for the student to write.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{bail, Result};
use nabla_track::Store;
use serde_json::Value;

use crate::commands::plot::{curves_figure, sweep_figure};
use crate::commands::sweep::{self, SweepDef, TrialResult};

/// Flags of `nabla report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// A sweep id, or one or more run ids (or unique prefixes).
    #[arg(required = true)]
    pub targets: Vec<String>,
    /// The HTML file to write.
    #[arg(short, long, value_name = "FILE", default_value = "report.html")]
    pub out: PathBuf,
    /// Where the tracker keeps its runs.
    #[arg(long, value_name = "DIR")]
    pub tracking_dir: Option<PathBuf>,
}

/// Runs `nabla report`.
pub fn run(args: &ReportArgs) -> Result<()> {
    let dir = nabla_track::tracking_dir(args.tracking_dir.as_deref())?;
    let store = Store::open_read_only(&dir)?;
    let page = match args.targets.as_slice() {
        [one] if sweep::def_path(&dir, one).is_file() => sweep_report(&store, &sweep::load_def(&dir, one)?)?,
        runs => runs_report(&store, runs)?,
    };
    nabla_plot::write_atomic(&args.out, page.as_bytes())?;
    #[allow(clippy::print_stdout)]
    {
        println!("wrote {}", args.out.display());
    }
    Ok(())
}

/// Escapes text for HTML.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Standard base64 (for inlined images).
fn base64(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn image(svg: &str, alt: &str) -> String {
    format!("<img alt=\"{}\" src=\"data:image/svg+xml;base64,{}\">", esc(alt), base64(svg.as_bytes()))
}

/// The three sections under a plot: two headings for the student, one filled with facts.
fn sections(observed: &[String]) -> String {
    let mut s = String::from(
        "<h3>Expected</h3>\n<p class=\"todo\">Before looking at the plot: what did you expect, and why?</p>\n<h3>Observed</h3>\n<ul>\n",
    );
    for fact in observed {
        let _ = writeln!(s, "<li>{}</li>", esc(fact));
    }
    s.push_str(
        "</ul>\n<h3>Explanation</h3>\n<p class=\"todo\">How do you explain what you observed? Where did it differ from what you expected?</p>\n",
    );
    s
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{t}</title>\n<style>\n\
         body {{ font-family: sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }}\n\
         table {{ border-collapse: collapse; margin: 1em 0; }} td, th {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }}\n\
         th {{ background: #f3f3f3; }} img {{ max-width: 100%; border: 1px solid #eee; }}\n\
         .todo {{ color: #888; font-style: italic; border-left: 3px solid #ddd; padding-left: 0.6em; }}\n\
         .diverged {{ color: #b00; }}\n</style>\n</head>\n<body>\n<h1>{t}</h1>\n{body}</body>\n</html>\n",
        t = esc(title)
    )
}

fn table(header: &[String], rows: &[Vec<String>]) -> String {
    let mut s = String::from("<table>\n<tr>");
    for h in header {
        let _ = write!(s, "<th>{}</th>", esc(h));
    }
    s.push_str("</tr>\n");
    for row in rows {
        let class = if row.iter().any(|c| c == "diverged") { " class=\"diverged\"" } else { "" };
        let _ = write!(s, "<tr{class}>");
        for c in row {
            let _ = write!(s, "<td>{}</td>", esc(c));
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</table>\n");
    s
}

/// The last value of a metric in a run.
fn last(store: &Store, run: &str, metric: &str) -> Result<Option<f64>> {
    Ok(sweep::last_value(store, run, metric))
}

fn fmt(v: Option<f64>) -> String {
    v.map_or_else(|| "—".into(), |v| format!("{v:.4}"))
}

/// Facts about a run's final epoch: losses, accuracies and the gap between them.
fn gap_facts(store: &Store, run: &str, label: &str) -> Result<Vec<String>> {
    let mut facts = Vec::new();
    let (tl, vl) = (last(store, run, "train/loss")?, last(store, run, "val/loss")?);
    let (ta, va) = (last(store, run, "train/acc")?, last(store, run, "val/acc")?);
    if let (Some(t), Some(v)) = (ta, va) {
        facts.push(format!(
            "{label}: final training accuracy {:.2}%, validation accuracy {:.2}%: a gap of {:+.2} points (training − validation).",
            100.0 * t,
            100.0 * v,
            100.0 * (t - v)
        ));
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
    Ok(facts)
}

fn sweep_report(store: &Store, def: &SweepDef) -> Result<String> {
    let results = sweep::results(store, def)?;
    if results.is_empty() {
        bail!("sweep {} has no runs yet", def.id);
    }
    let ranked = sweep::ranked(def, &results);
    let mut body = String::new();
    let _ = writeln!(
        body,
        "<p>Sweep <code>{}</code> on <b>{}</b>: {} trials ({} with a run), ranked by the last value of <code>{}</code> ({} is better). Command: <code>{}</code></p>",
        esc(&def.id),
        esc(&def.target),
        def.trials.len(),
        results.len(),
        esc(&def.metric),
        if def.goal == "max" { "higher" } else { "lower" },
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
    body.push_str(&table(&["setting".into(), "value".into(), "".into()], &settings));

    let mut header = vec!["rank".to_string(), "trial".into(), "run".into()];
    header.extend(def.keys.iter().cloned());
    header.extend([def.metric.clone(), "train loss".into(), "val loss".into(), "status".into()]);
    let mut rows = Vec::new();
    for (i, r) in ranked.iter().enumerate() {
        let mut row = vec![(i + 1).to_string(), (r.trial + 1).to_string(), r.run.clone()];
        row.extend(r.values.iter().map(|(_, v)| v.clone()));
        row.push(fmt(r.metric));
        row.push(fmt(last(store, &r.run, "train/loss")?));
        row.push(fmt(last(store, &r.run, "val/loss")?));
        row.push(r.status.clone());
        rows.push(row);
    }
    body.push_str("<h2>Trials</h2>\n");
    body.push_str(&table(&header, &rows));

    // The sweep plot, over the first swept key that is a number.
    let numeric =
        def.keys.iter().find(|k| results.iter().all(|r| value_of(r, k).is_some_and(|v| v.parse::<f64>().is_ok())));
    if let Some(x) = numeric {
        let xs: Vec<f64> = results.iter().filter_map(|r| value_of(r, x).and_then(|v| v.parse().ok())).collect();
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
            let mut facts =
                gap_facts(store, &best.run, &format!("best trial ({})", sweep::describe_values(&best.values)))?;
            if let Some(worst) = runs.get(1) {
                let w = ranked
                    .iter()
                    .find(|r| &r.run == worst)
                    .map(|r| sweep::describe_values(&r.values))
                    .unwrap_or_default();
                facts.extend(gap_facts(store, worst, &format!("worst finished trial ({w})"))?);
            }
            body.push_str(&sections(&facts));
        }
    }
    Ok(page(&format!("Sweep {} on {}", def.id, def.target), &body))
}

fn value_of<'a>(r: &'a TrialResult, key: &str) -> Option<&'a str> {
    r.values.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// Best value, divergence threshold and spread, per group of the other keys.
fn sweep_facts(def: &SweepDef, ranked: &[TrialResult], x: &str) -> Vec<String> {
    let mut facts = Vec::new();
    if let Some(best) = ranked.first().filter(|r| r.metric.is_some()) {
        facts.push(format!(
            "The best trial is {} with {} = {:.4}.",
            sweep::describe_values(&best.values),
            def.metric,
            best.metric.unwrap_or(f64::NAN)
        ));
    }
    let mut groups: std::collections::BTreeMap<String, Vec<&TrialResult>> = std::collections::BTreeMap::new();
    for r in ranked {
        let others: Vec<String> = r.values.iter().filter(|(k, _)| k != x).map(|(k, v)| format!("{k}={v}")).collect();
        groups.entry(others.join(" ")).or_default().push(r);
    }
    for (group, mut trials) in groups {
        let label = if group.is_empty() { String::new() } else { format!("With {group}: ") };
        let xv = |r: &TrialResult| value_of(r, x).and_then(|v| v.parse::<f64>().ok()).unwrap_or(f64::NAN);
        trials.sort_by(|a, b| xv(a).total_cmp(&xv(b)));
        let text = |r: &TrialResult| value_of(r, x).unwrap_or("?").to_string();
        let diverged: Vec<&&TrialResult> = trials.iter().filter(|r| r.status == "diverged").collect();
        let finished: Vec<&&TrialResult> = trials.iter().filter(|r| r.metric.is_some()).collect();
        if let Some(b) = finished.iter().max_by(|a, b| {
            let o = a.metric.unwrap_or(f64::NAN).total_cmp(&b.metric.unwrap_or(f64::NAN));
            if def.goal == "max" {
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

fn runs_report(store: &Store, runs: &[String]) -> Result<String> {
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
        facts.extend(gap_facts(store, &r.id, &format!("run {}", r.id))?);
        if let Some(loss) = last(store, &r.id, "train/loss")? {
            if facts.iter().all(|f| !f.starts_with(&format!("run {}: final training loss", r.id))) {
                facts.push(format!("run {}: final training loss {loss:.6}.", r.id));
            }
        }
        if r.status.to_string() == "diverged" {
            facts.push(format!("run {} diverged (its loss became NaN).", r.id));
        }
    }
    body.push_str(&sections(&facts));
    let title = if records.len() == 1 { format!("Run {}", records[0].id) } else { format!("{} runs", records.len()) };
    Ok(page(&title, &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(esc("<a & \"b\">"), "&lt;a &amp; &quot;b&quot;&gt;");
    }
}
