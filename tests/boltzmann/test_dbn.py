"""Known answers for the deep belief network, checked against brute-force enumeration."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import logsumexp

from genzoo.boltzmann.dbn import DBN
from genzoo.boltzmann.rbm import RBM
from genzoo.data import load
from genzoo.mixture.bernoulli import BernoulliMixture

# --- brute force, in numpy, independent of the code under test


def _states(n: int) -> np.ndarray:
    """All 2^n binary rows, row i holding the bits of i, least significant first."""
    return ((np.arange(2**n)[:, None] >> np.arange(n)) & 1).astype(np.float64)


def _log_bernoulli(x: np.ndarray, logits: np.ndarray) -> np.ndarray:
    return (x * logits - np.logaddexp(0, logits)).sum(-1)


def _entropy(logits: np.ndarray) -> np.ndarray:
    q = 1 / (1 + np.exp(-logits))
    return -(q * np.log(q) + (1 - q) * np.log1p(-q)).sum(-1)


def _log_p_star(W, b, c, x: np.ndarray) -> np.ndarray:
    """log sum_h exp(b.x + c.h + h.W x) of an RBM's visible rows x, by enumerating h."""
    hidden = _states(len(c))
    return logsumexp((x @ b)[:, None] + (hidden @ c)[None] + x @ W.T @ hidden.T, axis=1)


def _log_z(W, b, c) -> float:
    """log Z of an RBM, by enumerating both layers."""
    return float(logsumexp(_log_p_star(W, b, c, _states(len(b)))))


def _top_log_marginal(W, b, c, x: np.ndarray) -> np.ndarray:
    """log p_top(x) of the top RBM's visible rows x."""
    return _log_p_star(W, b, c, x) - _log_z(W, b, c)


def _paths(layers) -> dict[str, np.ndarray]:
    """Per visible state v (rows) and path (h_1..h_(L-1)) (columns): log p(v, path), the
    log recognition probability Q(path | v), and the bound's Monte-Carlo term on that path."""
    directed, top = layers[:-1], layers[-1]
    spaces = [_states(layers[0][0].shape[1])] + [_states(W.shape[0]) for W, _, _ in directed]
    grids = [g.ravel() for g in np.meshgrid(*(np.arange(len(s)) for s in spaces), indexing="ij")]
    log_joint = log_q = term = 0.0
    for layer, (W, b, c) in enumerate(directed):
        below, h = spaces[layer][grids[layer]], spaces[layer + 1][grids[layer + 1]]
        log_p = _log_bernoulli(below, b + h @ W)
        log_joint = log_joint + log_p
        log_q = log_q + _log_bernoulli(h, c + below @ W.T)
        term = term + log_p + _entropy(c + below @ W.T)
    log_top = _top_log_marginal(*top, spaces[-1][grids[-1]])
    shape = (len(spaces[0]), -1)
    return {
        "log_joint": (log_joint + log_top).reshape(shape),
        "log_q": np.broadcast_to(log_q, log_top.shape).reshape(shape),
        "term": (term + log_top).reshape(shape),
    }


def _hand_set_dbn(sizes, seed=0, **params):
    """A DBN over sizes[0] binary units with N(0, 1) weights and N(0, 0.5^2) biases."""
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 2, size=(40, sizes[0])).astype(np.float64)
    model = DBN(hidden_layer_sizes=sizes[1:], n_iter=1, batch_size=10, random_state=0, **params)
    model.fit(X)
    layers = []
    for rbm, n_below, n_above in zip(model.rbms_, sizes[:-1], sizes[1:], strict=True):
        W = rng.normal(0, 1, (n_above, n_below))
        b, c = rng.normal(0, 0.5, n_below), rng.normal(0, 0.5, n_above)
        rbm.components_, rbm.intercept_visible_, rbm.intercept_hidden_ = W, b, c
        layers.append((W, b, c))
    model.log_partition_ = _log_z(*layers[-1])
    return model, layers


SIZES = [(6, 4, 3), (6, 4, 3, 2)]


# --- (1) the bound


