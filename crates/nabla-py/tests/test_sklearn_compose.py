"""The estimators inside scikit-learn: a Pipeline, a grid search and cross-validation in two
worker processes (joblib's loky backend: each worker unpickles the estimator and imports nabla)."""

from __future__ import annotations

import numpy as np

from conftest import require

require("sklearn")

from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import FunctionTransformer  # noqa: E402

from nabla import MLPClassifier, MLPRegressor  # noqa: E402

FAST = dict(hidden=(16,), epochs=20, batch_size=16, lr=0.01, early_stopping=False, seed=0)


def rings(n=240, seed=0):
    """Two concentric rings: not linearly separable, easy for an MLP."""
    rng = np.random.default_rng(seed)
    radius = np.where(np.arange(n) % 2 == 0, 1.0, 3.0)
    angle = rng.uniform(0, 2 * np.pi, n)
    X = np.c_[radius * np.cos(angle), radius * np.sin(angle)] + 0.2 * rng.normal(size=(n, 2))
    return X, np.where(radius > 2, "outer", "inner")


def test_a_pipeline_fits_and_scores():
    X, y = rings()
    # A step before the estimator: the features squared as well.
    pipe = make_pipeline(FunctionTransformer(lambda X: np.c_[X, X**2]), MLPClassifier(**FAST))
    pipe.fit(X, y)
    assert pipe.score(X, y) > 0.95
    assert pipe.named_steps["mlpclassifier"].n_features_in_ == 4


def test_a_grid_search_in_two_processes_picks_a_setting():
    X, y = rings()
    search = GridSearchCV(MLPClassifier(**FAST), {"lr": [1e-4, 1e-2], "hidden": [(4,), (16,)]}, cv=3, n_jobs=2)
    search.fit(X, y)
    assert search.best_params_["lr"] == 1e-2
    assert search.best_score_ > 0.9
    assert search.score(X, y) > 0.9


def test_cross_validation_in_two_processes():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 3))
    y = 3.0 * X[:, 0] - X[:, 1] ** 2 + 0.1 * rng.normal(size=300)
    scores = cross_val_score(MLPRegressor(**{**FAST, "epochs": 60, "l2": 0.0}), X, y, cv=3, n_jobs=2)
    assert scores.shape == (3,) and scores.min() > 0.8, scores
