"""The likelihood protocol: log-likelihoods that compare across families on discrete data.

Pixels with 17 or 256 levels are discrete. A discrete model (naive Bayes over categories, an
RBM on binary pixels) gives the probability of the data, P(k). A continuous model gives a
density, which on a discrete set says nothing comparable: a Gaussian may pile its mass on the
grid points and report any density it likes. Following Theis, van den Oord and Bethge (2016),
continuous models are trained and scored on uniformly dequantized data

    y = (k + u) / L,    u ~ U[0, 1)^D,

where k in {0, ..., L-1}^D are the level indices. A density p on [0, 1)^D defines the discrete
model P(k) = integral of p over the cell of k (volume L^-D), and by Jensen's inequality

    log P(k) >= E_u[log p((k + u) / L)] - D log L,

so the mean over draws of u, less D log L (the log-Jacobian of the scaling), is a lower bound
on a discrete log-likelihood, in the same units as a discrete model's. Results are reported in
nats per example and in bits per dimension, -log P / (D log 2).

>>> import numpy as np
>>> k = np.array([[0, 16], [8, 3]])
>>> y = dequantize(k, 17, random_state=0)
>>> bool(np.all((y >= 0) & (y < 1))), bool(np.array_equal(quantize(y, 17), k))
(True, True)
>>> bool(abs(bits_per_dim(-64 * np.log(17), 64) - np.log2(17)) < 1e-12)
True
"""

from __future__ import annotations

import math
import numbers
import warnings
from dataclasses import dataclass

import numpy as np

from genzoo._validation import MAX_LEVELS

__all__ = [
    "DequantizationWarning",
    "LikelihoodScore",
    "MAX_DRAWS",
    "MAX_LEVELS",
    "bits_per_dim",
    "combined_kind",
    "dequantize",
    "dequantized_log_likelihood",
    "quantize",
    "score_log_likelihood",
]

MAX_DRAWS = 1_000  # draws of the dequantization noise per example
# A density fitted to the dequantized cells is no higher on the raw values than inside the
# cells; one fitted to the raw values peaks on them. Measured on digits, in nats per pixel:
# dequantized fits -0.04 (GMM per class), -0.30 (Gaussian naive Bayes), -0.47 (VAE); raw fits
# 9.3 (VAE) and 4.5e5 (Gaussian naive Bayes). See `score_log_likelihood`.
_RAW_FIT_NATS_PER_DIM = 1.0


class DequantizationWarning(UserWarning):
    """A continuous density on discrete data looks fitted to the raw levels."""


@dataclass(frozen=True)
class LikelihoodScore:
    """Log-likelihoods of held-out examples under the protocol.

    Attributes
    ----------
    log_likelihood : ndarray of shape (n_examples,)
        Nats per example: the log-probability of discrete data (a lower bound under
        dequantization), or the log-density of continuous data.
    kind : {"exact", "lower_bound", "estimate"}
        The model's kind combined with the protocol's (see `combined_kind`).
    discrete : bool
        Whether `log_likelihood` is a (bound on a) log-probability, so bits per dimension
        mean something and compare across families.
    dequantized : bool
        Whether the model's density was scored on dequantized data.
    n_dims : int
        Dimensions of each example that `bits_per_dim` divides by.
    note : str or None
        A warning raised while scoring, in one line.
    """

    log_likelihood: np.ndarray
    kind: str
    discrete: bool
    dequantized: bool
    n_dims: int
    note: str | None = None

    @property
    def mean(self) -> float:
        """Mean nats per example."""
        return float(np.mean(self.log_likelihood))

    @property
    def bits_per_dim(self) -> float | None:
        """Bits per dimension of the mean (None for densities of continuous data)."""
        return bits_per_dim(self.mean, self.n_dims) if self.discrete else None


# --- checks


def _check_levels(levels) -> int:
    if isinstance(levels, bool) or not isinstance(levels, numbers.Integral):
        raise ValueError(f"levels must be an int in [2, {MAX_LEVELS}], got {levels!r}")
    if not 2 <= levels <= MAX_LEVELS:
        raise ValueError(f"levels must be an int in [2, {MAX_LEVELS}], got {levels}")
    return int(levels)


