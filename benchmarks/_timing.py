"""Timing shared by the benchmarks."""

import time

import numpy as np


def timed(run, repeats: int):
    """Return (best seconds over `repeats` calls of `run`, the last call's result)."""
    best, out = np.inf, None
    for _ in range(repeats):
        start = time.perf_counter()
        out = run()
        best = min(best, time.perf_counter() - start)
    return best, out
