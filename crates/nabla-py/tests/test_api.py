"""The Python API: values, steps, config, summary, artifacts, the run's life cycle, and the
wandb calls that raise instead of dropping data."""

import hashlib
import math
import signal
import sqlite3
import subprocess
import sys

import pytest

import nabla
import nabla.compat.wandb as wandb
from conftest import field, require, run_python


@pytest.fixture(autouse=True)
def no_run_left(home):
    yield
    nabla.finish()


def stored(home, run_id):
    """{metric: [(step, value)]} straight from the database (NaN is stored as NULL)."""
    with sqlite3.connect(home / "tracking" / "tracking.db") as db:
        rows = db.execute(
            "SELECT m.name, p.step, p.value FROM points p JOIN metrics m ON m.id = p.metric_id "
            "WHERE m.run_id = ? ORDER BY m.name, p.step",
            (run_id,),
        ).fetchall()
    out = {}
    for name, step, value in rows:
        out.setdefault(name, []).append((step, value))
    return out


class Scalar:
    """A stand-in for a numpy scalar or a one-element tensor: only `__float__`."""

    def __init__(self, v):
        self.v = v

    def __float__(self):
        return float(self.v)


class Index:
    """Only `__index__`, as integer-like objects have."""

    def __index__(self):
        return 7


def test_numbers_of_every_kind_are_stored_and_nan_and_inf_as_such(home):
    run = nabla.init(project="values")
    run.log({"float": 0.25, "int": 3, "bool": True, "big": 2**70, "duck": Scalar(1.5), "index": Index()})
    run.log({"nan": float("nan"), "inf": float("inf"), "ninf": -math.inf})
    run.finish()
    points = stored(home, run.id)
    assert points["float"] == [(0, 0.25)]
    assert points["int"] == [(0, 3.0)]
    assert points["bool"] == [(0, 1.0)]
    assert points["big"] == [(0, float(2**70))]
    assert points["duck"] == [(0, 1.5)]
    assert points["index"] == [(0, 7.0)]
    assert points["nan"] == [(1, None)]  # the store's NaN
    assert points["inf"] == [(1, math.inf)]
    assert points["ninf"] == [(1, -math.inf)]


def test_numpy_scalars_and_zero_d_arrays(home):
    np = require("numpy")  # CI installs numpy (.ci/python-client.sh): there it must run
    run = nabla.init(project="numpy")
    run.log({"f32": np.float32(0.5), "i64": np.int64(4), "zero_d": np.array(2.5), "nan": np.float64("nan")})
    with pytest.raises(TypeError, match="the value of `vec` is a numpy.ndarray"):
        run.log({"ok": 1.0, "vec": np.arange(3.0)})
    run.finish()
    points = stored(home, run.id)
    assert points == {"f32": [(0, 0.5)], "i64": [(0, 4.0)], "zero_d": [(0, 2.5)], "nan": [(0, None)]}


def test_torch_scalar_tensors(home):
    torch = require(
        "torch",
        why_optional="CI's client venv has no torch (a multi-GB CUDA wheel); "
        "test_tensor_like_values_are_read_through_float_without_torch checks the same protocol there",
    )
    run = nabla.init(project="torch")
    run.log({"loss": torch.tensor(0.75), "acc": torch.tensor([0.5])})
    run.finish()
    assert stored(home, run.id) == {"acc": [(0, 0.5)], "loss": [(0, 0.75)]}


class _TensorLike:
    """What nabla sees of a torch tensor, without torch: `float()` of a one-element tensor
    gives its value (`__float__`), of a longer one raises; `item()` and `__array__` are there
    too, as on a tensor, and must not be what the value is read through."""

    def __init__(self, *values):
        self.values = values

    def __float__(self):
        if len(self.values) != 1:
            raise ValueError("only one element tensors can be converted to Python scalars")
        return float(self.values[0])

    def item(self):
        raise AssertionError("nabla must read a tensor through float(), not item()")

    def __array__(self, dtype=None, copy=None):
        raise AssertionError("nabla must not convert a tensor through numpy")


# Runs in CI without torch (issue #21): the protocol test_torch_scalar_tensors relies on.
def test_tensor_like_values_are_read_through_float_without_torch(home):
    run = nabla.init(project="tensor-like")
    run.log({"loss": _TensorLike(0.75), "acc": _TensorLike(0.5)})
    with pytest.raises(TypeError, match=r"the value of `vec` is an? [\w.]*_TensorLike"):
        run.log({"ok": 1.0, "vec": _TensorLike(1.0, 2.0)})
    run.finish()
    assert stored(home, run.id) == {"acc": [(0, 0.5)], "loss": [(0, 0.75)]}


