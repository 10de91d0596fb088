"""The run's config and summary, and the JSON they are stored as."""

from __future__ import annotations

import json
import math
import operator
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Iterator, Optional

if TYPE_CHECKING:
    from ._run import Run


def _jsonable(value: Any) -> Any:
    """A JSON-ready copy of a config or summary value (numpy and torch scalars by duck typing).

    Non-finite floats become the strings "NaN", "Infinity" and "-Infinity" (JSON has no such
    numbers); objects that are neither numbers nor containers are stored as their ``str``.
    """
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    kind = type(value)
    if hasattr(kind, "__index__"):
        try:
            return operator.index(value)
        except TypeError:
            pass
    if hasattr(value, "tolist") and callable(value.tolist):  # numpy arrays and tensors
        try:
            return _jsonable(value.tolist())
        except Exception:  # noqa: BLE001 - fall through to float() and str()
            pass
    if hasattr(kind, "__float__"):
        try:
            return _jsonable(float(value))
        except (TypeError, ValueError):
            pass
    return str(value)


def _json_text(value: Any) -> str:
    return json.dumps(_jsonable(value), allow_nan=False)


def _config_dict(config: Any, call: str) -> dict:
    if config is None:
        return {}
    if isinstance(config, Mapping):
        return dict(config)
    if hasattr(config, "__dict__") and type(config).__name__ == "Namespace":  # argparse
        return dict(vars(config))
    raise TypeError(f"{call}: config must be a dict (or argparse.Namespace), got {type(config).__name__}")


class _Keyed:
    """What reads a config or a summary like a dict: membership, iteration, `keys`, `items`,
    `values` and `get` over `self._data`."""

    _data: dict

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def keys(self):
        return self._data.keys()

    def items(self):
        return self._data.items()

    def values(self):
        return self._data.values()

    def get(self, key: str, default: Any = None) -> Any:
        return self._data.get(key, default)


class Config(_Keyed):
    """``run.config``: the run's settings, by attribute (``config.lr``) or item (``config["lr"]``).

    Every change is saved to the store at once.
    """

    def __init__(self, run: "Run", data: dict):
        object.__setattr__(self, "_run", run)
        object.__setattr__(self, "_data", data)

    def _save(self) -> None:
        self._run._core.set_config(_json_text(self._data))

    def __getattr__(self, key: str) -> Any:
        if key.startswith("__"):
            raise AttributeError(key)
        try:
            return self._data[key]
        except KeyError:
            raise AttributeError(f"run.config has no key {key!r}") from None

    def __setattr__(self, key: str, value: Any) -> None:
        self[key] = value

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._data[str(key)] = value
        self._save()

    def __delitem__(self, key: str) -> None:
        del self._data[key]
        self._save()


    def __repr__(self) -> str:
        return f"Config({self._data!r})"

    def as_dict(self) -> dict:
        """A copy of the config as a plain dict."""
        return dict(self._data)

    def update(self, data: Any = None, allow_val_change: Optional[bool] = None, **more: Any) -> None:
        """Adds or replaces keys (``allow_val_change`` is accepted for wandb; changes are always allowed)."""
        self._data.update(_config_dict(data, "run.config.update"))
        self._data.update(more)
        self._save()

    def setdefaults(self, data: Mapping) -> None:
        """Adds the keys of ``data`` that the config does not have yet."""
        for key, value in data.items():
            self._data.setdefault(str(key), value)
        self._save()


class Summary(_Keyed):
    """``run.summary``: the run's headline values (``summary["test/acc"] = 0.98``).

    What is not set here is filled in when the run finishes: each metric's last value (or its
    min/max, as ``define_metric(name, summary=...)`` asks).
    """

    def __init__(self, run: "Run"):
        object.__setattr__(self, "_run", run)
        object.__setattr__(self, "_data", {})

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        key = str(key)
        self._run._core.summary(key, _json_text(value))
        self._data[key] = value

    def __getattr__(self, key: str) -> Any:
        if key.startswith("__"):
            raise AttributeError(key)
        try:
            return self._data[key]
        except KeyError:
            raise AttributeError(f"run.summary has no key {key!r}") from None

    def __setattr__(self, key: str, value: Any) -> None:
        self[key] = value


    def __repr__(self) -> str:
        return f"Summary({self._data!r})"

    def update(self, data: Mapping) -> None:
        """Sets several keys."""
        for key, value in data.items():
            self[key] = value
