//! The dashboard server end to end: a temporary store seeded through the tracker's API, the
//! server on a free loopback port, and plain HTTP requests against it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use nabla_testkit::store::record_run;
use nabla_track::{EndStatus, Run, RunOptions, Store};
use nabla_ui::{Server, ServerOptions};
use serde_json::{json, Value};

const LONG_POINTS: u64 = 100_000;

/// A finished run with two metrics and an artifact; returns its id.
fn record(dir: &Path, name: &str, lr: f64) -> String {
    let opts = RunOptions::new("mnist").name(name).config(json!({"lr": lr, "hidden": 128}));
    record_run(dir, opts, |run| {
        for step in 0..5u64 {
            run.log(step, &[("train/loss", 1.0 / (step as f64 + 1.0)), ("val/acc", 0.5 + 0.1 * step as f64)]).unwrap();
        }
        run.summary("test_acc", 0.9).unwrap();
        run.log_artifact_bytes("model.safetensors", format!("weights of {name}").as_bytes(), "checkpoint").unwrap();
        EndStatus::Finished
    })
}

/// A finished run whose `train/loss` has 100,000 points, with its global minimum at step
/// 31,337 and its maximum at 77,777.
fn record_long(dir: &Path) -> String {
    record_run(dir, RunOptions::new("long").name("long"), |run| {
        for step in 0..LONG_POINTS {
            let value = match step {
                31_337 => -5.0,
                77_777 => 9.0,
                _ => (step as f64 * 0.01).sin(),
            };
            run.log(step, &[("train/loss", value)]).unwrap();
        }
        EndStatus::Finished
    })
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// One GET over a fresh connection: (status, headers, body).
fn get_with(port: u16, path: &str, extra_headers: &str) -> (u16, String, Vec<u8>) {
    nabla_testkit::http::get(port, path, "127.0.0.1", extra_headers)
}

fn get(port: u16, path: &str) -> (u16, Vec<u8>) {
    let (status, _, body) = get_with(port, path, "");
    (status, body)
}

fn get_json(port: u16, path: &str) -> Value {
    let (status, body) = get(port, path);
    assert_eq!(status, 200, "GET {path}: {}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

fn start(dir: &Path) -> Server {
    Server::start(ServerOptions::new(loopback(0), dir)).unwrap()
}

#[test]
fn api_lists_runs_metrics_and_downsampled_history() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let a = record(dir, "alpha", 0.1);
    let b = record(dir, "beta", 0.01);
    let long = record_long(dir);
    let server = start(dir);
    let port = server.addr().port();
    assert_ne!(port, 0);
    assert!(server.token().is_none(), "loopback needs no token");

    let projects = get_json(port, "/api/projects");
    let names: Vec<&str> = projects.as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 2, "{projects}");
    assert!(names.contains(&"mnist") && names.contains(&"long"));

    let runs = get_json(port, "/api/runs");
    assert_eq!(runs["total"], 3);
    let ids: Vec<&str> = runs["runs"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    for id in [&a, &b, &long] {
        assert!(ids.contains(&id.as_str()), "{id} missing from {ids:?}");
    }
    let mnist = get_json(port, "/api/runs?project=mnist&filter=config.lr%3E0.05&sort=-started");
    assert_eq!(mnist["total"], 1);
    assert_eq!(mnist["runs"][0]["name"], "alpha");
    assert_eq!(mnist["runs"][0]["config"]["lr"], 0.1);
    assert_eq!(mnist["runs"][0]["status"], "finished");
    let paged = get_json(port, "/api/runs?limit=1&offset=1");
    assert_eq!((paged["total"].as_u64(), paged["runs"].as_array().unwrap().len()), (Some(3), 1));
    assert_eq!(get(port, "/api/runs?filter=config.lr").0, 400);

    let one = get_json(port, &format!("/api/runs/{}", &a[..8]));
    assert_eq!(one["run"]["id"], a.as_str());
    assert_eq!(one["run"]["summary"]["test_acc"], 0.9);
    assert_eq!(one["metrics"].as_array().unwrap().len(), 2);
    assert_eq!(one["artifacts"][0]["name"], "model.safetensors");
    assert!(one["artifacts"][0].get("path").is_none(), "server paths stay private");

    let metrics = get_json(port, &format!("/api/runs/{a}/metrics"));
    let loss = metrics.as_array().unwrap().iter().find(|m| m["name"] == "train/loss").unwrap();
    assert_eq!(loss["points"], 5);
    assert_eq!(loss["min"], 0.2);

    let short = get_json(port, &format!("/api/runs/{a}/metrics/train/loss"));
    assert_eq!(short["steps"], json!([0, 1, 2, 3, 4]));

    let n = 2000;
    let history = get_json(port, &format!("/api/runs/{long}/metrics/train/loss?points={n}"));
    assert_eq!(history["total"], LONG_POINTS);
    let steps: Vec<u64> = history["steps"].as_array().unwrap().iter().map(|s| s.as_u64().unwrap()).collect();
    let values: Vec<f64> = history["values"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert!(steps.len() <= 2 * n && steps.len() >= n / 2, "{} points", steps.len());
    assert_eq!((steps[0], steps[steps.len() - 1]), (0, LONG_POINTS - 1));
    assert!(steps.windows(2).all(|w| w[0] < w[1]));
    assert!(steps.iter().zip(&values).any(|(&s, &v)| s == 31_337 && v == -5.0), "global minimum lost");
    assert!(steps.iter().zip(&values).any(|(&s, &v)| s == 77_777 && v == 9.0), "global maximum lost");
    let window = get_json(port, &format!("/api/runs/{long}/metrics/train/loss?from=100&to=199"));
    assert_eq!(window["total"], 100);

    assert_eq!(get(port, &format!("/api/runs/{long}/metrics/no/such")).0, 404);
    assert_eq!(get(port, "/api/runs/ffffffffffff").0, 404);
    assert_eq!(get(port, "/api/nothing").0, 404);
    // A query or path that does not parse is the API's JSON error too (regression, issue 21:
    // axum answered "Failed to deserialize query string" as text/plain).
    for bad in [format!("/api/runs/{long}/metrics/train/loss?points=many"), "/api/runs/%FF%FE".to_string()] {
        let (status, body) = get(port, &bad);
        assert_eq!(status, 400, "{bad}");
        let doc: serde_json::Value = serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{bad}: {e}"));
        assert!(doc["error"].as_str().is_some_and(|m| !m.is_empty()), "{bad}: {doc}");
    }

    let (status, html) = get(port, "/");
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&html).contains("<title>nabla</title>"));
    for asset in ["/static/app.js", "/static/chart.js", "/static/style.css"] {
        assert_eq!(get(port, asset).0, 200, "{asset}");
    }
    server.stop();
    assert!(TcpStream::connect_timeout(&loopback(port), Duration::from_secs(1)).is_err(), "still listening");
}

#[test]
fn artifacts_download_and_never_escape_the_store() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let a = record(dir, "alpha", 0.1);
    let b = record(dir, "beta", 0.01);
    std::fs::write(dir.join("secret.txt"), "not an artifact").unwrap();
    let server = start(dir);
    let port = server.addr().port();
    let store = Store::open_read_only(dir).unwrap();
    let artifact = &store.artifacts(&a).unwrap()[0];
    let other = &store.artifacts(&b).unwrap()[0];

    let (status, head, body) = get_with(port, &format!("/api/runs/{a}/artifacts/{}", artifact.sha256), "");
    assert_eq!(status, 200);
    assert_eq!(body, b"weights of alpha");
    assert!(head.contains("filename=\"model.safetensors\""), "{head}");

    // Another run's artifact is not this run's.
    assert_eq!(get(port, &format!("/api/runs/{a}/artifacts/{}", other.sha256)).0, 404);
    for path in [
        "/api/runs/{a}/artifacts/..%2F..%2Fsecret.txt",
        "/api/runs/{a}/artifacts/..%2Fnabla.db",
        "/api/runs/{a}/artifacts/%2Fetc%2Fpasswd",
        "/api/runs/{a}/artifacts/..",
        "/api/runs/{a}/artifacts/../../secret.txt",
        "/api/runs/{a}/artifacts/%2e%2e%5c%2e%2e%5csecret.txt",
    ] {
        let path = path.replace("{a}", &a);
        let (status, body) = get(port, &path);
        assert!(status == 400 || status == 404, "{path}: {status}");
        assert!(!String::from_utf8_lossy(&body).contains("not an artifact"), "{path} leaked a file");
    }

    // A blob replaced by a link to a file outside the store is not followed.
    #[cfg(unix)]
    {
        std::fs::remove_file(&artifact.path).unwrap();
        std::os::unix::fs::symlink(dir.join("secret.txt"), &artifact.path).unwrap();
        let (status, body) = get(port, &format!("/api/runs/{a}/artifacts/{}", artifact.sha256));
        assert_eq!(status, 404);
        assert!(!String::from_utf8_lossy(&body).contains("not an artifact"));
    }
}

