"""Noise-conditional score network (Song and Ermon 2019), with the settings of their 2020
follow-up: geometric noise levels chosen from the data, a score of the form s(x) / sigma, and
annealed Langevin dynamics with their step-size rule and a final denoising step."""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.stats import norm
from torch import Tensor

from genzoo._validation import Interval, Options
from genzoo.diffusion._base import DIFFUSION_CONSTRAINTS, DiffusionModel
from genzoo.diffusion.samplers import SAMPLERS
from genzoo.diffusion.schedules import VESDE
from genzoo.registry import register

__all__ = ["NCSN", "annealed_langevin", "langevin_step_size", "noise_levels"]

MAX_SIGMAS = 1000
_MIN_SIGMAS = 10
_PAIRWISE_ROWS = 1000  # rows whose largest pairwise distance sets sigma_max
# In few dimensions no ratio makes neighbouring shells overlap by half (the shells are thick);
# the levels are then spaced by this ratio, at which five Langevin steps per level leave the
# last level's variance within 15% of its target (technique 4's expression).
_LOW_DIMENSION_RATIO = 1.2


def noise_levels(X: np.ndarray, sigma_min: float) -> tuple[float, int]:
    """(sigma_max, n_sigmas) by techniques 1 and 2 of Song and Ermon (2020).

    sigma_max is the largest distance between two rows (of up to 1000, standardised), so the
    noise can carry any row to any other; the ratio gamma of neighbouring levels solves
    Phi(sqrt(2D)(gamma - 1) + 3 gamma) - Phi(sqrt(2D)(gamma - 1) - 3 gamma) = 1/2, so that
    the shells of neighbouring levels overlap. In few dimensions (D <= 4) no ratio does, and
    the levels are spaced by 1.2; there are 10 to 1000 of them.
    """
    flat = X.reshape(len(X), -1)[:_PAIRWISE_ROWS]
    squares = (flat**2).sum(1)
    distances = np.sqrt(np.maximum(squares[:, None] + squares[None, :] - 2 * flat @ flat.T, 0))
    sigma_max = max(float(distances.max()), 2 * sigma_min)
    root = math.sqrt(2 * flat.shape[1])

    def overlap(gamma: float) -> float:
        centre = root * (gamma - 1)
        return float(norm.cdf(centre + 3 * gamma) - norm.cdf(centre - 3 * gamma))

    ratio = _LOW_DIMENSION_RATIO
    if overlap(100.0) < 0.5:
        low, high = 1.0, 100.0
        for _ in range(60):
            mid = (low + high) / 2
            low, high = (mid, high) if overlap(mid) > 0.5 else (low, mid)
        ratio = low
    n_sigmas = math.ceil(math.log(sigma_max / sigma_min) / math.log(ratio)) + 1
    n_sigmas = min(MAX_SIGMAS, max(_MIN_SIGMAS, n_sigmas))
    return sigma_max, n_sigmas


def langevin_step_size(sigma_min: float, ratio: float, steps_each: int) -> float:
    """epsilon of annealed Langevin dynamics by technique 4 of Song and Ermon (2020).

    With step alpha_i = epsilon sigma_i^2 / sigma_min^2, the variance of a sample after
    `steps_each` steps at the last level, relative to sigma_min^2, is
    (1 - x)^(2T) (gamma^2 - 2 / (2 - x)) + 2 / (2 - x) with x = epsilon / sigma_min^2 and gamma
    the ratio of neighbouring levels; epsilon makes it closest to 1.
    """
    x = np.exp(np.linspace(math.log(1e-9), math.log(0.999), 4000))
    variance = (1 - x) ** (2 * steps_each) * (ratio**2 - 2 / (2 - x)) + 2 / (2 - x)
    return float(x[np.argmin(np.abs(variance - 1))] * sigma_min**2)