def _check_indices(k, levels: int) -> np.ndarray:
    k = np.asarray(k)
    if k.dtype.kind not in "biuf":
        raise ValueError(f"level indices must be numeric, got dtype {k.dtype}")
    k = k.astype(np.float64)
    if k.size == 0:
        raise ValueError("level indices are empty")
    if not np.isfinite(k).all() or np.any(k != np.round(k)) or k.min() < 0 or k.max() >= levels:
        raise ValueError(
            f"level indices must be whole numbers in [0, {levels - 1}]; got values in "
            f"[{np.nanmin(k)}, {np.nanmax(k)}]"
        )
    return k


def _check_draws(n_draws) -> int:
    if isinstance(n_draws, bool) or not isinstance(n_draws, numbers.Integral):
        raise ValueError(f"n_draws must be an int in [1, {MAX_DRAWS}], got {n_draws!r}")
    if not 1 <= n_draws <= MAX_DRAWS:
        raise ValueError(f"n_draws must be an int in [1, {MAX_DRAWS}], got {n_draws}")
    return int(n_draws)


# --- the protocol


def dequantize(k, levels: int, *, random_state=None) -> np.ndarray:
    """Return (k + u) / levels with u ~ U[0, 1) drawn independently for every value.

    `k` holds level indices (whole numbers in [0, levels)); the result lies in [0, 1).
    `random_state` seeds numpy's generator (an int, a Generator or None).
    """
    levels = _check_levels(levels)
    k = _check_indices(k, levels)
    rng = np.random.default_rng(random_state)
    y = (k + rng.random(k.shape)) / levels
    # (L - 1 + u) / L can round up to 1.0 in float64 when u is within an ulp of 1.
    return np.minimum(y, np.nextafter(1.0, 0.0))


def quantize(y, levels: int) -> np.ndarray:
    """Return the level index floor(y * levels) of each value, clipped to [0, levels - 1].

    The inverse of `dequantize`: samples of a model trained on dequantized data go back to
    the data's levels this way (values outside [0, 1) go to the nearest end level).
    """
    levels = _check_levels(levels)
    y = np.asarray(y, dtype=np.float64)
    if not np.isfinite(y).all():
        raise ValueError("values to quantize contain NaN or infinity")
    return np.clip(np.floor(y * levels), 0, levels - 1)


def bits_per_dim(log_likelihood: float, n_dims: int) -> float:
    """Bits per dimension of a log-likelihood in nats: -log_likelihood / (n_dims log 2)."""
    if isinstance(n_dims, bool) or not isinstance(n_dims, numbers.Integral) or n_dims < 1:
        raise ValueError(f"n_dims must be a positive int, got {n_dims!r}")
    return -float(log_likelihood) / (n_dims * math.log(2))


def combined_kind(model_kind: str, *, dequantized: bool) -> str:
    """The kind of a model's score under the protocol.

    Dequantization turns an exact density into a lower bound of the discrete likelihood; a
    lower bound (ELBO) stays one; an estimate (AIS, importance sampling) stays an estimate,
    now of a lower bound.
    """
    if model_kind not in ("exact", "lower_bound", "estimate"):
        raise ValueError(f"model_kind must be exact, lower_bound or estimate, got {model_kind!r}")
    if dequantized and model_kind == "exact":
        return "lower_bound"
    return model_kind


def dequantized_log_likelihood(
    log_density, k, levels: int, *, n_draws: int = 1, random_state=None
) -> np.ndarray:
    """Lower bounds on log P(k) per example: mean over draws of log p((k + u) / L) - D log L.

    Parameters
    ----------
    log_density : callable
        Maps an array shaped like `k` (dequantized values in [0, 1)) to one log-density per
        example (a model's `log_prob`).
    k : array-like of shape (n_examples, ...)
        Level indices.
    levels : int
        L, the number of levels of every dimension.
    n_draws : int, default=1
        Draws of u per example; more draws lower the variance of the bound, not its value.
    random_state : int, Generator or None

    Returns
    -------
    ndarray of shape (n_examples,)
    """
    levels = _check_levels(levels)
    n_draws = _check_draws(n_draws)
    k = _check_indices(k, levels)
    rng = np.random.default_rng(random_state)
    n_dims = math.prod(k.shape[1:])
    total = np.zeros(len(k))
    for _ in range(n_draws):
        values = np.asarray(log_density(dequantize(k, levels, random_state=rng)), np.float64)
        if values.shape != (len(k),):
            raise ValueError(f"log_density gave shape {values.shape}, expected ({len(k)},)")
        total += values
    return total / n_draws - n_dims * math.log(levels)


