"""Training checkpoints without pickle, and what makes resuming from them exact.

A checkpoint holds the weights of every module, their exponential moving average, the state of
each optimizer (tensors in the file, its numbers and hyper-parameters in the JSON), and the
trainer's own state (step, data position, seed, loss history) in the JSON. Loading parses JSON
and raw tensors only, so a checkpoint from an untrusted source cannot run code. A write goes to
a temporary file that then replaces the old one, so a process killed mid-write leaves the
previous checkpoint intact. `StopRequests` turns SIGINT and SIGTERM into a checkpoint at the
next step boundary.

Resume is exact without saving generator states: the data order (`DataStream`) and the loss's
noise are seeded by `mix_seed` from the run's seed, the epoch or the step, and the process.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import struct
import threading
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from genzoo._version import __version__

__all__ = [
    "CHECKPOINT_FILE",
    "DATA_STREAM",
    "LOSS_STREAM",
    "MONITOR_STREAM",
    "DataStream",
    "StopRequests",
    "checkpoint_file",
    "load_checkpoint",
    "mix_seed",
    "read_checkpoint_state",
    "save_checkpoint",
]

CHECKPOINT_FILE = "checkpoint.safetensors"  # the file inside a checkpoint folder
_FORMAT = "genzoo-checkpoint"
_FORMAT_VERSION = 1
_META_KEY = "genzoo_checkpoint"
DATA_STREAM, LOSS_STREAM, MONITOR_STREAM = 0, 1, 2  # tags that keep the seed streams apart


def checkpoint_file(path: str | os.PathLike) -> Path:
    """The checkpoint file for `path`: itself if it ends in .safetensors, else inside it."""
    path = Path(path)
    return path if path.suffix == ".safetensors" else path / CHECKPOINT_FILE


# --- tensors of modules and optimizer


def _check_name(name: str, what: str) -> None:
    if "/" in name:
        raise ValueError(f"{what} name {name!r} must not contain '/'.")


def _module_tensors(prefix: str, modules: dict[str, torch.nn.Module]) -> dict[str, torch.Tensor]:
    out = {}
    for name, module in modules.items():
        _check_name(name, "module")
        for key, value in module.state_dict().items():
            # clone: tied weights share storage, which safetensors refuses
            out[f"{prefix}/{name}/{key}"] = value.detach().cpu().clone().contiguous()
    return out


def _optimizer_parts(optimizer: torch.optim.Optimizer, prefix: str) -> tuple[dict, dict]:
    """The optimizer's state as (tensors named `prefix/index/key`, JSON-able numbers and
    param groups)."""
    state = optimizer.state_dict()
    tensors, numbers = {}, {}
    for index, entries in state["state"].items():
        for key, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{prefix}/{index}/{key}"] = value.detach().cpu().clone().contiguous()
            else:
                numbers.setdefault(str(index), {})[key] = value
    return tensors, {"numbers": numbers, "param_groups": state["param_groups"]}


def _optimizer_state(tensors: dict, meta: dict, prefix: str) -> dict:
    """Rebuild an optimizer state dict from the file's tensors under `prefix/` and its JSON."""
    state: dict[int, dict] = {}
    start = prefix + "/"
    for key, value in tensors.items():
        if key.startswith(start):
            index, name = key[len(start) :].split("/", 1)
            state.setdefault(int(index), {})[name] = value
    for index, entries in meta["numbers"].items():
        state.setdefault(int(index), {}).update(entries)
    groups = []
    for group in meta["param_groups"]:
        # JSON turned tuples (AdamW's betas) into lists
        groups.append({k: tuple(v) if k == "betas" else v for k, v in group.items()})
    return {"state": state, "param_groups": groups}


# --- writing


