"""The partition function of a bipartite Boltzmann machine: exactly, or by annealed importance
sampling (AIS).

Both functions take the model p(v, h) ∝ exp(b.v + c.h + h.W v) with binary hidden units h and
binary or unit-variance Gaussian visibles v (energy ||v - b||^2 / 2 - c.h - h.W v), weights W of
shape (n_hidden, n_visible). A deep Boltzmann machine is such a model between its odd and even
layers, so its block-structured weight matrix works here too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from genzoo._validation import make_generator
from genzoo.boltzmann._limits import MAX_BETAS, MAX_ROWS
from genzoo.boltzmann._rbm_math import (
    binary_states,
    check_visible,
    log_gaussian_normaliser,
    softplus,
)

__all__ = ["AISResult", "ais_log_partition", "default_betas", "exact_log_partition"]

# Most units `exact_log_partition` enumerates (2^25 configurations).
MAX_ENUMERATED_UNITS = 25
# Most elements (configurations x units) of one enumerated chunk.
_CHUNK_ELEMENTS = 2**22
# Salakhutdinov & Murray's schedule: 500 steps on [0, 0.5), 4000 on [0.5, 0.9), 10000 on [0.9, 1].
_SCHEDULE_KNOTS = (0.0, 0.5, 0.9, 1.0)
_SCHEDULE_STEPS = (500, 4_000, 10_000)
# The progress bar moves every this many temperatures, to keep its cost out of the loop.
_PROGRESS_EVERY = 200


@dataclass(frozen=True)
class AISResult:
    """What `ais_log_partition` returns.

    Attributes
    ----------
    log_z : float
        Estimate of log Z: the log of the mean importance weight plus `log_z_base`.
    stderr : float
        Standard error of `log_z` by the delta method, std(w) / (sqrt(n_chains) mean(w)).
    log_weights : ndarray of shape (n_chains,)
        The final log importance weights.
    log_z_base : float
        Exact log partition function of the base-rate model the chains start from.
    n_betas : int
        Number of inverse temperatures, 0 and 1 included.
    """

    log_z: float
    stderr: float
    log_weights: np.ndarray
    log_z_base: float
    n_betas: int


# --- inputs


def _parameters(weights, visible_bias, hidden_bias) -> tuple[Tensor, Tensor, Tensor]:
    """The model's parameters as float64 tensors on the device of `weights`."""
    device = weights.device if isinstance(weights, Tensor) else torch.device("cpu")

    def as_tensor(value, name: str, shape: tuple) -> Tensor:
        if isinstance(value, Tensor):
            value = value.detach()
        out = torch.as_tensor(np.asarray(value) if not isinstance(value, Tensor) else value)
        out = out.to(device=device, dtype=torch.float64)
        if tuple(out.shape) != shape:
            raise ValueError(f"{name} must have shape {shape}; got {tuple(out.shape)}.")
        if not torch.isfinite(out).all():
            raise ValueError(f"{name} contains NaN or infinity; every value must be finite.")
        return out

    W = as_tensor(weights, "weights", tuple(np.shape(weights)))
    if W.ndim != 2:
        raise ValueError(f"weights must have shape (n_hidden, n_visible); got {tuple(W.shape)}.")
    n_hidden, n_visible = W.shape
    b = as_tensor(visible_bias, "visible_bias", (n_visible,))
    c = as_tensor(hidden_bias, "hidden_bias", (n_hidden,))
    return W, b, c


def default_betas(n_betas: int) -> np.ndarray:
    """`n_betas` inverse temperatures from 0 to 1, denser near 1.

    Salakhutdinov & Murray's (2008) schedule, scaled: steps of equal size on [0, 0.5),
    [0.5, 0.9) and [0.9, 1] in the proportions 500 : 4000 : 10000 (piecewise-linear in the
    step index, so any length from 2 starts at 0 and ends at 1).
    """
    if (
        isinstance(n_betas, bool)
        or not isinstance(n_betas, (int, np.integer))
        or not 2 <= n_betas <= MAX_BETAS
    ):
        raise ValueError(f"n_betas must be an int from 2 to {MAX_BETAS}; got {n_betas!r}.")
    # The step boundaries of the full schedule, as fractions of its length, mapped onto the
    # n_betas - 1 steps asked for: a short schedule keeps its start at 0 and the same shape.
    knots = np.concatenate([[0.0], np.cumsum(_SCHEDULE_STEPS) / sum(_SCHEDULE_STEPS)])
    position = np.linspace(0.0, 1.0, n_betas)
    betas = np.interp(position, knots, _SCHEDULE_KNOTS)
    betas[0], betas[-1] = 0.0, 1.0
    return _check_betas(betas)