def score_log_likelihood(
    model,
    X,
    *,
    levels: int | None,
    level_step: float = 1.0,
    discrete_data: bool | None = None,
    n_dims: int | None = None,
    n_draws: int = 1,
    random_state=None,
    **log_prob_kwargs,
) -> LikelihoodScore:
    """Score held-out data X under the protocol, as `evaluate` and the zoo do.

    A discrete model is scored on X as it is. A continuous model on data with `levels` is
    scored on dequantized copies of X's level indices ``X / level_step``, having been
    trained on dequantized data too (`genzoo.zoo.fit_model` does that). A continuous model
    on continuous data gives log-densities, which compare only with each other.

    If a continuous model's density is much higher on the grid points than on the cells
    around them (more than one nat per dimension), it was fitted to the raw levels: a
    `DequantizationWarning` says so and the score carries the note.

    Parameters
    ----------
    model : a fitted genzoo model with a likelihood
    X : the held-out data, in the form the model takes
    levels : int or None
        Levels per dimension of discrete data on a grid; None for continuous data or for
        data discrete by nature (counts, sequences, tables, sentences).
    level_step : float, default=1.0
        The spacing of the grid: X holds ``k * level_step``.
    discrete_data : bool or None
        Whether the data are discrete; None means ``levels is not None``.
    n_dims : int or None
        Dimensions per example for bits per dimension; None: the features of X.
    n_draws : int, default=1
        Draws of the dequantization noise per example.
    random_state : int, Generator or None
    **log_prob_kwargs : passed to `model.log_prob` (sequence lengths).
    """
    discrete_data = levels is not None if discrete_data is None else bool(discrete_data)
    kind = model.likelihood_kind
    if kind is None:
        raise ValueError(f"{type(model).__name__} has no likelihood to score")
    if n_dims is None:
        n_dims = math.prod(np.shape(X)[1:])
    support = model.likelihood_support(X)
    if not (discrete_data and levels is not None and support == "continuous"):
        values = np.asarray(model.log_prob(X, **log_prob_kwargs), dtype=np.float64)
        discrete = discrete_data and support == "discrete"
        return LikelihoodScore(values, kind, discrete, False, n_dims)
    X = np.asarray(X, dtype=np.float64)
    k = np.round(X / level_step)
    values = dequantized_log_likelihood(
        lambda Y: model.log_prob(Y, **log_prob_kwargs),
        k,
        levels,
        n_draws=n_draws,
        random_state=random_state,
    )
    note = _raw_fit_note(model, X, levels, values, log_prob_kwargs)
    return LikelihoodScore(
        values, combined_kind(kind, dequantized=True), True, True, n_dims, note=note
    )


def _raw_fit_note(model, X, levels: int, bounds: np.ndarray, log_prob_kwargs) -> str | None:
    """Warn when the density is far higher on the raw data X than inside their cells.

    A density fitted to the dequantized cells is smooth across the grid points where the
    raw values lie; one fitted to the raw values peaks on them.
    """
    n_dims = math.prod(X.shape[1:])
    at_grid = np.asarray(model.log_prob(X, **log_prob_kwargs), np.float64)
    in_cells = bounds + n_dims * math.log(levels)  # the mean log-density over the draws
    gain = float(np.mean(at_grid) - np.mean(in_cells)) / n_dims
    if not gain > _RAW_FIT_NATS_PER_DIM:
        return None
    note = (
        f"{type(model).__name__}'s density is {gain:.3g} nats per dimension higher on the "
        f"{levels} raw levels than on the dequantized cells around them: it looks fitted to "
        "the raw discrete values, so its score is not comparable with other models'. Fit it "
        "on genzoo.metrics.dequantize(levels_of_X, levels) (genzoo.zoo.fit_model does)."
    )
    warnings.warn(note, DequantizationWarning, stacklevel=3)
    return note
