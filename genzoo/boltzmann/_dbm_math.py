"""Pure functions of a deep Boltzmann machine: mean-field, Gibbs sweeps, bound, pre-training.

A DBM has layers x_0 = v, x_1, ..., x_L of binary units, weights W_l of shape
(n_l, n_{l-1}) between x_{l-1} and x_l, and biases b_l, with energy

    -E(x) = sum_l b_l . x_l + sum_{l >= 1} x_l^T W_l x_{l-1}

(Salakhutdinov and Hinton, 2009). Given its even layers the odd ones are independent, and vice
versa: every sampler and mean-field update below works on the two blocks in turn. Layers are
lists of tensors of shape (n_rows, n_l); `weights` and `biases` are lists of tensors.
"""

from __future__ import annotations

import torch
from torch import Tensor

from genzoo.boltzmann._rbm_train import MEAN_CLIP

DIVERGED = "the DBM's training diverged to NaN or infinity; lower learning_rate or momentum."

# --- Bernoulli units


def bernoulli_entropy(p: Tensor) -> Tensor:
    """Entropy of independent Bernoullis with means p, summed over the last axis."""
    return -(torch.special.xlogy(p, p) + torch.special.xlogy(1 - p, 1 - p)).sum(-1)


def base_rate_bias(data: Tensor) -> Tensor:
    """Logits of the column means of `data`, clipped away from 0 and 1 (Hinton's guide, 8.1)."""
    mean = data.mean(0).clamp(MEAN_CLIP, 1 - MEAN_CLIP)
    return torch.log(mean / (1 - mean))


# --- layer inputs and the bipartite view


def layer_input(states: list[Tensor], weights: list[Tensor], biases: list[Tensor], i: int):
    """Total input b_i + W_i x_{i-1} + W_{i+1}^T x_{i+1} to layer i, (n_rows, n_i)."""
    a = biases[i].expand(len(states[0]), -1)
    if i >= 1:
        a = a + states[i - 1] @ weights[i - 1].T
    if i < len(weights):
        a = a + states[i + 1] @ weights[i]
    return a


def bipartite_parameters(weights: list[Tensor], biases: list[Tensor]):
    """The DBM as one RBM between its odd layers (the "visible" side) and its even layers.

    Returns (W, b_odd, b_even) with W of shape (n_even, n_odd) holding each W_l (or its
    transpose) in its block and zeros between non-adjacent layers, so that
    -E = b_odd . x_odd + b_even . x_even + x_even^T W x_odd.
    """
    sizes = [len(b) for b in biases]
    odd, even = range(1, len(sizes), 2), range(0, len(sizes), 2)
    span = {}  # each layer's rows (even) or columns (odd) in W
    for side in (odd, even):
        offset = 0
        for i in side:
            span[i] = slice(offset, offset + sizes[i])
            offset += sizes[i]
    W = weights[0].new_zeros(sum(sizes[i] for i in even), sum(sizes[i] for i in odd))
    for i in range(1, len(sizes)):
        if i % 2 == 0:  # W_i is (n_i, n_{i-1}): rows of even layer i, columns of odd i - 1
            W[span[i], span[i - 1]] = weights[i - 1]
        else:
            W[span[i - 1], span[i]] = weights[i - 1].T
    b_odd = torch.cat([biases[i] for i in odd])
    b_even = torch.cat([biases[i] for i in even])
    return W, b_odd, b_even


# --- mean-field inference


def mean_field(
    v: Tensor,
    weights: list[Tensor],
    biases: list[Tensor],
    *,
    n_iter: int,
    tol: float = 0.0,
) -> list[Tensor]:
    """Fixed-point mean-field posterior means [v, mu_1, ..., mu_L] of q(h | v).

    Starts from a bottom-up pass with doubled weights into every layer but the top (whose
    missing top-down input the doubling stands in for, as in the pre-training), then updates
    the odd and the even hidden layers in turn, each block exactly from its neighbours
    (Salakhutdinov and Hinton, 2009, sec. 3). A row stops updating once its largest change is
    at most `tol`, so each row's result does not depend on the rest of the batch.
    """
    n_layers = len(biases)
    mu = [v]
    for i in range(1, n_layers):
        scale = 2.0 if i < n_layers - 1 else 1.0
        mu.append(torch.sigmoid(biases[i] + scale * (mu[i - 1] @ weights[i - 1].T)))
    active = torch.ones(len(v), 1, dtype=torch.bool, device=v.device)
    blocks = (range(1, n_layers, 2), range(2, n_layers, 2))
    for _ in range(n_iter):
        change = torch.zeros(len(v), dtype=v.dtype, device=v.device)
        for block in blocks:
            for i in block:
                new = torch.sigmoid(layer_input(mu, weights, biases, i))
                change = torch.maximum(change, (new - mu[i]).abs().amax(1))
                mu[i] = torch.where(active, new, mu[i])
        active = active & (change > tol)[:, None]
        if not active.any():
            break
    return mu


