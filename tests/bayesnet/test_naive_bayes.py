"""Naive Bayes: scikit-learn's numbers, exact likelihoods, samples, streams and bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from scipy import stats
from scipy.special import logsumexp
from sklearn import naive_bayes as sk

import genzoo
from genzoo.bayesnet.naive_bayes import (
    BernoulliNaiveBayes,
    CategoricalNaiveBayes,
    GaussianNaiveBayes,
    MultinomialNaiveBayes,
)
from genzoo.data import load

PAIRS = {
    "gaussian": (GaussianNaiveBayes, sk.GaussianNB),
    "multinomial": (MultinomialNaiveBayes, sk.MultinomialNB),
    "bernoulli": (BernoulliNaiveBayes, sk.BernoulliNB),
    "categorical": (CategoricalNaiveBayes, sk.CategoricalNB),
}
ATTRIBUTES = {
    "gaussian": ("class_count_", "class_prior_", "theta_", "var_", "epsilon_"),
    "multinomial": ("class_count_", "class_log_prior_", "feature_count_", "feature_log_prob_"),
    "bernoulli": ("class_count_", "class_log_prior_", "feature_count_", "feature_log_prob_"),
    "categorical": (
        "class_count_",
        "class_log_prior_",
        "category_count_",
        "feature_log_prob_",
        "n_categories_",
    ),
}


def _digits(name: str):
    data = load(name)
    if name == "digits":
        data = data.as_vectors()
    return data.X_train, data.y_train, data.X_test


def _random(kind: str, n: int = 600, d: int = 7, seed: int = 0):
    """Labelled rows of a kind (with string labels, to exercise classes_), and test rows."""
    rng = np.random.default_rng(seed)
    labels = np.array(["ant", "bee", "cat", "dog"])
    y_index = rng.integers(0, 4, 2 * n)
    if kind == "gaussian":
        X = rng.normal(size=(4, d))[y_index] * 3 + rng.uniform(0.5, 2, (4, d))[
            y_index
        ] * rng.normal(size=(2 * n, d))
    elif kind == "counts":
        X = rng.poisson(rng.gamma(2.0, 2.0, (4, d))[y_index]).astype(float)
    elif kind == "binary":
        X = (rng.random((2 * n, d)) < rng.beta(1, 2, (4, d))[y_index]).astype(float)
    else:
        X = rng.integers(0, 5, (2 * n, d)).astype(float)
        X[y_index == 0, 0] = 0  # a category rare in some classes
    return X[:n], labels[y_index[:n]], X[n:]


# (variant, data, constructor arguments shared by both libraries)
CASES = [
    ("gaussian", "digits", {}),
    ("gaussian", "digits_counts", {"var_smoothing": 1e-3}),
    ("gaussian", "gaussian", {}),
    ("gaussian", "gaussian", {"priors": [0.1, 0.2, 0.3, 0.4]}),
    ("multinomial", "digits_counts", {}),
    ("multinomial", "digits_counts", {"alpha": 0.3, "fit_prior": False}),
    ("multinomial", "counts", {"alpha": np.linspace(0.1, 2, 7)}),
    ("multinomial", "counts", {"class_prior": [0.4, 0.3, 0.2, 0.1]}),
    ("multinomial", "counts", {"alpha": 0.0, "force_alpha": False}),
    ("bernoulli", "digits_binary", {"binarize": None}),
    ("bernoulli", "digits_counts", {"binarize": 4.0, "alpha": 0.5}),
    ("bernoulli", "binary", {"fit_prior": False}),
    ("bernoulli", "gaussian", {"class_prior": [0.25, 0.25, 0.4, 0.1]}),
    ("categorical", "digits_counts", {"min_categories": 17}),
    ("categorical", "digits_counts", {"min_categories": 17, "alpha": 0.2, "fit_prior": False}),
    ("categorical", "categories", {"min_categories": [5, 6, 5, 7, 5, 5, 9]}),
    ("categorical", "categories", {"class_prior": [0.1, 0.2, 0.3, 0.4]}),
]


def _data(name: str):
    return _digits(name) if name.startswith("digits") else _random(name)


def _both(variant: str, data: str, params: dict):
    ours_cls, theirs_cls = PAIRS[variant]
    X, y, X_test = _data(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # alpha floored to 1e-10, in both
        ours = ours_cls(**params).fit(X, y)
        theirs = theirs_cls(**params).fit(X.astype(int) if variant == "categorical" else X, y)
    return ours, theirs, X, y, X_test


def _assert_close(a, b, name: str, **tolerance):
    """Arrays, or lists of arrays (CategoricalNB's per-feature tables), equal to tolerance."""
    if isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), name
        for part_a, part_b in zip(a, b, strict=True):
            np.testing.assert_allclose(part_a, part_b, err_msg=name, **tolerance)
    else:
        np.testing.assert_allclose(a, b, err_msg=name, **tolerance)


