"""LatentDirichletAllocation against scikit-learn (and gensim, when installed), side by side.

A corpus drawn from a known LDA (20 topics over 5,000 words, topic-word prior 0.05, document
prior 0.2, Poisson(150) words per document): 2,000 training and 500 held-out documents. Every
library fits 20 topics with the same priors (1 / 20) and the same number of passes over the
training documents, batch and online (minibatches of 128), in one process on the same cores.
Prints each time, its ratio to scikit-learn's, and the held-out perplexity, which for every
library is scikit-learn's `perplexity` with that library's topics (lambda) plugged in.

    python benchmarks/lda_vs_sklearn.py [--passes 20] [--repeats 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import warnings

import numpy as np
import scipy.sparse
import torch
from _timing import timed  # benchmarks/ is on the path when run as a script
from sklearn.decomposition import LatentDirichletAllocation as SklearnLDA

from genzoo.mixture import LatentDirichletAllocation

N_TRAIN, N_TEST, V, K = 2_000, 500, 5_000, 20
TRUE_ETA, TRUE_ALPHA, MEAN_LENGTH = 0.05, 0.2, 150
PRIOR = 1.0 / K
BATCH_SIZE = 128


def make_corpus(seed: int = 0):
    """Documents from LDA with random topics: sparse (n, V) float64 counts, train and test."""
    rng = np.random.default_rng(seed)
    topics = rng.dirichlet(np.full(V, TRUE_ETA), size=K)

    def draw(n):
        theta = rng.dirichlet(np.full(K, TRUE_ALPHA), size=n)
        lengths = np.maximum(rng.poisson(MEAN_LENGTH, size=n), 1)
        probs = theta @ topics
        probs /= probs.sum(1, keepdims=True)
        rows = [rng.multinomial(lengths[d], probs[d]) for d in range(n)]
        return scipy.sparse.csr_matrix(np.array(rows, dtype=np.float64))

    return draw(N_TRAIN), draw(N_TEST)


def run_genzoo(X, method, passes, dtype="float64"):
    model = LatentDirichletAllocation(
        K, doc_topic_prior=PRIOR, topic_word_prior=PRIOR, learning_method=method,
        max_iter=passes, batch_size=BATCH_SIZE, total_samples=float(X.shape[0]),
        random_state=0, device="cpu", dtype=dtype,
    )  # fmt: skip
    return model.fit(X)


def run_sklearn(X, method, passes, n_jobs=None):
    model = SklearnLDA(
        K, doc_topic_prior=PRIOR, topic_word_prior=PRIOR, learning_method=method,
        max_iter=passes, batch_size=BATCH_SIZE, random_state=0, n_jobs=n_jobs,
    )  # fmt: skip
    return model.fit(X)


def run_gensim(X, method, passes):
    from gensim.matutils import Sparse2Corpus
    from gensim.models import LdaModel

    corpus = Sparse2Corpus(X, documents_columns=False)
    batch = method == "batch"
    return LdaModel(
        corpus, num_topics=K, id2word={i: str(i) for i in range(V)}, alpha=PRIOR, eta=PRIOR,
        passes=passes, chunksize=X.shape[0] if batch else BATCH_SIZE,
        update_every=0 if batch else 1, iterations=100, gamma_threshold=1e-3,
        random_state=0, eval_every=None,
    )  # fmt: skip


def held_out_perplexity(components: np.ndarray, X_test, X_train) -> float:
    """scikit-learn's perplexity of X_test under topics `components` (lambda, (K, V))."""
    judge = SklearnLDA(K, doc_topic_prior=PRIOR, topic_word_prior=PRIOR, max_iter=1)
    judge.fit(X_train[:10])  # any fit, to set the fitted attributes; replaced next
    judge.components_ = np.asarray(components, dtype=np.float64)
    judge.exp_dirichlet_component_ = np.exp(_dirichlet_expectation(judge.components_))
    return float(judge.perplexity(X_test))


def _dirichlet_expectation(param):
    from scipy.special import digamma

    return digamma(param) - digamma(param.sum(1, keepdims=True))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    warnings.simplefilter("ignore", DeprecationWarning)
    X, X_test = make_corpus()
    run_genzoo(X[:200], "batch", 2)  # warm-up: first-call overheads in torch

    rows = []
    for method in ("batch", "online"):
        t_sk, sk = timed(lambda m=method: run_sklearn(X, m, args.passes), args.repeats)
        rows.append(("scikit-learn", method, "n_jobs=1", t_sk, sk.components_, t_sk))
        t, sk2 = timed(lambda m=method: run_sklearn(X, m, args.passes, n_jobs=2), args.repeats)
        rows.append(("scikit-learn", method, "n_jobs=2", t, sk2.components_, t_sk))
        for dtype in ("float64", "float32"):
            t, gz = timed(lambda m=method, d=dtype: run_genzoo(X, m, args.passes, d), args.repeats)
            rows.append(("genzoo", method, dtype, t, gz.components_, t_sk))
        try:
            t, gs = timed(lambda m=method: run_gensim(X, m, args.passes), args.repeats)
            rows.append(("gensim", method, "float32", t, gs.state.get_lambda(), t_sk))
        except ImportError:
            print("gensim is not installed: pip install gensim")

    print(
        f"LDA: {N_TRAIN} documents x {V} words ({X.nnz} nonzeros), K={K}, {args.passes} "
        f"passes, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}"
    )
    print(f"{'library':<14}{'method':<8}{'variant':<10}{'seconds':>9}{'x sklearn':>11}"
          f"{'held-out perplexity':>21}")  # fmt: skip
    results = []
    for name, method, variant, t, components, t_sk in rows:
        perplexity = held_out_perplexity(components, X_test, X)
        print(f"{name:<14}{method:<8}{variant:<10}{t:>9.2f}{t / t_sk:>11.3f}{perplexity:>21.2f}")
        results.append(dict(library=name, method=method, variant=variant, seconds=t,
                            ratio=t / t_sk, held_out_perplexity=perplexity))  # fmt: skip
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
