"""`track=True`: every fit and partial_fit of an estimator is a run in the local store, read back
here as a user would (`nabla runs show --json`, `nabla runs metrics`)."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import field, run_python
from nabla import MLPClassifier, MLPRegressor


def blobs(n=300, classes=3, features=4, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(classes, features))
    y = np.arange(n) % classes
    return centres[y] + rng.normal(size=(n, features)), y


def test_a_tracked_fit_is_a_finished_run_with_its_config_and_one_point_per_epoch(cli):
    X, y = blobs()
    clf = MLPClassifier(hidden=(16,), epochs=40, batch_size=32, early_stopping=True, patience=3, seed=0, track=True)
    clf.fit(X, y)
    shown = cli.show(clf.run_id_)
    run = shown["run"]
    assert run["status"] == "finished"
    assert run["project"] == "MLPClassifier"
    config = run["config"]
    assert config["estimator"] == "MLPClassifier" and config["call"] == "fit"
    assert config["hidden"] == [16] and config["epochs"] == 40 and config["patience"] == 3
    assert config["lr"] is None, "the keywords are stored as given"
    assert config["settings"]["lr"] > 0, "the resolved settings are stored beside them"
    assert (config["rows"], config["n_features"], config["n_classes"], config["task"]) == (300, 4, 3, "classify")
    assert "track" not in config and "project" not in config
    points = cli.points(clf.run_id_)
    for metric in ("train/loss", "train/acc", "val/loss", "val/acc"):
        assert len(points[metric]) == clf.n_iter_, metric
    assert [v for _, v in points["train/loss"]] == pytest.approx(clf.loss_curve_)
    assert [v for _, v in points["val/loss"]] == pytest.approx(clf.validation_loss_curve_)
    summary = run["summary"]
    assert summary["epochs"] == clf.n_iter_ and summary["best_epoch"] == clf.best_epoch_
    assert summary["best_val_loss"] == pytest.approx(min(clf.validation_loss_curve_))
    assert 0.0 <= summary["best_val_acc"] <= 1.0 and summary["train_loss"] == pytest.approx(clf.loss_curve_[-1])


def test_without_held_out_rows_no_validation_metric_is_logged(cli):
    X, y = blobs()
    clf = MLPClassifier(hidden=(8,), epochs=5, early_stopping=False, seed=0, track=True).fit(X, y)
    points = cli.points(clf.run_id_)
    assert len(points["train/loss"]) == 5
    assert not [name for name in points if name.startswith("val/")]


def test_an_untracked_fit_records_nothing(cli):
    X, y = blobs()
    clf = MLPClassifier(hidden=(8,), epochs=3, early_stopping=False, seed=0).fit(X, y)
    assert clf.run_id_ is None
    assert cli.runs() == []


def test_the_project_keyword_then_nabla_project_then_the_class_name(cli, monkeypatch):
    X, y = blobs()
    fast = dict(hidden=(8,), epochs=2, early_stopping=False, track=True)
    a = MLPClassifier(**fast, project="mine").fit(X, y)
    monkeypatch.setenv("NABLA_PROJECT", "from-env")
    b = MLPRegressor(**fast).fit(X, y.astype(float))
    monkeypatch.delenv("NABLA_PROJECT")
    c = MLPRegressor(**fast).fit(X, y.astype(float))
    assert [cli.show(m.run_id_)["run"]["project"] for m in (a, b, c)] == ["mine", "from-env", "MLPRegressor"]
    assert cli.show(c.run_id_)["run"]["config"]["task"] == "regress"


def test_every_partial_fit_is_a_run_of_one_epoch(cli):
    X, y = blobs()
    reg = MLPRegressor(hidden=(8,), seed=0, track=True)
    ids = []
    for _ in range(3):
        reg.partial_fit(X, y.astype(float))
        ids.append(reg.run_id_)
    assert len(set(ids)) == 3
    for run_id in ids:
        shown = cli.show(run_id)
        assert shown["run"]["status"] == "finished" and shown["run"]["config"]["call"] == "partial_fit"
        assert len(cli.points(run_id)["train/loss"]) == 1
    assert cli.show(ids[-1])["run"]["summary"]["epochs"] == 3


def test_a_diverging_fit_is_a_failed_run_with_the_error(cli):
    X, y = blobs()
    clf = MLPRegressor(hidden=(64,), optimizer="sgd", lr=1e30, epochs=5, early_stopping=False, seed=0, track=True)
    with pytest.raises(RuntimeError, match="loss"):
        clf.fit(X, y.astype(float))
    (run,) = cli.runs()
    shown = cli.show(run["id"])["run"]
    assert shown["status"] == "failed"
    assert "loss" in shown["summary"]["error"]


def test_bad_tracking_keywords_are_clear_errors(home):
    X, y = blobs()
    with pytest.raises(ValueError, match="track must be True or False"):
        MLPClassifier(epochs=1, track="yes").fit(X, y)
    with pytest.raises(ValueError, match="project must be a non-empty str"):
        MLPClassifier(epochs=1, track=True, project="").fit(X, y)


def test_a_store_that_cannot_be_written_is_a_warning_not_an_error(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the store's directory would be")
    monkeypatch.setenv("NABLA_HOME", str(blocker))
    X, y = blobs()
    with pytest.warns(RuntimeWarning, match="not tracked"):
        clf = MLPClassifier(hidden=(8,), epochs=2, early_stopping=False, track=True).fit(X, y)
    assert clf.run_id_ is None and clf.n_iter_ == 2


def test_ctrl_c_ends_a_tracked_fit_as_interrupted(tmp_path, cli):
    # In a fresh interpreter (see test_estimators' Ctrl-C test for why the handler is installed).
    out = run_python(
        """
        import os, signal, threading
        import numpy as np
        from nabla import MLPClassifier

        rng = np.random.default_rng(0)
        X = rng.normal(size=(300, 4)).astype(np.float32)
        y = np.arange(300) % 3
        clf = MLPClassifier(hidden=(16,), epochs=1_000_000, early_stopping=False, seed=0, track=True)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
        try:
            clf.fit(X, y)
            print("raised=no")
        except KeyboardInterrupt:
            print("raised=yes")
        """,
        tmp_path,
        timeout=60,
    )
    assert field(out.stdout, "raised") == "yes", out.stdout
    (run,) = cli.runs()
    shown = cli.show(run["id"])["run"]
    assert shown["status"] == "interrupted"
    epochs = shown["summary"]["epochs"]
    assert 0 < epochs < 1_000_000
    assert len(cli.points(run["id"])["train/loss"]) == epochs