def _assert_attributes_equal(ours, theirs, variant: str, rtol: float = 1e-10):
    np.testing.assert_array_equal(ours.classes_, theirs.classes_)
    for name in ATTRIBUTES[variant]:
        a, b = getattr(ours, name), getattr(theirs, name)
        _assert_close(a, b, name, rtol=rtol, atol=1e-12)


# --- known answers: scikit-learn on the same data


@pytest.mark.parametrize("variant, data, params", CASES)
def test_predictions_and_attributes_equal_scikit_learn(variant, data, params):
    ours, theirs, X, _, X_test = _both(variant, data, params)
    _assert_attributes_equal(ours, theirs, variant)
    for rows in (X, X_test):
        rows_sk = rows.astype(int) if variant == "categorical" else rows
        np.testing.assert_allclose(
            ours.predict_proba(rows), theirs.predict_proba(rows_sk), rtol=0, atol=1e-8
        )
        np.testing.assert_allclose(
            ours.predict_log_proba(rows), theirs.predict_log_proba(rows_sk), rtol=1e-8, atol=1e-8
        )
        np.testing.assert_array_equal(ours.predict(rows), theirs.predict(rows_sk))


@pytest.mark.parametrize("variant", list(PAIRS))
def test_partial_fit_over_chunks_equals_fit_and_scikit_learn(variant):
    data = {"gaussian": "gaussian", "multinomial": "counts", "bernoulli": "binary"}
    X, y, X_test = _random(data.get(variant, "categories"))
    ours_cls, theirs_cls = PAIRS[variant]
    X_sk = X.astype(int) if variant == "categorical" else X
    whole = ours_cls().fit(X, y)
    stream, theirs = ours_cls(), theirs_cls()
    for rows in np.array_split(np.arange(len(X)), 3):
        stream.partial_fit(X[rows], y[rows], classes=np.unique(y))
        theirs.partial_fit(X_sk[rows], y[rows], classes=np.unique(y))
    attributes = [a for a in ATTRIBUTES[variant] if a != "n_categories_"]
    for name in attributes:
        a, b = getattr(stream, name), getattr(whole, name)
        _assert_close(a, b, name, rtol=1e-12, atol=1e-14)
    X_test_sk = X_test.astype(int) if variant == "categorical" else X_test
    np.testing.assert_allclose(
        stream.predict_proba(X_test), whole.predict_proba(X_test), atol=1e-12
    )
    np.testing.assert_allclose(
        stream.predict_proba(X_test), theirs.predict_proba(X_test_sk), atol=1e-8
    )
    np.testing.assert_array_equal(stream.predict(X_test), theirs.predict(X_test_sk))


def test_gaussian_partial_fit_keeps_precision_far_from_the_origin():
    X, y, X_test = _random("gaussian")
    X, X_test = X + 1e6, X_test + 1e6
    whole = GaussianNaiveBayes().fit(X, y)
    stream = GaussianNaiveBayes()
    for rows in np.array_split(np.arange(len(X)), 5):
        stream.partial_fit(X[rows], y[rows], classes=np.unique(y))
    np.testing.assert_allclose(stream.var_, whole.var_, rtol=1e-9)
    np.testing.assert_allclose(whole.var_, sk.GaussianNB().fit(X, y).var_, rtol=1e-9)
    np.testing.assert_allclose(stream.predict_proba(X_test), whole.predict_proba(X_test), atol=1e-9)