def _check_betas(betas) -> np.ndarray:
    betas = np.asarray(betas, dtype=np.float64)
    if betas.ndim != 1 or not 2 <= len(betas) <= MAX_BETAS:
        raise ValueError(
            f"betas must be a 1-D schedule of 2 to {MAX_BETAS} values; got shape {betas.shape}."
        )
    if betas[0] != 0.0 or betas[-1] != 1.0 or (np.diff(betas) <= 0).any():
        raise ValueError("betas must increase strictly from 0 to 1.")
    return betas


# --- exact


def exact_log_partition(weights, visible_bias, hidden_bias, *, visible: str = "bernoulli") -> float:
    """log Z by summing over every configuration of one layer, in float64.

    Bernoulli visibles enumerate the smaller layer and sum the other out analytically; Gaussian
    visibles enumerate the hidden layer and integrate the visibles,
    Z = (2 pi)^(n_visible / 2) sum_h exp(c.h + (||b + W^T h||^2 - ||b||^2) / 2).

    Parameters
    ----------
    weights : array-like of shape (n_hidden, n_visible)
    visible_bias : array-like of shape (n_visible,)
    hidden_bias : array-like of shape (n_hidden,)
    visible : {"bernoulli", "gaussian"}, default="bernoulli"

    Raises
    ------
    ValueError
        If the enumerated layer has more than 25 units (2^25 configurations).
    """
    check_visible(visible)
    W, b, c = _parameters(weights, visible_bias, hidden_bias)
    n_hidden, n_visible = W.shape
    if visible == "bernoulli" and n_visible < n_hidden:
        # Visibles and hiddens play symmetric roles: enumerate the smaller side.
        W, b, c = W.T, c, b
        n_hidden, n_visible = n_visible, n_hidden
    if n_hidden > MAX_ENUMERATED_UNITS:
        side = "hidden" if visible == "gaussian" else "smaller"
        raise ValueError(
            f"exact_log_partition enumerates the {side} layer, which has {n_hidden} units; "
            f"at most {MAX_ENUMERATED_UNITS} can be enumerated. Use ais_log_partition."
        )
    total = 2**n_hidden
    chunk = max(1, _CHUNK_ELEMENTS // max(n_hidden, n_visible))
    parts = []
    for start in range(0, total, chunk):
        h = binary_states(
            n_hidden, start, min(start + chunk, total), dtype=W.dtype, device=W.device
        )
        a = torch.addmm(b, h, W)  # (chunk, n_visible): the visibles' input given h
        if visible == "gaussian":
            terms = h @ c + 0.5 * (a**2).sum(1)
        else:
            terms = h @ c + softplus(a).sum(1)
        parts.append(torch.logsumexp(terms, 0))
    log_z = torch.logsumexp(torch.stack(parts), 0).item()
    if visible == "gaussian":
        log_z += log_gaussian_normaliser(n_visible) - 0.5 * float(b @ b)
    return log_z


# --- annealed importance sampling


def ais_log_partition(
    weights,
    visible_bias,
    hidden_bias,
    *,
    visible: str = "bernoulli",
    base_visible_bias=None,
    n_chains: int = 100,
    n_betas: int = 10_000,
    betas=None,
    random_state=None,
    progress: bool = False,
) -> AISResult:
    """Estimate log Z by annealed importance sampling (Neal, 2001).

    Follows Salakhutdinov & Murray (2008, sec. 4): the chains start from the base-rate model
    p_A(v) ∝ exp(b_A.v) (Gaussian visibles: N(b_A, I)), whose hidden units are independent of
    v, and move along the geometric path p_beta ∝ p_A^(1 - beta) p_B^beta to the model p_B.
    With the hidden units summed out, p*_beta(v) = exp((1 - beta) b_A.v + beta b.v)
    prod_j (1 + exp(beta (c_j + W_j v))) for Bernoulli visibles (eq. 14). Each chain gathers
    log w = sum_k log p*_k(v_k) - log p*_(k-1)(v_k) and moves from v_k to v_(k+1) by one block
    Gibbs sweep h ~ p_k(h | v), v ~ p_k(v | h). Then Z_B / Z_A is estimated by the mean weight.
    All chains advance together; everything is float64.

    Parameters
    ----------
    weights : array-like or tensor of shape (n_hidden, n_visible)
    visible_bias : array-like of shape (n_visible,)
    hidden_bias : array-like of shape (n_hidden,)
    visible : {"bernoulli", "gaussian"}, default="bernoulli"
    base_visible_bias : array-like of shape (n_visible,) or None
        Visible biases b_A of the base-rate model; None is zeros (uniform, or N(0, I)).
        A base close to the data (the logit of its mean) lowers the variance.
    n_chains : int, default=100
        At most 2^20.
    n_betas : int, default=10000
        Inverse temperatures of the default schedule (see `default_betas`), 0 and 1 included;
        at most 10^7, as the length of `betas`.
    betas : array-like or None
        An explicit schedule, increasing strictly from 0 to 1; overrides `n_betas`.
    random_state : int, torch.Generator or None
    progress : bool, default=False
        Show a tqdm progress bar over temperatures.

    Returns
    -------
    AISResult
    """
    check_visible(visible)
    W, b, c = _parameters(weights, visible_bias, hidden_bias)
    n_hidden, n_visible = W.shape
    b_base = (
        torch.zeros_like(b)
        if base_visible_bias is None
        else _parameters(W, base_visible_bias, c)[1]
    )
    if (
        isinstance(n_chains, bool)
        or not isinstance(n_chains, (int, np.integer))
        or not 1 <= n_chains <= MAX_ROWS
    ):
        raise ValueError(f"n_chains must be an int from 1 to {MAX_ROWS}; got {n_chains!r}.")
    betas = default_betas(n_betas) if betas is None else _check_betas(betas)
    gen = (
        random_state
        if isinstance(random_state, torch.Generator)
        else make_generator(random_state, W.device)
    )
    gaussian = visible == "gaussian"
    # log Z_A: the visibles' normaliser times 2^n_hidden for the free hidden units.
    if gaussian:
        log_z_base = log_gaussian_normaliser(n_visible) + n_hidden * math.log(2)
    else:
        log_z_base = float(softplus(b_base).sum()) + n_hidden * math.log(2)
    log_w = _anneal(W, b, c, b_base, betas, n_chains, gaussian, gen, progress)
    log_weights = log_w.cpu().numpy()
    log_mean = float(torch.logsumexp(log_w, 0)) - math.log(n_chains)
    w = np.exp(log_weights - log_weights.max())  # normalised weights
    stderr = float(w.std(ddof=1) / (math.sqrt(n_chains) * w.mean())) if n_chains > 1 else math.inf
    return AISResult(
        log_z=log_z_base + log_mean,
        stderr=stderr,
        log_weights=log_weights,
        log_z_base=log_z_base,
        n_betas=len(betas),
    )


def _bernoulli(p: Tensor, gen) -> Tensor:
    """0/1 draws with probabilities p, in p's dtype: float32 uniforms, which are about three
    times faster than torch.bernoulli in float64 and exact enough for sampling."""
    u = torch.rand(p.shape, generator=gen, device=p.device, dtype=torch.float32)
    return (u < p).to(p.dtype)


@torch.no_grad()
def _anneal(W, b, c, b_base, betas, n_chains, gaussian, gen, progress) -> Tensor:
    """The AIS loop: the final log weight of each chain, (n_chains,)."""
    n_hidden, n_visible = W.shape
    like = dict(device=W.device, dtype=W.dtype)
    # Exact draws from p_A.
    if gaussian:
        v = b_base + torch.randn(n_chains, n_visible, generator=gen, **like)
    else:
        v = torch.bernoulli(torch.sigmoid(b_base).expand(n_chains, -1), generator=gen)
    log_w = torch.zeros(n_chains, **like)
    # The visible terms of log p*_beta are linear in beta: beta (b - b_A).v plus, for Gaussian
    # visibles, beta (||b_A||^2 - ||b||^2) / 2.
    b_diff = b - b_base
    const = 0.5 * float(b_base @ b_base - b @ b) if gaussian else 0.0
    bar = tqdm(total=len(betas) - 1, desc="AIS", disable=not progress, leave=False)
    for k in range(1, len(betas)):
        beta, step = float(betas[k]), float(betas[k] - betas[k - 1])
        x = torch.addmm(c, v, W.T)  # (n_chains, n_hidden)
        log_w += step * (torch.mv(v, b_diff) + const)
        log_w += softplus(beta * x).sum(1) - softplus(float(betas[k - 1]) * x).sum(1)
        if k < len(betas) - 1:
            # One sweep that leaves p_beta invariant.
            h = _bernoulli(torch.sigmoid(beta * x), gen)
            a = torch.addmm(b_base + beta * b_diff, h, W, alpha=beta)
            if gaussian:
                v = torch.randn(n_chains, n_visible, generator=gen, **like).add_(a)
            else:
                v = _bernoulli(torch.sigmoid(a), gen)
        if k % _PROGRESS_EVERY == 0:
            bar.update(_PROGRESS_EVERY)
    bar.close()
    return log_w