@pytest.mark.parametrize("sizes", SIZES, ids=["2 layers", "3 layers"])
def test_bound_matches_its_enumerated_value_and_lies_below_log_p(sizes):
    model, layers = _hand_set_dbn(sizes, n_posterior_samples=2000)
    paths = _paths(layers)
    q = np.exp(paths["log_q"])
    np.testing.assert_allclose(q.sum(1), 1.0, rtol=1e-12)
    log_p = logsumexp(paths["log_joint"], axis=1)  # exact log p(v), all 64 states
    np.testing.assert_allclose(logsumexp(log_p), 0.0, atol=1e-12)  # it is normalised
    bound = (q * paths["term"]).sum(1)
    # The Rao-Blackwellised term has the ELBO's mean: E_Q[log p(v, h) - log Q(h | v)].
    np.testing.assert_allclose(bound, (q * (paths["log_joint"] - paths["log_q"])).sum(1))
    assert (bound <= log_p + 1e-12).all() and (log_p - bound).max() > 0.05

    estimate = model.log_prob(_states(sizes[0]))
    stderr = np.sqrt(((q * paths["term"] ** 2).sum(1) - bound**2) / 2000)
    assert (np.abs(estimate - bound) <= 5 * stderr + 1e-9).all()


@pytest.mark.parametrize("sizes", SIZES, ids=["2 layers", "3 layers"])
def test_importance_estimate_converges_to_log_p(sizes):
    S = 2000
    model, layers = _hand_set_dbn(sizes, n_posterior_samples=S, estimator="importance")
    paths = _paths(layers)
    log_p = logsumexp(paths["log_joint"], axis=1)
    # Relative variance of the weight p(v, h) / Q(h | v) about its mean p(v): the log-mean
    # has standard error about sqrt(r / S) and bias about -r / (2 S).
    log_w = paths["log_joint"] - paths["log_q"] - log_p[:, None]
    r = (np.exp(paths["log_q"] + 2 * log_w)).sum(1) - 1
    estimate = model.log_prob(_states(sizes[0]))
    assert (np.abs(estimate - log_p) <= 5 * np.sqrt(r / S) + r / S).all()
    bound_model = model.set_params(estimator="bound")
    assert estimate.mean() > bound_model.log_prob(_states(sizes[0])).mean()


def test_noise_ignores_the_sign_of_zero_and_takes_any_seed():
    model, _ = _hand_set_dbn((6, 4, 3), n_posterior_samples=50)
    X = _states(6)
    negative_zeros = np.where(X == 0, -0.0, X)
    assert np.signbit(negative_zeros).any()
    np.testing.assert_array_equal(model.log_prob(negative_zeros), model.log_prob(X))
    # Any int seed is valid; as in make_generator, seeds are taken modulo 2^63.
    expected = model.set_params(random_state=7).log_prob(X)
    np.testing.assert_array_equal(model.set_params(random_state=2**63 + 7).log_prob(X), expected)
    huge = DBN(hidden_layer_sizes=(4, 3), n_iter=1, random_state=2**70).fit(X)
    assert np.isfinite(huge.log_prob(X)).all()


# --- (2) sampling


@pytest.mark.parametrize("sizes", SIZES, ids=["2 layers", "3 layers"])
def test_samples_follow_the_exact_marginal(sizes):
    N = 20_000
    model, layers = _hand_set_dbn(sizes, sample_burn_in=200)
    p = np.exp(logsumexp(_paths(layers)["log_joint"], axis=1))
    samples = model.sample(N, random_state=1)
    assert set(np.unique(samples)) <= {0.0, 1.0}
    index = (samples @ 2 ** np.arange(sizes[0])).astype(int)
    empirical = np.bincount(index, minlength=len(p)) / N
    tv = 0.5 * np.abs(empirical - p).sum()
    # E[TV] <= 1/2 sum sqrt(p (1 - p) / N) (Jensen); one sample moves TV by at most 1/N, so
    # by McDiarmid P(TV > E[TV] + t) <= exp(-2 N t^2) = 1e-4 for this t.
    expected = 0.5 * np.sqrt(p * (1 - p) / N).sum()
    t = math.sqrt(math.log(1e4) / (2 * N))
    assert tv <= expected + t, (tv, expected + t)


# --- (3) one hidden layer is an RBM


