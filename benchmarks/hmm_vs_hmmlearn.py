"""HiddenMarkovModel against hmmlearn's GaussianHMM (and pomegranate's DenseHMM, if installed).

200 training sequences of 200 steps, 4-dim, drawn from a random 8-state HMM with diagonal
Gaussian emissions, and 200 held-out sequences. Every library starts from the same parameters
and runs exactly 50 EM iterations (tol disabled), in one process on the same cores; genzoo
and hmmlearn must then agree to 1e-6 (hmmlearn with covars_prior=0, genzoo with min_covar=0,
so that both run plain maximum likelihood). Then each library fits from its own default
initialisation and is scored on the first 50 held-out sequences, and genzoo and hmmlearn
decode the first 50 and all 200 held-out sequences by Viterbi.

`--sweep` instead times Baum-Welch (same start, the same number of iterations, tol off) and
Viterbi decoding of as many held-out sequences against hmmlearn over workloads from 2 to 16
states and ~1,000 to ~40,000 steps (steps x K^2, the work of a forward-backward pass, spans
over three orders of magnitude), with a categorical and a full-covariance workload besides;
at every size it prints the ratio, the relative difference of the final log-likelihoods and
the share of equal Viterbi states, and at the largest the forward-backward's flop rate.

    python benchmarks/hmm_vs_hmmlearn.py [--repeats 3] [--json out.json] [--sweep]
"""

from __future__ import annotations

import json
import logging
import platform
import time
import warnings

import numpy as np
import torch
from _timing import benchmark_parser, report_sweep, timed  # benchmarks/ is on the path
from hmmlearn.hmm import CategoricalHMM, GaussianHMM
from sklearn.exceptions import ConvergenceWarning

from genzoo.bayesnet._hmm_math import forward_backward
from genzoo.bayesnet.hmm import HiddenMarkovModel

N_TRAIN, N_TEST, N_DECODE, LENGTH, D, K, N_ITER = 200, 50, 200, 200, 4, 8, 50


def make_data(seed: int = 0):
    """Train, test and decoding sequences of a random diagonal-Gaussian HMM, a common start."""
    rng = np.random.default_rng(seed)
    startprob = rng.dirichlet(np.ones(K))
    transmat = 0.7 * np.eye(K) + 0.3 * rng.dirichlet(np.ones(K), size=K)
    means = rng.normal(scale=2.0, size=(K, D))
    stds = np.sqrt(rng.uniform(0.5, 1.5, size=(K, D)))

    def draw(n):
        states = np.empty((n, LENGTH), dtype=np.int64)
        states[:, 0] = rng.choice(K, size=n, p=startprob)
        cdf = np.cumsum(transmat, axis=1)
        for t in range(1, LENGTH):
            u = rng.random(n)[:, None]
            states[:, t] = np.minimum((u >= cdf[states[:, t - 1]]).sum(1), K - 1)
        states = states.ravel()
        X = means[states] + stds[states] * rng.normal(size=(len(states), D))
        return X, np.full(n, LENGTH)

    (X, lengths), (X_test, lengths_test) = draw(N_TRAIN), draw(N_TEST)
    init = {
        "startprob": np.full(K, 1.0 / K),
        "transmat": 0.5 * np.eye(K) + 0.5 / K,
        "means": X[rng.choice(len(X), K, replace=False)],
        "covars": np.tile(X.var(0), (K, 1)),
    }
    # drawn last, so that the data and start above are those of the earlier versions
    X_more, _ = draw(N_DECODE - N_TEST)
    X_decode, lengths_decode = np.concatenate([X_test, X_more]), np.full(N_DECODE, LENGTH)
    return X, lengths, X_test, lengths_test, init, (X_decode, lengths_decode)


# --- the libraries


