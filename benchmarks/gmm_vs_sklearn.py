"""GaussianMixture against scikit-learn (and pomegranate, when installed), side by side.

20,000 x 16 points from a random 16-component mixture with full covariances; every library
starts from the same weights, means and precisions and runs exactly 100 EM iterations
(tol=0), in one process on the same cores. Prints each time, the ratio to scikit-learn, and
the held-out mean log-likelihood.

`--sweep` runs the same comparison (float64, same start, same iterations) over workloads from
1,000 x 2 with 3 components to 50,000 x 16 with 16, full covariances at every size and each
other covariance type at the smallest, and prints the ratio and the agreement of the lower
bounds at each.

`--gpu-large` times the float32 fit of 2,000,000 x 32 rows, 64 full-covariance components and
20 EM iterations on CUDA, and prints its useful TFLOP/s beside the device's float32 peak.

    python benchmarks/gmm_vs_sklearn.py [--repeats 3] [--json out.json] [--sweep | --gpu-large]
"""

from __future__ import annotations

import json
import platform
import time
import warnings

import numpy as np
import torch
from _timing import benchmark_parser, report_sweep, timed  # benchmarks/ is on the path
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SklearnGaussianMixture

from genzoo import GaussianMixture

N_TRAIN, N_TEST, D, K, N_ITER = 20_000, 5_000, 16, 16, 100


