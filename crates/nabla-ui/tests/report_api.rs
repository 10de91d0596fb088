//! `GET /api/report`: the report of runs or of a sweep as an HTML download, from a store
//! seeded through the tracker's API, with the API's errors, token and `Host` checks.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;

use nabla_testkit::store::{lr_sweep, record_run, sweep_trial, Epoch};
use nabla_track::{EndStatus, RunOptions};
use nabla_ui::{Server, ServerOptions};
use serde_json::{json, Value};

const SWEEP: &str = "feed0042";
const RATES: [&str; 3] = ["0.01", "0.1", "10"];

/// A trial of the sweep: three epochs of losses and accuracies; lr 10 diverges.
fn trial(dir: &Path, k: usize) -> String {
    let config = json!({"lr": RATES[k].parse::<f64>().unwrap(), "sweep": {"id": SWEEP, "trial": k}});
    let quality = [0.8, 0.95, f64::NAN][k];
    let epochs: Vec<Epoch> = (1..=3)
        .map(|e| {
            let e = f64::from(e);
            let loss = if quality.is_nan() { f64::NAN } else { 1.0 / (e * quality) };
            Epoch {
                train_loss: loss,
                val_loss: 1.1 * loss,
                train_acc: quality * (0.9 + 0.03 * e),
                val_acc: quality * (0.88 + 0.03 * e),
            }
        })
        .collect();
    sweep_trial(dir, "digits", SWEEP, k, config, &epochs)
}

/// A three-trial learning-rate sweep and a run that logged no curves: (trial runs, that run).
fn seed(dir: &Path) -> (Vec<String>, String) {
    lr_sweep(dir, SWEEP, &RATES, &[("epochs", "3")], "nabla sweep digits --grid lr=0.01,0.1,10 --epochs 3");
    let runs = (0..RATES.len()).map(|k| trial(dir, k)).collect();
    let bare_id = record_run(dir, RunOptions::new("other").name("bare"), |run| {
        run.log(0, &[("reward", 1.0)]).unwrap();
        EndStatus::Finished
    });
    (runs, bare_id)
}

/// One GET with this `Host`: (status, head in lower case, body).
fn get_as(port: u16, path: &str, host: &str) -> (u16, String, String) {
    let (status, head, body) = nabla_testkit::http::get(port, path, host, "");
    (status, head.to_ascii_lowercase(), String::from_utf8(body).unwrap())
}

fn get(port: u16, path: &str) -> (u16, String, String) {
    get_as(port, path, "127.0.0.1")
}

/// A JSON error: its status and message.
fn error(port: u16, path: &str) -> (u16, String) {
    let (status, head, body) = get(port, path);
    assert!(head.contains("content-type: application/json"), "{path}: {head}");
    let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"));
    (status, v["error"].as_str().unwrap_or_else(|| panic!("{path}: {body}")).to_string())
}

fn loopback_server(dir: &Path) -> Server {
    Server::start(ServerOptions::new(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), dir).prewarm(false)).unwrap()
}

fn assert_html_download(head: &str, html: &str, file_name: &str) {
    assert!(head.contains("content-type: text/html; charset=utf-8"), "{head}");
    assert!(head.contains(&format!("content-disposition: attachment; filename=\"{file_name}\"")), "{head}");
    assert!(html.starts_with("<!doctype html>") && html.trim_end().ends_with("</html>"));
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"), "nothing is fetched");
}

#[test]
fn a_sweep_report_downloads_with_its_plots_and_facts() {
    let tmp = tempfile::tempdir().unwrap();
    let (runs, _) = seed(tmp.path());
    let server = loopback_server(tmp.path());
    let port = server.addr().port();
    let (status, head, html) = get(port, &format!("/api/report?sweep={SWEEP}"));
    assert_eq!(status, 200, "{html}");
    assert_html_download(&head, &html, &format!("report-sweep-{SWEEP}.html"));
    for section in ["<h2>Settings</h2>", "<h2>Trials</h2>", "<h2>val/acc against lr</h2>"] {
        assert!(html.contains(section), "{section} missing");
    }
    assert_eq!(html.matches("<img ").count(), 2, "the sweep plot and the curves");
    assert_eq!(html.matches("src=\"data:image/svg+xml;base64,").count(), 2, "inlined");
    for heading in ["<h3>Expected</h3>", "<h3>Observed</h3>", "<h3>Explanation</h3>"] {
        assert_eq!(html.matches(heading).count(), 2, "{heading}");
    }
    assert!(html.contains("The best trial is lr=0.1"), "{html}");
    assert!(html.contains("training diverged (loss NaN) from lr = 10"), "{html}");
    for run in &runs {
        assert!(html.contains(&format!("<td>{run}</td>")), "{run} missing from the trials table");
    }
}

