"""Input and parameter checks shared by every model.

Every public entry point validates here before it changes anything, and every error names the
argument and the problem, so a user reading only the message knows what to fix.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch

__all__ = [
    "Interval",
    "Options",
    "check_array",
    "check_binary",
    "check_finite",
    "check_labels",
    "check_n_samples",
    "make_generator",
    "resolve_device",
    "resolve_dtype",
    "validate_params",
]


# --- parameter constraints


@dataclass(frozen=True)
class Interval:
    """A numeric range for a constructor argument; `kind` is int or float."""

    kind: type
    low: float | None
    high: float | None
    closed: str = "both"  # "both", "left", "right" or "neither"

    def accepts(self, value) -> bool:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return False
        if self.kind is int and not isinstance(value, numbers.Integral):
            return False
        if isinstance(value, float) and math.isnan(value):
            return False
        low_ok = self.low is None or (
            value >= self.low if self.closed in ("both", "left") else value > self.low
        )
        high_ok = self.high is None or (
            value <= self.high if self.closed in ("both", "right") else value < self.high
        )
        return low_ok and high_ok

    def __str__(self) -> str:
        left = "[" if self.closed in ("both", "left") and self.low is not None else "("
        right = "]" if self.closed in ("both", "right") and self.high is not None else ")"
        low = "-inf" if self.low is None else self.low
        high = "inf" if self.high is None else self.high
        return f"{'an int' if self.kind is int else 'a float'} in {left}{low}, {high}{right}"


@dataclass(frozen=True)
class Options:
    """A closed set of allowed values, usually strings."""

    values: tuple

    def __init__(self, *values):
        object.__setattr__(self, "values", tuple(values))

    def accepts(self, value) -> bool:
        return isinstance(value, type(self.values[0])) and value in self.values

    def __str__(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)


_NAMED_CONSTRAINTS = {
    None: ("None", lambda v: v is None),
    bool: ("a bool", lambda v: isinstance(v, (bool, np.bool_))),
    "array-like": (
        "an array-like",
        lambda v: isinstance(v, (np.ndarray, torch.Tensor, list, tuple)),
    ),
    "random_state": (
        "an int seed or None",
        lambda v: v is None or (isinstance(v, numbers.Integral) and not isinstance(v, bool)),
    ),
    "device": (
        "'auto', 'cpu', 'cuda', 'cuda:N' or a torch.device",
        lambda v: isinstance(v, torch.device) or (isinstance(v, str) and _is_device(v)),
    ),
    "dtype": ("'float32' or 'float64'", lambda v: v in ("float32", "float64")),
}


def _is_device(name: str) -> bool:
    if name == "auto":
        return True
    try:
        torch.device(name)
    except (RuntimeError, TypeError):
        return False
    return True


def validate_params(estimator, constraints: dict[str, list]) -> None:
    """Check each constructor argument named in `constraints` against its allowed values."""
    params = estimator.get_params(deep=False)
    for name, allowed in constraints.items():
        value = params[name]
        for constraint in allowed:
            if isinstance(constraint, (Interval, Options)):
                if constraint.accepts(value):
                    break
            elif _NAMED_CONSTRAINTS[constraint][1](value):
                break
        else:
            described = " or ".join(
                str(c) if isinstance(c, (Interval, Options)) else _NAMED_CONSTRAINTS[c][0]
                for c in allowed
            )
            raise ValueError(
                f"{name} of {type(estimator).__name__} must be {described}; got {value!r}."
            )


# --- arrays


def check_array(
    X,
    *,
    name: str = "X",
    ndim: int | tuple[int, ...] | None = 2,
    min_samples: int = 1,
    dtype=np.float64,
    finite: bool = True,
) -> np.ndarray:
    """Return X as a finite float array, or raise ValueError naming `name` and the problem.

    Accepts numpy arrays, torch tensors, and anything numpy can read (nested lists).
    `finite=False` leaves the NaN and infinity check to the caller (`check_finite`), for
    callers that can spot non-finite input more cheaply in their own result.
    """
    if isinstance(X, torch.Tensor):
        X = X.detach().cpu().numpy()
    if isinstance(X, (str, bytes)):
        raise ValueError(f"{name} must be a numeric array; got a string.")
    try:
        array = np.asarray(X)
    except ValueError as err:  # ragged nested lists
        raise ValueError(f"{name} must be a rectangular numeric array: {err}") from None
    if array.dtype.kind not in "biuf":
        raise ValueError(
            f"{name} must be numeric; got dtype {array.dtype} (strings, objects or ragged rows)."
        )
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    if allowed is not None and array.ndim not in allowed:
        shapes = {1: "(n_samples,)", 2: "(n_samples, n_features)", 4: "(n_samples, c, h, w)"}
        wanted = " or ".join(shapes.get(d, f"{d}-D") for d in allowed)
        raise ValueError(f"{name} must have shape {wanted}; got shape {array.shape}.")
    if array.shape[0] < min_samples or array.size == 0:
        raise ValueError(
            f"{name} is empty or too small: it has {array.shape[0]} samples, "
            f"at least {max(min_samples, 1)} needed."
        )
    array = array.astype(dtype, copy=False)
    return check_finite(array, name) if finite else array


def check_finite(array: np.ndarray, name: str = "X") -> np.ndarray:
    """Return `array`, or raise ValueError if it holds NaN or infinity."""
    # The sum is finite for finite data (bar overflow), which is cheaper than a full check.
    if not np.isfinite(array.sum()) and not np.isfinite(array).all():
        problem = "NaN" if np.isnan(array).any() else "infinity"
        raise ValueError(f"{name} contains {problem}; every value must be finite.")
    return array


def check_binary(X: np.ndarray, binarize: float | None, name: str = "X") -> np.ndarray:
    """Return X as 0s and 1s: thresholded (X > binarize) when `binarize` is a number, else X
    itself, which must then hold only 0 and 1 (ValueError naming a bad value otherwise).

    X must already be checked for NaN and infinity, which thresholding would hide.
    """
    if binarize is not None:
        return (X > binarize).astype(np.float64)
    bad = (X != 0) & (X != 1)
    if bad.any():
        raise ValueError(
            f"{name} must hold only 0 and 1 when binarize is None (found {X[bad][0]!r}); "
            "pass binarize=threshold to binarise it."
        )
    return X


def check_labels(y, *, n_samples: int | None = None, classes=None, name: str = "y"):
    """Return (classes, indices into classes) for labels y, or raise ValueError naming `name`.

    At fit (`classes` None) the classes are the sorted distinct labels and there must be at
    least two; afterwards every label must be one of `classes`.
    """
    if y is None:
        raise ValueError(f"{name} is required: this is a conditional model; call fit(X, y).")
    if isinstance(y, torch.Tensor):
        y = y.detach().cpu().numpy()
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D, one label per sample; got shape {y.shape}.")
    if n_samples is not None and len(y) != n_samples:
        raise ValueError(f"{name} has {len(y)} labels but X has {n_samples} samples.")
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise ValueError(f"{name} contains NaN or infinity; labels must be finite.")
    if classes is None:
        classes, index = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(
                f"{name} has a single class ({classes[0]!r}); at least two classes are needed."
            )
        return classes, index.astype(np.int64)
    try:
        index = np.clip(np.searchsorted(classes, y), 0, len(classes) - 1)
        unseen = y[classes[index] != y]
    except TypeError:  # labels of another type than the classes (str against int)
        index, unseen = None, y
    if len(unseen):
        raise ValueError(
            f"{name} contains label(s) {list(np.unique(unseen))[:5]} unseen in training; "
            f"known classes: {list(classes)}."
        )
    return classes, index.astype(np.int64)


def check_n_samples(n_samples, name: str = "n_samples") -> int:
    """Return `n_samples` as a positive int, or raise ValueError naming it."""
    if isinstance(n_samples, bool) or not isinstance(n_samples, numbers.Integral):
        raise ValueError(f"{name} must be a positive int; got {n_samples!r}.")
    if n_samples < 1:
        raise ValueError(f"{name} must be a positive int; got {n_samples}.")
    return int(n_samples)


def is_one_shot(iterable: Iterable) -> bool:
    """Whether iterating `iterable` twice would see different items (a generator, a file)."""
    return iter(iterable) is iterable


# --- device, dtype and randomness


def resolve_device(device) -> torch.device:
    """Turn 'auto' into CUDA where present, else the CPU; pass other names to torch."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device={str(device)!r} but CUDA is not available; use 'auto'.")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(
                f"device={str(device)!r} but only {torch.cuda.device_count()} GPU(s) are visible."
            )
    elif device.type not in ("cpu", "mps"):
        raise ValueError(f"device={str(device)!r} is not supported; use 'auto', 'cpu' or 'cuda'.")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device='mps' but MPS is not available; use 'auto'.")
    return device


def resolve_dtype(dtype) -> torch.dtype:
    """Map 'float32' / 'float64' to torch dtypes."""
    return {"float32": torch.float32, "float64": torch.float64}[dtype]


def make_generator(random_state, device: torch.device | str = "cpu") -> torch.Generator:
    """Return a fresh torch.Generator: seeded by an int, from OS entropy for None.

    An int seed gives the same stream on every call (as in scikit-learn); global generators
    are never touched.
    """
    if random_state is not None and (
        isinstance(random_state, bool) or not isinstance(random_state, numbers.Integral)
    ):
        raise ValueError(f"random_state must be an int or None; got {random_state!r}.")
    gen = torch.Generator(device=device)
    if random_state is None:
        seed = int(np.random.SeedSequence().generate_state(1, dtype=np.uint64)[0] >> 1)
    else:
        seed = int(random_state) % (2**63)
    gen.manual_seed(seed)
    return gen
