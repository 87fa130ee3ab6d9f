"""Known answers for the Bernoulli mixture: brute-force densities, recovered parameters, digits."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from genzoo.data import load
from genzoo.mixture.bernoulli import (
    BernoulliMixture,
    component_log_prob,
    e_step,
    log_prior,
    m_step,
)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

TRUE_WEIGHTS = np.array([0.5, 0.3, 0.2])


def _true_means(d: int = 15) -> np.ndarray:
    """Three distinct components: on/off blocks at 0.85 / 0.1, plus a graded one."""
    means = np.full((3, d), 0.1)
    means[0, : d // 3] = 0.85
    means[1, d // 3 : 2 * d // 3] = 0.85
    means[2] = np.linspace(0.2, 0.8, d)
    return means


def _draw(n: int, weights, means, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = rng.choice(len(weights), size=n, p=weights)
    X = (rng.random((n, means.shape[1])) < means[labels]).astype(np.float64)
    return X, labels


def _brute_log_prob(X, weights, means) -> np.ndarray:
    """log sum_k pi_k prod_j p(x_j | k), by plain loops over rows, components and features."""
    out = []
    for x in X:
        total = 0.0
        for w, mu in zip(weights, means, strict=True):
            p = w
            for xj, mj in zip(x, mu, strict=True):
                p *= mj if xj == 1 else 1 - mj
            total += p
        out.append(math.log(total) if total > 0 else -math.inf)
    return np.array(out)


def _best_permutation(estimated: np.ndarray, true: np.ndarray) -> tuple[int, ...]:
    return min(
        itertools.permutations(range(len(true))),
        key=lambda perm: np.abs(estimated[list(perm)] - true).sum(),
    )


@pytest.fixture(scope="module")
def three_components():
    X, labels = _draw(3000, TRUE_WEIGHTS, _true_means())
    return X, labels


# --- densities


def test_log_prob_equals_brute_force():
    X, _ = _draw(400, TRUE_WEIGHTS, _true_means(8), seed=1)
    model = BernoulliMixture(3, random_state=0).fit(X)
    expected = _brute_log_prob(X[:50], model.weights_, model.means_)
    np.testing.assert_allclose(model.log_prob(X[:50]), expected, rtol=1e-12)


def test_component_log_prob_with_probabilities_zero_and_one():
    means = np.array([[0.0, 0.3, 1.0], [0.5, 0.5, 0.5]])
    X = np.array(list(itertools.product([0.0, 1.0], repeat=3)))
    got = component_log_prob(torch.as_tensor(X), torch.as_tensor(means)).numpy()
    for k in range(2):
        expected = _brute_log_prob(X, [1.0], means[k : k + 1])
        np.testing.assert_array_equal(np.isinf(got[:, k]), np.isinf(expected))
        finite = np.isfinite(expected)
        np.testing.assert_allclose(got[finite, k], expected[finite], rtol=1e-12)
    assert not np.isnan(got).any()


def test_probabilities_of_all_binary_vectors_sum_to_one():
    X, _ = _draw(300, TRUE_WEIGHTS, _true_means(6), seed=2)
    model = BernoulliMixture(4, random_state=0).fit(X)
    every = np.array(list(itertools.product([0.0, 1.0], repeat=6)))
    assert np.exp(model.log_prob(every)).sum() == pytest.approx(1.0, abs=1e-12)


# --- fitting


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
def test_parameters_recovered_up_to_permutation(three_components, init_params):
    X, _ = three_components
    model = BernoulliMixture(3, init_params=init_params, n_init=3, tol=1e-6, random_state=0)
    model.fit(X)
    means = _true_means()
    perm = list(_best_permutation(model.means_, means))
    # Standard errors: sqrt(p (1 - p) / n_k) <= 0.5 / sqrt(600) ~ 0.02 for the means, ~0.01
    # for the weights; five of them bound every one of the 48 estimates.
    np.testing.assert_allclose(model.means_[perm], means, atol=0.1)
    assert np.abs(model.means_[perm] - means).mean() < 0.02
    np.testing.assert_allclose(model.weights_[perm], TRUE_WEIGHTS, atol=0.05)
    assert model.converged_


def test_predict_recovers_the_labels(three_components):
    X, labels = three_components
    model = BernoulliMixture(3, n_init=3, random_state=0).fit(X)
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-12)
    predicted = model.predict(X)
    np.testing.assert_array_equal(predicted, proba.argmax(1))
    perm = _best_permutation(model.means_, _true_means())
    mapping = np.argsort(perm)  # fitted component -> true component
    # The Bayes error of these components is about 3 %.
    assert (mapping[predicted] == labels).mean() > 0.93


def test_one_component_without_smoothing_gives_the_column_means(three_components):
    X, _ = three_components
    model = BernoulliMixture(1, alpha=0.0).fit(X)
    np.testing.assert_allclose(model.means_[0], X.mean(0), rtol=1e-12)
    np.testing.assert_allclose(model.weights_, [1.0])


def test_one_component_with_smoothing_gives_additive_smoothing(three_components):
    X, _ = three_components
    model = BernoulliMixture(1, alpha=2.0).fit(X)
    np.testing.assert_allclose(model.means_[0], (X.sum(0) + 2.0) / (len(X) + 4.0), rtol=1e-12)


def test_em_objective_never_decreases(three_components):
    X = torch.as_tensor(three_components[0][:600])
    rng = np.random.default_rng(3)
    params = {
        "weights": torch.as_tensor(rng.dirichlet(np.ones(4))),
        "means": torch.as_tensor(rng.uniform(0.2, 0.8, (4, X.shape[1]))),
    }
    for alpha in (0.0, 0.5):
        current, objectives = dict(params), []
        for _ in range(40):
            stats, loglik = e_step(X, current)
            objectives.append(float(loglik + log_prior(current["means"], alpha)))
            current = m_step(stats, alpha)
        assert (np.diff(objectives) >= -1e-9 * abs(objectives[0])).all(), alpha
        assert objectives[-1] > objectives[0] + 1.0


def test_fitted_lower_bounds_never_decrease(three_components):
    X, _ = three_components
    model = BernoulliMixture(4, alpha=0.0, tol=0.0, max_iter=30, random_state=1).fit(X)
    assert len(model.lower_bounds_) == 30
    assert (np.diff(model.lower_bounds_) >= -1e-12).all()


def test_warm_start_continues_from_the_fit(three_components):
    X, _ = three_components
    model = BernoulliMixture(3, max_iter=3, tol=0.0, warm_start=True, random_state=0).fit(X)
    previous = model.lower_bounds_[-1]
    model.fit(X)
    assert model.lower_bounds_[0] >= previous - 1e-12


def test_zero_probability_gives_minus_infinity_not_nan():
    X = np.array([[0, 1, 1], [0, 0, 1], [0, 1, 0], [0, 0, 0]], dtype=float)
    model = BernoulliMixture(2, alpha=0.0, random_state=0).fit(X)
    out = model.log_prob([[1, 0, 0], [0, 1, 1]])
    assert out[0] == -np.inf and np.isfinite(out[1])


# --- sampling and criteria


def test_samples_follow_the_fitted_distribution(three_components):
    X, _ = three_components
    model = BernoulliMixture(3, random_state=0).fit(X)
    n = 20000
    samples, labels = model.sample(n, random_state=0, return_labels=True)
    assert set(np.unique(samples)) <= {0.0, 1.0}
    freq = np.bincount(labels, minlength=3) / n
    np.testing.assert_allclose(freq, model.weights_, atol=5 * math.sqrt(0.25 / n))
    for k in range(3):
        rows = samples[labels == k]
        tol = 5 * math.sqrt(0.25 / len(rows))
        np.testing.assert_allclose(rows.mean(0), model.means_[k], atol=tol)


def test_bic_and_aic_formulas(three_components):
    X, _ = three_components
    model = BernoulliMixture(3, random_state=0).fit(X)
    loglik = model.log_prob(X).sum()
    n_params = 3 * X.shape[1] + 2
    assert model.bic(X) == pytest.approx(-2 * loglik + n_params * math.log(len(X)), rel=1e-12)
    assert model.aic(X) == pytest.approx(-2 * loglik + 2 * n_params, rel=1e-12)
    one = BernoulliMixture(1).fit(X)
    assert model.bic(X) < one.bic(X)


# --- binarised digits against independent pixels


def test_digits_mixture_beats_independent_pixels():
    data = load("digits_binary")
    X_train, X_test = data.X_train, data.X_test
    alpha = 0.1
    # Independent pixels, computed here: p_j = (count_j + alpha) / (n + 2 alpha).
    p = (X_train.sum(0) + alpha) / (len(X_train) + 2 * alpha)
    baseline = np.mean(X_test @ np.log(p) + (1 - X_test) @ np.log1p(-p))
    one = BernoulliMixture(1, alpha=alpha).fit(X_train)
    assert one.score(X_test) == pytest.approx(baseline, rel=1e-12)
    scores = {k: BernoulliMixture(k, alpha=alpha, random_state=0).fit(X_train).score(X_test)
              for k in (10, 20)}  # fmt: skip
    # Measured: baseline -25.21, K=10 -19.95, K=20 -18.41 nats per digit.
    assert scores[10] > baseline + 4.0
    assert scores[20] > scores[10] + 0.5


# --- bad input


def test_non_binary_input_is_refused_unless_binarize_is_set():
    X = np.array([[0.0, 0.5, 1.0], [1.0, 0.0, 0.2], [0.0, 1.0, 0.7]])
    with pytest.raises(ValueError, match="only 0 and 1.*binarize"):
        BernoulliMixture(1).fit(X)
    model = BernoulliMixture(1, binarize=0.4, alpha=0.0).fit(X)
    np.testing.assert_allclose(model.means_[0], (X > 0.4).mean(0))
    np.testing.assert_allclose(model.log_prob(X), model.log_prob((X > 0.4).astype(float)))
    fitted = BernoulliMixture(1).fit((X > 0.4).astype(float))
    with pytest.raises(ValueError, match="only 0 and 1"):
        fitted.log_prob(X)


def test_nan_is_refused_even_when_binarising():
    X = np.array([[0.0, 1.0], [np.nan, 0.0]])
    with pytest.raises(ValueError, match="NaN"):
        BernoulliMixture(1, binarize=0.5).fit(X)


def test_bad_arguments_are_named():
    X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    with pytest.raises(ValueError, match="n_components"):
        BernoulliMixture(0).fit(X)
    with pytest.raises(ValueError, match="n_components=4"):
        BernoulliMixture(4).fit(X)
    with pytest.raises(ValueError, match="alpha"):
        BernoulliMixture(1, alpha=-1.0).fit(X)
    with pytest.raises(ValueError, match="init_params"):
        BernoulliMixture(1, init_params="kmedians").fit(X)
    model = BernoulliMixture(2, random_state=0).fit(X)
    with pytest.raises(ValueError, match="features"):
        model.log_prob(np.ones((2, 3)))
    with pytest.raises(ValueError, match="warm_start"):
        BernoulliMixture(2, warm_start=True).fit(X).set_params(n_components=3).fit(X)
