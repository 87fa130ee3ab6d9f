"""The learning-rate schedule and the moving average of the weights."""

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


class MovingAverage:
    """Moving averages of some modules' weights, in copies of those modules.

    `update(decay)` moves every average toward its weights, average = decay * average +
    (1 - decay) * weight, in one multi-tensor kernel over all the modules (a launch per
    parameter adds up on a GPU); buffers (batch-norm statistics) are copied, not averaged.
    The tensors are listed once, when the average is made, not at every step.
    """

    def __init__(self, averages: dict[str, nn.Module], modules: dict[str, nn.Module]):
        self.averages: list[torch.Tensor] = []
        self.weights: list[torch.Tensor] = []
        self.average_buffers: list[torch.Tensor] = []
        self.buffers: list[torch.Tensor] = []
        for name, average in averages.items():
            module = modules[name]
            own, theirs = list(average.parameters()), list(module.parameters())
            if len(own) != len(theirs):
                raise ValueError(
                    f"the average of {name!r} has {len(own)} parameters, not {len(theirs)}."
                )
            self.averages += own
            self.weights += theirs
            self.average_buffers += list(average.buffers())
            self.buffers += list(module.buffers())

    @torch.no_grad()
    def update(self, decay: float) -> None:
        if self.averages:
            torch._foreach_lerp_(self.averages, self.weights, 1.0 - decay)
        if self.buffers:
            torch._foreach_copy_(self.average_buffers, self.buffers)
