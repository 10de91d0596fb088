"""The common calls of Weights & Biases, recorded in nabla's local store.

    import nabla.compat.wandb as wandb   # the only line to change

    wandb.login()
    run = wandb.init(project="my-project", config={"lr": 0.01})
    wandb.log({"loss": loss, "acc": acc})
    wandb.finish()

Supported: ``login``, ``init``, ``log``, ``config``, ``summary``, ``run``, ``finish``,
``define_metric`` (custom x-axis, summaries), ``save`` and ``log_artifact`` of files.
``init``'s ``dir``, ``entity``, ``reinit``, ``anonymous``, ``save_code``, ``force`` and
``allow_val_change`` are accepted and change nothing (runs always go to nabla's store,
``$NABLA_HOME/tracking``); ``group`` and ``job_type`` become tags ``group:NAME`` and
``job_type:NAME``. Everything else (media such as ``wandb.Image``, ``wandb.watch``, sweeps, the
public API, resuming) raises ``NotImplementedError`` naming the call, so that no data is
dropped silently.

A shared ``nabla server``: as with ``nabla.init``, ``$NABLA_TRACKING_URI`` and ``$NABLA_TOKEN``
send every run there too (recorded locally first, sent in the background).
``wandb.login(host=URL, key=TOKEN)`` sets both for the runs started after it (``key`` without
``host`` is ignored, as without a server there is no account), and ``init(mode="offline")``
records locally only. wandb's own ``$WANDB_BASE_URL`` and ``$WANDB_API_KEY`` are never read: a
W&B key is not a nabla token, and a script's W&B settings should not send its runs to a
server nobody asked for; when ``$WANDB_BASE_URL`` is set without ``$NABLA_TRACKING_URI``,
``init`` says so once on stderr.
"""

from __future__ import annotations

import glob as _glob
import os
import sys
from typing import Any, Mapping, Optional, Sequence

from .. import _run
from .._run import Run

__version__ = "nabla-compat"

# Accepted by init and without effect (with the value each may take, None meaning any).
_IGNORED_INIT = {
    "entity": None,
    "dir": None,
    "reinit": None,
    "anonymous": None,
    "save_code": None,
    "force": None,
    "allow_val_change": None,
}

# wandb's API that nabla does not record: each raises when called, naming itself.
_UNSUPPORTED = (
    "Image", "Table", "Histogram", "Video", "Audio", "Html", "Object3D", "Molecule", "Plotly",
    "Graph", "Artifact", "Api", "Settings", "Error", "watch", "unwatch", "sweep", "agent",
    "controller", "alert", "use_artifact", "restore", "log_model", "use_model", "link_model",
    "mark_preempting", "setup", "teardown", "require", "plot", "plot_table", "tensorboard",
    "attach", "init_artifact",
)


def _unsupported(call: str, detail: str = "") -> NotImplementedError:
    more = f" ({detail})" if detail else ""
    return NotImplementedError(
        f"{call} is not supported by nabla.compat.wandb{more}; nabla records numbers, the config, "
        "the summary and files. Remove the call or record it another way."
    )


# What `login(host=..., key=...)` set: (server, token) for the runs started after it.
_login: dict = {}
_wandb_env_noted = False


def login(
    anonymous: Optional[str] = None, key: Optional[str] = None, relogin: Optional[bool] = None,
    host: Optional[str] = None, **kwargs: Any,
) -> bool:
    """``wandb.login``: returns True. With ``host`` (a ``nabla server``'s URL), the runs started
    after it are sent there too, with ``key`` as the token (default ``$NABLA_TOKEN``); without
    ``host`` nothing changes: nabla keeps runs locally, without an account."""
    if host is not None:
        _login["server"] = host
        _login["token"] = key
    return True


