//! `nabla bench` as a user (or `run_all.py --with`) runs it.

mod support;

use serde_json::Value;

/// `nabla` with a home of its own, kept for the test's duration.
fn nabla() -> assert_cmd::Command {
    let home = std::env::temp_dir().join(format!("nabla-bench-cli-{}", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();
    support::nabla(&home)
}

fn positive(v: &Value, key: &str) -> f64 {
    let x = v[key].as_f64().unwrap_or_else(|| panic!("{key} is not a number in {v}"));
    assert!(x.is_finite() && x > 0.0, "{key} = {x} in {v}");
    x
}

#[test]
fn synthetic_json_lines_follow_the_peers_schema() {
    let out = nabla()
        .args(["bench", "--synthetic", "--json", "--workloads", "W1,W4,gemm,xor", "--epochs", "1"])
        .args(["--repeats", "1", "--gemm-seconds", "0.01", "--gemm-shapes", "sq256,w1_fwd_64x784x128"])
        .args(["--xor-seeds", "20"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let records: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).expect(l)).collect();
    let workloads: Vec<&str> = records.iter().map(|r| r["workload"].as_str().unwrap()).collect();
    assert_eq!(workloads, ["W1", "W4", "gemm", "gemm", "XOR", "XOR"], "{text}");
    for r in &records {
        assert_eq!(r["peer"], "nabla");
        assert_eq!(r["threads"], 1);
        assert!(r.get("peak_rss_mb").is_some(), "{r}");
        if cfg!(target_os = "linux") {
            positive(r, "peak_rss_mb");
        }
    }
    let w1 = &records[0];
    assert_eq!(
        (&w1["data"], &w1["epochs"], &w1["batch"]),
        (&Value::from("synthetic"), &Value::from(1), &Value::from(64))
    );
    assert_eq!(w1["layers"], "784-128-10");
    assert!(w1["test_accuracy"].is_null(), "synthetic data has no test accuracy: {w1}");
    let seconds = positive(w1, "train_seconds");
    let rate = positive(w1, "samples_per_second");
    assert!((rate * seconds - 60_000.0).abs() < 1.0, "samples/s × s = 60000 · epochs: {w1}");
    let loss = positive(w1, "final_train_loss");
    assert!(loss < 3.0, "random labels: the loss stays near ln 10 = 2.30: {loss}");
    let w4 = &records[1];
    assert_eq!((&w4["data"], &w4["batch"]), (&Value::from("synthetic"), &Value::from(1000)));
    positive(w4, "samples_per_second");
    positive(w4, "infer_seconds_median");
    assert_eq!(w4["infer_seconds_all"].as_array().unwrap().len(), 1);
    let shapes: Vec<&str> = records[2..4].iter().map(|r| r["shape"].as_str().unwrap()).collect();
    assert_eq!(shapes, ["sq256", "w1_fwd_64x784x128"]);
    for g in &records[2..4] {
        assert!(positive(g, "gflops_best") >= positive(g, "gflops_median"), "{g}");
        assert!(g.get("data").is_none(), "gemm records match the peers' by (workload, threads, shape): {g}");
    }
    let outputs: Vec<&str> = records[4..].iter().map(|r| r["output"].as_str().unwrap()).collect();
    assert_eq!(outputs, ["sigmoid", "tanh"]);
    for x in &records[4..] {
        assert_eq!((&x["epochs"], &x["seeds"]), (&Value::from(1000), &Value::from(20)));
        let rate = x["success_rate"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&rate), "{x}");
        positive(x, "train_seconds");
    }
}

#[test]
fn table_for_people() {
    let out = nabla()
        .args(["bench", "--workloads", "gemm", "--gemm-seconds", "0", "--gemm-shapes", "sq256"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("gemm sq256") && text.contains("GFLOP/s"), "{text}");
}

#[test]
fn unknown_workload_is_one_line_and_exit_2() {
    let out = nabla().args(["bench", "--workloads", "W1,W9"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("W9") && err.contains("W1, W2, W3, W3-bf16, W4, gemm, xor"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn unknown_gemm_shape_fails_before_running_anything() {
    let out = nabla().args(["bench", "--workloads", "gemm", "--gemm-shapes", "sq3"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: unknown GEMM shape `sq3`"), "{err}");
}

#[test]
fn missing_mnist_says_where_to_get_it() {
    let empty = tempfile::tempdir().unwrap();
    let out = nabla().args(["bench", "--workloads", "W4", "--data"]).arg(empty.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("--synthetic"), "{err}");
}

#[test]
fn table_workloads_read_back_the_training_split() {
    let keep = tempfile::tempdir().unwrap();
    let out = nabla()
        .args(["bench", "--synthetic", "--json", "--workloads", "csv,parquet", "--repeats", "1", "--threads", "2"])
        .arg("--keep-tables")
        .arg(keep.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let records: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).expect(l)).collect();
    let workloads: Vec<&str> = records.iter().map(|r| r["workload"].as_str().unwrap()).collect();
    assert_eq!(workloads, ["csv", "parquet"], "{text}");
    for (r, file) in records.iter().zip(["synthetic-train.csv", "synthetic-train.parquet"]) {
        assert_eq!(
            (&r["peer"], &r["threads"], &r["data"]),
            (&Value::from("nabla"), &Value::from(2), &Value::from("synthetic"))
        );
        assert_eq!((&r["rows"], &r["columns"]), (&Value::from(60_000), &Value::from(785)), "{r}");
        assert_eq!(r["file"], file);
        let bytes = r["bytes"].as_u64().unwrap();
        assert_eq!(bytes, std::fs::metadata(keep.path().join(file)).unwrap().len(), "the file is kept: {r}");
        positive(r, "seconds_median");
        positive(r, "mb_per_second");
        assert_eq!(r["seconds_all"].as_array().unwrap().len(), 1);
        assert!(r.get("peak_rss_mb").is_some(), "{r}");
    }
}

#[test]
fn table_workloads_leave_nothing_behind_without_keep_tables() {
    let tmp = tempfile::tempdir().unwrap();
    let out = nabla()
        .env("TMPDIR", tmp.path())
        .args(["bench", "--synthetic", "--workloads", "parquet", "--repeats", "1"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("parquet") && text.contains("60000×785"), "{text}");
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0, "the temporary folder is removed");
}
