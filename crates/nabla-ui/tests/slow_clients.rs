//! Clients that never finish their request: the server closes them after its header deadline
//! (issue 21: "a connection that sends half a request header is never closed"), while a whole
//! request and a live event stream that outlasts the deadline are served as before.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use nabla_track::{EndStatus, Run, RunOptions};
use nabla_ui::{Server, ServerOptions, HEADER_TIMEOUT};

/// The deadline these tests give the server.
const DEADLINE: Duration = Duration::from_millis(400);

fn start(dir: &std::path::Path) -> Server {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    Server::start(ServerOptions::new(addr, dir).prewarm(false).header_timeout(DEADLINE)).unwrap()
}

fn connect(server: &Server) -> TcpStream {
    let stream = TcpStream::connect_timeout(&server.addr(), Duration::from_secs(5)).unwrap();
    stream.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    stream
}

/// Reads until the server closes the connection; returns what it sent and when it closed.
/// Fails if it is still open after `patience`.
fn read_to_close(stream: &mut TcpStream, patience: Duration) -> (Vec<u8>, Instant) {
    let until = Instant::now() + patience;
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while Instant::now() < until {
        match stream.read(&mut buf) {
            Ok(0) => return (got, Instant::now()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return (got, Instant::now()),
            Err(e) => panic!("reading: {e}"),
        }
    }
    panic!("the connection is still open after {patience:?}; got {:?}", String::from_utf8_lossy(&got));
}

#[test]
fn the_default_header_deadline_is_ten_seconds() {
    let options = ServerOptions::new(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), "runs");
    assert_eq!(options.header_timeout, HEADER_TIMEOUT);
    assert_eq!(HEADER_TIMEOUT, Duration::from_secs(10));
}

// Regression (issue 21): a connection that sent half a request header was never closed.
#[test]
fn a_connection_that_sends_half_a_header_is_closed_after_the_deadline() {
    let tmp = tempfile::tempdir().unwrap();
    let server = start(tmp.path());
    let mut half = connect(&server);
    let sent = Instant::now();
    half.write_all(b"GET /api/runs HTTP/1.1\r\nHost: 127.0").unwrap();
    let (reply, closed) = read_to_close(&mut half, Duration::from_secs(10));
    let waited = closed - sent;
    assert!(waited >= DEADLINE - Duration::from_millis(50), "closed after {waited:?}, before the deadline");
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.is_empty() || reply.starts_with("HTTP/1.1 408"), "{reply}");

    // One that sends nothing at all is closed too.
    let mut silent = connect(&server);
    read_to_close(&mut silent, Duration::from_secs(10));

    // And the server still answers a whole request.
    let mut whole = connect(&server);
    whole.write_all(b"GET /api/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").unwrap();
    let (reply, _) = read_to_close(&mut whole, Duration::from_secs(10));
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.ends_with("\"runs\":[]}"), "an empty store lists no runs: {reply}");
}

/// Reads lines until one contains `needle`; fails after `patience`.
fn read_line_with(reader: &mut BufReader<TcpStream>, needle: &str, patience: Duration) -> String {
    let until = Instant::now() + patience;
    let mut seen = String::new();
    while Instant::now() < until {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) => panic!("the stream closed before `{needle}`; got:\n{seen}"),
            Ok(_) => {
                seen.push_str(&line);
                if line.contains(needle) {
                    return seen;
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("reading the stream: {e}"),
        }
    }
    panic!("`{needle}` did not arrive; got:\n{seen}");
}

#[test]
fn a_live_stream_outlasts_the_header_deadline() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = RunOptions::new("live").system_interval(None).flush_interval(Duration::from_millis(10));
    let mut run = Run::start(tmp.path(), opts).unwrap();
    run.log(0, &[("train/loss", 1.0)]).unwrap();
    run.flush().unwrap();
    let server = start(tmp.path());
    let mut stream = connect(&server);
    write!(stream, "GET /api/runs/{}/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", run.id()).unwrap();
    let mut reader = BufReader::new(stream);
    let head = read_line_with(&mut reader, "event: hello", Duration::from_secs(20));
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");

    // Past the deadline (three times over), the stream still carries new points.
    std::thread::sleep(DEADLINE * 3);
    run.log(7, &[("train/loss", 0.25)]).unwrap();
    run.flush().unwrap();
    read_line_with(&mut reader, "event: points", Duration::from_secs(20));
    let points = read_line_with(&mut reader, "data:", Duration::from_secs(20));
    assert!(points.contains("0.25"), "{points}");
    run.finish(EndStatus::Finished).unwrap();
    read_line_with(&mut reader, "event: end", Duration::from_secs(20));
}