def annealed_langevin(
    denoiser, schedule: VESDE, noise: Tensor, steps: int, *, n_sigmas: int,
    step_size: float, denoise: bool = True, generator: torch.Generator | None = None,
) -> Tensor:  # fmt: skip
    """Annealed Langevin dynamics (Song and Ermon 2019, Algorithm 1): `steps` steps
    x <- x + alpha_i s(x, sigma_i) + sqrt(2 alpha_i) z at each of the `n_sigmas` geometric
    levels from sigma_max down to sigma_min, alpha_i = step_size sigma_i^2 / sigma_min^2, with
    the score s = (D(x) - x) / sigma^2; then, with `denoise`, x <- x + sigma_min^2 s(x) =
    D(x), the final denoising step of Song and Ermon (2020)."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int; got {steps!r}.")
    times = torch.linspace(1.0, 0.0, n_sigmas, dtype=torch.float64)
    sigmas = schedule.sigma(times).tolist()
    x = noise * schedule.prior_std
    for t, sigma in zip(times.tolist(), sigmas, strict=True):
        alpha = step_size * (sigma / schedule.sigma_min) ** 2
        at = torch.full((len(x),), t, dtype=torch.float64, device=x.device)
        for _ in range(steps):
            score = (denoiser(x, at).to(x.dtype) - x) / sigma**2
            z = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            x = x + alpha * score + math.sqrt(2 * alpha) * z
        if not torch.isfinite(x).all():
            raise ValueError(f"Langevin dynamics left finite values at sigma={sigma:g}.")
    if denoise:
        at = torch.zeros(len(x), dtype=torch.float64, device=x.device)
        x = denoiser(x, at).to(x.dtype)
    return x


@register(
    "ncsn",
    family="diffusion",
    data_kind="images",
    default_dataset="digits",
    zoo_datasets=("digits", "moons"),
    fixture_dataset="digits",
    fixture_size=200,
    test_params={
        "hidden": (32, 32), "base_channels": 8, "channel_mults": (1,), "n_sigmas": 10,
        "batch_size": 64, "max_steps": 20, "sampling_steps": 2, "verbose": 0,
        "random_state": 0,
    },
    quick_params={"base_channels": 16, "batch_size": 64, "max_steps": 600,
                  "learning_rate": 2e-3, "ema_decay": 0.995, "verbose": 0, "random_state": 0},
    zoo_params={"max_steps": 3000, "sampling_steps": 10, "verbose": 0, "random_state": 0},
)  # fmt: skip
class NCSN(DiffusionModel):
    """Noise-conditional score network trained by denoising score matching, sampled by
    annealed Langevin dynamics.

    The data (standardised) are perturbed with Gaussian noise at `n_sigmas` levels spaced
    geometrically from `sigma_max` down to `sigma_min`; a network of (x, level) learns the
    score of each perturbed distribution by denoising score matching with the weights
    lambda(sigma) = sigma^2. The network predicts the noise, which is the score times
    -sigma: the score is s(x) / sigma, as Song and Ermon (2020) advise. By default the levels
    follow their techniques 1 and 2 (see `noise_levels`), and Langevin's step size their
    technique 4 (see `langevin_step_size`).

    `sample` runs annealed Langevin dynamics ("langevin", `steps` Langevin steps at each
    level, then one denoising step), or any shared sampler on the levels' VE SDE: the levels
    are its times 0 to 1.

    NCSN has no likelihood: a score network defines a distribution only through the sampler
    that follows it, and Langevin dynamics gives no density.

    Parameters
    ----------
    sigma_min : float, default=0.01
        The smallest noise level, in standardised units.
    sigma_max : float or "auto", default="auto"
        The largest noise level; "auto" is the largest distance between two training rows.
    n_sigmas : int or "auto", default="auto"
        Number of noise levels; "auto" by technique 2, between 10 and 1000.
    step_size : float or "auto", default="auto"
        Langevin's epsilon (the step at sigma_min); "auto" by technique 4.
    sampler : str, default="langevin"
        The default sampler: "langevin", or one of the shared samplers.
    sampling_steps : int, default=5
        Langevin steps per level (for "langevin"), or the shared sampler's steps.
    network, hidden, base_channels, channel_mults, n_res_blocks, attention_resolutions,
    dropout, conditional, label_dropout, and the training settings
        As in `DDPM`.

    Attributes
    ----------
    denoiser_state_, classes_, class_log_prior_, architecture_, data_shift_, data_scale_,
    loss_curve_, n_steps_, n_features_in_, input_shape_
        As in `DDPM`; ``architecture_["schedule"]`` holds the levels chosen.

    Examples
    --------
    >>> from genzoo import NCSN
    >>> from genzoo.data import make_moons
    >>> ncsn = NCSN(max_steps=50, verbose=0, random_state=0).fit(make_moons(256))
    >>> ncsn.sample(3).shape
    (3, 2)
    """

    likelihood_kind = None
    no_likelihood_reason = (
        "a noise-conditional score network gives the score (the gradient of the log-density) "
        "at each noise level, not the density, and annealed Langevin dynamics does not "
        "evaluate one. Compare its samples (genzoo.metrics), or use score_sde, whose "
        "probability-flow ODE gives log p."
    )
    samplers = ("langevin", *SAMPLERS)
    _time_scale = 1000.0
    _parameter_constraints = {
        "sigma_min": [Interval(float, 0, None, closed="neither")],
        "sigma_max": [Options("auto"), Interval(float, 0, 1e6, closed="neither")],
        "n_sigmas": [Options("auto"), Interval(int, 2, MAX_SIGMAS)],
        "step_size": [Options("auto"), Interval(float, 0, None, closed="neither")],
        "sampler": [Options("langevin", *SAMPLERS)],
        **DIFFUSION_CONSTRAINTS,
    }

    def __init__(
        self,
        sigma_min: float = 0.01,
        *,
        sigma_max: float | str = "auto",
        n_sigmas: int | str = "auto",
        step_size: float | str = "auto",
        sampler: str = "langevin",
        sampling_steps: int = 5,
        network: str = "auto",
        hidden: tuple[int, ...] = (256, 256, 256),
        base_channels: int = 32,
        channel_mults: tuple[int, ...] = (1, 2),
        n_res_blocks: int = 1,
        attention_resolutions: tuple[int, ...] = (),
        dropout: float = 0.0,
        conditional: bool = False,
        label_dropout: float = 0.1,
        device: str = "auto",
        batch_size: int = 128,
        max_steps: int = 2000,
        learning_rate: float = 1e-3,
        weight_decay: float = 0.0,
        warmup_steps: int = 0,
        schedule: str = "cosine",
        grad_clip: float | None = 1.0,
        ema_decay: float | None = 0.999,
        verbose: int = 1,
        checkpoint_dir=None,
        checkpoint_every: int | None = None,
        random_state: int | None = None,
        precision: str = "auto",
        dtype: str = "float32",
    ):
        self.sigma_min = sigma_min
        self.sigma_max = sigma_max
        self.n_sigmas = n_sigmas
        self.step_size = step_size
        self.sampler = sampler
        self.sampling_steps = sampling_steps
        self.network = network
        self.hidden = hidden
        self.base_channels = base_channels
        self.channel_mults = channel_mults
        self.n_res_blocks = n_res_blocks
        self.attention_resolutions = attention_resolutions
        self.dropout = dropout
        self.conditional = conditional
        self.label_dropout = label_dropout
        self.device = device
        self.batch_size = batch_size
        self.max_steps = max_steps
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.warmup_steps = warmup_steps
        self.schedule = schedule
        self.grad_clip = grad_clip
        self.ema_decay = ema_decay
        self.verbose = verbose
        self.checkpoint_dir = checkpoint_dir
        self.checkpoint_every = checkpoint_every
        self.random_state = random_state
        self.precision = precision
        self.dtype = dtype

    def _check_arguments(self) -> None:
        super()._check_arguments()
        if self.sigma_max != "auto" and self.sigma_max <= self.sigma_min:
            raise ValueError(f"sigma_max={self.sigma_max} must exceed sigma_min={self.sigma_min}.")

    def _schedule_spec(self, X) -> dict:
        shift, scale = self._standardisation(X, {})
        auto_max, auto_n = noise_levels((X - shift) / scale, self.sigma_min)
        sigma_max = auto_max if self.sigma_max == "auto" else float(self.sigma_max)
        n_sigmas = auto_n if self.n_sigmas == "auto" else self.n_sigmas
        return {"kind": "ve", "sigma_min": float(self.sigma_min), "sigma_max": sigma_max,
                "t_min": 1e-5, "n_sigmas": n_sigmas}  # fmt: skip

    def _training_times(self, n, gen, net) -> Tensor:
        levels = net.spec["n_sigmas"]
        index = torch.randint(0, levels, (n,), generator=gen, device=gen.device)
        return index.to(torch.float64) / (levels - 1)

    def _run_sampler(self, sampler, denoiser, schedule, noise, steps, gen) -> Tensor:
        if sampler != "langevin":
            return super()._run_sampler(sampler, denoiser, schedule, noise, steps, gen)
        n_sigmas = self.architecture_["schedule"]["n_sigmas"]
        step = self.step_size
        if step == "auto":
            ratio = (schedule.sigma_max / schedule.sigma_min) ** (1 / (n_sigmas - 1))
            step = langevin_step_size(schedule.sigma_min, ratio, steps)
        return annealed_langevin(denoiser, schedule, noise, steps, n_sigmas=n_sigmas,
                                 step_size=step, generator=gen)  # fmt: skip
