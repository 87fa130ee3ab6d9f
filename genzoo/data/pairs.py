"""Built-in pairs of domains for image-to-image translation models (CycleGAN).

Each loader returns a `Dataset` with a second domain: its training parts X_train and X_b_train
are unpaired (no row of one is the image of a row of the other), so a model must learn the
map from the two distributions alone; its test parts are paired, X_b_test[i] being the image
of X_test[i] under a known map, so that translations can be scored against the truth.

>>> from genzoo.data import load
>>> data = load("blobs_rotated", n_samples=100)
>>> data.X_train.shape, data.X_b_train.shape, data.X_b_test.shape
((100, 2), (100, 2), (25, 2))
"""

from __future__ import annotations

import numpy as np

from genzoo.data.dataset import _DIGIT_CLASSES, _TOY_TRAIN_SIZE, Dataset
from genzoo.data.digits import load_digits
from genzoo.data.toy import _check_n_samples

__all__ = [
    "BLOB_MEANS",
    "BLOB_STDS",
    "BLOB_WEIGHTS",
    "ROTATION",
    "load_blobs_rotated",
    "load_digits_negatives",
    "make_blobs3",
]

# Three isotropic blobs with unequal weights and spreads at the corners of a scalene triangle.
# Any isometry mapping the mixture onto itself must send each blob to itself (no two share a
# weight), so it fixes three non-collinear means and is the identity: the mixture has no
# rotation or reflection symmetry, and ROTATION is the only isometry from domain a onto b.
BLOB_MEANS = np.array([[-1.5, -0.5], [1.0, -1.0], [0.3, 1.5]])
BLOB_STDS = np.array([0.25, 0.35, 0.2])
BLOB_WEIGHTS = np.array([0.5, 0.3, 0.2])
# 90 degrees counter-clockwise about the origin: (x, y) -> (-y, x), applied to rows as X @ R.T.
ROTATION = np.array([[0.0, -1.0], [1.0, 0.0]])


def make_blobs3(n_samples: int, random_state: int | None = None) -> np.ndarray:
    """Draw points from a mixture of three asymmetric isotropic Gaussian blobs in 2-D.

    The blobs have means `BLOB_MEANS`, standard deviations `BLOB_STDS` and weights
    `BLOB_WEIGHTS`. They are laid out without symmetry so that the only isometry from this
    distribution onto its rotation by `ROTATION` is that rotation: the true translation of
    "blobs_rotated" is known.

    Parameters
    ----------
    n_samples : int
        Number of points.
    random_state : int or None, default=None
        Seed of a local `numpy.random.Generator`; an int gives the same array on every call.

    Returns
    -------
    ndarray of shape (n_samples, 2), float64
    """
    n = _check_n_samples(n_samples)
    rng = np.random.default_rng(random_state)
    component = rng.choice(len(BLOB_WEIGHTS), size=n, p=BLOB_WEIGHTS)
    noise = rng.standard_normal((n, 2))
    return BLOB_MEANS[component] + BLOB_STDS[component, None] * noise


def load_blobs_rotated(n_samples: int | None = None, *, random_state: int = 0) -> Dataset:
    """Return "blobs_rotated": blob points and the 90-degree rotations of other blob points.

    Domain a is `make_blobs3` drawn with seed `random_state`; domain b is the rotation by
    `ROTATION` of an independent draw (seed ``random_state + 2``), so no training pair
    exists. The test part is an independent draw of ``max(n_samples // 4, 1)`` points (seed
    ``random_state + 1``) with X_b_test its rotation, row by row.

    Parameters
    ----------
    n_samples : int or None, default=None
        Points per training domain; None draws 2000.
    random_state : int, default=0
        Seed of the draws.

    Returns
    -------
    Dataset
        Kind "vectors", continuous, with X_b_train and X_b_test.
    """
    n = _TOY_TRAIN_SIZE if n_samples is None else n_samples
    X_test = make_blobs3(max(n // 4, 1), random_state=random_state + 1)
    return Dataset(
        "blobs_rotated",
        "vectors",
        make_blobs3(n, random_state=random_state),
        X_test,
        X_b_train=make_blobs3(n, random_state=random_state + 2) @ ROTATION.T,
        X_b_test=X_test @ ROTATION.T,
    )


def load_digits_negatives(n_samples: int | None = None) -> Dataset:
    """Return "digits_negatives": 8x8 digits and the negatives 1 - x of other digits.

    Domain a is the even-indexed training digits of `load_digits`, with their labels; domain
    b is the negatives of the odd-indexed ones, so no training pair exists. The test part is
    the test digits with X_b_test their negatives, row by row. Values lie on the 17 levels
    k / 16, which negation keeps.

    Parameters
    ----------
    n_samples : int or None, default=None
        Keep at most this many training images per domain; None keeps them all (719 and 718).

    Returns
    -------
    Dataset
        Kind "images", (n, 1, 8, 8), 17 levels, with X_b_train and X_b_test.
    """
    X_train, y_train = load_digits("train")
    X_test, y_test = load_digits("test")
    return Dataset(
        "digits_negatives",
        "images",
        X_train[0::2][:n_samples],
        X_test,
        y_train[0::2][:n_samples],
        y_test,
        _DIGIT_CLASSES,
        levels=17,
        X_b_train=1.0 - X_train[1::2][:n_samples],
        X_b_test=1.0 - X_test,
    )
