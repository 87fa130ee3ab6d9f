"""Input and parameter checks shared by every model.

Every public entry point validates here before it changes anything, and every error names the
argument and the problem, so a user reading only the message knows what to fix.
"""

from __future__ import annotations

import math
import numbers
import os
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import scipy.sparse
import torch
from sklearn.exceptions import DataConversionWarning

__all__ = [
    "Interval",
    "Options",
    "Sequences",
    "check_array",
    "check_binary",
    "check_counts",
    "check_finite",
    "check_finite_output",
    "check_labels",
    "check_lengths",
    "check_memory",
    "check_n_samples",
    "check_size",
    "make_generator",
    "resolve_device",
    "resolve_dtype",
    "safe_magnitude",
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
    max_abs: float | None = None,
) -> np.ndarray:
    """Return X as a finite float array, or raise ValueError naming `name` and the problem.

    Accepts numpy arrays, torch tensors, and anything numpy can read (nested lists).
    `finite=False` leaves the NaN and infinity check to the caller (`check_finite`), for
    callers that can spot non-finite input more cheaply in their own result. `max_abs`
    refuses finite values too large for the caller's arithmetic (see `safe_magnitude`).
    """
    if isinstance(X, torch.Tensor):
        X = X.detach().cpu().numpy()
    if isinstance(X, (str, bytes)):
        raise ValueError(f"{name} must be a numeric array; got a string.")
    if scipy.sparse.issparse(X):
        raise TypeError(
            f"{name} is a scipy.sparse matrix: Sparse data is not supported by this model, "
            f"which needs dense data; pass {name}.toarray()."
        )
    try:
        array = np.asarray(X)
    except ValueError as err:  # ragged nested lists
        raise ValueError(f"{name} must be a rectangular numeric array: {err}") from None
    if array.dtype.kind == "c":
        raise ValueError(f"Complex data not supported: {name} must be real.")
    if array.dtype.kind == "O":
        array = _numeric_objects(array, name)
    if array.dtype.kind not in "biuf":
        raise ValueError(
            f"{name} must be numeric; got dtype {array.dtype} (strings, objects or ragged rows)."
        )
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    if allowed is not None and array.ndim not in allowed:
        shapes = {1: "(n_samples,)", 2: "(n_samples, n_features)", 4: "(n_samples, c, h, w)"}
        wanted = " or ".join(shapes.get(d, f"{d}-D") for d in allowed)
        hint = (
            " Reshape your data either using array.reshape(-1, 1) if your data has a single "
            "feature or array.reshape(1, -1) if it contains a single sample."
            if array.ndim < min(allowed)
            else ""
        )
        raise ValueError(f"{name} must have shape {wanted}; got shape {array.shape}.{hint}")
    # scikit-learn's wording, so its users and its checks recognise the problem.
    minimum = max(min_samples, 1)
    if array.shape[0] < minimum:
        raise ValueError(
            f"{name} is {'empty' if array.shape[0] == 0 else 'too small'}: Found array with "
            f"{array.shape[0]} sample(s) "
            f"(shape={array.shape}) while a minimum of {minimum} is required"
            f"{' (n_samples=1 is too few for this model)' if array.shape[0] == 1 else ''}."
        )
    if array.size == 0:
        raise ValueError(
            f"{name} is empty: Found array with 0 feature(s) (shape={array.shape}) while a "
            "minimum of 1 is required."
        )
    array = array.astype(dtype, copy=False)
    return check_finite(array, name, max_abs=max_abs) if finite else array


def _numeric_objects(array: np.ndarray, name: str) -> np.ndarray:
    """An object array of numbers as float64 (what pandas gives for mixed frames); strings
    raise ValueError and other objects TypeError, with numpy's own reason."""
    try:
        return array.astype(np.float64)
    except ValueError as err:
        raise ValueError(f"{name} must be numeric: {err}") from None
    except TypeError as err:
        raise TypeError(f"{name} must be numeric: {err}") from None


def check_finite(array: np.ndarray, name: str = "X", *, max_abs: float | None = None):
    """Return `array`, or raise ValueError if it holds NaN or infinity, or (with `max_abs`) a
    value of larger magnitude."""
    if array.size == 0 or array.dtype.kind not in "fc":
        return array
    # min and max propagate NaN and show infinities: two passes, no temporary array.
    low, high = array.min(), array.max()
    if np.isnan(low) or np.isnan(high):
        raise ValueError(f"{name} contains NaN; every value must be finite.")
    largest = max(abs(float(low)), abs(float(high)))
    if math.isinf(largest):
        raise ValueError(f"{name} contains infinity; every value must be finite.")
    if max_abs is not None and largest > max_abs:
        raise ValueError(
            f"{name} holds a value of magnitude {largest:.3g}, beyond {max_abs:.3g}, the "
            "largest this model's arithmetic handles without overflow; rescale X (divide it "
            "by a constant) or use dtype='float64'."
        )
    return array


def safe_magnitude(dtype: torch.dtype) -> float:
    """The largest |x| a model computing in `dtype` accepts: its square, summed over up to
    1e12 terms, stays finite (1.3e148 for float64, 1.8e13 for float32)."""
    return math.sqrt(torch.finfo(dtype).max) / 1e6


