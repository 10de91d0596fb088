"""The run object and its life cycle: init, finish, exit and signal handling (its config and
summary are in `_config.py`)."""

from __future__ import annotations

import atexit
import fnmatch
import math
import os
import signal
import sys
import threading
from collections.abc import Mapping
from typing import Any, NamedTuple, Optional, Sequence

from . import _nabla
from ._config import Config, Summary, _config_dict, _json_text

#: Where a run goes without ``project=``: the project wandb uses for the same case.
DEFAULT_PROJECT = "uncategorized"

_lock = threading.RLock()
_runs: list = []  # this process's unfinished runs, oldest first
_current: Optional["Run"] = None
_exit_status: Optional[str] = None  # set by the excepthook: "failed" or "interrupted"
_hooks_installed = False

_SUMMARIES = ("last", "min", "max", "best", "none")


def _env_seconds(name: str, default: Optional[float]) -> Optional[float]:
    text = os.environ.get(name)
    if text is None or text == "":
        return default
    if text.lower() in ("off", "0", "none"):
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"nabla.init: ${name}={text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"nabla.init: ${name}={text!r} must be a positive number of seconds")
    return value


class Artifact(NamedTuple):
    """What ``run.log_artifact`` stored."""

    name: str
    type: str
    sha256: str
    bytes: int


