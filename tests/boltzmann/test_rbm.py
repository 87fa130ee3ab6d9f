"""Known answers for the RBM: hand and scikit-learn computations of its functions, normalised
probabilities, Gibbs samples against the exact distribution, learning a known RBM, and
scikit-learn's BernoulliRBM on binarised digits."""

import copy
import itertools
import math

import numpy as np
import pytest
import torch
from scipy import stats
from scipy.special import expit, logsumexp
from sklearn.neural_network import BernoulliRBM

import genzoo
from genzoo.boltzmann.ais import exact_log_partition
from genzoo.boltzmann.rbm import RBM
from genzoo.data import load


def all_states(n):
    return np.array(list(itertools.product([0.0, 1.0], repeat=n)))


@pytest.fixture(scope="module")
def known_rbm():
    """Rows drawn exactly from a small RBM of three overlapping "bars", and its test log-lik.

    Each hidden unit switches on four of the ten pixels (p = 0.88 instead of 0.12) and is
    on with marginal probability about 0.3.
    """
    rng = np.random.default_rng(0)
    W = np.zeros((3, 10))
    for j, bar in enumerate([[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]]):
        W[j, bar] = 4.0
    W += rng.normal(0, 0.5, W.shape)
    b = -2.0 + rng.normal(0, 0.3, 10)
    c = -(np.logaddexp(0, b + W) - np.logaddexp(0, b)).sum(1) + np.log(0.3 / 0.7)
    states = all_states(10)
    log_p = b @ states.T + np.logaddexp(0, states @ W.T + c).sum(1)
    log_p -= logsumexp(log_p)
    draws = rng.choice(len(states), size=6000, p=np.exp(log_p))
    X_train, X_test = states[draws[:4000]], states[draws[4000:]]
    return X_train, X_test, log_p[draws[4000:]].mean()


def independent_log_lik(X_train, X_test):
    p = X_train.mean(0).clip(1e-3, 1 - 1e-3)
    return (X_test @ np.log(p) + (1 - X_test) @ np.log1p(-p)).mean()


@pytest.fixture(scope="module")
def small_fit(known_rbm):
    return RBM(n_components=4, batch_size=20, n_iter=5, learning_rate=0.05, random_state=0).fit(
        known_rbm[0]
    )


# --- functions against hand computations and scikit-learn


def test_free_energy_transform_and_pseudo_likelihood_equal_scikit_learn(small_fit, known_rbm):
    rbm, X = small_fit, known_rbm[1][:50]
    W, b, c = rbm.components_, rbm.intercept_visible_, rbm.intercept_hidden_
    sk = BernoulliRBM(n_components=4)
    sk.components_, sk.intercept_visible_, sk.intercept_hidden_ = W, b, c
    np.testing.assert_allclose(rbm.free_energy(X), sk._free_energy(X), rtol=1e-12)
    np.testing.assert_allclose(rbm.free_energy(X), -X @ b - np.logaddexp(0, X @ W.T + c).sum(1))
    np.testing.assert_allclose(rbm.transform(X), expit(X @ W.T + c), rtol=1e-12)
    # scikit-learn's score_samples flips one random bit; the full sum flips each in turn.
    expected = np.zeros(len(X))
    for i in range(X.shape[1]):
        flipped = X.copy()
        flipped[:, i] = 1 - flipped[:, i]
        expected -= np.logaddexp(0, sk._free_energy(X) - sk._free_energy(flipped))
    np.testing.assert_allclose(rbm.pseudo_likelihood(X), expected, rtol=1e-10)


