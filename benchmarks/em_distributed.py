"""EM over two processes (torchrun, gloo) against one process, for the EM families.

For a Gaussian mixture, Gaussian naive Bayes, a Gaussian HMM and batch LDA, the same fit runs
three ways on the CPU, one thread per process:

- one process on one shard's data (n rows),
- one process on the full data (2n rows), the answer the two processes must reproduce,
- two processes under `torchrun --nproc-per-node 2`, each holding one shard of n rows.

Each fit runs `--iters` EM iterations (tol=0); an iteration is timed from one call of the
function every iteration calls once (`sum_statistics` for the mixture and the HMM, the
E-step over all documents for LDA, wrapped for the fit) to the next, so initialisation is
left out; naive Bayes, which has no iterations, is timed as one whole fit. Inside the worker
processes `torch.distributed.all_reduce` is wrapped by a timer, which gives the seconds spent
in all-reduce per iteration (waiting for the other process included) and the bytes reduced;
the same all-reduces replayed back to back, after a barrier, give the communication alone. A
sweep of all-reduce sizes gives the latency and bandwidth of this process group, and from
them the model

    time per iteration with N processes ~ compute(full data) / N + allreduce(bytes, N),
    allreduce(bytes, N) ~ 2 (N - 1) latency + 2 (N - 1) / N * bytes / bandwidth  (ring)

is printed against the measurement. The two-process parameters must equal the one-process
fit on the full data within 1e-8 (float64; relative where an entry exceeds 1). Initial
parameters are given (means for the mixture, all of them for the HMM) because k-means seeding
draws from rank 0's rows, which differ from one process's rows.

    python benchmarks/em_distributed.py [--iters 6] [--repeats 3] [--scale 1.0] [--json out.json]

`--sweep` instead compares two processes with one on the full data only, at shard sizes 100x
apart (0.02, 0.2 and 2 times the default), with 4 iterations per fit.

The script starts torchrun itself (`python -m torch.distributed.run --standalone
--nproc-per-node 2 benchmarks/em_distributed.py --worker DIR`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from _timing import benchmark_parser, report_sweep  # benchmarks/ is on the path

from genzoo import (
    GaussianMixture,
    GaussianNaiveBayes,
    HiddenMarkovModel,
    LatentDirichletAllocation,
)
from genzoo.training import em

TOLERANCE = 1e-8
# all-reduce sizes (float64 elements) for the latency and bandwidth fit
PROBE_SIZES = [1, 16, 256, 4096, 65536, 1048576]
# --sweep: shard sizes 100x apart (times SHARD_ROWS), fewer iterations
SWEEP_SCALES, SWEEP_ITERS = (0.02, 0.2, 2.0), 4


# --- data and fits, one per family


@dataclass(frozen=True)
class Family:
    """A family's data (as a tuple of arrays, rows or sequences first), its sharding and fit."""

    name: str
    make: Callable  # (rows per shard, rng) -> the data of 2 shards, a tuple of arrays
    split: Callable  # (data, rank, world) -> the rank's data tuple
    fit: Callable  # (data, max_iter) -> fitted model
    # (owner, attribute) of the function each EM iteration calls once; None: not iterative
    clock: tuple | None


def _rows(data, rank: int, world: int):
    """The rank's contiguous block of the first axis of every array."""
    n = len(data[0])
    lo, hi = rank * n // world, (rank + 1) * n // world
    return tuple(a[lo:hi] for a in data)


GMM_K, GMM_D = 8, 16
GMM_CENTRES = np.random.default_rng(7).normal(scale=4.0, size=(GMM_K, GMM_D))


def _gmm_data(n: int, rng):
    labels = rng.integers(GMM_K, size=2 * n)
    return (GMM_CENTRES[labels] + rng.normal(size=(2 * n, GMM_D)),)


def _gmm_fit(data, max_iter: int):
    model = GaussianMixture(
        GMM_K,
        covariance_type="full",
        means_init=GMM_CENTRES + 0.5,
        max_iter=max_iter,
        tol=0.0,
        random_state=0,
        device="cpu",
    )
    return model.fit(data[0])


NB_CLASSES, NB_D = 10, 32


def _nb_data(n: int, rng):
    y = rng.integers(NB_CLASSES, size=2 * n)
    centres = np.random.default_rng(8).normal(size=(NB_CLASSES, NB_D))
    return centres[y] + rng.normal(size=(2 * n, NB_D)), y


