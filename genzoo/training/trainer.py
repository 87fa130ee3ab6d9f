"""Gradient training shared by every neural model, in one process or many.

A model builds its networks (a dict of modules) and a loss, `loss_fn(modules, batch, gen)`,
which returns the scalar loss of a minibatch (or the loss and a dict of float metrics), and
hands them to `Trainer(config).fit`. The trainer owns the rest: minibatches, one AdamW
optimizer over every module's parameters, warm-up and a cosine (or constant) learning-rate
schedule, gradient clipping, an exponential moving average (EMA) of the weights, bf16 autocast
on a GPU, a tqdm progress bar, checkpoints, exact resume, and DistributedDataParallel under
`torchrun`.

Randomness is a function of (seed, step), so a checkpoint needs no generator state to resume
exactly, with any number of processes:

- Minibatches come from a stream of seeded permutations of the rows, epoch after epoch; a
  batch may straddle two epochs, so every batch is full. Step t's global batch is stream
  positions [t * G, (t + 1) * G), G = batch_size * world_size, and process r takes the r-th
  `batch_size` of it. So `batch_size` is per process, and N processes with batch B see the
  same rows per step as one process with batch N * B. Every process passes the whole dataset.
- The loss's generator `gen`, and the global torch generators during the loss (for modules
  such as dropout that use them), are re-seeded at every step from (seed, rank, step); the
  global generators are forked, so the caller's global random state is left untouched.

Checkpoints (`checkpoint_dir`) are written every `checkpoint_every` steps, at the end, and when
SIGINT or SIGTERM arrives: the handler only sets a flag, and at the next step boundary the
trainer writes the checkpoint and stops. After SIGINT it then raises KeyboardInterrupt, so
scripts stop; after SIGTERM `fit` returns with `interrupted=True`. Only process 0 writes
checkpoints and shows progress; every process reads the checkpoint to resume, so in a
multi-machine run `checkpoint_dir` must be on a shared filesystem.
"""

from __future__ import annotations

import copy
import inspect
import logging
import math
import os
import signal
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from genzoo._validation import Interval, Options, _is_device, resolve_device
from genzoo.training._checkpoint import (
    LOSS_STREAM,
    DataStream,
    StopRequests,
    checkpoint_file,
    load_checkpoint,
    mix_seed,
    read_checkpoint_state,
    save_checkpoint,
)
from genzoo.training._schedules import ema_decay_at, learning_rate_factor, update_ema
from genzoo.training.em import is_distributed

__all__ = [
    "LossFn",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "ema_decay_at",
    "init_distributed",
    "learning_rate_factor",
    "load_checkpoint",
    "read_checkpoint_state",
    "save_checkpoint",
    "update_ema",
]

logger = logging.getLogger(__name__)


def _takes_step(loss_fn) -> bool:
    """Whether `loss_fn` has a parameter named `step` (see `Trainer.fit`)."""
    try:
        return "step" in inspect.signature(loss_fn).parameters
    except (TypeError, ValueError):  # a builtin or C callable: no signature to read
        return False


LossFn = Callable[
    [dict[str, nn.Module], tuple[torch.Tensor, ...], torch.Generator],
    "torch.Tensor | tuple[torch.Tensor, dict[str, float]]",
]

# A resumed run whose config differs in these fields continues, but not exactly.
_EXACT_FIELDS = (
    "batch_size max_steps learning_rate weight_decay warmup_steps schedule grad_clip "
    "ema_decay precision"
).split()


# --- configuration


def _rule(constraint) -> tuple[str, Callable]:
    return str(constraint), constraint.accepts


_NONE = ("None", lambda v: v is None)
_CONSTRAINTS: dict[str, list[tuple[str, Callable]]] = {
    "device": [
        (
            "'auto', 'cpu', 'cuda', 'cuda:N' or a torch.device",
            lambda v: isinstance(v, torch.device) or (isinstance(v, str) and _is_device(v)),
        )
    ],
    "batch_size": [_rule(Interval(int, 1, None))],
    "max_steps": [_rule(Interval(int, 1, None))],
    "learning_rate": [_rule(Interval(float, 0, None, closed="neither"))],
    "weight_decay": [_rule(Interval(float, 0, None))],
    "warmup_steps": [_rule(Interval(int, 0, None))],
    "schedule": [_rule(Options("cosine", "constant"))],
    "grad_clip": [_NONE, _rule(Interval(float, 0, None, closed="neither"))],
    "ema_decay": [_NONE, _rule(Interval(float, 0, 1, closed="left"))],
    "verbose": [_rule(Interval(int, 0, None))],
    "checkpoint_dir": [_NONE, ("a path", lambda v: isinstance(v, (str, os.PathLike)))],
    "checkpoint_every": [_NONE, _rule(Interval(int, 1, None))],
    "random_state": [_NONE, _rule(Interval(int, None, None))],
    "precision": [_rule(Options("auto", "float32", "bfloat16"))],
}


