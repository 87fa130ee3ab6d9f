"""Samplers shared by every diffusion model: small functions of one signature,

    sampler(denoiser, schedule, noise, steps, *, generator=None, **options) -> samples

in the style of k-diffusion. `denoiser(x, t)` returns the model's estimate of the clean data
x_0 from x_t at times t (a tensor with one time per row); a noise or score prediction becomes
one by `as_denoiser`. `noise` is standard normal of the samples' shape; the sampler scales it
to the schedule's prior. `steps` counts the times of the schedule's grid (`Schedule.times`)
at which the sampler asks the denoiser (Heun, the corrector and the ODE solver ask again in
between), from t_max down to t_min; a last step removes the noise left at t_min by taking the
denoiser's estimate there.

Every sampler works on x / alpha(t) = x_0 + s eps with s = sigma(t) / alpha(t), where the
processes of every schedule (DDPM's chain, the VP, sub-VP and VE SDEs) are one driftless
diffusion (Karras et al. 2022, section 2), so each update is written once:

- "ancestral": a draw from the exact posterior q(x_s | x_t, x_0 = D) (Ho et al. 2020; on DDPM's
  own steps it is DDPM's sampler, variance beta-tilde).
- "ddim": x_s = D + sqrt(s_s^2 - c^2) eps_hat + c z, c = eta times the posterior's standard
  deviation (Song, Meng and Ermon 2021); deterministic at eta = 0, and `ddim_invert` runs it
  backwards from data to noise.
- "dpmpp_2m": DPM-Solver++(2M), the second-order multistep solver of the probability-flow
  ODE in log signal-to-noise ratio (Lu et al. 2022), on a grid even in that ratio.
- "heun": Heun's second-order method on dx/ds = (x - D) / s (Karras et al. 2022,
  Algorithm 1); the last step is Euler's.
- "euler_maruyama": the reverse SDE dy = -(ds^2) score + sqrt(ds^2) dw, stepped by
  Euler-Maruyama evenly in log s between the grid's levels.
- "pc": predictor-corrector (Song et al. 2021, Algorithm 2): `n_corrector` Langevin steps at
  each noise level with step size 2 (snr |z| / |score|)^2, then a reverse-diffusion step.
- "ode": the probability-flow ODE by the classical fourth-order Runge-Kutta method in log s.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from genzoo.diffusion.schedules import Schedule

__all__ = [
    "MAX_SAMPLING_STEPS",
    "SAMPLERS",
    "ancestral",
    "as_denoiser",
    "ddim",
    "ddim_invert",
    "dpmpp_2m",
    "euler_maruyama",
    "heun",
    "predictor_corrector",
    "probability_flow_ode",
    "run_sampler",
]

MAX_SAMPLING_STEPS = 100_000
Denoiser = Callable[[Tensor, Tensor], Tensor]
PREDICTIONS = ("x0", "eps", "v", "score")


def as_denoiser(model: Denoiser, schedule: Schedule, prediction: str = "eps") -> Denoiser:
    """Turn a network's prediction at (x_t, t) into an estimate of x_0.

    "eps": the noise, x_0 = (x - sigma eps) / alpha. "v": v = alpha eps - sigma x_0 (Salimans
    and Ho 2022), x_0 = (alpha x - sigma v) / (alpha^2 + sigma^2). "score": grad log p(x_t),
    eps = -sigma score. "x0": as it is.
    """
    if prediction not in PREDICTIONS:
        raise ValueError(f"prediction must be one of {PREDICTIONS}; got {prediction!r}.")
    if prediction == "x0":
        return model

    def denoiser(x: Tensor, t: Tensor) -> Tensor:
        alpha, sigma = (_rows(f(t.cpu()), x) for f in (schedule.alpha, schedule.sigma))
        out = model(x, t)
        if prediction == "v":
            return (alpha * x - sigma * out) / (alpha**2 + sigma**2)
        eps = -sigma * out if prediction == "score" else out
        return (x - sigma * eps) / alpha

    return denoiser


def _rows(values: Tensor, like: Tensor) -> Tensor:
    """Per-row values shaped to broadcast over `like`'s rows, in its dtype and device."""
    return values.to(like.device, like.dtype).reshape(-1, *([1] * (like.ndim - 1)))