def check_finite_output(out: np.ndarray, what: str, *, allow_neg_inf: bool = False):
    """Return `out`, or raise FloatingPointError if a public method would return NaN or inf.

    With `allow_neg_inf`, -inf passes: the log-probability of an impossible item.
    """
    if out.size == 0 or out.dtype.kind != "f" or np.isfinite(out.sum()):
        return out
    bad = np.isnan(out) | (out == np.inf) | ((out == -np.inf) & (not allow_neg_inf))
    if bad.any():
        rows = np.flatnonzero(bad.reshape(len(out), -1).any(1)) if out.ndim else [0]
        raise FloatingPointError(
            f"{what} produced NaN or infinity for item(s) {list(rows[:5])}: the model met "
            "numerical trouble (overflow or a degenerate fit); refit on rescaled data."
        )
    return out


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


def check_counts(X: np.ndarray, what: str, name: str = "X") -> np.ndarray:
    """Return X if it holds counts (whole numbers >= 0), else raise ValueError naming `name`
    and the first bad value; `what` says who needs counts."""
    if _counts_ok(X):
        return X
    if X.min() < 0:
        raise ValueError(
            f"Negative values in data passed to {name}: it contains the negative count "
            f"{X.min():g}; "
            f"{what} takes counts >= 0."
        )
    index = tuple(int(i) for i in np.argwhere(X != np.rint(X))[0])
    raise ValueError(
        f"{name} contains the non-integer count {X[index]:g} at {index}; {what} takes whole "
        "counts (round them, or use a model of continuous data)."
    )


def _counts_ok(X: np.ndarray, block: int = 2**15) -> bool:
    """Whether every value of X is a whole number >= 0: one pass in cache-sized blocks (three
    times faster than comparing with a rounded copy of the whole array)."""
    if X.dtype.kind in "biu":
        return X.size == 0 or X.min() >= 0
    flat = X.reshape(-1)
    rounded = np.empty(min(block, flat.size), dtype=X.dtype)
    for start in range(0, flat.size, block):
        part = flat[start : start + block]
        if part.min() < 0 or not np.array_equal(part, np.rint(part, out=rounded[: len(part)])):
            return False
    return True


def check_labels(
    y, *, n_samples: int | None = None, classes=None, name: str = "y", min_classes: int = 2
):
    """Return (classes, indices into classes) for labels y, or raise ValueError naming `name`.

    At fit (`classes` None) the classes are the sorted distinct labels and there must be at
    least `min_classes`; afterwards every label must be one of `classes`.
    """
    if y is None:
        raise ValueError(
            f"This conditional model requires {name} to be passed, but the target {name} is "
            f"None; call fit(X, {name})."
        )
    if isinstance(y, torch.Tensor):
        y = y.detach().cpu().numpy()
    y = _label_array(y, name)
    if y.ndim == 2 and y.shape[1] == 1:
        warnings.warn(
            f"A column-vector {name} was passed when a 1d array was expected; it is read as "
            f"one label per sample. Pass {name}.ravel() to silence this.",
            DataConversionWarning,
            stacklevel=3,
        )
        y = y.ravel()
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D, one label per sample; got shape {y.shape}.")
    if n_samples is not None and len(y) != n_samples:
        raise ValueError(f"{name} has {len(y)} labels but X has {n_samples} samples.")
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise ValueError(f"{name} contains NaN or infinity; labels must be finite.")
    if classes is None:
        if y.dtype.kind == "f" and len(y) and not np.array_equal(y, np.round(y)):
            raise ValueError(
                f"Unknown label type: {name} holds continuous values such as "
                f"{y[y != np.round(y)][0]:g}; labels are classes (ints or strings), not "
                "measurements to regress."
            )
        classes, index = np.unique(y, return_inverse=True)
        if len(classes) < min_classes:
            raise ValueError(
                f"{name} has only one class ({classes[0]!r}); at least two classes are needed."
                if len(classes) == 1
                else f"{name} is empty; at least {min_classes} class(es) are needed."
            )
        return classes, index.reshape(-1).astype(np.int64)
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


def _label_array(y, name: str) -> np.ndarray:
    """Labels as an array of one type: numbers, or strings; a mix is refused."""
    try:
        y = np.asarray(y)
    except ValueError as err:
        raise ValueError(f"{name} must be a 1-D sequence of labels: {err}") from None
    if y.dtype.kind == "c":
        raise ValueError(f"{name} must hold real labels: complex data are not supported.")
    if y.dtype.kind == "O":
        kinds = {"number" if isinstance(v, numbers.Number) else type(v).__name__ for v in y.flat}
        if len(kinds) > 1:
            raise ValueError(
                f"{name} mixes label types ({', '.join(sorted(kinds))}); use labels of one "
                "type, all numbers or all strings."
            )
        if kinds == {"number"}:
            y = y.astype(np.float64)
        elif kinds and kinds != {"str"}:
            raise ValueError(f"{name} must hold numbers or strings; got {kinds.pop()} labels.")
    return y


