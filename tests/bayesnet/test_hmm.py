"""HiddenMarkovModel: brute force over state paths, hmmlearn from the same start, the casino."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

import genzoo
from genzoo.bayesnet import _hmm_math as hmm_math
from genzoo.bayesnet.hmm import HiddenMarkovModel
from genzoo.data.casino import CASINO, make_casino

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

LENGTHS = np.array([3, 5, 1, 4])


# --- brute force over all K^T state paths


def _emission_log_prob(model, X) -> np.ndarray:
    """log b_k(x) for every row and state, (n, K), from scipy densities."""
    K = model.n_components
    if model.emission == "categorical":
        return np.log(model.emissionprob_[:, X[:, 0].astype(int)]).T
    if model.emission == "gaussian":
        weights, means, covars = np.ones((K, 1)), model.means_[:, None], model.covars_[:, None]
    else:
        weights, means, covars = model.weights_, model.means_, model.covars_
    out = np.empty((len(X), K))
    for k in range(K):
        parts = [
            np.log(weights[k, m])
            + multivariate_normal(
                means[k, m], np.diag(covars[k, m]) if covars.ndim == 3 else covars[k, m]
            ).logpdf(X)
            for m in range(weights.shape[1])
        ]
        out[:, k] = logsumexp(np.stack(parts), axis=0)
    return out


def _brute_force(model, X, lengths):
    """Per sequence: log p, posterior marginals (T, K), best path and its log-probability."""
    with np.errstate(divide="ignore"):  # log 0 = -inf for forbidden starts and transitions
        log_start, log_trans = np.log(model.startprob_), np.log(model.transmat_)
        log_b = _emission_log_prob(model, X)
    results, start = [], 0
    for length in lengths:
        lb = log_b[start : start + length]
        start += length
        paths = np.array(list(itertools.product(range(model.n_components), repeat=length)))
        steps = np.arange(length)
        scores = log_start[paths[:, 0]] + lb[steps, paths].sum(1)
        scores += log_trans[paths[:, :-1], paths[:, 1:]].sum(1)
        log_p = logsumexp(scores)
        weights = np.exp(scores - log_p)
        marginals = np.stack([np.bincount(paths[:, t], weights, model.n_components)
                              for t in steps])  # fmt: skip
        best = int(np.argmax(scores))
        results.append((log_p, marginals, paths[best], scores[best]))
    return results


def _sequences(emission: str, rng, d: int = 2):
    n = int(LENGTHS.sum())
    if emission == "categorical":
        return rng.integers(0, 4, size=(n, 1))
    return rng.normal(size=(n, d)) + 2.0 * rng.integers(0, 2, size=(n, 1))


CASES = [
    ("gaussian", "diag", 1, 3),
    ("gaussian", "full", 1, 3),
    ("categorical", "diag", 1, 3),
    ("gmm", "diag", 2, 2),
    ("gmm", "full", 2, 2),
]


@pytest.mark.parametrize("emission, covariance_type, n_mix, K", CASES)
def test_inference_equals_brute_force_over_state_paths(emission, covariance_type, n_mix, K):
    rng = np.random.default_rng(1)
    train = np.concatenate([_sequences(emission, rng) for _ in range(5)])
    model = HiddenMarkovModel(
        K, emission=emission, covariance_type=covariance_type, n_mix=n_mix, max_iter=3,
        random_state=0,
    ).fit(train, lengths=np.tile(LENGTHS, 5))  # fmt: skip
    X = _sequences(emission, rng)
    expected = _brute_force(model, X, LENGTHS)
    np.testing.assert_allclose(
        model.log_prob(X, lengths=LENGTHS), [e[0] for e in expected], rtol=1e-10
    )
    np.testing.assert_allclose(
        model.predict_proba(X, lengths=LENGTHS),
        np.concatenate([e[1] for e in expected]),
        atol=1e-10,
    )
    log_probs, states = model.decode(X, lengths=LENGTHS)
    np.testing.assert_array_equal(states, np.concatenate([e[2] for e in expected]))
    np.testing.assert_allclose(log_probs, [e[3] for e in expected], rtol=1e-10)
    np.testing.assert_array_equal(model.predict(X, lengths=LENGTHS), states)
    assert model.score(X, lengths=LENGTHS) == pytest.approx(np.mean([e[0] for e in expected]))


def test_log_space_fallback_where_the_scaled_recursion_underflows():
    # Forbidden transitions, and emissions 5000 nats apart: the shifted values underflow.
    model = HiddenMarkovModel(
        2, startprob_init=[0.5, 0.5], transmat_init=np.eye(2), means_init=[[0.0], [100.0]],
        covars_init=[[1.0], [1.0]], max_iter=1,
    ).fit(np.array([[0.0], [100.0], [0.0], [100.0]]), lengths=[2, 2])  # fmt: skip
    X, lengths = np.array([[0.0], [0.5], [100.0], [1.0], [2.0]]), [3, 2]
    log_prob = model.log_prob(X, lengths=lengths)
    assert np.isfinite(log_prob).all()
    expected = _brute_force(model, X, lengths)
    np.testing.assert_allclose(log_prob, [e[0] for e in expected], rtol=1e-10)
    np.testing.assert_allclose(
        model.predict_proba(X, lengths=lengths),
        np.concatenate([e[1] for e in expected]),
        atol=1e-10,
    )


def test_scaled_and_log_space_recursions_agree_on_padded_batches():
    gen = torch.Generator().manual_seed(0)
    T, B, K = 7, 4, 3
    log_b = torch.randn(T, B, K, generator=gen, dtype=torch.float64) * 3
    lengths = torch.tensor([7, 5, 5, 2])
    padded = torch.arange(T)[:, None] >= lengths
    active = (~padded).sum(1).tolist()
    trans = torch.softmax(torch.randn(K, K, generator=gen, dtype=torch.float64), 1)
    log_start = torch.log(torch.tensor([0.2, 0.3, 0.5], dtype=torch.float64))
    # zero on padding for the scaled recursion, -inf for the log-space one
    zero_padded = log_b.masked_fill(padded[..., None], 0.0)
    alpha, emit, log_lik = hmm_math.forward(zero_padded, log_start, trans, padded)
    log_b = log_b.masked_fill(padded[..., None], -np.inf)
    beta = hmm_math.backward(emit, trans, active)
    gamma, xi = hmm_math.posteriors(alpha, beta, emit, trans)
    log_alpha, log_lik_ref = hmm_math.forward_log(log_b, log_start, trans, active)
    log_beta = hmm_math.backward_log(log_b, trans, active)
    gamma_ref, xi_ref = hmm_math.posteriors_log(
        log_alpha, log_beta, log_b, log_lik_ref, trans, padded
    )
    torch.testing.assert_close(log_lik, log_lik_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(gamma, gamma_ref, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(xi, xi_ref, rtol=1e-10, atol=1e-12)
    assert float(xi.sum()) == pytest.approx(float((lengths - 1).sum()))


def test_torch_recursions_used_on_gpus_equal_the_numpy_ones(monkeypatch):
    # On the CPU the scaled recursions run on numpy views; on a GPU the same steps run as
    # torch calls. Forcing the torch calls here checks that both give the same answers.
    gen = torch.Generator().manual_seed(1)
    T, B, K = 9, 5, 4
    lengths = torch.tensor([9, 7, 7, 3, 1])
    padded = torch.arange(T)[:, None] >= lengths
    log_b = (torch.randn(T, B, K, generator=gen, dtype=torch.float64) * 4).masked_fill(
        padded[..., None], 0.0
    )
    active = (~padded).sum(1).tolist()
    trans = torch.softmax(torch.randn(K, K, generator=gen, dtype=torch.float64), 1)
    log_start = torch.log_softmax(torch.randn(K, generator=gen, dtype=torch.float64), 0)
    on_numpy = hmm_math.forward_backward(log_b, log_start, trans, active, padded)
    monkeypatch.setattr(hmm_math, "_on_numpy", lambda tensor: False)
    on_torch = hmm_math.forward_backward(log_b, log_start, trans, active, padded)
    for ours, theirs in zip(on_numpy, on_torch, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-14)
    assert float(on_numpy[0][padded].abs().max()) == 0.0  # no weight on padding


@pytest.mark.parametrize("K, lengths", [(2, [1000]), (3, [300, 290, 120, 1]), (4, [400, 400])])
def test_forward_backward_in_chunks_equals_the_step_by_step_passes(monkeypatch, K, lengths):
    """Few long sequences take the scaled passes in chunks; forcing the step-by-step loops
    gives the same posteriors and log-likelihoods, with padding, a forbidden transition and
    states ruled out at one step (a row of a transfer product that dies)."""
    rng = np.random.default_rng(K)
    lengths = torch.tensor(lengths)
    T, B = int(lengths[0]), len(lengths)
    L = hmm_math._chunk_length_scaled(T, B, K)
    assert L is not None
    padded = torch.arange(T)[:, None] >= lengths
    log_b = torch.tensor(rng.normal(size=(T, B, K)) * 3)
    log_b[L + 1, :, :-1] = -np.inf  # the second chunk's first step: its row 0 dies at once
    log_b = log_b.masked_fill(padded[..., None], 0.0)
    trans = torch.tensor(rng.dirichlet(np.ones(K), K))
    trans[0, -1] = 0.0
    trans /= trans.sum(1, keepdim=True)
    log_start = torch.log(torch.tensor(rng.dirichlet(np.ones(K))))
    active, mask = (~padded).sum(1).tolist(), padded if padded.any() else None

    def scaled_passes():  # without forward_backward's log-space fallback
        alpha, emit, log_lik = hmm_math.forward(log_b, log_start, trans, mask)
        beta = hmm_math.backward(emit, trans, active)
        return *hmm_math.posteriors(alpha, beta, emit, trans), log_lik

    chunked = scaled_passes()
    monkeypatch.setattr(hmm_math, "_chunk_length_scaled", lambda *shape: None)
    stepped = scaled_passes()
    for ours, theirs in zip(chunked, stepped, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-12)
    assert float(chunked[0][L + 1, :, :-1].abs().max()) == 0.0
    assert float(chunked[0][padded].abs().sum()) == 0.0
    assert float(chunked[1].sum()) == pytest.approx(float((lengths - 1).sum()))


def test_float32_fit_follows_the_float64_one():
    rng = np.random.default_rng(3)
    lengths = rng.integers(5, 40, size=30)
    centres = 3.0 * rng.integers(0, 3, size=(len(lengths), 1)).repeat(lengths, 0)
    X = rng.normal(size=(int(lengths.sum()), 2)) + centres
    fits = [
        HiddenMarkovModel(3, max_iter=15, random_state=0, dtype=dtype).fit(X, lengths=lengths)
        for dtype in ("float64", "float32")
    ]
    assert fits[1].lower_bound_ == pytest.approx(fits[0].lower_bound_, rel=1e-4)
    np.testing.assert_allclose(fits[1].means_, fits[0].means_, atol=1e-3)


def test_viterbi_on_padded_batches_equals_brute_force_and_breaks_ties_low():
    rng = np.random.default_rng(2)
    T, B, K = 6, 4, 3
    lengths = np.array([6, 4, 4, 1])
    padded = np.arange(T)[:, None] >= lengths
    log_b = np.where(padded[..., None], -np.inf, rng.normal(size=(T, B, K)) * 2)
    log_start, log_trans = np.log(rng.dirichlet(np.ones(K))), np.log(rng.dirichlet(np.ones(K), K))
    log_trans[0, 1] = -np.inf  # a forbidden transition
    active = (~padded).sum(1).tolist()
    scores, states = hmm_math.viterbi(log_b, log_start, log_trans, active)
    for b, n in enumerate(lengths):
        paths = np.array(list(itertools.product(range(K), repeat=n)))
        total = log_start[paths[:, 0]] + log_b[np.arange(n), b, paths].sum(1)
        total += log_trans[paths[:, :-1], paths[:, 1:]].sum(1)
        np.testing.assert_array_equal(states[:n, b], paths[np.argmax(total)])
        assert scores[b] == pytest.approx(total.max(), rel=1e-12)
    # every path equally likely: each step takes the lowest state, as argmax does
    flat = np.zeros((T, B, K))
    _, states = hmm_math.viterbi(flat, np.full(K, -np.log(K)), np.full((K, K), -np.log(K)), [B] * T)
    np.testing.assert_array_equal(states, 0)


@pytest.mark.parametrize(
    "K, lengths",
    [(2, [1000]), (3, [700, 650, 400, 333, 2]), (4, [2501, 2501])],
)
def test_viterbi_in_chunks_and_by_doubling_equals_the_step_by_step_pass(monkeypatch, K, lengths):
    """Few long sequences take the chunked max-plus pass and the doubling backtrack; forcing
    the step-by-step loops gives the same paths and scores."""
    rng = np.random.default_rng(K)
    lengths = np.array(lengths)
    T, B = lengths[0], len(lengths)
    assert hmm_math._chunk_length(T, B, K) is not None
    padded = np.arange(T)[:, None] >= lengths
    log_b = np.where(padded[..., None], -np.inf, rng.normal(size=(T, B, K)) * 3)
    log_start, log_trans = np.log(rng.dirichlet(np.ones(K))), np.log(rng.dirichlet(np.ones(K), K))
    log_trans[0, -1] = -np.inf  # a forbidden transition
    active = (~padded).sum(1).tolist()
    scores, states = hmm_math.viterbi(log_b, log_start, log_trans, active)
    monkeypatch.setattr(hmm_math, "_chunk_length", lambda *shape: None)
    monkeypatch.setattr(hmm_math, "_GATHER_SECONDS", 1.0)  # the step-by-step backtrack
    scores_1, states_1 = hmm_math.viterbi(log_b, log_start, log_trans, active)
    np.testing.assert_allclose(scores, scores_1, rtol=1e-12)
    for b, n in enumerate(lengths):
        np.testing.assert_array_equal(states[:n, b], states_1[:n, b])
        path = states[:n, b]  # the score is the path's own joint log-probability
        total = log_start[path[0]] + log_b[np.arange(n), b, path].sum()
        total += log_trans[path[:-1], path[1:]].sum()
        assert scores[b] == pytest.approx(total, rel=1e-12)


# --- hmmlearn from the same parameters


def _hmmlearn_data(rng, emission):
    lengths = [100, 150, 50, 200, 100]
    if emission == "categorical":
        return rng.integers(0, 4, size=(600, 1)), lengths
    centres = np.repeat(rng.normal(scale=3.0, size=(6, 2)), 100, axis=0)
    return rng.normal(size=(600, 2)) + centres, lengths


@pytest.mark.parametrize("emission, covariance_type", [("gaussian", "diag"),
                                                       ("gaussian", "full"),
                                                       ("categorical", "diag")])  # fmt: skip
def test_equals_hmmlearn_from_the_same_parameters(emission, covariance_type):
    hmm = pytest.importorskip("hmmlearn.hmm")
    rng = np.random.default_rng(0)
    X, lengths = _hmmlearn_data(rng, emission)
    K, n_iter = 3, 10
    init = {
        "startprob_init": rng.dirichlet(np.ones(K)),
        "transmat_init": rng.dirichlet(np.full(K, 3.0), size=K),
    }
    if emission == "categorical":
        init["emissionprob_init"] = rng.dirichlet(np.ones(4), size=K)
        peer = hmm.CategoricalHMM(K, n_iter=n_iter, tol=-np.inf, init_params="")
        peer.emissionprob_ = init["emissionprob_init"]
    else:
        init["means_init"] = X[rng.choice(len(X), K, replace=False)]
        eye = np.tile(np.eye(2), (K, 1, 1))
        init["covars_init"] = np.ones((K, 2)) if covariance_type == "diag" else eye
        peer = hmm.GaussianHMM(
            K, covariance_type=covariance_type, n_iter=n_iter, tol=-np.inf, init_params="",
            covars_prior=0.0,
        )  # fmt: skip
        peer.means_, peer.covars_ = init["means_init"], init["covars_init"]
    peer.startprob_, peer.transmat_ = init["startprob_init"], init["transmat_init"]
    peer.fit(X, lengths)
    model = HiddenMarkovModel(
        K, emission=emission, covariance_type=covariance_type, min_covar=0.0, max_iter=n_iter,
        tol=0.0, **init,
    ).fit(X, lengths=lengths)  # fmt: skip
    assert model.n_iter_ == n_iter
    names = ["startprob_", "transmat_"] + (
        ["emissionprob_"] if emission == "categorical" else ["means_", "covars_"]
    )
    for name in names:
        theirs = peer._covars_ if name == "covars_" else getattr(peer, name)
        np.testing.assert_allclose(getattr(model, name), theirs, rtol=1e-6, atol=1e-10)
    ours = model.log_prob(X, lengths=lengths).sum()
    assert ours == pytest.approx(peer.score(X, lengths), rel=1e-6)
    # the last E-step's log-likelihood, per step here and in total there
    last = model.lower_bound_ * len(X)
    assert last == pytest.approx(peer.monitor_.history[-1], rel=1e-6)
    _, peer_states = peer.decode(X, lengths)
    np.testing.assert_array_equal(model.predict(X, lengths=lengths), peer_states)


# --- the casino


def test_recovers_the_casino_from_its_rolls():
    X, lengths, states = make_casino(200, 200, random_state=0)
    assert X.shape == (40_000, 1) and X.dtype == np.int64 and set(np.unique(X)) <= set(range(6))
    model = HiddenMarkovModel(2, emission="categorical", random_state=0).fit(X, lengths=lengths)
    order = np.argsort(model.emissionprob_[:, 5])  # fair first: the loaded die favours six
    transmat = model.transmat_[np.ix_(order, order)]
    np.testing.assert_allclose(transmat, CASINO["transmat"], atol=0.03)
    np.testing.assert_allclose(model.emissionprob_[order], CASINO["emissionprob"], atol=0.03)
    accuracy = (order[model.predict(X, lengths=lengths)] == states).mean()
    assert accuracy > 0.8


def test_samples_follow_the_casino():
    X, lengths, _ = make_casino(20, 100, random_state=1)
    model = HiddenMarkovModel(
        2, emission="categorical", max_iter=1, startprob_init=CASINO["startprob"],
        transmat_init=CASINO["transmat"], emissionprob_init=CASINO["emissionprob"],
    ).fit(X, lengths=lengths)  # fmt: skip
    rolls, states = model.sample(400, length=200, random_state=0, return_states=True)
    assert rolls.shape == (400, 200, 1) and rolls.dtype == np.int64
    assert states.shape == (400, 200) and states.dtype == np.int64
    pairs = np.zeros((2, 2))
    np.add.at(pairs, (states[:, :-1].ravel(), states[:, 1:].ravel()), 1)
    n = pairs.sum(1, keepdims=True)
    tol = 5 * np.sqrt(0.25 / n)  # five standard errors of a proportion
    assert (np.abs(pairs / n - model.transmat_) < tol).all()
    for k in range(2):
        n_k = (states == k).sum()
        freq = np.bincount(rolls[..., 0][states == k], minlength=6) / n_k
        assert (np.abs(freq - model.emissionprob_[k]) < 5 * np.sqrt(0.25 / n_k)).all()


def test_casino_is_a_built_in_dataset():
    data = genzoo.data.load("casino", n_samples=8)
    assert data.kind == "sequences" and data.X_train.shape == (1600, 1)
    assert data.lengths_train.tolist() == [200] * 8


# --- EM behaviour


@pytest.mark.parametrize("emission", ["gaussian", "gmm", "categorical"])
def test_lower_bound_never_decreases(emission):
    rng = np.random.default_rng(3)
    X = np.concatenate([_sequences(emission, rng) for _ in range(20)])
    model = HiddenMarkovModel(
        3, emission=emission, n_mix=2 if emission == "gmm" else 1, max_iter=25, tol=0.0,
        random_state=0,
    ).fit(X, lengths=np.tile(LENGTHS, 20))  # fmt: skip
    assert len(model.lower_bounds_) == 25
    assert (np.diff(model.lower_bounds_) >= -1e-10).all()


def test_batches_padding_and_order_do_not_change_the_fit():
    rng = np.random.default_rng(4)
    lengths = rng.integers(1, 30, size=25)
    X = rng.normal(size=(lengths.sum(), 2)) + rng.integers(0, 2, size=(lengths.sum(), 1))
    init = {
        "startprob_init": [0.5, 0.5],
        "transmat_init": [[0.8, 0.2], [0.3, 0.7]],
        "means_init": [[0.0, 0.0], [1.0, 1.0]],
        "covars_init": [[1.0, 1.0], [1.0, 1.0]],
    }
    whole = HiddenMarkovModel(2, max_iter=8, tol=0.0, **init).fit(X, lengths=lengths)
    order = rng.permutation(len(lengths))
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    X_perm = np.concatenate([X[starts[i] : starts[i] + lengths[i]] for i in order])
    split = HiddenMarkovModel(2, max_iter=8, tol=0.0, batch_size=3, **init)
    split.fit(X_perm, lengths=lengths[order])
    for name in ("startprob_", "transmat_", "means_", "covars_"):
        np.testing.assert_allclose(getattr(split, name), getattr(whole, name), rtol=1e-9)
    np.testing.assert_allclose(split.lower_bounds_, whole.lower_bounds_, rtol=1e-10)
    np.testing.assert_allclose(
        split.log_prob(X_perm, lengths=lengths[order]),
        whole.log_prob(X, lengths=lengths)[order],
        rtol=1e-10,
    )
    one_by_one = np.concatenate(
        [whole.predict_proba(X[s : s + n]) for s, n in zip(starts, lengths, strict=True)]
    )
    np.testing.assert_allclose(whole.predict_proba(X, lengths=lengths), one_by_one, atol=1e-12)


def test_save_and_load_a_mixture_emission_model(tmp_path):
    rng = np.random.default_rng(5)
    X = np.concatenate([_sequences("gmm", rng) for _ in range(10)])
    lengths = np.tile(LENGTHS, 10)
    model = HiddenMarkovModel(2, emission="gmm", n_mix=2, covariance_type="full", max_iter=5,
                              random_state=0).fit(X, lengths=lengths)  # fmt: skip
    assert model.weights_.shape == (2, 2) and model.covars_.shape == (2, 2, 2, 2)
    model.save(tmp_path / "hmm")
    loaded = genzoo.load(tmp_path / "hmm")
    np.testing.assert_array_equal(
        loaded.log_prob(X, lengths=lengths), model.log_prob(X, lengths=lengths)
    )
    np.testing.assert_array_equal(loaded.sample(3, random_state=1), model.sample(3, random_state=1))


# --- two processes


def _fit_shard(rank: int, world: int, init_file: str, out: str):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    torch.set_num_threads(1)
    X, lengths, _ = make_casino(40, 50, random_state=2)
    own = np.arange(len(lengths)) % world == rank
    steps = np.repeat(own, lengths)
    given = HiddenMarkovModel(2, emission="categorical", max_iter=10, tol=0.0, device="cpu",
                              **_casino_init()).fit(X[steps], lengths=lengths[own])  # fmt: skip
    kmeans = HiddenMarkovModel(2, emission="categorical", max_iter=3, random_state=0,
                               device="cpu").fit(X[steps], lengths=lengths[own])  # fmt: skip
    np.savez(f"{out}/rank{rank}.npz", transmat=given.transmat_, emission=given.emissionprob_,
             lower_bound=given.lower_bound_, kmeans=kmeans.emissionprob_)  # fmt: skip
    dist.barrier()
    dist.destroy_process_group()


def _casino_init():
    emissions = np.array([[0.2] * 5 + [0.0], [0.1] * 5 + [0.5]]) * 0.9 + 0.1 / 6
    return {
        "startprob_init": [0.6, 0.4],
        "transmat_init": [[0.8, 0.2], [0.2, 0.8]],
        "emissionprob_init": emissions,
    }


def test_two_processes_each_with_half_the_sequences_equal_one_process(tmp_path):
    mp.spawn(_fit_shard, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    X, lengths, _ = make_casino(40, 50, random_state=2)
    single = HiddenMarkovModel(2, emission="categorical", max_iter=10, tol=0.0, device="cpu",
                               **_casino_init()).fit(X, lengths=lengths)  # fmt: skip
    ranks = [np.load(tmp_path / f"rank{r}.npz") for r in range(2)]
    for result in ranks:
        np.testing.assert_allclose(result["transmat"], single.transmat_, rtol=1e-9)
        np.testing.assert_allclose(result["emission"], single.emissionprob_, rtol=1e-9)
        assert float(result["lower_bound"]) == pytest.approx(single.lower_bound_, rel=1e-9)
    np.testing.assert_array_equal(ranks[0]["kmeans"], ranks[1]["kmeans"])


# --- bad input


@pytest.fixture(scope="module")
def casino_model():
    X, lengths, _ = make_casino(5, 40, random_state=0)
    return HiddenMarkovModel(2, emission="categorical", max_iter=3, random_state=0).fit(
        X, lengths=lengths
    )


def test_bad_lengths_and_symbols_are_named(casino_model):
    X, lengths, _ = make_casino(2, 10, random_state=0)
    cases = [
        ((X, [10, 11]), "lengths sum to 21"),
        ((X, [20, 0]), "lengths must be positive"),
        ((X, [-5, 25]), "lengths must be positive"),
        ((X, [[10, 10]]), "lengths must be a non-empty 1-D"),
        ((X, [10.5, 9.5]), "whole numbers"),
        ((X + 1, lengths), "symbol 6, out of range"),
        ((X - 1, lengths), "non-negative integer symbols"),
        ((X + 0.5, lengths), "non-negative integer symbols"),
        ((np.hstack([X, X]), lengths), "features"),
    ]
    for (X_bad, lengths_bad), message in cases:
        with pytest.raises(ValueError, match=message):
            casino_model.log_prob(X_bad, lengths=lengths_bad)
    with pytest.raises(ValueError, match="lengths sum"):
        HiddenMarkovModel(2, emission="categorical").fit(X, lengths=[5, 5])


def test_bad_fit_input_is_named():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(10, 2))
    nan = X.copy()
    nan[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        HiddenMarkovModel(2).fit(nan, lengths=[5, 5])
    with pytest.raises(ValueError, match="fewer than n_components=4"):
        HiddenMarkovModel(4).fit(X[:3])
    with pytest.raises(ValueError, match="covars_init must have shape"):
        HiddenMarkovModel(2, covars_init=np.ones((3, 2))).fit(X)
    with pytest.raises(ValueError, match="transmat_init must be non-negative"):
        HiddenMarkovModel(2, transmat_init=[[0.5, 0.6], [0.5, 0.5]]).fit(X)
    with pytest.raises(ValueError, match="emissionprob_init does not apply"):
        HiddenMarkovModel(2, emissionprob_init=[[1.0], [1.0]]).fit(X)
    with pytest.raises(ValueError, match="n_mix=2 needs emission='gmm'"):
        HiddenMarkovModel(2, n_mix=2).fit(X)
    with pytest.raises(ValueError, match="one column of symbols"):
        HiddenMarkovModel(2, emission="categorical").fit(np.zeros((10, 2), dtype=int))
    with pytest.raises(ValueError, match="emission"):
        HiddenMarkovModel(2, emission="poisson").fit(X)
    with pytest.raises(ValueError, match="length"):
        HiddenMarkovModel(2, max_iter=2).fit(X).sample(2, length=0)
