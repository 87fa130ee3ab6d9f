"""Known answers for LatentDirichletAllocation: the bars topics, scikit-learn's E-step, M-step,
online step and perplexity on the same topics, a bound that never decreases, Dirichlet MLEs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from scipy.special import digamma, gammaln
from sklearn.decomposition import LatentDirichletAllocation as SklearnLDA

import genzoo
from genzoo.data.bars import make_bars
from genzoo.mixture import LatentDirichletAllocation, _lda_estep
from genzoo.mixture._lda_estep import Topics, fit_doc_topics, sum_chunks
from genzoo.mixture._lda_math import (
    Documents,
    asymmetric_dirichlet_mle,
    inverse_digamma,
    symmetric_dirichlet_mle,
)

K = 10


def hellinger(P, Q):
    """Hellinger distance between every row of P and every row of Q, (len(P), len(Q))."""
    return np.sqrt(0.5 * ((np.sqrt(P)[:, None] - np.sqrt(Q)[None]) ** 2).sum(-1))


@pytest.fixture(scope="module")
def bars():
    X, topics = make_bars(500, random_state=0)
    X_test, _ = make_bars(100, random_state=1)
    return X, X_test, topics


@pytest.fixture(scope="module")
def batch_fit(bars):
    X, _, _ = bars
    # n_init: variational Bayes has local optima on bars (a topic made of two half bars);
    # the restart with the highest bound is the one with the bars
    model = LatentDirichletAllocation(
        K, doc_topic_prior=1.0, max_iter=120, n_init=3, random_state=0, device="cpu"
    )
    return model.fit(X)


def _sklearn_with(model: LatentDirichletAllocation, **params) -> SklearnLDA:
    """A scikit-learn LDA holding the same topics and priors as `model`."""
    sk = SklearnLDA(model.n_components, doc_topic_prior=model.doc_topic_prior_,
                    topic_word_prior=model.topic_word_prior_, **params)  # fmt: skip
    sk._init_latent_vars(model.n_features_in_)
    sk.components_ = model.components_.copy()
    sk.exp_dirichlet_component_ = model.exp_dirichlet_component_.copy()
    return sk


# --- topics recovered


def test_batch_recovers_every_bar(batch_fit, bars):
    _, _, topics = bars
    assert hellinger(topics, batch_fit.topic_word_).min(1).max() < 0.1


def test_batch_bound_never_decreases(batch_fit):
    bound = np.array(batch_fit.bound_)
    assert len(bound) == batch_fit.n_iter_ == 120
    assert (np.diff(bound) >= -1e-10 * np.abs(bound[1:])).all()


def test_gibbs_recovers_every_bar(bars):
    X, _, topics = bars
    # eta = 0.01: with the default 0.1 the collapsed posterior itself puts ~1% of each topic on
    # words off its bar, which alone makes a Hellinger distance near 0.1
    model = LatentDirichletAllocation(
        K, learning_method="gibbs", doc_topic_prior=1.0, topic_word_prior=0.01, max_iter=150,
        random_state=0, device="cpu",
    ).fit(X)  # fmt: skip
    assert hellinger(topics, model.topic_word_).min(1).max() < 0.1
    assert model.n_iter_ == 150 and model.bound_ == []


def test_online_with_one_minibatch_and_full_steps_is_batch(bars):
    X, _, _ = bars
    common = dict(max_iter=4, random_state=0, device="cpu")
    batch = LatentDirichletAllocation(K, **common).fit(X)
    online = LatentDirichletAllocation(
        K, learning_method="online", batch_size=len(X), learning_decay=0.0, **common
    ).fit(X)
    np.testing.assert_allclose(online.components_, batch.components_, rtol=1e-10)
    assert online.n_batch_iter_ == 4


def test_online_improves_the_held_out_perplexity(bars):
    X, X_test, _ = bars
    model = LatentDirichletAllocation(
        K, learning_method="online", batch_size=50, learning_offset=1.0, learning_decay=0.5,
        doc_topic_prior=1.0, max_iter=1, random_state=0, device="cpu",
    )  # fmt: skip
    first = model.fit(X).perplexity(X_test)
    later = model.set_params(max_iter=10).fit(X).perplexity(X_test)
    assert later < first and model.n_batch_iter_ == 10 * 10


# --- the same numbers as scikit-learn on the same topics


def test_transform_and_perplexity_equal_sklearn(batch_fit, bars):
    _, X_test, _ = bars
    sk = _sklearn_with(batch_fit)
    # scikit-learn's E-step also starts from gamma = 1 in transform; its digamma is a series
    # accurate to about 1e-9, which bounds the agreement
    np.testing.assert_allclose(batch_fit.transform(X_test), sk.transform(X_test), atol=1e-7)
    assert batch_fit.perplexity(X_test) == pytest.approx(sk.perplexity(X_test), rel=1e-7)


def test_log_prob_and_perplexity_share_one_bound(batch_fit, bars):
    _, X_test, _ = bars
    lam, eta = batch_fit.components_, batch_fit.topic_word_prior_
    elog = digamma(lam) - digamma(lam.sum(1, keepdims=True))
    topics_term = (
        ((eta - lam) * elog).sum() + (gammaln(lam) - gammaln(eta)).sum()
        + (gammaln(lam.shape[1] * eta) - gammaln(lam.sum(1))).sum()
    )  # fmt: skip
    coefficient = gammaln(X_test.sum(1) + 1) - gammaln(X_test + 1).sum(1)
    bound = batch_fit.log_prob(X_test).sum() - coefficient.sum() + topics_term
    assert math.exp(-bound / X_test.sum()) == pytest.approx(batch_fit.perplexity(X_test), 1e-10)


def test_batch_e_and_m_step_equal_sklearn(batch_fit, bars):
    X, _, _ = bars
    sk = _sklearn_with(batch_fit, mean_change_tol=1e-3, max_doc_update_iter=100)
    _, sk_stats = sk._e_step(X, cal_sstats=True, random_init=False)  # gamma from 1, as ours
    docs = Documents.from_csr(scipy.sparse.csr_matrix(X), "cpu", torch.float64)
    chunks = docs.chunks(K)
    alpha = torch.full((K,), batch_fit.doc_topic_prior_, dtype=torch.float64)
    stats, _ = sum_chunks(chunks, torch.as_tensor(batch_fit.components_), alpha,
                          [None] * len(chunks), max_iter=100, tol=1e-3)  # fmt: skip
    eta = batch_fit.topic_word_prior_
    np.testing.assert_allclose(eta + stats["topic_word"].numpy(), eta + sk_stats, rtol=1e-7)


def test_online_step_equals_sklearn(batch_fit, bars):
    _, X_test, _ = bars
    ours = genzoo.mixture.LatentDirichletAllocation(
        K, doc_topic_prior=1.0, learning_method="online", batch_size=50, total_samples=1000.0,
        mean_change_tol=1e-12, max_doc_update_iter=1000, device="cpu",
    )  # fmt: skip
    ours._load_fitted(batch_fit._fitted_state())
    sk = _sklearn_with(batch_fit, learning_method="online", batch_size=50, total_samples=1000,
                       mean_change_tol=1e-12, max_doc_update_iter=1000, random_state=0)  # fmt: skip
    sk.n_batch_iter_ = ours.n_batch_iter_ + 1  # scikit-learn counts from 1
    ours.partial_fit(X_test)
    sk.partial_fit(X_test)  # two minibatches of 50; its E-step starts at random, ours at 1
    np.testing.assert_allclose(ours.components_, sk.components_, rtol=1e-7)
    assert ours.n_batch_iter_ == batch_fit.n_batch_iter_ + 2


def _gamma_one_document_at_a_time(X, lam, alpha, max_iter, tol):
    """scikit-learn's per-document E-step, written out in numpy: each gamma (n, K) from 1."""
    beta = np.exp(digamma(lam) - digamma(lam.sum(1, keepdims=True)))
    X = scipy.sparse.csr_matrix(X)
    gamma = np.ones((X.shape[0], lam.shape[0]))
    for d in range(X.shape[0]):
        words, counts = (
            X.indices[X.indptr[d] : X.indptr[d + 1]],
            X.data[X.indptr[d] : X.indptr[d + 1]],
        )
        g = gamma[d]
        for _ in range(max_iter):
            exp_theta = np.exp(digamma(g) - digamma(g.sum()))
            phinorm = exp_theta @ beta[:, words] + 1e-300
            new = alpha + exp_theta * (beta[:, words] @ (counts / phinorm))
            change, g = np.abs(new - g).mean(), new
            if change < tol:
                break
        gamma[d] = g
    return gamma


