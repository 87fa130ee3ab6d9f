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
def deterministic_kernels(device: torch.device):
    """Within the block, CUDA work uses deterministic kernels; the settings come back after.

    On other devices it does nothing. Ops with no deterministic CUDA kernel warn (PyTorch's
    `warn_only`) rather than fail.
    """
    if device.type != "cuda":
        yield
        return
    before = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
    )
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = before[2:]
