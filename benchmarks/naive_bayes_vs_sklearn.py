"""The four naive Bayes models against scikit-learn's, side by side.

200,000 x 50 rows in 10 classes, drawn to suit each model (Gaussian classes, Poisson counts,
binary pixels, category codes); each library fits on them and predicts them, in one process on
the same cores. Prints the best of `--repeats` times for fit and predict, the ratio to
scikit-learn, whether the predictions are identical and the largest |predict_proba| difference.

`--sweep` times fit and predict of every model at 1,000, 10,000 and 100,000 rows (a hundred
times the work from the smallest to the largest), interleaving genzoo and scikit-learn and
keeping the best of the repeats, and prints one table for fit and one for predict.

    python benchmarks/naive_bayes_vs_sklearn.py [--repeats 3] [--json out.json] [--sweep]
"""

from __future__ import annotations

import json
import platform
import time

import numpy as np
import torch
from _timing import benchmark_parser, report_sweep, timed  # benchmarks/ is on the path
from sklearn import naive_bayes as sk

from genzoo.bayesnet.naive_bayes import (
    BernoulliNaiveBayes,
    CategoricalNaiveBayes,
    GaussianNaiveBayes,
    MultinomialNaiveBayes,
)

N, D, K, N_CATEGORIES = 200_000, 50, 10, 8
SWEEP_ROWS = (1_000, 10_000, 100_000)


def make_data(kind: str, seed: int = 0, n: int = N):
    """n rows (X, y) of the given kind: 'gaussian', 'counts', 'binary' or 'categories'."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, K, n)
    if kind == "gaussian":
        means, scales = rng.normal(scale=0.5, size=(K, D)), rng.uniform(0.5, 2.0, (K, D))
        return means[y] + scales[y] * rng.normal(size=(n, D)), y
    if kind == "counts":
        rates = rng.gamma(2.0, 1.5, (K, D))
        return rng.poisson(rates[y]).astype(np.float64), y
    if kind == "binary":
        probs = rng.beta(1.0, 2.0, (K, D))
        return (rng.random((n, D)) < probs[y]).astype(np.float64), y
    probs = rng.dirichlet(np.ones(N_CATEGORIES), (K, D))  # (K, D, categories)
    cumulative = probs.cumsum(2)[y]  # (n, D, categories)
    codes = (rng.random((n, D, 1)) > cumulative).sum(2)
    return np.minimum(codes, N_CATEGORIES - 1).astype(np.float64), y


MODELS = {
    "gaussian": (GaussianNaiveBayes, sk.GaussianNB),
    "counts": (MultinomialNaiveBayes, sk.MultinomialNB),
    "binary": (BernoulliNaiveBayes, sk.BernoulliNB),
    "categories": (CategoricalNaiveBayes, sk.CategoricalNB),
}


def compare(kind: str, repeats: int) -> dict:
    ours_cls, theirs_cls = MODELS[kind]
    X, y = make_data(kind)
    X_sk = X.astype(np.int64) if kind == "categories" else X
    ours_cls(device="cpu").fit(X[:1000], y[:1000]).predict(X[:1000])  # warm-up
    t_fit, ours = timed(lambda: ours_cls(device="cpu").fit(X, y), repeats)
    t_fit_sk, theirs = timed(lambda: theirs_cls().fit(X_sk, y), repeats)
    t_pred, pred = timed(lambda: ours.predict(X), repeats)
    t_pred_sk, pred_sk = timed(lambda: theirs.predict(X_sk), repeats)
    proba_diff = np.abs(ours.predict_proba(X) - theirs.predict_proba(X_sk)).max()
    return {
        "model": ours_cls.__name__,
        "fit_s": t_fit,
        "fit_sklearn_s": t_fit_sk,
        "predict_s": t_pred,
        "predict_sklearn_s": t_pred_sk,
        "identical_predictions": bool(np.array_equal(pred, pred_sk)),
        "max_proba_difference": float(proba_diff),
    }


def interleaved(runs: dict, repeats: int) -> dict:
    """Best seconds of each callable over `repeats` rounds, the callables taking turns."""
    best = dict.fromkeys(runs, np.inf)
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def sweep_rows(kind: str, n: int, repeats: int) -> tuple[dict, dict]:
    """The fit row and the predict row of one model at n rows."""
    ours_cls, theirs_cls = MODELS[kind]
    X, y = make_data(kind, n=n)
    X_sk = X.astype(np.int64) if kind == "categories" else X
    ours, theirs = ours_cls(device="cpu").fit(X, y), theirs_cls().fit(X_sk, y)
    ours.predict(X)  # warm-up
    # small workloads take milliseconds: more rounds give a stable best
    rounds = max(repeats, min(50, 200_000 // n))
    best = interleaved(
        {
            "fit": lambda: ours_cls(device="cpu").fit(X, y),
            "fit_sk": lambda: theirs_cls().fit(X_sk, y),
            "predict": lambda: ours.predict(X),
            "predict_sk": lambda: theirs.predict(X_sk),
        },
        rounds,
    )
    same = bool(np.array_equal(ours.predict(X), theirs.predict(X_sk)))
    proba = float(np.abs(ours.predict_proba(X) - theirs.predict_proba(X_sk)).max())
    label = f"{ours_cls.__name__} {n:,} x {D}"
    agreement = {"same": "yes" if same else "NO", "max |dp|": proba}
    fit = {"workload": label, "genzoo_s": best["fit"], "peer_s": best["fit_sk"]}
    predict = {"workload": label, "genzoo_s": best["predict"], "peer_s": best["predict_sk"]}
    return fit | agreement, predict | agreement


def sweep(repeats: int, json_path: str | None) -> None:
    rows = [sweep_rows(kind, n, repeats) for kind in MODELS for n in SWEEP_ROWS]
    where = f"{K} classes, {torch.get_num_threads()} threads, best of >= {repeats}"
    fits = report_sweep(f"naive Bayes fit ({where})", [r[0] for r in rows], "sklearn")
    print()
    predicts = report_sweep(f"naive Bayes predict ({where})", [r[1] for r in rows], "sklearn")
    if json_path:
        with open(json_path, "w") as f:
            json.dump({"fit": fits, "predict": predicts}, f, indent=2)


def main():
    parser = benchmark_parser(__doc__)
    parser.set_defaults(repeats=3)
    args = parser.parse_args()
    if args.sweep:
        sweep(args.repeats, args.json)
        return
    rows = [compare(kind, args.repeats) for kind in MODELS]
    print(
        f"naive Bayes: {N} x {D}, {K} classes, best of {args.repeats}, "
        f"{torch.get_num_threads()} threads, {platform.processor() or platform.machine()}"
    )
    header = f"{'model':<24}{'fit s':>8}{'sklearn':>9}{'ratio':>7}"
    print(header + f"{'predict s':>11}{'sklearn':>9}{'ratio':>7}{'same':>6}{'max |dp|':>10}")
    for r in rows:
        print(
            f"{r['model']:<24}{r['fit_s']:>8.3f}{r['fit_sklearn_s']:>9.3f}"
            f"{r['fit_s'] / r['fit_sklearn_s']:>7.2f}{r['predict_s']:>11.3f}"
            f"{r['predict_sklearn_s']:>9.3f}{r['predict_s'] / r['predict_sklearn_s']:>7.2f}"
            f"{'yes' if r['identical_predictions'] else 'NO':>6}{r['max_proba_difference']:>10.1e}"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