def test_partial_fit_continues_a_fit_and_a_saved_model(tmp_path):
    X, y, X_test = _random("categories")
    first, second = np.arange(300), np.arange(300, len(X))
    whole = CategoricalNaiveBayes(min_categories=3).fit(X, y)
    model = CategoricalNaiveBayes(min_categories=3).fit(X[first], y[first])
    model.save(tmp_path / "nb")
    loaded = genzoo.load(tmp_path / "nb")
    for continued in (model, loaded):
        continued.partial_fit(X[second], y[second])
        np.testing.assert_allclose(continued.log_prob(X_test), whole.log_prob(X_test), rtol=1e-12)
        np.testing.assert_array_equal(continued.n_categories_, whole.n_categories_)


# --- exact likelihoods, computed independently with scipy


def _independent_joint(model, X: np.ndarray) -> np.ndarray:
    """log p(x, y=k), (n, K), from scipy's densities and the fitted parameters."""
    columns = []
    for k in range(len(model.classes_)):
        if isinstance(model, GaussianNaiveBayes):
            log_prior = np.log(model.class_prior_[k])
            dens = stats.norm.logpdf(X, model.theta_[k], np.sqrt(model.var_[k])).sum(1)
        elif isinstance(model, MultinomialNaiveBayes):
            log_prior = model.class_log_prior_[k]
            p = np.exp(model.feature_log_prob_[k])
            dens = stats.multinomial.logpmf(X, n=X.sum(1), p=p / p.sum())
        elif isinstance(model, BernoulliNaiveBayes):
            log_prior = model.class_log_prior_[k]
            dens = stats.bernoulli.logpmf(X, np.exp(model.feature_log_prob_[k])).sum(1)
        else:
            log_prior = model.class_log_prior_[k]
            codes = X.astype(int)
            dens = sum(model.feature_log_prob_[j][k, codes[:, j]] for j in range(X.shape[1]))
        columns.append(log_prior + dens)
    return np.stack(columns, axis=1)


@pytest.mark.parametrize(
    "model, data",
    [
        (GaussianNaiveBayes(), "gaussian"),
        (MultinomialNaiveBayes(alpha=0.5), "counts"),
        (BernoulliNaiveBayes(binarize=None), "binary"),
        (CategoricalNaiveBayes(), "categories"),
        (MultinomialNaiveBayes(), "digits_counts"),
    ],
    ids=["gaussian", "multinomial", "bernoulli", "categorical", "multinomial-digits"],
)
def test_log_prob_is_the_exact_marginal_and_joint(model, data):
    X, y, X_test = _data(data)
    if data == "digits_counts":
        X_test = X  # every pixel code of the training set
    model.fit(X, y)
    joint = _independent_joint(model, X_test)
    np.testing.assert_allclose(
        model.log_prob(X_test), logsumexp(joint, axis=1), rtol=1e-12, atol=1e-10
    )
    labels = model.predict(X_test)
    index = np.searchsorted(model.classes_, labels)
    np.testing.assert_allclose(
        model.log_prob(X_test, labels), joint[np.arange(len(X_test)), index], rtol=1e-12, atol=1e-10
    )
    np.testing.assert_allclose(model.score(X_test), np.mean(logsumexp(joint, axis=1)), rtol=1e-12)


def test_log_prob_sums_to_one_over_every_binary_vector():
    rng = np.random.default_rng(1)
    X, y = (rng.random((200, 4)) < 0.4).astype(float), rng.integers(0, 3, 200)
    model = BernoulliNaiveBayes(binarize=None).fit(X, y)
    grid = np.array(np.meshgrid(*[[0.0, 1.0]] * 4)).reshape(4, -1).T  # all 16 vectors
    assert np.exp(model.log_prob(grid)).sum() == pytest.approx(1.0, abs=1e-12)


# --- samples


def _frequency_tolerance(p, n):
    return 5 * np.sqrt(p * (1 - p) / n) + 1e-12


