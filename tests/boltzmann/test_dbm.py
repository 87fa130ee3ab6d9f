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
    persistent_step,
    pretrain_rbm,
)
from genzoo.boltzmann.ais import ais_log_partition
from genzoo.boltzmann.dbm import DBM
from genzoo.data import load

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
    assert tiny.log_partition_method_ == "exact" and tiny.log_partition_stderr_ == 0.0
    assert tiny.log_partition_ == pytest.approx(logsumexp(joint), abs=1e-9)


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
    # The chains' state is the even block, layers 0 and 2 side by side (6 + 3 units).
    even = torch.bernoulli(torch.full((n, 6 + 3), 0.5, dtype=torch.float64), generator=gen)
    even, _ = gibbs_sweeps(even, _torch(weights), _torch(biases), n_steps=100, gen=gen)
    tv = _total_variation(even[:, :6].numpy(), _exact_log_p_v(weights, biases))
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
    assert model.log_partition_method_ == "ais" and model.log_partition_stderr_ > 0
    W, b_odd, b_even = (
        t.numpy() for t in bipartite_parameters(_torch(model.weights_), _torch(model.biases_))
    )
    exact = _exact_bipartite_log_z(W, b_odd, b_even)
    assert abs(model.log_partition_ - exact) < 0.1  # measured: 3e-5 (stderr 4e-5)


# --- joint training


def _exact_statistics(weights, biases):
    """E_p[x_l x_(l-1)^T] for each weight and E_p[x_l] for each bias, by enumeration."""
    joint = _joint_log_unnormalised(weights, biases)
    p = np.exp(joint - logsumexp(joint))
    layers = [_states(len(b)) for b in biases]
    axes = range(len(biases))
    pairs = []
    for i in range(1, len(biases)):
        pair = p.sum(axis=tuple(a for a in axes if a not in (i - 1, i)))  # (x_(i-1), x_i)
        pairs.append(layers[i].T @ pair.T @ layers[i - 1])
    means = [layers[i].T @ p.sum(axis=tuple(a for a in axes if a != i)) for i in axes]
    return pairs, means


def _mean_field_statistics(V, weights, biases):
    """Data statistics from the mean-field fixed point of a two-hidden-layer DBM."""
    (W1, W2), (_, b1, b2) = weights, biases
    mu1, mu2 = np.full((len(V), len(b1)), 0.5), np.full((len(V), len(b2)), 0.5)
    for _ in range(2000):
        mu1 = 1 / (1 + np.exp(-(b1 + V @ W1.T + mu2 @ W2)))
        mu2 = 1 / (1 + np.exp(-(b2 + mu1 @ W2.T)))
    mu = [V, mu1, mu2]
    pairs = [mu[i].T @ mu[i - 1] / len(V) for i in (1, 2)]
    return pairs, [m.mean(0) for m in mu]


