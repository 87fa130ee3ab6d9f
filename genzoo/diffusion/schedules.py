"""Noise schedules: how much signal and noise a diffused sample holds at each time.

Every schedule describes a Gaussian corruption x_t = alpha(t) x_0 + sigma(t) eps, eps ~ N(0, I),
by its mean coefficient `alpha` and standard deviation `sigma` in closed form, over its own
time: the step index of a discrete chain (DDPM's 1,000 steps, counted from 0), or t in
[0, 1] for the SDEs of Song et al. (2021). The samplers (`genzoo.diffusion.samplers`) read
only these two functions and the schedule's time grid, so one sampler serves every schedule.

- `linear_schedule`: betas evenly spaced from 1e-4 to 0.02 over 1,000 steps (Ho et al. 2020).
- `cosine_schedule`: alpha_bar(t) = f(t) / f(0), f(t) = cos^2(((t / T) + s) / (1 + s) * pi / 2)
  (Nichol and Dhariwal 2021), betas clipped at 0.999.
- `VPSDE`: dx = -beta(t) x / 2 dt + sqrt(beta(t)) dw, beta linear from beta_min to beta_max.
- `SubVPSDE`: the same drift, diffusion beta(t) (1 - exp(-2 int_0^t beta)); its variance is
  (1 - exp(-int_0^t beta))^2, below the VP SDE's.
- `VESDE`: dx = sqrt(d sigma^2 / dt) dw, sigma(t) = sigma_min (sigma_max / sigma_min)^t; as in
  Song et al., its marginal at t = 0 is the data perturbed by sigma_min.

A discrete schedule is also read between its steps (log alpha_bar interpolated linearly), so
that ODE solvers may evaluate it at any time in [0, T - 1].
"""

from __future__ import annotations

import abc
import math

import torch
from torch import Tensor

__all__ = [
    "DiscreteSchedule",
    "Schedule",
    "SubVPSDE",
    "VESDE",
    "VPSDE",
    "cosine_schedule",
    "get_schedule",
    "linear_schedule",
]

MAX_TRAIN_STEPS = 100_000  # steps of a discrete chain


class Schedule(abc.ABC):
    """The marginals x_t = alpha(t) x_0 + sigma(t) eps of a diffusion, over time t.

    `t_max` is where sampling starts (from N(0, prior_std^2 I)), `t_min` where it ends (a last
    denoising step then removes the little noise left).
    """

    t_min: float
    t_max: float
    prior_std: float = 1.0
    discrete: bool = False

    @abc.abstractmethod
    def alpha(self, t: Tensor) -> Tensor:
        """The mean coefficient at times t (float64)."""

    @abc.abstractmethod
    def sigma(self, t: Tensor) -> Tensor:
        """The standard deviation at times t (float64)."""

    def scaled_sigma(self, t: Tensor) -> Tensor:
        """sigma / alpha: the noise level of x_t / alpha(t) = x_0 + (sigma / alpha) eps, in which
        every one of these processes is the same driftless diffusion (Karras et al. 2022)."""
        return self.sigma(t) / self.alpha(t)

    def time_at(self, level) -> Tensor:
        """The time at which scaled_sigma equals `level` (it grows with t), by bisection: so
        that solvers may step evenly in the log noise level of any schedule."""
        level = torch.as_tensor(level, dtype=torch.float64)
        low = torch.full_like(level, self.t_min if not self.discrete else 0.0)
        high = torch.full_like(level, self.t_max)
        for _ in range(60):  # float64 has 53 bits; 60 halvings leave the interval exact
            mid = (low + high) / 2
            below = self.scaled_sigma(mid) < level
            low, high = torch.where(below, mid, low), torch.where(below, high, mid)
        return (low + high) / 2

    def times(self, steps: int) -> Tensor:
        """`steps` times from t_max down to t_min, evenly spaced (float64)."""
        return torch.linspace(self.t_max, self.t_min, steps, dtype=torch.float64)

    def _as_time(self, t) -> Tensor:
        t = torch.as_tensor(t, dtype=torch.float64)
        if torch.any((t < 0) | (t > self.t_max)) or not torch.isfinite(t).all():
            raise ValueError(f"times must lie in [0, {self.t_max:g}]; got {t.min()} to {t.max()}.")
        return t


