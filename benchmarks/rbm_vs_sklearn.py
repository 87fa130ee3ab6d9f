"""genzoo's RBM against scikit-learn's BernoulliRBM, side by side in one process.

Binarised 8x8 digits (1437 training rows, 64 pixels), 256 hidden units, 20 epochs of
persistent contrastive divergence (PCD-1), batch 64, the same learning rate, both in float32
(genzoo's default dtype; scikit-learn keeps float32 input in float32). Prints the best time of
each over `--repeats` alternated runs and their ratio: genzoo's default `fit`, which ends with
its estimate of log Z (AIS with adapted temperatures, stopped at a standard error of 0.05
nats), and, apart, its training alone and the AIS part. Then the held-out log-likelihood of
both fitted models in nats per digit. scikit-learn gives no likelihood, so both are scored the
same way: log p(v) = -F(v) - log Z, with log Z from genzoo's AIS on each model's weights at a
standard error of 0.01 nats (same base-rate model, same seed). A 20-component Bernoulli
mixture (exact likelihood) is printed for scale.

`--sweep` times genzoo's default `fit` (log Z included) against scikit-learn's over workloads
from 500 digits with 16 hidden units (log Z exact) to 1,000 MNIST-sized rows (784 pixels, binarised
at 0.5; random binary prototypes with flipped pixels when ../shared/data/mnist is missing)
with 256 hidden units, and prints at each size the ratio, the seconds of genzoo's log Z (AIS or
exact) and its standard error, and the agreement of the two models: held-out mean pseudo-
likelihood and log-likelihood (each log Z by genzoo's default), genzoo minus scikit-learn.

Both run on `--threads` threads (torch's and the BLAS that scikit-learn's numpy calls).

    python benchmarks/rbm_vs_sklearn.py [--repeats 3] [--threads 2] [--lr 0.05] [--json out.json]
                                        [--sweep]
"""

from __future__ import annotations

import json
import platform
import time
import warnings

import numpy as np
import torch
from _timing import benchmark_parser, report_sweep, timed  # benchmarks/ is on the path
from sklearn.neural_network import BernoulliRBM
from threadpoolctl import threadpool_limits

from genzoo import RBM, BernoulliMixture
from genzoo.boltzmann._rbm_math import log_pseudo_likelihood
from genzoo.boltzmann.ais import ais_log_partition, exact_log_partition
from genzoo.data import DatasetNotFound, load

N_HIDDEN, N_EPOCHS, BATCH = 256, 20, 64
# The held-out scores of the default run: a tighter standard error than the fit's own.
SCORE_TOL = 0.01
# (label, data set, training rows, hidden units) of the sweep: from 0.5M to 200M
# rows x pixels x hidden units. 16 hidden units are enumerated (exact log Z), the rest use AIS.
SWEEP = (
    ("digits 500x64, 16 hidden", "digits", 500, 16),
    ("digits 1437x64, 64 hidden", "digits", 1437, 64),
    ("digits 1437x64, 256 hidden", "digits", 1437, 256),
    ("mnist 1000x784, 64 hidden", "mnist", 1000, 64),
    ("mnist 1000x784, 256 hidden", "mnist", 1000, 256),
)
N_TEST = 500


