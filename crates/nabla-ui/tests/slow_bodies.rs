//! Clients that start a request body and stop: the server ends the request once no byte has
//! arrived for its deadline (the one it gives headers), answers an error, and keeps serving
//! the others meanwhile; a stalled artifact upload leaves no file behind.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use nabla_track::Store;
use nabla_ui::{Server, ServerOptions};
use serde_json::json;

const DEADLINE: Duration = Duration::from_millis(400);

/// Reads until the server closes the connection (or `patience` passes: a failure).
fn read_to_close(stream: &mut TcpStream, patience: Duration) -> String {
    stream.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let until = Instant::now() + patience;
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while Instant::now() < until {
        match stream.read(&mut buf) {
            Ok(0) => return String::from_utf8_lossy(&got).into_owned(),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return String::from_utf8_lossy(&got).into_owned(),
            Err(e) => panic!("reading: {e}"),
        }
    }
    panic!("still open after {patience:?}; got {:?}", String::from_utf8_lossy(&got));
}

#[test]
fn a_body_that_stops_arriving_ends_its_request_and_no_one_elses() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("server");
    let token = Store::open(&store).unwrap().add_user("ada", false).unwrap();
    let options = ServerOptions::new(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), &store)
        .prewarm(false)
        .users(false)
        .header_timeout(DEADLINE);
    let server = Server::start(options).unwrap();
    let port = server.addr().port();
    let call = |method: &str, path: &str, body: &serde_json::Value| {
        let headers = format!("Authorization: Bearer {token}\r\nContent-Type: application/json\r\n");
        nabla_testkit::http::request(port, method, path, "127.0.0.1", &headers, body.to_string().as_bytes()).unwrap().0
    };
    assert_eq!(call("POST", "/api/runs", &json!({"id": "0000000000aa", "project": "p"})), 201);

    // Points: a header promising 100,000 bytes, 20 of them, then nothing.
    let mut stalled = TcpStream::connect(server.addr()).unwrap();
    let head = format!(
        "POST /api/runs/0000000000aa/points HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{{\"batch\": \"b1\", \"poi"
    );
    stalled.write_all(head.as_bytes()).unwrap();
    // An artifact upload that stops halfway.
    let mut upload = TcpStream::connect(server.addr()).unwrap();
    let sha = "a".repeat(64);
    let head = format!(
        "PUT /api/runs/0000000000aa/artifacts/{sha}?name=w.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n\
         Authorization: Bearer {token}\r\nContent-Length: 1000000\r\n\r\n"
    );
    upload.write_all(head.as_bytes()).unwrap();
    upload.write_all(&[0u8; 300_000]).unwrap();
    let started = Instant::now();

    // Meanwhile another request is served at once.
    let points = json!({"batch": "b2", "points": [{"metric": "loss", "step": 0, "value": 1.0, "wall_time": 1.0}]});
    assert_eq!(call("POST", "/api/runs/0000000000aa/points", &points), 200);
    assert!(started.elapsed() < DEADLINE, "served while the others stall");

    for (what, stream) in [("points", &mut stalled), ("upload", &mut upload)] {
        let reply = read_to_close(stream, Duration::from_secs(10));
        assert!(started.elapsed() >= DEADLINE - Duration::from_millis(50), "{what}: cut before the deadline");
        assert!(reply.is_empty() || reply.starts_with("HTTP/1.1 4"), "{what}: {reply}");
    }
    let store = Store::open_read_only(&store).unwrap();
    assert!(store.artifacts("0000000000aa").unwrap().is_empty());
    assert_eq!(store.history("0000000000aa", "loss", ..).unwrap().len(), 1);
    let leftovers = std::fs::read_dir(tmp.path().join("server/artifacts/tmp")).map_or(0, |d| d.count());
    assert_eq!(leftovers, 0, "the stalled upload's temporary file is gone");
}
