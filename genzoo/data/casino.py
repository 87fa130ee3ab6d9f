"""The dishonest casino: a two-state hidden Markov model over die rolls (Durbin et al. 1998).

A casino mostly rolls a fair die but sometimes switches to a loaded one that shows a six half
of the time. Each morning it picks either die with equal probability (`startprob` [0.5, 0.5]);
after each roll it keeps the fair die with probability 0.95 and the loaded one with 0.90.
Symbols are faces minus one (0..5), state 0 is fair and state 1 loaded.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["CASINO", "make_casino"]

CASINO = {
    "startprob": np.array([0.5, 0.5]),
    "transmat": np.array([[0.95, 0.05], [0.10, 0.90]]),
    "emissionprob": np.array([[1 / 6] * 6, [0.1] * 5 + [0.5]]),
}


def _draw(cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Inverse-CDF draws: row i of cdf (n, K) at uniform u[i]."""
    return np.minimum((u[:, None] >= cdf).sum(1), cdf.shape[1] - 1)


def make_casino(n_sequences: int, length: int, *, random_state=None):
    """Draw sequences of die rolls from the dishonest casino `CASINO`.

    Parameters
    ----------
    n_sequences, length : int
        Number of sequences and rolls per sequence.
    random_state : int or None
        Seed of `np.random.default_rng`.

    Returns
    -------
    X : ndarray of shape (n_sequences * length, 1), int64
        The rolls of all sequences stacked, as symbols 0..5 (face - 1).
    lengths : ndarray of shape (n_sequences,), int64
        Each sequence's length (all `length`), the hmmlearn convention.
    states : ndarray of shape (n_sequences * length,), int64
        The die behind each roll: 0 fair, 1 loaded.

    Examples
    --------
    >>> X, lengths, states = make_casino(3, 10, random_state=0)
    >>> X.shape, lengths.tolist(), states.shape
    ((30, 1), [10, 10, 10], (30,))
    """
    for name, value in (("n_sequences", n_sequences), ("length", length)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    rng = np.random.default_rng(random_state)
    cdf_start = np.cumsum(CASINO["startprob"])[None, :]
    cdf_trans = np.cumsum(CASINO["transmat"], axis=1)
    cdf_emit = np.cumsum(CASINO["emissionprob"], axis=1)
    u = rng.random((n_sequences, length))
    states = np.empty((n_sequences, length), dtype=np.int64)
    states[:, 0] = _draw(np.repeat(cdf_start, n_sequences, 0), u[:, 0])
    for t in range(1, length):  # vectorised over the sequences
        states[:, t] = _draw(cdf_trans[states[:, t - 1]], u[:, t])
    states = states.reshape(-1)
    rolls = _draw(cdf_emit[states], rng.random(states.shape[0]))
    lengths = np.full(n_sequences, length, dtype=np.int64)
    return rolls.astype(np.int64)[:, None], lengths, states
