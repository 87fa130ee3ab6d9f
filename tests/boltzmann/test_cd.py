"""Known answers for the shared contrastive-divergence functions (`boltzmann/_cd.py`): one step
by hand, the DBM's doubled conditionals against an RBM with doubled weights, the schedule, the
divergence check, and randomness drawn only from the generator passed in."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.special import expit

from genzoo.boltzmann._cd import (
    base_rate_bias,
    cd_statistics,
    cd_update,
    check_finite,
    learning_rates,
    train_epochs,
)
from genzoo.boltzmann._rbm_math import bernoulli


def _problem(seed: int = 0, n: int = 5, n_visible: int = 4, n_hidden: int = 3):
    """Binary rows and small random parameters, as float64 arrays."""
    rng = np.random.default_rng(seed)
    v = (rng.random((n, n_visible)) < 0.5).astype(np.float64)
    W = rng.normal(0, 0.5, (n_hidden, n_visible))
    return v, W, rng.normal(0, 0.5, n_visible), rng.normal(0, 0.5, n_hidden)


def _draw(p: np.ndarray, gen: torch.Generator) -> np.ndarray:
    """Bernoulli draws replayed by hand: a float64 uniform below p."""
    return (torch.rand(p.shape, generator=gen, dtype=torch.float64).numpy() < p).astype(float)


def _tensors(*arrays):
    return [torch.tensor(a) for a in arrays]


# --- the Bernoulli draws


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_bernoulli_draws_are_torch_bernoulli_on_the_cpu_and_zero_for_nan(dtype):
    p = torch.rand(200, 30, generator=torch.Generator().manual_seed(1), dtype=dtype)
    ours = bernoulli(p, torch.Generator().manual_seed(2))
    assert ours.dtype == dtype
    torch.testing.assert_close(ours, torch.bernoulli(p, generator=torch.Generator().manual_seed(2)))
    p[0, :3] = torch.tensor([float("nan"), 1.0, 0.0], dtype=dtype)
    drawn = bernoulli(p, torch.Generator().manual_seed(2))
    assert drawn[0, :3].tolist() == [0.0, 1.0, 0.0]


# --- one step


def test_one_cd1_step_equals_the_hand_computation():
    v, W, b, c = _problem()
    lr, decay = 0.1, 0.01
    replay = torch.Generator().manual_seed(0)
    h_pos = expit(v @ W.T + c)
    h = _draw(h_pos, replay)
    v_neg = _draw(expit(h @ W + b), replay)
    h_neg = expit(v_neg @ W.T + c)
    grad_W = (h_pos.T @ v - h_neg.T @ v_neg) / 5 - decay * W
    expected = [W + lr * grad_W, b + lr * (v - v_neg).mean(0), c + lr * (h_pos - h_neg).mean(0)]

    gen = torch.Generator().manual_seed(0)
    stats = cd_statistics(*_tensors(v, W, b, c), None, visible="bernoulli", k=1, gen=gen)
    got_h_pos, got_v_neg, got_h_neg, chains = stats
    assert chains is None  # CD keeps no chains and skips the last hidden draw
    np.testing.assert_allclose(got_h_pos.numpy(), h_pos, atol=1e-12)
    np.testing.assert_array_equal(got_v_neg.numpy(), v_neg)
    np.testing.assert_allclose(got_h_neg.numpy(), h_neg, atol=1e-12)
    statistics = (torch.tensor(v), got_h_pos, got_v_neg, got_h_neg)
    # Plain SGD (no velocity) and the momentum path's first step (zero velocity) agree.
    for velocity in (None, [torch.zeros_like(t) for t in _tensors(W, b, c)]):
        params = dict(zip("Wbc", _tensors(W, b, c), strict=True))
        cd_update(params, velocity, statistics, learning_rate=lr, momentum=0.9, weight_decay=decay)
        for got, want in zip(params.values(), expected, strict=True):
            np.testing.assert_allclose(got.numpy(), want, atol=1e-12)
    assert torch.equal(torch.rand(3, generator=gen), torch.rand(3, generator=replay))


def test_pcd_continues_the_chains_for_k_sweeps():
    v, W, b, c = _problem(seed=1)
    chains = np.array([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    replay = torch.Generator().manual_seed(3)
    h = chains
    for _ in range(3):
        v_neg = _draw(expit(h @ W + b), replay)
        h = _draw(expit(v_neg @ W.T + c), replay)

    gen = torch.Generator().manual_seed(3)
    _, got_v_neg, got_h_neg, got_chains = cd_statistics(
        *_tensors(v, W, b, c), torch.tensor(chains), visible="bernoulli", k=3, gen=gen
    )
    np.testing.assert_array_equal(got_v_neg.numpy(), v_neg)
    np.testing.assert_allclose(got_h_neg.numpy(), expit(v_neg @ W.T + c), atol=1e-12)
    np.testing.assert_array_equal(got_chains.numpy(), h)


# --- the DBM's doubled conditionals


@pytest.mark.parametrize("momentum", [0.0, 0.5])
def test_doubled_pretraining_update_equals_the_rbm_update_with_doubled_weights(momentum):
    """With up = down = 2 (a middle RBM of a DBM stack) both conditionals see 2 W: the same
    statistics, and so the same parameter change, as an RBM whose weights are 2 W."""
    v, W, b, c = _problem(seed=2, n=8)
    settings = dict(
        n_epochs=1,
        batch_size=8,
        learning_rate=0.1,
        momentum=momentum,
        weight_decay=0.0,
        sample_reconstruction=False,
    )
    doubled = dict(zip("Wbc", _tensors(W, b, c), strict=True))
    train_epochs(
        torch.tensor(v),
        doubled,
        None,
        gen=torch.Generator().manual_seed(4),
        up=2.0,
        down=2.0,
        **settings,
    )
    plain = dict(zip("Wbc", _tensors(2 * W, b, c), strict=True))
    train_epochs(torch.tensor(v), plain, None, gen=torch.Generator().manual_seed(4), **settings)
    np.testing.assert_allclose(doubled["W"].numpy() - W, plain["W"].numpy() - 2 * W, atol=1e-12)
    np.testing.assert_allclose(doubled["b"].numpy(), plain["b"].numpy(), atol=1e-12)
    np.testing.assert_allclose(doubled["c"].numpy(), plain["c"].numpy(), atol=1e-12)


def test_bottom_and_top_rbms_double_one_conditional_each():
    v, W, b, c = _problem(seed=3)
    for up, down in [(2.0, 1.0), (1.0, 2.0)]:
        replay = torch.Generator().manual_seed(5)
        h_pos = expit(up * v @ W.T + c)
        v_neg = expit(down * _draw(h_pos, replay) @ W + b)  # a mean-field reconstruction
        gen = torch.Generator().manual_seed(5)
        got = cd_statistics(
            *_tensors(v, W, b, c),
            None,
            visible="bernoulli",
            k=1,
            gen=gen,
            up=up,
            down=down,
            sample_reconstruction=False,
        )
        np.testing.assert_allclose(got[0].numpy(), h_pos, atol=1e-12)
        np.testing.assert_allclose(got[1].numpy(), v_neg, atol=1e-12)
        np.testing.assert_allclose(got[2].numpy(), expit(up * v_neg @ W.T + c), atol=1e-12)


# --- settings, checks and randomness


def test_learning_rate_schedules_and_base_rate():
    assert learning_rates(0.1, 3, schedule="constant") == [0.1, 0.1, 0.1]
    np.testing.assert_allclose(learning_rates(0.1, 4, schedule="linear"), [0.1, 0.075, 0.05, 0.025])
    X = torch.tensor([[0.0, 1.0, 1.0], [0.0, 1.0, 0.0]])
    expected = np.log([1e-3 / (1 - 1e-3), (1 - 1e-3) / 1e-3, 1.0])  # clipped means 0, 1, 0.5
    np.testing.assert_allclose(base_rate_bias(X).numpy(), expected, rtol=1e-4)


def test_divergence_is_reported_once_per_epoch_with_the_callers_message():
    with pytest.raises(ValueError, match="lower it"):
        check_finite([torch.zeros(2), torch.tensor([1.0, float("inf")])], "lower it")
    v, W, b, c = _problem(seed=4, n=20)
    params = dict(zip("Wbc", _tensors(W, b, c), strict=True))
    epochs = []
    with pytest.raises(ValueError, match="too fast"):
        train_epochs(
            torch.tensor(v) * 1e3,
            params,
            None,
            n_epochs=3,
            batch_size=5,
            learning_rate=1e300,
            gen=torch.Generator().manual_seed(0),
            visible="gaussian",
            diverged="too fast",
            callback=lambda: epochs.append(1),
        )
    assert epochs == []  # the first epoch's check stops the run


def test_training_draws_only_from_the_generator_passed_in():
    v, W, b, c = _problem(seed=5, n=40)

    def run(seed):
        params = dict(zip("Wbc", _tensors(W, b, c), strict=True))
        chains = train_epochs(
            torch.tensor(v),
            params,
            torch.zeros(10, 3, dtype=torch.float64),
            n_epochs=2,
            batch_size=10,
            learning_rate=0.1,
            gen=torch.Generator().manual_seed(seed),
            k=2,
            momentum=0.5,
        )
        return [*params.values(), chains]

    torch.manual_seed(0)
    global_state = torch.random.get_rng_state()
    first = run(7)
    assert torch.equal(torch.random.get_rng_state(), global_state)
    for a, b_ in zip(first, run(7), strict=True):
        assert torch.equal(a, b_)
    assert not torch.equal(first[0], run(8)[0])
