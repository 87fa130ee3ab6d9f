"""DiffusionModel: what DDPM, NCSN and the score SDE model share.

Each of them trains one network, the denoiser, on x_t = alpha(t) x_0 + sigma(t) eps at times
drawn by the model, to predict eps (or v, or x_0), and samples with the shared samplers of
`genzoo.diffusion.samplers`. A model says only what differs (`_schedule_spec`, the training
times, the loss weights, the samplers it allows and its likelihood); this base builds the
network (a U-Net for images, an MLP for vectors), the loss, class conditioning with
classifier-free guidance (Ho and Salimans 2022), sampling in memory-bounded chunks and the
denoising path behind the zoo's strip.

Data are standardised before the network sees them: images onto [-1, 1] (one range for
every pixel, DDPM's convention), vectors per feature.
"""

from __future__ import annotations

import hashlib
import math
from typing import ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from genzoo._neural import NEURAL_CONSTRAINTS, NeuralGenerativeModel
from genzoo._validation import MAX_WIDTH, Interval, Options, check_n_samples
from genzoo.diffusion.samplers import MAX_SAMPLING_STEPS, SAMPLERS, as_denoiser, run_sampler
from genzoo.diffusion.schedules import (
    VESDE,
    VPSDE,
    Schedule,
    SubVPSDE,
    cosine_schedule,
    linear_schedule,
)
from genzoo.nets import MLP, UNet
from genzoo.training import Objective

__all__ = [
    "DIFFUSION_CONSTRAINTS",
    "DiffusionModel",
    "DiffusionNetwork",
    "make_schedule",
    "row_rngs",
]

# Elements (rows x dimensions) denoised at once when sampling; bounds one pass's memory.
_SAMPLE_CHUNK_ELEMENTS = 2**20
MAX_GUIDANCE = 1e3  # a larger scale only amplifies the network's error
MAX_FRAMES = 64  # frames of a denoising path

# The constructor arguments every diffusion model shares, with the Trainer's.
DIFFUSION_CONSTRAINTS: dict[str, list] = {
    "network": [Options("auto", "mlp", "conv")],
    "hidden": ["array-like"],
    "base_channels": [Interval(int, 1, MAX_WIDTH)],
    "channel_mults": ["array-like"],
    "n_res_blocks": [Interval(int, 1, 64)],
    "attention_resolutions": ["array-like"],
    "dropout": [Interval(float, 0, 1, closed="left")],
    "conditional": [bool],
    "label_dropout": [Interval(float, 0, 1, closed="left")],
    "sampling_steps": [Interval(int, 1, MAX_SAMPLING_STEPS)],
    **NEURAL_CONSTRAINTS,
}


def make_schedule(spec: dict) -> Schedule:
    """The schedule a model's `architecture_["schedule"]` describes (a JSON-able dict)."""
    kind = spec["kind"]
    if kind == "linear":
        return linear_schedule(spec["n_steps"], spec["beta_start"], spec["beta_end"])
    if kind == "cosine":
        return cosine_schedule(spec["n_steps"])
    if kind in ("vp", "subvp"):
        cls = VPSDE if kind == "vp" else SubVPSDE
        return cls(spec["beta_min"], spec["beta_max"], t_min=spec["t_min"])
    if kind == "ve":
        return VESDE(spec["sigma_min"], spec["sigma_max"], t_min=spec["t_min"])
    raise ValueError(f"unknown schedule kind {kind!r}.")