@pytest.mark.parametrize("variant", list(PAIRS))
def test_samples_follow_the_prior_and_the_class_parameters(variant):
    data = {"gaussian": "gaussian", "multinomial": "counts", "bernoulli": "binary"}
    X, y, _ = _random(data.get(variant, "categories"))
    model = PAIRS[variant][0]().fit(X, y)
    n = 20_000
    samples, labels = model.sample(n, random_state=0, return_labels=True)
    assert samples.shape == (n, X.shape[1])
    prior = getattr(model, "class_prior_", None)
    prior = np.exp(model.class_log_prior_) if prior is None else prior
    freq = np.array([(labels == c).mean() for c in model.classes_])
    assert (np.abs(freq - prior) < _frequency_tolerance(prior, n)).all()
    for k, c in enumerate(model.classes_):
        rows = samples[labels == c]
        m = len(rows)
        if variant == "gaussian":
            mean, var = model.theta_[k], model.var_[k]
            assert (np.abs(rows.mean(0) - mean) < 5 * np.sqrt(var / m)).all()
            assert (np.abs(rows.var(0) - var) < 5 * var * np.sqrt(2 / m)).all()
        elif variant == "multinomial":
            # A Poisson total split multinomially: each count is Poisson(total * p_j).
            rate = model.feature_count_[k].sum() / model.class_count_[k]
            mean = rate * np.exp(model.feature_log_prob_[k])
            assert (np.abs(rows.mean(0) - mean) < 5 * np.sqrt(mean / m)).all()
            assert (np.abs(rows.var(0) - mean) < 5 * mean * np.sqrt(2 / m + 1 / (m * mean))).all()
            assert (rows == np.round(rows)).all() and (rows >= 0).all()
        elif variant == "bernoulli":
            p = np.exp(model.feature_log_prob_[k])
            assert set(np.unique(rows)) <= {0.0, 1.0}
            assert (np.abs(rows.mean(0) - p) < _frequency_tolerance(p, m)).all()
        else:
            for j, log_prob in enumerate(model.feature_log_prob_):
                p = np.exp(log_prob[k])
                counts = np.bincount(rows[:, j].astype(int), minlength=len(p)) / m
                assert len(counts) == len(p)
                assert (np.abs(counts - p) < _frequency_tolerance(p, m)).all()


@pytest.mark.parametrize("variant", list(PAIRS))
def test_samples_of_a_given_class_are_predicted_as_it(variant):
    data = {
        "gaussian": "digits",
        "multinomial": "digits_counts",
        "bernoulli": "digits_binary",
        "categorical": "digits_counts",
    }[variant]
    X, y, _ = _digits(data)
    params = {"min_categories": 17} if variant == "categorical" else {}
    model = PAIRS[variant][0](**params).fit(X, y)
    for label in (0, 7):
        samples, labels = model.sample(300, y=label, random_state=1, return_labels=True)
        assert (labels == label).all()
        assert (model.predict(samples) == label).mean() > 0.8
    mixed = model.sample(4, y=[1, 2, 1, 2], random_state=2)
    assert mixed.shape == (4, 64)


# --- distributed fit: statistics are summed over processes


def _fit_shard(rank: int, world: int, init_file: str, out: str):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    torch.set_num_threads(1)
    results = {}
    for variant, data in [("gaussian", "gaussian"), ("multinomial", "counts"),
                          ("bernoulli", "binary"), ("categorical", "categories")]:  # fmt: skip
        X, y, X_test = _random(data)
        shard = np.array_split(np.arange(len(X)), world)[rank]
        model = PAIRS[variant][0](device="cpu").fit(X[shard], y[shard])
        results[variant] = model.predict_log_proba(X_test)
    np.savez(f"{out}/rank{rank}.npz", **results)
    dist.barrier()
    dist.destroy_process_group()