def make_data(seed: int = 0, n: int = N_TRAIN, d: int = D, k: int = K, n_test: int = N_TEST):
    """Train and test rows of a random k-component mixture in d dimensions, and a start."""
    rng = np.random.default_rng(seed)
    means = rng.normal(scale=3.0, size=(k, d))
    A = rng.normal(size=(k, d, d)) / np.sqrt(d)
    covs = A @ A.transpose(0, 2, 1) + 0.2 * np.eye(d)
    weights = rng.dirichlet(np.full(k, 5.0))
    chol = np.linalg.cholesky(covs)

    def draw(rows):
        labels = rng.choice(k, size=rows, p=weights)
        return means[labels] + np.einsum("nij,nj->ni", chol[labels], rng.normal(size=(rows, d)))

    X_train, X_test = draw(n), draw(n_test)
    init = {
        "weights_init": np.full(k, 1.0 / k),
        "means_init": X_train[rng.choice(n, k, replace=False)],
        "precisions_init": np.tile(np.eye(d), (k, 1, 1)) / X_train.var(0).mean(),
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


# --- the sweep

# (rows, features, components, covariance type, EM iterations)
SWEEP = (
    (1_000, 2, 3, "full", 100),
    (1_000, 2, 3, "tied", 100),
    (1_000, 2, 3, "diag", 100),
    (1_000, 2, 3, "spherical", 100),
    (10_000, 8, 8, "full", 100),
    (50_000, 16, 16, "full", 30),
)


def typed_init(init: dict, covariance_type: str) -> dict:
    """The full-covariance start as the precisions `covariance_type` takes."""
    full = init["precisions_init"]
    precisions = {
        "full": full,
        "tied": full[0],
        "diag": np.diagonal(full, axis1=1, axis2=2).copy(),
        "spherical": np.diagonal(full, axis1=1, axis2=2).mean(1),
    }[covariance_type]
    return {**init, "precisions_init": precisions}


def sweep_row(n: int, d: int, k: int, covariance_type: str, n_iter: int, repeats: int) -> dict:
    X, X_test, init = make_data(n=n, d=d, k=k, n_test=max(1000, n // 4))
    init = typed_init(init, covariance_type)
    settings = dict(covariance_type=covariance_type, max_iter=n_iter, tol=0, **init)
    fit_genzoo = lambda: GaussianMixture(k, device="cpu", **settings).fit(X)  # noqa: E731
    fit_sklearn = lambda: SklearnGaussianMixture(k, **settings).fit(X)  # noqa: E731
    fit_genzoo()  # warm-up
    best = {"genzoo": np.inf, "sklearn": np.inf}
    rounds = max(repeats, min(20, 100_000 // (n * k)))  # more rounds where a fit is short
    for _ in range(rounds):  # taking turns, so both see the same load
        for name, fit in (("genzoo", fit_genzoo), ("sklearn", fit_sklearn)):
            start = time.perf_counter()
            model = fit()
            best[name] = min(best[name], time.perf_counter() - start)
            if name == "genzoo":
                ours = model
            else:
                theirs = model
    return {
        "workload": f"{n:,} x {d}, K={k} {covariance_type}, {n_iter} it",
        "genzoo_s": best["genzoo"],
        "peer_s": best["sklearn"],
        "|d lower bound|": abs(ours.lower_bound_ - theirs.lower_bound_),
        "|d held-out LL|": abs(ours.score(X_test) - theirs.score(X_test)),
    }


def sweep(repeats: int, json_path: str | None) -> None:
    rows = [sweep_row(*workload, repeats) for workload in SWEEP]
    where = f"{torch.get_num_threads()} threads, {platform.processor() or platform.machine()}"
    report_sweep(
        f"GMM fit, float64, same start and iterations as scikit-learn ({where})",
        rows,
        "sklearn",
        json_path,
    )


# --- one large float32 fit on a GPU

# Float32 peaks by device name, dense, without sparsity: (CUDA cores, TF32 tensor cores).
PEAK_TFLOPS = {"H100": (67.0, 495.0), "H200": (67.0, 495.0), "A100": (19.5, 156.0)}
GPU_ROWS, GPU_D, GPU_K, GPU_ITER = 2_000_000, 32, 64, 20


def useful_flops(n: int, d: int, k: int) -> float:
    """Useful floating-point operations of one full-covariance EM iteration: 4 n K d^2.

    The E-step whitens every row for every component, (x - m_k)^T P_k, 2 d^2 flops per row
    and component; the M-step sums the responsibility-weighted outer products, 2 d^2 more.
    Terms in n K d and K d^3 are left out. (genzoo's expanded form executes about half of
    this, 4 n K (d(d+1)/2 + d + 1), as two matrix products against the quadratic features.)
    """
    return 4.0 * n * k * d * d


def gpu_large(repeats: int, device: str = "cuda", size=(GPU_ROWS, GPU_D, GPU_K)) -> dict:
    """Time the 2,000,000 x 32, K=64 full-covariance float32 fit on CUDA; print TFLOP/s.

    `device` and `size` exist so the same code can be tried small on the CPU.
    """
    if device == "cuda" and not torch.cuda.is_available():
        print("--gpu-large needs a CUDA device; none is available.")
        return {}
    (n, d, k), n_iter = size, GPU_ITER
    X, _, init = make_data(n=n, d=d, k=k, n_test=1)
    X = X.astype(np.float32)

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    def fit(max_iter, dtype="float32"):
        model = GaussianMixture(k, max_iter=max_iter, tol=0, device=device, dtype=dtype, **init)
        sync()
        start = time.perf_counter()
        model.fit(X)
        sync()
        return time.perf_counter() - start, model

    fit(2)  # warm-up: CUDA context, kernels, cuBLAS handles
    t_total, model = min((fit(n_iter + 1) for _ in range(repeats)), key=lambda r: r[0])
    t_one = min(fit(1)[0] for _ in range(repeats))
    t_em = t_total - t_one  # n_iter EM iterations, without the transfer, checks and start
    _, reference = fit(n_iter + 1, "float64")
    flops = useful_flops(n, d, k) * n_iter
    name = torch.cuda.get_device_name() if device == "cuda" else platform.processor() or "cpu"
    peak = next((p for key, p in PEAK_TFLOPS.items() if key in name), None)
    peak_text = "unknown" if peak is None else f"{peak[0]:.0f} fp32 / {peak[1]:.0f} TF32 dense"
    form = "centred (K, n, d)" if model._params()["centred"] else "expanded (one product)"
    relative = abs(model.lower_bound_ / reference.lower_bound_ - 1)
    print(f"GMM {n:,} x {d}, K={k} full, {n_iter} EM iterations, float32 on {name}")
    print(f"  fit with {n_iter + 1} iterations (host data in, checks, start): {t_total:.3f} s")
    print(f"  {n_iter} EM iterations alone: {t_em:.3f} s ({t_em / n_iter * 1e3:.1f} ms each)")
    print(f"  E-step form: {form}; TF32 off (see gmm._full_float32_matmul)")
    print(f"  useful flops per iteration 4 n K d^2 = {useful_flops(n, d, k):.3e}")
    print(f"  achieved {flops / t_em / 1e12:.2f} TFLOP/s; device peak {peak_text} TFLOP/s")
    print(
        f"  lower bound float32 {model.lower_bound_:.7f}, float64 {reference.lower_bound_:.7f}"
        f" (relative difference {relative:.1e})"
    )
    return {
        "device": name,
        "seconds_fit": t_total,
        "seconds_em": t_em,
        "tflops": flops / t_em / 1e12,
        "peak_fp32_tflops": None if peak is None else peak[0],
        "form": form,
        "lower_bound_float32": float(model.lower_bound_),
        "lower_bound_float64": float(reference.lower_bound_),
    }


def main():
    parser = benchmark_parser(__doc__)
    parser.add_argument(
        "--gpu-large", action="store_true", help="time the large float32 fit on CUDA"
    )
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    if args.sweep:
        sweep(args.repeats, args.json)
        return
    if args.gpu_large:
        figures = gpu_large(args.repeats)
        if args.json and figures:
            with open(args.json, "w") as f:
                json.dump(figures, f, indent=2)
        return
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
