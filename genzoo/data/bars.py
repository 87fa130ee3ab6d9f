"""Bars: the corpus of Griffiths and Steyvers (2004), whose topics are bars, and the binary
bars problem of Foldiak (1990), whose images are unions of independent bars."""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["bars_topics", "binary_bars_log_prob", "make_bars", "make_binary_bars"]


def _check_int(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}; got {value!r}.")
    return int(value)


def bars_topics(size: int = 5) -> np.ndarray:
    """Return the 2 * size bar topics over a size x size grid of words, (2 size, size**2).

    Topic i < size is uniform over row i of the grid (a horizontal bar), topic size + j over
    column j (a vertical bar); word r * size + c is the pixel in row r and column c.
    """
    size = _check_int(size, "size", 1)
    grid = np.arange(size * size).reshape(size, size)
    topics = np.zeros((2 * size, size * size))
    for i in range(size):
        topics[i, grid[i]] = 1.0 / size
        topics[size + i, grid[:, i]] = 1.0 / size
    return topics


def make_bars(
    n_docs: int,
    *,
    doc_length: int = 100,
    random_state: int | None = None,
    size: int = 5,
    alpha: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw documents of the bars corpus from LDA with bar topics (Griffiths and Steyvers 2004).

    Each document draws topic proportions theta ~ Dirichlet(alpha, ..., alpha) over the
    2 * size bars of `bars_topics`, then `doc_length` words, each from a topic drawn from
    theta; a document is its word counts, which drawn as a size x size image shows a few bars.

    Parameters
    ----------
    n_docs : int
        Number of documents.
    doc_length : int, default=100
        Words per document.
    random_state : int or None
        Seed of a numpy Generator; an int gives the same corpus on every call.
    size : int, default=5
        Side of the image: size**2 words and 2 * size topics.
    alpha : float, default=1.0
        The symmetric Dirichlet prior of the topic proportions.

    Returns
    -------
    X : (n_docs, size**2) float64 word counts, each row summing to doc_length
    topics : (2 * size, size**2) the true topic-word distributions

    Examples
    --------
    >>> X, topics = make_bars(4, doc_length=50, random_state=0)
    >>> X.shape, topics.shape, X.sum(1)
    ((4, 25), (10, 25), array([50., 50., 50., 50.]))
    """
    n_docs = _check_int(n_docs, "n_docs", 1)
    doc_length = _check_int(doc_length, "doc_length", 1)
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not alpha > 0:
        raise ValueError(f"alpha must be a positive float; got {alpha!r}.")
    if not np.isfinite(alpha):
        raise ValueError(f"alpha must be finite; got {alpha!r}.")
    topics = bars_topics(size)
    rng = np.random.default_rng(random_state)
    theta = rng.dirichlet(np.full(len(topics), float(alpha)), size=n_docs)
    word_probs = theta @ topics
    word_probs /= word_probs.sum(1, keepdims=True)  # exact simplex for the multinomial
    X = rng.multinomial(doc_length, word_probs).astype(np.float64)
    return X, topics


def _bar_masks(size: int) -> np.ndarray:
    """The 2 * size bars as binary masks over the size x size grid, (2 size, size**2)."""
    return (bars_topics(size) > 0).astype(np.float64)


def make_binary_bars(
    n_samples: int,
    *,
    size: int = 5,
    bar_prob: float = 0.2,
    random_state: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw binary images of the bars problem (Foldiak 1990): each bar on independently.

    Each of the 2 * size bars (the rows and columns of a size x size grid) is on with
    probability `bar_prob`, and a pixel is 1 where any bar covers it. Unlike a mixture, the
    images combine independent causes, which an RBM's hidden units can each take; the exact
    log-likelihood is `binary_bars_log_prob`.

    Returns
    -------
    X : (n_samples, size**2) float64 of 0 and 1
    bars : (n_samples, 2 * size) bool, which bars each image shows
    """
    n_samples = _check_int(n_samples, "n_samples", 1)
    masks = _bar_masks(_check_int(size, "size", 1))
    bar_prob = _check_probability(bar_prob)
    rng = np.random.default_rng(random_state)
    bars = rng.random((n_samples, len(masks))) < bar_prob
    X = (bars.astype(np.float64) @ masks > 0).astype(np.float64)
    return X, bars


def binary_bars_log_prob(X, *, size: int = 5, bar_prob: float = 0.2) -> np.ndarray:
    """Exact log-probability of each row of X under `make_binary_bars`, by enumeration.

    Sums the probability of every one of the 2^(2 size) bar patterns whose image is the row
    (an image can have several: all rows on covers the grid as all columns do); -inf for an
    image no pattern makes. `size` is at most 8 (65,536 patterns).
    """
    size = _check_int(size, "size", 1)
    if size > 8:
        raise ValueError(f"size must be at most 8 to enumerate the bar patterns; got {size}.")
    bar_prob = _check_probability(bar_prob)
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != size * size:
        raise ValueError(f"X must have shape (n, {size * size}); got {X.shape}.")
    masks = _bar_masks(size)
    n_bars = len(masks)
    patterns = (np.arange(2**n_bars)[:, None] >> np.arange(n_bars)) & 1
    images = (patterns @ masks > 0).astype(np.int64)
    with np.errstate(divide="ignore"):
        log_p = patterns.sum(1) * np.log(bar_prob) + (n_bars - patterns.sum(1)) * np.log1p(
            -bar_prob
        )
    weights = 1 << np.arange(size * size, dtype=np.int64)
    keys, inverse = np.unique(images @ weights, return_inverse=True)
    # log of the summed probability of the patterns that draw each distinct image
    totals = np.full(len(keys), -np.inf)
    np.logaddexp.at(totals, inverse.ravel(), log_p)
    row_keys = (X > 0.5).astype(np.int64) @ weights
    position = np.clip(np.searchsorted(keys, row_keys), 0, len(keys) - 1)
    found = (keys[position] == row_keys) & np.all((X == 0) | (X == 1), axis=1)
    return np.where(found, totals[position], -np.inf)


def _check_probability(value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < 1:
        raise ValueError(f"bar_prob must be a float in (0, 1); got {value!r}.")
    return float(value)
