"""The distributed EM benchmark's claim, on tiny data: two gloo processes, each fitting one
shard, learn what one process learns from all the data, for every EM family it times; and its
all-reduce log sees the statistics go by."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
bench = pytest.importorskip("em_distributed")

SCALE, MAX_ITER = 0.01, 3

pytestmark = pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()), reason="needs torch.distributed gloo"
)


def _fit_shards(rank: int, world: int, init_file: str, out: str):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    torch.set_num_threads(1)
    reduced = {}
    for family in bench.FAMILIES:
        shard = family.split(bench.family_data(family, SCALE), rank, world)
        with bench.AllReduceLog() as log:
            model = family.fit(shard, MAX_ITER)
        reduced[family.name] = log.bytes
        np.savez(f"{out}/{family.name}_rank{rank}.npz", **bench.fitted_arrays(model))
    np.savez(f"{out}/bytes_rank{rank}.npz", **reduced)
    dist.barrier()
    dist.destroy_process_group()


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_two_processes_on_shards_equal_one_process_on_all_data(tmp_path):
    mp.spawn(_fit_shards, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    for family in bench.FAMILIES:
        whole = bench.fitted_arrays(family.fit(bench.family_data(family, SCALE), MAX_ITER))
        assert whole, family.name
        for rank in range(2):
            shards = dict(np.load(tmp_path / f"{family.name}_rank{rank}.npz"))
            assert shards.keys() == whole.keys()
            assert bench.largest_difference(shards, whole) <= bench.TOLERANCE, family.name
    for rank in range(2):
        reduced = np.load(tmp_path / f"bytes_rank{rank}.npz")
        assert all(reduced[family.name] > 0 for family in bench.FAMILIES)


def test_latency_and_bandwidth_from_a_linear_probe():
    probe = [{"bytes": b, "seconds": 2e-5 + b / 1e9} for b in (8, 8 * 2**20)]
    latency, bandwidth = bench.latency_bandwidth(probe)
    assert latency == pytest.approx(1e-5 + 4e-9)
    assert bandwidth == pytest.approx(1e9)