#[test]
fn a_runs_report_downloads_for_ids_and_prefixes() {
    let tmp = tempfile::tempdir().unwrap();
    let (runs, _) = seed(tmp.path());
    let server = loopback_server(tmp.path());
    let port = server.addr().port();
    let (status, head, html) = get(port, &format!("/api/report?runs={},{}", runs[0], &runs[1][..8]));
    assert_eq!(status, 200, "{html}");
    assert_html_download(&head, &html, &format!("report-2-runs-{}.html", &runs[0][..8]));
    assert!(html.contains("<title>2 runs</title>") && html.contains("<h2>Training curves</h2>"));
    assert_eq!(html.matches("<img ").count(), 1);
    assert!(html.contains(&format!("<th>{}</th>", runs[1])), "a settings column per run");
    assert!(html.contains("a gap of"), "the train–validation gap is observed");
    let (status, head, html) = get(port, &format!("/api/report?runs={}", runs[2]));
    assert_eq!(status, 200);
    assert_html_download(&head, &html, &format!("report-run-{}.html", &runs[2][..8]));
    assert!(html.contains(&format!("run {} diverged", runs[2])));
}

#[test]
fn bad_reports_are_json_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let (runs, bare) = seed(tmp.path());
    let server = loopback_server(tmp.path());
    let port = server.addr().port();
    let (status, message) = error(port, "/api/report?runs=nosuchrun");
    assert_eq!((status, message.contains("nosuchrun")), (404, true), "{message}");
    let (status, message) = error(port, &format!("/api/report?runs={},nosuchrun", runs[0]));
    assert_eq!((status, message.contains("nosuchrun")), (404, true), "{message}");
    let (status, message) = error(port, "/api/report?sweep=0000dead");
    assert_eq!((status, message.contains("no sweep `0000dead`")), (404, true), "{message}");
    assert_eq!(error(port, "/api/report").0, 400, "no runs");
    assert_eq!(error(port, "/api/report?runs=").0, 400, "no runs");
    assert_eq!(error(port, &format!("/api/report?runs={}&sweep={SWEEP}", runs[0])).0, 400);
    assert_eq!(error(port, "/api/report?sweep=..%2F..%2Fsecret").0, 400, "a sweep id is a name, not a path");
    let (status, message) = error(port, &format!("/api/report?runs={bare}"));
    assert_eq!((status, message.contains("recorded no train/val loss")), (400, true), "{message}");

    // Nothing recorded at all: the store is missing, which is a 404 like an unknown run.
    let empty = tempfile::tempdir().unwrap();
    let server = loopback_server(&empty.path().join("never-used"));
    assert_eq!(error(server.addr().port(), &format!("/api/report?runs={}", runs[0])).0, 404);
}

#[test]
fn a_report_needs_the_token_off_loopback_and_a_local_host_on_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (runs, _) = seed(tmp.path());
    let path = format!("/api/report?runs={}", runs[0]);

    let server =
        Server::start(ServerOptions::new(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)), tmp.path()).prewarm(false))
            .unwrap();
    let port = server.addr().port();
    let token = server.token().expect("a token off loopback").to_string();
    let (status, _, body) = get(port, &path);
    assert_eq!(status, 401, "{body}");
    assert!(!body.contains("<html"), "nothing of the report without the token");
    assert_eq!(get(port, &format!("{path}&token=wrong")).0, 401);
    let (status, head, _) = get(port, &format!("{path}&token={token}"));
    assert_eq!(status, 200);
    assert!(head.contains("content-type: text/html"));
    drop(server);

    let server = loopback_server(tmp.path());
    let port = server.addr().port();
    assert_eq!(get_as(port, &path, &format!("localhost:{port}")).0, 200);
    let (status, _, body) = get_as(port, &path, "evil.example");
    assert_eq!(status, 403, "DNS rebinding: {body}");
}
