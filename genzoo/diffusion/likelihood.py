"""Log-likelihoods of diffusion models by the probability-flow ODE (Song et al. 2021, sec. 4.3).

In the scaled variable y = x / alpha(t) = x_0 + s eps, the probability-flow ODE of every
schedule is dy/du = y - D(y, s) with u = log s. Along a solution, d log p(y) / du =
-tr(dF/dy) with F = y - D, so integrating from the last noise level s_min (the data, with the
noise the schedule leaves there) up to s_max gives

    log p_min(y_min) = log p_max(y_max) + int_{u_min}^{u_max} (d - tr(dD/dy)) du,

where p_max is the prior, N(0, prior_std^2 I) in x. The trace is exact (one backward pass per
dimension) for small dimension, or Hutchinson's estimate z^T (dD/dy) z with Rademacher z (one
pass), unbiased but noisy. The integral is taken by fixed-step fourth-order Runge-Kutta,
evenly in u, jointly with y.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from genzoo.diffusion.samplers import MAX_SAMPLING_STEPS, Denoiser
from genzoo.diffusion.schedules import Schedule

__all__ = ["EXACT_TRACE_MAX_DIM", "ode_log_likelihood"]

EXACT_TRACE_MAX_DIM = 32  # "auto" takes the exact trace up to this many dimensions
TRACES = ("auto", "exact", "hutchinson")


def ode_log_likelihood(
    denoiser: Denoiser,
    schedule: Schedule,
    x: Tensor,
    *,
    steps: int = 100,
    trace: str = "auto",
    generator: torch.Generator | None = None,
    probes: Tensor | None = None,
) -> Tensor:
    """log p(x) in nats per row, of the model's marginal at the schedule's last time t_min.

    `denoiser(x, t)` estimates x_0 as for the samplers and must be differentiable in x.
    `trace` is "exact", "hutchinson" or "auto" (exact up to EXACT_TRACE_MAX_DIM dimensions);
    `generator` seeds Hutchinson's Rademacher probes, one per row held along the path;
    `probes` (x's shape, entries +-1) gives them instead.
    """
    if trace not in TRACES:
        raise ValueError(f"trace must be one of {TRACES}; got {trace!r}.")
    if (
        isinstance(steps, bool)
        or not isinstance(steps, int)
        or not 1 <= steps <= MAX_SAMPLING_STEPS
    ):
        raise ValueError(f"steps must be an int between 1 and {MAX_SAMPLING_STEPS}; got {steps!r}.")
    if not isinstance(x, Tensor) or x.ndim < 2 or not x.is_floating_point():
        raise ValueError("x must be a floating tensor of shape (n_samples, ...).")
    if not torch.isfinite(x).all():
        raise ValueError("x holds NaN or infinity.")
    d = math.prod(x.shape[1:])
    exact = trace == "exact" or (trace == "auto" and d <= EXACT_TRACE_MAX_DIM)
    ends = torch.tensor([schedule.t_min, schedule.t_max], dtype=torch.float64)
    alpha_min, alpha_max = schedule.alpha(ends).tolist()
    u = torch.linspace(*torch.log(schedule.scaled_sigma(ends)).tolist(), steps + 1,
                       dtype=torch.float64)  # fmt: skip
    times = schedule.time_at(torch.exp(u)).tolist()
    mids = schedule.time_at(torch.exp((u[:-1] + u[1:]) / 2)).tolist()
    times[0], times[-1] = schedule.t_min, schedule.t_max
    if exact:
        probes = None
    elif probes is not None:
        if probes.shape != x.shape or not torch.all(probes.abs() == 1):
            raise ValueError("probes must have x's shape and entries -1 or 1.")
        probes = probes.to(x.device, x.dtype)
    else:
        probes = torch.randint(0, 2, x.shape, generator=generator, device=x.device).to(x.dtype)
        probes = 2 * probes - 1  # Rademacher: one probe per row, held along the path

    def field(y: Tensor, t: float) -> tuple[Tensor, Tensor]:
        """F = y - D(y) and d - tr(dD/dy), per row."""
        with torch.enable_grad():
            y = y.detach().requires_grad_(True)
            times_t = torch.full((len(y),), t, dtype=torch.float64, device=y.device)
            alpha = float(schedule.alpha(torch.tensor(t, dtype=torch.float64)))
            out = denoiser(y * alpha, times_t)
            if out.shape != y.shape:
                raise ValueError(
                    f"the denoiser returned shape {tuple(out.shape)}, not {tuple(y.shape)}."
                )
            if exact:
                flat = out.flatten(1)
                trace_d = torch.zeros(len(y), dtype=y.dtype, device=y.device)
                for i in range(d):
                    (grad,) = torch.autograd.grad(flat[:, i].sum(), y, retain_graph=i < d - 1)
                    trace_d = trace_d + grad.flatten(1)[:, i]
            else:
                (grad,) = torch.autograd.grad((out * probes).sum(), y)
                trace_d = (grad * probes).flatten(1).sum(1)
        divergence = d - trace_d.detach()
        velocity = (y - out).detach()
        if not (torch.isfinite(velocity).all() and torch.isfinite(divergence).all()):
            raise ValueError(f"the denoiser's output is not finite at t={t:g}.")
        return velocity, divergence

    y = x / alpha_min
    integral = torch.zeros(len(x), dtype=x.dtype, device=x.device)
    for i in range(steps):
        h = float(u[i + 1] - u[i])
        k1, c1 = field(y, times[i])
        k2, c2 = field(y + 0.5 * h * k1, mids[i])
        k3, c3 = field(y + 0.5 * h * k2, mids[i])
        k4, c4 = field(y + h * k3, times[i + 1])
        y = y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        integral = integral + h / 6 * (c1 + 2 * c2 + 2 * c3 + c4)
    # The prior N(0, prior_std^2) of x_max = alpha_max y, read in y; then y_min = x / alpha_min.
    std = schedule.prior_std / alpha_max
    flat = y.flatten(1)
    log_prior = (
        -0.5 * (flat**2).sum(1) / std**2 - d * math.log(std) - 0.5 * d * math.log(2 * math.pi)
    )
    return log_prior + integral - d * math.log(alpha_min)
