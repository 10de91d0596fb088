//! [`Run`]'s own rules: it moves between threads, logging by handle and by name agree, and
//! `set_config` replaces the stored config.

use super::*;

#[test]
fn a_run_can_move_to_another_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<Run>();
}

#[test]
fn logging_by_handle_keeps_the_rules_of_logging_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let mut run = Run::start(dir.path(), RunOptions::new("handles").system_interval(None)).unwrap();
    let loss = run.metric("loss").unwrap();
    let acc = run.metric("acc").unwrap();
    let _unused = run.metric("never/logged").unwrap();
    assert_eq!(run.metric("loss").unwrap(), loss);
    assert!(matches!(run.metric("sys/cpu"), Err(TrackError::InvalidMetricName { .. })));
    run.log_handles(0, &[(loss, 1.0), (acc, 0.5)]).unwrap();
    run.log(1, &[("loss", 0.5)]).unwrap();
    // Named twice in one call, or a step not after the last: refused, nothing changed.
    let twice = run.log_handles(2, &[(acc, 0.7), (loss, 0.1), (acc, 0.8)]).unwrap_err();
    assert!(matches!(twice, TrackError::StepNotIncreasing { ref metric, step: 2, last: 2 } if metric == "acc"));
    let back = run.log_handles(1, &[(acc, 0.7), (loss, 0.1)]).unwrap_err();
    assert!(matches!(back, TrackError::StepNotIncreasing { ref metric, step: 1, last: 1 } if metric == "loss"));
    run.log_handles(2, &[(acc, 0.9), (loss, 0.25)]).unwrap();
    let mut other = Run::start(dir.path(), RunOptions::new("handles").system_interval(None)).unwrap();
    assert!(other.log_handles(0, &[(loss, 1.0)]).is_err());
    other.finish(EndStatus::Finished).unwrap();
    let id = run.id().to_string();
    run.finish(EndStatus::Finished).unwrap();
    let store = Store::open_read_only(dir.path()).unwrap();
    let names: Vec<String> = store.metrics(&id).unwrap().into_iter().map(|m| m.name).collect();
    assert_eq!(names, ["acc", "loss"]);
    let steps = |name| store.history(&id, name, ..).unwrap().iter().map(|p| (p.step, p.value)).collect::<Vec<_>>();
    assert_eq!(steps("loss"), [(0, 1.0), (1, 0.5), (2, 0.25)]);
    assert_eq!(steps("acc"), [(0, 0.5), (2, 0.9)]);
}

#[test]
fn a_metric_made_by_handle_is_registered_when_first_logged_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let mut run = Run::start(dir.path(), RunOptions::new("handles").system_interval(None)).unwrap();
    run.metric("loss").unwrap();
    run.log(0, &[("loss", 1.0)]).unwrap();
    let id = run.id().to_string();
    run.finish(EndStatus::Finished).unwrap();
    let store = Store::open_read_only(dir.path()).unwrap();
    assert_eq!(store.history(&id, "loss", ..).unwrap().len(), 1);
}

#[test]
fn set_config_replaces_the_stored_config() {
    let dir = tempfile::tempdir().unwrap();
    let options = RunOptions::new("cfg").config(serde_json::json!({"lr": 0.1})).system_interval(None);
    let mut run = Run::start(dir.path(), options).unwrap();
    run.set_config(&serde_json::json!({"lr": 0.2, "batch": 32})).unwrap();
    let id = run.id().to_string();
    run.finish(EndStatus::Finished).unwrap();
    let record = Store::open_read_only(dir.path()).unwrap().run(&id).unwrap();
    assert_eq!(record.config, serde_json::json!({"lr": 0.2, "batch": 32}));
}