@pytest.mark.parametrize("block_elements", [64, 2**17])
@pytest.mark.parametrize("max_iter, tol", [(3, 1e-3), (100, 1e-3), (100, 0.1)])
def test_blocked_e_step_equals_one_document_at_a_time(
    batch_fit, monkeypatch, block_elements, max_iter, tol
):
    # documents of many lengths, one empty: blocks of 64 elements force the regrouping of
    # survivors, the dropping of converged rows and rows running out of iterations mid-block
    rng = np.random.default_rng(0)
    X = rng.poisson(rng.uniform(0.05, 3.0, size=(120, 1)), size=(120, 25)).astype(float)
    X[7] = 0
    lam, alpha = batch_fit.components_, np.full(K, 0.3)
    monkeypatch.setitem(_lda_estep.BLOCK_ELEMENTS, "cpu", block_elements)
    docs = Documents.from_csr(scipy.sparse.csr_matrix(X), "cpu", torch.float64)
    topics = Topics.from_lambda(torch.as_tensor(lam))
    gamma = torch.zeros(len(docs), K, dtype=torch.float64)
    for chunk in docs.chunks(K):
        start = torch.ones(len(chunk), K, dtype=torch.float64)
        gamma[chunk.rows] = fit_doc_topics(
            chunk, topics, torch.as_tensor(alpha), start, max_iter=max_iter, tol=tol
        )
    expected = _gamma_one_document_at_a_time(X, lam, alpha, max_iter, tol)
    np.testing.assert_allclose(gamma.numpy(), expected, rtol=1e-9)


