"""nabla's engine as scikit-learn estimators: :class:`MLPClassifier` and :class:`MLPRegressor`.

    from nabla import MLPClassifier

    clf = MLPClassifier(hidden=(64,), epochs=50, seed=0).fit(X_train, y_train)
    clf.predict(X_test), clf.predict_proba(X_test), clf.score(X_test, y_test)

They follow scikit-learn's estimator contract (``__init__`` stores its keywords and nothing
else; what is learnt ends in ``_``; ``fit`` returns ``self``) and train in Rust end to end,
with the GIL released: the same trainer and table preprocessing as ``nabla train TABLE``
(each column standardised on the training rows unless ``scale`` says otherwise, a constant
column left out, a regression target standardised and predicted back in its own units). A keyword left at ``None`` takes
``nabla train``'s default for a table of that many rows (docs/RECIPES.md). A fitted estimator
is a nabla checkpoint: it pickles as one, and :meth:`save` writes one that ``nabla predict``
and ``nabla eval`` read.
"""

from __future__ import annotations

import json
import os
import warnings
from typing import Any, List, Optional, Sequence

import numpy as np

from . import _nabla, _run
from ._estimator_base import BaseEstimator, ClassifierMixin, RegressorMixin
from ._validation import (
    NotFittedError,
    check_names,
    class_labels,
    feature_names,
    features,
    regression_values,
    target_vector,
)

__all__ = ["MLPClassifier", "MLPRegressor", "load"]

_KEYWORDS_DOC = """
    hidden : tuple of int, optional
        Widths of the hidden layers (an int for one layer).
    activation : str, optional
        Hidden activation: ``"relu"``, ``"tanh"``, ``"sigmoid"``, ``"leaky_relu"``, ``"gelu"``, ...
    init : str, optional
        Initial weights: ``"he"`` (normal, std ``sqrt(2 / fan_in)``; the default), ``"he-uniform"``,
        ``"xavier"`` (Glorot-uniform, ``±sqrt(6 / (fan_in + fan_out))``, what scikit-learn's
        ``MLPClassifier`` draws for ReLU) or ``"uniform:LIMIT"``. Biases start at 0.
    optimizer : str, optional
        ``"adam"``, ``"adamw"``, ``"sgd"``, ``"momentum"`` or ``"nesterov"``.
    lr : float, optional
        Peak learning rate.
    schedule : str, optional
        ``"cosine"``, ``"step"`` or ``"constant"`` (``partial_fit`` always trains at a constant rate).
    batch_size : int, optional
        Examples per step.
    epochs : int, optional
        Passes over the training rows (at most, with early stopping).
    dropout : float, optional
        Dropout probability of the hidden units, in [0, 1).
    l2 : float, optional
        L2 penalty on the weights (scikit-learn's ``alpha``).
    weight_decay : float, optional
        Weight decay (decoupled for AdamW).
    scale : str, optional
        How each column of ``X`` is scaled, fitted on the training rows and kept with the model
        (so ``predict``, ``save``/``nabla predict`` and pickling scale new rows the same way):
        ``"standard"`` (mean 0 and deviation 1, clipped at ±5 deviations; ``None`` means this),
        ``"minmax"`` (the training minimum to 0 and maximum to 1, not clipped) or ``"none"``
        (the values as given: for features already on a common scale, such as pixels divided
        by 255). A column constant on the training rows is left out in every case.
        ``partial_fit`` after ``fit`` keeps the fitted scaling.
    early_stopping : bool, optional
        Hold out ``validation_fraction`` of the rows and stop after ``patience`` epochs without a
        lower validation loss, keeping the best epoch's weights. ``None``: on for tables under
        10,000 rows, as ``nabla train``.
    patience : int, optional
        Epochs without improvement before stopping (with early stopping).
    validation_fraction : float, optional
        Share of the rows held out for early stopping (stratified by class for a classifier).
    seed : int, optional
        Seed of every random draw (initial weights, validation split, shuffles, dropout): the
        same seed and data give the same model, bit for bit. ``None``: 0.
    threads : int, optional
        Threads for the engine's matrix kernels (results do not depend on it). It is the
        process's setting: the last fit's value stays in force.
    track : bool, default False
        Record every ``fit`` and ``partial_fit`` as a run in nabla's local store (where
        ``nabla runs list`` and ``nabla ui`` look: ``$NABLA_HOME/tracking``, else the user data
        directory): the keywords and the data's shape as its config, each epoch's training
        loss and score (and validation loss and score when early stopping holds rows out) as
        metrics, the final and best numbers as its summary; it ends ``finished``, ``failed`` or
        ``interrupted`` (Ctrl-C). The run's id is ``run_id_``. A store that cannot be written
        gives a warning, not an error. ``$NABLA_SYSTEM_SECS`` and ``$NABLA_HEARTBEAT_SECS``
        apply as for :func:`nabla.init`.
    project : str, optional
        The tracked runs' project. ``None``: ``$NABLA_PROJECT``, else the estimator's class
        name (``"MLPClassifier"``, ``"MLPRegressor"``).
"""

