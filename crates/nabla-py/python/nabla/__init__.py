"""nabla's tracker for Python scripts: every run recorded in a local store, no account, no cloud.

    import nabla

    run = nabla.init(project="mnist", config={"lr": 0.01, "epochs": 10})
    for epoch in range(run.config.epochs):
        ...
        run.log({"train/loss": loss, "val/acc": acc})
    run.summary["test/acc"] = test_acc
    run.finish()

Runs appear in ``nabla runs list`` and live in ``nabla ui``. ``nabla.init(server="http://host:6006",
token=...)`` (or ``$NABLA_TRACKING_URI`` and ``$NABLA_TOKEN``) also sends the run to a shared
``nabla server`` in the background. A script written for Weights & Biases keeps working with
``import nabla.compat.wandb as wandb``.

nabla's engine as scikit-learn estimators: ``nabla.MLPClassifier``, ``nabla.MLPRegressor`` and
``nabla.load(path)`` (see :mod:`nabla.estimators`; imported on first use, so that a script that
only records runs does not load NumPy or scikit-learn).
"""

from typing import TYPE_CHECKING, Any, Mapping, Optional

from . import _nabla
from ._nabla import ServerWarning
from ._run import Artifact, Config, Run, Summary, current, init, require_run

__all__ = [
    "Artifact",
    "Config",
    "Run",
    "ServerWarning",
    "Summary",
    "init",
    "log",
    "finish",
    "define_metric",
    "log_artifact",
    "MLPClassifier",
    "MLPRegressor",
    "load",
]
_ESTIMATORS = ("MLPClassifier", "MLPRegressor", "load")

if TYPE_CHECKING:  # what editors and type checkers see; at run time `__getattr__` imports them
    from .estimators import MLPClassifier, MLPRegressor, load

__version__ = _nabla.NABLA_VERSION


def log(data: Mapping, step: Optional[int] = None, commit: Optional[bool] = None) -> None:
    """``run.log`` on the current run (see :meth:`nabla.Run.log`)."""
    require_run("nabla.log").log(data, step, commit)


def finish(exit_code: Optional[int] = None, quiet: Optional[bool] = None) -> None:
    """Finishes the current run, if any (see :meth:`nabla.Run.finish`)."""
    run = current()
    if run is not None:
        run.finish(exit_code)


def define_metric(name: str, step_metric: Optional[str] = None, **options: Any) -> None:
    """``run.define_metric`` on the current run."""
    require_run("nabla.define_metric").define_metric(name, step_metric, **options)


def log_artifact(path: Any, type: str = "file", name: Optional[str] = None) -> Artifact:
    """``run.log_artifact`` on the current run."""
    return require_run("nabla.log_artifact").log_artifact(path, type=type, name=name)


def __getattr__(name: str) -> Any:
    # `nabla.run`, `nabla.config` and `nabla.summary` follow the current run.
    if name == "run":
        return current()
    if name in ("config", "summary"):
        return getattr(require_run(f"nabla.{name}"), name)
    if name in _ESTIMATORS:
        from . import estimators

        return getattr(estimators, name)
    raise AttributeError(f"module 'nabla' has no attribute {name!r}")
