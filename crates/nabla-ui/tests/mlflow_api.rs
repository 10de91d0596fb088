//! MLflow's REST calls on `nabla server`, as the `mlflow` client sends them (the bodies below
//! are what mlflow-skinny 3.18 sent for `set_experiment`, `start_run`, `log_param(s)`,
//! `log_metric(s)`, `set_tag(s)` and `end_run`). The real client is run against a server in
//! crates/nabla-py/tests/test_mlflow_client.py.

use std::net::{Ipv4Addr, SocketAddr};

use nabla_track::Store;
use nabla_ui::{Server, ServerOptions};
use serde_json::{json, Value};

fn call(port: u16, method: &str, path: &str, token: Option<&str>, body: Option<&Value>) -> (u16, Value) {
    let body = body.map(Value::to_string).unwrap_or_default();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let headers = format!("{auth}Content-Type: application/json\r\n");
    let (status, _, bytes) =
        nabla_testkit::http::request(port, method, path, "127.0.0.1", &headers, body.as_bytes()).unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

struct Setup {
    _tmp: tempfile::TempDir,
    store: std::path::PathBuf,
    ada: String,
    grace: String,
    server: Server,
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("server");
    let mut s = Store::open(&store).unwrap();
    let ada = s.add_user("ada", false).unwrap();
    let grace = s.add_user("grace", false).unwrap();
    let server = Server::start(
        ServerOptions::new(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), &store).prewarm(false).users(false),
    )
    .unwrap();
    Setup { _tmp: tmp, store, ada, grace, server }
}

const API: &str = "/api/2.0/mlflow";

/// `mlflow.set_experiment(name)`: look it up, create it when it is not there.
fn set_experiment(port: u16, token: &str, name: &str) -> String {
    let (status, found) =
        call(port, "GET", &format!("{API}/experiments/get-by-name?experiment_name={name}"), Some(token), None);
    if status == 200 {
        return found["experiment"]["experiment_id"].as_str().unwrap().to_string();
    }
    assert_eq!((status, found["error_code"].as_str()), (404, Some("RESOURCE_DOES_NOT_EXIST")), "{found}");
    let (status, created) =
        call(port, "POST", &format!("{API}/experiments/create"), Some(token), Some(&json!({"name": name})));
    assert_eq!(status, 200, "{created}");
    created["experiment_id"].as_str().unwrap().to_string()
}

fn start_run(port: u16, token: &str, experiment: &str, name: &str) -> String {
    let body = json!({"experiment_id": experiment, "user_id": "root", "run_name": name, "start_time": 1_796_488_351_428_i64,
        "tags": [{"key": "mlflow.user", "value": "root"}, {"key": "mlflow.source.name", "value": "client.py"},
                 {"key": "mlflow.source.type", "value": "LOCAL"}, {"key": "mlflow.runName", "value": name}]});
    let (status, run) = call(port, "POST", &format!("{API}/runs/create"), Some(token), Some(&body));
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["run"]["info"]["status"], "RUNNING");
    run["run"]["info"]["run_id"].as_str().unwrap().to_string()
}

fn post(port: u16, token: &str, endpoint: &str, body: Value) -> (u16, Value) {
    call(port, "POST", &format!("{API}/{endpoint}"), Some(token), Some(&body))
}

