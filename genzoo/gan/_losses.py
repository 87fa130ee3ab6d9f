"""Adversarial losses and the discriminator's regularisers, as pure functions of scores.

Scores are the critic's unbounded outputs (logits for the non-saturating loss). Each loss is
a mean over the batch:

- "non_saturating" (Goodfellow et al., 2014, section 3): the discriminator minimises
  softplus(-D(x)) + softplus(D(G(z))), the generator softplus(-D(G(z))) = -log sigmoid(D),
  which keeps its gradient when the discriminator rejects its samples with confidence.
- "wgan_gp" (Gulrajani et al., 2017, algorithm 1): the critic minimises D(G(z)) - D(x) plus
  the gradient penalty, the generator -D(G(z)).
- "hinge" (Lim and Ye, 2017; Miyato et al., 2018): relu(1 - D(x)) + relu(1 + D(G(z))) and
  -D(G(z)).
- "least_squares" (Mao et al., 2017, the LSGAN of CycleGAN): (D(x) - 1)^2 + D(G(z))^2 and
  (D(G(z)) - 1)^2.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "LOSSES",
    "discriminator_loss",
    "generator_loss",
    "gradient_penalty",
    "r1_penalty",
]

LOSSES = ("non_saturating", "wgan_gp", "hinge", "least_squares")


def discriminator_loss(kind: str, real: Tensor, fake: Tensor) -> Tensor:
    """The discriminator's (critic's) loss on the scores of real and generated rows."""
    if kind == "non_saturating":
        return F.softplus(-real).mean() + F.softplus(fake).mean()
    if kind == "wgan_gp":
        return fake.mean() - real.mean()
    if kind == "hinge":
        return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()
    if kind == "least_squares":
        return (real - 1.0).square().mean() + fake.square().mean()
    raise ValueError(f"unknown adversarial loss {kind!r}; expected one of {LOSSES}.")


def generator_loss(kind: str, fake: Tensor) -> Tensor:
    """The generator's loss on the critic's scores of its samples."""
    if kind == "non_saturating":
        return F.softplus(-fake).mean()
    if kind in ("wgan_gp", "hinge"):
        return -fake.mean()
    if kind == "least_squares":
        return (fake - 1.0).square().mean()
    raise ValueError(f"unknown adversarial loss {kind!r}; expected one of {LOSSES}.")


def _input_gradient_norms(critic, x: Tensor, y: Tensor | None) -> Tensor:
    """||d D(x_i) / d x_i|| per row, differentiable (for a penalty on it)."""
    x = x.detach().requires_grad_(True)
    scores = critic(x, y)
    (grad,) = torch.autograd.grad(scores.sum(), x, create_graph=True)
    return grad.flatten(1).norm(dim=1)  # (batch,)


def gradient_penalty(critic, real: Tensor, fake: Tensor, y: Tensor | None, gen) -> Tensor:
    """E[(||grad D(x_hat)|| - 1)^2] at random points x_hat on lines between real and fake
    rows (Gulrajani et al., 2017, eq. 3); the caller weighs it (lambda = 10 in the paper)."""
    shape = (len(real),) + (1,) * (real.dim() - 1)
    eps = torch.rand(shape, generator=gen, device=real.device, dtype=real.dtype)
    x_hat = eps * real.detach() + (1.0 - eps) * fake.detach()
    return (_input_gradient_norms(critic, x_hat, y) - 1.0).square().mean()


def r1_penalty(critic, real: Tensor, y: Tensor | None) -> Tensor:
    """E[||grad D(x)||^2] on real rows (Mescheder et al., 2018, eq. 9); the caller weighs it
    by gamma / 2."""
    return _input_gradient_norms(critic, real, y).square().mean()
