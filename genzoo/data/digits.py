"""scikit-learn's 8x8 handwritten digits with a fixed train/test split."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = ["load_digits"]

# The split is part of the data set's definition: results on "digits" are comparable across runs
# and machines only if everyone holds out the same images.
TEST_SIZE = 0.2
SPLIT_SEED = 0
_SPLITS = ("train", "test", "all")


@lru_cache(maxsize=1)
def _split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return all images and labels, then the train and test parts, computed once."""
    # Imported here so that `import genzoo` does not pay for sklearn.datasets.
    from sklearn.datasets import load_digits as sk_load_digits
    from sklearn.model_selection import train_test_split

    bunch = sk_load_digits()
    X = np.asarray(bunch.images, dtype=np.float64)[:, None] / 16.0  # (1797, 1, 8, 8)
    y = np.asarray(bunch.target, dtype=np.int64)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=TEST_SIZE, random_state=SPLIT_SEED, stratify=y
    )
    return X, y, X_train, y_train, X_test, y_test


def load_digits(split: str = "train", *, flatten: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Return scikit-learn's 8x8 digits (bundled with scikit-learn, nothing is downloaded).

    The 1797 images are split once and for all into 80% train (1437) and 20% test (360),
    stratified by class, with ``sklearn.model_selection.train_test_split(..., test_size=0.2,
    random_state=0, stratify=y)``.

    Parameters
    ----------
    split : {"train", "test", "all"}, default="train"
        Which part to return; "all" keeps the original order of scikit-learn.
    flatten : bool, default=False
        Return images as rows of 64 pixels instead of (1, 8, 8) arrays.

    Returns
    -------
    X : ndarray of shape (n_samples, 1, 8, 8), or (n_samples, 64) if `flatten`
        Pixel intensities in [0, 1] (scikit-learn's 0..16 divided by 16), float64.
    y : ndarray of shape (n_samples,)
        Digit labels 0..9, int64.
    """
    if split not in _SPLITS:
        raise ValueError(f"split must be one of {_SPLITS}, got {split!r}")
    X_all, y_all, X_train, y_train, X_test, y_test = _split()
    X, y = {"all": (X_all, y_all), "train": (X_train, y_train), "test": (X_test, y_test)}[split]
    # Copies, so that a caller editing its array cannot change the cached data set.
    X = X.reshape(len(X), 64) if flatten else X
    return X.copy(), y.copy()