def test_probabilities_of_all_states_sum_to_one(small_fit):
    states = all_states(10)
    assert small_fit.log_partition_method_ == "exact"
    assert small_fit.log_partition_stderr_ == 0.0
    assert logsumexp(small_fit.log_prob(states)) == pytest.approx(0.0, abs=1e-10)
    # Forced to estimate it, AIS lands close.
    estimated = copy.copy(small_fit).set_params(exact_max_hidden=0, n_ais_betas=3000)
    assert estimated.estimate_log_partition() is estimated
    assert estimated.log_partition_method_ == "ais"
    assert logsumexp(estimated.log_prob(states)) == pytest.approx(0.0, abs=0.05)


@pytest.mark.parametrize("sample_from", ["fresh", "persistent"])
def test_gibbs_samples_follow_the_exact_distribution(small_fit, sample_from):
    rbm = small_fit.set_params(sample_from=sample_from, sample_burn_in=25)
    n = 20_000
    samples = rbm.sample(n, random_state=0)
    assert set(np.unique(samples)) <= {0.0, 1.0}
    index = samples.astype(int) @ (1 << np.arange(9, -1, -1))
    observed = np.bincount(index, minlength=1024)
    expected = n * np.exp(rbm.log_prob(all_states(10)))
    # Pool rare states so that the chi-square approximation holds.
    common = expected >= 5
    obs = np.append(observed[common], observed[~common].sum())
    exp = np.append(expected[common], expected[~common].sum())
    _, p_value = stats.chisquare(obs, exp)
    assert p_value > 1e-3
    # Total variation no larger than that of exact multinomial draws of the same size.
    rng = np.random.default_rng(0)
    p = expected / expected.sum()
    reference = [0.5 * np.abs(rng.multinomial(n, p) / n - p).sum() for _ in range(20)]
    assert 0.5 * np.abs(observed / n - p).sum() < 1.2 * max(reference)
    rbm.set_params(sample_from="fresh", sample_burn_in=1000)