def test_values_that_are_not_numbers_raise_naming_the_key_and_log_nothing(home):
    run = nabla.init(project="bad")
    for value, kind in (("0.5", "a str"), (None, "a NoneType"), ([1, 2], "a list"), (1j, "a complex")):
        with pytest.raises(TypeError, match=f"the value of `x` is {kind}"):
            run.log({"ok": 1.0, "x": value})
    with pytest.raises(TypeError, match="metric names must be str, got an int"):
        run.log({5: 1.0})
    with pytest.raises(TypeError, match="expected a dict of metrics, got a list"):
        run.log([("a", 1.0)])
    with pytest.raises(ValueError, match="reserved for system metrics"):
        run.log({"sys/cpu": 1.0})
    assert run.step == 0
    run.log({"ok": 2.0})
    run.finish()
    assert stored(home, run.id) == {"ok": [(0, 2.0)]}


def test_steps_follow_wandb(home):
    run = nabla.init(project="steps")
    run.log({"a": 1})  # step 0
    run.log({"a": 2}, commit=False)  # gathered at step 1
    run.log({"b": 3})  # step 1 committed
    run.log({"a": 4}, step=5)  # gathered at step 5
    run.log({"b": 5}, step=5)
    assert run.step == 5
    run.log({"a": 6}, step=9, commit=True)
    assert run.step == 10
    with pytest.raises(ValueError, match="step 3 is lower than the run's current step 10"):
        run.log({"a": 7}, step=3)
    with pytest.raises(ValueError, match="step must be an int >= 0, got -1"):
        run.log({"a": 7}, step=-1)
    nabla.log({"a": 8})
    run.finish()
    points = stored(home, run.id)
    assert points["a"] == [(0, 1.0), (1, 2.0), (5, 4.0), (9, 6.0), (10, 8.0)]
    assert points["b"] == [(1, 3.0), (5, 5.0)]


def test_define_metric_gives_a_custom_x_axis_and_summaries(home, cli):
    run = wandb.init(project="axis")
    wandb.define_metric("epoch")
    wandb.define_metric("val/*", step_metric="epoch", summary="max")
    wandb.define_metric("train/loss", summary="min,last")
    for epoch in range(3):
        for _ in range(4):
            wandb.log({"train/loss": 1.0 / (run.step + 1)})
        wandb.log({"epoch": epoch, "val/acc": 0.5 + epoch / 10})
    with pytest.raises(ValueError, match="value 1.5 is not a whole number"):
        wandb.log({"epoch": 1.5, "val/acc": 0.0})
    wandb.finish()
    points = stored(home, run.id)
    assert points["val/acc"] == [(0, 0.5), (1, 0.6), (2, 0.7)]
    assert [s for s, _ in points["epoch"]] == [4, 9, 14]
    summary = cli.show(run.id)["run"]["summary"]
    assert summary["val/acc.max"] == 0.7 and "val/acc" not in summary
    assert summary["train/loss.min"] == 1.0 / 14 and summary["train/loss"] == 1.0 / 14
    assert summary["epoch"] == 2


def test_config_and_summary_are_saved(home, cli):
    run = nabla.init(project="cfg", name="first", config={"lr": 0.1, "layers": [128, 64]}, tags=["a", "b"])
    assert run.config.lr == 0.1 and run.config["layers"] == [128, 64] and "lr" in run.config
    run.config.batch_size = 32
    run.config["opt"] = "adam"
    run.config.update({"epochs": 5})
    with pytest.raises(AttributeError, match="run.config has no key 'nope'"):
        run.config.nope
    run.log({"loss": 0.5})
    run.log({"loss": 0.25})
    run.summary["test/acc"] = 0.98
    run.summary["diverged"] = float("nan")
    run.summary["loss"] = 0.125  # set by hand: the last value does not replace it
    run.finish()
    shown = cli.show(run.id)["run"]
    assert shown["name"] == "first" and shown["tags"] == ["a", "b"]
    assert shown["config"] == {"lr": 0.1, "layers": [128, 64], "batch_size": 32, "opt": "adam", "epochs": 5}
    assert shown["summary"] == {"test/acc": 0.98, "diverged": "NaN", "loss": 0.125}
    with pytest.raises(RuntimeError, match="is finished"):
        run.summary["late"] = 1


def test_log_artifact_stores_the_file_by_content(home, cli, tmp_path):
    weights = tmp_path / "model.bin"
    weights.write_bytes(b"\x00\x01weights" * 100)
    run = nabla.init(project="art")
    record = run.log_artifact(weights, type="checkpoint")
    assert record.sha256 == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert (record.name, record.type, record.bytes) == ("model.bin", "checkpoint", 900)
    with pytest.raises(NotImplementedError, match="is a directory"):
        run.log_artifact(tmp_path)
    with pytest.raises(RuntimeError, match="model.missing"):
        run.log_artifact(tmp_path / "model.missing")
    run.finish()
    artifacts = cli.show(run.id)["artifacts"]
    assert [(a["name"], a["kind"], a["sha256"]) for a in artifacts] == [("model.bin", "checkpoint", record.sha256)]


