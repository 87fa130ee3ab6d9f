"""The settings of a training run, declared once, and the objectives a run minimises.

`TRAINER_CONSTRAINTS` is the one table of the Trainer's 14 settings in `validate_params` form:
`TrainConfig.validate` checks it, and every neural model puts it in its
`_parameter_constraints`, so a model's constructor arguments of the same names are checked
by the same rules (and `genzoo train --set weight_decay=0.01` reaches the Trainer).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields

import torch
from torch import nn

from genzoo._validation import MAX_ITERATIONS, MAX_ROWS, Interval, Options, validate_params

__all__ = [
    "TRAINER_CONSTRAINTS",
    "LossFn",
    "Monitor",
    "Objective",
    "TrainConfig",
    "TrainingDiverged",
]

LossFn = Callable[
    [dict[str, nn.Module], tuple[torch.Tensor, ...], torch.Generator],
    "torch.Tensor | tuple[torch.Tensor, dict[str, torch.Tensor | float]]",
]


class _PathConstraint(Options):
    """A folder path, str or os.PathLike (an `Options` so that `validate_params` reads it)."""

    def __init__(self):
        super().__init__("a path")

    def accepts(self, value) -> bool:
        return isinstance(value, (str, os.PathLike))

    def __str__(self) -> str:
        return "a path (str or os.PathLike)"


TRAINER_CONSTRAINTS: dict[str, list] = {
    "device": ["device"],
    "batch_size": [Interval(int, 1, MAX_ROWS)],
    "max_steps": [Interval(int, 1, MAX_ITERATIONS)],
    "learning_rate": [Interval(float, 0, None, closed="neither")],
    "weight_decay": [Interval(float, 0, None)],
    "warmup_steps": [Interval(int, 0, MAX_ITERATIONS)],
    "schedule": [Options("cosine", "constant")],
    "grad_clip": [None, Interval(float, 0, None, closed="neither")],
    "ema_decay": [None, Interval(float, 0, 1, closed="left")],
    "verbose": [Interval(int, 0, None)],
    "checkpoint_dir": [None, _PathConstraint()],
    "checkpoint_every": [None, Interval(int, 1, None)],
    "random_state": ["random_state"],
    "precision": [Options("auto", "float32", "bfloat16")],
}


@dataclass
class TrainConfig:
    """Settings of a training run; a neural model passes its constructor arguments of the
    same names.

    Parameters
    ----------
    device : "auto" (CUDA where present, else the CPU), "cpu", "cuda", "cuda:N". A model
        passes the device its own "auto" chose for the data's size.
    batch_size : rows per step *per process*; N processes train on N * batch_size rows a step.
    max_steps : number of steps; an objective with `every=k` updates max_steps // k times.
    learning_rate : peak learning rate of AdamW (an `Objective` may set its own).
    weight_decay : AdamW's decoupled weight decay (an `Objective` may set its own).
    warmup_steps : steps over which the learning rate rises linearly to its peak.
    schedule : "cosine" (decay to zero at `max_steps` after warm-up) or "constant".
    grad_clip : largest global gradient norm of each update, or None for no clipping.
    ema_decay : decay of the exponential moving average of the weights, in [0, 1), or None
        for no average. See `ema_decay_at` for its warm-up.
    verbose : 0 is silent; 1 shows a progress bar with the running loss.
    checkpoint_dir : folder of the checkpoint (written every `checkpoint_every` steps, at the
        end, and on SIGINT or SIGTERM), and resumed from by `fit`. None writes nothing.
    checkpoint_every : steps between checkpoints, or None for only at the end and on a signal.
    random_state : int seed of the batch order and of the loss's generator; None draws one.
    precision : "auto" (bf16 autocast on a CUDA device that supports it, float32 elsewhere),
        "float32" or "bfloat16" (autocast of the loss computation).
    """

    device: str | torch.device = "auto"
    batch_size: int = 128
    max_steps: int = 2000
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    warmup_steps: int = 0
    schedule: str = "cosine"
    grad_clip: float | None = 1.0
    ema_decay: float | None = None
    verbose: int = 1
    checkpoint_dir: str | os.PathLike | None = None
    checkpoint_every: int | None = None
    random_state: int | None = None
    precision: str = "auto"

    def __post_init__(self):
        self.validate()

    def get_params(self, deep: bool = False) -> dict:
        """The settings by name (what `validate_params` reads)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def validate(self) -> None:
        """Raise ValueError naming the first setting that is out of range."""
        validate_params(self, TRAINER_CONSTRAINTS)
        if self.checkpoint_every is not None and self.checkpoint_dir is None:
            raise ValueError("checkpoint_every is set but checkpoint_dir is None; set both.")

    def to_json(self) -> dict:
        """The settings as JSON-able values (paths and devices as strings)."""
        return {
            k: str(v) if isinstance(v, (os.PathLike, torch.device)) else v
            for k, v in asdict(self).items()
        }