def fit_genzoo(X, lengths, init=None):
    if init is None:
        return HiddenMarkovModel(K, max_iter=N_ITER, random_state=0, device="cpu").fit(
            X, lengths=lengths
        )
    given = {f"{k}_init": v for k, v in init.items()}
    model = HiddenMarkovModel(K, max_iter=N_ITER, tol=0.0, min_covar=0.0, device="cpu", **given)
    return model.fit(X, lengths=lengths)


def fit_hmmlearn(X, lengths, init=None):
    if init is None:
        return GaussianHMM(K, "diag", n_iter=N_ITER, random_state=0).fit(X, lengths)
    model = GaussianHMM(
        K, "diag", n_iter=N_ITER, tol=-np.inf, init_params="", covars_prior=0.0, random_state=0
    )
    model.startprob_, model.transmat_ = init["startprob"], init["transmat"]
    model.means_, model.covars_ = init["means"], init["covars"]
    return model.fit(X, lengths=lengths)


def fit_pomegranate(X, init=None):
    from pomegranate.distributions import Normal
    from pomegranate.hmm import DenseHMM

    # float32 throughout: pomegranate mixes the dtypes of its parts otherwise
    sequences = torch.as_tensor(X.reshape(-1, LENGTH, D), dtype=torch.float32)
    init = None if init is None else {k: v.astype(np.float32) for k, v in init.items()}
    if init is None:
        dists = [Normal(covariance_type="diag") for _ in range(K)]
        model = DenseHMM(dists, max_iter=N_ITER, random_state=0)
    else:
        dists = [
            Normal(means=init["means"][k], covs=init["covars"][k], covariance_type="diag")
            for k in range(K)
        ]
        model = DenseHMM(dists, edges=init["transmat"], starts=init["startprob"], max_iter=N_ITER)
        model.tol = -np.inf  # stop only at max_iter
    return model.fit(sequences)


def pomegranate_log_prob(model, X) -> np.ndarray:
    with torch.no_grad():
        sequences = torch.as_tensor(X.reshape(-1, LENGTH, D), dtype=torch.float32)
        return model.log_probability(sequences).numpy()


def hmmlearn_log_prob(model, X, lengths) -> np.ndarray:
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    return np.array([model.score(X[s : s + n]) for s, n in zip(starts, lengths, strict=True)])


# --- the runs


def same_start(X, lengths, X_test, lengths_test, init, repeats):
    rows, figures = [], {}
    t_hl, hl = timed(lambda: fit_hmmlearn(X, lengths, init), repeats)
    t_gz, gz = timed(lambda: fit_genzoo(X, lengths, init), repeats)
    train_hl, train_gz = hl.score(X, lengths), gz.log_prob(X, lengths=lengths).sum()
    rel = abs(train_gz - train_hl) / abs(train_hl)
    params_rel = max(
        np.max(np.abs(getattr(gz, a) - b) / np.abs(b))
        for a, b in [("means_", hl.means_), ("covars_", hl._covars_), ("transmat_", hl.transmat_)]
    )
    rows.append(
        ("hmmlearn", t_hl, train_hl / len(lengths), hl.score(X_test, lengths_test) / N_TEST)
    )
    rows.append(("genzoo", t_gz, train_gz / len(lengths), gz.score(X_test, lengths=lengths_test)))
    figures["loglik_rel_diff"], figures["params_rel_diff"] = rel, params_rel
    try:
        t_pg, pg = timed(lambda: fit_pomegranate(X, init), repeats)
        train_pg = pomegranate_log_prob(pg, X).mean()
        rows.append(("pomegranate", t_pg, train_pg, pomegranate_log_prob(pg, X_test).mean()))
    except ImportError:
        print("pomegranate is not installed: pip install pomegranate")
    return rows, figures, (hl, gz)


def default_starts(X, lengths, X_test, lengths_test):
    out = {
        "hmmlearn": fit_hmmlearn(X, lengths).score(X_test, lengths_test) / N_TEST,
        "genzoo": fit_genzoo(X, lengths).score(X_test, lengths=lengths_test),
    }
    try:
        out["pomegranate"] = pomegranate_log_prob(fit_pomegranate(X), X_test).mean()
    except ImportError:
        pass
    return out


