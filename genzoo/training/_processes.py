"""Where training runs: the process group under torchrun, the training device, the few
numbers processes exchange, and deterministic CUDA kernels."""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from genzoo._determinism import deterministic_kernels
from genzoo._validation import resolve_device
from genzoo.training.em import is_distributed

__all__ = ["deterministic_kernels", "init_distributed"]


def init_distributed(device: str | torch.device = "auto") -> bool:
    """Join the process group that `torchrun` describes, if one is described and not joined.

    The backend is nccl for a CUDA device and gloo otherwise. Returns whether more than one
    process is running.
    """
    if dist.is_available() and not dist.is_initialized():
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            cuda = resolve_device(device).type == "cuda"
            if cuda:
                torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
            dist.init_process_group("nccl" if cuda else "gloo")
    return is_distributed()


def world_and_rank() -> tuple[int, int]:
    return (dist.get_world_size(), dist.get_rank()) if is_distributed() else (1, 0)


def training_device(device) -> torch.device:
    device = resolve_device(device)
    if device.type == "cuda" and device.index is None:
        if is_distributed():
            local = os.environ.get("LOCAL_RANK")
            index = int(local) if local else dist.get_rank() % torch.cuda.device_count()
        else:
            index = torch.cuda.current_device()
        device = torch.device("cuda", index)
    return device


def collective(values: list[float], op, device: torch.device, dtype=torch.float64) -> list:
    """All-reduce a few numbers (on the GPU under nccl, which has no CPU tensors)."""
    if not is_distributed():
        return values
    on = device if dist.get_backend() == "nccl" else torch.device("cpu")
    tensor = torch.tensor(values, dtype=dtype, device=on)
    dist.all_reduce(tensor, op=op)
    return tensor.tolist()


def require_same(value: int, what: str, device: torch.device) -> None:
    """Raise ValueError on every process if `value` differs between processes."""
    high, negative_low = collective([value, -value], dist.ReduceOp.MAX, device, torch.int64)
    if high != -negative_low:
        raise ValueError(f"{what} differs between processes ({-negative_low} to {high}).")


def shared_seed(random_state: int | None, device: torch.device) -> int:
    """The run's seed: `random_state`, or one drawn on process 0 and given to all."""
    if random_state is not None:
        return int(random_state) % 2**63
    seed = int(np.random.SeedSequence().generate_state(1, dtype=np.uint64)[0] >> 1)
    if is_distributed():  # everyone adds zero to process 0's draw
        mine = seed if world_and_rank()[1] == 0 else 0
        seed = collective([mine], dist.ReduceOp.SUM, device, torch.int64)[0]
    return seed


def wrap(modules: dict[str, nn.Module], device: torch.device) -> dict[str, nn.Module]:
    """Each module with trainable parameters in DistributedDataParallel."""
    ids = [device.index] if device.type == "cuda" else None
    trainable = {n for n, m in modules.items() if any(p.requires_grad for p in m.parameters())}
    return {
        n: DistributedDataParallel(m, device_ids=ids) if n in trainable else m
        for n, m in modules.items()
    }