class _Scaled:
    """The denoiser seen from the scaled variable y = x / alpha(t), at any time."""

    def __init__(self, denoiser: Denoiser, schedule: Schedule, noise: Tensor):
        self.denoiser, self.schedule = denoiser, schedule
        self.n, self.device, self.dtype = len(noise), noise.device, noise.dtype

    def level(self, t: float) -> float:
        return float(self.schedule.scaled_sigma(torch.tensor(t, dtype=torch.float64)))

    def x0(self, y: Tensor, t: float) -> Tensor:
        times = torch.full((self.n,), t, dtype=torch.float64)
        alpha = float(self.schedule.alpha(times[:1]))
        out = self.denoiser(y * alpha, times.to(self.device))
        if out.shape != y.shape:
            raise ValueError(
                f"the denoiser returned shape {tuple(out.shape)}, not {tuple(y.shape)}."
            )
        if not torch.isfinite(out).all():
            raise ValueError(f"the denoiser returned values that are not finite at t={t:g}.")
        return out.to(self.dtype)


def _setup(denoiser, schedule, noise, steps, *, even_in_log: bool = False):
    """The time grid, its noise levels (with 0 appended for the last step), the scaled
    model and the starting point.

    The grid is the schedule's own (`Schedule.times`), or with `even_in_log` one whose noise
    levels are evenly spaced in log between the schedule's first and last: the explicit
    solvers (Heun, Runge-Kutta, Euler-Maruyama) need it, since a schedule's first step can
    cut the noise level a thousandfold (DDPM's cosine schedule: 20,291 to 18.9), which no
    explicit step survives; DPM-Solver++ steps evenly in log signal-to-noise ratio as its
    paper advises for small data (measured, 20 steps on N(1, 0.5^2) under the VP SDE:
    standard deviation 0.509 on this grid, 0.621 on the VP SDE's even times). DDIM and the
    ancestral draw keep the schedule's own steps, which for DDPM are the ones it trained on.
    """
    if not isinstance(schedule, Schedule):
        raise ValueError(f"schedule must be a genzoo Schedule; got {type(schedule).__name__}.")
    if not isinstance(noise, Tensor) or noise.ndim < 2 or not noise.is_floating_point():
        raise ValueError("noise must be a floating tensor of shape (n_samples, ...).")
    if (
        isinstance(steps, bool)
        or not isinstance(steps, int)
        or not 1 <= steps <= MAX_SAMPLING_STEPS
    ):
        raise ValueError(f"steps must be an int between 1 and {MAX_SAMPLING_STEPS}; got {steps!r}.")
    times = schedule.times(steps)
    if even_in_log and steps > 2:
        ends = torch.log(schedule.scaled_sigma(times[[0, -1]]))
        inner = torch.exp(
            torch.linspace(float(ends[0]), float(ends[1]), steps, dtype=torch.float64)
        )
        times = torch.cat([times[:1], schedule.time_at(inner[1:-1]), times[-1:]])
    times = times.tolist()
    levels = schedule.scaled_sigma(torch.tensor(times, dtype=torch.float64)).tolist() + [0.0]
    model = _Scaled(denoiser, schedule, noise)
    alpha0 = float(schedule.alpha(torch.tensor(times[0], dtype=torch.float64)))
    return times, levels, model, noise * (schedule.prior_std / alpha0)


def _normal(like: Tensor, generator) -> Tensor:
    return torch.randn(like.shape, generator=generator, device=like.device, dtype=like.dtype)


def ancestral(denoiser, schedule, noise, steps, *, generator=None) -> Tensor:
    """Ancestral sampling: each step draws from q(x_s | x_t, x_0 = D(x_t))."""
    times, levels, model, y = _setup(denoiser, schedule, noise, steps)
    for i, t in enumerate(times):
        x0 = model.x0(y, t)
        now, nxt = levels[i], levels[i + 1]
        if nxt == 0.0:
            y = x0
            continue
        kept = nxt**2 / now**2
        y = kept * y + (1 - kept) * x0 + nxt * math.sqrt(1 - kept) * _normal(y, generator)
    return y