def test_two_processes_each_with_half_the_data_equal_one_process(tmp_path):
    mp.spawn(_fit_shard, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    for rank in range(2):
        result = np.load(tmp_path / f"rank{rank}.npz")
        for variant, data in [("gaussian", "gaussian"), ("multinomial", "counts"),
                              ("bernoulli", "binary"), ("categorical", "categories")]:  # fmt: skip
            X, y, X_test = _random(data)
            single = PAIRS[variant][0]().fit(X, y)
            np.testing.assert_allclose(
                result[variant], single.predict_log_proba(X_test), rtol=1e-10, atol=1e-10
            )


# --- bad input


def test_unseen_category_names_the_feature_and_value():
    X, y, _ = _random("categories")
    model = CategoricalNaiveBayes().fit(X, y)
    bad = X[:3].copy()
    bad[1, 2] = 9
    for method in (model.predict, model.predict_proba, model.log_prob):
        with pytest.raises(ValueError, match=r"category 9 in feature 2.*min_categories"):
            method(bad)
    wide = CategoricalNaiveBayes(min_categories=10).fit(X, y)
    assert np.isfinite(wide.log_prob(bad)).all()


@pytest.mark.parametrize(
    "model, X, message",
    [
        (MultinomialNaiveBayes(), [[1.0, -2.0], [0.0, 1.0]], "negative"),
        (CategoricalNaiveBayes(), [[1.0, -1.0], [0.0, 1.0]], "negative"),
        (CategoricalNaiveBayes(), [[1.0, 1.5], [0.0, 1.0]], "integer category codes; feature 1"),
        (BernoulliNaiveBayes(binarize=None), [[1.0, 0.5], [0.0, 1.0]], "only 0 and 1"),
        (GaussianNaiveBayes(), [[1.0, np.nan], [0.0, 1.0]], "NaN"),
        (MultinomialNaiveBayes(), [[1.0, np.inf], [0.0, 1.0]], "infinity"),
        (GaussianNaiveBayes(), np.zeros((0, 2)), "empty"),
        (GaussianNaiveBayes(), [["a", "b"], ["c", "d"]], "numeric"),
        (MultinomialNaiveBayes(), [[1.0, 0.5], [0.0, 1.0]], "non-integer count 0.5"),
        (CategoricalNaiveBayes(), [[1.0, np.inf], [0.0, 1.0]], "infinity"),
        (CategoricalNaiveBayes(), [[1.0, 1e300], [0.0, 1.0]], "magnitude|codes above"),
        (CategoricalNaiveBayes(), [[1.0, 2.0**40], [0.0, 1.0]], "codes above"),
    ],
)
def test_bad_training_input(model, X, message):
    with pytest.raises(ValueError, match=message):
        model.fit(X, [0, 1][: len(X)])


def test_bad_input_after_fitting():
    X, y, _ = _random("counts")
    model = MultinomialNaiveBayes().fit(X, y)
    with pytest.raises(ValueError, match="features"):
        model.predict(X[:, :3])
    with pytest.raises(ValueError, match="negative"):
        model.log_prob(-X[:2])
    with pytest.raises(ValueError, match="unseen"):
        model.log_prob(X[:2], ["ant", "eel"])
    with pytest.raises(ValueError, match="only one class"):
        MultinomialNaiveBayes().fit(X, np.full(len(X), "ant"))


@pytest.mark.parametrize("kind", ["gaussian", "counts", "binary"])
@pytest.mark.parametrize("value, message", [(np.nan, "NaN"), (np.inf, "infinity")])
def test_predictions_refuse_non_finite_input(kind, value, message):
    # predict checks finiteness after the product, so this checks that no bad row slips by.
    X, y, _ = _random(kind)
    model = {"gaussian": GaussianNaiveBayes, "counts": MultinomialNaiveBayes,
             "binary": lambda: BernoulliNaiveBayes(binarize=0.5)}[kind]().fit(X, y)  # fmt: skip
    bad = X[:5].copy()
    bad[3, 1] = value
    for method in (model.predict, model.predict_proba, model.predict_log_proba):
        with pytest.raises(ValueError, match=message):
            method(bad)


def test_partial_fit_needs_classes_and_keeps_them():
    X, y, _ = _random("binary")
    with pytest.raises(ValueError, match="classes must be passed"):
        BernoulliNaiveBayes().partial_fit(X, y)
    model = BernoulliNaiveBayes().partial_fit(X[:10], y[:10], classes=["ant", "bee", "cat", "dog"])
    with pytest.raises(ValueError, match="unseen"):
        model.partial_fit(X[:2], ["ant", "eel"])
    with pytest.raises(ValueError, match="differs from classes_"):
        model.partial_fit(X[:2], y[:2], classes=["ant", "bee"])
    with pytest.raises(ValueError, match="features"):
        model.partial_fit(X[:2, :3], y[:2])


@pytest.mark.parametrize(
    "model, message",
    [
        (GaussianNaiveBayes(priors=[0.5, 0.5]), "priors has 2 values"),
        (GaussianNaiveBayes(priors=[0.5, 0.2, 0.2, 0.2]), "sum to 1"),
        (MultinomialNaiveBayes(class_prior=[1.0]), "class_prior has 1 values"),
        (MultinomialNaiveBayes(alpha=[1.0, 2.0]), "one value per feature"),
        (MultinomialNaiveBayes(alpha=-1.0), "alpha"),
        (BernoulliNaiveBayes(binarize="yes"), "binarize"),
        (CategoricalNaiveBayes(min_categories=[2, 3]), "min_categories"),
        (CategoricalNaiveBayes(min_categories=2.5), "min_categories"),
        (GaussianNaiveBayes(var_smoothing=-1.0), "var_smoothing"),
    ],
)
def test_bad_parameters_are_named(model, message):
    X, y, _ = _random("categories")
    with pytest.raises(ValueError, match=message):
        model.fit(X, y)


def test_zero_smoothing_that_would_give_nan_is_refused():
    X = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 3.0], [0.0, 1.0]])
    y = [0, 0, 1, 1]
    with pytest.raises(ValueError, match="alpha > 0"):
        MultinomialNaiveBayes(alpha=0.0).fit(X, y)
    with pytest.raises(ValueError, match="alpha > 0"):
        BernoulliNaiveBayes(alpha=0.0).fit(X, y)
    with pytest.warns(UserWarning, match="alpha too small"):
        MultinomialNaiveBayes(alpha=0.0, force_alpha=False).fit(X, y)
    with pytest.raises(ValueError, match="var_smoothing > 0"):
        GaussianNaiveBayes(var_smoothing=0.0).fit(X, y)