@dataclass(frozen=True)
class Sequences:
    """Checked sequences: the steps of all of them stacked in X, and their lengths.

    `X` is an array (n_steps, n_features) on the host, or a model's tensor of it on a
    device; len() is the number of sequences.
    """

    X: object
    lengths: np.ndarray

    def __len__(self) -> int:
        return len(self.lengths)


def check_lengths(lengths, n_steps: int) -> np.ndarray:
    """lengths as an int64 array of positive ints summing to n_steps (None: one sequence)."""
    if lengths is None:
        return np.array([n_steps], dtype=np.int64)
    if isinstance(lengths, torch.Tensor):
        lengths = lengths.detach().cpu().numpy()
    array = np.asarray(lengths)
    if array.ndim != 1 or array.size == 0 or array.dtype.kind not in "biuf":
        raise ValueError(
            f"lengths must be a non-empty 1-D array of ints; got {np.shape(lengths)} "
            f"of dtype {array.dtype}."
        )
    if array.dtype.kind == "f" and not (np.isfinite(array).all() and (array % 1 == 0).all()):
        raise ValueError("lengths must hold whole numbers; got non-integer values.")
    if (array < 1).any():
        raise ValueError(f"lengths must be positive; got {array.min():g}.")
    if array.max() > n_steps:  # also keeps the int64 sum below from overflowing
        raise ValueError(
            f"lengths has {array.max():g}, more than the {n_steps} steps of X; they must sum "
            "to the number of steps."
        )
    array = array.astype(np.int64)
    if array.sum() != n_steps:
        raise ValueError(
            f"lengths sum to {int(array.sum())}, but X has {n_steps} steps; they must be equal."
        )
    return array


# Upper bounds of the sizes a user can ask for, beyond which a request is refused at once with
# the argument named, rather than run out of memory or run for days.
MAX_ITERATIONS = 10**8  # EM iterations, optimizer steps, Markov chain steps
MAX_WIDTH = 2**20  # components, states, topics, units: one axis of a parameter
MAX_ROWS = 2**24  # rows of one batch, parallel chains
MAX_RESTARTS = 10**4  # n_init
MAX_LEVELS = 2**16  # levels of discrete values: 16-bit data at most


# Largest count of items one call draws or handles; larger requests are refused.
MAX_ITEMS = 2**31 - 1


def check_n_samples(n_samples, name: str = "n_samples", *, maximum: int = MAX_ITEMS) -> int:
    """Return `n_samples` as a positive int at most `maximum`, or raise ValueError naming it."""
    return check_size(n_samples, name, low=1, high=maximum)


def check_size(value, name: str, *, low: int = 1, high: int) -> int:
    """Return a size argument (a count of steps, chains, words...) as an int in [low, high],
    or raise ValueError naming it and the range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an int in [{low}, {high}]; got {value!r}.")
    if not low <= value <= high:
        kind = "a positive int" if low == 1 else f"an int >= {low}"
        raise ValueError(f"{name} must be {kind} at most {high:,}; got {value:,}.")
    return int(value)


def available_memory(device: torch.device) -> int | None:
    """Bytes free for new tensors on `device`, or None when the system does not say."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device))
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(n_bytes: int, device: torch.device, what: str) -> None:
    """Raise MemoryError-like ValueError if `what` needs more memory than `device` has free.

    The message gives the estimate, so a user knows how far to cut the request.
    """
    free = available_memory(device)
    limit = free if free is not None else 2**40
    if n_bytes > limit:
        raise ValueError(
            f"{what} would need about {_format_bytes(n_bytes)}, more than the "
            f"{_format_bytes(limit)} free on {device}; ask for fewer items and call again."
        )


def _format_bytes(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PB"


def is_one_shot(iterable: Iterable) -> bool:
    """Whether iterating `iterable` twice would see different items (a generator, a file)."""
    return iter(iterable) is iterable


# --- device, dtype and randomness


def _cuda_available() -> bool:
    """torch.cuda.is_available(), one place for tests to pretend a GPU without touching one."""
    return torch.cuda.is_available()


def resolve_device(device, *, worth_cuda: Callable[[], bool] | None = None) -> torch.device:
    """Turn 'auto' into CUDA where present, else the CPU; pass other names to torch.

    `worth_cuda`, given, is asked whether the work at hand pays for CUDA before 'auto' picks it
    (a model weighs its data, `GenerativeModel._fit_device_for`). The environment variable
    GENZOO_DEVICE, when set, is what 'auto' means, whatever the work (the test suite's
    ``--device`` option sets it).
    """
    if device == "auto":
        chosen = os.environ.get("GENZOO_DEVICE", "")
        if chosen and chosen != "auto":
            try:
                return resolve_device(chosen)
            except (ValueError, RuntimeError) as err:
                raise ValueError(f"GENZOO_DEVICE={chosen!r}: {err}") from None
        cuda = _cuda_available() and (worth_cuda is None or worth_cuda())
        return torch.device("cuda" if cuda else "cpu")
    device = torch.device(device)
    if device.type == "cuda":
        if not _cuda_available():
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