def ddim(denoiser, schedule, noise, steps, *, eta: float = 0.0, generator=None) -> Tensor:
    """DDIM: deterministic at eta = 0, ancestral at eta = 1."""
    if not (isinstance(eta, (int, float)) and 0.0 <= eta <= 1.0):
        raise ValueError(f"eta must be a number in [0, 1]; got {eta!r}.")
    times, levels, model, y = _setup(denoiser, schedule, noise, steps)
    for i, t in enumerate(times):
        x0 = model.x0(y, t)
        now, nxt = levels[i], levels[i + 1]
        eps = (y - x0) / now
        c = eta * nxt * math.sqrt(max(0.0, 1 - nxt**2 / now**2))
        y = x0 + math.sqrt(max(0.0, nxt**2 - c**2)) * eps
        if c > 0:
            y = y + c * _normal(y, generator)
    return y


def ddim_invert(denoiser, schedule, x: Tensor, steps: int) -> Tensor:
    """Run deterministic DDIM backwards, from data `x` to the standard normal noise that
    `ddim(..., eta=0)` with the same steps maps (approximately) back to `x`."""
    times, levels, model, _ = _setup(denoiser, schedule, x, steps)
    y = x
    for i in range(len(times) - 1, 0, -1):
        x0 = model.x0(y, times[i])
        y = x0 + levels[i - 1] * (y - x0) / levels[i]
    alpha0 = float(schedule.alpha(torch.tensor(times[0], dtype=torch.float64)))
    return y * (alpha0 / schedule.prior_std)


def dpmpp_2m(denoiser, schedule, noise, steps, *, generator=None) -> Tensor:
    """DPM-Solver++(2M): second order from the second step on, first order (DDIM) before."""
    times, levels, model, y = _setup(denoiser, schedule, noise, steps, even_in_log=True)
    previous = None
    for i, t in enumerate(times):
        x0 = model.x0(y, t)
        now, nxt = levels[i], levels[i + 1]
        if nxt == 0.0:
            y = x0
            break
        h = math.log(now / nxt)
        estimate = x0
        if previous is not None:
            r = math.log(levels[i - 1] / now) / h
            estimate = (1 + 1 / (2 * r)) * x0 - (1 / (2 * r)) * previous
        y = (nxt / now) * y - math.expm1(-h) * estimate
        previous = x0
    return y


def heun(denoiser, schedule, noise, steps, *, generator=None) -> Tensor:
    """Heun's method on the probability-flow ODE in the noise level (EDM's sampler)."""
    times, levels, model, y = _setup(denoiser, schedule, noise, steps, even_in_log=True)
    for i, t in enumerate(times):
        now, nxt = levels[i], levels[i + 1]
        slope = (y - model.x0(y, t)) / now
        euler = y + (nxt - now) * slope
        if nxt == 0.0:
            y = euler
            continue
        corrected = (euler - model.x0(euler, times[i + 1])) / nxt
        y = y + (nxt - now) * 0.5 * (slope + corrected)
    return y


def euler_maruyama(denoiser, schedule, noise, steps, *, generator=None) -> Tensor:
    """Euler-Maruyama on the reverse SDE, stepped evenly in the log noise level between the
    grid's levels (dy = -2 s^2 score du + sqrt(2 s^2 |du|) dw, u = log s); a noise-free last
    step."""
    times, levels, model, y = _setup(denoiser, schedule, noise, steps, even_in_log=True)
    for i, t in enumerate(times):
        x0 = model.x0(y, t)
        now, nxt = levels[i], levels[i + 1]
        if nxt == 0.0:
            y = x0
            continue
        rate = 2 * now**2 * math.log(now / nxt)  # d(s^2)/du times |du|
        y = y + rate * (x0 - y) / now**2 + math.sqrt(rate) * _normal(y, generator)
    return y


