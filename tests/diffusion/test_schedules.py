"""Noise schedules: the published cumulative alphas, and closed forms that solve the SDEs'
moment equations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

from genzoo.diffusion import (
    VESDE,
    VPSDE,
    DiscreteSchedule,
    SubVPSDE,
    cosine_schedule,
    get_schedule,
    linear_schedule,
)


def test_linear_schedule_gives_the_published_cumulative_alphas():
    schedule = linear_schedule()
    betas = np.linspace(1e-4, 0.02, 1000)
    np.testing.assert_allclose(schedule.alphas_cumprod.numpy(), np.cumprod(1 - betas), rtol=1e-12)
    # DDPM's alpha_bar_T (Ho et al. 2020's setting): sqrt(alpha_bar_T) = 0.00635.
    assert float(schedule.alphas_cumprod[-1]) == pytest.approx(4.0358e-05, rel=1e-4)
    assert float(schedule.alphas_cumprod[0]) == pytest.approx(0.9999, rel=1e-12)
    t = torch.arange(1000, dtype=torch.float64)
    np.testing.assert_allclose(schedule.alpha(t) ** 2 + schedule.sigma(t) ** 2, 1.0, rtol=1e-12)


@pytest.mark.parametrize(
    ("ours", "theirs"), [("linear", "linear"), ("cosine", "squaredcos_cap_v2")]
)
def test_discrete_schedules_equal_diffusers(ours, theirs):
    diffusers = pytest.importorskip("diffusers")
    reference = diffusers.DDPMScheduler(num_train_timesteps=1000, beta_schedule=theirs)
    # diffusers computes in float32: equal to its precision.
    np.testing.assert_allclose(
        get_schedule(ours).alphas_cumprod.numpy(), reference.alphas_cumprod.numpy(), rtol=2e-5,
        atol=1e-9,
    )  # fmt: skip


def test_cosine_schedule_follows_its_closed_form_until_the_clip():
    schedule = cosine_schedule()
    s, T = 0.008, 1000
    t = np.arange(1, T + 1)
    f = np.cos((t / T + s) / (1 + s) * np.pi / 2) ** 2 / np.cos(s / (1 + s) * np.pi / 2) ** 2
    unclipped = schedule.betas.numpy() < 0.999
    np.testing.assert_allclose(schedule.alphas_cumprod.numpy()[unclipped], f[unclipped], rtol=1e-9)
    assert unclipped[:-1].all()  # only the last step is clipped


@pytest.mark.parametrize("sde", [VPSDE(), SubVPSDE(), VESDE()], ids=repr)
def test_sde_marginals_solve_the_moment_equations(sde):
    """m' = f m and v' = 2 f v + g^2 from the SDE's drift f x and diffusion g."""

    def moments(t, mv):
        f = float(sde.drift_coefficient(torch.tensor(t)))
        g = float(sde.diffusion(torch.tensor(t)))
        return [f * mv[0], 2 * f * mv[1] + g**2]

    start = [1.0, float(sde.sigma(torch.tensor(0.0))) ** 2]  # VE starts sigma_min from the data
    grid = [0.01, 0.1, 0.3, 0.7, 1.0]
    solved = solve_ivp(moments, (0.0, 1.0), start, t_eval=grid, rtol=1e-11, atol=1e-13)
    t = torch.tensor(grid, dtype=torch.float64)
    np.testing.assert_allclose(sde.alpha(t).numpy(), solved.y[0], rtol=1e-7)
    np.testing.assert_allclose(sde.sigma(t).numpy() ** 2, solved.y[1], rtol=1e-6, atol=1e-12)


def test_sub_vp_has_less_variance_than_vp_and_ve_explodes():
    t = torch.linspace(0.05, 1, 20, dtype=torch.float64)
    assert torch.all(SubVPSDE().sigma(t) < VPSDE().sigma(t))
    assert float(VESDE().sigma(torch.tensor(1.0))) == pytest.approx(50.0)
    assert VESDE().prior_std == 50.0 and VPSDE().prior_std == 1.0


@pytest.mark.parametrize("name", ["linear", "cosine", "vp", "subvp", "ve"])
def test_time_at_inverts_the_noise_level(name):
    schedule = get_schedule(name)
    times = schedule.times(17)
    levels = schedule.scaled_sigma(times)
    assert torch.all(levels[:-1] > levels[1:])  # noise falls along the grid
    np.testing.assert_allclose(schedule.time_at(levels).numpy(), times.numpy(), atol=1e-9)


def test_discrete_grids_are_whole_steps_and_discrete_times_interpolate():
    schedule = linear_schedule()
    grid = schedule.times(20)
    assert grid[0] == 999 and grid[-1] == 0 and torch.all(grid == torch.round(grid))
    a, b = schedule.alpha(torch.tensor([10.0, 11.0]))
    assert b < float(schedule.alpha(torch.tensor(10.5))) < a


def test_bad_schedules_and_times_are_refused():
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        DiscreteSchedule([0.1, 1.0])
    with pytest.raises(ValueError, match="n_steps must be between 1 and 100000"):
        linear_schedule(0)
    with pytest.raises(ValueError, match="n_steps must be an int"):
        cosine_schedule(True)
    with pytest.raises(ValueError, match=r"times must lie in \[0, 999\]"):
        linear_schedule().alpha(torch.tensor([1000.0]))
    with pytest.raises(ValueError, match=r"times must lie in \[0, 1\]"):
        VPSDE().sigma(torch.tensor([float("nan")]))
    with pytest.raises(ValueError, match="steps=2000 exceeds the schedule's 1000 steps"):
        linear_schedule().times(2000)
    with pytest.raises(ValueError, match="0 < sigma_min < sigma_max"):
        VESDE(sigma_min=1.0, sigma_max=0.5)
    with pytest.raises(ValueError, match="unknown schedule 'quadratic'"):
        get_schedule("quadratic")