class Run:
    """A run being recorded in nabla's store. Made by :func:`nabla.init`.

    ``run.log(data, step=None, commit=None)`` is the Rust method itself (no Python frame per
    call); see :meth:`Run.log` for its rules.
    """

    def __init__(self, core: Any, config: dict):
        self._core = core
        # The extension's bound method, so that a call costs no Python frame.
        self.log = core.log
        self.config = Config(self, config)
        self.summary = Summary(self)
        self._summary_rules: list = []  # (pattern, aggregations)

    def log(self, data: Mapping, step: Optional[int] = None, commit: Optional[bool] = None) -> None:  # noqa: F811
        """Logs numbers (``{"loss": 0.3, "acc": 0.9}``; nested dicts become ``outer/inner``).

        Without ``step``, values go to the current step, which then advances (``commit=False``
        gathers them until a call commits). ``step=s`` moves to step ``s`` and gathers until a
        later step (or ``commit=True``). A step lower than the current one raises ``ValueError``.
        Values: int, float, numpy scalars and 0-d arrays, one-element torch tensors, anything
        ``float()`` takes; NaN and inf are stored as such. Anything else raises ``TypeError``.
        """
        self._core.log(data, step, commit)

    @property
    def id(self) -> str:
        """The run id (``nabla runs show ID``)."""
        return self._core.id

    @property
    def name(self) -> Optional[str]:
        """The run's name, if given."""
        return self._core.name

    @property
    def project(self) -> str:
        """The project."""
        return self._core.project

    @property
    def dir(self) -> str:
        """The tracking directory the run is recorded in."""
        return str(self._core.dir)

    @property
    def server(self) -> Optional[str]:
        """The ``nabla server`` the run is sent to, or None when it is recorded locally only."""
        return self._core.server

    @property
    def step(self) -> int:
        """The current step: where the next ``log`` without ``step`` lands."""
        return self._core.step

    @property
    def finished(self) -> bool:
        """Whether the run has ended."""
        return self._core.finished

    def define_metric(
        self,
        name: str,
        step_metric: Optional[str] = None,
        summary: Optional[str] = None,
        goal: Optional[str] = None,
        hidden: Optional[bool] = None,
        step_sync: Optional[bool] = None,
        overwrite: Optional[bool] = None,
    ) -> None:
        """Plots ``name`` (or a glob such as ``"val/*"``) against ``step_metric`` instead of the
        global step, and/or says what its summary holds: ``"last"`` (the default), ``"min"``,
        ``"max"``, ``"best"`` (with ``goal="minimize"`` or ``"maximize"``), ``"none"``, or several
        joined by commas. ``hidden``, ``step_sync`` and ``overwrite`` are accepted for wandb."""
        if not isinstance(name, str) or not name:
            raise TypeError("define_metric: name must be a non-empty str")
        if step_metric is not None:
            if not isinstance(step_metric, str) or not step_metric:
                raise TypeError("define_metric: step_metric must be a non-empty str")
            self._core.define_axis(name, step_metric)
        if summary is not None:
            wanted = [s.strip() for s in str(summary).split(",") if s.strip()]
            unknown = [s for s in wanted if s not in _SUMMARIES]
            if unknown:
                raise NotImplementedError(
                    f"define_metric(summary={summary!r}): nabla keeps {', '.join(_SUMMARIES)}, not {', '.join(unknown)}"
                )
            if "best" in wanted and goal not in ("minimize", "maximize"):
                raise ValueError("define_metric(summary='best') needs goal='minimize' or goal='maximize'")
            self._summary_rules.append((name, wanted, goal))
        elif goal is not None and goal not in ("minimize", "maximize"):
            raise ValueError(f"define_metric: goal must be 'minimize' or 'maximize', got {goal!r}")

    def log_artifact(self, path: Any, type: str = "file", name: Optional[str] = None) -> Artifact:
        """Stores the file at ``path`` in the run's store (content-addressed; ``type`` such as
        ``"checkpoint"``) and returns what was stored. Another ``name`` than the file's is not
        supported."""
        if not isinstance(path, (str, bytes, os.PathLike)):
            raise NotImplementedError(
                f"log_artifact: nabla stores files given by path, not {path.__class__.__name__} objects"
            )
        path = os.fsdecode(os.fspath(path))
        if name is not None and name != os.path.basename(path):
            raise NotImplementedError(f"log_artifact(name={name!r}): nabla names an artifact after its file")
        if os.path.isdir(path):
            raise NotImplementedError(f"log_artifact: {path} is a directory; nabla stores single files")
        stored, sha256, size = self._core.log_artifact(path, str(type))
        return Artifact(stored, str(type), sha256, size)

    def flush(self) -> None:
        """Waits until everything logged so far is on disk (nabla's; wandb has no such call)."""
        self._core.flush()

    def finish(self, exit_code: Optional[int] = None, quiet: Optional[bool] = None) -> None:
        """Ends the run: ``finished`` for exit code 0 or None, ``failed`` otherwise. Fills in the
        summary (see :class:`Summary`) and commits everything. Finishing twice does nothing.

        A run with a server is sent the rest of it, waiting up to about 10 s while the server is
        away. What the server did not take stays in the local store, with a
        :class:`nabla.ServerWarning` saying so; ``nabla runs sync`` sends it later."""
        _finish(self, "finished" if not exit_code else "failed")

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            status = "finished"
        elif issubclass(kind, KeyboardInterrupt):
            status = "interrupted"
        else:
            status = "failed"
        _finish(self, status)

    def __reduce__(self):
        raise TypeError(
            f"nabla.Run {self.id} cannot be sent to another process; call nabla.init() in the worker "
            "to record from it"
        )

    def __repr__(self) -> str:
        return f"<nabla.Run {self.id} project={self.project!r} name={self.name!r}>"

    def _fill_summary(self) -> None:
        """Sets the summary of every metric the user did not set: last, min, max or best."""
        for name, _points, last, low, high in self._core.metrics():
            wanted, goal = ["last"], None
            for pattern, rule, rule_goal in self._summary_rules:
                if pattern == name or ("*" in pattern and fnmatch.fnmatchcase(name, pattern)):
                    wanted, goal = rule, rule_goal
            values = {}
            for what in wanted:
                if what == "last":
                    values[name] = last
                elif what == "min" or (what == "best" and goal == "minimize"):
                    values[f"{name}.{what}"] = low
                elif what == "max" or (what == "best" and goal == "maximize"):
                    values[f"{name}.{what}"] = high
            for key, value in values.items():
                if key not in self.summary:
                    self._core.summary(key, _json_text(value))