@dataclass(frozen=True)
class Objective:
    """One loss of a training run: the modules its own AdamW updates, and how often.

    A VAE has one objective; a GAN has two (the discriminator's and the generator's), each
    with its optimizer, learning rate and betas, the discriminator updated every step and the
    generator every `n_critic` steps.

    Parameters
    ----------
    name : str
        Names the objective in checkpoints, in `TrainResult.losses` and in metric names.
    loss : callable
        ``loss(modules, batch, gen)``, as `Trainer.fit` describes; it sees every module.
    modules : tuple of str or None, default=None
        The modules whose parameters this objective's optimizer updates; None is all of them.
        Two objectives may not update the same module.
    every : int, default=1
        Update at steps every - 1, 2 * every - 1, ... (counted from 0), so max_steps // every
        times, each after the objectives listed before it in that step.
    learning_rate, weight_decay : float or None, default=None
        Its AdamW's peak learning rate and weight decay; None takes TrainConfig's. The
        schedule (warm-up, cosine) scales every objective's rate by the same factor per step.
    betas : tuple of two floats, default=(0.9, 0.999)
        Its AdamW's moment decays (DCGAN uses (0.5, 0.999), WGAN-GP (0.0, 0.9)).
    """

    name: str
    loss: LossFn
    modules: tuple[str, ...] | None = None
    every: int = 1
    learning_rate: float | None = None
    weight_decay: float | None = None
    betas: tuple[float, float] = (0.9, 0.999)

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name or "/" in self.name:
            raise ValueError(
                f"Objective name must be a non-empty str without '/'; got {self.name!r}."
            )
        if not callable(self.loss):
            raise ValueError(f"Objective {self.name!r}: loss must be callable.")
        if self.modules is not None and (
            isinstance(self.modules, str) or not all(isinstance(m, str) for m in self.modules)
        ):
            raise ValueError(
                f"Objective {self.name!r}: modules must be a tuple of module names or None; "
                f"got {self.modules!r}."
            )
        checks = {
            "every": (self.every, Interval(int, 1, None)),
            "learning_rate": (self.learning_rate, Interval(float, 0, None, closed="neither")),
            "weight_decay": (self.weight_decay, Interval(float, 0, None)),
        }
        for what, (value, interval) in checks.items():
            if not (value is None and what != "every") and not interval.accepts(value):
                raise ValueError(
                    f"Objective {self.name!r}: {what} must be {interval}; got {value!r}."
                )
        beta = Interval(float, 0, 1, closed="left")
        if len(tuple(self.betas)) != 2 or not all(beta.accepts(b) for b in self.betas):
            raise ValueError(
                f"Objective {self.name!r}: betas must be two floats in [0, 1); got {self.betas!r}."
            )

    def to_json(self) -> dict:
        """The settings that decide the run (not the loss function) as JSON-able values."""
        return {
            "name": self.name,
            "modules": None if self.modules is None else list(self.modules),
            "every": self.every,
            "learning_rate": self.learning_rate,
            "weight_decay": self.weight_decay,
            "betas": list(self.betas),
        }


class TrainingDiverged(ValueError):
    """Raised when training diverges: a loss that is no longer finite, or a check of a
    `Monitor` that finds the run broken (a GAN's discriminator winning outright). The message
    names the step."""


@dataclass(frozen=True)
class Monitor:
    """Figures of the model measured during training, every `every` steps and at the end.

    Losses say little about some models (a GAN's losses do not fall as its samples improve);
    a monitor measures what does, such as sample quality, so that a user sees trouble (mode
    collapse) as it happens. The figures go to `TrainResult.monitored`, to checkpoints and
    to the progress bar.

    Parameters
    ----------
    measure : callable
        ``measure(modules, averaged, gen) -> dict of str to float``: the modules as trained,
        their moving averages (None without `ema_decay`), both in eval mode under
        `torch.no_grad`, and a seeded generator of the training device. It must not change
        the modules; the global random state is forked around it, so training is the same
        with or without a monitor. It may raise `TrainingDiverged` (samples that are no
        longer finite); the trainer adds the step to the message.
    every : int
        Steps between two measurements.
    check : callable or None, default=None
        ``check(monitored) -> str or None``, given every figure so far (`"step"` and each
        name, lists of equal length); a sentence stops training with `TrainingDiverged`.
    """

    measure: Callable[
        [dict[str, nn.Module], dict[str, nn.Module] | None, torch.Generator], dict[str, float]
    ]
    every: int
    check: Callable[[dict[str, list[float]]], str | None] | None = None

    def __post_init__(self):
        if not callable(self.measure):
            raise ValueError("Monitor: measure must be callable.")
        if not Interval(int, 1, None).accepts(self.every):
            raise ValueError(f"Monitor: every must be an int >= 1; got {self.every!r}.")
        if self.check is not None and not callable(self.check):
            raise ValueError("Monitor: check must be callable or None.")
