"""Pure functions of a deep Boltzmann machine: mean-field, Gibbs sweeps, bound, pre-training.

A DBM has layers x_0 = v, x_1, ..., x_L of binary units, weights W_l of shape
(n_l, n_{l-1}) between x_{l-1} and x_l, and biases b_l, with energy

    -E(x) = sum_l b_l . x_l + sum_{l >= 1} x_l^T W_l x_{l-1}

(Salakhutdinov and Hinton, 2009). Given its even layers the odd ones are independent, and vice
versa: the DBM is an RBM between its odd layers and its even ones (`bipartite_parameters`), so
its Gibbs sampler is that RBM's, and its pre-training is the shared contrastive divergence of
`_cd`. Layers are lists of tensors of shape (n_rows, n_l); `weights` and `biases` are lists of
tensors. The even block is the even layers side by side, (n_rows, n_0 + n_2 + ...), v first.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from genzoo.boltzmann._cd import initial_parameters, momentum_step, train_epochs
from genzoo.boltzmann._rbm_math import block_gibbs

# Mean-field with a tolerance reads its convergence back to the host every this many
# iterations, not every one: converged rows are frozen meanwhile, so the result is the same.
_CONVERGENCE_CHECK_EVERY = 10

# --- Bernoulli units


def bernoulli_entropy(p: Tensor) -> Tensor:
    """Entropy of independent Bernoullis with means p, summed over the last axis."""
    return -(torch.special.xlogy(p, p) + torch.special.xlogy(1 - p, 1 - p)).sum(-1)


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


def join_layers(even: Tensor, odd: Tensor, sizes: list[int]) -> list[Tensor]:
    """The layers [x_0, x_1, ...] from the even block and the odd block, as column views."""
    layers = [None] * len(sizes)
    layers[0::2] = torch.split(even, sizes[0::2], 1)
    layers[1::2] = torch.split(odd, sizes[1::2], 1)
    return layers


# --- mean-field inference


def mean_field(
    v: Tensor,
    weights: list[Tensor],
    biases: list[Tensor],
    *,
    n_iter: int,
    tol: float | None = None,
) -> list[Tensor]:
    """Fixed-point mean-field posterior means [v, mu_1, ..., mu_L] of q(h | v).

    Starts from a bottom-up pass with doubled weights into every layer but the top (whose
    missing top-down input the doubling stands in for, as in the pre-training), then updates
    the odd and the even hidden layers in turn, each block exactly from its neighbours
    (Salakhutdinov and Hinton, 2009, sec. 3). Without `tol`, exactly `n_iter` iterations and
    no host sync (training). With it, a row stops updating once its largest change is at most
    `tol`, so each row's result does not depend on the rest of the batch, and the loop ends
    early once every row has stopped.
    """
    n_layers = len(biases)
    mu = [v]
    for i in range(1, n_layers):
        scale = 2.0 if i < n_layers - 1 else 1.0
        mu.append(torch.sigmoid(biases[i] + scale * (mu[i - 1] @ weights[i - 1].T)))
    active = None if tol is None else torch.ones(len(v), 1, dtype=torch.bool, device=v.device)
    for iteration in range(1, n_iter + 1):
        change = _mean_field_sweep(mu, weights, biases, active)
        if active is not None:
            active = active & (change > tol)[:, None]
            if iteration % _CONVERGENCE_CHECK_EVERY == 0 and not active.any():
                break
    return mu


def _mean_field_sweep(mu, weights, biases, active: Tensor | None) -> Tensor | None:
    """Update the odd, then the even hidden layers of `mu` in place, only the `active` rows
    (all when None); return each row's largest change (None when `active` is None)."""
    n_layers = len(biases)
    change = None if active is None else mu[0].new_zeros(len(mu[0]))
    for block in (range(1, n_layers, 2), range(2, n_layers, 2)):
        for i in block:
            new = torch.sigmoid(layer_input(mu, weights, biases, i))
            if active is None:
                mu[i] = new
                continue
            change = torch.maximum(change, (new - mu[i]).abs().amax(1))
            mu[i] = torch.where(active, new, mu[i])
    return change


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
    even: Tensor,
    weights: list[Tensor],
    biases: list[Tensor],
    *,
    n_steps: int,
    gen: torch.Generator,
) -> tuple[Tensor, Tensor]:
    """`n_steps` sweeps of block Gibbs: all odd layers given the even ones, then the even.

    A sweep is the block Gibbs step of the bipartite RBM with the odd layers as its hidden
    units (`block_gibbs`), so the odd states need not be kept between sweeps: each sweep
    draws them afresh. `even` is the even block (module docstring). Returns the last even
    block and the odd layers' probabilities given it, (n_rows, n_1 + n_3 + ...).
    """
    W, b_odd, b_even = bipartite_parameters(weights, biases)
    return block_gibbs(even, W.T, b_even, b_odd, visible="bernoulli", n_steps=n_steps, gen=gen)


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
    diverged: str = "the DBM's pre-training diverged to NaN or infinity; lower learning_rate.",
    callback: Callable[[], None] | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """CD-1 training of an RBM whose conditionals use `up` W and `down` W, by `_cd`.

    p(h = 1 | v) = sigmoid(up W v + c) and p(v = 1 | h) = sigmoid(down W^T h + b): up = 2 is
    the bottom RBM of a DBM stack seeing its input twice, down = 2 the top RBM with doubled
    hidden units, both 2 an intermediate one (Salakhutdinov and Hinton, 2009, sec. 3.1). The
    reconstructions are probabilities, as in Salakhutdinov's code. `callback()` runs after
    each epoch. Returns (W (n_hidden, n_visible), b, c) in the dtype and on the device of data.
    """
    params = initial_parameters(data, n_hidden, visible="bernoulli", gen=gen)
    train_epochs(
        data,
        params,
        None,
        n_epochs=n_iter,
        batch_size=batch_size,
        learning_rate=learning_rate,
        gen=gen,
        momentum=momentum,
        weight_decay=weight_decay,
        up=up,
        down=down,
        sample_reconstruction=False,
        diverged=diverged,
        callback=callback,
    )
    return params["W"], params["b"], params["c"]


# --- joint training


@torch.no_grad()
def persistent_step(
    v: Tensor,
    chains: Tensor,
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
) -> Tensor:
    """One stochastic-approximation update of the DBM (Salakhutdinov and Hinton, 2009, alg. 1).

    Data statistics come from mean-field on the minibatch v, model statistics from the
    persistent chains (their even blocks, (n_chains, n_0 + n_2 + ...)) after `n_gibbs_steps`
    sweeps. `weights`, `biases` and `velocity` (weights then biases) are updated in place
    with the momentum step of `_cd`; the new chains are returned. Nothing is read back to the
    host: the caller checks the parameters for NaN once per epoch.
    """
    mu = mean_field(v, weights, biases, n_iter=n_mean_field)
    chains, odd_means = gibbs_sweeps(chains, weights, biases, n_steps=n_gibbs_steps, gen=gen)
    # Every weight joins an odd and an even layer, so replacing the odd states by their
    # conditional means given the (last sampled) even ones lowers the variance for free.
    model = join_layers(chains, odd_means, [len(b) for b in biases])
    grads = [
        (mu[i].T @ mu[i - 1]) / len(v)
        - (model[i].T @ model[i - 1]) / len(model[0])
        - weight_decay * weights[i - 1]
        for i in range(1, len(mu))
    ]
    grads += [mu[i].mean(0) - model[i].mean(0) for i in range(len(mu))]
    momentum_step(weights + biases, velocity, grads, learning_rate=learning_rate, momentum=momentum)
    return chains