#: The keywords that say how a fit is recorded, not how it trains.
_TRACKING_KEYWORDS = ("track", "project")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{value!r} is not a number, a string, a bool or a list of them")


class _MLP(BaseEstimator):
    """What both estimators share: keywords, validation, the fitted network."""

    def _owner(self) -> str:
        return type(self).__name__

    def _params_json(self, **overrides: Any) -> str:
        params = self.get_params(deep=False)
        for key in _TRACKING_KEYWORDS:
            params.pop(key, None)
        if isinstance(params.get("hidden"), (int, np.integer)):
            params["hidden"] = [int(params["hidden"])]
        params.update(overrides)
        try:
            return json.dumps(params, default=_json_default)
        except TypeError as e:
            raise ValueError(f"{self._owner()}: a keyword's value cannot be used: {e}") from e

    def _track(self, X32: np.ndarray, call: str, **shape: Any) -> Optional[tuple]:
        """The engine's ``track`` argument for this fit (None when ``track`` is off): the
        project, the run's config (the keywords, the estimator and the data's shape) and the
        tracker's intervals."""
        if not isinstance(self.track, (bool, np.bool_)):
            raise ValueError(f"{self._owner()}: track must be True or False, got {self.track!r}")
        if not self.track:
            return None
        project = self.project
        if project is None:
            project = os.environ.get("NABLA_PROJECT") or self._owner()
        if not isinstance(project, str) or not project:
            raise ValueError(f"{self._owner()}: project must be a non-empty str or None, got {project!r}")
        config = {k: v for k, v in self.get_params(deep=False).items() if k not in _TRACKING_KEYWORDS}
        config.update(estimator=self._owner(), call=call, rows=int(X32.shape[0]), n_features=int(X32.shape[1]), **shape)
        heartbeat = _run._env_seconds("NABLA_HEARTBEAT_SECS", 5.0) or 5.0
        system = _run._env_seconds("NABLA_SYSTEM_SECS", 5.0)
        return (project, _run._json_text(config), heartbeat, system)

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "_network")

    def _fitted_network(self) -> Any:
        network = getattr(self, "_network", None)
        if network is None:
            raise NotFittedError(
                f"This {self._owner()} instance is not fitted yet. Call 'fit' with appropriate "
                "arguments before using this estimator."
            )
        return network

    def _columns(self) -> List[str]:
        names = getattr(self, "feature_names_in_", None)
        if names is not None:
            return [str(n) for n in names]
        return [f"x{i}" for i in range(self.n_features_in_)]

    def _new_features(self, X: Any) -> np.ndarray:
        """`X` for a fresh fit: converted, and its column names remembered."""
        X32 = features(X, self._owner())
        self.n_features_in_ = X32.shape[1]
        names = feature_names(X)
        if names is not None:
            self.feature_names_in_ = names
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        return X32

    def _known_features(self, X: Any) -> np.ndarray:
        """`X` for a fitted model: converted and checked against the fit's columns."""
        self._fitted_network()
        check_names(getattr(self, "feature_names_in_", None), X, self._owner())
        X32 = features(X, self._owner())
        if X32.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X32.shape[1]} features, but {self._owner()} is expecting "
                f"{self.n_features_in_} features as input."
            )
        return X32

    def _fitted(self, network: Any, report: Any, fresh: bool) -> None:
        losses, val_losses, best_epoch, run_id, note = report
        if note is not None:
            warnings.warn(f"{self._owner()}: {note}", RuntimeWarning, stacklevel=3)
        self.run_id_ = run_id
        self._network = network
        self.n_iter_ = network.epochs
        if fresh:
            self.loss_curve_ = list(losses)
            self.validation_loss_curve_ = list(val_losses) if val_losses else None
            self.best_epoch_ = best_epoch
        else:
            self.loss_curve_ = list(getattr(self, "loss_curve_", [])) + list(losses)

    def _layers(self, name: str) -> List[Any]:
        network = getattr(self, "_network", None)
        if network is None:
            raise AttributeError(f"{name}: the estimator is not fitted")
        try:
            return network.layers()
        except ValueError as e:  # a residual network has no such layers
            raise AttributeError(f"{name}: {e}") from None

    @property
    def coefs_(self) -> List[np.ndarray]:
        """Each layer's weights, ``[inputs, outputs]`` (scikit-learn's layout). The first
        layer's inputs are the standardised columns kept in training (a constant one is left
        out). A plain MLP's only: a residual model (from ``nabla train TABLE --residual``) has
        none (``AttributeError`` saying why)."""
        return [w for w, _ in self._layers("coefs_")]

    @property
    def intercepts_(self) -> List[np.ndarray]:
        """Each layer's bias, ``[outputs]`` (a plain MLP's only, as ``coefs_``)."""
        return [b for _, b in self._layers("intercepts_")]

    def save(self, path: Any) -> None:
        """Writes the fitted model as a nabla checkpoint (safetensors) that ``nabla predict
        CKPT rows.csv`` and ``nabla eval CKPT test.csv`` read: the CSV's columns are the
        fit's feature names (``x0``, ``x1``, ... for an array) and, for ``eval``, the target."""
        self._fitted_network().save(str(path))

    def __getstate__(self) -> dict:
        state = super().__getstate__() if hasattr(super(), "__getstate__") else self.__dict__.copy()
        state = dict(state)
        if state.get("_network") is not None:
            # The network travels as the bytes of its checkpoint file.
            state["_network"] = state["_network"].to_bytes()
        return state

    def __setstate__(self, state: dict) -> None:
        state = dict(state)
        if isinstance(state.get("_network"), bytes):
            state["_network"] = _nabla.Network.from_bytes(state["_network"])
        if hasattr(super(), "__setstate__"):
            super().__setstate__(state)
        else:
            self.__dict__.update(state)


