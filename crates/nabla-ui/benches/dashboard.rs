//! The dashboard's API under load, end to end over HTTP on loopback: a store seeded with 1,000
//! runs of one project (config, summary and two 100-point metrics each) and one run whose
//! `train/loss` has 1,000,000 points. The targets: the runs list under 300 ms, the
//! downsampled metric (2,000 points) under 100 ms.
//!
//! Run: `cargo bench -p nabla-ui` (seeding takes a few seconds before the first sample).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::Criterion;
use nabla_track::{EndStatus, Run, RunOptions};
use nabla_ui::{Server, ServerOptions};
use serde_json::json;

const RUNS: usize = 1_000;
const LONG_POINTS: u64 = 1_000_000;

/// Seeds the store; returns the id of the long run.
fn seed(dir: &Path) -> String {
    for i in 0..RUNS {
        let lr = [0.001, 0.003, 0.01, 0.03, 0.1][i % 5];
        let hidden = [64, 128, 256, 512][i % 4];
        let optimizer = ["sgd", "adam"][i % 2];
        let config = json!({
            "lr": lr, "hidden": hidden, "optimizer": optimizer,
            "batch_size": 128, "epochs": 10, "seed": i, "dropout": 0.1 * (i % 3) as f64,
        });
        let opts = RunOptions::new("sweep").name(format!("run-{i:04}")).config(config).system_interval(None);
        let mut run = Run::start(dir, opts).expect("start run");
        for step in 0..100u64 {
            let loss = 2.3 / (1.0 + step as f64 * lr * 10.0);
            run.log(step, &[("train/loss", loss), ("train/lr", lr)]).expect("log");
        }
        run.summary("test_acc", 0.9 + (i % 97) as f64 / 1000.0).expect("summary");
        run.summary("best_loss", 0.05 + (i % 13) as f64 / 100.0).expect("summary");
        run.finish(EndStatus::Finished).expect("finish");
    }
    let opts = RunOptions::new("long").name("one-million").system_interval(None);
    let mut run = Run::start(dir, opts).expect("start run");
    for step in 0..LONG_POINTS {
        let value = 2.0 * (-(step as f64) / 200_000.0).exp() + 0.1 * (step as f64 * 0.01).sin();
        run.log(step, &[("train/loss", value)]).expect("log");
    }
    let id = run.id().to_string();
    run.finish(EndStatus::Finished).expect("finish");
    id
}

/// One GET over a fresh connection; panics unless it answers 200. Returns the body's length.
fn get(addr: SocketAddr, path: &str) -> usize {
    let mut stream = TcpStream::connect(addr).expect("connect");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").expect("send");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read");
    assert!(raw.starts_with(b"HTTP/1.1 200"), "{path}: {}", String::from_utf8_lossy(&raw[..raw.len().min(300)]));
    raw.len()
}

/// Criterion entry point (a plain `main`, as the bench has `harness = false`).
fn main() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let started = Instant::now();
    let long = seed(tmp.path());
    let seeded = started.elapsed();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "seeded {RUNS} runs and a {LONG_POINTS}-point run in {:.1} s", seeded.as_secs_f64());
    // The first request for the long metric on a fresh server (no background summarising)
    // reads all its points once; the median of five fresh servers.
    let loopback: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    for (name, path) in [
        ("cold history_1M_to_2000", format!("/api/runs/{long}/metrics/train/loss?points=2000")),
        ("cold run_page_1M", format!("/api/runs/{long}")),
    ] {
        let mut times: Vec<f64> = (0..5)
            .map(|_| {
                let cold = Server::start(ServerOptions::new(loopback, tmp.path()).prewarm(false)).expect("serve");
                let start = Instant::now();
                get(cold.addr(), &path);
                start.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        times.sort_by(f64::total_cmp);
        let _ = writeln!(
            out,
            "{name}: median {:.1} ms (min {:.1}, max {:.1}) over 5 fresh servers",
            times[2], times[0], times[4]
        );
    }
    drop(out);
    let server = Server::start(ServerOptions::new(loopback, tmp.path())).expect("serve");
    let addr = server.addr();
    // The background summarising of the recent runs is done once the long run's page answers.
    get(addr, &format!("/api/runs/{long}"));

    let mut criterion =
        Criterion::default().sample_size(20).measurement_time(Duration::from_secs(5)).configure_from_args();
    let mut group = criterion.benchmark_group("dashboard_api");
    let requests = [
        ("runs_list_1000", "/api/runs?project=sweep".to_string()),
        ("runs_list_first_page_100", "/api/runs?project=sweep&limit=100".to_string()),
        ("run_page_1M", format!("/api/runs/{long}")),
        ("history_1M_to_2000", format!("/api/runs/{long}/metrics/train/loss?points=2000")),
        (
            "history_1M_zoom_10k_to_2000",
            format!("/api/runs/{long}/metrics/train/loss?points=2000&from=500000&to=510000"),
        ),
        ("history_100_points", "/api/runs/{first}/metrics/train/loss?points=2000".to_string()),
    ];
    let first = {
        let mut stream = TcpStream::connect(addr).expect("connect");
        write!(stream, "GET /api/runs?project=sweep&limit=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .expect("send");
        let mut raw = String::new();
        stream.read_to_string(&mut raw).expect("read");
        let at = raw.find("\"id\":\"").expect("a run id") + 6;
        raw[at..at + raw[at..].find('"').expect("end of id")].to_string()
    };
    for (name, path) in requests {
        let path = path.replace("{first}", &first);
        group.bench_function(name, |b| b.iter(|| get(addr, &path)));
    }
    group.finish();
    criterion.final_summary();
    drop(server);
}
