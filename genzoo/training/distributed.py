"""What processes of one distributed fit must agree on before they sum statistics.

Under torch.distributed each process holds its own shard of the data, so the labels (a
conditional model's `classes_`) or words (a grammar's vocabulary) it sees can differ. They
become the union over all processes before the first statistics are summed; otherwise
processes build tensors of different shapes and hang or diverge in the all-reduce.
"""

from __future__ import annotations

import json

import numpy as np
import torch
import torch.distributed as dist

__all__ = ["counts_across_processes", "union_across_processes"]


def _collective_device() -> torch.device:
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _all_gather_bytes(payload: bytes) -> list[bytes]:
    """Every process's `payload`, in rank order (JSON bytes travel as uint8 tensors)."""
    device = _collective_device()
    size = torch.tensor([len(payload)], dtype=torch.int64, device=device)
    sizes = [torch.zeros_like(size) for _ in range(dist.get_world_size())]
    dist.all_gather(sizes, size)
    longest = int(max(s.item() for s in sizes))
    padded = torch.zeros(longest, dtype=torch.uint8, device=device)
    padded[: len(payload)] = torch.frombuffer(bytearray(payload), dtype=torch.uint8)
    gathered = [torch.zeros_like(padded) for _ in sizes]
    dist.all_gather(gathered, padded)
    return [bytes(g[: int(s.item())].cpu().tolist()) for g, s in zip(gathered, sizes, strict=True)]


def union_across_processes(values) -> np.ndarray:
    """Return the sorted distinct values of `values` over every process (just `values`,
    sorted and distinct, without torch.distributed).

    Values are numbers or strings; they travel as JSON, never pickled.
    """
    values = np.unique(np.asarray(values))
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return values
    payload = json.dumps({"kind": values.dtype.kind, "items": values.tolist()}).encode()
    parts = [json.loads(p) for p in _all_gather_bytes(payload)]
    items = [item for part in parts for item in part["items"]]
    kinds = {part["kind"] for part in parts if part["items"]}
    if len(kinds) > 1 and not kinds <= set("biuf"):
        raise ValueError(
            "the processes hold labels of different types (numbers on some, strings on "
            "others); give every process labels of one type."
        )
    return np.unique(np.asarray(items, dtype=values.dtype if len(kinds) <= 1 else None))


def counts_across_processes(counts: dict[str, int]) -> dict[str, int]:
    """Return each key's count summed over every process (`counts` itself alone).

    Keys are strings (words); a key a process never saw counts 0 there.
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return dict(counts)
    keys = [str(k) for k in union_across_processes(np.array(list(counts), dtype=str))]
    device = _collective_device()
    totals = torch.tensor([counts.get(k, 0) for k in keys], dtype=torch.int64, device=device)
    dist.all_reduce(totals, op=dist.ReduceOp.SUM)
    return dict(zip(keys, totals.cpu().tolist(), strict=True))
