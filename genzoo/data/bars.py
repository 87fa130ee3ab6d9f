"""The "bars" corpus of Griffiths and Steyvers (2004): documents whose topics are bars."""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["bars_topics", "make_bars"]


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