def _finish(run: Run, status: str) -> None:
    global _current
    with _lock:
        if run._core.finished:
            return
        try:
            run._fill_summary()
        finally:
            run._core.finish(status)
            if run in _runs:
                _runs.remove(run)
            if _current is run:
                _current = _runs[-1] if _runs else None


def _finish_all(status: str) -> None:
    with _lock:
        for run in list(_runs):
            try:
                _finish(run, status)
            except Exception as e:  # noqa: BLE001 - report and go on with the other runs
                print(f"nabla: could not finish run {run.id}: {e}", file=sys.stderr)


def _at_exit() -> None:
    _finish_all(_exit_status or "finished")


def _excepthook(kind, value, traceback) -> None:
    global _exit_status
    _exit_status = "interrupted" if issubclass(kind, KeyboardInterrupt) else "failed"
    _previous_excepthook(kind, value, traceback)


_previous_excepthook = sys.excepthook


def _on_signal(signum, frame) -> None:
    # Record the run as interrupted, then die of the signal as the process would have.
    _finish_all("interrupted")
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _after_fork_in_child() -> None:
    # The parent's runs belong to the parent: their writer threads do not exist here.
    global _runs, _current, _lock
    _nabla.forked()
    _lock = threading.RLock()
    _runs = []
    _current = None
    _lifted.clear()
    _restore_default_signals()


# The signals whose default action (ending the process) nabla delays to record the run first.
_SIGNALS = ("SIGTERM", "SIGHUP")


def _restore_default_signals() -> None:
    # A child process is stopped by its parent: multiprocessing's Pool.terminate() sends
    # SIGTERM to its workers. A Python-level handler acts only when the interpreter next looks:
    # a SIGTERM that lands just before a worker blocks on the queue's lock, or between fork and
    # this hook, is never acted on, and the parent waits for that worker forever. The default
    # action always ends it. So a child keeps no handler of the parent's and installs none
    # (_install_hooks); a worker's run killed that way shows as crashed once its heartbeat stops.
    for name in _SIGNALS:
        signum = getattr(signal, name, None)
        if signum is not None and signal.getsignal(signum) is _on_signal:
            try:
                signal.signal(signum, signal.SIG_DFL)
            except ValueError:  # not the main thread: nothing can be changed from here
                pass


# The handlers lifted for the length of a fork, to be put back in the parent.
_lifted: list = []


def _before_fork() -> None:
    # Lift the handlers in the parent while it forks, so that the child is born with the
    # default actions and no SIGTERM can reach it between fork and _after_fork_in_child (the
    # parent is without them for the microseconds of the fork call).
    if threading.current_thread() is threading.main_thread():
        for name in _SIGNALS:
            signum = getattr(signal, name, None)
            if signum is not None and signal.getsignal(signum) is _on_signal:
                signal.signal(signum, signal.SIG_DFL)
                _lifted.append(signum)


def _after_fork_in_parent() -> None:
    while _lifted:
        signal.signal(_lifted.pop(), _on_signal)


def _is_child_process() -> bool:
    """Whether this process is a multiprocessing worker (forked or spawned)."""
    import multiprocessing

    return multiprocessing.parent_process() is not None


def _install_hooks() -> None:
    global _hooks_installed, _previous_excepthook
    if _hooks_installed:
        return
    _hooks_installed = True
    atexit.register(_at_exit)
    _previous_excepthook = sys.excepthook
    sys.excepthook = _excepthook
    if threading.current_thread() is threading.main_thread() and not _is_child_process():
        for name in _SIGNALS:
            signum = getattr(signal, name, None)
            if signum is not None and signal.getsignal(signum) == signal.SIG_DFL:
                signal.signal(signum, _on_signal)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child)


#: The variables that name a ``nabla server`` and the user's token (the same as ``nabla train``'s).
URI_ENV = "NABLA_TRACKING_URI"
TOKEN_ENV = "NABLA_TOKEN"