def test_a_context_manager_finishes_the_run(home, cli):
    with nabla.init(project="ctx") as run:
        run.log({"x": 1})
    assert cli.show(run.id)["run"]["status"] == "finished"
    with pytest.raises(ZeroDivisionError):
        with nabla.init(project="ctx") as failing:
            1 / 0
    assert cli.show(failing.id)["run"]["status"] == "failed"
    with pytest.raises(KeyboardInterrupt):
        with nabla.init(project="ctx") as stopped:
            raise KeyboardInterrupt
    assert cli.show(stopped.id)["run"]["status"] == "interrupted"


def test_a_second_init_finishes_the_first_run(home, cli):
    first = nabla.init(project="two")
    second = nabla.init(project="two")
    assert first.finished and not second.finished
    assert nabla.run is second
    second.finish()
    assert nabla.run is None
    with pytest.raises(RuntimeError, match="nabla.log: no run is active; call nabla.init"):
        nabla.log({"x": 1})


@pytest.mark.parametrize(
    "ending, status, code",
    [
        ("pass", "finished", 0),
        ("raise ValueError('boom')", "failed", 1),
        # Python ends an uncaught KeyboardInterrupt by dying of SIGINT.
        ("raise KeyboardInterrupt", "interrupted", -signal.SIGINT),
        ("import os, signal; os.kill(os.getpid(), signal.SIGTERM); import time; time.sleep(30)", "interrupted", -signal.SIGTERM),
    ],
)
def test_a_script_that_ends_without_finish_is_finished_by_the_exit_hooks(home, cli, tmp_path, ending, status, code):
    out = run_python(
        f"""
        import nabla
        run = nabla.init(project="exit")
        print(f"id={{run.id}}", flush=True)
        for step in range(10):
            run.log({{"x": step}})
        {ending}
        """,
        tmp_path,
        check=False,
    )
    assert out.returncode == code, out.stderr
    run_id = field(out.stdout, "id")
    shown = cli.show(run_id)
    assert shown["run"]["status"] == status
    assert cli.points(run_id)["x"] == [(s, float(s)) for s in range(10)]
    if "ValueError" in ending:
        assert "ValueError: boom" in out.stderr  # the traceback is still printed


def test_unsupported_wandb_calls_raise_naming_the_call(home, tmp_path):
    assert wandb.login() is True
    with pytest.raises(RuntimeError, match=r"wandb.config is used before wandb.init\(\)"):
        wandb.config.lr
    with pytest.raises(RuntimeError, match="wandb.log: no run is active"):
        wandb.log({"x": 1})
    for call, text in (
        (lambda: wandb.init(resume="allow"), r"wandb.init\(resume=...\)"),
        (lambda: wandb.init(notes="hi"), r"wandb.init\(notes=...\)"),
        (lambda: wandb.init(mode="disabled"), r"wandb.init\(mode='disabled'\)"),
        (lambda: wandb.init(config="config.yaml"), r"wandb.init\(config=<file name>\)"),
    ):
        with pytest.raises(NotImplementedError, match=text):
            call()
    assert wandb.run is None
    run = wandb.init(project="compat", config={"lr": 0.1}, group="g", job_type="train", entity="me", mode="offline")
    assert wandb.run is run and wandb.config.lr == 0.1
    for call, text in (
        (lambda: wandb.Image("x.png"), r"wandb.Image\(\)"),
        (lambda: wandb.Table(columns=["a"]), r"wandb.Table\(\)"),
        (lambda: wandb.Histogram([1, 2]), r"wandb.Histogram\(\)"),
        (lambda: wandb.watch(object()), r"wandb.watch\(\)"),
        (lambda: wandb.Artifact("m", type="model"), r"wandb.Artifact\(\)"),
        (lambda: wandb.define_metric("loss", summary="mean"), r"summary='mean'"),
    ):
        with pytest.raises(NotImplementedError, match=text):
            call()
    with pytest.raises(AttributeError, match="wandb.no_such_call is not supported by nabla.compat.wandb"):
        wandb.no_such_call
    with pytest.raises(TypeError, match="the value of `img` is a"):
        wandb.log({"img": object()})
    with pytest.raises(FileNotFoundError, match="no file matches"):
        wandb.save(str(tmp_path / "*.ckpt"))
    (tmp_path / "a.ckpt").write_bytes(b"a")
    assert [a.name for a in wandb.save(str(tmp_path / "*.ckpt"))] == ["a.ckpt"]
    wandb.summary["best"] = 1.0
    wandb.finish()
    assert run.finished and wandb.run is None
    with sqlite3.connect(home / "tracking" / "tracking.db") as db:
        (tags,) = db.execute("SELECT tags FROM runs WHERE id = ?", (run.id,)).fetchone()
    assert tags == '["group:g","job_type:train"]'


def test_a_worker_thread_can_log_while_the_main_thread_flushes(home):
    import threading

    run = nabla.init(project="threads")

    def worker():
        for step in range(2000):
            run.log({"solo": step})

    thread = threading.Thread(target=worker)
    thread.start()
    for _ in range(20):
        run.flush()
    thread.join()
    run.finish()
    assert stored(home, run.id)["solo"] == [(s, float(s)) for s in range(2000)]