class DiscreteSchedule(Schedule):
    """A chain of T steps with noise variances `betas`; step k (0-based) has
    alpha_bar_k = prod_{j <= k} (1 - beta_j), alpha = sqrt(alpha_bar), sigma = sqrt(1 - alpha_bar).
    """

    discrete = True

    def __init__(self, betas, name: str = "custom"):
        betas = torch.as_tensor(betas, dtype=torch.float64)
        if betas.ndim != 1 or not 1 <= len(betas) <= MAX_TRAIN_STEPS:
            raise ValueError(f"betas must be a 1-D sequence of 1 to {MAX_TRAIN_STEPS} values.")
        if not torch.all((betas > 0) & (betas < 1)):
            raise ValueError("betas must lie strictly between 0 and 1.")
        self.name = name
        self.betas = betas
        self.alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
        self._log_alpha_bar = torch.log(self.alphas_cumprod)
        self.n_steps = len(betas)
        self.t_min, self.t_max = 0.0, float(self.n_steps - 1)

    def __repr__(self) -> str:
        return f"DiscreteSchedule({self.name!r}, n_steps={self.n_steps})"

    def _alpha_bar(self, t) -> Tensor:
        t = self._as_time(t)
        # The last segment reaches t_max, so slopes there are the last step's, not zero.
        low = torch.clamp(torch.floor(t), 0, max(self.n_steps - 2, 0)).long()
        high = torch.clamp(low + 1, max=self.n_steps - 1)
        frac = t - low
        log = self._log_alpha_bar
        return torch.exp(log[low] + frac * (log[high] - log[low]))

    def alpha(self, t) -> Tensor:
        return torch.sqrt(self._alpha_bar(t))

    def sigma(self, t) -> Tensor:
        return torch.sqrt(-torch.expm1(torch.log(self._alpha_bar(t))))

    def times(self, steps: int) -> Tensor:
        """`steps` step indices from T - 1 down to 0, as evenly spaced as whole steps allow."""
        if steps > self.n_steps:
            raise ValueError(
                f"steps={steps} exceeds the schedule's {self.n_steps} steps; ask for at most "
                f"{self.n_steps}."
            )
        return torch.round(torch.linspace(self.t_max, 0.0, steps, dtype=torch.float64))


def linear_schedule(
    n_steps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02
) -> DiscreteSchedule:
    """DDPM's linear betas (Ho et al. 2020): beta_start to beta_end over n_steps steps."""
    _check_steps(n_steps)
    betas = torch.linspace(beta_start, beta_end, n_steps, dtype=torch.float64)
    return DiscreteSchedule(betas, name="linear")


def cosine_schedule(n_steps: int = 1000, s: float = 0.008) -> DiscreteSchedule:
    """The cosine schedule of Nichol and Dhariwal (2021), betas clipped at 0.999."""
    _check_steps(n_steps)
    t = torch.arange(n_steps + 1, dtype=torch.float64) / n_steps
    f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    alpha_bar = f / f[0]
    betas = torch.clamp(1.0 - alpha_bar[1:] / alpha_bar[:-1], max=0.999)
    return DiscreteSchedule(betas, name="cosine")


def _check_steps(n_steps) -> None:
    if isinstance(n_steps, bool) or not isinstance(n_steps, int):
        raise ValueError(f"n_steps must be an int; got {n_steps!r}.")
    if not 1 <= n_steps <= MAX_TRAIN_STEPS:
        raise ValueError(f"n_steps must be between 1 and {MAX_TRAIN_STEPS}; got {n_steps}.")


