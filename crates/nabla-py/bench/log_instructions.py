"""20,000 calls of `run.log` with 10 scalars, for counting instructions under callgrind
(repeatable on a noisy machine, unlike a timer):

    valgrind --tool=callgrind --toggle-collect='*RunCore*log*' python bench/log_instructions.py

counts only what is spent inside `RunCore.log` (the extension's method): divide the total by
20,000 for instructions per call.
"""

import os
import tempfile

os.environ["NABLA_QUIET"] = "1"
os.environ["NABLA_SYSTEM_SECS"] = "off"

import nabla  # noqa: E402

CALLS = 20_000
METRICS = [f"m{i}" for i in range(10)]

with tempfile.TemporaryDirectory() as store:
    run = nabla.init(project="bench", dir=store)
    rows = [{m: (s * 10 + i) * 1e-3 for i, m in enumerate(METRICS)} for s in range(CALLS)]
    log = run.log
    for row in rows:
        log(row)
    run.finish()
