"""Known answers for the sample-quality metrics."""

import math

import numpy as np
import pytest
import torch
from scipy.spatial.distance import pdist
from scipy.stats import wasserstein_distance

from genzoo.metrics import memorization_ratio, mmd, sample_quality, sliced_wasserstein


def _brute_force_mmd(X: np.ndarray, Y: np.ndarray, h: float) -> float:
    """Unbiased MMD^2 written as the double sums of Gretton et al. (2012), eq. 3."""

    def k(a, b):
        return math.exp(-float(np.sum((a - b) ** 2)) / (2.0 * h * h))

    m, n = len(X), len(Y)
    xx = sum(k(X[i], X[j]) for i in range(m) for j in range(m) if i != j)
    yy = sum(k(Y[i], Y[j]) for i in range(n) for j in range(n) if i != j)
    xy = sum(k(x, y) for x in X for y in Y)
    return xx / (m * (m - 1)) + yy / (n * (n - 1)) - 2.0 * xy / (m * n)


# --- mmd


def test_mmd_matches_brute_force_with_fixed_bandwidth():
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(7, 3)), rng.normal(0.5, 1.5, size=(9, 3))
    assert mmd(X, Y, bandwidth=1.3) == pytest.approx(_brute_force_mmd(X, Y, 1.3), abs=1e-10)


# 16 pooled points give an even number of pairs (120), 15 an odd one (105).
@pytest.mark.parametrize("m", [7, 6])
def test_mmd_matches_brute_force_with_median_heuristic(m):
    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(m, 2)), rng.normal(1.0, 1.0, size=(9, 2))
    h = float(np.median(pdist(np.vstack([X, Y]))))
    assert mmd(X, Y) == pytest.approx(_brute_force_mmd(X, Y, h), abs=1e-10)


def test_mmd_is_small_for_one_distribution_and_large_for_a_shift():
    n = 1000
    rng = np.random.default_rng(2)
    X, Y, Z = rng.normal(size=(3, n, 2))
    # Under the null the U-statistic is degenerate: its variance is 2 E[g^2] / (n (n - 1)) with
    # |g| <= 2 for a kernel in [0, 1], so its standard deviation is at most sqrt(8) / n.
    tol = 5.0 * math.sqrt(8.0) / n
    assert abs(mmd(X, Y)) < tol
    assert mmd(X, Z + 1.0) > 5.0 * tol


def test_mmd_is_symmetric():
    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(40, 3)), rng.normal(0.3, 1.0, size=(30, 3))
    assert mmd(X, Y) == pytest.approx(mmd(Y, X), rel=1e-12)
    assert mmd(X, Y, bandwidth=0.7) == pytest.approx(mmd(Y, X, bandwidth=0.7), rel=1e-12)


def test_mmd_subsampling_is_seeded_and_a_no_op_on_small_inputs():
    rng = np.random.default_rng(4)
    X, Y = rng.normal(size=(2, 60, 2))
    assert mmd(X, Y, max_samples=30, random_state=5) == mmd(X, Y, max_samples=30, random_state=5)
    assert mmd(X, Y, max_samples=60) == mmd(X, Y, max_samples=10**6)


# --- sliced_wasserstein


@pytest.mark.parametrize("sizes", [(50, 50), (37, 53)])
def test_sliced_wasserstein_in_one_dimension_is_scipy_wasserstein(sizes):
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=sizes[0]), rng.normal(0.3, 2.0, size=sizes[1])
    expected = wasserstein_distance(x, y)
    assert sliced_wasserstein(x[:, None], y[:, None], p=1) == pytest.approx(expected, abs=1e-10)


@pytest.mark.parametrize("p", [2, 3])
@pytest.mark.parametrize("sizes", [(40, 40), (12, 18)])
def test_sliced_wasserstein_in_one_dimension_matches_sorted_samples(sizes, p):
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=sizes[0]), rng.exponential(size=sizes[1])
    # Repeating each point of x len(y) times and each of y len(x) times leaves both empirical
    # distributions unchanged and makes the sizes equal, so W_p^p is a mean over sorted pairs.
    x_rep, y_rep = np.sort(np.repeat(x, len(y))), np.sort(np.repeat(y, len(x)))
    expected = np.mean(np.abs(x_rep - y_rep) ** p) ** (1.0 / p)
    assert sliced_wasserstein(x, y, p=p) == pytest.approx(expected, abs=1e-10)


def test_sliced_wasserstein_of_shifted_gaussians_is_shift_over_dimension():
    n, d, n_proj = 2000, 4, 2000
    shift = np.array([3.0, 0.0, 0.0, 0.0])
    rng = np.random.default_rng(7)
    X, Y = rng.normal(size=(n, d)), rng.normal(size=(n, d)) + shift
    # For u uniform on the sphere E[(u.m)^2] = |m|^2 / d = 2.25. Noise: (u.m)^2 = 9 u_1^2 has
    # standard deviation 9 sqrt(2 (d - 1) / (d^2 (d + 2))) = 2.25, over n_proj directions 0.05;
    # the sample mean difference e ~ N(0, 2 I / n) adds 2 m.e / d, standard deviation 0.047.
    # Equal distributions give W_2^2 of order 1 / n, a small positive bias.
    sigma = math.hypot(2.25 / math.sqrt(n_proj), 2.0 * 3.0 * math.sqrt(2.0 / n) / d)
    sw = sliced_wasserstein(X, Y, n_projections=n_proj, p=2)
    assert sw**2 == pytest.approx(9.0 / d, abs=4.0 * sigma + 0.01)