class VPSDE(Schedule):
    """The variance-preserving SDE, beta(t) = beta_min + t (beta_max - beta_min), t in [0, 1]:
    alpha(t) = exp(-B(t) / 2), sigma(t) = sqrt(1 - exp(-B(t))), B(t) = int_0^t beta."""

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0, t_min: float = 1e-3):
        if not 0 < beta_min <= beta_max < 1e4:
            raise ValueError("VPSDE needs 0 < beta_min <= beta_max < 1e4.")
        self.beta_min, self.beta_max = float(beta_min), float(beta_max)
        self.t_min, self.t_max = _check_t_min(t_min), 1.0

    def __repr__(self) -> str:
        return f"{type(self).__name__}(beta_min={self.beta_min:g}, beta_max={self.beta_max:g})"

    def beta(self, t) -> Tensor:
        return self.beta_min + self._as_time(t) * (self.beta_max - self.beta_min)

    def integrated_beta(self, t) -> Tensor:
        t = self._as_time(t)
        return self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t**2

    def alpha(self, t) -> Tensor:
        return torch.exp(-0.5 * self.integrated_beta(t))

    def sigma(self, t) -> Tensor:
        return torch.sqrt(-torch.expm1(-self.integrated_beta(t)))

    def drift_coefficient(self, t) -> Tensor:
        """f(t) of the drift f(t) x."""
        return -0.5 * self.beta(t)

    def diffusion(self, t) -> Tensor:
        """g(t), the diffusion coefficient."""
        return torch.sqrt(self.beta(t))


class SubVPSDE(VPSDE):
    """The sub-VP SDE: the VP SDE's drift, diffusion g^2 = beta(t) (1 - exp(-2 B(t))), and
    sigma(t) = 1 - exp(-B(t))."""

    def sigma(self, t) -> Tensor:
        return -torch.expm1(-self.integrated_beta(t))

    def diffusion(self, t) -> Tensor:
        return torch.sqrt(self.beta(t) * -torch.expm1(-2.0 * self.integrated_beta(t)))


class VESDE(Schedule):
    """The variance-exploding SDE: alpha = 1, sigma(t) = sigma_min (sigma_max / sigma_min)^t."""

    def __init__(self, sigma_min: float = 0.01, sigma_max: float = 50.0, t_min: float = 1e-5):
        if not 0 < sigma_min < sigma_max < 1e6:
            raise ValueError("VESDE needs 0 < sigma_min < sigma_max < 1e6.")
        self.sigma_min, self.sigma_max = float(sigma_min), float(sigma_max)
        self.t_min, self.t_max = _check_t_min(t_min), 1.0
        self.prior_std = self.sigma_max

    def __repr__(self) -> str:
        return f"VESDE(sigma_min={self.sigma_min:g}, sigma_max={self.sigma_max:g})"

    def alpha(self, t) -> Tensor:
        return torch.ones_like(self._as_time(t))

    def sigma(self, t) -> Tensor:
        return self.sigma_min * (self.sigma_max / self.sigma_min) ** self._as_time(t)

    def drift_coefficient(self, t) -> Tensor:
        return torch.zeros_like(self._as_time(t))

    def diffusion(self, t) -> Tensor:
        return self.sigma(t) * math.sqrt(2 * math.log(self.sigma_max / self.sigma_min))


def _check_t_min(t_min) -> float:
    if not 0 < t_min < 0.5:
        raise ValueError(f"t_min must lie in (0, 0.5); got {t_min!r}.")
    return float(t_min)


_NAMED = {
    "linear": linear_schedule,
    "cosine": cosine_schedule,
    "vp": VPSDE,
    "subvp": SubVPSDE,
    "ve": VESDE,
}


def get_schedule(name: str) -> Schedule:
    """The schedule called `name` with its published settings: "linear", "cosine" (1,000
    steps), "vp", "subvp" or "ve"."""
    if name not in _NAMED:
        raise ValueError(f"unknown schedule {name!r}; choose one of {sorted(_NAMED)}.")
    return _NAMED[name]()
