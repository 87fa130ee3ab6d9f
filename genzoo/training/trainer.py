"""Gradient training shared by every neural model, in one process or many.

A model builds its networks (a dict of modules) and one loss, `loss_fn(modules, batch, gen)`,
which returns the scalar loss of a minibatch (or the loss and a dict of metrics), or several
`Objective`s (a GAN's discriminator and generator losses, each with its own modules, AdamW
and step frequency), and hands them to `Trainer(config).fit`. The trainer owns the rest:
minibatches, AdamW per objective, warm-up and a cosine (or constant) learning-rate schedule,
gradient clipping, an exponential moving average (EMA) of the weights, bf16 autocast on a GPU,
a tqdm progress bar, checkpoints, exact resume, and DistributedDataParallel under `torchrun`.

Randomness is a function of (seed, step), so a checkpoint needs no generator state to resume
exactly, with any number of processes:

- Minibatches come from a stream of seeded permutations of the rows, epoch after epoch; a
  batch may straddle two epochs, so every batch is full. Step t's global batch is stream
  positions [t * G, (t + 1) * G), G = batch_size * world_size, and process r takes the r-th
  `batch_size` of it. So `batch_size` is per process, and N processes with batch B see the
  same rows per step as one process with batch N * B. Every process passes the whole dataset,
  which is copied to the training device once.
- The loss's generator `gen`, and the global torch generators during the loss (for modules
  such as dropout that use them), are re-seeded at every step from (seed, rank, step, and the
  objective's index after the first); the global generators are forked, so the caller's
  global random state is left untouched. On CUDA, cuDNN runs its deterministic algorithms.

The loop does not wait for the device at every step: losses and metrics stay on the device
and are read every `SYNC_EVERY` steps (and at checkpoints and the end), where non-finite
losses stop training with an error naming their step.

Checkpoints (`checkpoint_dir`) are written every `checkpoint_every` steps, at the end, and when
SIGINT or SIGTERM arrives: the handler only sets a flag, and at the next step boundary the
trainer writes the checkpoint and stops (with several processes, at the next read, when all
processes agree). After SIGINT it then raises KeyboardInterrupt, so scripts stop; after
SIGTERM `fit` returns with `interrupted=True`. Only process 0 writes checkpoints and shows
progress; every process reads the checkpoint to resume, so in a multi-machine run
`checkpoint_dir` must be on a shared filesystem.
"""

from __future__ import annotations

import copy
import inspect
import logging
import math
import signal
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.distributed as dist
from torch import nn
from tqdm.auto import tqdm

from genzoo.training._checkpoint import (
    LOSS_STREAM,
    MONITOR_STREAM,
    DataStream,
    StopRequests,
    checkpoint_file,
    load_checkpoint,
    mix_seed,
    read_checkpoint_state,
    save_checkpoint,
)
from genzoo.training._config import (
    TRAINER_CONSTRAINTS,
    LossFn,
    Monitor,
    Objective,
    TrainConfig,
    TrainingDiverged,
)
from genzoo.training._processes import (
    collective,
    deterministic_kernels,
    init_distributed,
    require_same,
    shared_seed,
    training_device,
    world_and_rank,
    wrap,
)
from genzoo.training._schedules import MovingAverage, ema_decay_at, learning_rate_factor
from genzoo.training.em import is_distributed

__all__ = [
    "SYNC_EVERY",
    "TRAINER_CONSTRAINTS",
    "LossFn",
    "Monitor",
    "Objective",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "TrainingDiverged",
    "deterministic_kernels",
    "ema_decay_at",
    "init_distributed",
    "learning_rate_factor",
    "load_checkpoint",
    "read_checkpoint_state",
    "save_checkpoint",
]

logger = logging.getLogger(__name__)

# Steps between two reads of the losses from the device: the loop's only host syncs.
SYNC_EVERY = 25

# A resumed run whose config differs in these fields continues, but not exactly.
_EXACT_FIELDS = (
    "batch_size max_steps learning_rate weight_decay warmup_steps schedule grad_clip "
    "ema_decay precision"
).split()


