"""Deterministic kernels on a GPU, so that the same seed gives the same result there.

On a CPU, PyTorch's kernels are deterministic. On CUDA some are not: sums by atomics
(`index_add_`, the backward of `index_select`, `scatter_add_`) and cuDNN's choice of
convolution algorithm change the order of floating-point additions from run to run. The base
class runs every public method of a model on CUDA inside `deterministic_kernels`.
"""

from __future__ import annotations

import contextlib
import os

import torch

__all__ = ["deterministic_kernels"]

# cuBLAS is deterministic only with a fixed workspace; it reads this when CUDA starts, so it
# is set at import (a user's own setting wins).
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


@contextlib.contextmanager
def deterministic_kernels(device: torch.device | str, *, allow_tf32: bool | None = None):
    """Within the block, CUDA work uses deterministic kernels; the settings come back after.

    cuDNN runs its deterministic algorithms without autotuning, and atomics-based sums are
    replaced by deterministic ones (ops with none warn, PyTorch's `warn_only`, rather than
    fail). `allow_tf32=False` also turns TF32 convolutions off, for likelihoods evaluated in
    float32. On other devices it does nothing. These flags are global to the process.
    """
    if torch.device(device).type != "cuda":
        yield
        return
    cudnn = torch.backends.cudnn
    before = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        cudnn.deterministic,
        cudnn.benchmark,
        cudnn.allow_tf32,
    )
    torch.use_deterministic_algorithms(True, warn_only=True)
    cudnn.deterministic, cudnn.benchmark = True, False
    if allow_tf32 is not None:
        cudnn.allow_tf32 = allow_tf32
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])
        cudnn.deterministic, cudnn.benchmark, cudnn.allow_tf32 = before[2:]