def viterbi_times(hl, gz, X, lengths, repeats):
    """Best-of-10 (at least) decode times of both libraries, and whether their paths agree.

    A decode takes milliseconds, so the best of several calls filters out other processes.
    """
    t_hl, (_, path_hl) = timed(lambda: hl.decode(X, lengths), max(repeats, 10))
    t_gz, (_, path_gz) = timed(lambda: gz.decode(X, lengths=lengths), max(repeats, 10))
    return {"hmmlearn": t_hl, "genzoo": t_gz, "same_paths": float(np.mean(path_hl == path_gz))}


# --- the sweep

# (label, states K, features d (symbols for categorical), sequences, shortest, longest, kind);
# the second row is the small case where Baum-Welch once took 0.44x hmmlearn's time.
SWEEP = (
    ("K=2 8x50-100 d=2", 2, 2, 8, 50, 100, "diag"),
    ("K=5 60x50-150 d=3", 5, 3, 60, 50, 150, "diag"),
    ("K=4 60x50-150 d=3 full", 4, 3, 60, 50, 150, "full"),
    ("K=6 60x50-150 S=8 cat", 6, 8, 60, 50, 150, "categorical"),
    # few long sequences: where a loop over time steps costs most
    ("K=2 1x1000 d=3", 2, 3, 1, 1000, 1000, "diag"),
    ("K=4 1x10000 d=3", 4, 3, 1, 10000, 10000, "diag"),
    ("K=8 100x100-200 d=4", 8, 4, 100, 100, 200, "diag"),
    ("K=16 100x150-250 d=4", 16, 4, 100, 150, 250, "diag"),
)
SWEEP_ITER = 30


def draw_workload(rng, K, d, n_seq, shortest, longest, kind):
    """Training and held-out sequences of a random K-state HMM, and a common start."""
    startprob = rng.dirichlet(np.ones(K))
    transmat = 0.7 * np.eye(K) + 0.3 * rng.dirichlet(np.ones(K), size=K)
    means = rng.normal(scale=2.0, size=(K, d))
    emissionprob = rng.dirichlet(np.full(d, 0.5), size=K)
    cdf = np.cumsum(transmat, axis=1)

    def draw():
        lengths = rng.integers(shortest, longest + 1, size=n_seq)
        states = np.empty((n_seq, longest), dtype=np.int64)
        states[:, 0] = rng.choice(K, size=n_seq, p=startprob)
        for t in range(1, longest):
            u = rng.random(n_seq)[:, None]
            states[:, t] = np.minimum((u >= cdf[states[:, t - 1]]).sum(1), K - 1)
        states = np.concatenate([s[:n] for s, n in zip(states, lengths, strict=True)])
        if kind == "categorical":
            u = rng.random(len(states))[:, None]
            X = (u >= np.cumsum(emissionprob, 1)[states]).sum(1, keepdims=True)
            return np.minimum(X, d - 1), lengths
        return means[states] + rng.normal(size=(len(states), d)), lengths

    (X, lengths), held_out = draw(), draw()
    init = {"startprob": np.full(K, 1.0 / K), "transmat": 0.5 * np.eye(K) + 0.5 / K}
    if kind == "categorical":
        init["emissionprob"] = rng.dirichlet(np.ones(d), size=K)
    else:
        init["means"] = X[rng.choice(len(X), K, replace=False)]
        spread = np.cov(X.T) if kind == "full" else X.var(0)
        init["covars"] = np.tile(spread, (K,) + (1,) * spread.ndim)
    return X, lengths, held_out, init


