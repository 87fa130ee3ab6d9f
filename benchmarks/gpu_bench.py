"""genzoo on CUDA against genzoo on the CPU and the CPU peer, for GMM, VAE, HMM, LDA and RBM.

Each workload runs once to warm up (CUDA start-up, kernel caches), then is timed; the figures
are wall-clock seconds with the device synchronised. Peers that are not installed are left out.
Run by benchmarks/gpu_check.sh on a machine with a GPU; on a CPU-only machine it reports the
CPU columns only.

`--sweep` measures where CUDA starts to pay, per family: each model is fitted at growing sizes
on the CPU, on CUDA and with device="auto", beside the arithmetic of one fitting iteration
that "auto" weighs (`_fit_flops`), so the crossover can be read off and `cuda_min_flops` set.

    python benchmarks/gpu_bench.py --json gpu_bench.json
    python benchmarks/gpu_bench.py --sweep --json gpu_sweep.json
"""

from __future__ import annotations

import argparse
import json
import time
from functools import partial

import numpy as np
import torch

from genzoo import (
    DDPM,
    RBM,
    VAE,
    GaussianMixture,
    GaussianNaiveBayes,
    HiddenMarkovModel,
    LatentDirichletAllocation,
)
from genzoo.data import load, make_bars


def _timed(fit) -> float:
    fit()  # warm-up
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    fit()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start


def _workloads(rng):
    X_gmm = np.concatenate([rng.normal(size=(5000, 16)) + 4 * k for k in range(4)])
    digits = load("digits", random_state=0).X_train
    lengths = rng.integers(50, 150, size=200)
    X_hmm = rng.normal(size=(int(lengths.sum()), 3))
    counts, _ = make_bars(2000, random_state=0)
    binary = (load("digits", random_state=0).as_vectors().X_train > 0.5).astype(float)
    return {
        "gmm (20,000 x 16, k=16 full, 100 EM it)": (
            lambda device: GaussianMixture(
                16, max_iter=100, tol=0, random_state=0, device=device
            ).fit(X_gmm),
            "sklearn.mixture.GaussianMixture",
            lambda: (
                __import__("sklearn.mixture")
                .mixture.GaussianMixture(16, max_iter=100, tol=0, random_state=0)
                .fit(X_gmm)
            ),
        ),
        "vae (digits, 1,000 steps)": (
            lambda device: VAE(8, max_steps=1000, verbose=0, random_state=0, device=device).fit(
                digits
            ),
            None,
            None,
        ),
        "hmm (200 sequences of 50-150 x 3, 8 states, 20 it)": (
            lambda device: HiddenMarkovModel(
                8, max_iter=20, tol=0, random_state=0, device=device
            ).fit(X_hmm, lengths=lengths),
            "hmmlearn.hmm.GaussianHMM",
            lambda: (
                __import__("hmmlearn.hmm")
                .hmm.GaussianHMM(8, n_iter=20, tol=0, random_state=0)
                .fit(X_hmm, lengths)
            ),
        ),
        "lda (bars 2,000 docs, 10 topics, 20 passes)": (
            lambda device: LatentDirichletAllocation(
                10, max_iter=20, random_state=0, device=device
            ).fit(counts),
            "sklearn.decomposition.LatentDirichletAllocation",
            lambda: (
                __import__("sklearn.decomposition")
                .decomposition.LatentDirichletAllocation(10, max_iter=20, random_state=0)
                .fit(counts)
            ),
        ),
        "rbm (binarised digits, 256 hidden, 20 epochs)": (
            lambda device: RBM(
                256,
                n_iter=20,
                batch_size=64,
                learning_rate=0.05,
                persistent=True,
                compute_log_partition=False,
                random_state=0,
                device=device,
                verbose=0,
            ).fit(binary),  # fmt: skip
            "sklearn.neural_network.BernoulliRBM",
            lambda: (
                __import__("sklearn.neural_network")
                .neural_network.BernoulliRBM(
                    256, n_iter=20, batch_size=64, learning_rate=0.05, random_state=0
                )
                .fit(binary)
            ),
        ),
    }