# --- input


def test_sparse_input_equals_dense(bars):
    X, X_test, _ = bars
    params = dict(max_iter=5, random_state=0, device="cpu")
    dense = LatentDirichletAllocation(K, **params).fit(X)
    sparse = LatentDirichletAllocation(K, **params).fit(scipy.sparse.csr_matrix(X))
    np.testing.assert_array_equal(sparse.components_, dense.components_)
    np.testing.assert_array_equal(
        dense.log_prob(scipy.sparse.coo_matrix(X_test)), dense.log_prob(X_test)
    )


@pytest.mark.parametrize(
    "case, message",
    [
        ("negative", "negative"),
        ("fractional", "non-integer"),
        ("sparse_nan", "NaN"),
        ("no_documents", "empty"),
        ("no_words", "no words"),
    ],
)
def test_bad_counts_are_refused_by_name(case, message):
    X, _ = make_bars(20, random_state=0)
    bad = {
        "negative": X - (X.max() + 1) * (X == X.max()),
        "fractional": X + 0.5 * (X == X.max()),
        "sparse_nan": scipy.sparse.csr_matrix(np.where(X == X.max(), np.nan, X)),
        "no_documents": scipy.sparse.csr_matrix((0, 25)),
        "no_words": np.zeros((4, 25)),
    }[case]
    with pytest.raises(ValueError, match=message):
        LatentDirichletAllocation(3, device="cpu").fit(bad)


def test_wrong_number_of_words_and_bad_priors(batch_fit):
    with pytest.raises(ValueError, match="X has 24 features"):
        batch_fit.transform(scipy.sparse.csr_matrix(np.ones((2, 24))))
    with pytest.raises(ValueError, match="features"):
        batch_fit.perplexity(np.ones((2, 26)))
    X, _ = make_bars(10, random_state=0)
    with pytest.raises(ValueError, match="doc_topic_prior"):
        LatentDirichletAllocation(3, doc_topic_prior=[1.0, 2.0], device="cpu").fit(X)
    with pytest.raises(ValueError, match="learning_method"):
        LatentDirichletAllocation(3, learning_method="gibbs", device="cpu").partial_fit(X)
    with pytest.raises(ValueError, match="vocabulary"):
        batch_fit.top_words(3, vocabulary=["a", "b"])


# --- sampling, words, saving


def test_samples_are_documents_of_the_asked_length(batch_fit):
    X = batch_fit.sample(400, doc_length=60, random_state=3)
    assert X.shape == (400, 25) and X.dtype == np.float64
    assert (X.sum(1) == 60).all() and (X == np.round(X)).all()
    np.testing.assert_array_equal(X, batch_fit.sample(400, doc_length=60, random_state=3))
    assert not np.array_equal(X, batch_fit.sample(400, doc_length=60, random_state=4))
    assert (batch_fit.sample(3).sum(1) == round(batch_fit.mean_doc_length_)).all()
    # E[x] = doc_length * E[theta] @ topic_word, with E[theta] = alpha / sum(alpha) uniform
    expected = 60 * batch_fit.topic_word_.mean(0)
    se = np.sqrt(60 * 60 * 0.05 / 400)  # a generous per-word standard error of the mean
    np.testing.assert_allclose(X.mean(0), expected, atol=5 * se)
    with pytest.raises(ValueError, match="doc_length"):
        batch_fit.sample(2, doc_length=0)


