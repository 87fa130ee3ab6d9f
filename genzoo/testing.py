"""What genzoo's test suite shares with users' own: scikit-learn's estimator checks.

Run scikit-learn's own checks over every registered model with

    from sklearn.utils.estimator_checks import parametrize_with_checks
    from genzoo.testing import sklearn_estimators, sklearn_expected_failures

    @parametrize_with_checks(sklearn_estimators(),
                             expected_failed_checks=sklearn_expected_failures)
    def test_sklearn(estimator, check):
        check(estimator)

>>> from genzoo import GaussianMixture
>>> sklearn_expected_failures(GaussianMixture())
{}
"""

from __future__ import annotations

__all__ = ["sklearn_estimators", "sklearn_expected_failures"]

# A threshold for models of 0/1 data: scikit-learn's checks feed real numbers.
_CHECK_BINARIZE = 0.5

_NO_LIKELIHOOD = (
    "`score` is the mean log-likelihood, which this model does not have: it raises "
    "LikelihoodUnavailable with the reason, where the check expects a number."
)
_ONE_STEP = (
    "the check fits one step with the label y=[1], which is exactly what sequence lengths of "
    "one step look like, so a sequence model refuses it and asks for lengths by keyword."
)
_ONE_COLUMN = (
    "a categorical HMM reads one column of symbols per step, and the check feeds several "
    "features per row."
)
# The checks that feed a categorical HMM rows of several features (measured: each fails with
# "X must have one column of symbols").
_SEVERAL_FEATURES = (
    "check_dict_unchanged",
    "check_dont_overwrite_parameters",
    "check_dtype_object",
    "check_estimators_dtypes",
    "check_estimators_fit_returns_self",
    "check_estimators_nan_inf",
    "check_estimators_overwrite_params",
    "check_estimators_pickle",
    "check_f_contiguous_array_estimator",
    "check_fit2d_1sample",
    "check_fit2d_predict1d",
    "check_fit_check_is_fitted",
    "check_fit_idempotent",
    "check_fit_score_takes_y",
    "check_methods_sample_order_invariance",
    "check_methods_subset_invariance",
    "check_n_features_in",
    "check_n_features_in_after_fitting",
    "check_pipeline_consistency",
    "check_positive_only_tag_during_fit",
    "check_readonly_memmap_input",
)


def sklearn_estimators(*, api_only: bool = False) -> list:
    """One unfitted instance of every registered model and of each of its test variants,
    with the registry's fast test parameters, as scikit-learn's checks take them.

    A model of 0/1 data gets `binarize=0.5` where its settings allow one: the checks feed
    real numbers, which such a model refuses unless told how to binarise them. A translation
    model (`second_domain`) cannot be fitted on X alone, which is all scikit-learn's data
    checks give, so it is left out unless `api_only` asks for the models of the checks that
    fit nothing (cloning, parameters, tags).
    """
    from genzoo.registry import list_models

    estimators = []
    for entry in list_models():
        if entry.cls.second_domain and not api_only:
            continue
        for extra in [{}] + [dict(variant.params) for variant in entry.test_variants]:
            estimator = entry.cls(**{**entry.test_params, **extra})
            if estimator.get_params().get("binarize", 0) is None:
                binarizing = estimator.set_params(binarize=_CHECK_BINARIZE)
                try:
                    binarizing._validate_params()
                except ValueError:  # this setting takes real values (a Gaussian RBM)
                    estimator.set_params(binarize=None)
            estimators.append(estimator)
    return estimators


def sklearn_expected_failures(estimator) -> dict[str, str]:
    """scikit-learn checks that `estimator` cannot pass, by check name, each with the reason
    in a sentence: checks whose premise does not hold for the model's kind of data."""
    failures = {}
    if estimator.likelihood_kind is None:
        failures["check_fit_score_takes_y"] = _NO_LIKELIHOOD
        failures["check_pipeline_consistency"] = _NO_LIKELIHOOD
    if estimator.data_kind == "sequences":
        failures["check_fit2d_1sample"] = _ONE_STEP
        if estimator.get_params().get("emission") == "categorical":
            failures.update(dict.fromkeys(_SEVERAL_FEATURES, _ONE_COLUMN))
    return failures
