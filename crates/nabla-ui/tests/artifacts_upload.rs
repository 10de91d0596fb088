//! Artifacts sent to `nabla server`: a run's checkpoint travels with its points, streamed and
//! checked by sha256; wrong content, another user's run and an upload past the server's limit
//! leave nothing behind.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;

use nabla_track::{EndStatus, Remote, Run, RunOptions, Store};
use nabla_ui::{Server, ServerOptions};
use sha2::{Digest, Sha256};

fn sha(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn serve(store: &Path, limit: u64) -> Server {
    let options = ServerOptions::new(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), store).prewarm(false).users(false);
    Server::start(options.max_artifact_bytes(limit)).unwrap()
}

fn put(port: u16, path: &str, token: &str, body: &[u8]) -> (u16, String) {
    let headers = format!("Authorization: Bearer {token}\r\nContent-Type: application/octet-stream\r\n");
    let (status, _, bytes) = nabla_testkit::http::request(port, "PUT", path, "127.0.0.1", &headers, body).unwrap();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

/// Files under the store's artifacts folder (blobs and temporary files; not gc's lock file).
fn files(dir: &Path) -> usize {
    fn walk(dir: &Path) -> usize {
        std::fs::read_dir(dir).map_or(0, |entries| {
            entries
                .flatten()
                .map(|e| match e.path() {
                    p if p.is_dir() => walk(&p),
                    p if p.file_name().is_some_and(|n| n == "gc.lock") => 0,
                    _ => 1,
                })
                .sum()
        })
    }
    walk(&dir.join("artifacts"))
}

#[test]
fn a_runs_artifact_is_delivered_with_it_once() {
    let tmp = tempfile::tempdir().unwrap();
    let server_store = tmp.path().join("server");
    let token = Store::open(&server_store).unwrap().add_user("ada", false).unwrap();
    let server = serve(&server_store, 1 << 20);
    let remote = Remote::new(&format!("http://{}", server.addr()), &token).unwrap();
    let local = tmp.path().join("laptop");
    let options = RunOptions::new("class").system_interval(None);
    let mut run = Run::start(&local, RunOptions { remote: Some(remote.clone()), ..options }).unwrap();
    run.log(0, &[("loss", 1.0)]).unwrap();
    let weights: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    run.log_artifact_bytes("best.safetensors", &weights, "checkpoint").unwrap();
    let id = run.id().to_string();
    run.finish(EndStatus::Finished).unwrap();

    let store = Store::open_read_only(&server_store).unwrap();
    let artifacts = store.artifacts(&id).unwrap();
    assert_eq!(artifacts.len(), 1);
    assert_eq!((artifacts[0].name.as_str(), artifacts[0].kind.as_str()), ("best.safetensors", "checkpoint"));
    assert_eq!(std::fs::read(&artifacts[0].path).unwrap(), weights);
    assert_eq!(artifacts[0].sha256, sha(&weights));
    // A second sync finds it there and sends nothing again.
    Store::open(&local).unwrap().sync_run(&id, &remote).unwrap();
    assert_eq!(Store::open_read_only(&server_store).unwrap().artifacts(&id).unwrap().len(), 1);
}

#[test]
fn bad_uploads_leave_nothing_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let server_store = tmp.path().join("server");
    let (ada, grace) = {
        let mut s = Store::open(&server_store).unwrap();
        (s.add_user("ada", false).unwrap(), s.add_user("grace", false).unwrap())
    };
    let server = serve(&server_store, 100_000);
    let port = server.addr().port();
    let remote = Remote::new(&format!("http://{}", server.addr()), &ada).unwrap();
    let local = tmp.path().join("laptop");
    let run =
        Run::start(&local, RunOptions { remote: Some(remote), ..RunOptions::new("p").system_interval(None) }).unwrap();
    let id = run.id().to_string();
    run.finish(EndStatus::Finished).unwrap();
    let before = files(&server_store);

    let body = vec![7u8; 50_000];
    let path = |hash: &str| format!("/api/runs/{id}/artifacts/{hash}?name=w.bin&kind=file");
    // Content that is not what the request names.
    let (status, text) = put(port, &path(&sha(b"something else")), &ada, &body);
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("nothing was stored"), "{text}");
    // Past the server's limit.
    let big = vec![1u8; 150_000];
    let (status, text) = put(port, &path(&sha(&big)), &ada, &big);
    assert_eq!(status, 413, "{text}");
    // Another user's run.
    let (status, _) = put(port, &path(&sha(&body)), &grace, &body);
    assert_eq!(status, 403);
    // No name.
    let (status, _) = put(port, &format!("/api/runs/{id}/artifacts/{}", sha(&body)), &ada, &body);
    assert_eq!(status, 400);
    assert_eq!(files(&server_store), before, "no blob and no temporary file was left");
    assert!(Store::open_read_only(&server_store).unwrap().artifacts(&id).unwrap().is_empty());
    // The same upload, right: stored (201), then answered as there (200).
    assert_eq!(put(port, &path(&sha(&body)), &ada, &body).0, 201);
    assert_eq!(put(port, &path(&sha(&body)), &ada, &body).0, 200);
    assert_eq!(Store::open_read_only(&server_store).unwrap().artifacts(&id).unwrap().len(), 1);
}