def test_gibbs_step_and_bad_input(small_fit, known_rbm):
    X = known_rbm[1][:30]
    step = small_fit.gibbs(X, random_state=1)
    assert step.shape == X.shape and set(np.unique(step)) <= {0.0, 1.0}
    np.testing.assert_array_equal(step, small_fit.gibbs(X, random_state=1))
    with pytest.raises(ValueError, match="only 0 and 1"):
        small_fit.log_prob(X * 0.5)
    with pytest.raises(ValueError, match="features"):
        small_fit.transform(X[:, :5])
    nan = X.copy()
    nan[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        small_fit.free_energy(nan)


# --- learning


def test_learns_a_known_rbm(known_rbm):
    X_train, X_test, true_log_lik = known_rbm
    baseline = independent_log_lik(X_train, X_test)
    rbm = RBM(
        n_components=6, batch_size=20, n_iter=30, learning_rate=0.05, momentum=0.9,
        learning_rate_schedule="linear", random_state=0,
    ).fit(X_train)  # fmt: skip
    fitted = rbm.score(X_test)
    assert true_log_lik > baseline + 1.0  # independent pixels miss the bars
    assert fitted > true_log_lik - 0.1


@pytest.mark.parametrize(
    "params",
    [{"persistent": False, "k": 1}, {"persistent": False, "k": 3}, {"weight_decay": 1e-4}],
    ids=["CD-1", "CD-3", "weight decay"],
)
def test_variants_beat_independent_pixels(known_rbm, params):
    X_train, X_test, _ = known_rbm
    rbm = RBM(n_components=6, batch_size=20, n_iter=10, learning_rate=0.05, random_state=0)
    rbm.set_params(**params).fit(X_train)
    assert rbm.score(X_test) > independent_log_lik(X_train, X_test) + 0.3


def test_partial_fit_continues_and_keeps_a_failed_call_atomic(known_rbm):
    X_train, X_test, _ = known_rbm
    rbm = RBM(n_components=6, batch_size=20, learning_rate=0.05, random_state=0)
    rbm.partial_fit(X_train)
    first = rbm.score(X_test)
    for _ in range(4):
        rbm.partial_fit(X_train)
    assert rbm.n_iter_ == 5 and rbm.score(X_test) > first
    before = rbm.components_.copy()
    with pytest.raises(ValueError, match="only 0 and 1"):
        rbm.partial_fit(X_train * 2)
    np.testing.assert_array_equal(rbm.components_, before)


def test_digits_pcd_comparable_to_scikit_learn():
    data = load("digits_binary")
    settings = dict(n_components=20, batch_size=64, n_iter=20, learning_rate=0.05, random_state=0)
    ours = RBM(**settings).fit(data.X_train)
    sk = BernoulliRBM(**settings).fit(data.X_train)
    assert ours.log_partition_method_ == "exact"
    # scikit-learn's model, scored with the same exact log Z.
    sk_log_z = exact_log_partition(sk.components_, sk.intercept_visible_, sk.intercept_hidden_)
    sk_score = (-sk._free_energy(data.X_test) - sk_log_z).mean()
    assert ours.score(data.X_test) > sk_score - 1.0
    assert ours.score(data.X_test) > independent_log_lik(data.X_train, data.X_test)


# --- AIS-estimated log Z as fitted state


@pytest.fixture(scope="module")
def ais_fit():
    data = load("digits_binary", n_samples=300, random_state=0)
    rbm = RBM(
        n_components=16, batch_size=20, n_iter=5, learning_rate=0.05, n_ais_betas=3000,
        exact_max_hidden=10, random_state=0,
    ).fit(data.X_train)  # fmt: skip
    return rbm, data.X_test


def test_ais_log_partition_is_fitted_state_reproducible_and_saved(ais_fit, tmp_path):
    rbm, X = ais_fit
    assert rbm.log_partition_method_ == "ais" and rbm.log_partition_stderr_ > 0
    exact = exact_log_partition(rbm.components_, rbm.intercept_visible_, rbm.intercept_hidden_)
    assert abs(rbm.log_partition_ - exact) < 0.1
    log_prob = rbm.log_prob(X)
    np.testing.assert_array_equal(np.concatenate([rbm.log_prob(X[:7]), rbm.log_prob(X[7:])]),
                                  log_prob)  # fmt: skip
    # Re-running AIS with the fitted seed gives the same number; the saved copy keeps it.
    again = copy.deepcopy(rbm).estimate_log_partition()
    assert again.log_partition_ == rbm.log_partition_
    rbm.save(tmp_path / "rbm")
    loaded = genzoo.load(tmp_path / "rbm")
    assert loaded.log_partition_ == rbm.log_partition_
    np.testing.assert_array_equal(loaded.log_prob(X), log_prob)


def test_log_partition_can_be_deferred_and_partial_fit_drops_a_stale_estimate(ais_fit):
    rbm, X = ais_fit
    data = load("digits_binary", n_samples=300, random_state=0)
    deferred = RBM(**{**rbm.get_params(), "compute_log_partition": False}).fit(data.X_train)
    assert deferred.log_partition_ is None
    np.testing.assert_array_equal(deferred.components_, rbm.components_)  # same training
    with pytest.raises(genzoo.LikelihoodUnavailable, match="estimate_log_partition"):
        deferred.log_prob(X)
    np.testing.assert_array_equal(deferred.estimate_log_partition().log_prob(X), rbm.log_prob(X))
    # partial_fit changes the weights: an AIS estimate would be stale, an exact one is redone.
    deferred.partial_fit(data.X_train)
    assert deferred.log_partition_ is None
    small = RBM(n_components=4, batch_size=20, random_state=0).partial_fit(data.X_train)
    assert small.log_partition_method_ == "exact"
    expected = exact_log_partition(small.components_, small.intercept_visible_,
                                   small.intercept_hidden_)  # fmt: skip
    assert small.log_partition_ == pytest.approx(expected, abs=1e-12)


# --- the update rule, against hand computations


def test_one_cd1_update_equals_the_hand_computed_step():
    """One CD-1 step with momentum and weight decay, from scikit-learn's start, by hand."""
    from genzoo.boltzmann._cd import train_epochs

    rng = np.random.default_rng(0)
    v = (rng.random((5, 4)) < 0.5).astype(np.float64)
    W0, b0, c0 = rng.normal(0, 0.3, (3, 4)), rng.normal(0, 0.3, 4), rng.normal(0, 0.3, 3)
    lr, decay, momentum = 0.1, 0.01, 0.5
    params = {"W": torch.tensor(W0), "b": torch.tensor(b0), "c": torch.tensor(c0)}
    gen = torch.Generator().manual_seed(0)
    # The same draws as the training step makes, replayed: the permutation, then h, then v.
    replay = torch.Generator().manual_seed(0)
    order = torch.randperm(5, generator=replay).numpy()
    v_pos = v[order]  # the rows in the order the epoch visits them
    h_pos = expit(v_pos @ W0.T + c0)
    h = torch.bernoulli(torch.tensor(h_pos), generator=replay).numpy()
    v_neg = torch.bernoulli(torch.tensor(expit(h @ W0 + b0)), generator=replay).numpy()
    h_neg = expit(v_neg @ W0.T + c0)
    grad_W = (h_pos.T @ v_pos - h_neg.T @ v_neg) / 5 - decay * W0
    grad_b = (v_pos - v_neg).mean(0)
    grad_c = (h_pos - h_neg).mean(0)
    train_epochs(
        torch.tensor(v),
        params,
        None,
        n_epochs=1,
        batch_size=5,
        learning_rate=lr,
        gen=gen,
        momentum=momentum,
        weight_decay=decay,
        k=1,
    )
    # The first step's velocity is lr * gradient (it starts at zero).
    np.testing.assert_allclose(params["W"].numpy(), W0 + lr * grad_W, atol=1e-12)
    np.testing.assert_allclose(params["b"].numpy(), b0 + lr * grad_b, atol=1e-12)
    np.testing.assert_allclose(params["c"].numpy(), c0 + lr * grad_c, atol=1e-12)


def test_linear_schedule_decays_within_fit_but_not_across_partial_fit(monkeypatch):
    import genzoo.boltzmann._cd as training

    rates = []
    real_update = training.cd_update

    def recording_update(params, velocity, statistics, *, learning_rate, **settings):
        rates.append(learning_rate)
        return real_update(params, velocity, statistics, learning_rate=learning_rate, **settings)

    monkeypatch.setattr(training, "cd_update", recording_update)
    X = (np.random.default_rng(0).random((40, 6)) < 0.5).astype(float)
    settings = dict(batch_size=10, n_iter=2, learning_rate=0.1, learning_rate_schedule="linear")
    RBM(3, **settings, random_state=0).fit(X)
    np.testing.assert_allclose(rates, 0.1 * (1 - np.arange(8) / 8))
    rates.clear()
    RBM(3, **settings, random_state=0).partial_fit(X)
    np.testing.assert_allclose(rates, 0.1)


def test_gibbs_step_follows_the_conditionals(small_fit):
    """From one visible row, many gibbs steps give v' with p(v' | v) = sum_h p(h | v) p(v' | h)."""
    W, b, c = small_fit.components_, small_fit.intercept_visible_, small_fit.intercept_hidden_
    v = np.zeros(10)
    v[::3] = 1
    draws = small_fit.gibbs(np.tile(v, (40_000, 1)), random_state=0)
    hidden = all_states(W.shape[0])  # every h, with its probability given v
    p_h = np.prod(np.where(hidden == 1, expit(W @ v + c), 1 - expit(W @ v + c)), axis=1)
    expected = p_h @ expit(hidden @ W + b)  # E[v'_i | v]
    standard_error = np.sqrt(expected * (1 - expected) / len(draws))
    assert np.all(np.abs(draws.mean(0) - expected) < 5 * standard_error + 1e-9)


# --- Gaussian visibles


def test_gaussian_log_prob_integrates_to_one():
    data = load("moons", n_samples=1000, random_state=0)
    X, X_test = (x * [3.0, 0.5] + [10.0, -2.0] for x in (data.X_train, data.X_test))
    rbm = RBM(
        n_components=16, visible="gaussian", batch_size=20, n_iter=100, learning_rate=0.005,
        momentum=0.9, random_state=0,
    ).fit(X)  # fmt: skip
    assert rbm.log_partition_method_ == "exact"
    # The density is of the original (scaled and shifted) data: integrate it on a grid there.
    lo, hi = X.min(0) - 6 * rbm.scale_, X.max(0) + 6 * rbm.scale_
    axes = [np.linspace(lo[i], hi[i], 500) for i in range(2)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 2)
    cell = (axes[0][1] - axes[0][0]) * (axes[1][1] - axes[1][0])
    assert np.exp(logsumexp(rbm.log_prob(grid)) + math.log(cell)) == pytest.approx(1.0, abs=1e-3)
    # It learned something: better than the independent Gaussian (its start) on held-out data.
    independent = stats.norm(X.mean(0), X.std(0)).logpdf(X_test).sum(1).mean()
    assert rbm.score(X_test) > independent + 0.02
    samples = rbm.sample(500, random_state=0)
    np.testing.assert_allclose(samples.mean(0), X.mean(0), atol=0.3 * X.std(0).max())
    with pytest.raises(ValueError, match="bernoulli"):
        rbm.pseudo_likelihood(X)


def test_progress_bar_chains_and_gaussian_gibbs(capsys):
    data = load("moons", n_samples=200, random_state=0)
    rbm = RBM(
        n_components=4, visible="gaussian", n_iter=2, n_chains=7, learning_rate=0.01,
        verbose=1, random_state=0,
    ).fit(data.X_train)  # fmt: skip
    assert "reconstruction_error" in capsys.readouterr().err
    assert rbm.h_samples_.shape == (7, 4)
    step = rbm.gibbs(data.X_test, random_state=0)
    assert step.shape == data.X_test.shape and np.isfinite(step).all()
    # No burn-in: fresh samples are the base-rate Gaussian, in the data's units.
    base = rbm.set_params(sample_burn_in=0).sample(4000, random_state=0)
    np.testing.assert_allclose(base.std(0), data.X_train.std(0), rtol=0.1)


# --- bad input


@pytest.mark.parametrize(
    "param, value",
    [
        ("n_components", 0),
        ("learning_rate", 0.0),
        ("k", 0),
        ("batch_size", 0),
        ("n_iter", 0),
        ("visible", "poisson"),
        ("momentum", 1.0),
        ("exact_max_hidden", 26),
        ("n_ais_betas", 1),
        ("sample_from", "nowhere"),
        ("learning_rate_schedule", "cosine"),
    ],
)
def test_bad_constructor_values_are_named(param, value, known_rbm):
    with pytest.raises(ValueError, match=param):
        RBM(**{param: value}).fit(known_rbm[0][:50])


def test_bad_training_data(known_rbm):
    X = known_rbm[0][:100]
    with pytest.raises(ValueError, match="binarize"):
        RBM(n_components=4).fit(X * 0.7)
    with pytest.raises(ValueError, match="binarize"):
        RBM(n_components=4, visible="gaussian", binarize=0.5).fit(X)
    rbm = RBM(n_components=4, n_iter=1, binarize=0.5).fit(X * 0.7)
    np.testing.assert_array_equal(rbm.transform(X * 0.7), rbm.transform(X))
    diverging = RBM(
        n_components=4, visible="gaussian", learning_rate=1e30, n_iter=3, random_state=0
    )
    with pytest.raises(ValueError, match="learning_rate"):
        diverging.fit(X + np.arange(100)[:, None])
