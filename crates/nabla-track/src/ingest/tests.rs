//! Tests of the server side of runs: creating, logging to and updating a client's run.

use super::*;

fn init(id: &str, project: &str) -> RunInit {
    serde_json::from_value(serde_json::json!({"id": id, "project": project, "config": {"lr": 0.1}})).unwrap()
}

fn points(metric: &str, steps: std::ops::Range<u64>) -> Vec<IngestPoint> {
    steps
        .map(|s| IngestPoint { metric: metric.into(), step: s, value: Some(s as f64), wall_time: 1.0 + s as f64 })
        .collect()
}

fn setup() -> (tempfile::TempDir, Store, Principal, Principal) {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = Store::open(tmp.path()).unwrap();
    store.add_user("ada", false).unwrap();
    store.add_user("grace", false).unwrap();
    let ada = Principal { name: "ada".into(), admin: false };
    let grace = Principal { name: "grace".into(), admin: false };
    (tmp, store, ada, grace)
}

#[test]
fn a_retried_create_or_batch_changes_nothing() {
    let (_tmp, mut store, ada, _) = setup();
    store.create_run_for(&ada, &init("0000000000aa", "mlp")).unwrap();
    store.create_run_for(&ada, &init("0000000000aa", "mlp")).unwrap();
    let batch = points("loss", 0..100);
    assert_eq!(store.ingest_points(&ada, "0000000000aa", "b1", &batch).unwrap(), Ingested::Stored);
    assert_eq!(store.ingest_points(&ada, "0000000000aa", "b1", &batch).unwrap(), Ingested::AlreadyStored);
    assert_eq!(store.ingest_points(&ada, "0000000000aa", "b2", &points("loss", 100..150)).unwrap(), Ingested::Stored);
    let history = store.history("0000000000aa", "loss", ..).unwrap();
    assert_eq!(history.len(), 150);
    assert!(history.iter().enumerate().all(|(i, p)| p.step == i as u64));
    let run = store.run("0000000000aa").unwrap();
    assert_eq!(run.project, "mlp");
}

#[test]
fn steps_must_increase_across_batches_and_a_refused_batch_writes_nothing() {
    let (_tmp, mut store, ada, _) = setup();
    store.create_run_for(&ada, &init("0000000000aa", "mlp")).unwrap();
    store.ingest_points(&ada, "0000000000aa", "b1", &points("loss", 0..10)).unwrap();
    let mut bad = points("acc", 0..5);
    bad.extend(points("loss", 5..12));
    let err = store.ingest_points(&ada, "0000000000aa", "b2", &bad).unwrap_err();
    assert!(matches!(err, TrackError::StepNotIncreasing { step: 5, last: 9, .. }), "{err}");
    assert!(
        store.history("0000000000aa", "acc", ..).is_err()
            || store.history("0000000000aa", "acc", ..).unwrap().is_empty()
    );
    // The refused batch's id was not kept: sending it corrected stores it.
    store.ingest_points(&ada, "0000000000aa", "b2", &points("loss", 10..12)).unwrap();
    assert_eq!(store.history("0000000000aa", "loss", ..).unwrap().len(), 12);
    let unordered = [points("x", 3..4), points("x", 1..2)].concat();
    assert!(matches!(
        store.ingest_points(&ada, "0000000000aa", "b3", &unordered),
        Err(TrackError::StepNotIncreasing { .. })
    ));
}