def save_checkpoint(
    path: str | os.PathLike,
    *,
    modules: dict[str, torch.nn.Module],
    optimizer: torch.optim.Optimizer | None = None,
    optimizers: dict[str, torch.optim.Optimizer] | None = None,
    ema: dict[str, torch.nn.Module] | None = None,
    state: dict | None = None,
) -> Path:
    """Write modules, optimizers, EMA and a JSON-able `state` to `path` atomically.

    `path` is a folder (the file is `checkpoint.safetensors` inside it) or a file ending in
    .safetensors. A run with one optimizer passes `optimizer`; one with several passes
    `optimizers`, a dict of name -> optimizer. Returns the path of the written file.
    """
    target = checkpoint_file(path)
    tensors = _module_tensors("module", modules)
    meta = {
        "format": _FORMAT,
        "format_version": _FORMAT_VERSION,
        "genzoo_version": __version__,
        "modules": list(modules),
        "ema": None if ema is None else list(ema),
        "optimizer": None,
        "state": state or {},
    }
    if ema is not None:
        tensors.update(_module_tensors("ema", ema))
    if optimizer is not None:
        optimizer_tensors, meta["optimizer"] = _optimizer_parts(optimizer, "optimizer")
        tensors.update(optimizer_tensors)
    if optimizers is not None:
        meta["optimizers"] = {}
        for name, each in optimizers.items():
            _check_name(name, "optimizer")
            each_tensors, meta["optimizers"][name] = _optimizer_parts(each, f"optimizers/{name}")
            tensors.update(each_tensors)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    save_file(tensors, str(temporary), metadata={_META_KEY: json.dumps(meta)})
    os.replace(temporary, target)  # atomic: readers see the old file or the new one
    return target


# --- reading


def _read_meta(target: Path) -> dict:
    if not target.is_file():
        raise FileNotFoundError(f"no genzoo checkpoint at {target}.")
    try:
        with safe_open(str(target), framework="pt") as f:
            header = f.metadata() or {}
    except (SafetensorError, OSError) as err:
        raise ValueError(
            f"{target} is not a readable checkpoint (corrupt or truncated): {err}"
        ) from None
    try:
        meta = json.loads(header[_META_KEY])
    except (KeyError, json.JSONDecodeError):
        raise ValueError(f"{target} is a safetensors file but not a genzoo checkpoint.") from None
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
        raise ValueError(f"{target} is a safetensors file but not a genzoo checkpoint.")
    if meta.get("format_version", _FORMAT_VERSION + 1) > _FORMAT_VERSION:
        raise ValueError(
            f"{target} was written by a newer genzoo ({meta.get('genzoo_version')}); upgrade."
        )
    return meta


def read_checkpoint_state(path: str | os.PathLike) -> dict:
    """Return the trainer state (step, seed, history...) of a checkpoint, reading no tensors."""
    return _read_meta(checkpoint_file(path))["state"]


def _read_tensors(target: Path) -> dict[str, torch.Tensor]:
    try:
        with safe_open(str(target), framework="pt", device="cpu") as f:
            return {key: f.get_tensor(key) for key in f.keys()}
    except (SafetensorError, OSError, RuntimeError) as err:
        raise ValueError(
            f"{target} is not a readable checkpoint (corrupt or truncated): {err}"
        ) from None


def _load_modules(prefix: str, modules, tensors: dict, names: list | None, source: Path) -> None:
    if names is None or sorted(names) != sorted(modules):
        raise ValueError(
            f"{source} holds {prefix} weights for modules {names}, but the trainer was given "
            f"{sorted(modules)}."
        )
    for name, module in modules.items():
        start = f"{prefix}/{name}/"
        weights = {k[len(start) :]: v for k, v in tensors.items() if k.startswith(start)}
        try:
            module.load_state_dict(weights, strict=True)
        except RuntimeError as err:
            raise ValueError(f"{source}: the weights of {name!r} do not fit: {err}") from None