#[test]
fn a_script_logged_with_mlflows_calls_is_a_nabla_run() {
    let s = setup();
    let port = s.server.addr().port();
    let experiment = set_experiment(port, &s.ada, "demo");
    assert_eq!(set_experiment(port, &s.ada, "demo"), experiment, "found the second time");
    let id = start_run(port, &s.ada, &experiment, "first");
    let ok = |(status, body): (u16, Value)| assert_eq!(status, 200, "{body}");
    ok(post(port, &s.ada, "runs/log-parameter", json!({"run_uuid": id, "key": "lr", "value": "0.01", "run_id": id})));
    ok(post(
        port,
        &s.ada,
        "runs/log-batch",
        json!({"run_id": id, "params": [{"key": "hidden", "value": "64"}, {"key": "act", "value": "relu"}]}),
    ));
    for (step, value, ms) in [(0, 0.5, 1_796_488_351_443_i64), (1, 0.4, 1_796_488_351_445)] {
        ok(post(
            port,
            &s.ada,
            "runs/log-metric",
            json!({"run_uuid": id, "key": "loss", "value": value, "timestamp": ms, "step": step, "run_id": id}),
        ));
    }
    ok(post(
        port,
        &s.ada,
        "runs/log-batch",
        json!({"run_id": id, "metrics": [
        {"key": "acc", "value": 0.9, "timestamp": 1_796_488_351_448_i64, "step": 2, "run_id": id},
        {"key": "loss", "value": 0.3, "timestamp": 1_796_488_351_448_i64, "step": 2, "run_id": id}]}),
    ));
    ok(post(port, &s.ada, "runs/set-tag", json!({"run_uuid": id, "key": "team", "value": "a", "run_id": id})));
    ok(post(
        port,
        &s.ada,
        "runs/log-batch",
        json!({"run_id": id, "tags": [{"key": "x", "value": "y"}, {"key": "team", "value": "b"}]}),
    ));
    // `log_metric` without a step is at step 0, which loss has: stored at the next step. Its
    // retry (same body: the answer was lost) is stored once.
    let again = json!({"run_uuid": id, "key": "loss", "value": 0.35, "timestamp": 1_796_488_351_456_i64, "step": 0, "run_id": id});
    ok(post(port, &s.ada, "runs/log-metric", again.clone()));
    ok(post(port, &s.ada, "runs/log-metric", again));
    // NaN as protobuf's JSON spells it, and an integer sent as a string.
    ok(post(
        port,
        &s.ada,
        "runs/log-metric",
        json!({"run_id": id, "key": "grad", "value": "NaN", "timestamp": "1796488351457", "step": "4"}),
    ));
    let (status, got) = call(port, "GET", &format!("{API}/runs/get?run_uuid={id}&run_id={id}"), Some(&s.ada), None);
    assert_eq!(status, 200, "{got}");
    let latest: Vec<(String, Value)> = got["run"]["data"]["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["key"].as_str().unwrap().to_string(), m["value"].clone()))
        .collect();
    assert_eq!(latest, [("acc".into(), json!(0.9)), ("grad".into(), json!("NaN")), ("loss".into(), json!(0.35))]);
    ok(post(
        port,
        &s.ada,
        "runs/update",
        json!({"run_uuid": id, "status": "FINISHED", "end_time": 1_796_488_351_459_i64, "run_id": id}),
    ));

    let store = Store::open_read_only(&s.store).unwrap();
    let run = store.run(&id).unwrap();
    assert_eq!(run.project, "demo");
    assert_eq!(run.name.as_deref(), Some("first"));
    assert_eq!(run.status.as_str(), "finished");
    assert_eq!(run.config, json!({"lr": 0.01, "hidden": 64, "act": "relu"}));
    assert_eq!(run.tags, ["x=y", "team=b"]);
    assert_eq!(run.meta.command.as_deref(), Some("client.py"));
    assert!((run.started - 1_796_488_351.428).abs() < 1e-6);
    assert!(run.ended.is_some_and(|t| (t - 1_796_488_351.459).abs() < 1e-6), "{:?}", run.ended);
    let loss: Vec<(u64, f64)> = store.history(&id, "loss", ..).unwrap().iter().map(|p| (p.step, p.value)).collect();
    assert_eq!(loss, [(0, 0.5), (1, 0.4), (2, 0.3), (3, 0.35)]);
    let grad = store.history(&id, "grad", ..).unwrap();
    assert_eq!((grad.len(), grad[0].step, grad[0].value.is_nan()), (1, 4, true));
    assert!((grad[0].wall_time - 1_796_488_351.457).abs() < 1e-6);
}

#[test]
fn mlflows_rules_and_nablas_access_hold() {
    let s = setup();
    let port = s.server.addr().port();
    // Without a token: 401, which the client reports.
    let (status, _) = call(port, "POST", &format!("{API}/runs/create"), None, Some(&json!({"experiment_id": "0"})));
    assert_eq!(status, 401);
    // The default experiment is each user's own project.
    let ada_run = start_run(port, &s.ada, "0", "a");
    let grace_run = start_run(port, &s.grace, "0", "g");
    let store = Store::open_read_only(&s.store).unwrap();
    assert_eq!(store.run(&ada_run).unwrap().project, "Default (ada)");
    assert_eq!(store.run(&grace_run).unwrap().project, "Default (grace)");
    drop(store);
    // A parameter keeps its value; the same value again is a retry.
    let (status, _) = post(port, &s.ada, "runs/log-parameter", json!({"run_id": ada_run, "key": "lr", "value": "0.1"}));
    assert_eq!(status, 200);
    let (status, _) = post(port, &s.ada, "runs/log-parameter", json!({"run_id": ada_run, "key": "lr", "value": "0.1"}));
    assert_eq!(status, 200);
    let (status, refused) =
        post(port, &s.ada, "runs/log-parameter", json!({"run_id": ada_run, "key": "lr", "value": "0.2"}));
    assert_eq!((status, refused["error_code"].as_str()), (400, Some("INVALID_PARAMETER_VALUE")), "{refused}");
    // Another user's run: not writable, not readable, its experiment not found.
    let (status, refused) =
        post(port, &s.grace, "runs/log-metric", json!({"run_id": ada_run, "key": "x", "value": 1.0, "step": 0}));
    assert_eq!((status, refused["error_code"].as_str()), (403, Some("PERMISSION_DENIED")), "{refused}");
    let (status, _) = call(port, "GET", &format!("{API}/runs/get?run_id={ada_run}"), Some(&s.grace), None);
    assert_eq!(status, 404);
    let demo = set_experiment(port, &s.ada, "demo");
    let (status, refused) =
        call(port, "GET", &format!("{API}/experiments/get?experiment_id={demo}"), Some(&s.grace), None);
    assert_eq!((status, refused["error_code"].as_str()), (403, Some("PERMISSION_DENIED")));
    assert!(refused["message"].as_str().unwrap().contains("nabla server share demo grace --write"), "{refused}");
    let (status, refused) =
        call(port, "GET", &format!("{API}/experiments/get-by-name?experiment_name=demo"), Some(&s.grace), None);
    assert_eq!(status, 403, "{refused}");
    let (status, refused) = call(port, "GET", &format!("{API}/experiments/get?experiment_id=99"), Some(&s.grace), None);
    assert_eq!((status, refused["error_code"].as_str()), (404, Some("RESOURCE_DOES_NOT_EXIST")));
    let (status, refused) = post(port, &s.grace, "experiments/create", json!({"name": "demo"}));
    assert_eq!((status, refused["error_code"].as_str()), (400, Some("RESOURCE_ALREADY_EXISTS")));
    let (status, _) = post(port, &s.grace, "runs/create", json!({"experiment_id": demo}));
    assert_eq!(status, 403);
    // Bad input is named.
    let (status, refused) =
        post(port, &s.ada, "runs/log-metric", json!({"run_id": ada_run, "key": "x", "value": "high", "step": 0}));
    assert_eq!(status, 400);
    assert!(refused["message"].as_str().unwrap().contains("`high` is not a number"), "{refused}");
    let (status, refused) =
        post(port, &s.ada, "runs/log-metric", json!({"run_id": ada_run, "key": "x", "value": 1.0, "step": -1}));
    assert_eq!(status, 400, "{refused}");
    let many: Vec<Value> = (0..1001).map(|i| json!({"key": "m", "value": 1.0, "step": i})).collect();
    let (status, refused) = post(port, &s.ada, "runs/log-batch", json!({"run_id": ada_run, "metrics": many}));
    assert_eq!(status, 400);
    assert!(refused["message"].as_str().unwrap().contains("at most 1000 metrics"), "{refused}");
    let (status, refused) = post(port, &s.ada, "runs/log-batch", "not json".into());
    assert_eq!((status, refused["error_code"].as_str()), (400, Some("INVALID_PARAMETER_VALUE")), "{refused}");
    let (status, refused) = call(port, "GET", &format!("{API}/runs/search"), Some(&s.ada), None);
    assert_eq!((status, refused["error_code"].as_str()), (404, Some("ENDPOINT_NOT_FOUND")));
    let (status, _) = post(port, &s.ada, "runs/update", json!({"run_id": ada_run, "status": "KILLED"}));
    assert_eq!(status, 200);
    assert_eq!(Store::open_read_only(&s.store).unwrap().run(&ada_run).unwrap().status.as_str(), "interrupted");
}
