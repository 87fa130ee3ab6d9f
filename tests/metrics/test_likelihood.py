"""The likelihood protocol: known answers for dequantized scores, bits per dimension and the
refusal to compare a density fitted to raw levels."""

import math
import warnings

import numpy as np
import pytest
from scipy.stats import norm

from genzoo.bayesnet import CategoricalNaiveBayes, GaussianNaiveBayes
from genzoo.data import load
from genzoo.metrics.likelihood import (
    DequantizationWarning,
    bits_per_dim,
    combined_kind,
    dequantize,
    dequantized_log_likelihood,
    quantize,
    score_log_likelihood,
)


class _Model:
    """A model reduced to what the protocol reads: a log_prob, its kind and its support."""

    def __init__(self, log_prob, support, kind="exact"):
        self.log_prob = log_prob
        self.likelihood_kind = kind
        self._support = support

    def likelihood_support(self, X=None):
        return self._support


L, D = 17, 64


@pytest.fixture(scope="module")
def digits():
    return load("digits").as_vectors()


# --- known answers


def test_a_model_uniform_over_the_levels_scores_d_log_l_by_both_routes(digits):
    uniform_discrete = _Model(lambda X: np.full(len(X), -D * math.log(L)), "discrete")
    # The uniform density on [0, 1)^D is 1 everywhere: log-density 0.
    uniform_density = _Model(lambda Y: np.zeros(len(Y)), "continuous")
    for model in (uniform_discrete, uniform_density):
        score = score_log_likelihood(
            model, digits.X_test, levels=L, level_step=digits.level_step, n_draws=3
        )
        np.testing.assert_allclose(score.log_likelihood, -D * math.log(L), rtol=1e-12)
        assert score.bits_per_dim == pytest.approx(math.log2(L), rel=1e-12)
    assert score.dequantized and score.kind == "lower_bound"


def test_a_density_constant_on_the_cells_scores_exactly_the_discrete_model_it_encodes():
    counts = load("digits_counts")
    discrete = CategoricalNaiveBayes(min_categories=L).fit(counts.X_train, counts.y_train)

    def cell_density(Y):
        # p(y) = P(k(y)) L^D: the discrete model spread evenly over each cell.
        return discrete.log_prob(quantize(Y, L)) + D * math.log(L)

    exact = discrete.log_prob(counts.X_test)
    for n_draws in (1, 4):
        bound = dequantized_log_likelihood(
            cell_density, counts.X_test, L, n_draws=n_draws, random_state=n_draws
        )
        np.testing.assert_allclose(bound, exact, rtol=1e-10)


def test_the_dequantized_score_is_the_expected_log_density_and_bounds_the_cell_mass():
    # A Gaussian density on one dimension: P(k) is its mass on the cell [k/L, (k+1)/L), and
    # E_u[log p((k + u) / L)] has a closed form: u uniform makes E[(y - loc)^2] a cubic.
    loc, scale, levels = 0.45, 0.2, 8
    a = np.arange(levels) / levels
    b = a + 1 / levels
    exact = np.log(norm.cdf(b, loc, scale) - norm.cdf(a, loc, scale))
    second_moment = ((b - loc) ** 3 - (a - loc) ** 3) / (3 * (b - a))
    expected = -0.5 * np.log(2 * np.pi * scale**2) - second_moment / (2 * scale**2) - np.log(levels)
    assert np.all(expected < exact)  # Jensen's inequality
    assert np.all(exact - expected < 0.2)  # and a close bound on narrow cells
    bound = dequantized_log_likelihood(
        lambda Y: norm.logpdf(Y[:, 0], loc, scale),
        np.arange(levels, dtype=np.float64)[:, None],
        levels,
        n_draws=1000,
        random_state=0,
    )
    np.testing.assert_allclose(bound, expected, atol=0.02)  # Monte Carlo over 1000 draws


def test_a_density_fitted_to_raw_levels_is_warned_about_and_a_dequantized_fit_is_not(digits):
    raw = GaussianNaiveBayes().fit(digits.X_train, digits.y_train)
    with pytest.warns(DequantizationWarning, match="fitted to the raw discrete values"):
        score = score_log_likelihood(raw, digits.X_test, levels=L, level_step=digits.level_step)
    assert score.note and "not comparable" in score.note
    fair = GaussianNaiveBayes().fit(
        dequantize(digits.level_indices("train"), L, random_state=0), digits.y_train
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", DequantizationWarning)
        score = score_log_likelihood(fair, digits.X_test, levels=L, level_step=digits.level_step)
    assert score.note is None and score.kind == "lower_bound"
    # Comparable with the discrete model's 2.25 bits per pixel: the same order, not 10^5.
    assert 2.0 < score.bits_per_dim < 4.5


def test_densities_of_continuous_data_are_not_bits_per_dimension():
    moons = load("moons", n_samples=200)
    model = _Model(lambda X: np.full(len(X), -1.5), "continuous")
    score = score_log_likelihood(model, moons.X_test, levels=None)
    assert not score.discrete and score.bits_per_dim is None and score.kind == "exact"


def test_a_discrete_model_is_scored_on_the_data_as_they_are(digits):
    seen = []
    model = _Model(lambda X: seen.append(np.array(X)) or np.full(len(X), -3.0), "discrete")
    score = score_log_likelihood(model, digits.X_test, levels=L, level_step=digits.level_step)
    np.testing.assert_array_equal(seen[0], digits.X_test)
    assert not score.dequantized and score.kind == "exact" and score.mean == -3.0


# --- pieces


@pytest.mark.parametrize(
    ("kind", "dequantized", "expected"),
    [
        ("exact", True, "lower_bound"),
        ("exact", False, "exact"),
        ("lower_bound", True, "lower_bound"),
        ("estimate", True, "estimate"),
    ],
)
def test_kinds_combine_with_the_protocol(kind, dequantized, expected):
    assert combined_kind(kind, dequantized=dequantized) == expected


def test_dequantize_fills_each_cell_and_quantize_undoes_it():
    k = np.repeat(np.arange(L, dtype=np.float64), 500)[:, None]
    y = dequantize(k, L, random_state=0)
    assert y.min() >= 0 and y.max() < 1
    np.testing.assert_array_equal(quantize(y, L), k)
    within = y[:, 0] * L - k[:, 0]  # u, uniform on [0, 1) in every cell
    assert abs(within.mean() - 0.5) < 0.02 and abs(within.var() - 1 / 12) < 0.01
    np.testing.assert_array_equal(
        dequantize(k, L, random_state=3), dequantize(k, L, random_state=3)
    )


def test_bits_per_dim_of_a_uniform_byte_is_eight():
    assert bits_per_dim(-784 * math.log(256), 784) == pytest.approx(8.0)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: dequantize([[0, 17]], 17), r"whole numbers in \[0, 16\]"),
        (lambda: dequantize([[0.5]], 17), "whole numbers"),
        (lambda: dequantize([[0]], 1), "levels must be an int in"),
        (lambda: dequantize([[0]], True), "levels must be an int"),
        (lambda: dequantize(np.zeros((0, 2)), 4), "empty"),
        (lambda: dequantized_log_likelihood(np.zeros, [[0]], 2, n_draws=0), "n_draws"),
        (lambda: quantize([[np.nan]], 4), "NaN"),
        (lambda: bits_per_dim(-1.0, 0), "n_dims"),
        (lambda: combined_kind(None, dequantized=True), "model_kind"),
    ],
)
def test_bad_arguments_are_refused_with_a_clear_message(call, message):
    with pytest.raises(ValueError, match=message):
        call()