class DiffusionNetwork(nn.Module):
    """The denoiser: a U-Net (images) or an MLP (vectors) of (x_t, t[, y]), with its schedule.

    The schedule is built from the architecture when first asked for, not in the
    constructor, since networks are also built on the meta device (where it would hold no
    values).
    """

    def __init__(self, architecture: dict):
        super().__init__()
        self.spec = dict(architecture["schedule"])
        shape = tuple(architecture["input_shape"])
        n_classes, scale = architecture["n_classes"], architecture["time_scale"]
        self.n_classes = n_classes
        if architecture["network"] == "conv":
            self.net = UNet(
                shape,
                architecture["base_channels"],
                tuple(architecture["channel_mults"]),
                architecture["n_res_blocks"],
                tuple(architecture["attention_resolutions"]),
                n_classes=n_classes,
                dropout=architecture["dropout"],
                time_scale=scale,
            )
        else:
            d = math.prod(shape)
            hidden = tuple(architecture["hidden"])
            self.net = MLP(
                d, d, hidden, time_dim=min(128, max(hidden, default=32)),
                n_classes=n_classes, dropout=architecture["dropout"], time_scale=scale,
            )  # fmt: skip
        self._schedule: Schedule | None = None

    @property
    def schedule(self) -> Schedule:
        if self._schedule is None:
            self._schedule = make_schedule(self.spec)
        return self._schedule

    def forward(self, x: Tensor, t: Tensor, y: Tensor | None = None) -> Tensor:
        """The network's prediction at x_t (in its dtype) for times t (batch,) and labels y
        (the null label, n_classes, stands for "no label")."""
        dtype = next(self.parameters()).dtype
        if isinstance(self.net, UNet):
            return self.net(x.to(dtype), t=t.to(dtype), y=y)
        return self.net(x.to(dtype).flatten(1), t=t.to(dtype), y=y).reshape(x.shape)


def rows(values: Tensor, like: Tensor) -> Tensor:
    """Per-row values shaped to broadcast over `like`, in its dtype and on its device."""
    return values.to(like.device, like.dtype).reshape(-1, *([1] * (like.ndim - 1)))