/// Reads SSE lines until one contains `needle` or `deadline` passes; returns what was read.
fn read_until(reader: &mut BufReader<TcpStream>, needle: &str, deadline: Instant) -> String {
    let mut seen = String::new();
    while Instant::now() < deadline {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) => break,
            Ok(_) => {
                seen.push_str(&line);
                if line.contains(needle) {
                    return seen;
                }
            }
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(e) => panic!("reading the stream: {e}"),
        }
    }
    panic!("`{needle}` did not arrive; got:\n{seen}");
}

// Regression (issue 21): 300 event streams on one running run took both cores. At most 32
// are open at once; one more is answered 503 with the API's JSON error, and a closed one
// frees its place.
#[test]
fn live_streams_are_capped_and_a_closed_one_frees_its_place() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let run = Run::start(dir, RunOptions::new("live").system_interval(None)).unwrap();
    let id = run.id().to_string();
    let server = start(dir);
    let port = server.addr().port();
    // `Connection: close`, so that a refused request's body ends with the connection.
    let open = || {
        let mut stream = TcpStream::connect_timeout(&loopback(port), Duration::from_secs(5)).unwrap();
        stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        write!(stream, "GET /api/runs/{id}/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").unwrap();
        let mut reader = BufReader::new(stream);
        let head = read_until(&mut reader, "\r\n", Instant::now() + Duration::from_secs(20));
        (head, reader)
    };
    let mut streams = Vec::new();
    for _ in 0..32 {
        let (head, reader) = open();
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        streams.push(reader);
    }
    let (head, mut reader) = open();
    assert!(head.starts_with("HTTP/1.1 503"), "{head}");
    let body = read_until(&mut reader, "too many live streams", Instant::now() + Duration::from_secs(20));
    assert!(body.contains("{\"error\""), "{body}");
    drop(streams.pop());
    // The server notices the closed stream at its next poll or keep-alive.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (head, reader) = open();
        if head.starts_with("HTTP/1.1 200") {
            streams.push(reader);
            break;
        }
        assert!(Instant::now() < deadline, "the closed stream's place was not given back");
        std::thread::sleep(Duration::from_millis(200));
    }
    run.finish(nabla_track::EndStatus::Finished).unwrap();
}

