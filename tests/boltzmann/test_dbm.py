"""Known answers for the deep Boltzmann machine: brute-force enumeration of tiny DBMs."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from scipy.special import logsumexp

import genzoo.boltzmann.dbm as dbm_module
from genzoo.boltzmann._dbm_math import (
    bipartite_parameters,
    gibbs_sweeps,
    mean_field,
    mean_field_bound,
    pretrain_rbm,
)
from genzoo.boltzmann.ais import ais_log_partition
from genzoo.boltzmann.dbm import DBM
from genzoo.data import load


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# --- brute force, independent of the code under test


def _states(n: int) -> np.ndarray:
    return np.array(list(itertools.product([0.0, 1.0], repeat=n)))


def _joint_log_unnormalised(weights, biases):
    """-E of every joint state of a tiny DBM, as an array indexed by each layer's state."""
    layers = [_states(len(b)) for b in biases]
    out = np.zeros([len(s) for s in layers])
    for i, (s, b) in enumerate(zip(layers, biases, strict=True)):
        shape = [1] * len(layers)
        shape[i] = -1
        out += (s @ b).reshape(shape)
    for i, W in enumerate(weights, start=1):
        pair = layers[i] @ W @ layers[i - 1].T  # (states of i, states of i-1)
        shape = [1] * len(layers)
        shape[i - 1], shape[i] = pair.shape[1], pair.shape[0]
        out += pair.T.reshape(shape)
    return out


def _exact_log_p_v(weights, biases):
    """Exact log p(v) for every v in _states(n_visible) order."""
    joint = _joint_log_unnormalised(weights, biases)
    log_p_star = logsumexp(joint.reshape(len(joint), -1), axis=1)
    return log_p_star - logsumexp(log_p_star)


def _random_dbm(sizes, scale, seed):
    rng = np.random.default_rng(seed)
    weights = [scale * rng.standard_normal((sizes[i + 1], sizes[i])) for i in range(len(sizes) - 1)]
    biases = [0.5 * rng.standard_normal(s) for s in sizes]
    return weights, biases


def _torch(arrays):
    return [torch.as_tensor(a, dtype=torch.float64) for a in arrays]


def _patterns(n: int, seed: int) -> np.ndarray:
    """6-bit data from three prototypes with 10% flips: a multimodal target."""
    rng = np.random.default_rng(seed)
    prototypes = np.array([[1, 1, 1, 0, 0, 0], [0, 0, 1, 1, 1, 0], [1, 0, 0, 0, 1, 1]])
    X = prototypes[rng.integers(3, size=n)]
    return np.abs(X - (rng.random(X.shape) < 0.1)).astype(float)


@pytest.fixture(scope="module")
def tiny():
    """A DBM with 6 visible, 4 and 3 hidden units fitted on multimodal 6-bit data."""
    model = DBM(
        (4, 3), n_iter=60, pretrain_iter=20, learning_rate=0.1, batch_size=20,
        sample_burn_in=200, random_state=0,
    ).fit(_patterns(400, seed=0))  # fmt: skip
    return model


# --- the bipartite view and log Z


def test_bipartite_energy_matches_the_layered_energy():
    weights, biases = _random_dbm([5, 4, 3, 2], scale=1.0, seed=1)
    W, b_odd, b_even = (t.numpy() for t in bipartite_parameters(_torch(weights), _torch(biases)))
    rng = np.random.default_rng(2)
    for _ in range(20):
        x = [(rng.random(len(b)) < 0.5).astype(float) for b in biases]
        layered = sum(xl @ b for xl, b in zip(x, biases, strict=True))
        layered += sum(x[i] @ weights[i - 1] @ x[i - 1] for i in range(1, len(x)))
        odd, even = np.concatenate([x[1], x[3]]), np.concatenate([x[0], x[2]])
        assert odd @ b_odd + even @ b_even + even @ W @ odd == pytest.approx(layered, abs=1e-12)


def test_fitted_log_z_equals_enumeration(tiny):
    joint = _joint_log_unnormalised(tiny.weights_, tiny.biases_)
    assert tiny.log_z_method_ == "exact" and tiny.log_z_stderr_ == 0.0
    assert tiny.log_z_ == pytest.approx(logsumexp(joint), abs=1e-9)


