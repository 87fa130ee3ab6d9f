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


@pytest.mark.parametrize(
    "shape, scale",
    [((5, 7), 1.0), ((13, 40), 3.0), ((16, 9), 80.0), ((12, 30), 0.01)],
    ids=["odd split", "groups not dividing", "large weights, summed", "tiny weights"],
)
def test_exact_split_products_equal_softplus_sums(shape, scale):
    # The split-product enumeration (and its fallback for weights too large for products)
    # against a direct sum of softplus terms over every state of the smaller layer.
    W, b, c = random_rbm(*shape, scale=scale, seed=3)
    b = b * scale
    if W.shape[0] > W.shape[1]:
        W, b, c = W.T, c, b  # the function enumerates the smaller side itself
    states = np.array(list(itertools.product([0, 1], repeat=W.shape[0])), dtype=float)
    direct = logsumexp(states @ c + np.logaddexp(0, states @ W + b).sum(1))
    if shape[0] > shape[1]:
        W, b, c = W.T, c, b
    assert exact_log_partition(W, b, c) == pytest.approx(direct, rel=1e-13, abs=1e-10)


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
    # Exact up to the float32 rounding of the chains' increments.
    assert result.log_z == pytest.approx(exact_log_partition(W, b, c), abs=1e-6)
    assert result.stderr == pytest.approx(0.0, abs=1e-9)
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


# --- the default: adapted temperatures, chains added until the standard error is tol


def test_hidden_terms_equal_softplus_differences_and_sigmoids_at_any_scale():
    from genzoo.boltzmann.ais import _hidden_terms

    x = torch.tensor([[-1e4, -800.0, -30.0, -1e-9, 0.0, 1e-9, 2.5, 30.0, 800.0, 1e4]])
    x = x.double()
    for beta, previous in [(1.0, 0.0), (0.5, 0.499), (1e-3, 0.0), (1.0, 0.999999)]:
        difference, r = _hidden_terms(x, beta, previous)
        expected = (np.logaddexp(0, beta * x.numpy()) - np.logaddexp(0, previous * x.numpy())).sum()
        assert float(difference[0]) == pytest.approx(expected, rel=1e-12, abs=1e-12)
        np.testing.assert_allclose(r.numpy(), 1 / (1 + np.exp(-beta * np.abs(x.numpy()))))


def test_hidden_draws_follow_the_sigmoid_of_the_signed_input():
    from genzoo.boltzmann.ais import _draw_hidden, _hidden_terms

    x = torch.tensor([-3.0, -0.5, 0.0, 0.7, 2.0], dtype=torch.float64).expand(200_000, -1)
    _, r = _hidden_terms(x, 0.8, 0.7)
    h = _draw_hidden(x, r, torch.Generator().manual_seed(0))
    p = 1 / (1 + np.exp(-0.8 * x[0].numpy()))
    # Five standard errors of a frequency over 200,000 draws.
    np.testing.assert_allclose(h.mean(0).numpy(), p, atol=5 * np.sqrt(0.25 / 200_000))


def test_adapted_betas_take_equal_steps_of_thermodynamic_length():
    from genzoo.boltzmann.ais import TARGET_LOG_WEIGHT_VAR, adapted_betas

    grid = np.linspace(0, 1, 65)
    flat = adapted_betas(np.full(65, 2.0), grid)
    # Length 2 (plus the 5% floor): (2.1)^2 / var steps, evenly spaced.
    assert len(flat) - 1 == math.ceil(2.1**2 / TARGET_LOG_WEIGHT_VAR)
    np.testing.assert_allclose(np.diff(flat), np.diff(flat)[0], rtol=1e-9)
    # A spread that grows 20-fold towards beta = 1 crowds the steps there: each step's
    # spread x width is the same.
    spread = 0.5 + 9.5 * grid**2
    betas = adapted_betas(spread, grid)
    assert betas[0] == 0 and betas[-1] == 1 and (np.diff(betas) > 0).all()
    mid = 0.5 * (betas[1:] + betas[:-1])
    density = np.interp(mid, grid, spread) + 0.05 * spread.mean()
    steps = density * np.diff(betas)
    np.testing.assert_allclose(steps, steps.mean(), rtol=0.02)
    assert np.diff(betas)[-1] < np.diff(betas)[0] / 5


