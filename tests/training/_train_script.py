"""A small training run shared by the trainer tests, also runnable as a script to be killed.

    python -m tests.training._train_script CHECKPOINT_DIR [--hang-at STEP --marker PATH]

trains `build()` with `config(CHECKPOINT_DIR)`. With --hang-at, the loss of that step (counted
from 0 in this process) writes `marker` and then waits, so the test can kill the process
mid-step at a known point.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from genzoo.training.trainer import TrainConfig, Trainer

MAX_STEPS = 60
CHECKPOINT_EVERY = 10


def build() -> tuple[dict[str, nn.Module], Callable, tuple[torch.Tensor, torch.Tensor]]:
    """The modules, loss and data of the run; the same on every call."""
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(200, 3, generator=gen)
    y = torch.sin(2 * X).sum(1, keepdim=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = nn.Sequential(nn.Linear(3, 32), nn.Tanh(), nn.Dropout(0.1), nn.Linear(32, 1))

    def loss_fn(modules, batch, gen):
        x, target = batch
        noisy = x + 0.05 * torch.randn(x.shape, generator=gen)  # the loss's own noise
        loss = ((modules["net"](noisy) - target) ** 2).mean()
        return loss, {"noise": float(noisy.sub(x).abs().mean())}

    return {"net": net}, loss_fn, (X, y)


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("checkpoint_dir")
    parser.add_argument("--hang-at", type=int)
    parser.add_argument("--marker", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    modules, loss_fn, data = build()
    if args.hang_at is not None:
        loss_fn = _hang_at(loss_fn, args.hang_at, args.marker)
    Trainer(config(args.checkpoint_dir)).fit(modules, loss_fn, data)


if __name__ == "__main__":
    main()