#[test]
fn stream_pushes_points_logged_after_connecting_and_ends_with_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let opts = RunOptions::new("live").name("live").system_interval(None).flush_interval(Duration::from_millis(10));
    let mut run = Run::start(dir, opts).unwrap();
    for step in 0..10u64 {
        run.log(step, &[("train/loss", 1.0)]).unwrap();
    }
    run.flush().unwrap();
    let id = run.id().to_string();
    let server = start(dir);
    let port = server.addr().port();

    let mut stream = TcpStream::connect_timeout(&loopback(port), Duration::from_secs(5)).unwrap();
    stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    write!(stream, "GET /api/runs/{id}/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(stream);
    let deadline = Instant::now() + Duration::from_secs(20);
    let head = read_until(&mut reader, "event: hello", deadline);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.to_ascii_lowercase().contains("content-type: text/event-stream"), "{head}");
    let hello = read_until(&mut reader, "data:", deadline);
    assert!(hello.contains("\"train/loss\":9"), "the cursor starts at the last step: {hello}");

    run.log(1000, &[("train/loss", 42.5), ("val/acc", 0.75)]).unwrap();
    run.flush().unwrap();
    read_until(&mut reader, "event: points", deadline);
    let points = read_until(&mut reader, "data:", deadline);
    let data: Value = serde_json::from_str(points.trim().trim_start_matches("data:").trim()).unwrap();
    assert_eq!(data["train/loss"]["steps"], json!([1000]), "{data}");
    assert_eq!(data["train/loss"]["values"], json!([42.5]));

    // A metric logged for the first time after connecting arrives too (within a re-list).
    let more = if data.get("val/acc").is_some() { points } else { read_until(&mut reader, "val/acc", deadline) };
    assert!(more.contains("0.75"), "{more}");

    run.finish(EndStatus::Finished).unwrap();
    let end = read_until(&mut reader, "event: end", deadline);
    let end = end + &read_until(&mut reader, "data:", deadline);
    assert!(end.contains("finished"), "{end}");
    drop(server);
}