def _server_of(server: Optional[str], token: Optional[str]) -> tuple:
    """(server, token) for a run: the arguments, else ``$NABLA_TRACKING_URI`` and ``$NABLA_TOKEN``.
    ``server=""`` records locally only, whatever the environment says."""
    if server is not None and not isinstance(server, str):
        raise TypeError(f"nabla.init: server must be a str URL, got {type(server).__name__}")
    if token is not None and not isinstance(token, str):
        raise TypeError(f"nabla.init: token must be a str, got {type(token).__name__}")
    if server is None:
        server = os.environ.get(URI_ENV, "")
    if not server.strip():
        return None, None
    if token is None:
        token = os.environ.get(TOKEN_ENV, "")
    return server, token


def init(
    project: Optional[str] = None,
    name: Optional[str] = None,
    config: Any = None,
    tags: Optional[Sequence[str]] = None,
    dir: Any = None,
    server: Optional[str] = None,
    token: Optional[str] = None,
) -> Run:
    """Starts recording a run and makes it the current one (``nabla.log`` logs to it).

    ``dir`` is the tracking directory (default ``$NABLA_HOME/tracking``, else the user data
    directory, where ``nabla runs`` and ``nabla ui`` look). ``server`` (``"http://host:6006"``,
    default ``$NABLA_TRACKING_URI``) is a ``nabla server`` to send the run to as well, with the
    user's ``token`` (default ``$NABLA_TOKEN``); ``server=""`` records locally only. The run is
    recorded locally first and sent in the background: training never waits for the server,
    a server that is away or refuses the token is one :class:`nabla.ServerWarning`, and
    ``nabla runs sync`` sends later what it missed. A malformed URL or a missing token raises
    ``ValueError``. A current run that was not finished
    is finished first. The run finishes by itself when the script ends (``failed`` after an
    uncaught exception, ``interrupted`` after Ctrl-C, SIGTERM or SIGHUP). ``$NABLA_HEARTBEAT_SECS``
    (default 5) sets how often the run proves itself alive, ``$NABLA_SYSTEM_SECS`` (default 5,
    ``off`` for none) how often system metrics are sampled; ``$NABLA_QUIET=1`` silences the line
    printed on stderr.
    """
    global _current
    if project is None:
        project = os.environ.get("NABLA_PROJECT") or DEFAULT_PROJECT
    if not isinstance(project, str) or not project:
        raise TypeError("nabla.init: project must be a non-empty str")
    if name is not None and not isinstance(name, str):
        raise TypeError(f"nabla.init: name must be a str, got {type(name).__name__}")
    config = _config_dict(config, "nabla.init")
    if isinstance(tags, str):
        raise TypeError("nabla.init: tags must be a list of str, not one str")
    tags = [str(t) for t in (tags or [])]
    heartbeat = _env_seconds("NABLA_HEARTBEAT_SECS", 5.0)
    if heartbeat is None:
        raise ValueError("nabla.init: $NABLA_HEARTBEAT_SECS cannot be off: the heartbeat tells a crashed run")
    system = _env_seconds("NABLA_SYSTEM_SECS", 5.0)
    server, token = _server_of(server, token)
    with _lock:
        if _current is not None:
            _current.finish()
        store = None if dir is None else os.fsdecode(os.fspath(dir))
        core = _nabla.RunCore(store, project, name, _json_text(config), tags, heartbeat, system, server, token)
        run = Run(core, config)
        _runs.append(run)
        _current = run
        _install_hooks()
    if os.environ.get("NABLA_QUIET", "") in ("", "0"):
        sending = f"; sending it to {run.server} as it trains" if run.server else ""
        print(
            f"nabla: recording run {run.id} (project {project}) in {run.dir}; "
            f"`nabla runs show {run.id}` or `nabla ui` to see it{sending}",
            file=sys.stderr,
        )
    return run


def current() -> Optional[Run]:
    """The current run, or None."""
    return _current


def require_run(call: str) -> Run:
    run = _current
    if run is None:
        raise RuntimeError(f"{call}: no run is active; call nabla.init() first")
    return run