def load_checkpoint(
    path: str | os.PathLike,
    *,
    modules: dict[str, torch.nn.Module],
    optimizer: torch.optim.Optimizer | None = None,
    optimizers: dict[str, torch.optim.Optimizer] | None = None,
    ema: dict[str, torch.nn.Module] | None = None,
) -> dict:
    """Restore modules, optimizer(s) and EMA in place from `path`; return the saved `state`.

    Tensors are read on the CPU and copied to where the modules and optimizers keep theirs
    (Adam's step counts stay on the CPU, where reading them costs no device sync). Raises
    FileNotFoundError when there is no checkpoint, and ValueError when the file is corrupt,
    not a checkpoint, or does not match the modules and optimizers given.
    """
    target = checkpoint_file(path)
    meta = _read_meta(target)
    tensors = _read_tensors(target)
    _load_modules("module", modules, tensors, meta["modules"], target)
    if ema is not None:
        _load_modules("ema", ema, tensors, meta["ema"], target)
    if optimizer is not None:
        if meta["optimizer"] is None:
            raise ValueError(f"{target} holds no optimizer state.")
        _load_optimizer(optimizer, tensors, meta["optimizer"], "optimizer", target)
    if optimizers is not None:
        saved = meta.get("optimizers") or {}
        if sorted(saved) != sorted(optimizers):
            raise ValueError(
                f"{target} holds the state of optimizers {sorted(saved)}, but the trainer was "
                f"given {sorted(optimizers)}."
            )
        for name, each in optimizers.items():
            _load_optimizer(each, tensors, saved[name], f"optimizers/{name}", target)
    return meta["state"]


def _load_optimizer(optimizer, tensors: dict, meta: dict, prefix: str, source: Path) -> None:
    try:
        optimizer.load_state_dict(_optimizer_state(tensors, meta, prefix))
    except (ValueError, KeyError, RuntimeError) as err:
        raise ValueError(f"{source}: the {prefix} state does not fit: {err}") from None


# --- checkpoint on a signal


class StopRequests:
    """Turns SIGINT and SIGTERM into a request to stop, and checkpoint, at a step boundary.

    Installed only in the main thread (where Python runs signal handlers); the previous
    handlers come back on exit.
    """

    def __init__(self):
        self.signum: int | None = None
        self._previous: dict = {}

    def _handle(self, signum, frame):
        if self.signum == signal.SIGINT and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C stops at once
        self.signum = signum

    def __enter__(self) -> StopRequests:
        if threading.current_thread() is threading.main_thread():  # signal needs the main one
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)


# --- seeded streams


def mix_seed(*values: int) -> int:
    """A 63-bit seed hashed from integers, so nearby inputs give unrelated streams."""
    packed = struct.pack(f"<{len(values)}Q", *(v % 2**64 for v in values))
    return int.from_bytes(hashlib.blake2b(packed, digest_size=8).digest(), "little") >> 1


class DataStream:
    """Row indices of the shuffled data: one seeded permutation per epoch, end to end.

    The permutations are drawn on the CPU, so the order is the same on every device, and
    moved to `device` once per epoch, so taking a batch's rows costs no host-device copy.
    """

    def __init__(self, n_rows: int, seed: int, device: torch.device | str = "cpu"):
        self.n_rows, self.seed, self.device = n_rows, seed, torch.device(device)
        self._epoch, self._order = -1, torch.empty(0, dtype=torch.long)

    def _permutation(self, epoch: int) -> torch.Tensor:
        if epoch != self._epoch:
            gen = torch.Generator().manual_seed(mix_seed(self.seed, DATA_STREAM, epoch))
            order = torch.randperm(self.n_rows, generator=gen)
            self._epoch, self._order = epoch, order.to(self.device)
        return self._order

    def take(self, start: int, count: int) -> torch.Tensor:
        """Rows at stream positions [start, start + count), crossing epochs as needed."""
        parts = []
        while count > 0:
            epoch, offset = divmod(start, self.n_rows)
            part = self._permutation(epoch)[offset : offset + count]
            parts.append(part)
            start, count = start + len(part), count - len(part)
        return torch.cat(parts)
