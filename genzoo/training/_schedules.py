"""The learning-rate schedule and the moving average of the weights, as pure functions."""

from __future__ import annotations

import math

import torch
from torch import nn


def learning_rate_factor(
    step: int, *, max_steps: int, warmup_steps: int = 0, schedule: str = "cosine"
) -> float:
    """Return the multiplier of the peak learning rate for update `step` (counted from 0).

    Warm-up is linear, (step + 1) / warmup_steps, so the first update already moves; then
    "cosine" decays as (1 + cos(pi * p)) / 2 with p = (step - warmup) / (max_steps - warmup),
    reaching zero at `max_steps` (Loshchilov & Hutter, 2017, without restarts).
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    progress = (step - warmup_steps) / max(1, max_steps - warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


def ema_decay_at(step: int, decay: float) -> float:
    """Return the EMA decay used after update `step` (from 0): min(decay, (1+step)/(10+step)).

    The warm-up keeps the early average from clinging to the random initial weights.
    """
    return min(decay, (1 + step) / (10 + step))


@torch.no_grad()
def update_ema(ema: nn.Module, module: nn.Module, decay: float) -> None:
    """Move `ema`'s weights toward `module`'s: ema = decay * ema + (1 - decay) * weights.

    Buffers (batch-norm statistics) are copied, not averaged. The weights move in one
    multi-tensor kernel (a launch per parameter adds up on a GPU).
    """
    averages, weights = list(ema.parameters()), list(module.parameters())
    if len(averages) != len(weights):
        raise ValueError(f"ema has {len(averages)} parameters but module has {len(weights)}.")
    if averages:
        torch._foreach_lerp_(averages, [w.detach() for w in weights], 1.0 - decay)
    for average, buffer in zip(ema.buffers(), module.buffers(), strict=True):
        average.copy_(buffer)
