//! `nabla report`: one self-contained HTML page for a sweep or for runs.

mod experiments;
mod support;

use experiments::{cmd, digits_lr_sweep, tracked_run};

#[test]
fn a_sweep_report_inlines_its_plots_and_fills_the_observed_facts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (id, _) = digits_lr_sweep(d, "0.01,0.3,1e30");
    cmd(d).args(["report", &id, "-o", "report.html"]).assert().success();
    let html = std::fs::read_to_string(d.join("report.html")).unwrap();
    assert!(html.starts_with("<!doctype html>") && html.trim_end().ends_with("</html>"));
    assert_eq!(html.matches("<img ").count(), 2, "sweep plot and curves");
    assert_eq!(html.matches("src=\"data:image/svg+xml;base64,").count(), 2, "images are inlined");
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"), "nothing is fetched");
    for heading in ["<h3>Expected</h3>", "<h3>Observed</h3>", "<h3>Explanation</h3>"] {
        assert_eq!(html.matches(heading).count(), 2, "{heading}");
    }
    assert!(html.contains("training diverged (loss NaN) from lr = 1e30"), "divergence threshold");
    assert!(html.contains("the largest lr that did not diverge is 0.3"));
    assert!(html.contains("a gap of"), "train–validation gap");
    assert!(html.contains("The best trial is lr="));
}

#[test]
fn a_runs_report_and_bad_ids() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run = tracked_run(&cmd(d).args(["xor", "--epochs", "300"]).assert().success());
    cmd(d).args(["report", &run, "-o", "r.html"]).assert().success();
    let html = std::fs::read_to_string(d.join("r.html")).unwrap();
    assert!(html.contains("<h3>Observed</h3>") && html.contains("final training loss"));
    assert!(html.contains("<td>lr</td><td>0.5</td>"), "the config table");
    let e = cmd(d).args(["report", "nosuchrun", "-o", "x.html"]).assert().code(1);
    assert!(String::from_utf8_lossy(&e.get_output().stderr).contains("nosuchrun"));
    assert!(!d.join("x.html").exists());
}