class MLPClassifier(ClassifierMixin, _MLP):
    __doc__ = (
        """A multi-layer perceptron classifier trained by nabla's engine (softmax cross-entropy).

    Labels may be of any type (strings too); ``classes_`` holds them sorted.

    Parameters
    ----------"""
        + _KEYWORDS_DOC
        + """
    Attributes
    ----------
    classes_ : ndarray of the labels, sorted.
    n_features_in_ : int
    feature_names_in_ : ndarray of str (when fitted on a DataFrame with string column names)
    loss_curve_ : list of float, the training loss of each epoch.
    validation_loss_curve_ : list of float or None, the validation loss of each epoch (early stopping).
    best_epoch_ : int, the epoch whose weights the model has.
    n_iter_ : int, epochs trained.
    run_id_ : str or None, the tracked run of the last ``fit``/``partial_fit`` (``track=True``).
    coefs_, intercepts_ : lists of ndarray, each layer's weights ``[in, out]`` and bias.
    """
    )

    def __init__(
        self,
        *,
        hidden: Optional[Sequence[int]] = None,
        activation: Optional[str] = None,
        init: Optional[str] = None,
        optimizer: Optional[str] = None,
        lr: Optional[float] = None,
        schedule: Optional[str] = None,
        batch_size: Optional[int] = None,
        epochs: Optional[int] = None,
        dropout: Optional[float] = None,
        l2: Optional[float] = None,
        weight_decay: Optional[float] = None,
        scale: Optional[str] = None,
        early_stopping: Optional[bool] = None,
        patience: Optional[int] = None,
        validation_fraction: Optional[float] = None,
        seed: Optional[int] = None,
        threads: Optional[int] = None,
        track: bool = False,
        project: Optional[str] = None,
    ):
        self.hidden = hidden
        self.activation = activation
        self.init = init
        self.optimizer = optimizer
        self.lr = lr
        self.schedule = schedule
        self.batch_size = batch_size
        self.epochs = epochs
        self.dropout = dropout
        self.l2 = l2
        self.weight_decay = weight_decay
        self.scale = scale
        self.early_stopping = early_stopping
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.seed = seed
        self.threads = threads
        self.track = track
        self.project = project

    def fit(self, X: Any, y: Any) -> "MLPClassifier":
        """Trains a new network on ``X`` (``[n_samples, n_features]``) and labels ``y``."""
        X32 = self._new_features(X)
        y = target_vector(y, X32.shape[0], self._owner())
        classes, indices = class_labels(y)
        if len(classes) < 2:
            raise ValueError(f"{self._owner()} needs at least 2 classes to learn from; y has 1 class: {classes[0]!r}")
        track = self._track(X32, "fit", task="classify", n_classes=len(classes))
        network, report = _nabla.Network.fit(
            self._params_json(), X32, self._columns(), indices, classes=[str(c) for c in classes], track=track
        )
        self.classes_ = classes
        self._fitted(network, report, fresh=True)
        return self

    def partial_fit(self, X: Any, y: Any, classes: Any = None) -> "MLPClassifier":
        """One epoch more on ``X`` and ``y`` at a constant learning rate, without early
        stopping. The first call needs every label in ``classes``; later calls may give the
        same ``classes`` or none."""
        first = not hasattr(self, "_network")
        if first:
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
            all_classes, _ = class_labels(np.asarray(classes).ravel())
            X32 = self._new_features(X)
        else:
            all_classes = self.classes_
            if classes is not None and not np.array_equal(class_labels(np.asarray(classes).ravel())[0], all_classes):
                raise ValueError(
                    f"`classes={classes!r}` is not the same as on the first call to partial_fit ({all_classes!r})."
                )
            X32 = self._known_features(X)
        y = target_vector(y, X32.shape[0], self._owner())
        indices = np.searchsorted(all_classes, y)
        unknown = (indices >= len(all_classes)) | (all_classes[np.minimum(indices, len(all_classes) - 1)] != y)
        if unknown.any():
            raise ValueError(f"y holds labels that are not in classes: {np.unique(y[unknown])[:10]!r}")
        indices = indices.astype(np.int64)
        track = self._track(X32, "partial_fit", task="classify", n_classes=len(all_classes))
        if first:
            params = self._params_json(epochs=1, early_stopping=False, schedule="constant")
            network, report = _nabla.Network.fit(
                params, X32, self._columns(), indices, classes=[str(c) for c in all_classes], track=track
            )
            self.classes_ = all_classes
        else:
            network, report = self._network.partial_fit(self._params_json(), X32, self._columns(), indices, track=track)
        self._fitted(network, report, fresh=first)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, ``[n_samples, n_classes]``, columns in the order of ``classes_``;
        float32, the precision the engine computes in."""
        X32 = self._known_features(X)
        return self._network.predict_proba(X32, self._columns())

    def predict(self, X: Any) -> np.ndarray:
        """The most probable label of each row."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def decision_function(self, X: Any) -> np.ndarray:
        """The logits, ``[n_samples, n_classes]`` (float32); for two classes, ``[n_samples]``:
        the second class's logit minus the first's (positive means ``classes_[1]``)."""
        X32 = self._known_features(X)
        logits = self._network.outputs(X32, self._columns())
        if logits.shape[1] == 2:
            return logits[:, 1] - logits[:, 0]
        return logits


