"""DDPM, NCSN and the score SDE model: known answers, guidance, paths and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genzoo import DDPM, NCSN, ScoreSDE
from genzoo.data import load
from genzoo.diffusion import VESDE, linear_schedule
from genzoo.diffusion.ddpm import discrete_grid, variational_bound
from genzoo.diffusion.ncsn import annealed_langevin, langevin_step_size, noise_levels
from genzoo.metrics import mmd

MEAN = np.array([1.0, -2.0])
COV = np.array([[1.0, 0.6], [0.6, 0.5]])


def _gaussian(n, seed):
    return np.random.default_rng(seed).multivariate_normal(MEAN, COV, size=n)


def _log_density(X):
    diff = X - MEAN
    inv = np.linalg.inv(COV)
    return -0.5 * np.einsum("ij,jk,ik->i", diff, inv, diff) - 0.5 * np.log(
        np.linalg.det(2 * np.pi * COV)
    )


# --- DDPM's bound, with exact denoisers


def _grid_denoiser(schedule, values, probs):
    """E[x_0 | x_t] for x_0 on `values` with `probs` (1-D data), at integer steps t."""
    values = torch.as_tensor(values, dtype=torch.float64)
    log_p = torch.log(torch.as_tensor(probs, dtype=torch.float64))

    def denoiser(x, t):
        a, s = schedule.alpha(t.cpu())[:, None], schedule.sigma(t.cpu())[:, None]
        log_w = log_p - 0.5 * ((x - a * values) / s) ** 2  # (n, k)
        return (torch.softmax(log_w, 1) * values).sum(1, keepdim=True)

    return denoiser


def test_discretised_bound_of_the_exact_denoiser_is_a_bound_that_tightens_with_steps():
    values = np.linspace(-1, 1, 5)
    probs = np.array([0.1, 0.2, 0.4, 0.2, 0.1])
    x = torch.as_tensor(np.repeat(values, 100)[:, None])
    gaps = []
    for n_steps in (100, 1000):  # the paper's total noise over either length
        schedule = linear_schedule(n_steps, 0.1 / n_steps, 20 / n_steps)
        bound = variational_bound(
            _grid_denoiser(schedule, values, probs), schedule, x, levels=5,
            generator=torch.Generator().manual_seed(0),
        )  # fmt: skip
        gaps.append(np.log(probs) - bound.reshape(5, 100).mean(1).numpy())
    # Below each log-probability (in expectation: 100 draws' means), and tighter with more
    # steps; measured 0.35 to 0.79 nats with 100 steps, 0.02 to 0.06 with 1000.
    assert gaps[0].mean() > 0.2 and np.all(gaps[1] > -0.01)
    assert gaps[1].max() < 0.1


def test_continuous_bound_of_the_exact_denoiser_is_below_the_gaussian_log_density():
    schedule = linear_schedule(1000, 1e-4, 0.02)
    s2 = 0.3**2

    def denoiser(x, t):
        a, s = schedule.alpha(t.cpu())[:, None], schedule.sigma(t.cpu())[:, None]
        return a * s2 / (a**2 * s2 + s**2) * x

    x = torch.randn(4000, 1, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    x = 0.3 * x
    bound = variational_bound(denoiser, schedule, x, generator=torch.Generator().manual_seed(2))
    true = -0.5 * x[:, 0] ** 2 / s2 - 0.5 * math.log(2 * math.pi * s2)
    gap = float((true - bound).mean())
    # The model's steps have the posterior's variance beta-tilde (best for a point mass), less
    # than the true reverse kernel's for a spread Gaussian: measured 0.38 nats.
    assert 0.2 < gap < 0.5


def test_discrete_grid_is_found_and_refused_off_grid():
    assert discrete_grid(np.array([0.0, 0.25, 1.0, 0.5])) == {
        "levels": 5,
        "low": 0.0,
        "step": 0.25,
    }
    assert discrete_grid(np.array([0.0, 0.3, 1.0])) is None
    assert discrete_grid(np.linspace(0, 1, 300)) is None


# --- fitted models recover known distributions


@pytest.mark.parametrize(
    ("cls", "params"),
    [
        (DDPM, {"n_steps": 200, "sampler": "ancestral", "sampling_steps": 200}),
        (DDPM, {"n_steps": 200, "prediction": "v", "noise_schedule": "cosine"}),
        (NCSN, {"sampling_steps": 20}),  # five Langevin steps leave it 35% too wide
        (ScoreSDE, {"sampler": "ode", "sampling_steps": 30}),
        (ScoreSDE, {"sde": "ve", "sampler": "pc", "sampling_steps": 100}),
    ],
    ids=["ddpm", "ddpm_v_cosine", "ncsn", "sde_vp", "sde_ve"],
)
def test_samples_recover_a_gaussian(cls, params):
    X = _gaussian(1500, 0)
    model = cls(hidden=(64, 64), max_steps=1500, verbose=0, random_state=0, **params).fit(X)
    samples = model.sample(3000, random_state=1)
    np.testing.assert_allclose(samples.mean(0), MEAN, atol=0.12)
    np.testing.assert_allclose(np.cov(samples.T), COV, atol=0.15)


def test_score_sde_log_prob_is_near_the_true_log_density():
    X = _gaussian(1500, 0)
    model = ScoreSDE(hidden=(64, 64), max_steps=1500, likelihood_steps=40, verbose=0,
                     random_state=0).fit(X)  # fmt: skip
    test = _gaussian(300, 5)
    assert model.score(test) == pytest.approx(_log_density(test).mean(), abs=0.1)


def test_ddpm_bound_is_below_the_true_log_density_and_near_it():
    X = _gaussian(1500, 0)
    model = DDPM(n_steps=200, hidden=(64, 64), max_steps=1500, verbose=0, random_state=0)
    test = _gaussian(300, 5)
    gap = _log_density(test).mean() - model.fit(X).score(test)
    # Measured 2.0 nats: the decoder's standard deviation is sqrt(beta_0) = 0.02, which the
    # network's error at the last step must beat, and beta-tilde is too small (above).
    assert 0.0 < gap < 3.0


def test_denoising_path_starts_at_the_prior_and_ends_at_the_sample():
    model = DDPM(n_steps=100, hidden=(32,), max_steps=30, verbose=0, random_state=0)
    model.fit(_gaussian(300, 0))
    path = model.denoising_path(200, n_frames=6, sampler="ddim", steps=20, random_state=4)
    assert path.shape == (6, 200, 2)
    np.testing.assert_array_equal(
        path[-1], model.sample(200, sampler="ddim", steps=20, random_state=4)
    )
    first = (path[0] - model.data_shift_.numpy()) / model.data_scale_.numpy()
    assert 0.85 < first.std() < 1.15  # the starting noise at unit variance
    assert np.abs(first.mean(0)).max() < 0.2


# --- conditioning and guidance


def test_guidance_moves_samples_toward_their_class():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 1200)
    X = np.where(y[:, None] == 1, 2.0, -2.0) + 0.7 * rng.standard_normal((1200, 2))
    model = DDPM(n_steps=200, hidden=(64, 64), max_steps=1500, conditional=True, verbose=0,
                 random_state=0).fit(X, y)  # fmt: skip
    plain = model.sample(1000, y=1, random_state=0)
    guided = model.sample(1000, y=1, guidance=3.0, random_state=0)
    assert np.abs(plain.mean(0) - 2.0).max() < 0.25
    # guidance sharpens p(y | x): fewer samples on the other class's side
    assert (guided.sum(1) < 0).mean() <= (plain.sum(1) < 0).mean()
    assert guided.mean() > plain.mean() - 0.05
    samples, labels = model.sample(400, return_labels=True, random_state=0)
    assert set(np.unique(labels)) == {0, 1}
    assert np.corrcoef(samples.sum(1), labels)[0, 1] > 0.8


# --- NCSN's rules


def test_noise_levels_follow_song_and_ermon():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 64))
    sigma_max, n_sigmas = noise_levels(X, 0.01)
    distances = np.linalg.norm(X[:, None] - X[None], axis=2)
    assert sigma_max == pytest.approx(distances.max())
    gamma = (sigma_max / 0.01) ** (1 / (n_sigmas - 1))
    root = np.sqrt(2 * 64)
    from scipy.stats import norm

    overlap = norm.cdf(root * (gamma - 1) + 3 * gamma) - norm.cdf(root * (gamma - 1) - 3 * gamma)
    assert 0.5 <= overlap < 0.6  # just enough levels for half the shells to overlap
    two_d_max, two_d_n = noise_levels(X[:, :2], 0.01)  # two dimensions: ratio 1.2
    assert (two_d_max / 0.01) ** (1 / (two_d_n - 1)) == pytest.approx(1.2, rel=0.01)


def test_langevin_step_size_makes_the_last_variance_one():
    def variance(x, ratio, steps):
        return (1 - x) ** (2 * steps) * (ratio**2 - 2 / (2 - x)) + 2 / (2 - x)

    # The expression exceeds 1 for every step (its second term is 2 / (2 - x) > 1), so the
    # rule takes the closest: 1.018 for ratio 1.01 in five steps, 1.146 for ratio 1.2 in five steps.
    grid = np.linspace(1e-5, 0.99, 100000)
    for ratio, steps in [(1.01, 5), (1.05, 100), (1.2, 5)]:
        best = variance(langevin_step_size(0.01, ratio, steps) / 0.01**2, ratio, steps)
        assert best == pytest.approx(variance(grid, ratio, steps).min(), abs=2e-3)
    assert variance(langevin_step_size(0.01, 1.01, 5) / 1e-4, 1.01, 5) < 1.02


def test_annealed_langevin_with_the_exact_score_reproduces_a_mixture():
    schedule = VESDE(0.01, 8.0)
    centres = torch.tensor([[-2.0, 0.0], [2.0, 1.0]], dtype=torch.float64)
    s0 = 0.3

    def denoiser(x, t):
        s2 = schedule.sigma(t.cpu())[:, None, None] ** 2 + s0**2
        log_w = -0.5 * ((x[:, None] - centres) ** 2).sum(2) / s2[:, :, 0]
        w = torch.softmax(log_w, 1)[:, :, None]
        post = centres + s0**2 / s2 * (x[:, None] - centres)  # E[x_0 | x, component]
        return (w * post).sum(1)

    gen = torch.Generator().manual_seed(0)
    noise = torch.randn(2000, 2, generator=gen, dtype=torch.float64)
    ratio = (8.0 / 0.01) ** (1 / 29)
    step = langevin_step_size(0.01, ratio, 10)
    out = annealed_langevin(denoiser, schedule, noise, 10, n_sigmas=30, step_size=step,
                            generator=gen)  # fmt: skip
    pick = torch.randint(0, 2, (2000,), generator=gen)
    truth = centres[pick] + s0 * torch.randn(2000, 2, generator=gen, dtype=torch.float64)
    other = centres[torch.randint(0, 2, (2000,), generator=gen)] + s0 * torch.randn(
        2000, 2, generator=gen, dtype=torch.float64
    )
    floor = mmd(truth.numpy(), other.numpy())
    assert mmd(out.numpy(), truth.numpy()) < max(3 * floor, 2e-3)


# --- bad input


@pytest.fixture(scope="module")
def digits_ddpm():
    digits = load("digits")
    X = digits.X_train[:200]
    return DDPM(base_channels=8, channel_mults=(1,), n_steps=50, max_steps=5,
                likelihood_steps=5, verbose=0, random_state=0).fit(X)  # fmt: skip


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"sampler": "euler"}, "unknown sampler 'euler'"),
        ({"steps": 0}, "steps must be between 1"),
        ({"steps": -3}, "steps must be between 1"),
        ({"steps": 51}, "steps must be between 1 and 50"),
        ({"steps": 2.5}, "steps must be a positive int"),
        ({"guidance": 2.0}, "guidance needs labels"),
        ({"guidance": float("nan")}, "guidance must be a finite number"),
        ({"guidance": float("inf")}, "guidance must be a finite number"),
    ],
)
def test_bad_sampling_options_are_refused(digits_ddpm, options, match):
    with pytest.raises(ValueError, match=match):
        digits_ddpm.sample(2, **options)


def test_images_of_the_wrong_size_and_values_off_the_grid_are_refused(digits_ddpm):
    with pytest.raises(ValueError, match="shape"):
        digits_ddpm.log_prob(np.zeros((2, 1, 10, 10)))
    with pytest.raises(ValueError, match="grid of 17 levels"):
        digits_ddpm.log_prob(np.full((2, 1, 8, 8), 0.03))
    assert digits_ddpm.likelihood_support() == "discrete"


def test_bad_constructor_arguments_are_refused():
    X = _gaussian(50, 0)
    with pytest.raises(ValueError, match="sampling_steps=20 exceeds n_steps=10"):
        DDPM(n_steps=10, sampling_steps=20, verbose=0).fit(X)
    with pytest.raises(ValueError, match="sampler"):
        DDPM(sampler="langevin", verbose=0).fit(X)
    with pytest.raises(ValueError, match="sigma_max=0.005 must exceed"):
        NCSN(sigma_max=0.005, verbose=0).fit(X)
    with pytest.raises(ValueError, match="beta_max=0.05 must exceed"):
        ScoreSDE(beta_max=0.05, verbose=0).fit(X)
    model = NCSN(max_steps=2, verbose=0, random_state=0).fit(X)
    with pytest.raises(ValueError, match="n_frames"):
        model.denoising_path(2, n_frames=1)
    assert model.sample(3, sampler="ode", steps=5).shape == (3, 2)