def init(
    project: Optional[str] = None,
    name: Optional[str] = None,
    config: Any = None,
    tags: Optional[Sequence[str]] = None,
    group: Optional[str] = None,
    job_type: Optional[str] = None,
    mode: Optional[str] = None,
    **kwargs: Any,
) -> Run:
    """``wandb.init``: starts a run in nabla's store (see the module documentation)."""
    for key, value in kwargs.items():
        if key not in _IGNORED_INIT:
            if value is None:
                continue
            raise _unsupported(f"wandb.init({key}=...)")
    if mode not in (None, "online", "offline", "shared"):
        raise _unsupported(f"wandb.init(mode={mode!r})", "nabla always records, locally")
    global _wandb_env_noted
    if os.environ.get("WANDB_BASE_URL") and not os.environ.get(_run.URI_ENV) and not _wandb_env_noted:
        _wandb_env_noted = True
        print(
            "nabla.compat.wandb: $WANDB_BASE_URL is not read; set $NABLA_TRACKING_URI and $NABLA_TOKEN "
            "to send runs to a nabla server",
            file=sys.stderr,
        )
    # offline: locally only; otherwise login()'s server, else nabla.init's ($NABLA_TRACKING_URI).
    server = "" if mode == "offline" else _login.get("server")
    token = None if mode == "offline" else _login.get("token")
    if isinstance(config, str):
        raise _unsupported("wandb.init(config=<file name>)", "pass the config as a dict")
    tags = list(tags or [])
    if group is not None:
        tags.append(f"group:{group}")
    if job_type is not None:
        tags.append(f"job_type:{job_type}")
    return _run.init(project=project, name=name, config=config, tags=tags, server=server, token=token)


def log(data: Mapping, step: Optional[int] = None, commit: Optional[bool] = None, sync: Optional[bool] = None) -> None:
    """``wandb.log``: logs numbers to the current run (``sync`` is accepted and ignored)."""
    _run.require_run("wandb.log").log(data, step, commit)


def finish(exit_code: Optional[int] = None, quiet: Optional[bool] = None) -> None:
    """``wandb.finish``: ends the current run (``failed`` for a non-zero exit code)."""
    run = _run.current()
    if run is not None:
        run.finish(exit_code)


def define_metric(
    name: str,
    step_metric: Optional[str] = None,
    step_sync: Optional[bool] = None,
    hidden: Optional[bool] = None,
    summary: Optional[str] = None,
    goal: Optional[str] = None,
    overwrite: Optional[bool] = None,
) -> None:
    """``wandb.define_metric``: a custom x-axis (``step_metric``) and what the summary keeps."""
    _run.require_run("wandb.define_metric").define_metric(
        name, step_metric=step_metric, summary=summary, goal=goal, hidden=hidden, step_sync=step_sync
    )


def save(glob_str: Any = None, base_path: Optional[str] = None, policy: str = "live") -> list:
    """``wandb.save``: stores the files matching ``glob_str`` as artifacts of type ``file``."""
    run = _run.require_run("wandb.save")
    if glob_str is None:
        raise _unsupported("wandb.save() without a file name")
    pattern = os.fsdecode(os.fspath(glob_str))
    paths = sorted(p for p in _glob.glob(pattern) if os.path.isfile(p))
    if not paths:
        raise FileNotFoundError(f"wandb.save: no file matches {pattern!r}")
    return [run.log_artifact(p, type="file") for p in paths]


def log_artifact(artifact_or_path: Any, name: Optional[str] = None, type: Optional[str] = None, **kwargs: Any):
    """``wandb.log_artifact`` of a file path (``wandb.Artifact`` objects are not supported)."""
    if kwargs:
        raise _unsupported(f"wandb.log_artifact({', '.join(k + '=...' for k in kwargs)})")
    return _run.require_run("wandb.log_artifact").log_artifact(artifact_or_path, type=type or "file", name=name)


class _BeforeInit:
    """``wandb.config`` / ``wandb.summary`` before ``wandb.init``: any use raises."""

    def __init__(self, what: str):
        object.__setattr__(self, "_what", what)

    def _fail(self, *args: Any, **kwargs: Any):
        raise RuntimeError(f"wandb.{self._what} is used before wandb.init(); call wandb.init() first")

    def __getattr__(self, key: str) -> Any:
        if key.startswith("__"):
            raise AttributeError(key)
        self._fail()

    __setattr__ = __getitem__ = __setitem__ = __contains__ = __iter__ = __len__ = _fail


def __getattr__(name: str) -> Any:
    if name == "run":
        return _run.current()
    if name in ("config", "summary"):
        run = _run.current()
        return _BeforeInit(name) if run is None else getattr(run, name)
    if name in _UNSUPPORTED:

        def unsupported(*args: Any, **kwargs: Any):
            raise _unsupported(f"wandb.{name}()")

        unsupported.__name__ = name
        return unsupported
    raise AttributeError(f"wandb.{name} is not supported by nabla.compat.wandb (module has no attribute {name!r})")