def test_top_words_are_the_bars(batch_fit, bars):
    _, _, topics = bars
    words = batch_fit.top_words(5)
    truth = {frozenset(np.flatnonzero(t)) for t in topics}
    assert {frozenset(w) for w in words} == truth
    names = [f"pixel{i}" for i in range(25)]
    assert batch_fit.top_words(2, vocabulary=names)[0][0] == names[words[0][0]]


def test_save_load_and_continue_online(batch_fit, bars, tmp_path):
    _, X_test, _ = bars
    batch_fit.save(tmp_path / "lda")
    loaded = genzoo.load(tmp_path / "lda")
    np.testing.assert_array_equal(loaded.log_prob(X_test), batch_fit.log_prob(X_test))
    np.testing.assert_array_equal(
        loaded.sample(5, random_state=1), batch_fit.sample(5, random_state=1)
    )
    assert loaded.bound_ == batch_fit.bound_
    loaded.partial_fit(X_test)
    assert loaded.n_docs_seen_ == batch_fit.n_docs_seen_ + len(X_test)


# --- priors


def test_dirichlet_mles_recover_the_prior():
    rng = np.random.default_rng(0)
    assert inverse_digamma(digamma(np.array([0.01, 0.7, 30.0]))) == pytest.approx(
        [0.01, 0.7, 30.0], rel=1e-10
    )
    true = np.array([0.3, 1.0, 2.5, 0.8])
    mean_log = np.log(rng.dirichlet(true, size=20000)).mean(0)
    np.testing.assert_allclose(asymmetric_dirichlet_mle(np.ones(4), mean_log), true, rtol=0.05)
    mean_log_sum = np.log(rng.dirichlet(np.full(6, 0.4), size=20000)).sum(1).mean()
    assert symmetric_dirichlet_mle(1.0, mean_log_sum, 6) == pytest.approx(0.4, rel=0.05)


def test_learned_priors_raise_the_bound(bars):
    X, _, _ = bars
    params = dict(max_iter=60, doc_topic_prior=1.0, random_state=0, device="cpu")
    fixed = LatentDirichletAllocation(K, **params).fit(X)
    learned = LatentDirichletAllocation(K, learn_priors=True, **params).fit(X)
    assert learned.bound_[-1] > fixed.bound_[-1]
    assert (np.diff(learned.bound_) >= -1e-10 * np.abs(learned.bound_[1:])).all()
    # bars are sparse topics drawn with alpha = 1 (variational estimates are biased, though)
    assert learned.topic_word_prior_ < 0.1 and 0.5 < learned.doc_topic_prior_ < 2
    params.update(doc_topic_prior=np.full(K, 0.5), max_iter=12)
    asymmetric = LatentDirichletAllocation(K, learn_priors=True, **params).fit(X)
    assert asymmetric.doc_topic_prior_.shape == (K,)


# --- sums of statistics, over chunks and processes


def test_statistics_of_two_halves_add_up_to_the_whole(batch_fit, bars):
    X, _, _ = bars
    lam = torch.as_tensor(batch_fit.components_)
    alpha = torch.full((K,), 1.0, dtype=torch.float64)

    def stats(rows):
        docs = Documents.from_csr(scipy.sparse.csr_matrix(X[rows]), "cpu", torch.float64)
        chunks = docs.chunks(K)
        return sum_chunks(chunks, lam, alpha, [None] * len(chunks), max_iter=100, tol=1e-3)[0]

    whole, first, second = stats(slice(None)), stats(slice(0, 200)), stats(slice(200, None))
    for key in whole:
        torch.testing.assert_close(first[key] + second[key], whole[key], rtol=1e-10, atol=1e-8)


def _fit_shard(rank: int, world: int, init_file: str, out: str):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    torch.set_num_threads(1)
    X, _ = make_bars(200, random_state=0)
    shard = np.array_split(X, world)[rank]
    model = LatentDirichletAllocation(K, max_iter=5, random_state=0, device="cpu").fit(shard)
    np.savez(f"{out}/rank{rank}.npz", components=model.components_, bound=model.bound_)
    dist.barrier()
    dist.destroy_process_group()


def test_two_processes_each_with_half_the_documents_equal_one_process(tmp_path):
    mp.spawn(_fit_shard, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    X, _ = make_bars(200, random_state=0)
    single = LatentDirichletAllocation(K, max_iter=5, random_state=0, device="cpu").fit(X)
    for rank in range(2):
        result = np.load(tmp_path / f"rank{rank}.npz")
        np.testing.assert_allclose(result["components"], single.components_, rtol=1e-9)
        np.testing.assert_allclose(result["bound"], single.bound_, rtol=1e-10)