class DiffusionModel(NeuralGenerativeModel):
    """Base of the diffusion models (not registered itself); see the module docstring.

    A model writes `_schedule_spec(X)` (the schedule, JSON-able), `_time_scale` (1 for
    integer steps, 1000 for continuous times), `_training_times(n, gen, schedule)`,
    optionally `_loss_weights(t, schedule)` and `_prediction()`, and its likelihood; and it
    lists the samplers it allows in `samplers` (the first is its default).
    """

    data_kind = "images"
    samplers: ClassVar[tuple[str, ...]] = tuple(SAMPLERS)
    _time_scale: ClassVar[float] = 1.0
    fitted_attributes = (
        *NeuralGenerativeModel.fitted_attributes,
        "denoiser_state_",
        "classes_",
        "class_log_prior_",
    )
    _tensor_attributes = (*NeuralGenerativeModel._tensor_attributes, "class_log_prior_")

    # --- hooks of the models

    def _schedule_spec(self, X: np.ndarray) -> dict:
        raise NotImplementedError

    def _training_times(self, n: int, gen: torch.Generator, net: DiffusionNetwork) -> Tensor:
        """Times (n,) float64 on gen's device at which the training loss is taken (`net`
        holds the schedule and its spec)."""
        raise NotImplementedError

    def _loss_weights(self, t: Tensor, schedule: Schedule) -> Tensor | None:
        """Per-row weights of the squared error at times t; None for equal weights."""
        return None

    def _prediction(self) -> str:
        """What the network predicts: "eps", "v" or "x0"."""
        return "eps"

    def _run_sampler(self, sampler, denoiser, schedule, noise, steps, gen) -> Tensor:
        """Run a sampler the model allows (a shared one by default; NCSN adds Langevin's)."""
        return run_sampler(sampler, denoiser, schedule, noise, steps, generator=gen)

    # `conditional` is a constructor argument here (the base declares a class constant); a
    # property keeps it under its own name for get_params and clone, as the VAE does.
    @property
    def conditional(self) -> bool:
        """Whether the model is conditioned on labels (the constructor argument)."""
        return self.__dict__.get("conditional", False)

    @conditional.setter
    def conditional(self, value: bool) -> None:
        self.__dict__["conditional"] = value

    # --- the template's hooks

    def _check_arguments(self) -> None:
        if self.sampler not in self.samplers:
            raise ValueError(self._unknown_sampler(self.sampler))

    def _architecture(self, X, y) -> dict:
        shape = tuple(X.shape[1:])
        return {
            "network": self._resolve_network(shape),
            "input_shape": list(shape),
            "hidden": [int(h) for h in self.hidden],
            "base_channels": self.base_channels,
            "channel_mults": [int(m) for m in self.channel_mults],
            "n_res_blocks": self.n_res_blocks,
            "attention_resolutions": [int(r) for r in self.attention_resolutions],
            "dropout": float(self.dropout),
            "n_classes": len(self.classes_) if self.conditional else None,
            "time_scale": self._time_scale,
            "schedule": self._schedule_spec(X),
        }

    def _build_networks(self, architecture: dict) -> dict:
        return {"denoiser": DiffusionNetwork(architecture)}

    def _standardisation(self, X: np.ndarray, architecture: dict) -> tuple[np.ndarray, ...]:
        if X.ndim == 2:
            return super()._standardisation(X, architecture)
        low, high = float(X.min()), float(X.max())
        half = (high - low) / 2 if high > low else 1.0
        return np.full(X.shape[1:], low + half), np.full(X.shape[1:], half)

    def _objectives(self) -> list[Objective]:
        return [Objective("denoising", self._loss_fn())]

    def _extra_fitted(self, X, y, fitted: dict, seed: int) -> dict:
        if not self.conditional:
            return {}
        return {"class_log_prior_": self._class_log_prior(y, len(self.classes_))}

    def _loss_fn(self):
        """The mean squared error of the network's prediction at x_t, over rows and times."""
        prediction, conditional = self._prediction(), self.conditional
        p_drop, times, weights = float(self.label_dropout), self._training_times, self._loss_weights

        def loss_fn(modules, batch, gen):
            net = modules["denoiser"]
            schedule = net.schedule
            x0 = batch[0]
            t = times(len(x0), gen, net)
            t_host = t.cpu()
            alpha = rows(schedule.alpha(t_host), x0)
            sigma = rows(schedule.sigma(t_host), x0)
            eps = torch.randn(x0.shape, generator=gen, device=gen.device, dtype=x0.dtype)
            y = None
            if conditional:
                keep = torch.rand(len(x0), generator=gen, device=gen.device) >= p_drop
                y = torch.where(keep, batch[1], torch.full_like(batch[1], net.n_classes))
            out = net(alpha * x0 + sigma * eps, t, y)
            if prediction == "eps":
                target = eps
            elif prediction == "v":
                target = alpha * eps - sigma * x0
            else:
                target = x0
            per_row = ((out.to(x0.dtype) - target) ** 2).flatten(1).mean(1)
            w = weights(t_host, schedule)
            if w is not None:
                per_row = per_row * w.to(per_row.device, per_row.dtype)
            return per_row.mean()

        return loss_fn

    # --- evaluation

    def _schedule(self) -> Schedule:
        return make_schedule(self.architecture_["schedule"])

    def _denoiser(self, net: DiffusionNetwork, schedule: Schedule, y, guidance: float):
        """x_0-estimator of standardised x_t at times t, with classifier-free guidance
        (1 + w) D(x, y) - w D(x): linear in the prediction, so the same in eps, v or x_0."""
        null = None if net.n_classes is None else net.n_classes

        def predict(x: Tensor, t: Tensor) -> Tensor:
            if y is None or not guidance:
                return net(x, t, y).to(x.dtype)
            both = net(torch.cat([x, x]), torch.cat([t, t]),
                       torch.cat([y, torch.full_like(y, null)])).to(x.dtype)  # fmt: skip
            conditioned, unconditioned = both.chunk(2)
            return (1 + guidance) * conditioned - guidance * unconditioned

        return as_denoiser(predict, schedule, self._prediction())

    def _sampling_options(self, sampler, steps, guidance) -> tuple[str, int, float]:
        """Check sample's options before any work; fill in the defaults."""
        sampler = self.sampler if sampler is None else sampler
        if not isinstance(sampler, str) or sampler not in self.samplers:
            raise ValueError(self._unknown_sampler(sampler))
        steps = self.sampling_steps if steps is None else steps
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)):
            raise ValueError(f"steps must be a positive int; got {steps!r}.")
        if not 1 <= steps <= self._max_steps():
            raise ValueError(f"steps must be between 1 and {self._max_steps()}; got {steps}.")
        if guidance is None:
            guidance = 0.0
        if isinstance(guidance, bool) or not isinstance(guidance, (int, float, np.number)):
            raise ValueError(f"guidance must be a number; got {guidance!r}.")
        guidance = float(guidance)
        if not math.isfinite(guidance) or not 0 <= guidance <= MAX_GUIDANCE:
            raise ValueError(
                f"guidance must be a finite number in [0, {MAX_GUIDANCE:g}]; got {guidance}."
            )
        if guidance and not self.conditional:
            raise ValueError(
                "guidance needs labels: classifier-free guidance steers toward a class, and "
                f"this {type(self).__name__} was trained without them (pass "
                "conditional=True and fit(X, y))."
            )
        return sampler, int(steps), guidance

    def _max_steps(self) -> int:
        """The most sampling steps: a discrete chain's length, else MAX_SAMPLING_STEPS."""
        if hasattr(self, "architecture_"):
            schedule = self._schedule()
            if schedule.discrete:
                return schedule.n_steps
        return MAX_SAMPLING_STEPS

    def _unknown_sampler(self, sampler) -> str:
        return (
            f"unknown sampler {sampler!r} for {type(self).__name__}; choose one of "
            f"{list(self.samplers)}."
        )

    def sample(
        self,
        n_samples: int = 1,
        *,
        y=None,
        sampler: str | None = None,
        steps: int | None = None,
        guidance: float | None = None,
        random_state: int | None = None,
        return_labels: bool = False,
    ):
        """Draw `n_samples` samples by `sampler` with `steps` denoiser steps (the model's
        `sampler` and `sampling_steps` by default).

        A conditional model takes labels y (one, or one per sample; drawn from the training
        frequencies when None) and a classifier-free guidance scale `guidance` = w >= 0, which
        samples with (1 + w) D(x, y) - w D(x); 0 is the plain conditional model.
        """
        self._check_fitted()
        sampler, steps, guidance = self._sampling_options(sampler, steps, guidance)
        return self._draw_samples(
            n_samples, y=y, random_state=random_state, return_labels=return_labels,
            sampler=sampler, steps=steps, guidance=guidance,
        )  # fmt: skip

    def _sample_item_bytes(self, **options) -> int:
        # the output row in float64 and the sampler's copies; the network's activations are
        # bounded by the chunk, whatever n
        return 64 * int(np.prod(self.input_shape_))

    def _chunk(self) -> int:
        return max(1, _SAMPLE_CHUNK_ELEMENTS // int(np.prod(self.input_shape_)))

    def _sample(self, n_samples: int, y, gen, **options) -> Tensor:
        return self._sample_with_labels(n_samples, y, gen, **options)[0]

    def _sample_with_labels(self, n_samples, y, gen, *, sampler=None, steps=None, guidance=0.0):
        if sampler is None:  # the base's sample path (e.g. Bayes-rule classifiers)
            sampler, steps, guidance = self._sampling_options(None, None, None)
        if self.conditional and y is None:
            y = self._labels_from_prior(n_samples, gen)
        X = self._denoise(n_samples, y, gen, sampler, steps, guidance)
        if not self.conditional:
            y = torch.zeros(n_samples, dtype=torch.long, device=X.device)
        return X, y

    def _denoise(self, n, y, gen, sampler, steps, guidance, record=None) -> Tensor:
        """n samples in the data's units (float64), in chunks; `record(x_t, t)` (optional)
        sees every point the sampler asks the denoiser about."""
        shape, chunk = tuple(self.input_shape_), self._chunk()
        schedule, out = self._schedule(), []
        with self._evaluation() as networks:
            net = networks["denoiser"]
            for start in range(0, n, chunk):
                count = min(chunk, n - start)
                labels = None if y is None else y[start : start + count]
                denoiser = self._denoiser(net, schedule, labels, guidance)
                if record is not None:
                    denoiser = _recorded(denoiser, record)
                noise = torch.randn(
                    (count, *shape), generator=gen, device=gen.device, dtype=self._dtype()
                )
                out.append(self._run_sampler(sampler, denoiser, schedule, noise, steps, gen))
        return self._unstandardise(torch.cat(out))

    def denoising_path(
        self,
        n_samples: int = 1,
        *,
        n_frames: int = 8,
        y=None,
        sampler: str | None = None,
        steps: int | None = None,
        guidance: float | None = None,
        random_state: int | None = None,
    ) -> np.ndarray:
        """Follow samples from noise to data: (n_frames, n_samples, ...) in the data's units.

        The first frame is the starting noise, the last the sample; those between are the
        noisy points x_t at evenly spaced calls of the denoiser, each divided by
        sqrt(alpha(t)^2 + sigma(t)^2), the scale of x_t for data of unit variance: so every
        schedule's path (VE's noise a hundred times wider than the data included) runs from a
        standard normal cloud in the data's units to the data. The zoo draws it as a strip.
        """
        self._check_fitted()
        # one chunk, so that every recorded call holds all the rows
        n_samples = check_n_samples(n_samples, maximum=self._chunk())
        if isinstance(n_frames, bool) or not isinstance(n_frames, int):
            raise ValueError(f"n_frames must be an int; got {n_frames!r}.")
        if not 2 <= n_frames <= MAX_FRAMES:
            raise ValueError(f"n_frames must be between 2 and {MAX_FRAMES}; got {n_frames}.")
        sampler, steps, guidance = self._sampling_options(sampler, steps, guidance)
        y_index = self._label_index(y, n_samples, broadcast=True)
        gen = self._generator(random_state)
        schedule, seen = self._schedule(), []

        def record(x: Tensor, t: Tensor) -> None:
            alpha, sigma = schedule.alpha(t.cpu()), schedule.sigma(t.cpu())
            seen.append(x / rows(torch.sqrt(alpha**2 + sigma**2), x))

        with torch.no_grad():
            if self.conditional and y_index is None:
                y_index = self._labels_from_prior(n_samples, gen)
            final = self._denoise(n_samples, y_index, gen, sampler, steps, guidance, record)
        picks = np.linspace(0, len(seen) - 1, n_frames - 1).round().astype(int)
        frames = [self._unstandardise(seen[i]) for i in picks] + [final]
        return self._to_output(torch.stack(frames))


def row_rngs(X: np.ndarray, seed: int | None) -> list[np.random.Generator]:
    """A generator per row of X, seeded by a hash of the seed and the row's values: what a
    likelihood draws from them does not depend on the row's batch."""
    prefix = int(0 if seed is None else seed).to_bytes(8, "little", signed=True)
    flat = np.ascontiguousarray(X, dtype=np.float64).reshape(len(X), -1)
    return [
        np.random.default_rng(
            int.from_bytes(
                hashlib.blake2b(prefix + row.tobytes(), digest_size=8).digest(), "little"
            )  # fmt: skip
        )
        for row in flat
    ]


def _recorded(denoiser, record):
    def wrapped(x: Tensor, t: Tensor) -> Tensor:
        record(x.detach(), t)
        return denoiser(x, t)

    return wrapped
