"""LatentDirichletAllocation against scikit-learn (and gensim, when installed), side by side.

A corpus drawn from a known LDA (20 topics over 5,000 words, topic-word prior 0.05, document
prior 0.2, Poisson(150) words per document): 2,000 training and 500 held-out documents. Every
library fits 20 topics with the same priors (1 / 20) and the same number of passes over the
training documents, batch and online (minibatches of 128), in one process on the same cores.
Prints each time, its ratio to scikit-learn's, and the held-out perplexity, which for every
library is scikit-learn's `perplexity` with that library's topics (lambda) plugged in.

`--sweep` instead times genzoo against scikit-learn (its default n_jobs) on three corpora from
200 documents x 500 words x 10 topics to 2,000 x 5,000 x 20 (200x the documents x words x
topics), batch and online, 10 passes each; times and held-out perplexities are means over three
random starts (`--repeats` takes the best of that many runs of each start).

    python benchmarks/lda_vs_sklearn.py [--passes 20] [--repeats 1] [--json out.json] [--sweep]
"""

from __future__ import annotations

import json
import platform
import warnings
from functools import partial

import numpy as np
import scipy.sparse
import torch
from _timing import (  # benchmarks/ is on the path when run as a script
    benchmark_parser,
    report_sweep,
    timed,
)
from sklearn.decomposition import LatentDirichletAllocation as SklearnLDA

from genzoo.mixture import LatentDirichletAllocation

N_TRAIN, N_TEST, V, K = 2_000, 500, 5_000, 20
TRUE_ETA, TRUE_ALPHA, MEAN_LENGTH = 0.05, 0.2, 150
PRIOR = 1.0 / K
BATCH_SIZE = 128
# (training documents, words, topics, mean document length): documents x words x topics spans
# 200x; 10 passes each. Held-out documents are a quarter as many.
SWEEP = ((200, 500, 10, 50), (1_000, 2_000, 20, 100), (2_000, 5_000, 20, 150))
SWEEP_PASSES = 10
SWEEP_SEEDS = 3


def make_corpus(
    seed=0, n_train=N_TRAIN, n_test=N_TEST, n_words=V, n_topics=K, mean_length=MEAN_LENGTH
):
    """Documents from LDA with random topics: sparse (n, V) float64 counts, train and test."""
    rng = np.random.default_rng(seed)
    topics = rng.dirichlet(np.full(n_words, TRUE_ETA), size=n_topics)

    def draw(n):
        theta = rng.dirichlet(np.full(n_topics, TRUE_ALPHA), size=n)
        lengths = np.maximum(rng.poisson(mean_length, size=n), 1)
        probs = theta @ topics
        probs /= probs.sum(1, keepdims=True)
        rows = [rng.multinomial(lengths[d], probs[d]) for d in range(n)]
        return scipy.sparse.csr_matrix(np.array(rows, dtype=np.float64))

    return draw(n_train), draw(n_test)


def shared_params(method: str, passes: int, n_topics: int = K, seed: int = 0) -> dict:
    """The hyper-parameters both libraries get, each at scikit-learn's default where unset."""
    return dict(
        doc_topic_prior=1.0 / n_topics,
        topic_word_prior=1.0 / n_topics,
        learning_method=method,
        max_iter=passes,
        batch_size=BATCH_SIZE,
        learning_offset=10.0,
        learning_decay=0.7,
        evaluate_every=-1,
        max_doc_update_iter=100,
        mean_change_tol=1e-3,
        random_state=seed,
    )


def run_genzoo(X, method, passes, dtype="float64", n_topics=K, seed=0):
    model = LatentDirichletAllocation(
        n_topics,
        **shared_params(method, passes, n_topics, seed),
        total_samples=float(X.shape[0]),
        device="cpu",
        dtype=dtype,
    )
    return model.fit(X)


def run_sklearn(X, method, passes, n_jobs=None, n_topics=K, seed=0):
    model = SklearnLDA(n_topics, **shared_params(method, passes, n_topics, seed), n_jobs=n_jobs)
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
    k = components.shape[0]
    judge = SklearnLDA(k, doc_topic_prior=1.0 / k, topic_word_prior=1.0 / k, max_iter=1)
    judge.fit(X_train[:10])  # any fit, to set the fitted attributes; replaced next
    judge.components_ = np.asarray(components, dtype=np.float64)
    judge.exp_dirichlet_component_ = np.exp(_dirichlet_expectation(judge.components_))
    return float(judge.perplexity(X_test))


def _dirichlet_expectation(param):
    from scipy.special import digamma

    return digamma(param) - digamma(param.sum(1, keepdims=True))


def sweep_row(X, X_test, n_topics: int, method: str, repeats: int) -> dict:
    """Both libraries' seconds and held-out perplexities, each a mean over `SWEEP_SEEDS` random
    starts (one start's perplexity varies by about 10% between local optima); each start's
    seconds are the best of `repeats` runs, the two libraries interleaved."""
    seconds = {"genzoo": [], "sklearn": []}
    perplexity = {"genzoo": [], "sklearn": []}
    runs = {"genzoo": run_genzoo, "sklearn": run_sklearn}
    for seed in range(SWEEP_SEEDS):
        best, models = {"genzoo": np.inf, "sklearn": np.inf}, {}
        for _ in range(repeats):
            for name, run in runs.items():
                fit = partial(run, X, method, SWEEP_PASSES, n_topics=n_topics, seed=seed)
                t, models[name] = timed(fit, 1)
                best[name] = min(best[name], t)
        for name, model in models.items():
            seconds[name].append(best[name])
            perplexity[name].append(held_out_perplexity(model.components_, X_test, X))
    ours, theirs = np.mean(perplexity["genzoo"]), np.mean(perplexity["sklearn"])
    return {
        "workload": f"{X.shape[0]}x{X.shape[1]}x{n_topics} {method}",
        "genzoo_s": float(np.mean(seconds["genzoo"])),
        "peer_s": float(np.mean(seconds["sklearn"])),
        "perplexity": round(float(ours), 1),
        "sklearn_perp": round(float(theirs), 1),
        "perp_vs_sk": f"{ours / theirs - 1:+.2%}",
    }


def sweep(repeats: int, json_path: str | None) -> None:
    """genzoo against scikit-learn over `SWEEP`, batch and online."""
    rows = []
    for n, n_words, n_topics, length in SWEEP:
        X, X_test = make_corpus(0, n, n // 4, n_words, n_topics, length)
        rows += [sweep_row(X, X_test, n_topics, m, repeats) for m in ("batch", "online")]
    title = (
        f"LDA sweep: documents x words x topics, {SWEEP_PASSES} passes, float64, "
        f"{torch.get_num_threads()} threads; held-out perplexity (lower is better)"
    )
    report_sweep(title, rows, "sklearn", json_path)


def main():
    parser = benchmark_parser(__doc__)
    parser.add_argument("--passes", type=int, default=20)
    args = parser.parse_args()
    warnings.simplefilter("ignore", DeprecationWarning)
    run_genzoo(make_corpus(1, 200, 1, 500, 10, 50)[0], "batch", 2, n_topics=10)  # warm-up
    if args.sweep:
        sweep(args.repeats, args.json)
        return
    X, X_test = make_corpus()

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
