"""Sample-quality metrics: how close generated samples are to held-out and training data.

Every metric takes array-likes (numpy arrays or torch tensors) of shape ``(n_samples, ...)``,
flattens the trailing dimensions to ``(n_samples, n_features)``, computes in float64 with torch
on the CPU and returns a Python float. A 1-D input of length n is read as n samples of one
feature. Inputs are subsampled to at most ``max_samples`` rows with a ``torch.Generator``
seeded by ``random_state``, so that an int seed gives the same value on every call and the cost
stays bounded; each function says what it subsamples.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch
from torch import Tensor

__all__ = ["memorization_ratio", "mmd", "sample_quality", "sliced_wasserstein"]

_DTYPE = torch.float64
_CHUNK_ROWS = 4096  # reference rows per distance block in nearest-neighbour searches


# --- input checks


def _check_samples(A, name: str) -> Tensor:
    """Return A as a finite float64 tensor of shape (n_samples, n_features)."""
    if isinstance(A, Tensor):
        A = A.detach().to(device="cpu", dtype=_DTYPE)
    else:
        try:
            A = torch.as_tensor(np.asarray(A, dtype=np.float64))
        except (TypeError, ValueError) as err:
            raise ValueError(f"{name} must be a numeric array-like: {err}") from err
    if A.ndim == 0:
        raise ValueError(f"{name} must be an array of samples, got a scalar")
    if A.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(A.shape)})")
    if not torch.isfinite(A).all():
        raise ValueError(f"{name} contains NaN or infinity")
    return A.reshape(A.shape[0], -1)  # (n_samples, n_features)


def _check_same_features(X: Tensor, Y: Tensor, x_name: str, y_name: str) -> None:
    if X.shape[1] != Y.shape[1]:
        raise ValueError(
            f"{y_name} has {Y.shape[1]} features per sample but {x_name} has {X.shape[1]}"
        )


def _check_min_rows(A: Tensor, name: str, minimum: int) -> None:
    if A.shape[0] < minimum:
        raise ValueError(f"{name} needs at least {minimum} samples, got {A.shape[0]}")


def _check_int(value, name: str, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


def _generator(random_state: int) -> torch.Generator:
    _check_int(random_state, "random_state", 0)
    return torch.Generator().manual_seed(int(random_state))


def _subsample(A: Tensor, max_samples: int, gen: torch.Generator) -> Tensor:
    """Keep a uniformly drawn subset of at most max_samples rows, without replacement."""
    if A.shape[0] <= max_samples:
        return A
    return A[torch.randperm(A.shape[0], generator=gen)[:max_samples]]


# --- distances


def _squared_distances(A: Tensor, B: Tensor) -> Tensor:
    """Pairwise squared Euclidean distances, (len(A), len(B))."""
    # Centring on a common point keeps ||a||^2 + ||b||^2 - 2 a.b from cancelling badly on data
    # far from the origin; the clamp removes the small negatives rounding still leaves.
    center = torch.cat([A, B]).mean(dim=0)
    A, B = A - center, B - center
    sq = (A * A).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2.0 * (A @ B.T)
    return sq.clamp_min_(0.0)


def _median(values: Tensor) -> Tensor:
    """Median of a flat tensor, the mean of the two middle values for an even count."""
    # torch.median returns the lower middle value; this matches numpy.median instead.
    k = values.numel()
    upper = torch.kthvalue(values, k // 2 + 1).values
    if k % 2:
        return upper
    return 0.5 * (torch.kthvalue(values, k // 2).values + upper)


def _nearest_distance(Q: Tensor, R: Tensor, exclude: Tensor | None = None) -> Tensor:
    """Distance from each row of Q to its nearest row of R, skipping R[exclude[i]] for row i."""
    # R is read in blocks so that memory stays at len(Q) x _CHUNK_ROWS whatever its size.
    best = Q.new_full((Q.shape[0],), math.inf)
    rows = torch.arange(Q.shape[0])
    for start in range(0, R.shape[0], _CHUNK_ROWS):
        sq = _squared_distances(Q, R[start : start + _CHUNK_ROWS])  # (len(Q), block)
        if exclude is not None:
            local = exclude - start
            inside = (local >= 0) & (local < sq.shape[1])
            sq[rows[inside], local[inside]] = math.inf
        best = torch.minimum(best, sq.min(dim=1).values)
    return best.sqrt()


# --- maximum mean discrepancy


def _median_bandwidth(sq_dist: Tensor) -> float:
    """Median heuristic: the median distance between distinct points, from a square matrix."""
    upper = torch.ones_like(sq_dist, dtype=torch.bool).triu_(diagonal=1)
    dist = sq_dist[upper].sqrt_()  # (n * (n - 1) / 2,) each pair once
    h = float(_median(dist))
    if h == 0.0:
        # More than half the pairs coincide; the mean still sees the spread of the rest.
        h = float(dist.mean())
    # All points equal: the kernel is constant, so any bandwidth gives the same (zero) MMD.
    return h if h > 0.0 else 1.0


def _mmd_unbiased(K: Tensor, m: int) -> Tensor:
    """Unbiased squared MMD from the pooled kernel matrix of X then Y (Gretton et al., eq. 3)."""
    n = K.shape[0] - m
    K_xx, K_yy, K_xy = K[:m, :m], K[m:, m:], K[:m, m:]
    # The U-statistic drops the i == j terms of the within-sample sums.
    xx = (K_xx.sum() - K_xx.diagonal().sum()) / (m * (m - 1))
    yy = (K_yy.sum() - K_yy.diagonal().sum()) / (n * (n - 1))
    return xx + yy - 2.0 * K_xy.mean()


def mmd(
    X,
    Y,
    *,
    bandwidth: float | None = None,
    max_samples: int = 2000,
    random_state: int = 0,
) -> float:
    """Return the unbiased squared maximum mean discrepancy between two samples.

    Parameters
    ----------
    X, Y : array-like of shape (n_samples, ...)
        The two samples; at least 2 rows each and the same number of features.
    bandwidth : float or None, default=None
        Width h of the Gaussian kernel k(a, b) = exp(-||a - b||^2 / (2 h^2)). None uses the
        median heuristic: the median distance between distinct points of the pooled sample.
    max_samples : int, default=2000
        Rows kept from each input, drawn without replacement.
    random_state : int, default=0
        Seed of the subsampling.

    Returns
    -------
    float
        The U-statistic estimate of MMD^2 (Gretton et al., 2012, eq. 3). It is unbiased, so
        for two samples of the same distribution it scatters around 0 and can be slightly
        negative; larger means more different.

    Examples
    --------
    >>> X, Y = np.random.default_rng(0).normal(size=(2, 200, 3))
    >>> score = mmd(X, Y + 1.0)
    """
    X, Y = _check_samples(X, "X"), _check_samples(Y, "Y")
    _check_same_features(X, Y, "X", "Y")
    _check_int(max_samples, "max_samples", 2)
    _check_min_rows(X, "X", 2)
    _check_min_rows(Y, "Y", 2)
    if bandwidth is not None and not (
        isinstance(bandwidth, numbers.Real) and math.isfinite(bandwidth) and bandwidth > 0
    ):
        raise ValueError(f"bandwidth must be a positive finite float or None, got {bandwidth!r}")
    gen = _generator(random_state)
    X, Y = _subsample(X, max_samples, gen), _subsample(Y, max_samples, gen)
    # One pooled distance matrix serves both the bandwidth and the three kernel blocks.
    sq_dist = _squared_distances(torch.cat([X, Y]), torch.cat([X, Y]))  # (m + n, m + n)
    h = _median_bandwidth(sq_dist) if bandwidth is None else float(bandwidth)
    K = sq_dist.mul_(-1.0 / (2.0 * h**2)).exp_()
    return float(_mmd_unbiased(K, X.shape[0]))


# --- sliced Wasserstein


def _wasserstein_1d_pow(U: Tensor, V: Tensor, p: int) -> Tensor:
    """W_p^p between the empirical distributions of each column of U and of V, (n_columns,)."""
    m, n = U.shape[0], V.shape[0]
    U, V = U.sort(dim=0).values, V.sort(dim=0).values
    if m == n:
        return (U - V).abs().pow(p).mean(dim=0)
    # W_p^p = int_0^1 |F^-1(t) - G^-1(t)|^p dt, and both empirical quantile functions are step
    # functions, constant between consecutive levels of the merged grid {i/m} u {j/n}. Summing
    # over that grid is exact, unlike interpolating quantiles onto a common grid.
    levels_x = torch.arange(1, m + 1, dtype=_DTYPE) / m
    levels_y = torch.arange(1, n + 1, dtype=_DTYPE) / n
    levels = torch.cat([levels_x, levels_y]).sort().values
    widths = torch.diff(levels, prepend=levels.new_zeros(1))
    midpoints = levels - 0.5 * widths
    # Zero-width steps (shared levels) carry no weight, whatever index they pick.
    i = (midpoints * m).floor().long().clamp_(0, m - 1)
    j = (midpoints * n).floor().long().clamp_(0, n - 1)
    return (widths[:, None] * (U[i] - V[j]).abs().pow(p)).sum(dim=0)


def sliced_wasserstein(
    X,
    Y,
    *,
    n_projections: int = 128,
    p: int = 2,
    max_samples: int = 2000,
    random_state: int = 0,
) -> float:
    """Return the sliced Wasserstein-p distance between two samples.

    Parameters
    ----------
    X, Y : array-like of shape (n_samples, ...)
        The two samples, with the same number of features; their sizes may differ.
    n_projections : int, default=128
        Number of random directions, drawn uniformly on the unit sphere.
    p : int, default=2
        Order of the Wasserstein distance.
    max_samples : int, default=2000
        Rows kept from each input, drawn without replacement.
    random_state : int, default=0
        Seed of the subsampling and of the directions.

    Returns
    -------
    float
        (mean over directions u of W_p^p(u.X, u.Y))^(1/p), where each 1-D W_p is computed
        exactly from the sorted projections. In the units of the data; 0 for equal samples.

    Examples
    --------
    >>> X, Y = np.random.default_rng(0).normal(size=(2, 200, 3))
    >>> distance = sliced_wasserstein(X, Y + 1.0)
    """
    X, Y = _check_samples(X, "X"), _check_samples(Y, "Y")
    _check_same_features(X, Y, "X", "Y")
    _check_int(n_projections, "n_projections", 1)
    _check_int(p, "p", 1)
    _check_int(max_samples, "max_samples", 1)
    gen = _generator(random_state)
    X, Y = _subsample(X, max_samples, gen), _subsample(Y, max_samples, gen)
    # Normalised Gaussian vectors are uniform on the sphere.
    directions = torch.randn(n_projections, X.shape[1], generator=gen, dtype=_DTYPE)
    directions /= directions.norm(dim=1, keepdim=True)
    w_pow = _wasserstein_1d_pow(X @ directions.T, Y @ directions.T, p)  # (n_projections,)
    return float(w_pow.mean() ** (1.0 / p))


# --- memorization


def memorization_ratio(
    samples,
    X_train,
    *,
    max_samples: int = 2000,
    random_state: int = 0,
) -> float:
    """Return the share of samples closer to the training set than training points are.

    The threshold is the median over training points of the distance to their nearest other
    training point; a sample counts as memorized when its nearest training point is closer
    than that.

    Parameters
    ----------
    samples : array-like of shape (n_samples, ...)
        Generated samples.
    X_train : array-like of shape (n_train, ...)
        The model's training data, at least 2 rows, with the same number of features.
    max_samples : int, default=2000
        Generated samples kept, and training points whose nearest-neighbour distances set the
        threshold, each drawn without replacement. Neighbours are always searched in all of
        X_train, so the cost grows linearly with n_train.
    random_state : int, default=0
        Seed of the subsampling.

    Returns
    -------
    float
        A fraction in [0, 1]. A model that draws fresh points from the data distribution
        scores about 0.5 (by definition of the median); one that copies training points scores
        1.0; samples far from the data score near 0.
    """
    samples, X_train = _check_samples(samples, "samples"), _check_samples(X_train, "X_train")
    _check_same_features(X_train, samples, "X_train", "samples")
    _check_int(max_samples, "max_samples", 2)
    _check_min_rows(X_train, "X_train", 2)
    gen = _generator(random_state)
    samples = _subsample(samples, max_samples, gen)
    # Subsample the queries but search all of X_train: dropping training points would hide the
    # copies of them, and a model that copies its training set would score near 0.5, not 1.
    query = torch.randperm(X_train.shape[0], generator=gen)[:max_samples]
    threshold = _median(_nearest_distance(X_train[query], X_train, exclude=query))
    nearest = _nearest_distance(samples, X_train)
    return float((nearest < threshold).to(_DTYPE).mean())


# --- summary used by the CLI and the zoo


def sample_quality(samples, X_test, X_train=None, *, random_state: int = 0) -> dict[str, float]:
    """Return the sample-quality metrics of generated samples against held-out data.

    Parameters
    ----------
    samples : array-like of shape (n_samples, ...)
        Generated samples.
    X_test : array-like of shape (n_test, ...)
        Held-out data from the training distribution.
    X_train : array-like of shape (n_train, ...) or None, default=None
        The model's training data; when given, memorization is reported too.
    random_state : int, default=0
        Seed passed to each metric, so each value equals its own function's default call.

    Returns
    -------
    dict of str to float
        ``"mmd"`` (:func:`mmd`), ``"sliced_wasserstein"`` (:func:`sliced_wasserstein`) and,
        only when X_train is given, ``"memorization"`` (:func:`memorization_ratio`).

    Examples
    --------
    >>> X_test, samples = np.random.default_rng(0).normal(size=(2, 200, 3))
    >>> sorted(sample_quality(samples, X_test))
    ['mmd', 'sliced_wasserstein']
    """
    # Checked here first so that errors name this function's arguments.
    samples, X_test = _check_samples(samples, "samples"), _check_samples(X_test, "X_test")
    _check_same_features(samples, X_test, "samples", "X_test")
    _check_min_rows(samples, "samples", 2)
    _check_min_rows(X_test, "X_test", 2)
    scores = {
        "mmd": mmd(samples, X_test, random_state=random_state),
        "sliced_wasserstein": sliced_wasserstein(samples, X_test, random_state=random_state),
    }
    if X_train is not None:
        X_train = _check_samples(X_train, "X_train")
        _check_same_features(samples, X_train, "samples", "X_train")
        _check_min_rows(X_train, "X_train", 2)
        scores["memorization"] = memorization_ratio(samples, X_train, random_state=random_state)
    return scores
