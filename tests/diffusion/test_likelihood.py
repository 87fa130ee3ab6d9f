"""The probability-flow ODE's log-likelihood, with the exact score of a Gaussian, equals the
Gaussian's log-density; Hutchinson's trace is unbiased."""

from __future__ import annotations

import math

import pytest
import torch

from genzoo.diffusion import get_schedule
from genzoo.diffusion.likelihood import ode_log_likelihood

VARIANCES = torch.tensor([0.25, 1.0, 0.04], dtype=torch.float64)


def gaussian_denoiser(schedule, mean):
    def denoiser(x, t):
        y = x / schedule.alpha(t)[:, None]
        s2 = schedule.scaled_sigma(t)[:, None] ** 2
        return mean + VARIANCES / (VARIANCES + s2) * (y - mean)

    return denoiser


def data(n: int = 200, mean=0.0):
    gen = torch.Generator().manual_seed(0)
    return mean + VARIANCES.sqrt() * torch.randn(n, 3, generator=gen, dtype=torch.float64)


def true_log_density(schedule, x, mean=0.0):
    """log N(x; alpha m, alpha^2 Sigma + sigma^2 I) at the schedule's last time t_min."""
    t = torch.tensor(schedule.t_min, dtype=torch.float64)
    alpha, sigma = schedule.alpha(t), schedule.sigma(t)
    variance = alpha**2 * VARIANCES + sigma**2
    return (-0.5 * ((x - alpha * mean) ** 2 / variance + torch.log(2 * math.pi * variance))).sum(1)


@pytest.mark.parametrize("name", ["linear", "cosine", "vp", "subvp", "ve"])
def test_ode_likelihood_of_the_exact_score_is_the_true_log_density(name):
    schedule = get_schedule(name)
    x = data()
    log_p = ode_log_likelihood(gaussian_denoiser(schedule, 0.0), schedule, x, steps=100)
    # measured at most 0.0066 nats with 50 steps (cosine), under 0.002 elsewhere
    assert float((log_p - true_log_density(schedule, x)).abs().max()) < 0.01


def test_too_few_steps_miss_and_more_steps_converge():
    schedule = get_schedule("subvp")
    x = data()
    errors = [
        float((ode_log_likelihood(gaussian_denoiser(schedule, 0.0), schedule, x, steps=s)
               - true_log_density(schedule, x)).abs().max())
        for s in (10, 40)
    ]  # fmt: skip
    assert errors[0] > 0.05 and errors[1] < errors[0] / 10


def test_hutchinson_is_unbiased_and_noisier():
    """With a correlated Gaussian (a Jacobian with off-diagonal terms, which Rademacher
    probes do not read exactly), the estimate differs per row but not on average."""
    schedule = get_schedule("vp")
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(1),
                                       dtype=torch.float64))  # fmt: skip
    covariance = q @ torch.diag(VARIANCES) @ q.T

    def denoiser(x, t):
        y = x / schedule.alpha(t)[:, None]
        s2 = schedule.scaled_sigma(t)[:, None, None] ** 2
        gain = covariance @ torch.linalg.inv(covariance + s2 * torch.eye(3, dtype=torch.float64))
        return (gain @ y[..., None])[..., 0]

    x = data(400) @ q.T
    exact = ode_log_likelihood(denoiser, schedule, x, steps=50, trace="exact")
    estimate = ode_log_likelihood(denoiser, schedule, x, steps=50, trace="hutchinson",
                                  generator=torch.Generator().manual_seed(0))  # fmt: skip
    difference = estimate - exact
    assert float(difference.std()) > 1e-3  # a real estimate, not the exact trace
    assert abs(float(difference.mean())) < 3 * float(difference.std()) / math.sqrt(len(x))
    t = torch.tensor(schedule.t_min, dtype=torch.float64)
    alpha, sigma = schedule.alpha(t), schedule.sigma(t)
    marginal = torch.distributions.MultivariateNormal(
        torch.zeros(3, dtype=torch.float64),
        alpha**2 * covariance + sigma**2 * torch.eye(3, dtype=torch.float64),
    )
    # and the exact trace gives the correlated Gaussian's own density
    assert float((exact - marginal.log_prob(x)).abs().max()) < 0.01


def test_the_prior_ignores_the_data_mean_as_published():
    """With the data's mean away from 0, VE's prior N(0, 50^2) misses it: a known bias of the
    SDE likelihoods (Song et al. 2021), small on average, larger far from the mean."""
    schedule = get_schedule("ve")
    mean = torch.tensor([1.0, -0.5, 2.0], dtype=torch.float64)
    x = data(mean=mean)
    log_p = ode_log_likelihood(gaussian_denoiser(schedule, mean), schedule, x, steps=50)
    error = log_p - true_log_density(schedule, x, mean)
    assert abs(float(error.mean())) < 0.01 and float(error.abs().max()) > 0.05


def test_bad_arguments_are_refused():
    schedule = get_schedule("vp")
    denoiser = gaussian_denoiser(schedule, 0.0)
    with pytest.raises(ValueError, match="trace must be one of"):
        ode_log_likelihood(denoiser, schedule, data(), trace="skilling")
    with pytest.raises(ValueError, match="steps must be an int between 1 and"):
        ode_log_likelihood(denoiser, schedule, data(), steps=0)
    bad = data()
    bad[0, 0] = float("inf")
    with pytest.raises(ValueError, match="x holds NaN or infinity"):
        ode_log_likelihood(denoiser, schedule, bad)
    with pytest.raises(ValueError, match="not finite at t="):
        ode_log_likelihood(lambda x, t: x * float("nan"), schedule, data(), steps=2)
