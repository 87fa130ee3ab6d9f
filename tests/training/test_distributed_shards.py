"""Under torch.distributed, processes whose shards hold different labels or words learn the
one model a single process learns from all the data (issue 11, item 9)."""

from __future__ import annotations

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from genzoo import PCFG, GaussianNaiveBayes

WORDS = ["a", "b", "c", "d", "e"]


def _labelled():
    rng = np.random.default_rng(0)
    y = np.repeat(["ant", "bee", "cat"], 40)
    X = rng.normal(size=(120, 3)) + (y == "bee")[:, None] * 2.0 - (y == "cat")[:, None] * 2.0
    return X, y


def _sentences():
    rng = np.random.default_rng(1)
    # every "e" sits in the second half, which only rank 1 holds
    first = [list(rng.choice(WORDS[:4], size=rng.integers(2, 5))) for _ in range(12)]
    second = [list(rng.choice(WORDS, size=rng.integers(2, 5))) + ["e"] for _ in range(12)]
    return first + second


def _shards(rank: int, world: int):
    X, y = _labelled()
    rows = np.flatnonzero(y != "cat") if rank == 0 else np.flatnonzero(y == "cat")
    sentences = _sentences()
    half = len(sentences) // 2
    return (X[rows], y[rows]), sentences[:half] if rank == 0 else sentences[half:]


def _fit_shard(rank: int, world: int, init_file: str, out: str):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    torch.set_num_threads(1)
    (X, y), sentences = _shards(rank, world)
    nb = GaussianNaiveBayes(device="cpu").fit(X, y)
    pcfg = PCFG(n_nonterminals=2, max_iter=5, random_state=0, device="cpu").fit(sentences)
    np.savez(
        f"{out}/rank{rank}.npz",
        classes=nb.classes_.astype(str),
        theta=nb.theta_,
        terminals=pcfg.terminals_.astype(str),
        rule_probs=pcfg.rule_probs_,
    )
    dist.barrier()
    dist.destroy_process_group()


def test_shards_missing_a_class_and_a_word_learn_the_single_process_model(tmp_path):
    mp.spawn(_fit_shard, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    X, y = _labelled()
    nb = GaussianNaiveBayes(device="cpu").fit(X, y)
    pcfg = PCFG(n_nonterminals=2, max_iter=5, random_state=0, device="cpu").fit(_sentences())
    for rank in range(2):
        result = np.load(tmp_path / f"rank{rank}.npz")
        np.testing.assert_array_equal(result["classes"], ["ant", "bee", "cat"])
        np.testing.assert_allclose(result["theta"], nb.theta_, rtol=1e-10)
        np.testing.assert_array_equal(result["terminals"], WORDS)
        np.testing.assert_allclose(result["rule_probs"], pcfg.rule_probs_, rtol=1e-8, atol=1e-12)