def main():
    parser = benchmark_parser(__doc__)
    parser.set_defaults(repeats=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--lr", type=float, default=0.05, help="learning rate of both")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with threadpool_limits(args.threads):
        if args.sweep:
            sweep(args)
        else:
            run(args)


# --- the two fits and their scores


def fit_sklearn(X, n_hidden: int, lr: float):
    return BernoulliRBM(
        n_components=n_hidden, learning_rate=lr, batch_size=BATCH, n_iter=N_EPOCHS,
        random_state=0,
    ).fit(X.astype(np.float32))  # fmt: skip


def fit_genzoo(X, n_hidden: int, lr: float, **params):
    """genzoo's default fit, log Z included unless `params` say otherwise."""
    return RBM(
        n_components=n_hidden, learning_rate=lr, batch_size=BATCH, n_iter=N_EPOCHS,
        random_state=0, **params,
    ).fit(X)  # fmt: skip


def base_rate(X_train) -> np.ndarray:
    rate = np.clip(X_train.mean(0), 1e-3, 1 - 1e-3)
    return np.log(rate / (1 - rate))


def log_partition(W, b, c, X_train, tol: float = 0.05) -> tuple[float, float]:
    """log Z of any RBM's weights and its standard error, as genzoo's fit computes it."""
    W, b, c = (np.asarray(a, dtype=np.float64) for a in (W, b, c))
    if min(W.shape) <= 20:
        return exact_log_partition(W, b, c), 0.0
    result = ais_log_partition(
        W, b, c, base_visible_bias=base_rate(X_train), tol=tol, random_state=0
    )
    return result.log_z, result.stderr


def held_out_log_likelihood(W, b, c, log_z: float, X_test) -> float:
    """Mean log p(v) = -F(v) - log Z over X_test in nats."""
    W, b, c = (np.asarray(a, dtype=np.float64) for a in (W, b, c))
    # -F(v) = b.v + sum_j softplus(c_j + W_j . v)
    neg_free_energy = X_test @ b + np.logaddexp(0.0, X_test @ W.T + c).sum(1)
    return float(np.mean(neg_free_energy) - log_z)


def sk_weights(sk):
    return sk.components_, sk.intercept_visible_, sk.intercept_hidden_


def gz_weights(gz):
    return gz.components_, gz.intercept_visible_, gz.intercept_hidden_


def mean_pseudo_likelihood(W, b, c, X_test) -> float:
    """Mean over rows of sum_i log p(v_i | v_-i), in float64, 50 rows at a time."""
    W, b, c = (torch.as_tensor(np.asarray(a, dtype=np.float64)) for a in (W, b, c))
    rows = torch.split(torch.as_tensor(X_test, dtype=torch.float64), 50)
    return float(torch.cat([log_pseudo_likelihood(part, W, b, c) for part in rows]).mean())


def alternated(runs: dict, repeats: int, warm_up: bool = True) -> tuple[dict, dict]:
    """Best seconds and last result of each run, alternated so that load hits all alike."""
    best, out = dict.fromkeys(runs, np.inf), {}
    if warm_up:  # imports, allocator, thread pools
        for run in runs.values():
            run()
    for _ in range(repeats):
        for name, run in runs.items():
            seconds, out[name] = timed(run, 1)
            best[name] = min(best[name], seconds)
    return best, out


# --- the default comparison


def run(args):
    data = load("digits_binary")
    X_train, X_test = data.X_train, data.X_test
    best, out = alternated(
        {
            "sklearn": lambda: fit_sklearn(X_train, N_HIDDEN, args.lr),
            "genzoo": lambda: fit_genzoo(X_train, N_HIDDEN, args.lr),
            "training": lambda: fit_genzoo(X_train, N_HIDDEN, args.lr, compute_log_partition=False),
        },
        args.repeats,
    )
    sk, gz = out["sklearn"], out["genzoo"]
    ais_seconds, _ = timed(out["training"].estimate_log_partition, args.repeats)
    scores = {}
    for name, weights in (("sklearn", sk_weights(sk)), ("genzoo", gz_weights(gz))):
        log_z, stderr = log_partition(*weights, X_train, tol=SCORE_TOL)
        scores[name] = held_out_log_likelihood(*weights, log_z, X_test), stderr
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mixture = BernoulliMixture(n_components=20, random_state=0).fit(X_train)
    ll_mix = mixture.score(X_test)
    independent = BernoulliMixture(n_components=1).fit(X_train).score(X_test)
    ratio, train_ratio = best["genzoo"] / best["sklearn"], best["training"] / best["sklearn"]

    print(
        f"RBM on binarised digits ({len(X_train)} x 64), {N_HIDDEN} hidden, {N_EPOCHS} epochs "
        f"PCD-1, batch {BATCH}, lr {args.lr}, float32; best of {args.repeats}, "
        f"{torch.get_num_threads()} torch threads, {platform.machine()}"
    )
    print(f"scikit-learn BernoulliRBM  fit {best['sklearn']:8.3f} s")
    print(f"genzoo RBM, default fit        {best['genzoo']:8.3f} s   ratio {ratio:.2f}x")
    print(f"  of which training            {best['training']:8.3f} s   ratio {train_ratio:.2f}x")
    print(
        f"  and log Z by AIS             {ais_seconds:8.3f} s   ({gz.log_partition_stderr_:.3f} "
        f"nats standard error)"
    )
    print(f"held-out log-likelihood (log Z by AIS to {SCORE_TOL} nats):")
    print(f"  scikit-learn's weights   {scores['sklearn'][0]:8.2f} nats")
    print(f"  genzoo's weights         {scores['genzoo'][0]:8.2f} nats")
    print(f"  genzoo.score             {gz.score(X_test):8.2f} nats   (its own log Z)")
    print(f"  Bernoulli mixture, 20    {ll_mix:8.2f} nats   (exact)")
    print(f"  independent pixels       {independent:8.2f} nats   (exact)")
    if args.json:
        results = {
            "threads": args.threads, "learning_rate": args.lr,
            "sklearn_fit_s": best["sklearn"], "genzoo_fit_s": best["genzoo"], "ratio": ratio,
            "genzoo_training_s": best["training"], "training_ratio": train_ratio,
            "genzoo_ais_s": ais_seconds, "genzoo_log_z_stderr": gz.log_partition_stderr_,
            "heldout_ll_sklearn": scores["sklearn"][0], "heldout_ll_genzoo": scores["genzoo"][0],
            "heldout_ll_bernoulli_mixture_20": ll_mix, "heldout_ll_independent": independent,
        }  # fmt: skip
        with open(args.json, "w") as file:
            json.dump(results, file, indent=2)


# --- the sweep


def sweep_data(name: str, n_rows: int):
    """(X_train, X_test) binary float64 rows of digits, MNIST or an MNIST-sized stand-in."""
    if name == "digits":
        data = load("digits_binary")
        return data.X_train[:n_rows], data.X_test
    try:
        data = load("mnist")
        X = np.concatenate([data.X_train, data.X_test]).reshape(-1, 784)
        X = (X > 0.5 * X.max()).astype(np.float64)
    except DatasetNotFound:
        rng = np.random.default_rng(0)
        prototypes = rng.random((20, 784)) < 0.15
        X = prototypes[rng.integers(20, size=n_rows + N_TEST)]
        X = (X ^ (rng.random(X.shape) < 0.05)).astype(np.float64)
    return X[:n_rows], X[-N_TEST:]


def sweep_row(label: str, dataset: str, n_rows: int, n_hidden: int, args, warm_up: bool) -> dict:
    X_train, X_test = sweep_data(dataset, n_rows)
    best, out = alternated(
        {
            "sklearn": lambda: fit_sklearn(X_train, n_hidden, args.lr),
            "genzoo": lambda: fit_genzoo(X_train, n_hidden, args.lr),
        },
        args.repeats,
        warm_up,
    )
    sk, gz = out["sklearn"], out["genzoo"]
    # The log Z part of genzoo's fit, timed apart: the fitted seed makes it the same run.
    log_z_seconds, _ = timed(gz.estimate_log_partition, 1)
    sk_log_z, _ = log_partition(*sk_weights(sk), X_train)
    sk_ll = held_out_log_likelihood(*sk_weights(sk), sk_log_z, X_test)
    pl = [mean_pseudo_likelihood(*weights, X_test) for weights in (gz_weights(gz), sk_weights(sk))]
    return {
        "workload": label,
        "genzoo_s": best["genzoo"],
        "peer_s": best["sklearn"],
        "log_z_s": log_z_seconds,
        "log_z": gz.log_partition_method_,
        "log_z_stderr": gz.log_partition_stderr_,
        "d_pseudo_ll": float(pl[0] - pl[1]),
        "d_held_out_ll": float(gz.score(X_test) - sk_ll),
    }


def sweep(args):
    start = time.perf_counter()
    rows = [sweep_row(*workload, args, warm_up=i == 0) for i, workload in enumerate(SWEEP)]
    report_sweep(
        f"RBM fit (log Z included) against scikit-learn's BernoulliRBM: {N_EPOCHS} epochs "
        f"PCD-1, batch {BATCH}, lr {args.lr}, float32; best of {args.repeats}, "
        f"{torch.get_num_threads()} threads",
        rows,
        "sklearn",
        args.json,
    )
    print(
        "log_z_s: genzoo's log Z part (AIS or exact); d_*: held-out nats per row, genzoo "
        f"minus scikit-learn; {time.perf_counter() - start:.0f} s in all"
    )


if __name__ == "__main__":
    main()