def test_sliced_wasserstein_of_identical_samples_is_zero():
    X = np.random.default_rng(8).normal(size=(100, 5))
    assert sliced_wasserstein(X, X) == pytest.approx(0.0, abs=1e-12)
    assert sliced_wasserstein(X, X, p=1) == pytest.approx(0.0, abs=1e-12)


# --- memorization_ratio


def test_memorization_ratio_of_copies_is_one():
    X_train = np.random.default_rng(9).normal(size=(300, 3))
    assert memorization_ratio(X_train[:100], X_train) == 1.0


def test_memorization_ratio_of_copies_is_one_with_a_subsampled_training_set():
    # More training points than max_samples: every copy must still find its original.
    X_train = np.random.default_rng(10).normal(size=(600, 3))
    assert memorization_ratio(X_train[::2], X_train, max_samples=100) == 1.0


def test_memorization_ratio_of_fresh_draws_is_about_one_half():
    n, n_train = 1000, 1000
    rng = np.random.default_rng(11)
    samples, X_train = rng.normal(size=(n, 2)), rng.normal(size=(n_train, 2))
    # Binomial noise of the count plus the noise of the median threshold's quantile level.
    tol = 4.0 * math.sqrt(0.25 / n + 0.25 / n_train)
    assert memorization_ratio(samples, X_train) == pytest.approx(0.5, abs=tol)


def test_memorization_ratio_of_far_samples_is_zero():
    rng = np.random.default_rng(12)
    samples, X_train = rng.normal(size=(100, 3)) + 50.0, rng.normal(size=(200, 3))
    assert memorization_ratio(samples, X_train) == 0.0


# --- sample_quality


def test_sample_quality_reports_each_metric():
    rng = np.random.default_rng(13)
    samples, X_test, X_train = rng.normal(size=(3, 80, 2))
    scores = sample_quality(samples, X_test, X_train, random_state=3)
    assert scores == {
        "mmd": mmd(samples, X_test, random_state=3),
        "sliced_wasserstein": sliced_wasserstein(samples, X_test, random_state=3),
        "memorization": memorization_ratio(samples, X_train, random_state=3),
    }
    assert all(type(value) is float for value in scores.values())
    assert set(sample_quality(samples, X_test)) == {"mmd", "sliced_wasserstein"}


# --- input handling


def test_images_and_tensors_are_flattened():
    rng = np.random.default_rng(14)
    A, B = rng.normal(size=(2, 30, 1, 4, 4))
    flat_A, flat_B = A.reshape(30, 16), B.reshape(30, 16)
    for metric in (mmd, sliced_wasserstein, memorization_ratio):
        expected = metric(flat_A, flat_B)
        assert metric(A, B) == pytest.approx(expected, abs=1e-12)
        assert metric(torch.from_numpy(A).float(), B) == pytest.approx(expected, abs=1e-6)


_GOOD = np.random.default_rng(15).normal(size=(10, 3))
_NAN = _GOOD.copy()
_NAN[2, 1] = np.nan
_INF = _GOOD.copy()
_INF[0, 0] = np.inf
_EMPTY = np.empty((0, 3))
_WIDE = np.zeros((10, 4))

_CALLS = [
    (mmd, ("X", "Y")),
    (sliced_wasserstein, ("X", "Y")),
    (memorization_ratio, ("samples", "X_train")),
    (sample_quality, ("samples", "X_test")),
]


@pytest.mark.parametrize("bad", [_NAN, _INF, _EMPTY], ids=["nan", "inf", "empty"])
@pytest.mark.parametrize("position", [0, 1])
@pytest.mark.parametrize("metric, names", _CALLS, ids=[call[0].__name__ for call in _CALLS])
def test_bad_values_are_rejected_by_name(metric, names, position, bad):
    args = [_GOOD, _GOOD]
    args[position] = bad
    with pytest.raises(ValueError, match=f"^{names[position]} "):
        metric(*args)


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: mmd(_GOOD, _WIDE), "Y"),
        (lambda: sliced_wasserstein(_WIDE, _GOOD), "Y"),
        (lambda: memorization_ratio(_WIDE, _GOOD), "samples"),
        (lambda: sample_quality(_GOOD, _WIDE), "X_test"),
        (lambda: sample_quality(_GOOD, _GOOD, _WIDE), "X_train"),
    ],
)
def test_mismatched_features_are_rejected_by_name(call, name):
    with pytest.raises(ValueError, match=f"^{name} "):
        call()


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: mmd(_GOOD, _GOOD, bandwidth=0.0), "bandwidth"),
        (lambda: mmd(_GOOD, _GOOD, max_samples=1), "max_samples"),
        (lambda: mmd(_GOOD[:1], _GOOD), "X"),
        (lambda: sliced_wasserstein(_GOOD, _GOOD, n_projections=0), "n_projections"),
        (lambda: sliced_wasserstein(_GOOD, _GOOD, p=0), "p"),
        (lambda: sliced_wasserstein(_GOOD, _GOOD, random_state=-1), "random_state"),
        (lambda: memorization_ratio(_GOOD, _GOOD[:1]), "X_train"),
        (lambda: sample_quality(_GOOD, _GOOD, _NAN), "X_train"),
        (lambda: sample_quality(_GOOD, 1.0), "X_test"),
    ],
)
def test_bad_parameters_are_rejected_by_name(call, name):
    with pytest.raises(ValueError, match=f"^{name} "):
        call()