def predictor_corrector(
    denoiser, schedule, noise, steps, *, snr: float = 0.16, n_corrector: int = 1, generator=None
) -> Tensor:
    """Langevin corrector steps at each noise level, then a reverse-diffusion predictor."""
    if not (isinstance(snr, (int, float)) and 0 < snr < 10):
        raise ValueError(f"snr must be a number in (0, 10); got {snr!r}.")
    if (
        isinstance(n_corrector, bool)
        or not isinstance(n_corrector, int)
        or not 0 <= n_corrector <= 100
    ):
        raise ValueError(f"n_corrector must be an int in [0, 100]; got {n_corrector!r}.")
    times, levels, model, y = _setup(denoiser, schedule, noise, steps, even_in_log=True)
    for i, t in enumerate(times):
        now, nxt = levels[i], levels[i + 1]
        for _ in range(n_corrector):
            score = (model.x0(y, t) - y) / now**2
            z = _normal(y, generator)
            # Norms averaged over the batch, as Song et al.'s code does: a sample near a mode
            # (score near 0) would otherwise take an enormous step.
            ratio = z.flatten(1).norm(dim=1).mean() / score.flatten(1).norm(dim=1).mean()
            step = 2 * float(snr * ratio) ** 2
            y = y + step * score + math.sqrt(2 * step) * z
        x0 = model.x0(y, t)
        if nxt == 0.0:
            y = x0
            continue
        removed = now**2 - nxt**2
        y = y + removed * (x0 - y) / now**2 + math.sqrt(removed) * _normal(y, generator)
    return y


def probability_flow_ode(denoiser, schedule, noise, steps, *, generator=None) -> Tensor:
    """The probability-flow ODE dy/du = y - D(y), u = log s, by fixed-step fourth-order
    Runge-Kutta between the grid's noise levels (midpoints at the geometric mean level); the
    last step takes the denoiser's estimate."""
    times, levels, model, y = _setup(denoiser, schedule, noise, steps, even_in_log=True)
    levels = levels[:-1]
    mids = schedule.time_at(
        torch.tensor([math.sqrt(a * b) for a, b in zip(levels[:-1], levels[1:], strict=True)])
    ).tolist()
    for i in range(len(times) - 1):
        h = math.log(levels[i + 1] / levels[i])
        k1 = y - model.x0(y, times[i])
        k2 = (y + 0.5 * h * k1) - model.x0(y + 0.5 * h * k1, mids[i])
        k3 = (y + 0.5 * h * k2) - model.x0(y + 0.5 * h * k2, mids[i])
        k4 = (y + h * k3) - model.x0(y + h * k3, times[i + 1])
        y = y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return model.x0(y, times[-1])


SAMPLERS: dict[str, Callable[..., Tensor]] = {
    "ancestral": ancestral,
    "ddim": ddim,
    "dpmpp_2m": dpmpp_2m,
    "heun": heun,
    "euler_maruyama": euler_maruyama,
    "pc": predictor_corrector,
    "ode": probability_flow_ode,
}


def run_sampler(name: str, denoiser, schedule, noise, steps, *, generator=None, **options):
    """Run the sampler called `name` (a key of SAMPLERS) with its own options.

    With the exact denoiser of data N(1, 0.5^2), 20 steps of DPM-Solver++ draw that Gaussian:

    >>> import torch
    >>> from genzoo.diffusion import get_schedule
    >>> vp = get_schedule("vp")
    >>> def exact(x, t):  # E[x_0 | x_t] for x_0 ~ N(1, 0.25)
    ...     y, s2 = x / vp.alpha(t)[:, None], vp.scaled_sigma(t)[:, None] ** 2
    ...     return 1 + 0.25 / (0.25 + s2) * (y - 1)
    >>> noise = torch.randn(20000, 1, generator=torch.Generator().manual_seed(0))
    >>> x = run_sampler("dpmpp_2m", exact, vp, noise.double(), 20)
    >>> round(float(x.mean()), 1), round(float(x.std()), 1)
    (1.0, 0.5)
    """
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; choose one of {sorted(SAMPLERS)}.")
    try:
        return SAMPLERS[name](denoiser, schedule, noise, steps, generator=generator, **options)
    except TypeError as err:
        if "unexpected keyword" in str(err):
            raise ValueError(f"sampler {name!r} takes no option: {err}") from None
        raise