def test_one_hidden_layer_is_its_rbm():
    X = load("digits_binary", n_samples=300).X_train
    model = DBN(hidden_layer_sizes=(10,), n_iter=3, sample_burn_in=30, random_state=0).fit(X)
    layer = model.rbms_[0]
    rbm = RBM(
        10, learning_rate=0.05, batch_size=20, n_iter=3, momentum=0.5,
        learning_rate_schedule="linear", sample_burn_in=30, random_state=layer.random_state,
    ).fit(X)  # fmt: skip
    np.testing.assert_array_equal(layer.components_, rbm.components_)
    assert model.log_partition_method_ == "exact"
    # log p(v) = log sum_h exp(b.v + c.h + h.W v) - log Z, by enumerating the 2^10 hidden states.
    W, b, c = rbm.components_, rbm.intercept_visible_, rbm.intercept_hidden_
    hidden = _states(10)
    every_v_summed = hidden @ c + np.logaddexp(0, b + hidden @ W).sum(1)  # visibles summed out
    expected = _log_p_star(W, b, c, X[:50]) - logsumexp(every_v_summed)
    np.testing.assert_allclose(model.log_prob(X[:50]), expected, rtol=1e-10)
    np.testing.assert_allclose(model.log_prob(X[:50]), rbm.log_prob(X[:50]), rtol=1e-12)
    np.testing.assert_array_equal(model.sample(20, random_state=3), rbm.sample(20, random_state=3))
    np.testing.assert_allclose(model.transform(X[:5]), rbm.transform(X[:5]))


def test_upper_layers_learn_the_hidden_probabilities_below():
    X = load("digits_binary", n_samples=300).X_train
    model = DBN(hidden_layer_sizes=(12, 6, 3), n_iter=2, random_state=0).fit(X)
    assert [r.components_.shape for r in model.rbms_] == [(12, 64), (6, 12), (3, 6)]
    assert len({r.random_state for r in model.rbms_}) == 3  # a seed of its own per layer
    H = X
    for rbm in model.rbms_:
        H = 1 / (1 + np.exp(-(H @ rbm.components_.T + rbm.intercept_hidden_)))
    np.testing.assert_allclose(model.transform(X), H, rtol=1e-10)
    # The second layer learns probabilities, not states: its visible biases start at the logit
    # of the first layer's mean probabilities.
    mean = model.rbms_[0].transform(X).mean(0).clip(1e-3, 1 - 1e-3)
    logit = np.log(mean / (1 - mean))
    np.testing.assert_allclose(model.rbms_[1].base_visible_bias_, logit, atol=1e-6)  # float32


# --- (4) digits


def test_digits_beat_independent_pixels():
    data = load("digits_binary")
    model = DBN(hidden_layer_sizes=(64, 16), n_iter=50, random_state=0).fit(data.X_train)
    assert model.log_partition_method_ == "exact"  # top RBM: 16 hidden units
    dbn = model.score(data.X_test)
    independent = BernoulliMixture(n_components=1).fit(data.X_train).score(data.X_test)
    assert independent == pytest.approx(-25.2, abs=0.1)
    # Measured: DBN bound -18.9 nats, importance estimate -18.3; independent pixels -25.2; a
    # 20-component Bernoulli mixture -18.4.
    assert dbn > independent + 4.0
    importance = model.set_params(estimator="importance").score(data.X_test)
    assert dbn < importance < dbn + 2.0


# --- (5) bad input


@pytest.mark.parametrize("sizes", [(), [], (8, 0), (8, 2.5), (True,)])
def test_bad_hidden_layer_sizes(sizes):
    X = load("digits_binary", n_samples=50).X_train
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        DBN(hidden_layer_sizes=sizes, n_iter=1).fit(X)


def test_bad_data():
    X = load("digits_binary", n_samples=60).X_train
    with pytest.raises(ValueError, match="only 0 and 1.*binarize"):
        DBN(hidden_layer_sizes=(4,), n_iter=1).fit(X * 0.5)
    binarised = DBN(hidden_layer_sizes=(4,), n_iter=1, binarize=0.25, random_state=0)
    plain = DBN(hidden_layer_sizes=(4,), n_iter=1, random_state=0).fit(X)
    np.testing.assert_array_equal(
        binarised.fit(X * 0.5).rbms_[0].components_, plain.rbms_[0].components_
    )
    nan = X.copy()
    nan[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        DBN(hidden_layer_sizes=(4,), n_iter=1).fit(nan)
    with pytest.raises(ValueError, match="features"):
        plain.log_prob(X[:, :10])
    with pytest.raises(ValueError, match="features"):
        plain.transform(X[:, :10])
    with pytest.raises(ValueError, match="only 0 and 1"):
        plain.log_prob(X * 0.5)
    with pytest.raises(ValueError, match="estimator"):
        DBN(hidden_layer_sizes=(4,), estimator="exact").fit(X)