def _takes_step(loss_fn) -> bool:
    """Whether `loss_fn` has a parameter named `step` (see `Trainer.fit`)."""
    try:
        return "step" in inspect.signature(loss_fn).parameters
    except (TypeError, ValueError):  # a builtin or C callable: no signature to read
        return False


@dataclass
class TrainResult:
    """The outcome of `Trainer.fit`.

    step : steps done, counting those before a resume.
    history : the first objective's loss (mean over processes) at each of its updates,
        counting those before a resume; with one loss function, the loss of every step.
    ema : module name -> a copy holding the averaged weights (of the modules `fit` was asked
        to average, every module by default), or None without `ema_decay`.
    interrupted : whether SIGINT or SIGTERM stopped the run before `max_steps`.
    metrics : metric name -> its value at every update (this process's own values); with
        several objectives the names are "objective/metric".
    losses : objective name -> its loss at each of its updates (`history` is the first's).
    monitored : with a `Monitor`, "step" and each of its figures, one value per measurement.
    """

    step: int
    history: list[float]
    ema: dict[str, nn.Module] | None
    interrupted: bool = False
    metrics: dict[str, list[float]] = field(default_factory=dict)
    losses: dict[str, list[float]] = field(default_factory=dict)
    monitored: dict[str, list[float]] = field(default_factory=dict)


# --- data, modules and objectives


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


def _trainable(modules: dict[str, nn.Module], names) -> list[nn.Parameter]:
    """The distinct trainable parameters of the named modules, in order."""
    seen, params = set(), []
    for name in names:
        for p in modules[name].parameters():
            if p.requires_grad and id(p) not in seen:
                seen.add(id(p))
                params.append(p)
    return params


def _check_modules(modules) -> None:
    if not isinstance(modules, dict) or not all(
        isinstance(k, str) and isinstance(m, nn.Module) for k, m in modules.items()
    ):
        raise ValueError("modules must be a dict of name -> torch.nn.Module.")
    if not _trainable(modules, modules):
        raise ValueError("modules have no trainable parameters.")


def _check_averaged(averaged, modules: dict[str, nn.Module]) -> list[str]:
    """The names of the modules to average, checked: every module when None."""
    if averaged is None:
        return list(modules)
    if isinstance(averaged, str) or not isinstance(averaged, Sequence):
        raise ValueError(f"averaged must be a sequence of module names; got {averaged!r}.")
    unknown = [name for name in averaged if name not in modules]
    if unknown or not averaged:
        raise ValueError(
            f"averaged must name some of the modules {sorted(modules)}; got {list(averaged)!r}."
        )
    return list(dict.fromkeys(averaged))


def _check_objectives(objectives, modules: dict[str, nn.Module]) -> list[Objective]:
    """One loss function as the objective "loss" over every module, or a checked list."""
    if isinstance(objectives, Objective):
        objectives = [objectives]
    elif callable(objectives):
        return [Objective("loss", objectives)]
    if not isinstance(objectives, Sequence):
        raise ValueError("objectives must be a loss function or a list of Objective.")
    objectives = list(objectives)
    if not objectives or not all(isinstance(o, Objective) for o in objectives):
        raise ValueError("objectives must be a loss function or a non-empty list of Objective.")
    names = [o.name for o in objectives]
    if len(set(names)) < len(names):
        raise ValueError(f"objective names must differ; got {names}.")
    owner: dict[str, str] = {}
    for objective in objectives:
        own = _own_modules(objective, modules)
        unknown = [m for m in own if m not in modules]
        if unknown:
            raise ValueError(
                f"objective {objective.name!r} updates {unknown}, which are not among the "
                f"modules {sorted(modules)}."
            )
        for name in own:
            if name in owner:
                raise ValueError(
                    f"objectives {owner[name]!r} and {objective.name!r} both update module "
                    f"{name!r}; give each module to one objective."
                )
            owner[name] = objective.name
        if not _trainable(modules, own):
            raise ValueError(f"objective {objective.name!r} has no trainable parameters.")
    return objectives


def _own_modules(objective: Objective, modules: dict) -> list[str]:
    return list(modules) if objective.modules is None else list(objective.modules)


