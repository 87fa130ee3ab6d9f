"""Known answers for the partition function: brute-force sums and integrals against
`exact_log_partition`, and AIS estimates against the exact value."""

import itertools
import math

import numpy as np
import pytest
import torch
from scipy.special import logsumexp

from genzoo.boltzmann.ais import (
    AISResult,
    ais_log_partition,
    default_betas,
    exact_log_partition,
)


def random_rbm(n_hidden, n_visible, scale, seed=0):
    rng = np.random.default_rng(seed)
    W = rng.normal(0, scale, (n_hidden, n_visible))
    return W, rng.normal(0, 0.5, n_visible), rng.normal(0, 0.5, n_hidden)


def brute_force_log_z(W, b, c):
    """log sum over every (v, h) of exp(b.v + c.h + h.W v), with plain numpy loops."""
    n_hidden, n_visible = W.shape
    terms = [
        b @ np.array(v) + c @ np.array(h) + np.array(h) @ W @ np.array(v)
        for v in itertools.product([0, 1], repeat=n_visible)
        for h in itertools.product([0, 1], repeat=n_hidden)
    ]
    return logsumexp(terms)


# --- exact enumeration


@pytest.mark.parametrize("shape", [(3, 5), (6, 4)], ids=["more visible", "more hidden"])
def test_exact_equals_brute_force_over_all_states(shape):
    W, b, c = random_rbm(*shape, scale=1.0)
    assert exact_log_partition(W, b, c) == pytest.approx(brute_force_log_z(W, b, c), abs=1e-10)


def test_exact_gaussian_equals_numerical_integral():
    # p(v, h) ∝ exp(-||v - b||^2 / 2 + c.h + h.W v) in 2-D: integrate exp(-F(v)) on a grid.
    W, b, c = random_rbm(3, 2, scale=0.8, seed=1)
    grid = np.linspace(-14, 14, 1401)
    step = grid[1] - grid[0]
    v = np.stack(np.meshgrid(grid, grid, indexing="ij"), -1).reshape(-1, 2)
    log_unnorm = -0.5 * ((v - b) ** 2).sum(1) + np.logaddexp(0, v @ W.T + c).sum(1)
    numeric = logsumexp(log_unnorm) + 2 * math.log(step)
    assert exact_log_partition(W, b, c, visible="gaussian") == pytest.approx(numeric, abs=1e-8)


def test_exact_takes_tensors_and_refuses_too_many_units():
    W, b, c = random_rbm(4, 5, scale=1.0)
    expected = exact_log_partition(W, b, c)
    tensors = [torch.as_tensor(a, dtype=torch.float32) for a in (W, b, c)]
    assert exact_log_partition(*tensors) == pytest.approx(expected, abs=1e-5)
    W, b, c = random_rbm(26, 30, scale=0.1)
    with pytest.raises(ValueError, match="at most 25"):
        exact_log_partition(W, b, c)
    with pytest.raises(ValueError, match="visible_bias"):
        exact_log_partition(W, b[:-1], c)


# --- AIS


def test_ais_is_exact_when_the_base_is_the_model():
    # W = 0 and b_A = b make every intermediate distribution the same: all weights are 1.
    W, b, c = random_rbm(7, 9, scale=1.0)
    W[:] = 0
    result = ais_log_partition(W, b, c, base_visible_bias=b, n_chains=10, n_betas=50)
    assert isinstance(result, AISResult) and result.n_betas == 50
    assert result.log_z == pytest.approx(exact_log_partition(W, b, c), abs=1e-10)
    assert result.stderr == pytest.approx(0.0, abs=1e-12)
    assert result.log_weights.shape == (10,)


def test_ais_matches_exact_with_20_hidden_units():
    W, b, c = random_rbm(20, 40, scale=0.6, seed=2)
    exact = exact_log_partition(W, b, c)
    result = ais_log_partition(W, b, c, n_chains=100, n_betas=10_000, random_state=0)
    error = result.log_z - exact
    assert abs(error) < 0.1
    assert abs(error) < 4 * result.stderr + 0.02
    # The base-rate start of the RBM (logit of "data" means) works as well.
    p = 1 / (1 + np.exp(-b))
    result = ais_log_partition(W, b, c, base_visible_bias=np.log(p / (1 - p)), random_state=1)
    assert abs(result.log_z - exact) < 0.1