@pytest.mark.parametrize("variant", sorted(PAIRS))
def test_methods_before_fit_raise_not_fitted(variant):
    from sklearn.exceptions import NotFittedError

    model = PAIRS[variant][0]()
    for method in ("predict", "predict_proba", "predict_log_proba", "predict_joint_log_proba"):
        with pytest.raises(NotFittedError):
            getattr(model, method)(np.zeros((2, 3)))


def test_mixed_label_types_are_named():
    X = np.abs(np.random.default_rng(0).normal(size=(4, 2))).round()
    with pytest.raises(ValueError, match="y mixes label types"):
        MultinomialNaiveBayes().fit(X, np.array([1, "a", 1, "a"], dtype=object))
    model = MultinomialNaiveBayes().fit(X, ["a", "b", "a", "b"])
    with pytest.raises(ValueError, match="unseen"):
        model.log_prob(X, [1, 2, 1, 2])


# --- the lean paths: one blocked count check, host argmax, stacked tables


@pytest.mark.parametrize(
    "value, ok",
    [
        (3.0, True),
        (0.0, True),
        (-1.0, False),
        (0.5, False),
        (np.nan, False),
        (np.inf, False),
        (1e200, False),
    ],
)
def test_the_blocked_count_check_refuses_every_kind_of_bad_value(value, ok):
    from genzoo.bayesnet._naive_bayes_math import counts_in_range

    X = np.ones((70_000, 3))  # several blocks; the bad value sits in the last
    X[-1, 2] = value
    assert counts_in_range(X, 1e148) is ok


def test_a_feature_count_mismatch_is_named_by_the_lean_check():
    X, y, _ = _random("counts")
    model = MultinomialNaiveBayes().fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features, but MultinomialNaiveBayes"):
        model.predict(X[:, :3])


def test_predict_takes_the_first_of_tied_classes_as_scikit_learn():
    X = np.array([[1.0, 1.0], [2.0, 2.0], [1.0, 1.0], [2.0, 2.0]])
    y = np.array([0, 0, 1, 1])  # both classes identical: every row is a tie
    ours, theirs = MultinomialNaiveBayes().fit(X, y), sk.MultinomialNB().fit(X, y)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    np.testing.assert_array_equal(ours.predict(X), np.zeros(4))


def test_padded_tables_of_equal_widths_equal_the_general_padding():
    from genzoo.bayesnet._naive_bayes_math import padded

    rng = np.random.default_rng(3)
    tables = [rng.normal(size=(4, 5)) for _ in range(6)]
    widths = np.full(6, 5)
    np.testing.assert_array_equal(padded(tables, widths), np.stack(tables, axis=1))
    ragged = tables[:5] + [rng.normal(size=(4, 2))]
    out = padded(ragged, np.array([5, 5, 5, 5, 5, 2]))
    np.testing.assert_array_equal(out[:, 5, :2], ragged[5])
    np.testing.assert_array_equal(out[:, 5, 2:], 0.0)
