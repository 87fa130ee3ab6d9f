"""Image sample quality in the features of a small classifier: FID, precision and recall,
density and coverage.

Generated and real images are both mapped to the penultimate activations of a shipped digit
classifier (:func:`genzoo.metrics.feature_nets.image_features`) and compared there:

- the Fréchet distance between Gaussians fitted to the two feature sets (FID, Heusel et al.,
  2017) measures how far apart the two distributions are, fidelity and diversity together;
- precision and recall (Kynkäänniemi et al., 2019) separate the two: precision is the share of
  generated points inside the real manifold, recall the share of real points inside the
  generated one, each manifold being a union of k-nearest-neighbour balls;
- density and coverage (Naeem et al., 2020) are their versions that are robust to outliers.

The feature-level functions take arrays of shape ``(n_samples, n_features)`` (numpy or torch),
compute in float64 with torch on the CPU, and subsample each set to at most ``max_samples``
rows with a ``torch.Generator`` seeded by ``random_state``, so that an int seed gives the same
value on every call. Pairwise distances are taken a block of rows at a time, so memory stays
bounded whatever the sizes.

The values depend on the set sizes (FID is biased upward by about 1/n, k-NN radii shrink as n
grows), so read a model's figure against :func:`image_quality_floor`: the same metrics between
two random halves of real images, what a model that samples the data distribution itself
would score with sets of that size.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from genzoo.metrics.feature_nets import _net_for_shape, image_features
from genzoo.metrics.sample_quality import (
    _check_int,
    _check_min_rows,
    _check_same_features,
    _check_samples,
    _generator,
    _squared_distances,
    _subsample,
)

__all__ = [
    "density_coverage",
    "feature_quality",
    "feature_quality_floor",
    "frechet_distance",
    "image_quality",
    "image_quality_floor",
    "precision_recall",
]

_K_PRECISION_RECALL = 3  # Kynkäänniemi et al. (2019), section 2
_K_DENSITY_COVERAGE = 5  # Naeem et al. (2020), section 4
_BLOCK_ENTRIES = 2**22  # entries of one block of pairwise distances: 32 MiB in float64


# --- input checks


def _check_features(A, name: str) -> Tensor:
    """Return A as a finite float64 tensor; it must be 2-D (n_samples, n_features)."""
    if np.ndim(A) != 2:
        raise ValueError(
            f"{name} must be a 2-D array of shape (n_samples, n_features), "
            f"got {np.ndim(A)} dimension(s)"
        )
    return _check_samples(A, name)


def _check_pair(real, fake, real_name: str, fake_name: str) -> tuple[Tensor, Tensor]:
    R, F = _check_features(real, real_name), _check_features(fake, fake_name)
    _check_same_features(R, F, real_name, fake_name)
    return R, F


# --- Fréchet distance


def _mean_and_covariance(X: Tensor) -> tuple[Tensor, Tensor]:
    """Sample mean and unbiased covariance (divided by n - 1), (d,) and (d, d)."""
    mu = X.mean(dim=0)
    Xc = X - mu
    return mu, Xc.T @ Xc / (X.shape[0] - 1)


def _psd_sqrt(S: Tensor) -> Tensor:
    """Symmetric square root of a covariance; rounding's small negative eigenvalues become 0."""
    w, V = torch.linalg.eigh(S)
    return (V * w.clamp_min(0.0).sqrt()) @ V.T


def _frechet(A: Tensor, B: Tensor) -> float:
    mu_a, S_a = _mean_and_covariance(A)
    mu_b, S_b = _mean_and_covariance(B)
    # S_a S_b = S_a^1/2 (S_a^1/2 S_b S_a^1/2) S_a^-1/2 has the eigenvalues of the symmetric PSD
    # middle matrix, so Tr (S_a S_b)^1/2 is the sum of their square roots; two symmetric
    # eigendecompositions replace a general sqrtm, which can return complex or NaN values.
    root_a = _psd_sqrt(S_a)
    middle = root_a @ S_b @ root_a
    middle = 0.5 * (middle + middle.T)
    trace_sqrt = torch.linalg.eigvalsh(middle).clamp_min(0.0).sqrt().sum()
    d2 = (mu_a - mu_b).square().sum() + S_a.trace() + S_b.trace() - 2.0 * trace_sqrt
    # It is a squared Wasserstein-2 distance, so a negative value is rounding.
    return max(float(d2), 0.0)


