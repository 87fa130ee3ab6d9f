"""Pure functions of a bipartite Boltzmann machine: free energy, conditionals, Gibbs sweeps.

The model has visible units v (binary, or Gaussian with unit variance) and binary hidden units
h, weights W of shape (n_hidden, n_visible) as scikit-learn's `components_`, and biases b
(visible) and c (hidden), with energy

    Bernoulli visibles: E(v, h) = -b.v - c.h - h.W v
    Gaussian visibles:  E(v, h) = ||v - b||^2 / 2 - c.h - h.W v

(Hinton, 2010, "A practical guide to training restricted Boltzmann machines"). Rows are
samples: v is (n, n_visible), h is (n, n_hidden).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.nn import functional

VISIBLE_KINDS = ("bernoulli", "gaussian")
# Above this input softplus is linear; exp(-40) is far below float64 resolution of the result.
_SOFTPLUS_THRESHOLD = 40.0


def softplus(x: Tensor) -> Tensor:
    """log(1 + exp(x)), stable for any x."""
    return functional.softplus(x, threshold=_SOFTPLUS_THRESHOLD)


def check_visible(visible: str) -> str:
    if visible not in VISIBLE_KINDS:
        raise ValueError(f"visible must be 'bernoulli' or 'gaussian'; got {visible!r}.")
    return visible


# --- energies


def hidden_input(v: Tensor, W: Tensor, c: Tensor, scale: float = 1.0) -> Tensor:
    """c + scale W v for each row of v, (n, n_hidden); `scale` doubles the weights of a DBM's
    pre-training (see `_cd`)."""
    return torch.addmm(c, v, W.T, alpha=scale)


def free_energy(v: Tensor, W: Tensor, b: Tensor, c: Tensor, visible: str) -> Tensor:
    """F(v) = -log sum_h exp(-E(v, h)), (n,); p(v) = exp(-F(v)) / Z."""
    hidden = softplus(hidden_input(v, W, c)).sum(1)
    if visible == "gaussian":
        return 0.5 * ((v - b) ** 2).sum(1) - hidden
    return -(v @ b) - hidden


# --- conditionals and Gibbs sampling


def bernoulli(p: Tensor, gen: torch.Generator) -> Tensor:
    """0/1 draws with probabilities p, in p's dtype.

    On the CPU these are the very draws of ``torch.bernoulli(p, generator=gen)`` (a uniform of
    p's dtype below p), and faster. A NaN draws 0 where CUDA's ``torch.bernoulli`` stops
    the process with a device-side assert, so a diverged run reaches the finiteness check that
    reports it.
    """
    # lt_ writes the comparison into the uniforms' own float buffer: no bool tensor to convert.
    return torch.rand(p.shape, generator=gen, device=p.device, dtype=p.dtype).lt_(p)


def hidden_mean(v: Tensor, W: Tensor, c: Tensor, scale: float = 1.0) -> Tensor:
    """p(h_j = 1 | v) = sigmoid(c_j + scale W_j v), (n, n_hidden)."""
    return hidden_input(v, W, c, scale).sigmoid_()


def visible_mean(h: Tensor, W: Tensor, b: Tensor, visible: str, scale: float = 1.0) -> Tensor:
    """E[v | h]: sigmoid(b + scale W^T h) for Bernoulli visibles, b + scale W^T h for Gaussian
    ones."""
    a = torch.addmm(b, h, W, alpha=scale)
    return a if visible == "gaussian" else a.sigmoid_()


def sample_visible(
    h: Tensor, W: Tensor, b: Tensor, visible: str, gen, scale: float = 1.0
) -> Tensor:
    """A draw of v from p(v | h), (n, n_visible)."""
    mean = visible_mean(h, W, b, visible, scale)
    if visible == "gaussian":
        return mean + torch.randn(mean.shape, generator=gen, device=mean.device, dtype=mean.dtype)
    return bernoulli(mean, gen)


@torch.no_grad()
def block_gibbs(
    v: Tensor, W: Tensor, b: Tensor, c: Tensor, *, visible: str, n_steps: int, gen
) -> tuple[Tensor, Tensor]:
    """`n_steps` block Gibbs sweeps v -> h -> v from the visible state v, all chains at once.

    Returns the last visible state and the hidden probabilities it gave rise to, so that a
    caller can take the mean-field statistics of the last step.
    """
    for _ in range(n_steps):
        h = bernoulli(hidden_mean(v, W, c), gen)
        v = sample_visible(h, W, b, visible, gen)
    return v, hidden_mean(v, W, c)


def reconstruction_error(v: Tensor, W: Tensor, b: Tensor, c: Tensor, visible: str) -> Tensor:
    """Mean squared error per feature of the mean-field reconstruction E[v | p(h | v)], a
    0-d tensor (reading it is a host sync: once per epoch, for the progress bar only)."""
    return ((visible_mean(hidden_mean(v, W, c), W, b, visible) - v) ** 2).mean()


def log_pseudo_likelihood(v: Tensor, W: Tensor, b: Tensor, c: Tensor) -> Tensor:
    """sum_i log sigmoid(F(v with bit i flipped) - F(v)) for each row of binary v, (n,)."""
    x = hidden_input(v, W, c)  # (n, n_hidden)
    sign = 1 - 2 * v  # (n, n_visible): +1 turns a bit on, -1 off
    flipped = x[:, None, :] + sign[:, :, None] * W.T[None]  # (n, n_visible, n_hidden)
    # F(flipped) - F(v) = -b_i sign_i - sum_j [softplus(flipped_j) - softplus(x_j)]
    delta = -b * sign - (softplus(flipped).sum(2) - softplus(x).sum(1, keepdim=True))
    return -softplus(-delta).sum(1)


# --- exhaustive enumeration


def binary_states(n_units: int, start: int, stop: int, *, dtype, device) -> Tensor:
    """Rows start..stop-1 of the 2^n_units binary configurations, (stop - start, n_units).

    Row i holds the bits of i, least significant first.
    """
    index = torch.arange(start, stop, device=device)
    bits = torch.arange(n_units, device=device)
    return ((index[:, None] >> bits) & 1).to(dtype)


def log_gaussian_normaliser(n_visible: int) -> float:
    """log of the integral of exp(-||v||^2 / 2) over R^n_visible."""
    return 0.5 * n_visible * math.log(2 * math.pi)