def _floats(tensors: list[torch.Tensor]) -> list[float]:
    """The values of scalar tensors, read with one host sync per device."""
    out = [0.0] * len(tensors)
    by_device: dict[torch.device, list[int]] = {}
    for i, t in enumerate(tensors):
        by_device.setdefault(t.device, []).append(i)
    for indices in by_device.values():
        # cat promotes to the widest dtype, so float64 metrics keep their digits
        values = torch.cat([tensors[i].detach().reshape(1) for i in indices]).tolist()
        for i, value in zip(indices, values, strict=True):
            out[i] = float(value)
    return out


@dataclass
class _Run:
    """What a checkpoint must hold, besides tensors, to resume a run exactly."""

    seed: int
    step: int = 0
    samples_seen: int = 0  # position in the shuffled data stream
    losses: dict[str, list[float]] = field(default_factory=dict)
    metrics: dict[str, list[float]] = field(default_factory=dict)
    monitored: dict[str, list[float]] = field(default_factory=dict)


@dataclass
class _Parts:
    """What training changes, per objective: its modules' view (its own wrapped in DDP), its
    parameters and optimizer; and the EMA of the averaged modules, with their tensors listed
    once (`MovingAverage`) so that a step averages them all in one multi-tensor call."""

    modules: dict[str, nn.Module]
    objectives: list[Objective]
    views: list[dict[str, nn.Module]]
    params: list[list[nn.Parameter]]
    optimizers: dict[str, torch.optim.Optimizer]
    ema: dict[str, nn.Module] | None
    averages: MovingAverage | None = None

    def optimizer_arguments(self) -> dict:
        """`optimizer=` for one objective (the checkpoint format of one-loss runs), else
        `optimizers=`."""
        if len(self.optimizers) == 1:
            return {"optimizer": next(iter(self.optimizers.values()))}
        return {"optimizers": self.optimizers}


@dataclass
class _Pending:
    """Losses and metrics of the steps since the last read, still on the device."""

    losses: list[tuple[str, int, torch.Tensor]] = field(default_factory=list)
    metrics: list[tuple[str, torch.Tensor | float]] = field(default_factory=list)
    running: float | None = None  # the progress bar's smoothed loss
    shown: dict[str, str] = field(default_factory=dict)  # the monitor's last figures

    def show(self, bar) -> None:
        """Put the smoothed loss and the monitor's figures on the progress bar."""
        loss = {} if self.running is None else {"loss": f"{self.running:.4g}"}
        bar.set_postfix({**loss, **self.shown}, refresh=False)


# --- the trainer