def fit_pair(kind, K, X, lengths, init):
    """Fits of genzoo and hmmlearn from `init`, SWEEP_ITER iterations each, as callables."""
    given = {f"{k}_init": v for k, v in init.items()}
    emission = "categorical" if kind == "categorical" else "gaussian"
    covariance = "full" if kind == "full" else "diag"

    def genzoo():
        model = HiddenMarkovModel(
            K,
            emission=emission,
            covariance_type=covariance,
            max_iter=SWEEP_ITER,
            tol=0.0,
            min_covar=0.0,
            device="cpu",
            **given,
        )
        return model.fit(X, lengths=lengths)

    def hmmlearn():
        if kind == "categorical":
            model = CategoricalHMM(K, n_iter=SWEEP_ITER, tol=-np.inf, init_params="")
            model.emissionprob_ = init["emissionprob"]
        else:
            model = GaussianHMM(
                K, covariance, n_iter=SWEEP_ITER, tol=-np.inf, init_params="", covars_prior=0.0
            )
            model.means_, model.covars_ = init["means"], init["covars"]
        model.startprob_, model.transmat_ = init["startprob"], init["transmat"]
        return model.fit(X, lengths)

    return genzoo, hmmlearn


def interleaved(first, second, repeats: int):
    """Best seconds of each of two callables run in turn, and their last results."""
    best, out = [np.inf, np.inf], [None, None]
    for _ in range(repeats):
        for i, run in enumerate((first, second)):
            start = time.perf_counter()
            out[i] = run()
            best[i] = min(best[i], time.perf_counter() - start)
    return best, out


def sweep_rows(workload, repeats: int, rng):
    """One fit row and one Viterbi row of the sweep's tables, and genzoo's fit and data."""
    label, K, d, n_seq, shortest, longest, kind = workload
    X, lengths, (X_out, lengths_out), init = draw_workload(
        rng, K, d, n_seq, shortest, longest, kind
    )
    fit_gz, fit_hl = fit_pair(kind, K, X, lengths, init)
    fit_gz()  # warm-up: first-call overheads of this shape
    (t_gz, t_hl), (gz, hl) = interleaved(fit_gz, fit_hl, max(repeats, 3))
    ours, theirs = gz.log_prob(X, lengths=lengths).sum(), hl.score(X, lengths)
    work = len(X) * K * K / 1e6
    fit = {
        "workload": label,
        "genzoo_s": t_gz,
        "peer_s": t_hl,
        "steps*K^2 (M)": work,
        "loglik rel diff": float(abs(ours - theirs) / abs(theirs)),
    }
    # a decode takes milliseconds: the best of many calls filters out other processes
    (t_gz, t_hl), ((_, path_gz), (_, path_hl)) = interleaved(
        lambda: gz.decode(X_out, lengths=lengths_out),
        lambda: hl.decode(X_out, lengths_out),
        max(repeats, 10),
    )
    decode = {
        "workload": label,
        "genzoo_s": t_gz,
        "peer_s": t_hl,
        "steps*K^2 (M)": work,
        "same states": float(np.mean(path_gz == path_hl)),
    }
    return fit, decode, (gz, X, lengths)


@torch.no_grad()
def forward_backward_rate(model, X, lengths, repeats: int) -> dict:
    """Seconds and flop rate of genzoo's forward-backward (one E-step's recursions) on X.

    Counted flops per step: the forward's vector-matrix product (2K^2), product, row sum and
    division (4K); the backward's product and vector-matrix product (2K^2 + K); the
    posteriors' product, weights and the transition counts' matrix product (2K^2 + 2K):
    (6K^2 + 7K) * n_steps, the padding not counted. Emissions are computed beforehand.
    """
    params, batches, _ = model._inference(X, lengths)
    inputs = [(model._emission_log_prob(params, b)[0], b) for b in batches]
    log_start, transmat = torch.log(params["startprob"]), params["transmat"]

    def run():
        for log_b, b in inputs:
            forward_backward(log_b, log_start, transmat, b.active, b.padded)

    seconds, _ = timed(run, max(repeats, 5))
    K = transmat.shape[0]
    flops = (6 * K * K + 7 * K) * len(X)
    return {
        "K": K,
        "n_steps": len(X),
        "seconds": seconds,
        "flops": flops,
        "gflop_per_s": flops / seconds / 1e9,
    }


