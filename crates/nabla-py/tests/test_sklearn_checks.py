"""scikit-learn's own estimator checks on nabla.MLPClassifier and nabla.MLPRegressor.

The instances checked are small and fast (one hidden layer of 16, a few dozen epochs, no early
stopping): the checks fit hundreds of times. A check that cannot apply is listed in
EXPECTED_FAILED with the reason; scikit-learn then runs it as an expected failure (xfail), so it
is reported, never skipped silently, and an unexpected pass shows up too.

Two checks skip themselves, with scikit-learn's reason printed by `pytest -rs` in CI:
`check_array_api_input`, one per estimator, runs only with `SCIPY_ARRAY_API=1` and an array-API
library installed. nabla's estimators do not claim array-API support: they read any input
through NumPy (float32 for the engine), so there is no other namespace to check, and CI leaves
that switch off.
"""

from __future__ import annotations

from conftest import require

require("sklearn")

from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from nabla import MLPClassifier, MLPRegressor  # noqa: E402

SMALL = dict(hidden=(16,), epochs=40, batch_size=16, lr=0.01, early_stopping=False, seed=0)

# check name -> why it cannot pass, per estimator class.
EXPECTED_FAILED: dict = {
    "MLPClassifier": {},
    "MLPRegressor": {},
}


def expected_failed(estimator) -> dict:
    return EXPECTED_FAILED[type(estimator).__name__]


@parametrize_with_checks([MLPClassifier(**SMALL), MLPRegressor(**SMALL)], expected_failed_checks=expected_failed)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