#[test]
fn only_the_owner_writes_a_run_and_only_permitted_users_read_it() {
    let (_tmp, mut store, ada, grace) = setup();
    store.create_run_for(&ada, &init("0000000000aa", "mlp")).unwrap();
    let err = store.ingest_points(&grace, "0000000000aa", "b1", &points("loss", 0..3)).unwrap_err();
    assert!(matches!(err, TrackError::Forbidden(_)), "{err}");
    let err = store.create_run_for(&grace, &init("0000000000bb", "mlp")).unwrap_err();
    assert!(matches!(err, TrackError::Forbidden(_)), "{err}");
    let err = store.create_run_for(&grace, &init("0000000000aa", "other")).unwrap_err();
    assert!(matches!(err, TrackError::RunExists(_)), "{err}");
    assert!(store.can_read_run(&ada, "0000000000aa").unwrap());
    assert!(!store.can_read_run(&grace, "0000000000aa").unwrap());
    store.share_project(&ada, "mlp", "grace", Access::Read).unwrap();
    assert!(store.can_read_run(&grace, "0000000000aa").unwrap());
    assert!(store.create_run_for(&grace, &init("0000000000bb", "mlp")).is_err(), "read access does not write");
    store.share_project(&ada, "mlp", "grace", Access::Write).unwrap();
    store.create_run_for(&grace, &init("0000000000bb", "mlp")).unwrap();
    // Grace's run in ada's project is still grace's.
    assert!(store.ingest_points(&ada, "0000000000bb", "b1", &points("loss", 0..3)).is_err());
    assert!(matches!(store.can_read_run(&ada, "zzzzzzzzzzzz"), Err(TrackError::UnknownRun(_))));
    // The runs list agrees with `can_read_run`.
    let listed = |store: &Store, who: &Principal| -> Vec<String> {
        let query = crate::RunQuery { visible_to: Some(who.clone()), ..Default::default() };
        let mut ids: Vec<String> = store.runs(&query).unwrap().into_iter().map(|r| r.id).collect();
        ids.sort();
        ids
    };
    assert_eq!(listed(&store, &grace), ["0000000000aa", "0000000000bb"]);
    store.unshare_project(&ada, "mlp", "grace").unwrap();
    assert_eq!(listed(&store, &grace), ["0000000000bb"], "her own run stays visible to her");
    assert!(!store.can_read_run(&grace, "0000000000aa").unwrap());
    assert_eq!(listed(&store, &ada), ["0000000000aa", "0000000000bb"], "the owner of the project sees both");
}

#[test]
fn updates_set_config_merge_summary_and_end_the_run() {
    let (_tmp, mut store, ada, grace) = setup();
    store.create_run_for(&ada, &init("0000000000aa", "mlp")).unwrap();
    let update: RunUpdate = serde_json::from_value(serde_json::json!({"summary": {"acc": 0.9}})).unwrap();
    store.update_run_for(&ada, "0000000000aa", &update).unwrap();
    let update: RunUpdate = serde_json::from_value(
        serde_json::json!({"summary": {"loss": 0.1}, "config": {"lr": 0.2}, "status": "finished"}),
    )
    .unwrap();
    store.update_run_for(&ada, "0000000000aa", &update).unwrap();
    let run = store.run("0000000000aa").unwrap();
    assert_eq!(run.summary, serde_json::json!({"acc": 0.9, "loss": 0.1}));
    assert_eq!(run.config, serde_json::json!({"lr": 0.2}));
    assert_eq!(run.status.as_str(), "finished");
    assert!(store.update_run_for(&grace, "0000000000aa", &RunUpdate::default()).is_err());
    let bad: RunUpdate = serde_json::from_value(serde_json::json!({"status": "running"})).unwrap();
    assert!(matches!(store.update_run_for(&ada, "0000000000aa", &bad), Err(TrackError::InvalidRequest(_))));
}

#[test]
fn renumbering_keeps_every_point_in_the_order_it_came() {
    let (_tmp, mut store, ada, _) = setup();
    store.create_run_for(&ada, &init("0000000000aa", "mlp")).unwrap();
    store.ingest_points(&ada, "0000000000aa", "b1", &points("loss", 0..3)).unwrap();
    // A repeated step, one from the past and a step 0 twice in one batch.
    let batch: Vec<IngestPoint> = [(2, 10.0), (1, 11.0), (0, 12.0), (0, 13.0), (9, 14.0)]
        .iter()
        .map(|&(step, value)| IngestPoint { metric: "loss".into(), step, value: Some(value), wall_time: 5.0 })
        .collect();
    let refused = store.ingest_points(&ada, "0000000000aa", "b2", &batch).unwrap_err();
    assert!(matches!(refused, TrackError::StepNotIncreasing { .. }), "{refused}");
    let (outcome, renumbered) =
        store.ingest_points_with(&ada, "0000000000aa", "b2", &batch, OldSteps::Renumber).unwrap();
    assert_eq!((outcome, renumbered), (Ingested::Stored, 4));
    let history = store.history("0000000000aa", "loss", ..).unwrap();
    let pairs: Vec<(u64, f64)> = history.iter().map(|p| (p.step, p.value)).collect();
    assert_eq!(pairs, [(0, 0.0), (1, 1.0), (2, 2.0), (3, 10.0), (4, 11.0), (5, 12.0), (6, 13.0), (9, 14.0)]);
    // The block summaries agree with the points.
    let summary = store.metrics("0000000000aa").unwrap();
    assert_eq!((summary[0].points, summary[0].last_step, summary[0].last_value), (8, Some(9), Some(14.0)));
    // Retried, the batch stores nothing again.
    let again = store.ingest_points_with(&ada, "0000000000aa", "b2", &batch, OldSteps::Renumber).unwrap();
    assert_eq!(again, (Ingested::AlreadyStored, 0));
}

