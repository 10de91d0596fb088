//! Reports from a store seeded through the tracker's API: a four-trial learning-rate sweep
//! whose largest rate diverged, and plain runs.

use std::path::Path;

use nabla_report::{report_for, runs_report, sweep_report, ReportError};
use nabla_sweep::SweepDef;
use nabla_testkit::store::{lr_sweep, sweep_trial, Epoch};
use nabla_track::{Store, TrackError};
use serde_json::json;

const RATES: [&str; 4] = ["0.01", "0.1", "1", "10"];

/// Three epochs of losses and accuracies; the best learning rate is 0.1, 10 diverges.
fn trial(dir: &Path, id: &str, k: usize) -> String {
    let lr = RATES[k];
    let config = json!({"lr": lr.parse::<f64>().unwrap(), "sweep": {"id": id, "trial": k, "values": {"lr": lr}}});
    let quality = [0.80, 0.95, 0.90, f64::NAN][k];
    let epochs: Vec<Epoch> = (1..=3)
        .map(|epoch| {
            let e = f64::from(epoch);
            let loss = if quality.is_nan() && epoch == 2 { f64::NAN } else { 1.0 / (e * quality.max(0.5)) };
            Epoch {
                train_loss: loss,
                val_loss: loss * 1.2,
                train_acc: quality * (0.9 + 0.05 * e),
                val_acc: quality * (0.85 + 0.05 * e),
            }
        })
        .collect();
    sweep_trial(dir, "digits", id, k, config, &epochs)
}

fn seed_sweep(dir: &Path) -> (SweepDef, Vec<String>) {
    let def = lr_sweep(
        dir,
        "5eed0001",
        &RATES,
        &[("hidden", "16"), ("epochs", "3")],
        "nabla sweep digits --grid lr=0.01,0.1,1,10",
    );
    let runs = (0..RATES.len()).map(|k| trial(dir, &def.id, k)).collect();
    (def, runs)
}

#[test]
fn a_sweep_report_ranks_the_trials_and_states_the_facts() {
    let tmp = tempfile::tempdir().unwrap();
    let (def, runs) = seed_sweep(tmp.path());
    let store = Store::open_read_only(tmp.path()).unwrap();
    let report = sweep_report(&store, &def).unwrap();
    assert_eq!(report.title, "Sweep 5eed0001 on digits");
    assert_eq!(report.file_name, "report-sweep-5eed0001.html");
    let html = &report.html;
    assert!(html.starts_with("<!doctype html>") && html.trim_end().ends_with("</html>"));
    assert_eq!(html.matches("<img ").count(), 2, "the sweep plot and the curves");
    assert_eq!(html.matches("src=\"data:image/svg+xml;base64,").count(), 2);
    assert_eq!(html.matches("<h3>Observed</h3>").count(), 2);
    assert!(html.contains("The best trial is lr=0.1 with val/acc = 0.9500."), "{html}");
    assert!(html.contains("training diverged (loss NaN) from lr = 10 on (1 of 4 trials)"), "{html}");
    assert!(html.contains("the largest lr that did not diverge is 1."), "{html}");
    // Ranked by val/acc: 0.1, 1, 0.01, then the diverged trial.
    let order: Vec<usize> = runs.iter().map(|r| html.find(&format!("<td>{r}</td>")).unwrap()).collect();
    assert!(order[1] < order[2] && order[2] < order[0] && order[0] < order[3], "{order:?}");
    assert!(html.contains("<tr class=\"diverged\">"));
    // What `nabla report ID` picks for one target that names a sweep.
    assert_eq!(report_for(&store, tmp.path(), std::slice::from_ref(&def.id)).unwrap(), report);
}

#[test]
fn a_runs_report_and_its_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, runs) = seed_sweep(tmp.path());
    let store = Store::open_read_only(tmp.path()).unwrap();
    let two = runs_report(&store, &runs[..2]).unwrap();
    assert_eq!(two.title, "2 runs");
    assert_eq!(two.file_name, format!("report-2-runs-{}.html", &runs[0][..8]));
    assert!(two.html.contains(&format!("<th>{}</th>", runs[1])), "one settings column per run");
    assert!(two.html.contains("a gap of"));
    let prefix = runs[3][..10].to_string();
    let one = report_for(&store, tmp.path(), &[prefix]).unwrap();
    assert!(one.html.contains(&format!("run {} diverged (its loss became NaN).", runs[3])), "{}", one.html);

    assert!(matches!(runs_report(&store, &[]), Err(ReportError::Empty(_))));
    let e = runs_report(&store, &["nosuchrun".into()]).unwrap_err();
    assert!(matches!(e, ReportError::Track(TrackError::UnknownRun(_))), "{e:?}");
    let e = report_for(&store, tmp.path(), &["../secrets".into()]).unwrap_err();
    assert!(e.to_string().contains("../secrets"), "{e}");
}

#[test]
fn a_sweep_without_runs_is_empty_not_a_failure() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut def, _) = seed_sweep(tmp.path());
    def.id = "0ther".into();
    let store = Store::open_read_only(tmp.path()).unwrap();
    let e = sweep_report(&store, &def).unwrap_err();
    assert!(matches!(&e, ReportError::Empty(m) if m.contains("0ther has no runs")), "{e:?}");
}

/// A regression on a table logs RMSE, MAE and R² instead of accuracies: its report draws an R²
/// panel and states the final R² of both splits.
#[test]
fn a_regression_run_gets_its_r2_curves_and_facts() {
    let tmp = tempfile::tempdir().unwrap();
    let options = nabla_track::RunOptions::new("diabetes").config(json!({"lr": 0.001}));
    let id = nabla_testkit::store::record_run(tmp.path(), options, |run| {
        for epoch in 1..=3u64 {
            let e = epoch as f64;
            let metrics = [
                ("epoch", e),
                ("train/loss", 0.5 / e),
                ("val/loss", 0.6 / e),
                ("train/r2", 0.5 + 0.1 * e),
                ("val/r2", 0.4 + 0.05 * e),
            ];
            run.log(epoch, &metrics).unwrap();
        }
        nabla_track::EndStatus::Finished
    });
    let store = Store::open_read_only(tmp.path()).unwrap();
    let figure = nabla_report::curves_figure(&store, std::slice::from_ref(&id)).unwrap();
    let titles: Vec<&str> = figure.panels.iter().map(|p| p.title.as_str()).collect();
    assert_eq!(
        titles,
        ["loss (solid: training, dashed: validation)", "R² (solid: training, dashed: validation)"],
        "a loss panel and an R² panel, no accuracy panel"
    );
    let report = runs_report(&store, &[id]).unwrap();
    assert!(report.html.contains("final training R² 0.8000, validation R² 0.5500"), "{}", report.html);
}