def sweep(repeats: int, json_path: str | None) -> None:
    rng = np.random.default_rng(0)
    rows = [sweep_rows(workload, repeats, rng) for workload in SWEEP]
    where = f"{torch.get_num_threads()} threads, {platform.processor() or platform.machine()}"
    fits = report_sweep(
        f"HMM Baum-Welch, {SWEEP_ITER} iterations from the same start, float64; {where}",
        [r[0] for r in rows],
        "hmmlearn",
    )
    print()
    decodes = report_sweep(
        "HMM Viterbi decoding of as many held-out sequences", [r[1] for r in rows], "hmmlearn"
    )
    rate = forward_backward_rate(*rows[-1][2], repeats)
    print(
        f"\nforward-backward at the largest size (K={rate['K']}, {rate['n_steps']} steps): "
        f"(6K^2 + 7K) * steps = {rate['flops'] / 1e6:.1f} MFLOP in "
        f"{rate['seconds'] * 1e3:.2f} ms = {rate['gflop_per_s']:.2f} GFLOP/s (float64, CPU)"
    )
    if json_path:
        with open(json_path, "w") as f:
            json.dump({"fit": fits, "viterbi": decodes, "forward_backward": rate}, f, indent=2)


def main():
    args = benchmark_parser(__doc__).parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    logging.getLogger("hmmlearn").setLevel(logging.ERROR)
    if args.sweep:
        sweep(args.repeats, args.json)
        return
    X, lengths, X_test, lengths_test, init, (X_decode, lengths_decode) = make_data()
    fit_genzoo(X[: 20 * LENGTH], lengths[:20], init)  # warm-up: first-call overheads in torch

    rows, figures, (hl, gz) = same_start(X, lengths, X_test, lengths_test, init, args.repeats)
    defaults = default_starts(X, lengths, X_test, lengths_test)
    viterbi = {
        n: viterbi_times(hl, gz, X_decode[: n * LENGTH], lengths_decode[:n], args.repeats)
        for n in (N_TEST, N_DECODE)
    }

    t_hl = rows[0][1]
    print(
        f"HMM: {N_TRAIN} x {LENGTH} steps, d={D}, K={K} diagonal, {N_ITER} EM iterations from "
        f"the same start; {torch.get_num_threads()} threads, "
        f"{platform.processor() or platform.machine()}"
    )
    print(f"{'library':<13}{'seconds':>9}{'x hmmlearn':>12}{'train LL/seq':>14}{'test LL/seq':>13}")
    for name, t, train, test in rows:
        print(f"{name:<13}{t:>9.3f}{t / t_hl:>12.3f}{train:>14.3f}{test:>13.3f}")
    print(
        f"genzoo vs hmmlearn: log-likelihood rel. diff {figures['loglik_rel_diff']:.2e}, "
        f"parameters rel. diff {figures['params_rel_diff']:.2e}"
    )
    print("held-out LL/seq from each library's default initialisation:")
    for name, value in defaults.items():
        print(f"  {name:<13}{value:>13.3f}")
    for n, figures_v in viterbi.items():
        ratio = figures_v["genzoo"] / figures_v["hmmlearn"]
        print(
            f"Viterbi on {n} held-out sequences: hmmlearn {figures_v['hmmlearn'] * 1e3:.1f} ms, "
            f"genzoo {figures_v['genzoo'] * 1e3:.1f} ms ({ratio:.2f}x hmmlearn); "
            f"same paths: {figures_v['same_paths']:.3f}"
        )
    if args.json:
        out = {
            "fit": [
                dict(zip(("library", "seconds", "train_ll", "test_ll"), r, strict=True))
                for r in rows
            ],  # fmt: skip
            **figures,
            "default_init_test_ll": defaults,
            "viterbi_seconds": {str(n): figures_v for n, figures_v in viterbi.items()},
        }
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2, default=float)


if __name__ == "__main__":
    main()
