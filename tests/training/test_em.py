"""Sufficient-statistics EM: batches, all-reduce, and a fit across two processes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from genzoo import GaussianMixture
from genzoo.training.em import Batches, all_reduce_sum, is_distributed, sum_statistics

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _data():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]])
    X = centres[rng.integers(0, 3, 1200)] + rng.normal(size=(1200, 2))
    return X, centres + 0.5


def test_batches_split_rows_and_cache_prepared_batches():
    X = torch.arange(10.0).reshape(5, 2)
    batches = Batches(X, batch_rows=2)
    assert [len(b) for b in batches] == [2, 2, 1]
    calls = []
    prepared = batches.with_prepare(lambda b: calls.append(1) or b * 2, cache=True)
    first = torch.cat(list(prepared))
    second = torch.cat(list(prepared))
    torch.testing.assert_close(first, X * 2)
    torch.testing.assert_close(second, X * 2)
    assert len(calls) == 3  # the second pass reused the cache


def test_sum_statistics_adds_batches_key_by_key():
    X = torch.arange(12.0, dtype=torch.float64).reshape(6, 2)

    def e_step(params, batch):
        return {"s": batch.sum(0), "q": (batch**2).sum()}, batch.sum()

    stats, loglik, n = sum_statistics(e_step, {}, Batches(X, batch_rows=4))
    torch.testing.assert_close(stats["s"], X.sum(0))
    torch.testing.assert_close(stats["q"], (X**2).sum())
    assert loglik == pytest.approx(float(X.sum())) and n == 6
    assert not is_distributed()
    assert all_reduce_sum(stats) is stats  # a no-op in one process


def _fit_shard(rank: int, world: int, init_file: str, out: str):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    torch.set_num_threads(1)
    X, means_init = _data()
    shard = np.array_split(X, world)[rank]
    given = GaussianMixture(3, means_init=means_init, max_iter=25, tol=0, device="cpu").fit(shard)
    kmeans = GaussianMixture(3, random_state=0, max_iter=10, device="cpu").fit(shard)
    np.savez(
        f"{out}/rank{rank}.npz",
        means=given.means_,
        covariances=given.covariances_,
        weights=given.weights_,
        lower_bound=given.lower_bound_,
        kmeans_means=kmeans.means_,
    )
    dist.barrier()
    dist.destroy_process_group()


def test_two_processes_each_with_half_the_data_equal_one_process(tmp_path):
    mp.spawn(_fit_shard, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    X, means_init = _data()
    single = GaussianMixture(3, means_init=means_init, max_iter=25, tol=0, device="cpu").fit(X)
    ranks = [np.load(tmp_path / f"rank{r}.npz") for r in range(2)]
    for result in ranks:
        np.testing.assert_allclose(result["means"], single.means_, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(result["covariances"], single.covariances_, rtol=1e-6)
        np.testing.assert_allclose(result["weights"], single.weights_, rtol=1e-6)
        assert float(result["lower_bound"]) == pytest.approx(single.lower_bound_, rel=1e-6)
    # k-means initialisation seeds on rank 0 and broadcasts, so every process agrees
    np.testing.assert_array_equal(ranks[0]["kmeans_means"], ranks[1]["kmeans_means"])
