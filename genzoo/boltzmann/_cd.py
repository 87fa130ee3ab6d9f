"""Contrastive divergence for a bipartite Boltzmann machine: the statistics of CD-k and of
persistent CD (PCD-k) on a minibatch, the parameter update, and the loop over shuffled epochs.

Pure functions of tensors and keyword settings, shared by the RBM (and so by every layer of a
DBN) and by the DBM's greedy pre-training; none of them takes a model. Notation as in
`_rbm_math`: weights W of shape (n_hidden, n_visible), visible biases b, hidden biases c, one
sample per row. The update ascends the log-likelihood gradient estimated by CD (Hinton, 2002)
or PCD (Tieleman, 2008),

    grad W = <h v^T>_data - <h v^T>_model - weight_decay W,
    grad b = <v>_data - <v>_model,    grad c = <h>_data - <h>_model,

with the hidden probabilities, not states, in both phases (Hinton's 2010 guide, sec. 3), and
momentum: velocity <- momentum velocity + learning_rate grad; parameter <- parameter + velocity.

A DBM's pre-training (Salakhutdinov & Hinton, 2009, sec. 3.1) trains RBMs whose conditionals
double the weights, p(h = 1 | v) = sigmoid(c + up W v) and p(v | h) from b + down W^T h:
up = 2 for the bottom RBM (its input counted twice), down = 2 for the top one (its hidden units
counted twice) and both for a middle one. The statistics are those of these conditionals and
the update is the plain one, as in Salakhutdinov's code (the factor goes into the rate).

Parameters are updated in place, so the inner loop allocates only what it computes; callers
pass copies. Nothing is read back to the host within an epoch (the learning rates are Python
floats made up front, and the Bernoulli draws cannot fail on NaN): the parameters are checked
for NaN and infinity once per epoch, so that on a GPU the loop is not held up by host syncs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch
from torch import Tensor

from genzoo.boltzmann._rbm_math import bernoulli, hidden_mean, sample_visible, visible_mean

__all__ = [
    "MEAN_CLIP",
    "base_rate_bias",
    "cd_statistics",
    "cd_update",
    "check_finite",
    "initial_parameters",
    "learning_rates",
    "momentum_step",
    "train_epochs",
]

# Training means are clipped to [eps, 1 - eps] before the logit of the visible biases.
MEAN_CLIP = 1e-3
DIVERGED = "training diverged to NaN or infinity; lower learning_rate."


# --- initialisation and schedule


def base_rate_bias(X: Tensor) -> Tensor:
    """Logits of the column means of X, clipped to [MEAN_CLIP, 1 - MEAN_CLIP], (n_features,):
    the biases of independent units with the data's means (Hinton's guide, sec. 8)."""
    p = X.mean(0).clamp(MEAN_CLIP, 1 - MEAN_CLIP)
    return torch.log(p) - torch.log1p(-p)


def initial_parameters(X: Tensor, n_hidden: int, *, visible: str, gen) -> dict[str, Tensor]:
    """scikit-learn's start (weights N(0, 0.01^2), zero hidden biases), with the visible biases
    at the base rate of X (Bernoulli) or its means (Gaussian: zero on standardised data)."""
    like = dict(device=X.device, dtype=X.dtype)
    W = 0.01 * torch.randn(n_hidden, X.shape[1], generator=gen, **like)
    b = base_rate_bias(X) if visible == "bernoulli" else X.mean(0)
    return {"W": W, "b": b, "c": torch.zeros(n_hidden, **like)}


def learning_rates(learning_rate: float, n_updates: int, *, schedule: str) -> list[float]:
    """The rate of each of `n_updates` updates: "constant", or "linear" decay towards 0."""
    if schedule == "linear":
        return [learning_rate * (1 - t / n_updates) for t in range(n_updates)]
    return [learning_rate] * n_updates


# --- one update


@torch.no_grad()
def cd_statistics(
    v_pos: Tensor,
    W: Tensor,
    b: Tensor,
    c: Tensor,
    chains: Tensor | None,
    *,
    visible: str,
    k: int,
    gen: torch.Generator,
    up: float = 1.0,
    down: float = 1.0,
    sample_reconstruction: bool = True,
) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
    """The statistics of one CD-k update on the minibatch v_pos, or of PCD-k given `chains`.

    CD starts the negative phase from h drawn given the data; PCD from the persistent hidden
    states `chains` (n_chains, n_hidden). Each of the k sweeps draws v given h (or takes its
    mean when `sample_reconstruction` is False, as Salakhutdinov's DBM code does), then h
    given v. `up` and `down` scale W in the two conditionals (module docstring).

    Returns (h_pos, v_neg, h_neg, chains): the hidden probabilities given the data, the last
    reconstruction and its hidden probabilities, and the new persistent states (None for CD,
    which skips the last hidden draw).
    """
    h_pos = hidden_mean(v_pos, W, c, up)
    h = bernoulli(h_pos, gen) if chains is None else chains
    for step in range(k):
        if sample_reconstruction:
            v_neg = sample_visible(h, W, b, visible, gen, down)
        else:
            v_neg = visible_mean(h, W, b, visible, down)
        h_neg = hidden_mean(v_neg, W, c, up)
        if chains is not None or step < k - 1:
            h = bernoulli(h_neg, gen)
    return h_pos, v_neg, h_neg, None if chains is None else h


@torch.no_grad()
def cd_update(
    params: dict[str, Tensor],
    velocity: list[Tensor] | None,
    statistics: tuple[Tensor, Tensor, Tensor, Tensor],
    *,
    learning_rate: float,
    momentum: float,
    weight_decay: float,
) -> None:
    """One step up the CD estimate of the gradient (module docstring), in place.

    `params` holds W, b and c; `statistics` is (v_pos, h_pos, v_neg, h_neg); `velocity` holds
    the momentum of W, b and c, or is None for plain SGD (momentum 0), which needs none.
    """
    W, b, c = params["W"], params["b"], params["c"]
    v_pos, h_pos, v_neg, h_neg = statistics
    scale_pos, scale_neg = 1.0 / v_pos.shape[0], 1.0 / v_neg.shape[0]
    if velocity is None:  # the cheapest path: every parameter updated in place, no gradient
        pos, neg = learning_rate * scale_pos, learning_rate * scale_neg
        if weight_decay > 0:
            W.mul_(1 - learning_rate * weight_decay)
        W.addmm_(h_pos.T, v_pos, alpha=pos).addmm_(h_neg.T, v_neg, alpha=-neg)
        b.add_(v_pos.sum(0), alpha=pos).sub_(v_neg.sum(0), alpha=neg)
        c.add_(h_pos.sum(0), alpha=pos).sub_(h_neg.sum(0), alpha=neg)
        return
    grad_b = v_pos.sum(0) * scale_pos - v_neg.sum(0) * scale_neg
    grad_c = h_pos.sum(0) * scale_pos - h_neg.sum(0) * scale_neg
    grad_W = torch.addmm(h_pos.T @ v_pos, h_neg.T, v_neg, beta=scale_pos, alpha=-scale_neg)
    if weight_decay > 0:
        grad_W.sub_(W, alpha=weight_decay)
    momentum_step(
        (W, b, c),
        velocity,
        (grad_W, grad_b, grad_c),
        learning_rate=learning_rate,
        momentum=momentum,
    )


def momentum_step(
    params: Iterable[Tensor],
    velocity: Iterable[Tensor],
    grads: Iterable[Tensor],
    *,
    learning_rate: float,
    momentum: float,
) -> None:
    """velocity <- momentum velocity + learning_rate grad, then param <- param + velocity."""
    for param, vel, grad in zip(params, velocity, grads, strict=True):
        vel.mul_(momentum).add_(grad, alpha=learning_rate)
        param.add_(vel)


def check_finite(tensors: Iterable[Tensor], message: str) -> None:
    """Raise ValueError(message) if any tensor holds NaN or infinity: one host sync for all."""
    if not bool(torch.stack([torch.isfinite(t).all() for t in tensors]).all()):
        raise ValueError(message)


# --- the loop


def train_epochs(
    X: Tensor,
    params: dict[str, Tensor],
    chains: Tensor | None,
    *,
    n_epochs: int,
    batch_size: int,
    learning_rate: float,
    gen: torch.Generator,
    schedule: str = "constant",
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    k: int = 1,
    visible: str = "bernoulli",
    up: float = 1.0,
    down: float = 1.0,
    sample_reconstruction: bool = True,
    diverged: str = DIVERGED,
    callback: Callable[[], None] | None = None,
) -> Tensor | None:
    """Run `n_epochs` shuffled minibatch epochs of CD-k (`chains` None) or PCD-k on X.

    `params` (W, b, c) are updated in place; the final persistent chains are returned (None
    for CD). Momentum starts at zero; the rate follows `schedule` over all the updates of the
    call. After each epoch the parameters are checked (ValueError with the message `diverged`
    if one is NaN or infinite) and `callback()` is called.
    """
    n = len(X)
    rates = learning_rates(learning_rate, n_epochs * math.ceil(n / batch_size), schedule=schedule)
    velocity = [torch.zeros_like(params[name]) for name in "Wbc"] if momentum > 0 else None
    W, b, c = params["W"], params["b"], params["c"]  # updated in place: the references hold
    step = 0
    for _ in range(n_epochs):
        X_epoch = X[torch.randperm(n, generator=gen, device=X.device)]
        for start in range(0, n, batch_size):
            v_pos = X_epoch[start : start + batch_size]
            h_pos, v_neg, h_neg, chains = cd_statistics(
                v_pos,
                W,
                b,
                c,
                chains,
                visible=visible,
                k=k,
                gen=gen,
                up=up,
                down=down,
                sample_reconstruction=sample_reconstruction,
            )
            cd_update(
                params,
                velocity,
                (v_pos, h_pos, v_neg, h_neg),
                learning_rate=rates[step],
                momentum=momentum,
                weight_decay=weight_decay,
            )
            step += 1
        check_finite(params.values(), diverged)
        if callback is not None:
            callback()
    return chains
