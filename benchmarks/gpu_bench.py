"""genzoo on CUDA against genzoo on the CPU and the CPU peer, for GMM, VAE, HMM, LDA and RBM.

Each workload runs once to warm up (CUDA start-up, kernel caches), then is timed; the figures
are wall-clock seconds with the device synchronised. Peers that are not installed are left out.
Run by benchmarks/gpu_check.sh on a machine with a GPU; on a CPU-only machine it reports the
CPU columns only.

    python benchmarks/gpu_bench.py --json gpu_bench.json
"""

from __future__ import annotations

import argparse
import json
import time
from functools import partial

import numpy as np
import torch

from genzoo import RBM, VAE, GaussianMixture, HiddenMarkovModel, LatentDirichletAllocation
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
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
