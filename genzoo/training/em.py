"""Expectation-maximisation on sufficient statistics, in one process or many.

A model writes three pure steps:

    _init_params(batches, gen) -> params
    _e_step(params, X) -> (stats, summed log-likelihood)   # stats: a flat dict of *sums*
    _m_step(stats, params) -> params

and this module owns the loop: passes over the batches, sums statistics key by key, all-reduces
them when a `torch.distributed` process group is initialised (each process holding its shard of
the data), checks convergence, and shows progress. Because statistics are sums, a fit over
chunks, over batches or over processes equals the fit over all the data in memory.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.distributed as dist
from sklearn.exceptions import ConvergenceWarning
from tqdm.auto import tqdm

__all__ = [
    "Batches",
    "Chunks",
    "is_chunked",
    "EMResult",
    "all_reduce_sum",
    "best_em_run",
    "broadcast",
    "is_distributed",
    "run_em",
    "sum_statistics",
]


# --- distributed helpers


def is_distributed() -> bool:
    """Whether a torch.distributed process group with more than one process is running."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def all_reduce_sum(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Sum each tensor over all processes, in one flat all-reduce; a no-op in one process."""
    if not is_distributed():
        return tensors
    names = list(tensors)
    flat = torch.cat([tensors[k].reshape(-1) for k in names])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    out, start = {}, 0
    for k in names:
        n = tensors[k].numel()
        out[k] = flat[start : start + n].reshape(tensors[k].shape)
        start += n
    return out


def broadcast(tensors: dict[str, torch.Tensor], src: int = 0) -> dict[str, torch.Tensor]:
    """Give every process rank `src`'s tensors (same shapes everywhere); a no-op alone."""
    if not is_distributed():
        return tensors
    for t in tensors.values():
        dist.broadcast(t, src=src)
    return tensors


def _rank() -> int:
    return dist.get_rank() if is_distributed() else 0


# --- data in batches


class Batches:
    """Re-iterable row batches, from an array in memory or a user's chunks.

    Parameters
    ----------
    source : a tensor already converted (split into `batch_rows` rows), or a re-iterable of
        chunks, each turned into a tensor by `convert` on every pass (so data larger than
        memory is read chunk by chunk).
    convert : validates and converts one chunk; only used for chunked sources.
    batch_rows : largest batch handed on, bounding the memory of the steps that use it.
    prepare : turns each batch into what the E-step reads (say, with derived features).
    cache : keep the prepared batches after the first full pass, so later passes (EM
        iterations) reuse them; meant for data in memory.
    """

    def __init__(
        self,
        source: torch.Tensor | Iterable,
        *,
        convert: Callable[[object], torch.Tensor] | None = None,
        batch_rows: int | None = None,
        prepare: Callable | None = None,
        cache: bool = False,
    ):
        self.source = source
        self.convert = convert
        self.batch_rows = batch_rows
        self.prepare = prepare
        self.cache = cache
        self._cached: list | None = None

    @property
    def in_memory(self) -> bool:
        return isinstance(self.source, torch.Tensor)

    def __iter__(self) -> Iterator:
        if self._cached is not None:
            yield from self._cached
            return
        kept = []
        for batch in self._raw():
            item = batch if self.prepare is None else self.prepare(batch)
            if self.cache:
                kept.append(item)
            yield item
        if self.cache:
            self._cached = kept

    def _raw(self) -> Iterator[torch.Tensor]:
        chunks = [self.source] if self.in_memory else map(self.convert, self.source)
        for chunk in chunks:
            if self.batch_rows is None or len(chunk) <= self.batch_rows:
                yield chunk
            else:
                yield from torch.split(chunk, self.batch_rows)

    def first(self):
        """The first batch (used to seed initialisations)."""
        return next(iter(self))

    def with_prepare(self, prepare: Callable, *, cache: bool) -> Batches:
        """The same data, each batch passed through `prepare` (and cached if asked)."""
        return Batches(
            self.source,
            convert=self.convert,
            batch_rows=self.batch_rows,
            prepare=prepare,
            cache=cache,
        )


def is_chunked(X) -> bool:
    """Whether X is an iterable of 2-D chunks rather than one array-like.

    Arrays, tensors, DataFrames (anything with `__array__` or `shape`) and nested lists of
    numbers are one array; a list or tuple of 2-D arrays, or any other iterable (a reader
    over files), is a sequence of chunks.
    """
    if isinstance(X, (str, bytes)) or not hasattr(X, "__iter__"):
        return False
    if hasattr(X, "__array__") or hasattr(X, "shape") or hasattr(X, "__dataframe__"):
        return False
    if isinstance(X, (list, tuple)):
        return len(X) > 0 and all(getattr(c, "ndim", None) == 2 for c in X)
    return True