class Trainer:
    """Train a dict of modules on one loss, or on several objectives, by AdamW; see the module
    docstring for the details.

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
        objectives: LossFn | Sequence[Objective],
        data: tuple[torch.Tensor, ...] | torch.Tensor,
        *,
        resume: bool = True,
        monitor: Monitor | None = None,
        averaged: Sequence[str] | None = None,
    ) -> TrainResult:
        """Train `modules` in place to minimise the objectives over minibatches of `data`.

        `objectives` is one loss function, updating every module, or a list of `Objective`,
        each a loss with its own modules, AdamW settings and step frequency; at each step the
        due objectives update in list order, each on the same minibatch.

        A loss `loss(modules, batch, gen)` gets every module (its objective's own wrapped in
        DistributedDataParallel when several processes run), a tuple with a minibatch of each
        tensor of `data` on the training device, and a seeded generator for the loss's own
        noise; it returns the scalar loss, or (loss, dict of metrics: tensors, read with the
        losses every `SYNC_EVERY` steps, or floats). A loss with a keyword parameter `step`
        also gets the index of the step (0 at the start, the same after a resume), for losses
        that change during training such as a KL warm-up. A loss's backward may leave
        gradients on other objectives' modules; each objective clears its own before its
        update. With `resume` and a checkpoint in `checkpoint_dir`, training continues from it
        (doing nothing if it is complete). Modules keep their train/eval mode. A `Monitor`
        measures the model every few steps (see `Monitor`); its check may stop training with
        `TrainingDiverged`, as a loss that is no longer finite does. With `ema_decay`, the
        modules named in `averaged` (every module when None) get a moving average: a model
        averages what it samples with (a GAN's generator), not the networks that only train it.
        """
        config = self.config
        config.validate()
        data = _check_data(data)
        _check_modules(modules)
        objectives = _check_objectives(objectives, modules)
        if monitor is not None and not isinstance(monitor, Monitor):
            raise ValueError(f"monitor must be a Monitor or None; got {type(monitor).__name__}.")
        averaged = _check_averaged(averaged, modules)
        init_distributed(config.device)
        device = training_device(config.device)
        for module in modules.values():
            module.to(device)
        require_same(len(data[0]), "the number of rows of data", device)
        data = tuple(t.to(device) for t in data)
        parts = self._parts(modules, objectives, device, averaged)
        run = _Run(seed=shared_seed(config.random_state, device))
        if resume:
            run = self._resume(run, parts, device)
        for objective in objectives:  # every objective has a curve, empty if it never ran
            run.losses.setdefault(objective.name, [])
        modes = {name: module.training for name, module in modules.items()}
        try:
            for module in modules.values():
                module.train()
            with StopRequests() as stop, deterministic_kernels(device):
                interrupted = self._loop(run, parts, data, device, stop, monitor)
        finally:
            for name, module in modules.items():
                module.train(modes[name])
        if interrupted and stop.signum == signal.SIGINT:
            raise KeyboardInterrupt(f"training interrupted at step {run.step}")
        history = run.losses[objectives[0].name]
        return TrainResult(
            run.step, history, parts.ema, interrupted, run.metrics, run.losses, run.monitored
        )

    # --- steps of fit

    def _parts(self, modules, objectives: list[Objective], device, averaged) -> _Parts:
        """Each objective's optimizer and view of the modules, and the EMA copies."""
        config = self.config
        # DDP gives every process the weights of process 0; the EMA starts from those.
        wrapped = wrap(modules, device) if is_distributed() else modules
        views, params, optimizers = [], [], {}
        for objective in objectives:
            own = _own_modules(objective, modules)
            views.append({n: wrapped[n] if n in own else m for n, m in modules.items()})
            params.append(_trainable(modules, own))
            optimizers[objective.name] = torch.optim.AdamW(
                params[-1],
                lr=_or(objective.learning_rate, config.learning_rate),
                betas=tuple(objective.betas),
                weight_decay=_or(objective.weight_decay, config.weight_decay),
            )
        if config.ema_decay is None:
            return _Parts(modules, objectives, views, params, optimizers, None)
        ema = {n: copy.deepcopy(modules[n]).requires_grad_(False).eval() for n in averaged}
        averages = MovingAverage(ema, modules)
        return _Parts(modules, objectives, views, params, optimizers, ema, averages)

    def _resume(self, run: _Run, parts: _Parts, device: torch.device) -> _Run:
        """Restore a checkpoint from `checkpoint_dir` if there is one; return the run state."""
        directory = self.config.checkpoint_dir
        if directory is None:
            return run
        found = checkpoint_file(directory).is_file()
        where = f"whether {directory} holds a checkpoint (put it where every process reads)"
        require_same(int(found), where, device)
        if not found:
            return run
        state = load_checkpoint(
            directory, modules=parts.modules, ema=parts.ema, **parts.optimizer_arguments()
        )
        try:
            # checkpoints of one-loss runs before objectives kept that loss as "history"
            losses = state.get("losses") or {parts.objectives[0].name: state["history"]}
            names = ("seed", "step", "samples_seen", "metrics")
            resumed = _Run(
                **{k: state[k] for k in names}, losses=losses, monitored=state.get("monitored", {})
            )
        except (KeyError, TypeError):
            raise ValueError(f"{checkpoint_file(directory)} lacks the trainer's state.") from None
        saved = state.get("config", {})
        changed = [k for k in _EXACT_FIELDS if saved.get(k) != getattr(self.config, k)]
        objectives = [o.to_json() for o in parts.objectives]
        if state.get("objectives", objectives) != objectives:
            changed.append("objectives")
        if state.get("world_size") != world_and_rank()[0]:
            changed.append("number of processes")
        if changed and world_and_rank()[1] == 0:
            logger.warning(
                "Resuming from %s with a different %s: training goes on, but will not match "
                "an uninterrupted run.",
                directory,
                ", ".join(changed),
            )
        return resumed

    def _loop(self, run: _Run, parts: _Parts, data, device, stop, monitor) -> bool:
        """Train until `max_steps` or a stop request; return whether it stopped early."""
        config = self.config
        rank = world_and_rank()[1]
        stream = DataStream(len(data[0]), run.seed, device)
        gen = torch.Generator(device=device)
        takes_step = [_takes_step(o.loss) for o in parts.objectives]
        pending, start = _Pending(), run.step
        verbose = config.verbose > 0 and rank == 0
        with tqdm(
            total=config.max_steps, initial=run.step, desc="train", disable=not verbose
        ) as bar:
            while run.step < config.max_steps:
                rows = stream.take(run.samples_seen + rank * config.batch_size, config.batch_size)
                batch = tuple(t[rows] for t in data)
                self._step(run, parts, batch, gen, device, pending, takes_step)
                bar.update(1)
                done = run.step == config.max_steps
                if monitor is not None and (run.step % monitor.every == 0 or done):
                    self._monitor(run, parts, monitor, device)
                    figures = {k: v[-1] for k, v in run.monitored.items() if k != "step"}
                    pending.shown = {k: f"{v:.3g}" for k, v in figures.items()}
                    pending.show(bar)
                every = config.checkpoint_every
                checkpoint = bool(every) and run.step % every == 0
                # One process reacts to a signal at once; several agree at the next read.
                signalled = stop.signum is not None and not is_distributed()
                if not (checkpoint or signalled or done or run.step % SYNC_EVERY == 0):
                    continue
                if self._read(run, parts, pending, stop, device, bar):
                    self._save(run, parts, reason=" on a signal")
                    return run.step < config.max_steps
                if checkpoint and not done:
                    self._save(run, parts)
        if run.step > start:
            self._save(run, parts)
        return False

    def _step(self, run: _Run, parts: _Parts, batch, gen, device, pending, takes_step) -> None:
        """Update each objective due at this step, then the EMA; keep the losses pending."""
        world, rank = world_and_rank()
        several = len(parts.objectives) > 1
        for index, objective in enumerate(parts.objectives):
            if (run.step + 1) % objective.every:
                continue
            loss, metrics = self._forward(
                index, objective, takes_step[index], parts.views[index], batch, gen, device, run
            )
            self._update(loss, parts, index, run.step)
            pending.losses.append((objective.name, run.step, loss.detach()))
            prefix = f"{objective.name}/" if several else ""
            for key, value in metrics.items():  # detached: a pending graph would pin memory
                value = value.detach() if isinstance(value, torch.Tensor) else value
                pending.metrics.append((prefix + key, value))
        if parts.averages is not None:
            parts.averages.update(ema_decay_at(run.step, self.config.ema_decay))
        run.step += 1
        run.samples_seen += self.config.batch_size * world

    def _forward(self, index, objective, takes_step, modules, batch, gen, device, run: _Run):
        """The loss of one batch and its metrics, with every generator seeded for this step."""
        rank = world_and_rank()[1]
        # the first objective keeps the seeds of one-loss runs
        seed = mix_seed(run.seed, LOSS_STREAM, rank, run.step, *((index,) if index else ()))
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
                step = {"step": run.step} if takes_step else {}
                out = objective.loss(modules, batch, gen, **step)
        loss, metrics = out if isinstance(out, tuple) else (out, {})
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
            raise ValueError(
                "a loss must return a scalar tensor, or (scalar tensor, dict of metrics); "
                f"got {type(loss).__name__}."
            )
        return loss.reshape(()).float(), metrics

    def _update(self, loss: torch.Tensor, parts: _Parts, index: int, step: int) -> None:
        """Backpropagate, clip, set the scheduled learning rate and step one objective."""
        config, objective = self.config, parts.objectives[index]
        optimizer = parts.optimizers[objective.name]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip is not None:
            nn.utils.clip_grad_norm_(parts.params[index], config.grad_clip)
        factor = learning_rate_factor(
            step,
            max_steps=config.max_steps,
            warmup_steps=config.warmup_steps,
            schedule=config.schedule,
        )
        peak = _or(objective.learning_rate, config.learning_rate)
        for group in optimizer.param_groups:
            group["lr"] = peak * factor
        optimizer.step()

    def _read(self, run: _Run, parts: _Parts, pending: _Pending, stop, device, bar) -> bool:
        """Read the pending losses and metrics (one host sync), check and record them; return
        whether a process asks to stop."""
        world = world_and_rank()[0]
        values = _floats([value for _, _, value in pending.losses])
        requested = float(stop.signum is not None)
        *values, requests = collective([*values, requested], dist.ReduceOp.SUM, device)
        first, several = parts.objectives[0].name, len(parts.objectives) > 1
        for (name, step, _), total in zip(pending.losses, values, strict=True):
            value = total / world
            if not math.isfinite(value):
                which = f" of {name!r}" if several else ""
                raise TrainingDiverged(
                    f"training diverged: the loss{which} became {value} at step {step + 1}; "
                    "lower learning_rate or check the data's scale."
                )
            run.losses.setdefault(name, []).append(value)
            if name == first:
                running = pending.running
                pending.running = value if running is None else 0.95 * running + 0.05 * value
        _record_metrics(run.metrics, pending.metrics)
        pending.losses.clear()
        pending.metrics.clear()
        pending.show(bar)
        return requests > 0

    def _monitor(self, run: _Run, parts: _Parts, monitor: Monitor, device) -> None:
        """Measure the modules (and their EMA) in eval mode, record the figures, and stop with
        `TrainingDiverged` if the monitor's check finds the run broken."""
        modules = parts.modules
        modes = {name: module.training for name, module in modules.items()}
        gen = torch.Generator(device=device)
        gen.manual_seed(mix_seed(run.seed, MONITOR_STREAM, run.step))
        cuda = device.type == "cuda"
        try:
            for module in modules.values():
                module.eval()
            with (
                torch.no_grad(),
                torch.random.fork_rng(devices=[device.index] if cuda else [], device_type="cuda"),
            ):
                figures = monitor.measure(modules, parts.ema, gen)
        except TrainingDiverged as err:
            raise TrainingDiverged(f"training diverged at step {run.step}: {err}") from None
        finally:
            for name, module in modules.items():
                module.train(modes[name])
        run.monitored.setdefault("step", []).append(float(run.step))
        for name, value in figures.items():
            run.monitored.setdefault(name, []).append(float(value))
        problem = None if monitor.check is None else monitor.check(run.monitored)
        if problem:
            raise TrainingDiverged(f"training diverged at step {run.step}: {problem}")

    def _save(self, run: _Run, parts: _Parts, reason: str = "") -> None:
        """Write the checkpoint (process 0 only); nothing without `checkpoint_dir`."""
        directory = self.config.checkpoint_dir
        world, rank = world_and_rank()
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
        state = {
            "seed": run.seed,
            "step": run.step,
            "samples_seen": run.samples_seen,
            "losses": run.losses,
            "metrics": run.metrics,
            "monitored": run.monitored,
            "world_size": world,
            "config": self.config.to_json(),
            "objectives": [o.to_json() for o in parts.objectives],
        }
        path = save_checkpoint(
            directory,
            modules=parts.modules,
            ema=parts.ema,
            state=state,
            **parts.optimizer_arguments(),
        )
        logger.info("Checkpoint at step %d written to %s%s.", run.step, path, reason)

    def _bf16(self, device: torch.device) -> bool:
        if self.config.precision == "auto":
            return device.type == "cuda" and torch.cuda.is_bf16_supported()
        return self.config.precision == "bfloat16"


def _or(value, default):
    return default if value is None else value


def _record_metrics(metrics: dict[str, list[float]], pending: list[tuple]) -> None:
    """Append pending (name, tensor or float) metrics to `metrics`, reading tensors at once."""
    tensors = [(i, v) for i, (_, v) in enumerate(pending) if isinstance(v, torch.Tensor)]
    read = dict(zip([i for i, _ in tensors], _floats([v for _, v in tensors]), strict=True))
    for i, (key, value) in enumerate(pending):
        metrics.setdefault(key, []).append(read[i] if i in read else float(value))
