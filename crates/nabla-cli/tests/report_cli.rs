//! `nabla report`: one self-contained HTML page for a sweep or for runs.

mod support;

use std::path::Path;

use serde_json::Value;
use support::{nabla, shared_data};

fn cmd(dir: &Path) -> assert_cmd::Command {
    let mut c = nabla(dir);
    c.env("NABLA_DATA", shared_data()).env("NABLA_HOME", dir.join("home")).current_dir(dir);
    c
}

#[test]
fn a_sweep_report_inlines_its_plots_and_fills_the_observed_facts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let a = cmd(d)
        .args([
            "sweep",
            "digits",
            "--grid",
            "lr=0.01,0.3,1e30",
            "--set",
            "hidden=16",
            "--set",
            "optimizer=sgd",
            "--epochs",
            "2",
            "--json",
        ])
        .assert()
        .success();
    let v: Value = serde_json::from_slice(a.get_output().stdout.trim_ascii_end()).unwrap();
    let id = v["sweep"].as_str().unwrap();
    cmd(d).args(["report", id, "-o", "report.html"]).assert().success();
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
    let a = cmd(d).args(["xor", "--epochs", "300"]).assert().success();
    let err = String::from_utf8_lossy(&a.get_output().stderr).to_string();
    let run = err.split("tracking run ").nth(1).unwrap().split_whitespace().next().unwrap().to_string();
    cmd(d).args(["report", &run, "-o", "r.html"]).assert().success();
    let html = std::fs::read_to_string(d.join("r.html")).unwrap();
    assert!(html.contains("<h3>Observed</h3>") && html.contains("final training loss"));
    assert!(html.contains("<td>lr</td><td>0.5</td>"), "the config table");
    let e = cmd(d).args(["report", "nosuchrun", "-o", "x.html"]).assert().code(1);
    assert!(String::from_utf8_lossy(&e.get_output().stderr).contains("nosuchrun"));
    assert!(!d.join("x.html").exists());
}