#[test]
fn a_token_is_required_when_given_or_off_loopback() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    record(dir, "alpha", 0.1);

    // Every interface: only ever talked to over loopback here.
    let server = Server::start(ServerOptions::new(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)), dir)).unwrap();
    let port = server.addr().port();
    let token = server.token().expect("a token is generated off loopback").to_string();
    assert!(token.len() >= 32);
    assert!(server.url().contains(&format!("?token={token}")), "{}", server.url());
    assert_eq!(get(port, "/api/runs").0, 401);
    assert_eq!(get(port, "/").0, 401);
    assert_eq!(get(port, "/api/runs?token=wrong").0, 401);
    assert_eq!(get_with(port, "/api/runs", "Authorization: Bearer wrong\r\n").0, 401);
    assert_eq!(get(port, &format!("/api/runs?token={token}")).0, 200);
    assert_eq!(get_with(port, "/api/runs", &format!("Authorization: Bearer {token}\r\n")).0, 200);
    // The scheme is case-insensitive (regression, issue 21: `bearer` was refused).
    assert_eq!(get_with(port, "/api/runs", &format!("Authorization: bearer {token}\r\n")).0, 200);
    assert_eq!(get_with(port, "/api/runs", &format!("Authorization: Basic {token}\r\n")).0, 401);
    let (status, head, _) = get_with(port, &format!("/?token={token}"), "");
    assert_eq!(status, 200);
    let cookie = head
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: ").or_else(|| l.strip_prefix("Set-Cookie: ")))
        .expect("the tokened page load sets a cookie");
    let pair = cookie.split(';').next().unwrap();
    assert_eq!(get_with(port, "/api/projects", &format!("Cookie: {pair}\r\n")).0, 200);
    drop(server);

    // On loopback a given token is still required.
    let server = Server::start(ServerOptions::new(loopback(0), dir).token("s3cret")).unwrap();
    let port = server.addr().port();
    assert_eq!(get(port, "/api/runs").0, 401);
    assert_eq!(get(port, "/api/runs?token=s3cret").0, 200);
}

#[test]
fn an_empty_tracking_dir_lists_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let server = start(&tmp.path().join("never-used"));
    let port = server.addr().port();
    assert_eq!(get_json(port, "/api/projects"), json!([]));
    assert_eq!(get_json(port, "/api/runs")["total"], 0);
    assert_eq!(get(port, "/api/runs/abc").0, 404);
}

/// A GET with this `Host` header (or none): the status code.
fn status_with_host(port: u16, path: &str, host: Option<&str>) -> u16 {
    let mut stream = TcpStream::connect_timeout(&loopback(port), Duration::from_secs(5)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let host = host.map_or_else(String::new, |h| format!("Host: {h}\r\n"));
    write!(stream, "GET {path} HTTP/1.1\r\n{host}Connection: close\r\n\r\n").unwrap();
    let mut raw = String::new();
    let _ = stream.read_to_string(&mut raw);
    raw.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status in {raw:?}"))
}

#[test]
fn a_loopback_server_refuses_foreign_host_headers_against_dns_rebinding() {
    let tmp = tempfile::tempdir().unwrap();
    record(tmp.path(), "alpha", 0.1);
    let server = start(tmp.path());
    let port = server.addr().port();
    for host in ["127.0.0.1", &format!("127.0.0.1:{port}"), &format!("localhost:{port}"), &format!("[::1]:{port}")] {
        assert_eq!(status_with_host(port, "/api/runs", Some(host)), 200, "{host}");
        assert_eq!(status_with_host(port, "/", Some(host)), 200, "{host}");
    }
    for host in [&format!("evil.example:{port}"), "evil.example", &format!("localhost.evil.example:{port}"), "10.1.2.3"]
    {
        assert_eq!(status_with_host(port, "/api/runs", Some(host)), 403, "{host}");
        assert_eq!(status_with_host(port, "/", Some(host)), 403, "{host}");
    }
    // HTTP/1.1 requires a Host header; a request without one is refused too.
    assert_eq!(status_with_host(port, "/api/runs", None), 403);
    drop(server);

    // Off loopback the token guards the server, whatever name it was reached by.
    let server = Server::start(ServerOptions::new(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)), tmp.path())).unwrap();
    let (port, token) = (server.addr().port(), server.token().unwrap().to_string());
    assert_eq!(status_with_host(port, &format!("/api/runs?token={token}"), Some("nabla.lan:6006")), 200);
    assert_eq!(status_with_host(port, "/api/runs", Some("nabla.lan:6006")), 401);
}