class MLPRegressor(RegressorMixin, _MLP):
    __doc__ = (
        """A multi-layer perceptron regressor trained by nabla's engine, on the standardised
    target, predicted back in the target's own units.

    Parameters
    ----------"""
        + _KEYWORDS_DOC
        + """    loss : str, optional
        ``"mse"`` (default), ``"mae"`` or ``"huber"``.

    Attributes
    ----------
    n_features_in_, feature_names_in_, loss_curve_, validation_loss_curve_, best_epoch_,
    n_iter_, run_id_, coefs_, intercepts_ : as :class:`MLPClassifier`'s.
    """
    )

    def __init__(
        self,
        *,
        hidden: Optional[Sequence[int]] = None,
        activation: Optional[str] = None,
        init: Optional[str] = None,
        optimizer: Optional[str] = None,
        lr: Optional[float] = None,
        schedule: Optional[str] = None,
        batch_size: Optional[int] = None,
        epochs: Optional[int] = None,
        dropout: Optional[float] = None,
        l2: Optional[float] = None,
        weight_decay: Optional[float] = None,
        scale: Optional[str] = None,
        early_stopping: Optional[bool] = None,
        patience: Optional[int] = None,
        validation_fraction: Optional[float] = None,
        seed: Optional[int] = None,
        threads: Optional[int] = None,
        track: bool = False,
        project: Optional[str] = None,
        loss: Optional[str] = None,
    ):
        self.hidden = hidden
        self.activation = activation
        self.init = init
        self.optimizer = optimizer
        self.lr = lr
        self.schedule = schedule
        self.batch_size = batch_size
        self.epochs = epochs
        self.dropout = dropout
        self.l2 = l2
        self.weight_decay = weight_decay
        self.scale = scale
        self.early_stopping = early_stopping
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.seed = seed
        self.threads = threads
        self.track = track
        self.project = project
        self.loss = loss

    @staticmethod
    def _target_name(y: Any) -> str:
        name = getattr(y, "name", None)
        return name if isinstance(name, str) and name else "y"

    def fit(self, X: Any, y: Any) -> "MLPRegressor":
        """Trains a new network on ``X`` (``[n_samples, n_features]``) and targets ``y``."""
        X32 = self._new_features(X)
        values = regression_values(target_vector(y, X32.shape[0], self._owner()))
        track = self._track(X32, "fit", task="regress")
        network, report = _nabla.Network.fit(
            self._params_json(), X32, self._columns(), values, target_name=self._target_name(y), track=track
        )
        self._fitted(network, report, fresh=True)
        return self

    def partial_fit(self, X: Any, y: Any) -> "MLPRegressor":
        """One epoch more on ``X`` and ``y`` at a constant learning rate, without early stopping."""
        first = not hasattr(self, "_network")
        X32 = self._new_features(X) if first else self._known_features(X)
        values = regression_values(target_vector(y, X32.shape[0], self._owner()))
        track = self._track(X32, "partial_fit", task="regress")
        if first:
            params = self._params_json(epochs=1, early_stopping=False, schedule="constant")
            network, report = _nabla.Network.fit(
                params, X32, self._columns(), values, target_name=self._target_name(y), track=track
            )
        else:
            network, report = self._network.partial_fit(self._params_json(), X32, self._columns(), values, track=track)
        self._fitted(network, report, fresh=first)
        return self

    def predict(self, X: Any) -> np.ndarray:
        """The predicted value of each row, in the target's units."""
        X32 = self._known_features(X)
        return self._network.predict_values(X32, self._columns())


def load(path: Any) -> _MLP:
    """An estimator from a table model's checkpoint (written by :meth:`save` or by ``nabla
    train TABLE``): an :class:`MLPClassifier` or :class:`MLPRegressor`, fitted, that takes the
    checkpoint's columns in the order of ``feature_names_in_``."""
    network = _nabla.Network.load(str(path))
    classes = network.classes
    est: _MLP = MLPClassifier() if classes is not None else MLPRegressor()
    columns = network.columns
    est.n_features_in_ = len(columns)
    # An array's columns were named x0, x1, ...: in that order they are positions again.
    if sorted(columns) != sorted(f"x{i}" for i in range(len(columns))):
        est.feature_names_in_ = np.asarray(columns, dtype=object)
    if classes is not None:
        est.classes_ = _class_array(classes)
    est._fitted(network, ([], [], network.epochs, None, None), fresh=True)
    return est


def _class_array(names: List[str]) -> np.ndarray:
    """Class names read from a file as labels: numbers when they all are."""
    for kind in (int, float):
        try:
            return np.asarray([kind(n) for n in names])
        except ValueError:
            continue
    return np.asarray(names, dtype=object)
