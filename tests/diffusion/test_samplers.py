"""Every sampler, given the exact denoiser of a Gaussian mixture, reproduces the mixture on
every schedule; DDIM inverts; bad requests are refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genzoo.diffusion import SAMPLERS, as_denoiser, ddim_invert, get_schedule, run_sampler
from genzoo.diffusion.schedules import linear_schedule
from genzoo.metrics import mmd

WEIGHTS = torch.tensor([0.3, 0.7], dtype=torch.float64)
MEANS = torch.tensor([[-2.0, 0.5], [1.5, -1.0]], dtype=torch.float64)
VARIANCES = torch.tensor([[0.3, 0.1], [0.2, 0.5]], dtype=torch.float64)  # diagonal
N = 2000
# Steps each sampler needs on every schedule here (measured: all within 4e-4 of MMD 0).
STEPS = {"ancestral": 200, "ddim": 100, "dpmpp_2m": 25, "heun": 30, "euler_maruyama": 500,
         "pc": 200, "ode": 30}  # fmt: skip
SCHEDULES = ["linear", "cosine", "vp", "subvp", "ve"]


def mixture_samples(n: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    k = torch.multinomial(WEIGHTS, n, replacement=True, generator=gen)
    return MEANS[k] + VARIANCES[k].sqrt() * torch.randn(n, 2, generator=gen, dtype=torch.float64)


def exact_denoiser(schedule):
    """E[x_0 | x_t]: x_t / alpha = x_0 + s eps is a mixture of N(mu_k, Sigma_k + s^2 I), and
    each component's posterior mean is mu_k + Sigma_k (Sigma_k + s^2 I)^-1 (y - mu_k)."""

    def denoiser(x, t):
        y = x / schedule.alpha(t)[:, None]
        variances = VARIANCES[None] + schedule.scaled_sigma(t)[:, None, None] ** 2
        log_p = torch.log(WEIGHTS)[None] - 0.5 * (
            (y[:, None] - MEANS[None]) ** 2 / variances + torch.log(variances)
        ).sum(-1)
        responsibilities = torch.softmax(log_p, dim=1)[..., None]
        posterior = MEANS[None] + VARIANCES[None] / variances * (y[:, None] - MEANS[None])
        return (responsibilities * posterior).sum(1)

    return denoiser


@pytest.fixture(scope="module")
def reference():
    real = mixture_samples(N, 1).numpy()
    # Two independent true samples of this size differ by an MMD of about 3e-4 at most.
    assert abs(mmd(mixture_samples(N, 2).numpy(), real, random_state=0)) < 3e-4
    return real


@pytest.mark.parametrize("schedule_name", SCHEDULES)
@pytest.mark.parametrize("name", list(STEPS))
def test_every_sampler_reproduces_the_mixture_from_its_exact_denoiser(
    name, schedule_name, reference
):
    schedule = get_schedule(schedule_name)
    gen = torch.Generator().manual_seed(0)
    noise = torch.randn(N, 2, generator=gen, dtype=torch.float64)
    samples = run_sampler(name, exact_denoiser(schedule), schedule, noise, STEPS[name],
                          generator=gen).numpy()  # fmt: skip
    assert mmd(samples, reference, random_state=0) < 1e-3  # measured: at most 4e-4
    true_mean = (WEIGHTS @ MEANS).numpy()
    np.testing.assert_allclose(samples.mean(0), true_mean, atol=0.12)  # 3 standard errors
    share = np.mean(np.linalg.norm(samples - MEANS[0].numpy(), axis=1) < 1.5)
    assert 0.25 < share < 0.35  # the first component's weight, 0.3


