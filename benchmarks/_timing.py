"""Timing and reporting shared by the benchmarks."""

from __future__ import annotations

import argparse
import json
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


def benchmark_parser(doc: str) -> argparse.ArgumentParser:
    """The options every peer benchmark takes: --repeats, --json and --sweep."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1, help="best of this many runs")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument(
        "--sweep",
        action="store_true",
        help="run the comparison over workload sizes spanning two orders of magnitude",
    )
    return parser


def report_sweep(title: str, rows: list[dict], peer: str, json_path: str | None = None):
    """Print a sweep: one line per workload, genzoo's and the peer's seconds and their ratio.

    Each row holds "workload" (a short label), "genzoo_s" and "peer_s"; any other keys (an
    agreement figure, say) are printed after the ratio. The ratio is genzoo's time over the
    peer's: below 1 genzoo is faster.
    """
    for row in rows:
        row["ratio"] = row["genzoo_s"] / row["peer_s"]
    extra = [k for k in rows[0] if k not in ("workload", "genzoo_s", "peer_s", "ratio")]
    width = max(len("workload"), *(len(str(r["workload"])) for r in rows)) + 2
    print(title)
    head = f"{'workload':<{width}}{'genzoo s':>10}{peer + ' s':>14}{'ratio':>8}"
    print(head + "".join(f"{k:>16}" for k in extra))
    for r in rows:
        line = (
            f"{r['workload']:<{width}}{r['genzoo_s']:>10.4f}{r['peer_s']:>14.4f}{r['ratio']:>8.3f}"
        )
        print(line + "".join(f"{_fmt(r[k]):>16}" for k in extra))
    if json_path:
        with open(json_path, "w") as f:
            json.dump({"title": title, "peer": peer, "rows": rows}, f, indent=2)
    return rows


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)