@dataclass
class TrainConfig:
    """Settings of a training run; a neural model maps its constructor arguments onto them.

    Parameters
    ----------
    device : "auto" (CUDA where present, else the CPU), "cpu", "cuda", "cuda:N".
    batch_size : rows per step *per process*; N processes train on N * batch_size rows a step.
    max_steps : number of optimizer updates.
    learning_rate : peak learning rate of AdamW.
    weight_decay : AdamW's decoupled weight decay.
    warmup_steps : updates over which the learning rate rises linearly to its peak.
    schedule : "cosine" (decay to zero at `max_steps` after warm-up) or "constant".
    grad_clip : largest global gradient norm, or None for no clipping.
    ema_decay : decay of the exponential moving average of the weights, in [0, 1), or None
        for no average. See `ema_decay_at` for its warm-up.
    verbose : 0 is silent; 1 shows a progress bar with the running loss.
    checkpoint_dir : folder of the checkpoint (written every `checkpoint_every` steps, at the
        end, and on SIGINT or SIGTERM), and resumed from by `fit`. None writes nothing.
    checkpoint_every : steps between checkpoints, or None for only at the end and on a signal.
    random_state : int seed of the batch order and of the loss's generator; None draws one.
    precision : "auto" (bf16 autocast on a CUDA device that supports it, float32 elsewhere),
        "float32" or "bfloat16" (autocast of the loss computation).
    """

    device: str | torch.device = "auto"
    batch_size: int = 128
    max_steps: int = 2000
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    warmup_steps: int = 0
    schedule: str = "cosine"
    grad_clip: float | None = 1.0
    ema_decay: float | None = None
    verbose: int = 1
    checkpoint_dir: str | os.PathLike | None = None
    checkpoint_every: int | None = None
    random_state: int | None = None
    precision: str = "auto"

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        """Raise ValueError naming the first setting that is out of range."""
        for name, rules in _CONSTRAINTS.items():
            value = getattr(self, name)
            if not any(accepts(value) for _, accepts in rules):
                allowed = " or ".join(description for description, _ in rules)
                raise ValueError(f"{name} must be {allowed}; got {value!r}.")
        if self.checkpoint_every is not None and self.checkpoint_dir is None:
            raise ValueError("checkpoint_every is set but checkpoint_dir is None; set both.")

    def to_json(self) -> dict:
        """The settings as JSON-able values (paths and devices as strings)."""
        return {
            k: str(v) if isinstance(v, (os.PathLike, torch.device)) else v
            for k, v in asdict(self).items()
        }


@dataclass
class TrainResult:
    """The outcome of `Trainer.fit`.

    step : updates done, counting those before a resume.
    history : the loss of every step (mean over processes), counting those before a resume.
    ema : module name -> a copy holding the averaged weights, or None without `ema_decay`.
    interrupted : whether SIGINT or SIGTERM stopped the run before `max_steps`.
    metrics : metric name -> its value at every step (this process's own values).
    """

    step: int
    history: list[float]
    ema: dict[str, nn.Module] | None
    interrupted: bool = False
    metrics: dict[str, list[float]] = field(default_factory=dict)


# --- data and modules


def _check_data(data) -> tuple[torch.Tensor, ...]:
    tensors = (data,) if isinstance(data, torch.Tensor) else tuple(data)
    if not tensors or not all(isinstance(t, torch.Tensor) and t.ndim > 0 for t in tensors):
        raise ValueError("data must be a tensor or a tuple of tensors with a first (row) axis.")
    lengths = [len(t) for t in tensors]
    if lengths[0] == 0:
        raise ValueError("data is empty: it has 0 rows.")
    if len(set(lengths)) > 1:
        raise ValueError(f"data tensors must have the same number of rows; got {lengths}.")
    return tensors