def test_persistent_step_follows_the_exact_gradient():
    sizes = [4, 3, 2]  # distinct widths: a wrong layer pairing fails on shapes or values
    weights, biases = _random_dbm(sizes, scale=1.0, seed=6)
    V = _states(4)[[0, 1, 3, 7, 15, 15]]  # far from the model's distribution
    n_chains = 40_000
    gen = torch.Generator().manual_seed(0)
    # The chains' state is the even block, layers 0 and 2 side by side (4 + 2 units).
    start = torch.full((n_chains, 4 + 2), 0.5, dtype=torch.float64)
    chains, _ = gibbs_sweeps(
        torch.bernoulli(start, generator=gen),
        _torch(weights),
        _torch(biases),
        n_steps=200,
        gen=gen,
    )

    def step(V):
        """The change of every parameter in one plain step (rate 1, no momentum or decay)."""
        W, b = [t.clone() for t in _torch(weights)], [t.clone() for t in _torch(biases)]
        velocity = [torch.zeros_like(t) for t in [*W, *b]]
        persistent_step(
            torch.as_tensor(V), chains, W, b, velocity, learning_rate=1.0, momentum=0.0,
            weight_decay=0.0, n_mean_field=1000, n_gibbs_steps=1, gen=gen,
        )  # fmt: skip
        return [new.numpy() - old for new, old in zip([*W, *b], [*weights, *biases], strict=True)]

    state = gen.get_state()
    delta = step(V)
    data = sum(_mean_field_statistics(V, weights, biases), [])
    model = sum(_exact_statistics(weights, biases), [])
    assert max(np.abs(d - m).max() for d, m in zip(data, model, strict=True)) > 0.3
    # The model term averages n_chains equilibrium chains of values in [0, 1]: its standard
    # error is at most 1 / (2 sqrt(n_chains)) = 0.0025, and 5 of them bound every entry.
    for d, m, got in zip(data, model, delta, strict=True):
        np.testing.assert_allclose(got, d - m, atol=5 * 0.5 / np.sqrt(n_chains), rtol=0)
    # The same chains and draws with other data: the model term cancels, and the change in
    # the update is exactly the change in the mean-field data statistics.
    other = _states(4)[[2, 4, 8, 8, 12]]
    gen.set_state(state)
    other_delta = step(other)
    other_data = sum(_mean_field_statistics(other, weights, biases), [])
    for got, other_got, d, other_d in zip(delta, other_delta, data, other_data, strict=True):
        np.testing.assert_allclose(got - other_got, d - other_d, atol=1e-10, rtol=0)


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
    with pytest.raises(ValueError, match="only 0 and 1.*binarize"):
        DBM((4, 3), n_iter=1, pretrain_iter=0).fit(X)
    with pytest.raises(ValueError, match="only 0 and 1"):
        tiny.log_prob(X)
    model = DBM((4, 3), n_iter=1, pretrain_iter=0, binarize=0.5, random_state=0).fit(X)
    np.testing.assert_array_equal(model.log_prob(X), model.log_prob(X / 0.8))


def test_divergence_is_reported():
    model = DBM((4, 3), learning_rate=1e38, momentum=0.9, n_iter=2, pretrain_iter=0)
    with pytest.raises(ValueError, match="diverged.*learning_rate"):
        model.fit(_patterns(100, seed=5))


def test_one_ais_chain_is_refused():
    # The AIS standard error needs at least two chains.
    with pytest.raises(ValueError, match="n_ais_chains"):
        DBM((4, 3), n_ais_chains=1).fit(_patterns(20, seed=0))


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


def test_pretraining_doubles_the_inputs_each_layer_lacks(monkeypatch):
    """Bottom RBM: doubled input from v (up); top: doubled input from above (down); middle:
    both. Composed, a middle layer's bias averages its two RBMs' biases."""
    calls = []

    def layer_parameters(k, n_visible, n_hidden):
        """Distinct (W, b, c) for the k-th RBM of the stack."""
        W = torch.linspace(-1, 1, n_hidden * n_visible).reshape(n_hidden, -1) * (k + 1)
        b = torch.arange(n_visible, dtype=torch.float32) + 10.0 * k  # its visible biases
        c = -torch.arange(n_hidden, dtype=torch.float32) - 100.0 * k  # its hidden biases
        return W, b, c

    def fake_pretrain_rbm(data, n_hidden, *, up, down, **kwargs):
        calls.append({"up": up, "down": down, "data": data.clone()})
        return layer_parameters(len(calls) - 1, data.shape[1], n_hidden)

    monkeypatch.setattr(dbm_module, "pretrain_rbm", fake_pretrain_rbm)
    data = torch.as_tensor(_patterns(20, seed=0), dtype=torch.float32)
    sizes = [6, 5, 4, 3]
    weights, biases = DBM((5, 4, 3), pretrain_iter=1)._pretrain(
        data, sizes, torch.Generator().manual_seed(0), lambda: None
    )
    assert [(call["up"], call["down"]) for call in calls] == [(2.0, 1.0), (2.0, 2.0), (1.0, 2.0)]
    fitted = [layer_parameters(k, sizes[k], sizes[k + 1]) for k in range(3)]
    for k in (1, 2):  # each RBM learns the probabilities of the one below, input doubled
        W, _, c = fitted[k - 1]
        torch.testing.assert_close(
            calls[k]["data"], torch.sigmoid(2 * calls[k - 1]["data"] @ W.T + c)
        )
    for W, (expected, _, _) in zip(weights, fitted, strict=True):
        torch.testing.assert_close(W, expected)
    (_, b0, c0), (_, b1, c1), (_, b2, c2) = fitted
    for got, expected in zip(biases, [b0, (c0 + b1) / 2, (c1 + b2) / 2, c2], strict=True):
        torch.testing.assert_close(got, expected)