def test_ais_matches_exact_with_gaussian_visibles():
    W, b, c = random_rbm(14, 12, scale=0.3, seed=3)
    exact = exact_log_partition(W, b, c, visible="gaussian")
    result = ais_log_partition(W, b, c, visible="gaussian", n_betas=5000, random_state=0)
    assert abs(result.log_z - exact) < 0.1
    assert abs(result.log_z - exact) < 4 * result.stderr + 0.02


def test_ais_stderr_matches_the_spread_of_repeated_runs():
    W, b, c = random_rbm(12, 16, scale=1.0, seed=4)
    exact = exact_log_partition(W, b, c)
    runs = [ais_log_partition(W, b, c, n_chains=50, n_betas=300, random_state=s) for s in range(8)]
    estimates = np.array([r.log_z for r in runs])
    stderrs = np.array([r.stderr for r in runs])
    # A short schedule makes the weights vary: stderr must be a real uncertainty, not 0.
    assert stderrs.mean() > 0.01
    spread = estimates.std(ddof=1)
    assert 0.33 * stderrs.mean() < spread < 3 * stderrs.mean()
    assert abs(estimates.mean() - exact) < 4 * stderrs.mean()


def test_ais_is_reproducible_and_takes_a_block_weight_matrix():
    # A DBM's odd/even bipartite view: zero blocks between non-adjacent layers.
    W, b, c = random_rbm(10, 12, scale=0.8, seed=5)
    W[:5, 6:] = 0
    a = ais_log_partition(torch.as_tensor(W), b, c, n_betas=2000, random_state=7)
    again = ais_log_partition(W, b, c, n_betas=2000, random_state=7)
    assert a.log_z == again.log_z
    assert abs(a.log_z - exact_log_partition(W, b, c)) < 0.1


def test_default_betas_are_dense_near_one():
    betas = default_betas(14_501)
    assert len(betas) == 14_501 and betas[0] == 0 and betas[-1] == 1
    assert (np.diff(betas) > 0).all()
    # Salakhutdinov & Murray's steps: 1e-3, 1e-4 and 1e-5.
    np.testing.assert_allclose(np.diff(betas)[[0, 600, -1]], [1e-3, 1e-4, 1e-5], rtol=1e-9)
    assert len(default_betas(2)) == 2


@pytest.mark.parametrize("n_betas", range(2, 41))
def test_short_schedules_start_at_zero(n_betas):
    betas = default_betas(n_betas)
    assert len(betas) == n_betas and betas[0] == 0 and betas[-1] == 1
    assert (np.diff(betas) > 0).all()


def test_a_short_schedule_is_noisy_but_unbiased():
    # With ten temperatures the weights vary a lot, but log Z is still right on average: a
    # schedule that skipped beta = 0 was 0.6 nats low here.
    W, b, c = random_rbm(6, 8, 0.5, seed=3)
    result = ais_log_partition(W, b, c, n_chains=20_000, n_betas=10, random_state=0)
    exact = exact_log_partition(W, b, c)
    assert abs(result.log_z - exact) < 4 * result.stderr + 0.02, (result.log_z, exact)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"betas": [0.0, 0.7, 0.5, 1.0]}, "betas must increase"),
        ({"betas": [0.1, 1.0]}, "betas must increase"),
        ({"n_betas": 1}, "n_betas"),
        ({"n_chains": 0}, "n_chains"),
        ({"n_betas": 10**7 + 1}, "n_betas"),
        ({"n_chains": 2**20 + 1}, "n_chains"),
        ({"visible": "poisson"}, "visible"),
        ({"base_visible_bias": np.zeros(3)}, "visible_bias"),
    ],
)
def test_ais_bad_arguments(kwargs, message):
    W, b, c = random_rbm(4, 5, scale=1.0)
    with pytest.raises(ValueError, match=message):
        ais_log_partition(W, b, c, **kwargs)


def test_ais_explicit_schedule():
    W, b, c = random_rbm(6, 8, scale=0.5)
    betas = np.linspace(0, 1, 3000)
    result = ais_log_partition(W, b, c, betas=betas, random_state=0)
    assert result.n_betas == 3000
    assert abs(result.log_z - exact_log_partition(W, b, c)) < 0.05
