"""GaussianMixture against scikit-learn (and pomegranate, when installed), side by side.

20,000 x 16 points from a random 16-component mixture with full covariances; every library
starts from the same weights, means and precisions and runs exactly 100 EM iterations
(tol=0), in one process on the same cores. Prints each time, the ratio to scikit-learn, and
the held-out mean log-likelihood.

    python benchmarks/gmm_vs_sklearn.py [--repeats 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import warnings

import numpy as np
import torch
from _timing import timed  # benchmarks/ is on the path when run as a script
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SklearnGaussianMixture

from genzoo import GaussianMixture

N_TRAIN, N_TEST, D, K, N_ITER = 20_000, 5_000, 16, 16, 100


def make_data(seed: int = 0):
    rng = np.random.default_rng(seed)
    means = rng.normal(scale=3.0, size=(K, D))
    A = rng.normal(size=(K, D, D)) / np.sqrt(D)
    covs = A @ A.transpose(0, 2, 1) + 0.2 * np.eye(D)
    weights = rng.dirichlet(np.full(K, 5.0))
    chol = np.linalg.cholesky(covs)

    def draw(n):
        labels = rng.choice(K, size=n, p=weights)
        return means[labels] + np.einsum("nij,nj->ni", chol[labels], rng.normal(size=(n, D)))

    X_train, X_test = draw(N_TRAIN), draw(N_TEST)
    init = {
        "weights_init": np.full(K, 1.0 / K),
        "means_init": X_train[rng.choice(N_TRAIN, K, replace=False)],
        "precisions_init": np.tile(np.eye(D), (K, 1, 1)) / X_train.var(0).mean(),
    }
    return X_train, X_test, init


def run_genzoo(X, init, dtype):
    return GaussianMixture(K, max_iter=N_ITER, tol=0, device="cpu", dtype=dtype, **init).fit(X)


def run_sklearn(X, init):
    return SklearnGaussianMixture(K, max_iter=N_ITER, tol=0, **init).fit(X)


def run_pomegranate(X, init, dtype):
    from pomegranate.distributions import Normal
    from pomegranate.gmm import GeneralMixtureModel

    np_dtype = np.float32 if dtype == "float32" else np.float64
    covs = np.linalg.inv(init["precisions_init"]).astype(np_dtype)
    components = [
        Normal(means=init["means_init"][k].astype(np_dtype), covs=covs[k], covariance_type="full")
        for k in range(K)
    ]
    model = GeneralMixtureModel(
        components, priors=init["weights_init"].astype(np_dtype), max_iter=N_ITER, tol=0.0
    )
    # pomegranate stops once the improvement is <= tol; a negative tol forces every iteration
    model.tol = -np.inf
    return model.fit(torch.as_tensor(X.astype(np_dtype)))


def pomegranate_score(model, X, dtype):
    np_dtype = np.float32 if dtype == "float32" else np.float64
    with torch.no_grad():
        return float(model.log_probability(torch.as_tensor(X.astype(np_dtype))).mean())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    X, X_test, init = make_data()
    run_genzoo(X[:2000], init, "float64")  # warm-up: first-call overheads in torch

    rows = []
    t_sk, sk = timed(lambda: run_sklearn(X, init), args.repeats)
    rows.append(("scikit-learn", "float64", t_sk, sk.score(X_test), sk.lower_bound_))
    for dtype in ("float64", "float32"):
        t, gz = timed(lambda dtype=dtype: run_genzoo(X, init, dtype), args.repeats)
        rows.append(("genzoo", dtype, t, gz.score(X_test), gz.lower_bound_))
    try:
        import pomegranate  # noqa: F401

        for dtype in ("float64", "float32"):
            t, pg = timed(lambda dtype=dtype: run_pomegranate(X, init, dtype), args.repeats)
            rows.append(("pomegranate", dtype, t, pomegranate_score(pg, X_test, dtype), None))
    except ImportError:
        print("pomegranate is not installed: pip install pomegranate")

    print(
        f"GMM: {N_TRAIN} x {D}, K={K} full covariances, {N_ITER} EM iterations, "
        f"{torch.get_num_threads()} threads, {platform.processor() or platform.machine()}"
    )
    print(f"{'library':<13}{'dtype':<9}{'seconds':>9}{'x sklearn':>11}{'held-out LL':>14}")
    for name, dtype, t, score, _ in rows:
        print(f"{name:<13}{dtype:<9}{t:>9.3f}{t / t_sk:>11.3f}{score:>14.6f}")
    gz64 = rows[1]
    rel = abs(gz64[3] - sk.score(X_test)) / abs(sk.score(X_test))
    print(f"genzoo float64 vs scikit-learn: held-out log-likelihood relative difference {rel:.2e}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                [
                    dict(
                        zip(
                            ("library", "dtype", "seconds", "held_out_ll", "lower_bound"),
                            r,
                            strict=True,
                        )
                    )
                    for r in rows
                ],
                f,
                indent=2,
            )


if __name__ == "__main__":
    main()
