//! A run that logs to a `nabla server`: recorded locally first, sent in the background, and
//! delivered whole once the server is there — also when it was down while the run trained.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::Path;

use nabla_track::{EndStatus, Remote, Run, RunOptions, Store, TrackError};
use nabla_ui::{Server, ServerOptions};

fn serve(store: &Path, port: u16) -> Server {
    Server::start(ServerOptions::new(SocketAddr::from((Ipv4Addr::LOCALHOST, port)), store).prewarm(false).users(false))
        .unwrap()
}

/// Logs `steps` points of two metrics and a summary, then finishes.
fn train(local: &Path, remote: Remote, steps: u64) -> (String, nabla_track::Result<()>) {
    let options = RunOptions::new("class").config(serde_json::json!({"lr": 0.1})).system_interval(None);
    let mut run = Run::start(local, RunOptions { remote: Some(remote), ..options }).unwrap();
    for step in 0..steps {
        run.log(step, &[("train/loss", 1.0 / (step as f64 + 1.0)), ("lr", 0.1)]).unwrap();
    }
    run.summary("test_acc", 0.97).unwrap();
    let id = run.id().to_string();
    (id, run.finish(EndStatus::Finished))
}

/// Every point of `metric` on the server: steps 0..steps, each once.
fn assert_all_there(server_store: &Path, id: &str, metric: &str, steps: u64) {
    let store = Store::open_read_only(server_store).unwrap();
    let history = store.history(id, metric, ..).unwrap();
    assert_eq!(history.len() as u64, steps, "{metric}");
    assert!(history.iter().enumerate().all(|(i, p)| p.step == i as u64), "{metric}: steps 0..{steps} once each");
}

#[test]
fn a_run_is_delivered_to_the_server_as_it_trains() {
    let tmp = tempfile::tempdir().unwrap();
    let server_store = tmp.path().join("server");
    let token = Store::open(&server_store).unwrap().add_user("ada", false).unwrap();
    let server = serve(&server_store, 0);
    let remote = Remote::new(&format!("http://{}", server.addr()), &token).unwrap();

    let local = tmp.path().join("laptop");
    let (id, finished) = train(&local, remote.clone(), 25_000);
    finished.unwrap();
    assert_all_there(&server_store, &id, "train/loss", 25_000);
    assert_all_there(&server_store, &id, "lr", 25_000);
    let on_server = Store::open_read_only(&server_store).unwrap().run(&id).unwrap();
    assert_eq!(on_server.status.as_str(), "finished");
    assert_eq!(on_server.summary, serde_json::json!({"test_acc": 0.97}));
    assert_eq!(on_server.config, serde_json::json!({"lr": 0.1}));
    // Delivered: nothing left for `nabla runs sync`, and a repeated sync sends nothing.
    let mut local_store = Store::open(&local).unwrap();
    assert!(local_store.undelivered_runs().unwrap().is_empty());
    assert_eq!(local_store.sync_run(&id, &remote).unwrap().points, 0);
    assert_all_there(&server_store, &id, "train/loss", 25_000);
}

#[test]
fn a_run_trained_while_the_server_was_down_is_delivered_when_it_is_back() {
    let tmp = tempfile::tempdir().unwrap();
    let server_store = tmp.path().join("server");
    let token = Store::open(&server_store).unwrap().add_user("ada", false).unwrap();
    // A port with nobody listening (yet).
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap().local_addr().unwrap().port();
    let remote = Remote::new(&format!("http://127.0.0.1:{port}"), &token).unwrap();

    let local = tmp.path().join("laptop");
    let (id, finished) = train(&local, remote.clone(), 3_000);
    // Training was not held up; finishing says the run waits to be delivered.
    let err = finished.unwrap_err();
    assert!(matches!(err, TrackError::NotDelivered { .. }), "{err}");
    assert!(err.to_string().contains("nabla runs sync"), "{err}");
    let mut local_store = Store::open(&local).unwrap();
    assert_eq!(local_store.undelivered_runs().unwrap(), [(id.clone(), format!("http://127.0.0.1:{port}"))]);
    assert_eq!(local_store.history(&id, "train/loss", ..).unwrap().len(), 3_000, "every point is kept locally");

    let _server = serve(&server_store, port);
    let report = local_store.sync_run(&id, &remote).unwrap();
    assert!(report.delivered);
    assert_eq!(report.points, 6_000);
    assert_all_there(&server_store, &id, "train/loss", 3_000);
    assert!(local_store.undelivered_runs().unwrap().is_empty());
}

#[test]
fn a_wrong_token_is_named_and_the_run_stays_local() {
    let tmp = tempfile::tempdir().unwrap();
    let server_store = tmp.path().join("server");
    Store::open(&server_store).unwrap().add_user("ada", false).unwrap();
    let server = serve(&server_store, 0);
    let remote = Remote::new(&format!("http://{}", server.addr()), "nabla_000000000000_00").unwrap();
    let local = tmp.path().join("laptop");
    let (id, finished) = train(&local, remote, 10);
    let err = finished.unwrap_err().to_string();
    assert!(err.contains("401") && err.contains("invalid or revoked token"), "{err}");
    assert_eq!(Store::open(&local).unwrap().history(&id, "lr", ..).unwrap().len(), 10);
    assert!(Remote::new("ftp://x", "t").is_err());
    assert!(Remote::new("http://x", "").is_err());
}

#[test]
fn a_refusal_met_in_the_background_is_told_once_and_the_run_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let server_store = tmp.path().join("server");
    Store::open(&server_store).unwrap().add_user("ada", false).unwrap();
    let server = serve(&server_store, 0);
    let uri = format!("http://{}", server.addr());
    let remote = Remote::new(&uri, "nabla_000000000000_00").unwrap();
    let options = RunOptions::new("class").system_interval(None);
    let mut run = Run::start(tmp.path().join("laptop"), RunOptions { remote: Some(remote), ..options }).unwrap();
    assert_eq!(run.server(), Some(uri.as_str()));
    // The background sync runs every 2 s: wait for it to meet the refusal.
    let start = std::time::Instant::now();
    let mut refusal = None;
    let mut step = 0;
    while refusal.is_none() && start.elapsed() < std::time::Duration::from_secs(20) {
        run.log(step, &[("loss", 1.0)]).unwrap();
        step += 1;
        refusal = run.take_sync_refusal();
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let refusal = refusal.expect("the background sync was refused within 20 s");
    assert!(refusal.contains("HTTP 401"), "{refusal}");
    assert_eq!(run.take_sync_refusal(), None, "told once");
    run.log(step, &[("loss", 0.5)]).unwrap();
    let err = run.finish(EndStatus::Finished).unwrap_err();
    assert!(matches!(err, TrackError::NotDelivered { refused: true, .. }), "{err}");
    assert!(err.to_string().starts_with(&format!("{uri} refused run")), "{err}");
}
