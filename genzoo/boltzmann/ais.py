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
from torch.nn import functional
from tqdm.auto import tqdm

from genzoo._validation import make_generator
from genzoo.boltzmann._limits import MAX_BETAS, MAX_ROWS
from genzoo.boltzmann._rbm_math import (
    binary_states,
    check_visible,
    log_gaussian_normaliser,
    softplus,
)

__all__ = [
    "AISResult",
    "adapted_betas",
    "ais_log_partition",
    "default_betas",
    "exact_log_partition",
]

# Most units `exact_log_partition` enumerates (2^25 configurations).
MAX_ENUMERATED_UNITS = 25
# Most elements (configurations x units) of one enumerated chunk.
_CHUNK_ELEMENTS = 2**22
# Salakhutdinov & Murray's schedule: 500 steps on [0, 0.5), 4000 on [0.5, 0.9), 10000 on [0.9, 1].
_SCHEDULE_KNOTS = (0.0, 0.5, 0.9, 1.0)
_SCHEDULE_STEPS = (500, 4_000, 10_000)
# The progress bar moves every this many temperatures, to keep its cost out of the loop.
_PROGRESS_EVERY = 200
# The adapted schedule's pilot run: chains, and temperatures evenly spaced on [0, 1].
PILOT_CHAINS = 32
PILOT_BETAS = 64
# Variance of the log weights that the adapted schedule aims at, by its thermodynamic length:
# small enough that the delta-method standard error is trustworthy, large enough that the
# chains, not the temperatures, carry most of the cost (see `adapted_betas`).
TARGET_LOG_WEIGHT_VAR = 0.1
# Bounds on the adapted schedule's length; the upper one is Salakhutdinov & Murray's 14,500.
MIN_ADAPTED_BETAS = 16
MAX_ADAPTED_BETAS = 14_501
# The AIS chains' dtype (see `_anneal`).
_CHAIN_DTYPE = torch.float32
# Without `max_chains`, the stopping rule adds at most this many times `n_chains`.
MAX_CHAINS_FACTOR = 64


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
    n_chains : int
        Number of chains, all rounds together.
    """

    log_z: float
    stderr: float
    log_weights: np.ndarray
    log_z_base: float
    n_betas: int
    n_chains: int


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
    if visible == "bernoulli" and n_hidden >= 2:
        log_z = _split_log_partition(W, b, c)
        if log_z is not None:
            return log_z
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


def _split_log_partition(W: Tensor, b: Tensor, c: Tensor) -> float | None:
    """log Z of a Bernoulli RBM by products over split halves of the enumerated layer, or
    None where the weights are too large for it (then the caller sums softplus terms).

    log Z = logsumexp_h [c.h + sum_i log(1 + exp(b_i + (W^T h)_i))]. Splitting h into its low
    and high bits, h = (h1, h2), makes exp(b_i + (W^T h)_i) = A[h1, i] B[h2, i] with
    A = exp(b + W1^T h1) and B = exp(W2^T h2), tables of 2^(n/2) rows. So the 2^n x n_visible
    terms need a multiply and an add each, and one log per group of g visibles, whose product
    of (1 + A B) stays below e^700: no exp or log per term, several times faster than softplus
    and as exact (the products round like sums of logs).
    """
    n, m = W.shape
    # |b_i + (W^T h)_i| <= bound_i for every h: A, B and A B stay within exp(+-700).
    bound = float((b.abs() + W.abs().sum(0)).max())
    if bound > 600:
        return None
    g = min(m, max(1, int(700 // (bound + 1))))  # 1 + e^a <= e^(a+1) for a >= 0
    n_groups = -(-m // g)
    n1 = n // 2
    like = dict(dtype=W.dtype, device=W.device)
    low, high = binary_states(n1, 0, 2**n1, **like), binary_states(n - n1, 0, 2 ** (n - n1), **like)

    def grouped(table: Tensor) -> Tensor:  # (rows, m) -> (g, rows, n_groups), padded with 0
        table = functional.pad(table, (0, n_groups * g - m))
        return table.view(len(table), n_groups, g).permute(2, 0, 1).contiguous()

    A, B = grouped(torch.addmm(b, low, W[:n1]).exp_()), grouped((high @ W[n1:]).exp_())
    c_low, c_high = low @ c[:n1], high @ c[n1:]
    # Chunks of high rows small enough for the running products to stay in cache.
    chunk = max(1, _CHUNK_ELEMENTS // 16 // (len(low) * n_groups))
    parts = []
    for start in range(0, len(high), chunk):
        B_part = B[:, start : start + chunk]
        product = torch.ones(B_part.shape[1], len(low), n_groups, **like)
        factor = torch.empty_like(product)
        for t in range(g):  # product *= 1 + A_t B_t over the groups' members
            torch.mul(B_part[t][:, None, :], A[t][None, :, :], out=factor)
            product.mul_(factor.add_(1))
        terms = product.log_().sum(2) + c_low + c_high[start : start + chunk, None]
        parts.append(torch.logsumexp(terms.flatten(), 0))
    return torch.logsumexp(torch.stack(parts), 0).item()


# --- annealed importance sampling


def ais_log_partition(
    weights,
    visible_bias,
    hidden_bias,
    *,
    visible: str = "bernoulli",
    base_visible_bias=None,
    n_chains: int = 100,
    n_betas: int | None = None,
    betas=None,
    tol: float | None = 0.05,
    max_chains: int | None = None,
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
    All chains of a round advance together as one (n_chains, n_visible) state, in float32; the
    log weights are summed in float64.

    By default the temperatures are adapted to the model (`adapted_betas`: a 32-chain pilot
    run measures how fast log p*_beta changes along the path, and the schedule takes equal
    steps of that thermodynamic length, as many as make the log weights' variance about 0.1),
    and chains are added in rounds until the standard error of log Z is at most `tol`:
    after a first round of `n_chains`, the next round has as many chains as the delta method
    says are missing (1.2 times, at least a quarter of `n_chains`), up to `max_chains` in all.

    Parameters
    ----------
    weights : array-like or tensor of shape (n_hidden, n_visible)
    visible_bias : array-like of shape (n_visible,)
    hidden_bias : array-like of shape (n_hidden,)
    visible : {"bernoulli", "gaussian"}, default="bernoulli"
    base_visible_bias : array-like of shape (n_visible,) or None
        Visible biases b_A of the base-rate model; None is zeros (uniform, or N(0, I)).
        A base close to the data (the logit of its mean) lowers the variance a lot.
    n_chains : int, default=100
        Chains of the first round, at most 2^20.
    n_betas : int or None, default=None
        None adapts the schedule to the model (above). An int asks for Salakhutdinov &
        Murray's fixed shape of that length (see `default_betas`), 0 and 1 included, at most
        10^7.
    betas : array-like or None
        An explicit schedule, increasing strictly from 0 to 1; overrides `n_betas`.
    tol : float or None, default=0.05
        Target standard error of log Z in nats; None runs one round of `n_chains`.
    max_chains : int or None
        Most chains in all rounds together; None is 64 times `n_chains` (at most 2^20).
    random_state : int, torch.Generator or None
        Seeds the pilot run and every round: the same seed gives the same estimate.
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
    _check_count(n_chains, "n_chains", 1)
    max_chains = min(MAX_CHAINS_FACTOR * n_chains, MAX_ROWS) if max_chains is None else max_chains
    _check_count(max_chains, "max_chains", n_chains)
    valid_tol = isinstance(tol, (int, float)) and not isinstance(tol, bool) and 0 < tol < math.inf
    if tol is not None and not valid_tol:
        raise ValueError(f"tol must be a positive number of nats or None; got {tol!r}.")
    if betas is not None:
        betas = _check_betas(betas)
    elif n_betas is not None:
        betas = default_betas(n_betas)
    gen = (
        random_state
        if isinstance(random_state, torch.Generator)
        else make_generator(random_state, W.device)
    )
    gaussian = visible == "gaussian"
    if betas is None:
        betas = _adapt(W, b, c, b_base, gaussian, gen)
    # log Z_A: the visibles' normaliser times 2^n_hidden for the free hidden units.
    if gaussian:
        log_z_base = log_gaussian_normaliser(n_visible) + n_hidden * math.log(2)
    else:
        log_z_base = float(softplus(b_base).sum()) + n_hidden * math.log(2)
    log_w = _rounds(W, b, c, b_base, betas, gaussian, gen, n_chains, tol, max_chains, progress)
    log_weights = log_w.cpu().numpy()
    log_mean = float(torch.logsumexp(log_w, 0)) - math.log(len(log_w))
    return AISResult(
        log_z=log_z_base + log_mean,
        stderr=_stderr(log_weights),
        log_weights=log_weights,
        log_z_base=log_z_base,
        n_betas=len(betas),
        n_chains=len(log_weights),
    )


def _check_count(value, name: str, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an int from {low} to {MAX_ROWS}; got {value!r}.")
    if not low <= value <= MAX_ROWS:
        raise ValueError(f"{name} must be an int from {low} to {MAX_ROWS}; got {value!r}.")


def _stderr(log_weights: np.ndarray) -> float:
    """Standard error of the log mean weight by the delta method, std(w) / (sqrt(n) mean(w))."""
    n = len(log_weights)
    if n < 2:
        return math.inf
    w = np.exp(log_weights - log_weights.max())  # normalised weights
    return float(w.std(ddof=1) / (math.sqrt(n) * w.mean()))


def _rounds(W, b, c, b_base, betas, gaussian, gen, n_chains, tol, max_chains, progress) -> Tensor:
    """Log weights of AIS runs over `betas`, in rounds until the standard error is `tol`."""
    log_w, _ = _anneal(W, b, c, b_base, betas, n_chains, gaussian, gen, progress=progress)
    while tol is not None and len(log_w) < max_chains:
        stderr = _stderr(log_w.cpu().numpy())
        if stderr <= tol:
            break
        # The standard error falls as 1/sqrt(chains): ask for the missing ones and a margin.
        missing = len(log_w) * ((stderr / tol) ** 2 - 1) if stderr < math.inf else n_chains
        # At least a quarter round: a whole one overshot by up to n_chains when a few were missing.
        more = min(max(math.ceil(1.2 * missing), -(-n_chains // 4)), max_chains - len(log_w))
        extra, _ = _anneal(W, b, c, b_base, betas, more, gaussian, gen, progress=progress)
        log_w = torch.cat([log_w, extra])
    return log_w


# --- the schedule


def adapted_betas(spread: np.ndarray, pilot_betas: np.ndarray) -> np.ndarray:
    """A schedule at equal steps of thermodynamic length, long enough for log weights of
    variance about TARGET_LOG_WEIGHT_VAR.

    `spread[k]` is the standard deviation of d log p*_beta / d beta at `pilot_betas[k]`. Moving
    from beta to beta + d adds a log weight increment of variance about (spread d)^2, so with
    the length L(beta) = integral of spread from 0 to beta, K steps of equal length give log
    weights of variance about L(1)^2 / K (Gelman & Meng, 1998; Neal, 2001, sec. 3), and the
    steps crowd where the model changes fastest: near beta = 1 for a trained RBM. A floor of
    5% of the mean spread keeps some steps where it is flat.
    """
    density = spread + 0.05 * spread.mean() + 1e-12
    length = np.concatenate(
        [[0.0], np.cumsum(0.5 * (density[1:] + density[:-1]) * np.diff(pilot_betas))]
    )
    total = length[-1]
    n_steps = math.ceil(total**2 / TARGET_LOG_WEIGHT_VAR)
    n_steps = min(max(n_steps, MIN_ADAPTED_BETAS - 1), MAX_ADAPTED_BETAS - 1)
    betas = np.interp(np.linspace(0.0, total, n_steps + 1), length, pilot_betas)
    betas[0], betas[-1] = 0.0, 1.0
    return _check_betas(betas)


def _adapt(W, b, c, b_base, gaussian, gen) -> np.ndarray:
    """The adapted schedule of this model, from a pilot run on evenly spaced temperatures."""
    pilot = np.linspace(0.0, 1.0, PILOT_BETAS)
    _, spread = _anneal(W, b, c, b_base, pilot, PILOT_CHAINS, gaussian, gen, spread=True)
    # The pilot measures the spread at beta_1 .. beta_K; beta_0 takes beta_1's.
    spread = spread.cpu().numpy()
    return adapted_betas(np.concatenate([spread[:1], spread]), pilot)


# --- the annealing loop


def _hidden_terms(x: Tensor, beta: float, previous: float) -> tuple[Tensor, Tensor]:
    """sum_j softplus(beta x_j) - softplus(previous x_j), (n,), and sigmoid(beta |x|), (n, m).

    With softplus(t) = max(t, 0) + log(1 + exp(-|t|)), the difference is
    (beta - previous) max(x, 0) - log((1 + exp(-previous |x|)) / (1 + exp(-beta |x|))), and
    that log is log1p(exp(-previous |x|) (1 - exp(-(beta - previous) |x|)) r) with
    r = 1 / (1 + exp(-beta |x|)) = sigmoid(beta |x|): each factor is in [0, 1] and accurate to
    its own relative precision (the middle one by expm1), so float32 chains lose nothing where
    neighbouring temperatures nearly cancel (forming the ratio itself left a float32 rounding of
    1e-7 per unit and step), and nothing overflows.
    """
    magnitude = x.abs()
    r = torch.mul(magnitude, -beta).exp_().add_(1).reciprocal_()  # sigmoid(beta |x|)
    log_ratio = torch.mul(magnitude, previous - beta).expm1_().neg_()
    log_ratio.mul_(torch.mul(magnitude, -previous).exp_()).mul_(r).log1p_()
    # sum_j max(x_j, 0) = (sum_j x_j + sum_j |x_j|) / 2
    positive = 0.5 * (x.sum(1) + magnitude.sum(1))
    return (beta - previous) * positive - log_ratio.sum(1), r


def _draw_hidden(x: Tensor, r: Tensor, gen) -> Tensor:
    """h ~ Bernoulli(sigmoid(beta x)), given x and r = sigmoid(beta |x|).

    Where x >= 0, h = [u < r]; where x < 0, h = [u >= r], which is 1 with probability
    1 - r = sigmoid(beta x). One comparison with the sign is cheaper than forming sigmoid(beta x).
    Float32 uniforms, as in `_bernoulli`.
    """
    u = torch.rand(r.shape, generator=gen, device=r.device, dtype=torch.float32)
    return torch.ne(u < r, x < 0).to(r.dtype)


def _bernoulli(p: Tensor, gen) -> Tensor:
    """0/1 draws with probabilities p, in p's dtype: float32 uniforms, which are about three
    times faster than torch.bernoulli in float64 and exact enough for sampling."""
    u = torch.rand(p.shape, generator=gen, device=p.device, dtype=torch.float32)
    return (u < p).to(p.dtype)


@torch.no_grad()
def _anneal(
    W, b, c, b_base, betas, n_chains, gaussian, gen, *, progress=False, spread=False
) -> tuple[Tensor, Tensor | None]:
    """The AIS loop: the final log weight of each chain, (n_chains,), and with `spread` the
    standard deviation over chains of d log p*_beta / d beta at each beta_k, k >= 1."""
    n_hidden, n_visible = W.shape
    # The chains and their matrix products run in float32, twice as fast as float64; the
    # increments are small differences of smooth functions of W v, so their float32 rounding
    # (about 1e-7 relative) adds up to far less than the estimate's standard error, and the
    # log weights themselves are summed in float64.
    like = dict(device=W.device, dtype=_CHAIN_DTYPE)
    W, b, c, b_base = (t.to(_CHAIN_DTYPE) for t in (W, b, c, b_base))
    # Exact draws from p_A.
    if gaussian:
        v = b_base + torch.randn(n_chains, n_visible, generator=gen, **like)
    else:
        v = torch.bernoulli(torch.sigmoid(b_base).expand(n_chains, -1), generator=gen)
    log_w = torch.zeros(n_chains, device=W.device, dtype=torch.float64)
    # The visible terms of log p*_beta are linear in beta: beta (b - b_A).v plus, for Gaussian
    # visibles, beta (||b_A||^2 - ||b||^2) / 2.
    b_diff = b - b_base
    const = 0.5 * float(b_base.double().square().sum() - b.double().square().sum())
    const = const if gaussian else 0.0
    spreads = []
    betas = [float(beta) for beta in betas]  # Python floats: no tensor indexing in the loop
    bar = tqdm(total=len(betas) - 1, desc="AIS", disable=not progress, leave=False)
    for k in range(1, len(betas)):
        beta, step = betas[k], betas[k] - betas[k - 1]
        x = torch.addmm(c, v, W.T)  # (n_chains, n_hidden)
        visible_term = torch.mv(v, b_diff).add_(const)
        hidden_term, r = _hidden_terms(x, beta, betas[k - 1])
        log_w += step * visible_term + hidden_term
        if spread:  # d log p*_beta / d beta = (b - b_A).v + const + sum_j x_j sigmoid(beta x_j)
            spreads.append((visible_term + (x * torch.sigmoid(beta * x)).sum(1)).std())
        if k < len(betas) - 1:
            # One sweep that leaves p_beta invariant.
            h = _draw_hidden(x, r, gen)
            a = torch.addmm(b_base + beta * b_diff, h, W, alpha=beta)
            if gaussian:
                v = torch.randn(n_chains, n_visible, generator=gen, **like).add_(a)
            else:
                v = _bernoulli(a.sigmoid_(), gen)
        if k % _PROGRESS_EVERY == 0:
            bar.update(_PROGRESS_EVERY)
    bar.close()
    return log_w, torch.stack(spreads) if spread else None
