"""scikit-learn's own estimator checks over every registered model and its test variants.

The few checks that cannot apply to a model's kind of data are listed, with reasons, by
`genzoo.testing.sklearn_expected_failures`; they must fail (strict xfail), so the list stays
true. Models of vectors, images, counts and binary data list at most three.
"""

import pytest
from sklearn.utils import estimator_checks
from sklearn.utils.estimator_checks import parametrize_with_checks

from genzoo.testing import sklearn_estimators, sklearn_expected_failures

ESTIMATORS = sklearn_estimators()
ALL_ESTIMATORS = sklearn_estimators(api_only=True)

# scikit-learn skips its data checks for input that is not a 2-D array (sentences), and a
# translation model needs a second domain they cannot give; these API checks need no data,
# so they run for every model.
API_CHECKS = [
    "check_estimator_cloneable",
    "check_estimator_repr",
    "check_no_attributes_set_in_init",
    "check_parameters_default_constructible",
    "check_get_params_invariance",
    "check_set_params",
    "check_estimator_tags_renamed",
    "check_valid_tag_types",
]


@parametrize_with_checks(
    ESTIMATORS, expected_failed_checks=sklearn_expected_failures, xfail_strict=True
)
def test_sklearn_check(estimator, check):
    check(estimator)


@pytest.mark.parametrize("name", API_CHECKS)
@pytest.mark.parametrize("estimator", ALL_ESTIMATORS, ids=lambda e: type(e).__name__)
def test_sklearn_api_check(estimator, name):
    getattr(estimator_checks, name)(type(estimator).__name__, estimator)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_expected_failures_are_few_and_explained(estimator):
    failures = sklearn_expected_failures(estimator)
    for check, reason in failures.items():
        assert check.startswith("check_") and reason.endswith(".") and len(reason) > 40
    if estimator.data_kind in ("vectors", "images", "counts"):
        assert len(failures) <= 3, failures


def test_every_registered_model_is_checked():
    from genzoo.registry import list_models

    assert {type(e) for e in ALL_ESTIMATORS} == {entry.cls for entry in list_models()}
    n_variants = sum(1 + len(entry.test_variants) for entry in list_models())
    assert len(ALL_ESTIMATORS) == n_variants
    translators = {entry.cls for entry in list_models() if entry.cls.second_domain}
    assert {type(e) for e in ESTIMATORS} == {entry.cls for entry in list_models()} - translators


def test_network_learning_missing_states_by_em_passes_with_nan_allowed():
    from sklearn.utils import get_tags
    from sklearn.utils.estimator_checks import check_estimator

    from genzoo import BayesianNetwork

    model = BayesianNetwork(missing="em", random_state=0)
    assert get_tags(model).input_tags.allow_nan
    assert not get_tags(BayesianNetwork()).input_tags.allow_nan
    results = check_estimator(model, on_fail=None, on_skip=None)
    assert [r["check_name"] for r in results if r["status"] == "failed"] == []