def test_exact_probabilities_sum_to_one_and_learn_the_modes(tiny):
    log_p = _exact_log_p_v(tiny.weights_, tiny.biases_)
    assert logsumexp(log_p) == pytest.approx(0.0, abs=1e-12)
    # The three prototypes (data frequency 0.9^6 / 3 = 0.18 each) are the most likely states.
    prototypes = {"111000", "001110", "100011"}
    top = {"".join(str(int(b)) for b in s) for s in _states(6)[np.argsort(log_p)[-3:]]}
    assert top == prototypes


# --- mean-field bound


def test_mean_field_bound_is_below_exact_and_tight(tiny):
    V = _states(6)
    exact = _exact_log_p_v(tiny.weights_, tiny.biases_)
    estimate = tiny.log_prob(V)
    gap = exact - estimate
    assert (gap >= -1e-9).all()
    # measured: mean gap 0.07 nats, largest 0.15
    assert gap.mean() < 0.15 and gap.max() < 0.4


def test_mean_field_is_a_fixed_point_and_bound_holds_for_strong_weights():
    weights, biases = _random_dbm([6, 4, 3], scale=1.5, seed=3)
    V = torch.as_tensor(_states(6))
    mu = mean_field(V, _torch(weights), _torch(biases), n_iter=500, tol=1e-12)
    for i in (1, 2):
        below = mu[i - 1] @ torch.as_tensor(weights[i - 1]).T
        above = mu[i + 1] @ torch.as_tensor(weights[i]) if i < 2 else 0
        expected = torch.sigmoid(below + above + torch.as_tensor(biases[i]))
        torch.testing.assert_close(mu[i], expected, atol=1e-9, rtol=0)
    joint = _joint_log_unnormalised(weights, biases)
    log_p_star = logsumexp(joint.reshape(len(joint), -1), axis=1)
    bound = mean_field_bound(mu, _torch(weights), _torch(biases)).numpy()
    assert (bound <= log_p_star + 1e-9).all()
    assert (log_p_star - bound).mean() < 0.5  # measured 0.07


# --- sampling


def _total_variation(samples: np.ndarray, log_p: np.ndarray) -> float:
    index = samples @ (2 ** np.arange(samples.shape[1])[::-1])
    counts = np.bincount(index.astype(int), minlength=len(log_p))
    return 0.5 * np.abs(counts / len(samples) - np.exp(log_p)).sum()


def test_gibbs_sweeps_sample_the_exact_marginal():
    weights, biases = _random_dbm([6, 4, 3], scale=1.0, seed=4)
    n = 20_000
    gen = torch.Generator().manual_seed(0)
    states = [
        torch.bernoulli(torch.full((n, len(b)), 0.5, dtype=torch.float64), generator=gen)
        for b in biases
    ]
    states = gibbs_sweeps(states, _torch(weights), _torch(biases), n_steps=100, gen=gen)
    tv = _total_variation(states[0].numpy(), _exact_log_p_v(weights, biases))
    # sampling noise alone: about 0.5 * sum_x sqrt(2 p(x) / (pi n)) = 0.02 here
    assert tv < 0.04


def test_model_samples_match_its_exact_marginal(tiny):
    samples = tiny.sample(20_000, random_state=1)
    assert set(np.unique(samples)) <= {0.0, 1.0}
    assert _total_variation(samples, _exact_log_p_v(tiny.weights_, tiny.biases_)) < 0.04


# --- AIS through the odd/even bipartite RBM


def _exact_bipartite_log_z(W, b_odd, b_even):
    """Enumerate the odd side, sum the even side out analytically."""
    total = []
    for chunk in np.array_split(_states(len(b_odd)), 16):
        total.append(chunk @ b_odd + np.logaddexp(0, chunk @ W.T + b_even).sum(1))
    return logsumexp(np.concatenate(total))


def test_ais_on_the_bipartite_matrix_matches_enumeration_with_20_odd_units():
    # layers 10, 12, 10, 8: odd side 12 + 8 = 20 units, even side 10 + 10
    weights, biases = _random_dbm([10, 12, 10, 8], scale=0.5, seed=5)
    W, b_odd, b_even = (t.numpy() for t in bipartite_parameters(_torch(weights), _torch(biases)))
    exact = _exact_bipartite_log_z(W, b_odd, b_even)
    result = ais_log_partition(W, b_odd, b_even, n_chains=100, n_betas=5000, random_state=0)
    assert abs(result.log_z - exact) < 0.15  # measured: 0.015 (stderr 0.008), log Z 31.2
    assert result.log_z - exact < 4 * result.stderr + 0.05


