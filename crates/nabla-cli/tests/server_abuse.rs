//! Slow and malicious clients cannot stop the others from logging (issue 24): while 10,000
//! connections sit open and idle, one client streams a body that never ends, others start a
//! body and stall, send a batch over the limit, or a wrong token, ten honest clients log
//! 10,000 points each to a `nabla server` process, and every point arrives once. Prints the
//! honest clients' time and p50/p99 request latency (seen with `--nocapture`). Bounded: the
//! idle connections are dropped once the honest clients are done.

mod support;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nabla_track::Store;
use serde_json::{json, Value};

const IDLE_CONNECTIONS: usize = 10_000;
const HONEST: usize = 10;
const POINTS: u64 = 10_000;
const BATCH: u64 = 500;

fn call(port: u16, method: &str, path: &str, token: &str, body: &Value) -> std::io::Result<(u16, Value)> {
    let headers = format!("Authorization: Bearer {token}\r\nContent-Type: application/json\r\n");
    let (status, _, bytes) =
        nabla_testkit::http::request(port, method, path, "127.0.0.1", &headers, body.to_string().as_bytes())?;
    Ok((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
}

/// A chunked body that never ends, as fast as the server takes it: answered `413` at the
/// JSON limit (16 MiB), the connection closed.
fn never_ending_body(port: u16, token: &str) -> u16 {
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    stream.set_write_timeout(Some(Duration::from_secs(30))).unwrap();
    let head = format!(
        "POST /api/runs/abuse0000000/points HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    let chunk = format!("{:x}\r\n{}\r\n", 64 * 1024, "[".repeat(64 * 1024));
    let until = Instant::now() + Duration::from_secs(60);
    // Writing fails once the server has answered and closed; 64 MiB is four times the limit.
    for _ in 0..1024 {
        if stream.write_all(chunk.as_bytes()).is_err() || Instant::now() > until {
            break;
        }
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

#[test]
fn slow_and_malicious_clients_do_not_stop_the_others() {
    let limit = nabla_ui::raise_open_files_limit();
    assert!(
        limit.is_none_or(|l| l > IDLE_CONNECTIONS as u64 + 1000),
        "this test opens {IDLE_CONNECTIONS} connections; the open-files limit is {limit:?} (raise `ulimit -Hn`)"
    );
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("server");
    let (tokens, abuser) = {
        let mut s = Store::open(&store).unwrap();
        let tokens: Vec<String> = (0..HONEST).map(|i| s.add_user(&format!("student-{i}"), false).unwrap()).collect();
        (tokens, s.add_user("mallory", false).unwrap())
    };
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap().local_addr().unwrap().port();
    let (mut server, _) = support::nabla_server(tmp.path(), &store, port);
    assert_eq!(
        call(port, "POST", "/api/runs", &abuser, &json!({"id": "abuse0000000", "project": "m"})).unwrap().0,
        201
    );

    // 10,000 connections that say nothing, opened from 16 threads at once.
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let openers: Vec<_> = (0..16)
        .map(|_| {
            std::thread::spawn(move || {
                (0..IDLE_CONNECTIONS / 16)
                    .map(|_| TcpStream::connect_timeout(&addr, Duration::from_secs(10)).unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let idle: Vec<TcpStream> = openers.into_iter().flat_map(|o| o.join().unwrap()).collect();
    let still_open = |idle: &[TcpStream]| {
        idle.iter()
            .filter(|s| {
                s.set_nonblocking(true).unwrap();
                let open = matches!(s.peek(&mut [0u8; 1]), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
                s.set_nonblocking(false).unwrap();
                open
            })
            .count()
    };

    // Bodies that start and stall, until the server ends them.
    let stalled: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut s = TcpStream::connect(addr).unwrap();
            let head = format!(
                "POST /api/runs/abuse0000000/points HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {abuser}\r\n\
                 Content-Length: 100000\r\n\r\n{{\"batch\": "
            );
            s.write_all(head.as_bytes()).unwrap();
            s
        })
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let flood = {
        let (abuser, stop) = (abuser.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut answers = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                answers.push(never_ending_body(port, &abuser));
                // An oversized batch and a wrong token, between two floods.
                let points: Vec<Value> =
                    (0..100_001).map(|s| json!({"metric": "x", "step": s, "value": 0.0, "wall_time": 0.0})).collect();
                let big = call(
                    port,
                    "POST",
                    "/api/runs/abuse0000000/points",
                    &abuser,
                    &json!({"batch": "big", "points": points}),
                );
                answers.push(big.map_or(0, |(status, _)| status));
                let bad = call(
                    port,
                    "POST",
                    "/api/runs",
                    "nabla_000000000000_bad",
                    &json!({"id": "abuse0000001", "project": "m"}),
                );
                answers.push(bad.map_or(0, |(status, _)| status));
            }
            answers
        })
    };

    let latencies = Arc::new(Mutex::new(Vec::new()));
    let started = Instant::now();
    let honest: Vec<_> = (0..HONEST)
        .map(|i| {
            let (token, latencies) = (tokens[i].clone(), latencies.clone());
            std::thread::spawn(move || {
                let id = format!("{:0>12}", format!("h{i}"));
                assert_eq!(
                    call(port, "POST", "/api/runs", &token, &json!({"id": id, "project": format!("p{i}")})).unwrap().0,
                    201
                );
                for b in 0..POINTS / BATCH {
                    let points: Vec<Value> = (b * BATCH..(b + 1) * BATCH)
                        .map(|s| json!({"metric": "loss", "step": s, "value": 1.0, "wall_time": 1.0}))
                        .collect();
                    let t = Instant::now();
                    let (status, answer) = call(
                        port,
                        "POST",
                        &format!("/api/runs/{id}/points"),
                        &token,
                        &json!({"batch": format!("b{b}"), "points": points}),
                    )
                    .unwrap();
                    assert_eq!(status, 200, "{answer}");
                    latencies.lock().unwrap().push(t.elapsed().as_secs_f64());
                }
                id
            })
        })
        .collect();
    let ids: Vec<String> = honest.into_iter().map(|h| h.join().unwrap()).collect();
    let elapsed = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    // The idle connections were there all along (the server closes them after 10 s).
    let open_at_end = still_open(&idle);
    let answers = flood.join().unwrap();
    drop(idle);
    drop(stalled);
    server.kill().unwrap();
    server.wait().unwrap();

    let s = Store::open_read_only(&store).unwrap();
    for id in &ids {
        let history = s.history(id, "loss", ..).unwrap();
        assert_eq!(history.len() as u64, POINTS, "run {id}");
        assert!(history.iter().enumerate().all(|(i, p)| p.step == i as u64), "run {id}: every step once");
    }
    assert!(open_at_end >= IDLE_CONNECTIONS * 9 / 10, "only {open_at_end} idle connections were open at the end");
    assert!(s.history("abuse0000000", "x", ..).map_or(true, |h| h.is_empty()), "no abusive point was stored");
    // Each round: the flood cut at the limit, the big batch refused, the bad token refused.
    assert!(answers.len() >= 3, "{answers:?}");
    for round in answers.chunks(3).filter(|r| r.len() == 3) {
        assert_eq!(round, [413, 400, 401], "{answers:?}");
    }
    let mut lat = latencies.lock().unwrap().clone();
    lat.sort_by(f64::total_cmp);
    let pct = |q: f64| lat[((lat.len() - 1) as f64 * q) as usize] * 1e3;
    #[allow(clippy::print_stdout)]
    {
        println!(
            "abuse: {HONEST} honest clients x {POINTS} points beside {IDLE_CONNECTIONS} idle connections, 20 stalled \
             bodies and {} flood rounds: {elapsed:.1} s, request p50 {:.1} ms, p99 {:.1} ms ({open_at_end} idle \
             connections open at the end)",
            answers.len() / 3,
            pct(0.5),
            pct(0.99)
        );
    }
}
