"""Small training runs shared by the trainer tests, also runnable as a script to be killed.

    python -m tests.training._train_script CHECKPOINT_DIR [--two] [--hang-at STEP --marker PATH]

trains `build()` (or, with --two, `build_two()`) with `config(CHECKPOINT_DIR)`. With --hang-at,
the loss of that step (counted from 0 in this process) writes `marker` and then waits, so a
test can kill the process mid-step at a known point. The tests call `run` in a forked child,
which needs no fresh interpreter (importing torch and genzoo anew takes tens of seconds on a
loaded machine).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from genzoo.training.trainer import Objective, TrainConfig, Trainer

MAX_STEPS = 60
CHECKPOINT_EVERY = 10
CRITIC_EVERY = 3  # build_two's second objective updates every third step


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(200, 3, generator=gen)
    return X, torch.sin(2 * X).sum(1, keepdim=True)


def build() -> tuple[dict[str, nn.Module], Callable, tuple[torch.Tensor, torch.Tensor]]:
    """The modules, loss and data of the one-loss run; the same on every call."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = nn.Sequential(nn.Linear(3, 32), nn.Tanh(), nn.Dropout(0.1), nn.Linear(32, 1))

    def loss_fn(modules, batch, gen):
        x, target = batch
        noisy = x + 0.05 * torch.randn(x.shape, generator=gen)  # the loss's own noise
        loss = ((modules["net"](noisy) - target) ** 2).mean()
        return loss, {"noise": float(noisy.sub(x).abs().mean())}

    return {"net": net}, loss_fn, _data()


def build_two() -> tuple[dict[str, nn.Module], list[Objective], tuple]:
    """A two-objective run in the shape of a GAN's: a "model" regressing the data through a
    noisy input, updated every step, and a "critic" fitted to the model's residuals (its
    gradient stopped), updated every `CRITIC_EVERY` steps with its own rate and betas."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        model = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Dropout(0.1), nn.Linear(16, 1))
        critic = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))

    def model_loss(modules, batch, gen):
        x, target = batch
        noisy = x + 0.05 * torch.randn(x.shape, generator=gen)
        residual = modules["model"](noisy) - target
        return (residual**2).mean(), {"residual": residual.abs().mean().detach()}

    def critic_loss(modules, batch, gen):
        x, target = batch
        with torch.no_grad():
            residual = modules["model"](x) - target
        guess = modules["critic"](torch.cat([x, torch.randn(residual.shape, generator=gen)], 1))
        return ((guess - residual) ** 2).mean()

    objectives = [
        Objective("model", model_loss, modules=("model",)),
        Objective(
            "critic", critic_loss, modules=("critic",), every=CRITIC_EVERY,
            learning_rate=3e-3, betas=(0.5, 0.9),
        ),
    ]  # fmt: skip
    return {"model": model, "critic": critic}, objectives, _data()


def config(checkpoint_dir, **changes) -> TrainConfig:
    settings = dict(
        device="cpu",
        batch_size=32,
        max_steps=MAX_STEPS,
        learning_rate=1e-2,
        warmup_steps=5,
        ema_decay=0.9,
        verbose=0,
        checkpoint_dir=checkpoint_dir,
        checkpoint_every=CHECKPOINT_EVERY,
        random_state=3,
    )
    return TrainConfig(**{**settings, **changes})


def _hang_at(loss_fn, step: int, marker: Path):
    calls = 0

    def hanging(modules, batch, gen):
        nonlocal calls
        calls += 1
        if calls == step + 1:
            marker.write_text("hanging")
            while True:  # until killed
                time.sleep(0.01)
        return loss_fn(modules, batch, gen)

    return hanging


def run(checkpoint_dir, *, two: bool = False, hang_at: int | None = None, marker=None):
    """Train `build()` (or `build_two()`) with `config(checkpoint_dir)`; hang at a step."""
    torch.set_num_threads(1)
    modules, objectives, data = build_two() if two else build()
    if hang_at is not None:
        if two:  # the first objective runs at every step
            first, second = objectives
            hanging = _hang_at(first.loss, hang_at, Path(marker))
            objectives = [dataclasses.replace(first, loss=hanging), second]
        else:
            objectives = _hang_at(objectives, hang_at, Path(marker))
    Trainer(config(checkpoint_dir)).fit(modules, objectives, data)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("checkpoint_dir")
    parser.add_argument("--two", action="store_true")
    parser.add_argument("--hang-at", type=int)
    parser.add_argument("--marker", type=Path)
    args = parser.parse_args()
    run(args.checkpoint_dir, two=args.two, hang_at=args.hang_at, marker=args.marker)


if __name__ == "__main__":
    main()