def _nb_fit(data, max_iter: int):
    return GaussianNaiveBayes(device="cpu").fit(*data)


HMM_K, HMM_D, HMM_T = 6, 3, 100
HMM_MEANS = np.random.default_rng(9).normal(scale=3.0, size=(HMM_K, HMM_D))
HMM_TRANS = np.full((HMM_K, HMM_K), 0.1 / (HMM_K - 1)) + np.eye(HMM_K) * (0.9 - 0.1 / (HMM_K - 1))
HMM_TRANS_INIT = np.full((HMM_K, HMM_K), 0.5 / HMM_K) + 0.5 * np.eye(HMM_K)


def _hmm_data(n: int, rng):
    """2n / HMM_T sequences of HMM_T steps, (sequence, step, d): shards split by sequence."""
    n_seq = max(2 * n // HMM_T, 2)
    states = np.empty((n_seq, HMM_T), dtype=np.int64)
    states[:, 0] = rng.integers(HMM_K, size=n_seq)
    cumulative = HMM_TRANS.cumsum(1)
    for t in range(1, HMM_T):  # all sequences step together
        u = rng.random(n_seq)[:, None]
        states[:, t] = (u > cumulative[states[:, t - 1]]).sum(1).clip(max=HMM_K - 1)
    X = HMM_MEANS[states] + rng.normal(size=(n_seq, HMM_T, HMM_D))  # (sequence, step, d)
    return (X,)


def _hmm_fit(data, max_iter: int):
    X = data[0]
    model = HiddenMarkovModel(
        HMM_K,
        covariance_type="diag",
        max_iter=max_iter,
        tol=0.0,
        random_state=0,
        startprob_init=np.full(HMM_K, 1 / HMM_K),
        transmat_init=HMM_TRANS_INIT,
        means_init=HMM_MEANS + 0.3,
        covars_init=np.ones((HMM_K, HMM_D)),
        device="cpu",
    )
    return model.fit(X.reshape(-1, HMM_D), lengths=[HMM_T] * len(X))


LDA_K, LDA_V, LDA_WORDS = 10, 500, 80


def _lda_data(n: int, rng):
    """2n documents of about LDA_WORDS words from LDA_K random topics."""
    topics = np.random.default_rng(10).dirichlet(np.full(LDA_V, 0.05), size=LDA_K)
    theta = rng.dirichlet(np.full(LDA_K, 0.3), size=2 * n)
    lengths = rng.poisson(LDA_WORDS, size=2 * n)
    counts = np.stack([rng.multinomial(m, p) for m, p in zip(lengths, theta @ topics, strict=True)])
    return (counts.astype(np.float64),)


def _lda_fit(data, max_iter: int):
    model = LatentDirichletAllocation(
        LDA_K, learning_method="batch", max_iter=max_iter, random_state=0, device="cpu"
    )
    return model.fit(data[0])


FAMILIES = [
    Family("gmm", _gmm_data, _rows, _gmm_fit, (em, "sum_statistics")),
    Family("naive_bayes", _nb_data, _rows, _nb_fit, None),
    Family("hmm", _hmm_data, _rows, _hmm_fit, (em, "sum_statistics")),
    Family("lda", _lda_data, _rows, _lda_fit, (LatentDirichletAllocation, "_e_step_all")),
]
# rows per shard at --scale 1 (sequences: steps; LDA: documents)
SHARD_ROWS = {"gmm": 40_000, "naive_bayes": 100_000, "hmm": 50_000, "lda": 500}


def family_data(family: Family, scale: float):
    rng = np.random.default_rng(0)
    return family.make(max(int(SHARD_ROWS[family.name] * scale), 10), rng)


# --- measuring


class AllReduceLog:
    """Wraps torch.distributed.all_reduce (genzoo calls it through the module) with a timer."""

    def __init__(self):
        self.calls: list[tuple[float, int, str, float]] = []  # (start, elements, dtype, s)
        self._real = dist.all_reduce

    def __enter__(self):
        def timed_all_reduce(tensor, *args, **kwargs):
            start = time.perf_counter()
            out = self._real(tensor, *args, **kwargs)
            seconds = time.perf_counter() - start
            self.calls.append((start, tensor.numel(), str(tensor.dtype), seconds))
            return out

        dist.all_reduce = timed_all_reduce
        return self

    def __exit__(self, *exc):
        dist.all_reduce = self._real

    def between(self, start: float = -np.inf, end: float = np.inf) -> list[tuple]:
        """The calls that began in [start, end)."""
        return [c for c in self.calls if start <= c[0] < end]

    @property
    def bytes(self) -> int:
        return call_bytes(self.calls)


def call_bytes(calls: list[tuple]) -> int:
    return sum(n * torch.empty((), dtype=_dtype(d)).element_size() for _, n, d, _ in calls)


class IterationClock:
    """Stamps the start of every EM iteration by wrapping the function each one calls once
    (patched on its module or class for the fit's duration; genzoo is not changed)."""

    def __init__(self, target: tuple | None):
        self.target = target
        self.stamps: list[float] = []

    def __enter__(self):
        if self.target is not None:
            owner, name = self.target
            self._real = real = getattr(owner, name)

            def stamped(*args, **kwargs):
                self.stamps.append(time.perf_counter())
                return real(*args, **kwargs)

            setattr(owner, name, stamped)
        return self

    def __exit__(self, *exc):
        if self.target is not None:
            setattr(*self.target, self._real)


def _dtype(name: str) -> torch.dtype:
    return getattr(torch, name.removeprefix("torch."))


def fitted_arrays(model) -> dict[str, np.ndarray]:
    """The float arrays a fit learned (attributes ending in `_`)."""
    return {
        k: np.asarray(v, dtype=np.float64)
        for k, v in vars(model).items()
        if k.endswith("_") and isinstance(v, np.ndarray) and v.dtype.kind == "f"
    }


def measure(family: Family, data, iters: int, repeats: int) -> dict:
    """Seconds, all-reduce seconds and bytes per EM iteration (best of `repeats` fits), and the
    fitted parameters.

    An iteration runs from one stamp of the family's clock to the next, so initialisation and
    the last iteration's end are left out; a fit without iterations is timed whole.
    """
    best = None
    for _ in range(repeats):
        if dist.is_initialized():
            dist.barrier()
        with AllReduceLog() as log, IterationClock(family.clock) as clock:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # tol=0 never converges, by design
                start = time.perf_counter()
                model = family.fit(data, iters)
                end = time.perf_counter()
        if family.clock is not None:
            start, end = clock.stamps[0], clock.stamps[-1]
        n_iter = max(len(clock.stamps) - 1, 1)
        calls = log.between(start, end)
        row = {
            "seconds_per_iter": (end - start) / n_iter,
            "allreduce_s_per_iter": sum(c[3] for c in calls) / n_iter,
            "bytes_per_iter": call_bytes(calls) / n_iter,
            "calls_timed": dict(Counter(f"{n}:{d}" for _, n, d, _ in calls)),
            "iters_timed": n_iter,
        }
        if best is None or row["seconds_per_iter"] < best["seconds_per_iter"]:
            best = row
    return {**best, "params": fitted_arrays(model)}


def replay(calls: dict[str, int], iters_timed: int, reps: int = 20) -> float:
    """Seconds per iteration of the same all-reduces back to back (communication alone)."""
    tensors = []
    for key, count in calls.items():
        n, d = key.split(":")
        tensors += [torch.zeros(int(n), dtype=_dtype(d)) for _ in range(count)]
    dist.barrier()
    start = time.perf_counter()
    for _ in range(reps):
        for t in tensors:
            dist.all_reduce(t)
    return (time.perf_counter() - start) / reps / iters_timed


def probe_allreduce() -> list[dict]:
    """Seconds of one all-reduce of float64 tensors of PROBE_SIZES elements."""
    out = []
    for n in PROBE_SIZES:
        t = torch.zeros(n, dtype=torch.float64)
        reps = 200 if n < 10_000 else 20
        for _ in range(3):
            dist.all_reduce(t)
        dist.barrier()
        start = time.perf_counter()
        for _ in range(reps):
            dist.all_reduce(t)
        out.append({"bytes": 8 * n, "seconds": (time.perf_counter() - start) / reps})
    return out


# --- the two roles: torchrun worker and driver


def worker(out_dir: str, iters: int, repeats: int, scale: float) -> None:
    """One of the torchrun processes: its shard of every family, fitted and timed."""
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    results = {}
    for family in FAMILIES:
        shard = family.split(family_data(family, scale), rank, world)
        row = measure(family, shard, iters, repeats)
        row["replay_s_per_iter"] = replay(row["calls_timed"], row["iters_timed"])
        np.savez(Path(out_dir) / f"{family.name}_rank{rank}.npz", **row.pop("params"))
        results[family.name] = row
    results["probe"] = probe_allreduce()
    (Path(out_dir) / f"rank{rank}.json").write_text(json.dumps(results))
    dist.barrier()
    dist.destroy_process_group()


def run_torchrun(iters: int, repeats: int, scale: float) -> tuple[list[dict], list[dict]]:
    """Both worker processes' figures and fitted arrays, per family, in rank order."""
    with tempfile.TemporaryDirectory() as out:
        command = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node",
            "2",
            str(Path(__file__).resolve()),
            "--worker",
            out,
            "--iters",
            str(iters),
            "--repeats",
            str(repeats),
            "--scale",
            str(scale),
        ]
        subprocess.run(command, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        figures = [json.loads((Path(out) / f"rank{r}.json").read_text()) for r in range(2)]
        arrays = [
            {f.name: dict(np.load(Path(out) / f"{f.name}_rank{r}.npz")) for f in FAMILIES}
            for r in range(2)
        ]
    return figures, arrays


def run_single(scale: float, iters: int, repeats: int, threads: int, part: str) -> dict:
    """One process's figures per family, on the full data or on shard 0 (`part`)."""
    torch.set_num_threads(threads)
    out = {}
    for family in FAMILIES:
        data = family_data(family, scale)
        out[family.name] = measure(
            family, data if part == "full" else family.split(data, 0, 2), iters, repeats
        )
    torch.set_num_threads(1)
    return out


def largest_difference(a: dict, b: dict) -> float:
    """Largest |a - b| over all arrays, relative to |b| where |b| exceeds 1."""
    return max(float(np.max(np.abs(a[k] - b[k]) / np.maximum(np.abs(b[k]), 1.0))) for k in b)


def latency_bandwidth(probe: list[dict]) -> tuple[float, float]:
    """(latency s, bandwidth bytes/s) of a two-process all-reduce, from its smallest and
    largest probe: t(bytes) ~ 2 latency + bytes / bandwidth (ring, N = 2)."""
    small, large = probe[0], probe[-1]
    latency = small["seconds"] / 2
    return latency, (large["bytes"] - small["bytes"]) / (large["seconds"] - small["seconds"])


def predicted_seconds(row: dict, latency: float, bandwidth: float, N: int) -> float:
    """The model: one process's compute split N ways plus a ring all-reduce of each call."""
    if N == 1:
        return row["one_process_full_s"]
    calls, size = row["allreduce_calls_per_iter"], row["bytes_per_iter"]
    return (
        row["one_process_full_s"] / N
        + calls * 2 * (N - 1) * latency
        + 2 * (N - 1) / N * size / bandwidth
    )


def compare(full: dict, figures: list[dict], arrays: list[dict]) -> list[dict]:
    """One row per family: one process on the full data against two on its halves."""
    rows = []
    for family in FAMILIES:
        name, mine = family.name, figures[0][family.name]
        two = max(f[name]["seconds_per_iter"] for f in figures)  # the slower process
        params = full[name]["params"]
        rows.append(
            {
                "family": name,
                "one_process_full_s": full[name]["seconds_per_iter"],
                "two_processes_s": two,
                "speed_up": full[name]["seconds_per_iter"] / two,
                "in_allreduce_s": max(f[name]["allreduce_s_per_iter"] for f in figures),
                "allreduce_alone_s": max(f[name]["replay_s_per_iter"] for f in figures),
                "bytes_per_iter": mine["bytes_per_iter"],
                "allreduce_calls_per_iter": sum(mine["calls_timed"].values()) / mine["iters_timed"],
                "max_difference": max(largest_difference(a[name], params) for a in arrays),
            }
        )
    return rows


def print_table(rows: list[dict], shard: dict, threads2: dict, latency, bandwidth) -> None:
    print(
        f"\nEM seconds per iteration (ms), one thread per process, {platform.machine()}, torch "
        f"{torch.__version__}, gloo on loopback; naive Bayes: the whole fit (one pass)"
    )
    print(
        f"{'family':<12}{'1p shard':>9}{'1p full':>9}{'1p 2 thr':>9}{'2p':>8}{'speed-up':>9}"
        f"{'in AR':>8}{'AR alone':>9}{'KiB/iter':>9}{'calls':>6}{'model':>8}{'max diff':>10}"
    )
    for row in rows:
        name = row["family"]
        row["one_process_shard_s"] = shard[name]["seconds_per_iter"]
        row["one_process_full_2_threads_s"] = threads2[name]["seconds_per_iter"]
        row["model_s"] = predicted_seconds(row, latency, bandwidth, 2)
        ms = [
            1e3 * row[k]
            for k in (
                "one_process_shard_s",
                "one_process_full_s",
                "one_process_full_2_threads_s",
                "two_processes_s",
            )
        ]
        print(
            f"{name:<12}{ms[0]:>9.2f}{ms[1]:>9.2f}{ms[2]:>9.2f}{ms[3]:>8.2f}"
            f"{row['speed_up']:>9.2f}{1e3 * row['in_allreduce_s']:>8.3f}"
            f"{1e3 * row['allreduce_alone_s']:>9.3f}{row['bytes_per_iter'] / 1024:>9.1f}"
            f"{row['allreduce_calls_per_iter']:>6.0f}{1e3 * row['model_s']:>8.2f}"
            f"{row['max_difference']:>10.1e}"
        )


def print_model(rows: list[dict], probe: list[dict], latency, bandwidth) -> None:
    sizes = ", ".join(f"{p['bytes']:,} B {1e6 * p['seconds']:.0f} us" for p in probe)
    print(f"\none float64 all-reduce, 2 processes: {sizes}")
    print(f"latency {1e6 * latency:.0f} us per ring step, bandwidth {bandwidth / 1e9:.2f} GB/s")
    Ns = [1, 2, 4, 8, 16, 64]
    print("predicted ms per iteration with N processes at this latency and bandwidth:")
    print(f"{'family':<12}" + "".join(f"{'N=' + str(N):>9}" for N in Ns))
    for row in rows:
        cells = [1e3 * predicted_seconds(row, latency, bandwidth, N) for N in Ns]
        print(f"{row['family']:<12}" + "".join(f"{c:>9.2f}" for c in cells))


def check(rows: list[dict]) -> None:
    bad = [r["family"] for r in rows if r["max_difference"] > TOLERANCE]
    verdict = "yes, every family" if not bad else f"NO for {', '.join(bad)}"
    print(f"\ntwo processes = one process on the full data within {TOLERANCE:g}: {verdict}")


def single_run(args) -> None:
    """The full comparison at one size, with the model of the communication cost."""
    shard = run_single(args.scale, args.iters, args.repeats, 1, "shard")
    full = run_single(args.scale, args.iters, args.repeats, 1, "full")
    threads2 = run_single(args.scale, args.iters, args.repeats, 2, "full")
    figures, arrays = run_torchrun(args.iters, args.repeats, args.scale)
    probe = figures[0]["probe"]
    latency, bandwidth = latency_bandwidth(probe)
    rows = compare(full, figures, arrays)
    print_table(rows, shard, threads2, latency, bandwidth)
    print_model(rows, probe, latency, bandwidth)
    check(rows)
    if args.json:
        figures = {"rows": rows, "probe": probe, "latency_s": latency, "bandwidth": bandwidth}
        Path(args.json).write_text(json.dumps(figures, indent=2))


def sweep(args) -> None:
    """Two processes against one on the full data, at shard sizes 100x apart."""
    table = []
    for scale in SWEEP_SCALES:
        full = run_single(scale, SWEEP_ITERS, args.repeats, 1, "full")
        figures, arrays = run_torchrun(SWEEP_ITERS, args.repeats, scale)
        for row in compare(full, figures, arrays):
            rows_per_shard = max(int(SHARD_ROWS[row["family"]] * scale), 10)
            table.append(
                {
                    "workload": f"{row['family']}, 2 x {rows_per_shard:,}",
                    "genzoo_s": row["two_processes_s"],
                    "peer_s": row["one_process_full_s"],
                    "in_allreduce_ms": 1e3 * row["in_allreduce_s"],
                    "KiB_per_iter": row["bytes_per_iter"] / 1024,
                    "max_difference": row["max_difference"],
                }
            )
    table.sort(key=lambda r: r["workload"].split(",")[0])
    title = (
        "EM seconds per iteration, two processes (torchrun, gloo, 1 thread each) against one "
        "process on the full data (1 thread); the ratio is their time"
    )
    report_sweep(title, table, "1 process", args.json)


def main() -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--iters", type=int, default=6, help="EM iterations of the long fit")
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies the shard sizes")
    parser.add_argument("--worker", metavar="DIR", help=argparse.SUPPRESS)
    parser.set_defaults(repeats=3)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.iters, args.repeats, args.scale)
        return
    start = time.perf_counter()
    if args.sweep:
        sweep(args)
    else:
        single_run(args)
    print(f"\n(whole benchmark: {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