class Chunks:
    """A user's re-iterable of 2-D chunks, each checked by `check` as EM reads it."""

    def __init__(self, source: Iterable, check: Callable[..., np.ndarray]):
        if iter(source) is source:
            raise ValueError(
                "X is a one-shot iterator, but EM reads the data once per iteration: pass "
                "a list of chunks or a re-iterable object, or use partial_fit on a stream."
            )
        first = next(iter(source), None)
        if first is None:
            raise ValueError("X is empty: the iterable of chunks yielded nothing.")
        self.source = source
        self._check = check
        self.n_features = check(first, name="X chunk").shape[1]

    def check(self, chunk) -> np.ndarray:
        chunk = self._check(chunk, name="X chunk")
        if chunk.shape[1] != self.n_features:
            raise ValueError(
                f"X chunk has {chunk.shape[1]} features, but the first chunk has {self.n_features}."
            )
        return chunk


# --- the loop


def sum_statistics(e_step, params: dict, batches: Iterable[torch.Tensor]):
    """Run `e_step` on every batch; return (summed stats, total log-likelihood, n_samples).

    The sums are over every batch of this process and then over all processes.
    """
    totals: dict[str, torch.Tensor] | None = None
    loglik = n = None
    for X in batches:
        stats, batch_loglik = e_step(params, X)
        if totals is None:
            totals = dict(stats)
            loglik = batch_loglik.reshape(1)
            n = torch.full(
                (1,), float(len(X)), dtype=batch_loglik.dtype, device=batch_loglik.device
            )
        else:
            for key, value in stats.items():
                totals[key] = totals[key] + value
            loglik = loglik + batch_loglik
            n = n + len(X)
    if totals is None:
        raise ValueError("X is empty: the data source yielded no batches.")
    summed = all_reduce_sum({**totals, "__loglik": loglik, "__n": n})
    loglik, n = summed.pop("__loglik"), summed.pop("__n")
    return summed, float(loglik), float(n)


@dataclass
class EMResult:
    """The outcome of one EM run."""

    params: dict
    lower_bound: float  # mean log-likelihood per sample before the last M-step
    n_iter: int
    converged: bool
    history: list[float] = field(default_factory=list)


def run_em(
    model,
    batches: Iterable[torch.Tensor],
    params: dict,
    *,
    max_iter: int,
    tol: float,
    verbose: int = 0,
    desc: str = "EM",
) -> EMResult:
    """Iterate E- and M-steps from `params` until the mean log-likelihood gains less than `tol`.

    As in scikit-learn, the lower bound of an iteration is computed by its E-step, so the
    reported value belongs to the parameters before the final M-step.
    """
    history: list[float] = []
    previous = -math.inf
    converged = False
    bar = tqdm(total=max_iter, desc=desc, disable=verbose <= 0 or _rank() != 0)
    for _ in range(max_iter):
        stats, loglik, n = sum_statistics(model._e_step, params, batches)
        lower_bound = loglik / n
        if not math.isfinite(lower_bound):
            raise ValueError(
                f"EM diverged: the log-likelihood became {lower_bound} at iteration "
                f"{len(history) + 1}; check the data's scale or increase regularisation."
            )
        params = model._m_step(stats, params)
        history.append(lower_bound)
        if not bar.disable:  # formatting the postfix costs more than a small E-step
            bar.update(1)
            bar.set_postfix(log_lik=f"{lower_bound:.5f}")
        if abs(lower_bound - previous) < tol:
            converged = True
            break
        previous = lower_bound
    bar.close()
    return EMResult(params, history[-1], len(history), converged, history)


def best_em_run(
    model,
    batches: Iterable[torch.Tensor],
    start: Callable[[], dict],
    *,
    n_init: int = 1,
    max_iter: int,
    tol: float,
    verbose: int = 0,
    name: str,
) -> EMResult:
    """Run EM from `n_init` starts (`start()` makes each) and keep the highest lower bound.

    Warns with a ConvergenceWarning, as scikit-learn does, when the kept run did not converge.
    """
    best = None
    for trial in range(n_init):
        desc = name if n_init == 1 else f"{name} init {trial + 1}/{n_init}"
        result = run_em(
            model, batches, start(), max_iter=max_iter, tol=tol, verbose=verbose, desc=desc
        )
        if best is None or result.lower_bound > best.lower_bound:
            best = result
    if not best.converged:
        warnings.warn(
            f"{name} did not converge in max_iter={max_iter} iterations; increase max_iter "
            "or tol, or check the data.",
            ConvergenceWarning,
            stacklevel=4,
        )
    return best