def frechet_distance(features_a, features_b) -> float:
    """Return the Fréchet distance between Gaussians fitted to two feature sets.

    Parameters
    ----------
    features_a, features_b : array-like of shape (n_samples, n_features)
        The two sets, at least 2 rows each; their sizes may differ.

    Returns
    -------
    float
        ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) with sample means and unbiased
        sample covariances (Heusel et al., 2017, the FID on Inception features). Non-negative,
        0 for identical sets; all rows are used.

    Examples
    --------
    >>> A, B = np.random.default_rng(0).normal(size=(2, 500, 3))
    >>> distance = frechet_distance(A, B + 1.0)
    """
    A, B = _check_pair(features_a, features_b, "features_a", "features_b")
    _check_min_rows(A, "features_a", 2)
    _check_min_rows(B, "features_b", 2)
    return _frechet(A, B)


# --- k-nearest-neighbour manifolds


def _block_rows(n_columns: int) -> int:
    return max(1, _BLOCK_ENTRIES // n_columns)


def _kth_neighbour_sq_radii(X: Tensor, k: int) -> Tensor:
    """Squared distance from each row of X to its k-th nearest other row, (len(X),)."""
    radii = []
    step = _block_rows(X.shape[0])
    for start in range(0, X.shape[0], step):
        sq = _squared_distances(X[start : start + step], X)  # (block, len(X))
        # A row's distance to itself is its smallest, so its k-th other neighbour is the
        # (k+1)-th smallest; a duplicate row counts as a neighbour at distance 0.
        radii.append(torch.kthvalue(sq, k + 1, dim=1).values)
    return torch.cat(radii)


def _ball_membership(points: Tensor, centres: Tensor, sq_radii: Tensor) -> tuple[Tensor, Tensor]:
    """For balls B(centres[i], radii[i]): how many hold each point, and whether each holds any.

    Returns (len(points),) counts and a (len(centres),) bool tensor. Boundaries belong to the
    balls, as in Kynkäänniemi et al. (2019), eq. 1.
    """
    counts = []
    hit = torch.zeros(centres.shape[0], dtype=torch.bool)
    step = _block_rows(centres.shape[0])
    for start in range(0, points.shape[0], step):
        inside = _squared_distances(points[start : start + step], centres) <= sq_radii  # (b, m)
        counts.append(inside.sum(dim=1))
        hit |= inside.any(dim=0)
    return torch.cat(counts), hit


def _precision_recall(R: Tensor, F: Tensor, k: int) -> tuple[float, float]:
    in_real, _ = _ball_membership(F, R, _kth_neighbour_sq_radii(R, k))
    in_fake, _ = _ball_membership(R, F, _kth_neighbour_sq_radii(F, k))
    return float((in_real > 0).double().mean()), float((in_fake > 0).double().mean())


def _density_coverage(R: Tensor, F: Tensor, k: int) -> tuple[float, float]:
    counts, covered = _ball_membership(F, R, _kth_neighbour_sq_radii(R, k))
    # Naeem et al. (2020), eq. 3 and 4: density averages the number of real balls holding each
    # fake point over k, coverage is the share of real balls holding at least one fake point.
    density = counts.double().sum() / (k * F.shape[0])
    return float(density), float(covered.double().mean())


def _check_knn(real, fake, k, max_samples, random_state, min_fake) -> tuple[Tensor, Tensor]:
    """Checked and subsampled real and fake features for a k-NN metric."""
    R, F = _check_pair(real, fake, "real_features", "fake_features")
    _check_int(k, "k", 1)
    _check_int(max_samples, "max_samples", k + 1)
    _check_min_rows(R, "real_features", k + 1)
    _check_min_rows(F, "fake_features", min_fake)
    gen = _generator(random_state)
    return _subsample(R, max_samples, gen), _subsample(F, max_samples, gen)


def precision_recall(
    real_features,
    fake_features,
    *,
    k: int = _K_PRECISION_RECALL,
    max_samples: int = 2000,
    random_state: int = 0,
) -> tuple[float, float]:
    """Return the improved precision and recall of generated features against real ones.

    Parameters
    ----------
    real_features, fake_features : array-like of shape (n_samples, n_features)
        Real and generated sets, at least k + 1 rows each.
    k : int, default=3
        Each point's ball reaches its k-th nearest neighbour in its own set.
    max_samples : int, default=2000
        Rows kept from each set, drawn without replacement.
    random_state : int, default=0
        Seed of the subsampling.

    Returns
    -------
    precision : float
        Share of generated points inside at least one real ball (Kynkäänniemi et al., 2019):
        1 when every sample looks real.
    recall : float
        Share of real points inside at least one generated ball: 1 when the samples cover all
        of the data.

    Examples
    --------
    >>> real, fake = np.random.default_rng(0).normal(size=(2, 500, 3))
    >>> precision, recall = precision_recall(real, fake + 1.0)
    """
    R, F = _check_knn(real_features, fake_features, k, max_samples, random_state, k + 1)
    return _precision_recall(R, F, k)


def density_coverage(
    real_features,
    fake_features,
    *,
    k: int = _K_DENSITY_COVERAGE,
    max_samples: int = 2000,
    random_state: int = 0,
) -> tuple[float, float]:
    """Return the density and coverage of generated features against real ones.

    Parameters
    ----------
    real_features : array-like of shape (n_samples, n_features)
        Real set, at least k + 1 rows.
    fake_features : array-like of shape (n_samples, n_features)
        Generated set, at least 1 row.
    k : int, default=5
        Each real point's ball reaches its k-th nearest real neighbour.
    max_samples : int, default=2000
        Rows kept from each set, drawn without replacement.
    random_state : int, default=0
        Seed of the subsampling.

    Returns
    -------
    density : float
        Number of real balls holding a generated point, averaged over generated points and
        divided by k (Naeem et al., 2020, eq. 3). About 1 for samples of the data
        distribution; it can exceed 1 where samples crowd dense regions.
    coverage : float
        Share of real balls holding at least one generated point (eq. 4), in [0, 1].

    Examples
    --------
    >>> real, fake = np.random.default_rng(0).normal(size=(2, 500, 3))
    >>> density, coverage = density_coverage(real, fake + 1.0)
    """
    R, F = _check_knn(real_features, fake_features, k, max_samples, random_state, 1)
    return _density_coverage(R, F, k)


# --- summaries


def _all_metrics(F: Tensor, R: Tensor) -> dict[str, float]:
    precision, recall = _precision_recall(R, F, _K_PRECISION_RECALL)
    density, coverage = _density_coverage(R, F, _K_DENSITY_COVERAGE)
    return {
        "fid": _frechet(F, R),
        "precision": precision,
        "recall": recall,
        "density": density,
        "coverage": coverage,
    }


# Enough rows for every metric: k + 1 of each set for the k-NN radii.
_MIN_ROWS = max(_K_PRECISION_RECALL, _K_DENSITY_COVERAGE) + 1


def feature_quality(
    fake_features, real_features, *, random_state: int = 0, max_samples: int = 2000
) -> dict[str, float]:
    """Return FID, precision, recall, density and coverage of generated against real features.

    Parameters
    ----------
    fake_features, real_features : array-like of shape (n_samples, n_features)
        Generated and real sets, at least 6 rows each.
    random_state : int, default=0
        Seed of the subsampling.
    max_samples : int, default=2000
        Rows kept from each set (generated first, then real, drawn without replacement); every
        metric sees the same rows.

    Returns
    -------
    dict of str to float
        ``"fid"`` (:func:`frechet_distance`), ``"precision"`` and ``"recall"`` with k=3
        (:func:`precision_recall`), ``"density"`` and ``"coverage"`` with k=5
        (:func:`density_coverage`).
    """
    F, R = _check_pair(fake_features, real_features, "fake_features", "real_features")
    _check_min_rows(F, "fake_features", _MIN_ROWS)
    _check_min_rows(R, "real_features", _MIN_ROWS)
    _check_int(max_samples, "max_samples", _MIN_ROWS)
    gen = _generator(random_state)
    return _all_metrics(_subsample(F, max_samples, gen), _subsample(R, max_samples, gen))


def _halves(n: int, max_samples: int, gen: torch.Generator) -> tuple[Tensor, Tensor]:
    """Indices of two disjoint random halves of range(n), each of at most max_samples."""
    half = min(n // 2, max_samples)
    order = torch.randperm(n, generator=gen)
    return order[:half], order[half : 2 * half]


def feature_quality_floor(
    real_features, *, random_state: int = 0, max_samples: int = 2000
) -> dict[str, float]:
    """Return the metrics of :func:`feature_quality` between two random halves of real features.

    Parameters
    ----------
    real_features : array-like of shape (n_samples, n_features)
        Real set, at least 12 rows.
    random_state : int, default=0
        Seed of the split.
    max_samples : int, default=2000
        Rows kept in each half.

    Returns
    -------
    dict of str to float
        The keys of :func:`feature_quality`, the first half playing the generated set. A model
        that samples the data distribution scores about this with sets of the halves' size,
        min(n_samples // 2, max_samples).
    """
    R = _check_features(real_features, "real_features")
    _check_min_rows(R, "real_features", 2 * _MIN_ROWS)
    _check_int(max_samples, "max_samples", _MIN_ROWS)
    first, second = _halves(R.shape[0], max_samples, _generator(random_state))
    return _all_metrics(R[first], R[second])


def _take_rows(images, index: Tensor):
    """Rows of an array-like or tensor of images, or all of them when index is None."""
    if index is None:
        return images
    return images[index] if isinstance(images, Tensor) else np.asarray(images)[index.numpy()]


def _subsample_index(n: int, max_samples: int, gen: torch.Generator) -> Tensor | None:
    # The draw of sample_quality._subsample, so features of the kept images are the rows that
    # feature_quality would keep of all the features.
    return None if n <= max_samples else torch.randperm(n, generator=gen)[:max_samples]


def image_quality(
    samples, real, *, net: str | None = None, random_state: int = 0, max_samples: int = 2000
) -> dict[str, float]:
    """Return FID, precision, recall, density and coverage of generated images against real ones.

    Parameters
    ----------
    samples, real : array-like of shape (n_samples, 1, s, s) or (n_samples, s * s)
        Generated and real grey images with pixels in [0, 1], s = 8 or 28 (see
        :func:`~genzoo.metrics.feature_nets.image_features`), at least 6 of each.
    net : {"digits8", "mnist28"} or None, default=None
        The classifier whose features are compared; None picks it from the image size.
    random_state : int, default=0
        Seed of the subsampling.
    max_samples : int, default=2000
        Images kept from each set, drawn without replacement before features are computed.

    Returns
    -------
    dict of str to float
        :func:`feature_quality` of the two sets' features. Read it against
        :func:`image_quality_floor` of real images.

    Examples
    --------
    >>> from genzoo.data.digits import load_digits
    >>> X_test = load_digits("test")[0]
    >>> noise = np.random.default_rng(0).uniform(size=X_test.shape)
    >>> sorted(image_quality(noise, X_test))
    ['coverage', 'density', 'fid', 'precision', 'recall']
    """
    net = _net_for_shape(np.shape(samples), net, "samples")
    _net_for_shape(np.shape(real), net, "real")
    _check_int(max_samples, "max_samples", _MIN_ROWS)
    gen = _generator(random_state)
    fake_index = _subsample_index(len(samples), max_samples, gen)
    real_index = _subsample_index(len(real), max_samples, gen)
    fake_features = image_features(_take_rows(samples, fake_index), net)
    real_features = image_features(_take_rows(real, real_index), net)
    return feature_quality(
        fake_features, real_features, random_state=random_state, max_samples=max_samples
    )


def image_quality_floor(
    real, *, net: str | None = None, random_state: int = 0, max_samples: int = 2000
) -> dict[str, float]:
    """Return the metrics of :func:`image_quality` between two random halves of real images.

    Parameters
    ----------
    real : array-like of shape (n_samples, 1, s, s) or (n_samples, s * s)
        Real grey images with pixels in [0, 1], at least 12.
    net, random_state : see :func:`image_quality`
        `random_state` seeds the split.
    max_samples : int, default=2000
        Images kept in each half.

    Returns
    -------
    dict of str to float
        :func:`feature_quality_floor` of the images' features: what a model that samples the
        data distribution scores with min(n_samples // 2, max_samples) images of each set.
    """
    net = _net_for_shape(np.shape(real), net, "real")
    _check_int(max_samples, "max_samples", _MIN_ROWS)
    if len(real) < 2 * _MIN_ROWS:
        raise ValueError(f"real needs at least {2 * _MIN_ROWS} samples, got {len(real)}")
    first, second = _halves(len(real), max_samples, _generator(random_state))
    features = image_features(_take_rows(real, torch.cat([first, second])), net)
    half = len(first)
    return _all_metrics(torch.as_tensor(features[:half]), torch.as_tensor(features[half:]))