def _sweep_models(rng):
    """(family, size label, model factory taking a device, fit arguments) at growing sizes."""
    digits = load("digits", random_state=0).X_train
    binary = (load("digits", random_state=0).as_vectors().X_train > 0.5).astype(float)
    for n in (1_000, 10_000, 100_000):
        X = rng.normal(size=(n, 16)) + 4 * rng.integers(4, size=(n, 1))
        yield "gmm", f"{n:,} x 16, k=16", partial(GaussianMixture, 16, max_iter=10, tol=0), (X,)
    for n in (10, 100, 1_000):
        X = rng.normal(size=(100 * n, 3))
        hmm = partial(HiddenMarkovModel, 8, max_iter=10, tol=0)
        yield "hmm", f"{n:,} x 100 steps, 8 states", hmm, (X, None, np.full(n, 100))
    for n in (200, 2_000, 20_000):
        counts, _ = make_bars(n, random_state=0)
        yield (
            "lda",
            f"bars {n:,} docs",
            partial(LatentDirichletAllocation, 10, max_iter=5),
            (counts,),
        )
    for reps in (1, 10, 100):
        X, y = np.tile(binary, (reps, 1)), None
        rbm = partial(RBM, 256, n_iter=2, batch_size=64, compute_log_partition=False, verbose=0)
        yield "rbm", f"{len(X):,} x 64", rbm, (X,)
    for n in (10_000, 100_000, 1_000_000):
        X, y = rng.normal(size=(n, 32)), rng.integers(10, size=n)
        yield "naive bayes", f"{n:,} x 32", GaussianNaiveBayes, (X, y)
    for channels in ((8, 16), (32, 64), (128, 256)):
        vae = partial(VAE, 8, channels=channels, max_steps=100, verbose=0)
        yield "vae", f"digits, channels {channels}", vae, (digits,)
    for channels in (8, 32):
        ddpm = partial(DDPM, base_channels=channels, max_steps=20, verbose=0)
        yield "ddpm", f"digits, {channels} base channels", ddpm, (digits,)


def sweep(json_path: str | None) -> None:
    """Fit each family at growing sizes on the CPU, on CUDA and with "auto"."""
    cuda = torch.cuda.is_available()
    rows = []
    print("| family | size | flops/iteration | cpu s | cuda s | auto chose | auto s / best s |")
    print("| --- | --- | ---: | ---: | ---: | --- | ---: |")
    for family, size, make, args in _sweep_models(np.random.default_rng(0)):
        X, y, lengths = (*args, None, None)[:3]

        def fit(device, make=make, X=X, y=y, lengths=lengths):
            model = make(device=device, random_state=0)
            fit_args = {"lengths": lengths} if lengths is not None else {}
            return model.fit(X, y, **fit_args)

        probe = make(device="auto")
        flops = probe._fit_flops(
            probe._prepare(X, reset=True, **({"lengths": lengths} if lengths is not None else {}))
        )
        row = {"family": family, "size": size, "flops": flops, "cpu": _timed(partial(fit, "cpu"))}
        row["cuda"] = _timed(partial(fit, "cuda")) if cuda else None
        row["auto"] = _timed(partial(fit, "auto")) if cuda else row["cpu"]
        row["auto_device"] = str(fit("auto")._device())
        best = min(t for t in (row["cpu"], row["cuda"]) if t is not None)
        rows.append(row)
        cuda_cell = f"{row['cuda']:.3f}" if row["cuda"] is not None else "-"
        print(
            f"| {family} | {size} | {flops:.2e} | {row['cpu']:.3f} | {cuda_cell} | "
            f"{row['auto_device']} | {row['auto'] / best:.2f} |",
            flush=True,
        )
    if json_path:
        with open(json_path, "w") as f:
            json.dump(rows, f, indent=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--sweep", action="store_true", help="where CUDA pays, per family")
    args = parser.parse_args()
    if args.sweep:
        sweep(args.json)
        return
    rows = []
    cuda = torch.cuda.is_available()
    for name, (ours, peer_name, peer) in _workloads(np.random.default_rng(0)).items():
        row = {"workload": name, "cpu": _timed(partial(ours, "cpu"))}
        row["cuda"] = _timed(partial(ours, "cuda")) if cuda else None
        try:
            row["peer"], row["peer_name"] = _timed(peer) if peer else None, peer_name
        except ImportError:
            row["peer"], row["peer_name"] = None, f"{peer_name} (not installed)"
        rows.append(row)
        cells = [f"{row[k]:.3f} s" if row[k] is not None else "-" for k in ("cuda", "cpu", "peer")]
        print(f"| {name} | {' | '.join(cells)} | {row['peer_name'] or '-'} |", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
