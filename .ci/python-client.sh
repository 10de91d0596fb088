#!/usr/bin/env bash
# The Python client (crates/nabla-py): lints its PyO3 bindings, builds it into a virtual
# environment with maturin and runs its pytest suite against a freshly built `nabla` binary.
#
#   bash .ci/python-client.sh
#
# The venv lives at ${NABLA_PYCLIENT_ENV:-target/pyclient-env} (relative to the workspace
# root) and is reused when it already holds the pinned tools. Exits non-zero when a test
# fails, and also when no test ran (everything skipped or nothing collected).
set -euo pipefail
cd "$(dirname "$0")/.."

MATURIN_VERSION="1.16.0"
PYTEST_VERSION="9.2.0"
# numpy for the estimators' arrays (and the test that numpy scalars are logged; the same pin as
# python-env.sh); scikit-learn and its dependencies for the estimators' contract tests
# (parametrize_with_checks, Pipeline, GridSearchCV) and pandas for DataFrame inputs: the
# versions the peers' benchmark venv uses (../shared/peers/requirements.txt).
NUMPY_VERSION="2.3.5"
SKLEARN_VERSION="1.9.1"
SCIPY_VERSION="1.17.1"
JOBLIB_VERSION="1.6.0"
THREADPOOLCTL_VERSION="3.8.0"
PANDAS_VERSION="3.1.1"
# matplotlib for the README's notebook example (its test runs the README's code block).
MATPLOTLIB_VERSION="3.11.2"
# The real MLflow client, which logs into `nabla server` in test_mlflow_client.py; in a venv of
# its own ($NABLA_MLFLOW_PYTHON), since it brings a web stack the other tests do not need.
MLFLOW_SKINNY_VERSION="3.18.0"

# The README example reads $NABLA_DATA/tabular/wine.csv (as .ci/run sets it).
export NABLA_DATA="${NABLA_DATA:-../shared/data}"
case "$NABLA_DATA" in
    /*) ;;
    *) NABLA_DATA="$PWD/$NABLA_DATA" ;;
esac

log() { printf 'python-client: %s\n' "$*" >&2; }

venv="${NABLA_PYCLIENT_ENV:-target/pyclient-env}"
case "$venv" in
    /*) ;;
    *) venv="$PWD/$venv" ;;
esac
python="$venv/bin/python"

pins=(
    "maturin==$MATURIN_VERSION" "pytest==$PYTEST_VERSION" "numpy==$NUMPY_VERSION"
    "scikit-learn==$SKLEARN_VERSION" "scipy==$SCIPY_VERSION" "joblib==$JOBLIB_VERSION"
    "threadpoolctl==$THREADPOOLCTL_VERSION" "pandas==$PANDAS_VERSION" "matplotlib==$MATPLOTLIB_VERSION"
)

have_tools() {
    [ -x "$python" ] && "$python" - "${pins[@]}" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
pins = [p.split("==") for p in sys.argv[1:]]
sys.exit(0 if all(version(name) == want for name, want in pins) else 1)
PY
}

if ! have_tools; then
    base="${PYTHON:-$(command -v python3 || true)}"
    if [ -z "$base" ]; then
        log "python3 not found (install python3 and python3-venv)"
        exit 1
    fi
    log "creating $venv with ${pins[*]}"
    [ -x "$python" ] || "$base" -m venv "$venv"
    "$python" -m pip install --quiet --disable-pip-version-check "${pins[@]}"
    have_tools || { log "$venv lacks the pinned tools after install"; exit 1; }
fi

mlflow_venv="${venv}-mlflow"
NABLA_MLFLOW_PYTHON="$mlflow_venv/bin/python"
if ! { [ -x "$NABLA_MLFLOW_PYTHON" ] && "$NABLA_MLFLOW_PYTHON" -c \
        "import sys; from importlib.metadata import version; sys.exit(version('mlflow-skinny') != '$MLFLOW_SKINNY_VERSION')" 2>/dev/null; }; then
    log "creating $mlflow_venv with mlflow-skinny==$MLFLOW_SKINNY_VERSION"
    [ -x "$NABLA_MLFLOW_PYTHON" ] || "${PYTHON:-$(command -v python3)}" -m venv "$mlflow_venv"
    "$NABLA_MLFLOW_PYTHON" -m pip install --quiet --disable-pip-version-check "mlflow-skinny==$MLFLOW_SKINNY_VERSION"
fi
export NABLA_MLFLOW_PYTHON

# The workspace's clippy builds nabla-py without its `python` feature; lint the bindings here.
log "clippy of the bindings"
PYO3_PYTHON="$python" PYO3_BUILD_EXTENSION_MODULE=1 \
    cargo clippy -p nabla-py --features python --all-targets --locked -- -D warnings

log "building nabla (for the tests' \`nabla runs show\`)"
# The test profile: after `cargo test --workspace` (CI's step before this one) this finds the
# binary and every dependency built already, instead of a second full build in the dev profile.
cargo build -p nabla-cli --locked --profile test
NABLA_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/nabla"
case "$NABLA_BIN" in
    /*) ;;
    *) NABLA_BIN="$PWD/$NABLA_BIN" ;;
esac
export NABLA_BIN

log "maturin develop"
# Optimised as the test profile is (opt-level 2): the estimators train in the tests, too slowly
# unoptimised. Through the dev profile's settings rather than `--profile test`, with which
# `cargo rustc` builds the extension as a test harness that Python cannot load.
(cd crates/nabla-py && VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH" \
    CARGO_PROFILE_DEV_OPT_LEVEL=2 CARGO_PROFILE_DEV_DEBUG=line-tables-only \
    maturin develop --locked --quiet)

log "pytest"
report="$(mktemp "${TMPDIR:-/tmp}/nabla-pytest.XXXXXX.xml")"
trap 'rm -f "$report"' EXIT
# -p no:cacheprovider: nothing is written into the source tree.
"$python" -m pytest crates/nabla-py/tests -q -rs -p no:cacheprovider --junitxml="$report"
"$python" - "$report" <<'PY'
import sys
import xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
ran = sum(int(s.get("tests", 0)) - int(s.get("skipped", 0)) for s in suites)
print(f"python-client: {ran} tests ran", file=sys.stderr)
sys.exit(0 if ran > 0 else 1)
PY