def test_adapted_betas_are_short_for_an_easy_model_and_capped_for_a_hard_one():
    from genzoo.boltzmann.ais import MAX_ADAPTED_BETAS, MIN_ADAPTED_BETAS, adapted_betas

    grid = np.linspace(0, 1, 64)
    assert len(adapted_betas(np.zeros(64), grid)) == MIN_ADAPTED_BETAS
    assert len(adapted_betas(np.full(64, 1e4), grid)) == MAX_ADAPTED_BETAS


@pytest.mark.parametrize("seed", range(3))
def test_default_ais_matches_exact_within_its_standard_error(seed):
    W, b, c = random_rbm(20, 40, scale=0.6, seed=2)
    exact = exact_log_partition(W, b, c)
    result = ais_log_partition(W, b, c, random_state=seed)
    assert result.stderr <= 0.05
    assert abs(result.log_z - exact) < 0.1
    assert abs(result.log_z - exact) < 4 * result.stderr + 0.01
    # Far fewer temperatures than the fixed schedule's 10,000.
    assert result.n_betas < 1000


def test_default_ais_matches_exact_on_a_trained_rbm_and_with_gaussian_visibles():
    # An RBM trained on digits, made small enough to enumerate: 16 hidden units.
    from genzoo.boltzmann.rbm import RBM
    from genzoo.data import load

    X = load("digits_binary").X_train
    rbm = RBM(16, learning_rate=0.05, batch_size=20, n_iter=30, compute_log_partition=False,
              random_state=0).fit(X)  # fmt: skip
    W, b, c = rbm.components_, rbm.intercept_visible_, rbm.intercept_hidden_
    exact = exact_log_partition(W, b, c)
    result = ais_log_partition(W, b, c, base_visible_bias=rbm.base_visible_bias_, random_state=0)
    assert result.stderr <= 0.05 and abs(result.log_z - exact) < 0.1
    W, b, c = random_rbm(14, 12, scale=0.3, seed=3)
    exact = exact_log_partition(W, b, c, visible="gaussian")
    result = ais_log_partition(W, b, c, visible="gaussian", random_state=0)
    assert result.stderr <= 0.05 and abs(result.log_z - exact) < 0.1


def test_the_stopping_rule_adds_chains_until_the_standard_error_is_tol():
    W, b, c = random_rbm(12, 16, scale=1.0, seed=4)
    exact = exact_log_partition(W, b, c)
    one_round = ais_log_partition(W, b, c, n_chains=20, n_betas=1000, tol=None, random_state=0)
    assert one_round.n_chains == 20 and len(one_round.log_weights) == 20
    assert one_round.stderr > 0.02  # so that the rule below has chains to add
    result = ais_log_partition(W, b, c, n_chains=20, n_betas=1000, tol=0.02, random_state=0)
    assert result.stderr <= 0.02 and result.n_chains > 20
    assert len(result.log_weights) == result.n_chains
    assert abs(result.log_z - exact) < 4 * result.stderr + 0.01
    # The cap wins over the tolerance; the first round is the one-round run.
    capped = ais_log_partition(
        W, b, c, n_chains=20, n_betas=1000, tol=1e-6, max_chains=50, random_state=0
    )
    assert capped.n_chains == 50 and capped.stderr > 1e-6
    np.testing.assert_array_equal(capped.log_weights[:20], one_round.log_weights)
    # The same seed gives the same estimate, rounds and all.
    again = ais_log_partition(W, b, c, n_chains=20, n_betas=1000, tol=0.02, random_state=0)
    np.testing.assert_array_equal(again.log_weights, result.log_weights)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"tol": 0.0}, "tol"),
        ({"tol": -0.1}, "tol"),
        ({"tol": "small"}, "tol"),
        ({"n_chains": 10, "max_chains": 5}, "max_chains"),
        ({"max_chains": 2**20 + 1}, "max_chains"),
    ],
)
def test_ais_bad_stopping_arguments(kwargs, message):
    W, b, c = random_rbm(4, 5, scale=1.0)
    with pytest.raises(ValueError, match=message):
        ais_log_partition(W, b, c, **kwargs)