def _check_modules(modules) -> list[nn.Parameter]:
    """The distinct trainable parameters of `modules`, in order."""
    if not isinstance(modules, dict) or not all(
        isinstance(k, str) and isinstance(m, nn.Module) for k, m in modules.items()
    ):
        raise ValueError("modules must be a dict of name -> torch.nn.Module.")
    seen, params = set(), []
    for module in modules.values():
        for p in module.parameters():
            if p.requires_grad and id(p) not in seen:
                seen.add(id(p))
                params.append(p)
    if not params:
        raise ValueError("modules have no trainable parameters.")
    return params


# --- processes


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


def _world() -> tuple[int, int]:
    return (dist.get_world_size(), dist.get_rank()) if is_distributed() else (1, 0)


def _training_device(device) -> torch.device:
    device = resolve_device(device)
    if device.type == "cuda" and device.index is None:
        if is_distributed():
            local = os.environ.get("LOCAL_RANK")
            index = int(local) if local else dist.get_rank() % torch.cuda.device_count()
        else:
            index = torch.cuda.current_device()
        device = torch.device("cuda", index)
    return device


def _collective(values: list[float], op, device: torch.device, dtype=torch.float64) -> list:
    """All-reduce a few numbers (on the GPU under nccl, which has no CPU tensors)."""
    if not is_distributed():
        return values
    on = device if dist.get_backend() == "nccl" else torch.device("cpu")
    tensor = torch.tensor(values, dtype=dtype, device=on)
    dist.all_reduce(tensor, op=op)
    return tensor.tolist()


def _require_same(value: int, what: str, device: torch.device) -> None:
    """Raise ValueError on every process if `value` differs between processes."""
    high, negative_low = _collective([value, -value], dist.ReduceOp.MAX, device, torch.int64)
    if high != -negative_low:
        raise ValueError(f"{what} differs between processes ({-negative_low} to {high}).")


def _shared_seed(random_state: int | None, device: torch.device) -> int:
    """The run's seed: `random_state`, or one drawn on process 0 and given to all."""
    if random_state is not None:
        return int(random_state) % 2**63
    seed = int(np.random.SeedSequence().generate_state(1, dtype=np.uint64)[0] >> 1)
    if is_distributed():  # everyone adds zero to process 0's draw
        seed = _collective(
            [seed if _world()[1] == 0 else 0], dist.ReduceOp.SUM, device, torch.int64
        )[0]
    return seed


@dataclass
class _Run:
    """What a checkpoint must hold, besides tensors, to resume a run exactly."""

    seed: int
    step: int = 0
    samples_seen: int = 0  # position in the shuffled data stream
    history: list[float] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=dict)


@dataclass
class _Parts:
    """What training changes: the modules, their DDP wrappers, the optimizer and the EMA."""

    modules: dict[str, nn.Module]
    wrapped: dict[str, nn.Module]
    optimizer: torch.optim.Optimizer
    ema: dict[str, nn.Module] | None


# --- the trainer


