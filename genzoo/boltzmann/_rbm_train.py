"""Training of the RBM: contrastive divergence (CD-k) and persistent CD on minibatches.

The functions take the model for its hyper-parameters and update parameter tensors in place.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from tqdm.auto import tqdm

from genzoo.boltzmann._rbm_math import hidden_input, hidden_mean, sample_visible, visible_mean

if TYPE_CHECKING:
    from genzoo.boltzmann.rbm import RBM

# Training pixel means are clipped to [eps, 1 - eps] before the logit of the visible biases.
MEAN_CLIP = 1e-3
DIVERGED = (
    "the RBM's training diverged to NaN or infinity; lower learning_rate (Gaussian visibles "
    "usually need 0.001 to 0.01)."
)


def initial_parameters(X: torch.Tensor, n_components: int, visible: str, gen) -> dict:
    """scikit-learn's start (weights N(0, 0.01^2), zero hidden biases); Bernoulli visible
    biases at the logit of the training means (Hinton's guide, sec. 8)."""
    n_features = X.shape[1]
    like = dict(device=X.device, dtype=X.dtype)
    W = 0.01 * torch.randn(n_components, n_features, generator=gen, **like)
    if visible == "bernoulli":
        p = X.mean(0).clamp(MEAN_CLIP, 1 - MEAN_CLIP)
        b = torch.log(p) - torch.log1p(-p)
    else:
        b = X.mean(0)  # zero for standardised data
    return {"W": W, "b": b, "c": torch.zeros(n_components, **like)}


def train_epochs(
    model: RBM, X: torch.Tensor, params: dict, chains, *, n_epochs: int, gen, decay: bool
):
    """Run `n_epochs` shuffled minibatch epochs of CD-k / PCD-k; return (params, chains).

    `params` and `chains` are updated in place: the caller passes copies. The statistics use
    mean-field hidden probabilities in both phases (Hinton's guide, sec. 3). With `decay`
    the learning rate falls linearly to 0 over the run.
    """
    n, bs = len(X), model.batch_size
    n_updates = n_epochs * math.ceil(n / bs)
    velocity = [torch.zeros_like(params[p]) for p in "Wbc"] if model.momentum > 0 else None
    bar = tqdm(range(n_epochs), desc="RBM", disable=model.verbose <= 0)
    t = 0
    for _ in bar:
        X_epoch = X[torch.randperm(n, generator=gen, device=X.device)]
        try:
            for start in range(0, n, bs):
                lr = model.learning_rate
                if decay:
                    lr *= 1 - t / n_updates
                chains = _step(
                    model, X_epoch[start : start + bs], params, chains, velocity, lr, gen
                )
                t += 1
        except torch.OutOfMemoryError:
            raise
        except RuntimeError as err:  # torch.bernoulli refuses the NaN of an overflow
            raise ValueError(DIVERGED) from err
        _check_finite(params)
        if model.verbose > 0:
            bar.set_postfix(reconstruction_error=f"{reconstruction_error(model, X, params):.4f}")
    return params, chains


def _step(model: RBM, v_pos, params: dict, chains, velocity, lr: float, gen):
    """One CD-k / PCD-k update on the minibatch v_pos; returns the persistent chains."""
    W, b, c = params["W"], params["b"], params["c"]
    h_pos = torch.sigmoid(hidden_input(v_pos, W, c))
    h = chains if model.persistent else torch.bernoulli(h_pos, generator=gen)
    for _ in range(model.k):
        v_neg = sample_visible(h, W, b, model.visible, gen)
        h_neg = torch.sigmoid(hidden_input(v_neg, W, c))
        h = torch.bernoulli(h_neg, generator=gen)
    _update(model, params, velocity, (v_pos, h_pos, v_neg, h_neg), lr)
    return h if model.persistent else chains


def _check_finite(params: dict) -> None:
    if not all(bool(torch.isfinite(p).all()) for p in params.values()):
        raise ValueError(DIVERGED)


def _update(model: RBM, params: dict, velocity, stats, lr: float) -> None:
    """One gradient step on the log-likelihood, with momentum and weight decay on W only."""
    W, b, c = params["W"], params["b"], params["c"]
    v_pos, h_pos, v_neg, h_neg = stats
    scale_pos, scale_neg = 1.0 / len(v_pos), 1.0 / len(v_neg)
    if velocity is None:  # the cheapest path: plain SGD, in place
        if model.weight_decay > 0:
            W.mul_(1 - lr * model.weight_decay)
        W.addmm_(h_pos.T, v_pos, alpha=lr * scale_pos).addmm_(h_neg.T, v_neg, alpha=-lr * scale_neg)
        b.add_(v_pos.sum(0) * scale_pos - v_neg.sum(0) * scale_neg, alpha=lr)
        c.add_(h_pos.sum(0) * scale_pos - h_neg.sum(0) * scale_neg, alpha=lr)
        return
    grad_W = torch.addmm(h_pos.T @ v_pos, h_neg.T, v_neg, beta=scale_pos, alpha=-scale_neg)
    if model.weight_decay > 0:
        grad_W.sub_(W, alpha=model.weight_decay)
    grad_b = v_pos.sum(0) * scale_pos - v_neg.sum(0) * scale_neg
    grad_c = h_pos.sum(0) * scale_pos - h_neg.sum(0) * scale_neg
    for p, vel, grad in zip((W, b, c), velocity, (grad_W, grad_b, grad_c), strict=True):
        vel.mul_(model.momentum).add_(grad, alpha=lr)
        p.add_(vel)


@torch.no_grad()
def reconstruction_error(model: RBM, X: torch.Tensor, params: dict) -> float:
    """Mean squared error per feature of the mean-field reconstruction E[v | p(h | x)]."""
    h = hidden_mean(X, params["W"], params["c"])
    return float(((visible_mean(h, params["W"], params["b"], model.visible) - X) ** 2).mean())
