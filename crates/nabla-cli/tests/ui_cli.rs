//! `nabla ui` as a user runs it: started on a free port over a temporary store, the printed URL
//! parsed from stdout, and the API asked over loopback. The server is killed when each test
//! ends, pass or fail.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use nabla_testkit::store::record_run;
use nabla_track::{EndStatus, RunOptions};
use serde_json::{json, Value};

/// The running `nabla ui`; killed on drop.
struct UiProcess {
    child: Child,
    url: String,
}

impl Drop for UiProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl UiProcess {
    fn port(&self) -> u16 {
        let rest = self.url.strip_prefix("http://").unwrap();
        let host_port = rest.split('/').next().unwrap();
        host_port.rsplit(':').next().unwrap().parse().unwrap()
    }
}

/// Starts `nabla ui --port 0 ARGS` on `dir` and waits (at most 30 s) for the URL it prints.
fn start(dir: &Path, args: &[&str]) -> UiProcess {
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("nabla"))
        .arg("ui")
        .arg("--port")
        .arg("0")
        .arg("--tracking-dir")
        .arg(dir)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.split_whitespace().find(|w| w.starts_with("http://")) {
                let _ = tx.send(url.to_string());
            }
        }
    });
    // Owned by the guard before waiting, so that a failed wait still kills the server.
    let mut process = UiProcess { child, url: String::new() };
    process.url = rx.recv_timeout(Duration::from_secs(30)).expect("nabla ui printed no URL");
    process
}

/// One GET over loopback: (status, body).
fn get(port: u16, path: &str) -> (u16, String) {
    let (status, _, body) = nabla_testkit::http::get(port, path, "127.0.0.1", "");
    (status, String::from_utf8(body).unwrap())
}

fn record(dir: &Path, name: &str) -> String {
    record_run(dir, RunOptions::new("cli").name(name).config(json!({"lr": 0.1})), |run| {
        run.log(0, &[("train/loss", 1.0)]).unwrap();
        EndStatus::Finished
    })
}

#[test]
fn ui_serves_the_page_and_the_runs_on_loopback() {
    let tmp = tempfile::tempdir().unwrap();
    let id = record(tmp.path(), "first");
    let ui = start(tmp.path(), &[]);
    assert!(ui.url.starts_with("http://127.0.0.1:"), "{}", ui.url);
    assert!(!ui.url.contains("token"), "loopback needs no token: {}", ui.url);
    let port = ui.port();
    let (status, body) = get(port, "/api/runs");
    assert_eq!(status, 200);
    // The body may be chunked; the run id appears in it either way.
    assert!(body.contains(&id), "{body}");
    let (status, html) = get(port, "/");
    assert_eq!(status, 200);
    assert!(html.contains("<title>nabla</title>"));
}

#[test]
fn ui_on_every_interface_prints_a_token_and_refuses_requests_without_it() {
    let tmp = tempfile::tempdir().unwrap();
    record(tmp.path(), "first");
    let ui = start(tmp.path(), &["--host", "0.0.0.0"]);
    let token = ui.url.split("?token=").nth(1).expect("the URL carries the token").to_string();
    assert!(token.len() >= 32, "{}", ui.url);
    let port = ui.port();
    assert_eq!(get(port, "/api/runs").0, 401);
    assert_eq!(get(port, "/").0, 401);
    assert_eq!(get(port, &format!("/api/runs?token={token}")).0, 200);
    assert_eq!(get(port, &format!("/?token={token}")).0, 200);
}

#[test]
fn ui_with_a_given_token_requires_it() {
    let tmp = tempfile::tempdir().unwrap();
    record(tmp.path(), "first");
    let ui = start(tmp.path(), &["--token", "s3cret"]);
    assert!(ui.url.ends_with("?token=s3cret"), "{}", ui.url);
    let port = ui.port();
    assert_eq!(get(port, "/api/projects").0, 401);
    let (status, body) = get(port, "/api/projects?token=s3cret");
    assert_eq!(status, 200);
    let start = body.find('[').unwrap();
    let end = body.rfind(']').unwrap();
    let projects: Value = serde_json::from_str(&body[start..=end]).unwrap();
    assert_eq!(projects[0]["name"], "cli");
}

#[test]
fn ui_rejects_an_empty_token() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(assert_cmd::cargo::cargo_bin("nabla"))
        .args(["ui", "--port", "0", "--token", "", "--tracking-dir"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--token"));
}
