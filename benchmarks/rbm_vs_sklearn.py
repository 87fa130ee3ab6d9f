"""genzoo's RBM against scikit-learn's BernoulliRBM, side by side in one process.

Binarised 8x8 digits (1437 training rows, 64 pixels), 256 hidden units, 20 epochs of
persistent contrastive divergence (PCD-1), batch 64, the same learning rate. Prints the best fit
time of each over `--repeats` alternated runs and their ratio, then the held-out log-likelihood
of both fitted models in nats per digit. scikit-learn gives no likelihood, so both are scored
the same way: log p(v) = -F(v) - log Z, with log Z from genzoo's AIS on each model's weights
(same chains, same temperatures, same base-rate model). genzoo's fit skips its own log Z
(`compute_log_partition=False`), so both time the same training; the AIS that genzoo's fit
adds by default is timed on its own. A 20-component Bernoulli mixture (exact likelihood) is
printed for scale.

Both run on `--threads` threads (torch's and the BLAS that scikit-learn's numpy calls), one by
default: on a shared machine, more threads make both timings swing several-fold.

    python benchmarks/rbm_vs_sklearn.py [--repeats 5] [--threads 1] [--lr 0.05] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import warnings

import numpy as np
import torch
from _timing import timed  # benchmarks/ is on the path when run as a script
from sklearn.neural_network import BernoulliRBM
from threadpoolctl import threadpool_limits

from genzoo import RBM, BernoulliMixture
from genzoo.boltzmann.ais import ais_log_partition
from genzoo.data import load

N_HIDDEN, N_EPOCHS, BATCH = 256, 20, 64
AIS_CHAINS, AIS_BETAS = 500, 20_000


def held_out_log_likelihood(W, b, c, X_train, X_test, seed: int = 0) -> tuple[float, float]:
    """Mean log p(v) over X_test in nats and the standard error of log Z, via AIS."""
    W, b, c = (np.asarray(a, dtype=np.float64) for a in (W, b, c))
    rate = np.clip(X_train.mean(0), 1e-3, 1 - 1e-3)
    result = ais_log_partition(
        W, b, c, base_visible_bias=np.log(rate / (1 - rate)),
        n_chains=AIS_CHAINS, n_betas=AIS_BETAS, random_state=seed,
    )  # fmt: skip
    # -F(v) = b.v + sum_j softplus(c_j + W_j . v)
    neg_free_energy = X_test @ b + np.logaddexp(0.0, X_test @ W.T + c).sum(1)
    return float(np.mean(neg_free_energy) - result.log_z), result.stderr


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--lr", type=float, default=0.05, help="learning rate of both")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with threadpool_limits(args.threads):
        run(args)


def run(args):
    data = load("digits_binary")
    X_train, X_test = data.X_train, data.X_test

    def fit_sklearn():
        return BernoulliRBM(
            n_components=N_HIDDEN, learning_rate=args.lr, batch_size=BATCH,
            n_iter=N_EPOCHS, random_state=0,
        ).fit(X_train)  # fmt: skip

    def fit_genzoo():
        # The same training work as scikit-learn's fit, which computes no log Z either.
        return RBM(
            n_components=N_HIDDEN, learning_rate=args.lr, batch_size=BATCH,
            n_iter=N_EPOCHS, random_state=0, compute_log_partition=False,
        ).fit(X_train)  # fmt: skip

    fit_sklearn(), fit_genzoo()  # warm-up: imports, allocator, thread pools
    t_sk = t_gz = np.inf
    for _ in range(args.repeats):  # alternated, so a change in load hits both alike
        seconds, sk = timed(fit_sklearn, 1)
        t_sk = min(t_sk, seconds)
        seconds, gz = timed(fit_genzoo, 1)
        t_gz = min(t_gz, seconds)
    ratio = t_gz / t_sk

    ll_sk, se_sk = held_out_log_likelihood(
        sk.components_, sk.intercept_visible_, sk.intercept_hidden_, X_train, X_test
    )
    ll_gz, se_gz = held_out_log_likelihood(
        gz.components_, gz.intercept_visible_, gz.intercept_hidden_, X_train, X_test
    )
    ais_seconds, _ = timed(gz.estimate_log_partition, 1)  # what genzoo's fit adds by default
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mixture = BernoulliMixture(n_components=20, random_state=0).fit(X_train)
    ll_mix = mixture.score(X_test)
    independent = BernoulliMixture(n_components=1).fit(X_train).score(X_test)

    print(
        f"RBM on binarised digits ({len(X_train)} x 64), {N_HIDDEN} hidden, {N_EPOCHS} epochs "
        f"PCD-1, batch {BATCH}, lr {args.lr}; best of {args.repeats}, "
        f"{torch.get_num_threads()} torch threads, {platform.machine()}"
    )
    print(f"scikit-learn BernoulliRBM  fit {t_sk:8.3f} s")
    print(f"genzoo RBM                 fit {t_gz:8.3f} s   ratio {ratio:.2f}x")
    print(f"held-out log-likelihood (AIS, {AIS_CHAINS} chains, {AIS_BETAS} temperatures):")
    print(f"  scikit-learn's weights   {ll_sk:8.2f} nats   (log Z stderr {se_sk:.3f})")
    print(f"  genzoo's weights         {ll_gz:8.2f} nats   (log Z stderr {se_gz:.3f})")
    print(
        f"  genzoo.score             {gz.score(X_test):8.2f} nats   (its own log Z: "
        f"{gz.n_ais_chains} chains, {gz.n_ais_betas} temperatures, {ais_seconds:.1f} s)"
    )
    print(f"  Bernoulli mixture, 20    {ll_mix:8.2f} nats   (exact)")
    print(f"  independent pixels       {independent:8.2f} nats   (exact)")
    if args.json:
        results = {
            "threads": args.threads, "learning_rate": args.lr,
            "sklearn_fit_s": t_sk, "genzoo_fit_s": t_gz, "ratio": ratio,
            "genzoo_ais_s": ais_seconds,
            "heldout_ll_sklearn": ll_sk, "heldout_ll_genzoo": ll_gz,
            "heldout_ll_bernoulli_mixture_20": ll_mix, "heldout_ll_independent": independent,
        }  # fmt: skip
        with open(args.json, "w") as file:
            json.dump(results, file, indent=2)


if __name__ == "__main__":
    main()
