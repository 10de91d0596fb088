"""The base classes of nabla's estimators: scikit-learn's own when it is installed, else small
stand-ins with the same behaviour.

With scikit-learn installed the estimators *are* scikit-learn estimators (``BaseEstimator`` and
its mixins): ``clone``, ``Pipeline``, ``GridSearchCV``, ``is_classifier`` and the estimator
tags then work through scikit-learn's own code rather than through an imitation of it.
Without it, nabla does not need it: ``get_params``/``set_params``, ``score`` (accuracy, R²)
and the repr behave alike, so a script that only fits and predicts runs either way.
"""

from __future__ import annotations

import inspect
from typing import Any, Dict

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

    HAVE_SKLEARN = True
except ImportError:  # pragma: no cover - exercised without scikit-learn
    HAVE_SKLEARN = False

    class BaseEstimator:  # type: ignore[no-redef]
        """``get_params``/``set_params`` over the keywords of ``__init__``, as scikit-learn's."""

        @classmethod
        def _get_param_names(cls) -> list:
            signature = inspect.signature(cls.__init__)
            return sorted(p.name for p in signature.parameters.values() if p.name != "self" and p.kind != p.VAR_KEYWORD)

        def get_params(self, deep: bool = True) -> Dict[str, Any]:
            out = {}
            for name in self._get_param_names():
                value = getattr(self, name)
                if deep and hasattr(value, "get_params") and not isinstance(value, type):
                    out.update((f"{name}__{k}", v) for k, v in value.get_params().items())
                out[name] = value
            return out

        def set_params(self, **params: Any) -> "BaseEstimator":
            valid = self._get_param_names()
            for key, value in params.items():
                if key not in valid:
                    raise ValueError(
                        f"Invalid parameter {key!r} for estimator {type(self).__name__}. "
                        f"Valid parameters are: {valid!r}."
                    )
                setattr(self, key, value)
            return self

        def __repr__(self) -> str:
            init = inspect.signature(type(self).__init__).parameters
            changed = [
                f"{name}={value!r}"
                for name, value in self.get_params(deep=False).items()
                if name in init and init[name].default is not value and init[name].default != value
            ]
            return f"{type(self).__name__}({', '.join(changed)})"

    class ClassifierMixin:  # type: ignore[no-redef]
        """``score`` as the accuracy of ``predict``."""

        _estimator_type = "classifier"

        def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
            predicted = self.predict(X)
            right = np.asarray(predicted) == np.asarray(y).ravel()
            return float(np.average(right, weights=sample_weight))

    class RegressorMixin:  # type: ignore[no-redef]
        """``score`` as R² (1 − SS_res / SS_tot) of ``predict``."""

        _estimator_type = "regressor"

        def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
            y = np.asarray(y, dtype=np.float64).ravel()
            predicted = np.asarray(self.predict(X), dtype=np.float64)
            w = np.ones_like(y) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
            ss_res = float(np.sum(w * (y - predicted) ** 2))
            ss_tot = float(np.sum(w * (y - np.average(y, weights=w)) ** 2))
            if ss_tot == 0.0:
                return 1.0 if ss_res == 0.0 else 0.0
            return 1.0 - ss_res / ss_tot


__all__ = ["BaseEstimator", "ClassifierMixin", "RegressorMixin", "HAVE_SKLEARN"]