class Trainer:
    """Train a dict of modules on a loss by AdamW; see the module docstring for the details.

    Examples
    --------
    >>> net = nn.Linear(2, 1)
    >>> X = torch.randn(64, 2); y = X @ torch.tensor([[2.0], [-1.0]])
    >>> mse = lambda m, batch, gen: ((m["net"](batch[0]) - batch[1]) ** 2).mean()
    >>> config = TrainConfig(device="cpu", batch_size=16, max_steps=5, verbose=0)
    >>> Trainer(config).fit({"net": net}, mse, (X, y)).step
    5
    """

    def __init__(self, config: TrainConfig):
        if not isinstance(config, TrainConfig):
            raise ValueError(f"config must be a TrainConfig; got {type(config).__name__}.")
        config.validate()
        self.config = config

    def fit(
        self,
        modules: dict[str, nn.Module],
        loss_fn: LossFn,
        data: tuple[torch.Tensor, ...] | torch.Tensor,
        *,
        resume: bool = True,
    ) -> TrainResult:
        """Train `modules` in place to minimise `loss_fn` over minibatches of `data`.

        `loss_fn(modules, batch, gen)` gets the modules (wrapped in DistributedDataParallel
        when several processes run), a tuple with a minibatch of each tensor of `data` on the
        training device, and a seeded generator for the loss's own noise; it returns the
        scalar loss, or (loss, dict of float metrics). A `loss_fn` with a keyword parameter
        `step` also gets the index of the step (0 at the start, the same after a resume), for
        losses that change during training such as a KL warm-up. With `resume` and a checkpoint in
        `checkpoint_dir`, training continues from it (doing nothing if it is complete).
        Modules keep their train/eval mode.
        """
        config = self.config
        config.validate()
        data = _check_data(data)
        params = _check_modules(modules)
        init_distributed(config.device)
        device = _training_device(config.device)
        for module in modules.values():
            module.to(device)
        _require_same(len(data[0]), "the number of rows of data", device)
        # DDP gives every process the weights of process 0; the EMA starts from those.
        wrapped = _wrap(modules, device) if is_distributed() else modules
        optimizer = torch.optim.AdamW(
            params, lr=config.learning_rate, weight_decay=config.weight_decay
        )
        ema = None
        if config.ema_decay is not None:
            ema = {n: copy.deepcopy(m).requires_grad_(False).eval() for n, m in modules.items()}
        parts = _Parts(modules, wrapped, optimizer, ema)
        run = _Run(seed=_shared_seed(config.random_state, device))
        if resume:
            run = self._resume(run, parts, device)
        modes = {name: module.training for name, module in modules.items()}
        try:
            for module in modules.values():
                module.train()
            with StopRequests() as stop:
                interrupted = self._loop(run, parts, loss_fn, data, device, stop)
        finally:
            for name, module in modules.items():
                module.train(modes[name])
        if interrupted and stop.signum == signal.SIGINT:
            raise KeyboardInterrupt(f"training interrupted at step {run.step}")
        return TrainResult(run.step, run.history, ema, interrupted, run.metrics)

    # --- steps of fit

    def _resume(self, run: _Run, parts: _Parts, device: torch.device) -> _Run:
        """Restore a checkpoint from `checkpoint_dir` if there is one; return the run state."""
        directory = self.config.checkpoint_dir
        if directory is None:
            return run
        found = checkpoint_file(directory).is_file()
        where = f"whether {directory} holds a checkpoint (put it where every process reads)"
        _require_same(int(found), where, device)
        if not found:
            return run
        state = load_checkpoint(
            directory,
            modules=parts.modules,
            optimizer=parts.optimizer,
            ema=parts.ema,
            device=device,
        )
        try:
            names = ("seed", "step", "samples_seen", "history", "metrics")
            resumed = _Run(**{k: state[k] for k in names})
        except (KeyError, TypeError):
            raise ValueError(f"{checkpoint_file(directory)} lacks the trainer's state.") from None
        saved = state.get("config", {})
        changed = [k for k in _EXACT_FIELDS if saved.get(k) != getattr(self.config, k)]
        if state.get("world_size") != _world()[0]:
            changed.append("number of processes")
        if changed and _world()[1] == 0:
            logger.warning(
                "Resuming from %s with a different %s: training goes on, but will not match "
                "an uninterrupted run.",
                directory,
                ", ".join(changed),
            )
        return resumed

    def _loop(self, run: _Run, parts: _Parts, loss_fn, data, device, stop) -> bool:
        """Train until `max_steps` or a stop request; return whether it stopped early."""
        config = self.config
        rank = _world()[1]
        stream = DataStream(len(data[0]), run.seed)
        gen = torch.Generator(device=device)
        start, running = run.step, None
        verbose = config.verbose > 0 and rank == 0
        with tqdm(
            total=config.max_steps, initial=run.step, desc="train", disable=not verbose
        ) as bar:
            while run.step < config.max_steps:
                rows = stream.take(run.samples_seen + rank * config.batch_size, config.batch_size)
                batch = tuple(t[rows.to(t.device)].to(device, non_blocking=True) for t in data)
                stopping = self._step(run, parts, loss_fn, batch, gen, device, stop)
                value = run.history[-1]
                running = value if running is None else 0.95 * running + 0.05 * value
                bar.update(1)
                bar.set_postfix(loss=f"{running:.4g}", refresh=False)
                if stopping:
                    self._save(run, parts, reason=" on a signal")
                    return run.step < config.max_steps
                every = config.checkpoint_every
                if every and run.step % every == 0 and run.step < config.max_steps:
                    self._save(run, parts)
        if run.step > start:
            self._save(run, parts)
        return False

    def _step(self, run: _Run, parts: _Parts, loss_fn, batch, gen, device, stop) -> bool:
        """One update; record its loss in `run`; return whether a process asks to stop."""
        world, rank = _world()
        loss, metrics = self._forward(loss_fn, parts.wrapped, batch, gen, device, run, rank)
        # one all-reduce for the mean loss and for any process's stop request
        total, requests = _collective(
            [float(loss.detach()), float(stop.signum is not None)], dist.ReduceOp.SUM, device
        )
        value = total / world
        if not math.isfinite(value):
            raise ValueError(
                f"training diverged: the loss became {value} at step {run.step + 1}; "
                "lower learning_rate or check the data's scale."
            )
        self._update(loss, parts, run.step)
        run.step += 1
        run.samples_seen += self.config.batch_size * world
        run.history.append(value)
        for key, metric in metrics.items():
            run.metrics.setdefault(key, []).append(float(metric))
        return requests > 0

    def _forward(self, loss_fn, modules, batch, gen, device, run: _Run, rank: int):
        """The loss of one batch and its metrics, with every generator seeded for this step."""
        seed = mix_seed(run.seed, LOSS_STREAM, rank, run.step)
        gen.manual_seed(seed)
        cuda = device.type == "cuda"
        # Fork the global generators so modules that use them (dropout) are reproducible
        # too, while the caller's global random state is left as it was.
        with torch.random.fork_rng(devices=[device.index] if cuda else [], device_type="cuda"):
            torch.default_generator.manual_seed(seed)
            if cuda:
                with torch.cuda.device(device):
                    torch.cuda.manual_seed(seed)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=self._bf16(device)):
                step = {"step": run.step} if _takes_step(loss_fn) else {}
                out = loss_fn(modules, batch, gen, **step)
        loss, metrics = out if isinstance(out, tuple) else (out, {})
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
            raise ValueError(
                "loss_fn must return a scalar tensor, or (scalar tensor, dict of metrics); "
                f"got {type(loss).__name__}."
            )
        return loss.reshape(()).float(), metrics

    def _update(self, loss: torch.Tensor, parts: _Parts, step: int) -> None:
        """Backpropagate, clip, set the scheduled learning rate, step, and update the EMA."""
        config, optimizer = self.config, parts.optimizer
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip is not None:
            params = [p for group in optimizer.param_groups for p in group["params"]]
            nn.utils.clip_grad_norm_(params, config.grad_clip)
        factor = learning_rate_factor(
            step,
            max_steps=config.max_steps,
            warmup_steps=config.warmup_steps,
            schedule=config.schedule,
        )
        for group in optimizer.param_groups:
            group["lr"] = config.learning_rate * factor
        optimizer.step()
        if parts.ema is not None:
            decay = ema_decay_at(step, config.ema_decay)
            for name, module in parts.modules.items():
                update_ema(parts.ema[name], module, decay)

    def _save(self, run: _Run, parts: _Parts, reason: str = "") -> None:
        """Write the checkpoint (process 0 only); nothing without `checkpoint_dir`."""
        directory = self.config.checkpoint_dir
        world, rank = _world()
        if rank != 0:
            return
        if directory is None:
            if reason:
                logger.warning(
                    "Training stopped%s at step %d; no checkpoint_dir, nothing saved.",
                    reason,
                    run.step,
                )
            return
        state = {**asdict(run), "world_size": world, "config": self.config.to_json()}
        path = save_checkpoint(
            directory,
            modules=parts.modules,
            optimizer=parts.optimizer,
            ema=parts.ema,
            state=state,
        )
        logger.info("Checkpoint at step %d written to %s%s.", run.step, path, reason)

    def _bf16(self, device: torch.device) -> bool:
        if self.config.precision == "auto":
            return device.type == "cuda" and torch.cuda.is_bf16_supported()
        return self.config.precision == "bfloat16"


def _wrap(modules: dict[str, nn.Module], device: torch.device) -> dict[str, nn.Module]:
    """Each module with trainable parameters in DistributedDataParallel."""
    ids = [device.index] if device.type == "cuda" else None
    trainable = {n for n, m in modules.items() if any(p.requires_grad for p in m.parameters())}
    return {
        n: DistributedDataParallel(m, device_ids=ids) if n in trainable else m
        for n, m in modules.items()
    }