def mean_field_bound(mu: list[Tensor], weights: list[Tensor], biases: list[Tensor]) -> Tensor:
    """Variational lower bound E_q[-E(v, h)] + H(q) on log p*(v) (unnormalised), (n_rows,).

    `mu` is [v, mu_1, ..., mu_L] from `mean_field`; q is the factorised Bernoulli posterior.
    """
    out = mu[0] @ biases[0]
    for i in range(1, len(mu)):
        out = out + mu[i] @ biases[i] + ((mu[i - 1] @ weights[i - 1].T) * mu[i]).sum(1)
        out = out + bernoulli_entropy(mu[i])
    return out


# --- block Gibbs sampling


@torch.no_grad()
def gibbs_sweeps(
    states: list[Tensor],
    weights: list[Tensor],
    biases: list[Tensor],
    *,
    n_steps: int,
    gen: torch.Generator,
) -> list[Tensor]:
    """Alternating block Gibbs: sample all odd layers given the even ones, then the even.

    Returns new states; the input list is not changed.
    """
    states = list(states)
    blocks = (range(1, len(states), 2), range(0, len(states), 2))
    for _ in range(n_steps):
        for block in blocks:
            for i in block:
                p = torch.sigmoid(layer_input(states, weights, biases, i))
                states[i] = torch.bernoulli(p, generator=gen)
    return states


# --- greedy pre-training


def pretrain_rbm(
    data: Tensor,
    n_hidden: int,
    *,
    up: float,
    down: float,
    n_iter: int,
    batch_size: int,
    learning_rate: float,
    momentum: float,
    weight_decay: float,
    gen: torch.Generator,
    callback=None,
) -> tuple[Tensor, Tensor, Tensor]:
    """CD-1 training of an RBM whose conditionals use `up` W and `down` W.

    p(h = 1 | v) = sigmoid(up W v + c) and p(v = 1 | h) = sigmoid(down W^T h + b): up = 2 is
    the bottom RBM of a DBM stack seeing its input twice, down = 2 the top RBM with doubled
    hidden units, both 2 an intermediate one (Salakhutdinov and Hinton, 2009, sec. 3.1).
    Returns (W (n_hidden, n_visible), b, c).
    """
    n, d = data.shape
    W = 0.01 * torch.randn(n_hidden, d, generator=gen, dtype=data.dtype)
    b, c = base_rate_bias(data), data.new_zeros(n_hidden)
    velocity = [torch.zeros_like(W), torch.zeros_like(b), torch.zeros_like(c)]
    for _ in range(n_iter):
        order = torch.randperm(n, generator=gen)
        for start in range(0, n, batch_size):
            v0 = data[order[start : start + batch_size]]
            h0 = torch.sigmoid(up * (v0 @ W.T) + c)
            v1 = torch.sigmoid(down * (torch.bernoulli(h0, generator=gen) @ W) + b)
            h1 = torch.sigmoid(up * (v1 @ W.T) + c)
            grads = (
                (h0.T @ v0 - h1.T @ v1) / len(v0) - weight_decay * W,
                (v0 - v1).mean(0),
                (h0 - h1).mean(0),
            )
            _update((W, b, c), velocity, grads, learning_rate, momentum)
        if callback is not None:
            callback()
    return W, b, c


# --- joint training


@torch.no_grad()
def persistent_step(
    v: Tensor,
    chains: list[Tensor],
    weights: list[Tensor],
    biases: list[Tensor],
    velocity: list[Tensor],
    *,
    learning_rate: float,
    momentum: float,
    weight_decay: float,
    n_mean_field: int,
    n_gibbs_steps: int,
    gen: torch.Generator,
) -> list[Tensor]:
    """One stochastic-approximation update of the DBM (Salakhutdinov and Hinton, 2009, alg. 1).

    Data statistics come from mean-field on the minibatch v, model statistics from the
    persistent chains after `n_gibbs_steps` sweeps. `weights`, `biases` and `velocity`
    (weights then biases) are updated in place; the new chain states are returned.
    """
    mu = mean_field(v, weights, biases, n_iter=n_mean_field)
    chains = gibbs_sweeps(chains, weights, biases, n_steps=n_gibbs_steps, gen=gen)
    # Every weight joins an odd and an even layer, so replacing the odd states by their
    # conditional means given the (last sampled) even ones lowers the variance for free.
    model = list(chains)
    for i in range(1, len(model), 2):
        model[i] = torch.sigmoid(layer_input(chains, weights, biases, i))
    grads = [
        (mu[i].T @ mu[i - 1]) / len(v)
        - (model[i].T @ model[i - 1]) / len(model[0])
        - weight_decay * weights[i - 1]
        for i in range(1, len(mu))
    ]
    grads += [mu[i].mean(0) - model[i].mean(0) for i in range(len(mu))]
    _update(weights + biases, velocity, grads, learning_rate, momentum)
    return chains


def _update(params, velocity, grads, learning_rate: float, momentum: float) -> None:
    """Momentum ascent step in place; a non-finite result is reported, not sampled from."""
    for param, vel, grad in zip(params, velocity, grads, strict=True):
        vel.mul_(momentum).add_(grad, alpha=learning_rate)
        param.add_(vel)
    if not all(torch.isfinite(param).all() for param in params):
        raise ValueError(DIVERGED)