def test_too_few_steps_of_an_explicit_solver_are_visibly_wrong(reference):
    """The check above can fail: Euler-Maruyama with 5 steps misses the mixture."""
    schedule = get_schedule("vp")
    noise = torch.randn(N, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    samples = run_sampler("euler_maruyama", exact_denoiser(schedule), schedule, noise, 5,
                          generator=torch.Generator().manual_seed(1))  # fmt: skip
    assert mmd(samples.numpy(), reference, random_state=0) > 1e-3


@pytest.mark.parametrize("schedule_name", ["linear", "cosine", "vp", "ve"])
def test_ddim_is_deterministic_and_inverts_to_its_noise(schedule_name):
    schedule = get_schedule(schedule_name)
    denoiser = exact_denoiser(schedule)
    noise = torch.randn(500, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    errors = []
    for steps in (100, 200):
        x = run_sampler("ddim", denoiser, schedule, noise, steps,
                        generator=torch.Generator().manual_seed(steps))  # fmt: skip
        again = run_sampler("ddim", denoiser, schedule, noise, steps,
                            generator=torch.Generator().manual_seed(7))  # fmt: skip
        torch.testing.assert_close(x, again, rtol=0, atol=0)
        errors.append(float((ddim_invert(denoiser, schedule, x, steps) - noise).abs().mean()))
    # First order in the step: measured 0.040 and 0.020 (linear), 0.013 at 200 (cosine).
    assert errors[1] < 0.025
    assert errors[1] == pytest.approx(errors[0] / 2, rel=0.15)


def test_ancestral_on_every_step_is_ddpm_with_its_posterior_variance():
    schedule = linear_schedule(10)
    a = schedule.alphas_cumprod
    for t in range(1, 10):
        s_t, s_s = (float(schedule.scaled_sigma(torch.tensor(float(k)))) for k in (t, t - 1))
        kept = s_s**2 / s_t**2
        variance = float(a[t - 1]) * s_s**2 * (1 - kept)  # in x space: alpha_s^2 times ours
        beta_tilde = (1 - a[t - 1]) / (1 - a[t]) * schedule.betas[t]
        assert variance == pytest.approx(float(beta_tilde), rel=1e-10)
        # the posterior mean's coefficients (Ho et al. 2020, eq. 7)
        coef_x0 = float(a[t - 1].sqrt() * schedule.betas[t] / (1 - a[t]))
        assert float(a[t - 1].sqrt()) * (1 - kept) == pytest.approx(coef_x0, rel=1e-10)


@pytest.mark.parametrize("prediction", ["eps", "v", "score", "x0"])
def test_noise_velocity_and_score_predictions_become_the_same_denoiser(prediction):
    schedule = get_schedule("vp")
    exact = exact_denoiser(schedule)
    x = torch.randn(64, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    t = torch.full((64,), 0.4, dtype=torch.float64)
    alpha, sigma = schedule.alpha(t)[:, None], schedule.sigma(t)[:, None]

    def model(x, t):
        x0 = exact(x, t)
        eps = (x - alpha * x0) / sigma
        return {"eps": eps, "v": alpha * eps - sigma * x0, "score": -eps / sigma, "x0": x0}[
            prediction
        ]

    torch.testing.assert_close(as_denoiser(model, schedule, prediction)(x, t), exact(x, t))


def test_stochastic_samplers_repeat_with_the_same_generator():
    schedule = get_schedule("linear")
    noise = torch.randn(100, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for name in ("ancestral", "euler_maruyama", "pc"):
        runs = [
            run_sampler(name, exact_denoiser(schedule), schedule, noise, 20,
                        generator=torch.Generator().manual_seed(3))
            for _ in range(2)
        ]  # fmt: skip
        torch.testing.assert_close(runs[0], runs[1], rtol=0, atol=0)


def test_bad_requests_are_refused_with_the_reason():
    schedule = get_schedule("vp")
    denoiser = exact_denoiser(schedule)
    noise = torch.randn(10, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="unknown sampler 'euler'; choose one of"):
        run_sampler("euler", denoiser, schedule, noise, 10)
    for steps in (0, -3, 2.5, True, 10**6):
        with pytest.raises(ValueError, match="steps must be an int between 1 and 100000"):
            run_sampler("ddim", denoiser, schedule, noise, steps)
    with pytest.raises(ValueError, match=r"eta must be a number in \[0, 1\]"):
        run_sampler("ddim", denoiser, schedule, noise, 10, eta=float("nan"))
    with pytest.raises(ValueError, match=r"snr must be a number in \(0, 10\)"):
        run_sampler("pc", denoiser, schedule, noise, 10, snr=-1)
    with pytest.raises(ValueError, match="sampler 'heun' takes no option"):
        run_sampler("heun", denoiser, schedule, noise, 10, eta=0.5)
    with pytest.raises(ValueError, match="noise must be a floating tensor"):
        run_sampler("ddim", denoiser, schedule, noise.numpy(), 10)
    with pytest.raises(ValueError, match="not finite at t="):
        run_sampler("ddim", lambda x, t: x * float("nan"), schedule, noise, 10)
    with pytest.raises(ValueError, match=r"returned shape \(10, 3\), not \(10, 2\)"):
        run_sampler("ode", lambda x, t: torch.zeros(10, 3), schedule, noise, 10)
    with pytest.raises(ValueError, match="prediction must be one of"):
        as_denoiser(denoiser, schedule, "noise")
    assert sorted(SAMPLERS) == sorted(STEPS)
