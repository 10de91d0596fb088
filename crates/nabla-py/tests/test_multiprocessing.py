"""Four multiprocessing workers logging at once lose nothing; a worker cannot use its parent's run."""

import json

from conftest import field, run_python

WORKERS = """
    import json, multiprocessing, time
    import nabla

    STEPS = 3000

    def work(index):
        run = nabla.init(project="mp", name=f"worker-{index}", config={"worker": index})
        for step in range(STEPS):
            run.log({"a": index * 1_000_000 + step, "b": step * 0.5, "nested": {"c": -step}})
        run.summary["done"] = STEPS
        run.finish()
        return run.id

    def use_parent():
        # `parent` is the module global the forked worker inherited.
        try:
            parent.log({"x": 1})
        except RuntimeError as e:
            return str(e)
        return "no error"

    if __name__ == "__main__":
        context = multiprocessing.get_context(METHOD)
        parent = nabla.init(project="mp", name="parent")
        with context.Pool(4) as pool:
            pending = pool.map_async(work, range(4))
            # The parent logs while the workers do.
            step = 0
            while not pending.ready():
                parent.log({"p": step})
                step += 1
                time.sleep(0.001)
            ids = pending.get(timeout=120)
        if METHOD == "fork":
            with context.Pool(1) as pool:
                print("parent_error=" + pool.apply(use_parent))
        with context.Pool(1) as pool:
            try:
                pool.apply(work, (parent,))
            except TypeError as e:
                print("pickle_error=" + str(e))
        parent.finish()
        print("ids=" + json.dumps(ids))
        print(f"parent={parent.id}")
        print(f"parent_steps={step}")
"""


def check_workers(cli, tmp_path, method):
    out = run_python(WORKERS.replace("METHOD", repr(method)), tmp_path)
    ids = json.loads(field(out.stdout, "ids"))
    assert len(set(ids)) == 4
    for index, run_id in enumerate(ids):
        shown = cli.show(run_id)
        assert shown["run"]["status"] == "finished"
        assert shown["run"]["config"] == {"worker": index}
        assert shown["run"]["summary"]["done"] == 3000
        points = cli.points(run_id)
        assert points["a"] == [(s, float(index * 1_000_000 + s)) for s in range(3000)]
        assert points["b"] == [(s, s * 0.5) for s in range(3000)]
        assert points["nested/c"] == [(s, float(-s)) for s in range(3000)]
    parent = field(out.stdout, "parent")
    steps = int(field(out.stdout, "parent_steps"))
    assert cli.points(parent)["p"] == [(s, float(s)) for s in range(steps)]
    assert cli.show(parent)["run"]["status"] == "finished"
    return out


def test_four_forked_workers_logging_at_once_lose_nothing(cli, tmp_path):
    out = check_workers(cli, tmp_path, "fork")
    assert "call nabla.init() in the worker" in field(out.stdout, "pickle_error")
    error = field(out.stdout, "parent_error")
    assert "was started in process" in error and "call nabla.init() in the worker" in error, error


def test_four_spawned_workers_logging_at_once_lose_nothing(cli, tmp_path):
    check_workers(cli, tmp_path, "spawn")


SIGNALS_IN_WORKERS = """
    import multiprocessing, signal
    import nabla

    SIGNALS = (signal.SIGTERM, signal.SIGHUP)

    def handled(start_run):
        # Whether a Python-level handler is set (the disposition may be the default, or ignored
        # when the test runs under nohup: either is the process's own, not nabla's).
        if start_run:
            nabla.init(project="mp", name="worker").finish()
        return [callable(signal.getsignal(s)) for s in SIGNALS]

    if __name__ == "__main__":
        default = [signal.getsignal(s) == signal.SIG_DFL for s in SIGNALS]
        parent = nabla.init(project="mp", name="parent")
        print("parent=" + str([callable(signal.getsignal(s)) == d for s, d in zip(SIGNALS, default)]))
        for method in ("fork", "spawn"):
            with multiprocessing.get_context(method).Pool(1) as pool:
                print(f"{method}=" + str(pool.map(handled, [False, True])))
        parent.finish()
"""


def test_workers_keep_the_default_sigterm_so_pool_terminate_cannot_hang(cli, tmp_path):
    # Regression: forked Pool workers inherited the parent's Python-level SIGTERM handler, and
    # Pool.terminate() at the end of a `with Pool(...)` block hung now and then (a SIGTERM that
    # lands just before the worker blocks on the queue's lock is never acted on).
    out = run_python(SIGNALS_IN_WORKERS, tmp_path)
    # The main program handles each signal whose action was the default (to record the run).
    assert field(out.stdout, "parent") == "[True, True]"
    # Its workers, forked or spawned, with or without a run of their own, handle neither.
    assert field(out.stdout, "fork") == "[[False, False], [False, False]]"
    assert field(out.stdout, "spawn") == "[[False, False], [False, False]]"