#[test]
fn an_update_renames_and_retags_a_run() {
    let (_tmp, mut store, ada, _) = setup();
    store.create_run_for(&ada, &init("0000000000aa", "mlp")).unwrap();
    let update: RunUpdate = serde_json::from_value(serde_json::json!({"name": "wide", "tags": ["a", "b=c"]})).unwrap();
    store.update_run_for(&ada, "0000000000aa", &update).unwrap();
    let run = store.run("0000000000aa").unwrap();
    assert_eq!((run.name.as_deref(), run.tags), (Some("wide"), vec!["a".to_string(), "b=c".to_string()]));
    let bad: RunUpdate = serde_json::from_value(serde_json::json!({"name": "x\ny"})).unwrap();
    assert!(matches!(store.update_run_for(&ada, "0000000000aa", &bad), Err(TrackError::InvalidRequest(_))));
}

#[test]
fn malformed_requests_are_named() {
    let (_tmp, mut store, ada, _) = setup();
    assert!(matches!(store.create_run_for(&ada, &init("BAD", "mlp")), Err(TrackError::InvalidRequest(_))));
    store.create_run_for(&ada, &init("0000000000aa", "mlp")).unwrap();
    for (batch, pts) in [
        ("", points("loss", 0..1)),
        ("b", points("", 0..1)),
        ("b", vec![IngestPoint { metric: "x".into(), step: u64::MAX, value: None, wall_time: 0.0 }]),
        ("b", vec![IngestPoint { metric: "x".into(), step: 0, value: None, wall_time: f64::INFINITY }]),
    ] {
        assert!(store.ingest_points(&ada, "0000000000aa", batch, &pts).is_err(), "{batch} {pts:?}");
    }
    assert!(matches!(store.ingest_points(&ada, "zzzzzzzzzzzz", "b", &[]), Err(TrackError::UnknownRun(_))));
}

#[test]
fn a_clients_machine_and_end_time_are_kept_and_checked() {
    let (_tmp, mut store, ada, _) = setup();
    let mut run = init("0000000000aa", "mlp");
    run.pid = Some(4242);
    run.system = Some(serde_json::json!({"cpu": "AMD EPYC", "logical_cpus": 2}));
    run.data_checksum = Some("sha256:00ff".into());
    store.create_run_for(&ada, &run).unwrap();
    let mut bad = init("0000000000ab", "mlp");
    bad.system = Some(serde_json::json!([1, 2]));
    assert!(matches!(store.create_run_for(&ada, &bad), Err(TrackError::InvalidRequest(m)) if m.contains("system")));
    let refused = [
        RunUpdate { ended: Some(5.0), ..RunUpdate::default() },
        RunUpdate { ended: Some(f64::NAN), status: Some("finished".into()), ..RunUpdate::default() },
    ];
    for update in &refused {
        assert!(matches!(store.update_run_for(&ada, "0000000000aa", update), Err(TrackError::InvalidRequest(_))));
    }
    let end = RunUpdate { ended: Some(1234.5), status: Some("finished".into()), ..RunUpdate::default() };
    store.update_run_for(&ada, "0000000000aa", &end).unwrap();
    let stored = store.run("0000000000aa").unwrap();
    assert_eq!(stored.ended, Some(1234.5));
    assert_eq!(stored.pid, Some(4242));
    assert_eq!(stored.system["cpu"], "AMD EPYC");
    assert_eq!(stored.meta.data_checksum.as_deref(), Some("sha256:00ff"));
}