def test_fitted_model_uses_ais_when_enumeration_is_too_big(monkeypatch):
    monkeypatch.setattr(dbm_module, "_EXACT_MAX_UNITS", 0)
    X = _patterns(300, seed=1)
    model = DBM((12, 6), n_iter=20, pretrain_iter=10, n_ais_betas=3000, random_state=0).fit(X)
    assert model.log_z_method_ == "ais" and model.log_z_stderr_ > 0
    W, b_odd, b_even = (
        t.numpy() for t in bipartite_parameters(_torch(model.weights_), _torch(model.biases_))
    )
    exact = _exact_bipartite_log_z(W, b_odd, b_even)
    assert abs(model.log_z_ - exact) < 0.1  # measured: 3e-5 (stderr 4e-5)


# --- learning


def test_training_on_digits_beats_independent_pixels():
    data = load("digits_binary")
    X, X_test = data.X_train, data.X_test
    p = X.mean(0).clip(1e-3, 1 - 1e-3)
    independent = (X_test * np.log(p) + (1 - X_test) * np.log(1 - p)).sum(1).mean()
    model = DBM((64, 32), n_iter=20, pretrain_iter=5, n_ais_betas=3000, random_state=0).fit(X)
    score = model.score(X_test)
    # measured: independent pixels -25.2 nats, this DBM -20.3
    assert score > independent + 2.0
    features = model.transform(X_test[:5], layer=None)
    assert features.shape == (5, 96) and ((features >= 0) & (features <= 1)).all()
    np.testing.assert_allclose(model.transform(X_test[:5]), features[:, 64:])


# --- bad input


def test_one_hidden_layer_is_refused():
    with pytest.raises(ValueError, match="hidden_layer_sizes.*two or more"):
        DBM((8,)).fit(_patterns(20, seed=0))
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        DBM((8, 0)).fit(_patterns(20, seed=0))


def test_non_binary_data_is_refused_unless_binarized(tiny):
    X = _patterns(30, seed=2) * 0.8
    with pytest.raises(ValueError, match="binary.*binarize"):
        DBM((4, 3), n_iter=1, pretrain_iter=0).fit(X)
    with pytest.raises(ValueError, match="binary"):
        tiny.log_prob(X)
    model = DBM((4, 3), n_iter=1, pretrain_iter=0, binarize=0.5, random_state=0).fit(X)
    np.testing.assert_array_equal(model.log_prob(X), model.log_prob(X / 0.8))


def test_divergence_is_reported():
    model = DBM((4, 3), learning_rate=1e38, momentum=0.9, n_iter=2, pretrain_iter=0)
    with pytest.raises(FloatingPointError, match="diverged.*learning_rate"):
        model.fit(_patterns(100, seed=5))


def test_nan_wrong_features_and_bad_layer(tiny):
    X = _patterns(10, seed=3)
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        tiny.log_prob(X)
    with pytest.raises(ValueError, match="features"):
        tiny.log_prob(np.zeros((3, 7)))
    with pytest.raises(ValueError, match="layer"):
        tiny.transform(np.zeros((3, 6)), layer=2)


# --- pre-training


def test_pretrained_rbm_beats_independent_bits():
    X = _patterns(400, seed=4)
    gen = torch.Generator().manual_seed(0)
    W, b, c = (
        t.numpy()
        for t in pretrain_rbm(
            torch.as_tensor(X), 4, up=1.0, down=1.0, n_iter=50, batch_size=20,
            learning_rate=0.1, momentum=0.5, weight_decay=0.0, gen=gen,
        )
    )  # fmt: skip
    V, H = _states(6), _states(4)
    log_p_star = logsumexp((V @ b)[:, None] + (H @ c)[None] + V @ W.T @ H.T, axis=1)
    log_p = dict(zip(map(tuple, V), log_p_star - logsumexp(log_p_star), strict=True))
    rbm = np.mean([log_p[tuple(x)] for x in X])
    p = X.mean(0)
    independent = np.mean((X * np.log(p) + (1 - X) * np.log(1 - p)).sum(1))
    # measured: independent bits -3.93 nats, the CD-1 RBM -2.98
    assert rbm > independent + 0.5
