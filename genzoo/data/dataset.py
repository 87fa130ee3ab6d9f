"""One entry point from a data set name or a file path to train and test arrays."""

from __future__ import annotations

import csv
import math
import numbers
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from genzoo._validation import MAX_LEVELS
from genzoo.data.digits import load_digits
from genzoo.data.loaders import (
    DatasetNotFound,
    load_csv,
    load_idx,
    load_image_folder,
    load_mnist,
    load_npy,
    load_npz,
)
from genzoo.data.text import load_text_folder
from genzoo.data.toy import TOY_DATASETS

__all__ = ["Dataset", "DatasetNotFound", "list_datasets", "load"]

_KINDS = ("vectors", "images", "counts", "sequences", "table", "sentences")
# Built-in data sets of the other kinds, drawn by generators in their own modules.
_SEQUENCE_SETS = ("casino",)
_TABLE_SETS = ("asia", "sprinkler", "animals")
_COUNT_SETS = ("bars",)
_SENTENCE_SETS = ("treebank",)
# Built-in pairs of domains for translation models, drawn in `genzoo.data.pairs`.
_PAIR_SETS = ("blobs_rotated", "digits_negatives")
_BARS_DOC_LENGTH = 100  # words per document, as in Griffiths and Steyvers (2004)
_SEQUENCE_TRAIN_SIZE = 50
_SEQUENCE_LENGTH = 200
_TOY_TRAIN_SIZE = 2000
_DIGIT_CLASSES = tuple(str(k) for k in range(10))
# A CSV column with one of these header names is taken as the labels, as "y" is in an .npz.
_CSV_LABEL_NAMES = ("y", "label", "labels", "target", "targets", "class")
_MNIST_ENV = "GENZOO_MNIST_DIR"


def _level_indices(X: np.ndarray, step: float, levels: int) -> np.ndarray | None:
    """k = X / step if every value is k * step for a whole k in [0, levels), else None."""
    k = np.round(X / step)
    if k.size == 0:
        return k
    # A tolerance relative to the step: 8-bit data divided by 255 are not exact in float64.
    if np.any(np.abs(X - k * step) > 1e-6 * step) or k.min() < 0 or k.max() >= levels:
        return None
    return k


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """A data set split into train and test parts, as the CLI and the zoo consume it.

    Parameters
    ----------
    name : str
        The built-in name, or the file or folder name for a path.
    kind : {"vectors", "images", "counts", "sequences", "table", "sentences"}
        "vectors" for X of shape (n_samples, n_features), "images" for (n_samples, c, h, w),
        "counts" for vectors of non-negative integer counts (float64), "sequences" for the
        steps of all sequences stacked, (n_steps, n_features), with `lengths_*`, "table"
        for a pandas DataFrame of discrete (categorical) columns, and "sentences" for a list
        of token lists, optionally with their parse trees in `trees_*`.
    X_train, X_test : ndarray, float64 (a DataFrame for tables, a list for sentences)
        The samples of each part.
    y_train, y_test : ndarray of shape (n_samples,), int64, or None
        Class labels, as indices into `classes` when that is given.
    classes : tuple of str or None
        Class names, so that ``classes[y[i]]`` names sample i's class.
    lengths_train, lengths_test : ndarray of int64 or None
        For sequences: the length of each sequence, in order; they sum to len(X_*).
    trees_train, trees_test : list of str or None
        For sentences: each sentence's parse tree as a bracketed string, when known.
    display_shape : tuple (c, h, w) or None
        For vectors or counts that are pictures (the bars corpus, digits as pixel values):
        how to draw one sample.
    vocabulary : tuple of str or None
        For counts of words (a folder of text files): the word of each column.
    levels : int or None
        For discrete vectors, images or counts on a grid: the number of levels L of every
        value, which are ``k * level_step`` for k in 0..L-1 (digits 17, MNIST 256, binary
        sets 2). None for continuous data, and for data discrete by nature without a
        common grid (word counts, sequences, tables, sentences). See `support`.
    level_step : float or None
        The grid's spacing; None means 1 / (levels - 1) for vectors and images (values in
        [0, 1]) and 1 for counts.
    X_b_train, X_b_test : ndarray, float64, or None
        A second domain for translation models (vectors or images only, both parts or
        neither, each sample shaped as in X_train and on the same levels): unpaired with
        X_train in the training part; in the test part X_b_test[i] is the image of X_test[i]
        under the known map, so translations can be scored. See `domain_a` and `domain_b`.

    Examples
    --------
    >>> from genzoo.data import load
    >>> data = load("moons", n_samples=200)
    >>> data.X_train.shape, data.X_test.shape
    ((200, 2), (50, 2))
    """

    name: str
    kind: str
    X_train: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray | None = None
    y_test: np.ndarray | None = None
    classes: tuple[str, ...] | None = None
    lengths_train: np.ndarray | None = None
    lengths_test: np.ndarray | None = None
    trees_train: list[str] | None = None
    trees_test: list[str] | None = None
    display_shape: tuple[int, int, int] | None = None
    vocabulary: tuple[str, ...] | None = None
    levels: int | None = None
    level_step: float | None = None
    X_b_train: np.ndarray | None = None
    X_b_test: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"kind must be one of {_KINDS}, got {self.kind!r}")
        if self.kind == "sentences":
            self._check_sentences()
            self._check_no_levels()
            return
        ndim = 4 if self.kind == "images" else 2
        for part in ("train", "test"):
            X, y = getattr(self, f"X_{part}"), getattr(self, f"y_{part}")
            if np.ndim(X) != ndim:
                raise ValueError(f"X_{part} of {self.kind} must be {ndim}-D, got {X.shape}")
            lengths = getattr(self, f"lengths_{part}")
            if (self.kind == "sequences") != (lengths is not None):
                raise ValueError(f"lengths_{part} must be given for sequences, and only for them")
            if lengths is not None and int(np.sum(lengths)) != len(X):
                raise ValueError(f"lengths_{part} sum to {int(np.sum(lengths))}, not {len(X)}")
            n_items = len(X) if lengths is None else len(lengths)
            if y is not None and y.shape != (n_items,):
                raise ValueError(f"y_{part} must have shape ({n_items},), got {y.shape}")
        if self.X_train.shape[1:] != self.X_test.shape[1:]:
            raise ValueError(
                f"X_train and X_test differ in sample shape: {self.X_train.shape[1:]} "
                f"and {self.X_test.shape[1:]}"
            )
        self._check_second_domain()
        if self.levels is None:
            self._check_no_levels()
        else:
            self._check_levels()

    def _check_second_domain(self) -> None:
        given = (self.X_b_train is not None, self.X_b_test is not None)
        if not any(given):
            return
        if not all(given):
            raise ValueError("X_b_train and X_b_test must be given together, or neither")
        if self.kind not in ("vectors", "images"):
            raise ValueError(f"{self.kind} data take no second domain (X_b_train, X_b_test)")
        for part in ("train", "test"):
            X_b = getattr(self, f"X_b_{part}")
            if np.shape(X_b)[1:] != self.X_train.shape[1:]:
                raise ValueError(
                    f"X_b_{part} has sample shape {np.shape(X_b)[1:]}, but X_train has "
                    f"{self.X_train.shape[1:]}"
                )
            if len(X_b) < 1:
                raise ValueError(f"X_b_{part} must have at least one row")
        # The test parts are pairs: X_b_test[i] is the image of X_test[i].
        if len(self.X_b_test) != len(self.X_test):
            raise ValueError(
                f"X_b_test has {len(self.X_b_test)} rows, but X_test has {len(self.X_test)}: "
                "the test parts are paired row by row"
            )

    def _check_no_levels(self) -> None:
        if self.level_step is not None:
            raise ValueError("level_step is given without levels")

    def _check_levels(self) -> None:
        if self.kind not in ("vectors", "images", "counts"):
            raise ValueError(f"{self.kind} data have no levels; got levels={self.levels!r}")
        levels = self.levels
        if isinstance(levels, bool) or not isinstance(levels, numbers.Integral):
            raise ValueError(f"levels must be an int, got {levels!r}")
        if not 2 <= levels <= MAX_LEVELS:
            raise ValueError(f"levels must be in [2, {MAX_LEVELS}], got {levels}")
        object.__setattr__(self, "levels", int(levels))
        if self.level_step is None:
            step = 1.0 if self.kind == "counts" else 1.0 / (levels - 1)
            object.__setattr__(self, "level_step", step)
        step = self.level_step
        if isinstance(step, bool) or not isinstance(step, numbers.Real) or not step > 0:
            raise ValueError(f"level_step must be a positive number, got {step!r}")
        object.__setattr__(self, "level_step", float(step))
        parts = (
            ("train", "test", "b_train", "b_test") if self.has_second_domain else ("train", "test")
        )
        for part in parts:
            if _level_indices(getattr(self, f"X_{part}"), self.level_step, levels) is None:
                raise ValueError(
                    f"X_{part} of data set {self.name!r} is not on the grid of {levels} "
                    f"levels k * {self.level_step:.6g}, k = 0..{levels - 1}"
                )

    def _check_sentences(self) -> None:
        for part in ("train", "test"):
            X, trees = getattr(self, f"X_{part}"), getattr(self, f"trees_{part}")
            if not isinstance(X, list) or not all(
                isinstance(s, list) and all(isinstance(t, str) for t in s) for s in X
            ):
                raise ValueError(f"X_{part} of sentences must be a list of lists of str")
            if trees is not None and len(trees) != len(X):
                raise ValueError(f"trees_{part} has {len(trees)} trees for {len(X)} sentences")

    @property
    def has_second_domain(self) -> bool:
        """Whether the data set holds a second domain (X_b_train, X_b_test)."""
        return self.X_b_train is not None

    def domain_a(self) -> Dataset:
        """Return the same data without the second domain."""
        return replace(self, X_b_train=None, X_b_test=None)

    def domain_b(self) -> Dataset:
        """Return the second domain as an ordinary data set, named ``"<name>/b"``.

        Its test part keeps the labels (it is paired with X_test); its training part has none.
        """
        if not self.has_second_domain:
            raise ValueError(f"data set {self.name!r} has no second domain")
        return Dataset(
            f"{self.name}/b",
            self.kind,
            self.X_b_train,
            self.X_b_test,
            y_test=self.y_test,
            classes=self.classes,
            display_shape=self.display_shape,
            levels=self.levels,
            level_step=self.level_step,
        )

    @property
    def n_features(self) -> int:
        """Number of values per sample (c * h * w for images)."""
        if self.kind == "sentences":
            raise ValueError(f"sentences data {self.name!r} has no fixed number of features")
        return math.prod(self.X_train.shape[1:])

    @property
    def support(self) -> str:
        """ "discrete" or "continuous": whether the values are discrete (with `levels`, or by
        nature: counts, sequences, tables, sentences), which decides how likelihoods are
        scored (see `genzoo.metrics.likelihood`)."""
        if self.levels is not None or self.kind in ("counts", "sequences", "table", "sentences"):
            return "discrete"
        return "continuous"

    @property
    def support_label(self) -> str:
        """The support in words: "continuous", "discrete (17 levels)" or "discrete"."""
        if self.levels is not None:
            return f"discrete ({self.levels} levels)"
        return self.support

    def unit_values(self, X) -> np.ndarray:
        """Values X of this data set in [0, 1] as pixels are read: level k at k / (L - 1);
        X unchanged without levels."""
        X = np.asarray(X, dtype=np.float64)
        if self.levels is None:
            return X
        return X / (self.level_step * (self.levels - 1))

    def level_indices(self, part: str = "test") -> np.ndarray:
        """The level index k of every value of a part (X / level_step), as float64."""
        if self.levels is None:
            raise ValueError(f"data set {self.name!r} has no levels")
        return np.round(getattr(self, f"X_{part}") / self.level_step)

    @property
    def image_shape(self) -> tuple[int, int, int] | None:
        """The (c, h, w) shape of one image (or of a picture-like vector), else None."""
        if self.kind == "images":
            return tuple(self.X_train.shape[1:])
        return self.display_shape

    def as_vectors(self) -> Dataset:
        """Return the same data with each image flattened to a row of c * h * w values.

        Counts become plain vectors; sequences, tables and sentences have no vector form.
        """
        if self.kind in ("sequences", "table", "sentences"):
            raise ValueError(f"{self.kind} data {self.name!r} has no vector form")
        if self.kind == "vectors":
            return self
        flat = {
            f"X_{part}": X.reshape(len(X), -1)
            for part in ("train", "test", "b_train", "b_test")
            if (X := getattr(self, f"X_{part}")) is not None
        }
        return replace(self, kind="vectors", **flat)

    def as_counts(self) -> Dataset:
        """Return discrete vectors or images as counts: each value's level index, flattened.

        So that models of counts (categorical and multinomial naive Bayes) score the same
        digits as models of pixels. A second domain is dropped: counts have none.
        """
        if self.kind == "counts":
            return self
        if self.levels is None:
            raise ValueError(f"{self.kind} data {self.name!r} have no levels to count")
        flat = self.domain_a().as_vectors()
        return replace(
            flat,
            kind="counts",
            X_train=np.round(flat.X_train / self.level_step),
            X_test=np.round(flat.X_test / self.level_step),
            level_step=1.0,
        )

    def __repr__(self) -> str:
        n_classes = None if self.classes is None else len(self.classes)
        train, test = (
            (len(self.X_train), len(self.X_test))
            if self.kind == "sentences"
            else (self.X_train.shape, self.X_test.shape)
        )
        second = (
            f"X_b_train={self.X_b_train.shape}, X_b_test={self.X_b_test.shape}, "
            if self.has_second_domain
            else ""
        )
        return (
            f"Dataset(name={self.name!r}, kind={self.kind!r}, X_train={train}, "
            f"X_test={test}, {second}labels={self.y_train is not None}, "
            f"n_classes={n_classes}, support={self.support_label!r})"
        )


def list_datasets() -> list[str]:
    """Return the names of the built-in data sets, sorted."""
    return sorted(
        [*TOY_DATASETS, "digits", "digits_counts", "digits_binary", "bars_binary", "mnist"]
        + [*_SEQUENCE_SETS, *_TABLE_SETS, *_COUNT_SETS, *_SENTENCE_SETS, *_PAIR_SETS]
    )


# --- argument checks


def _check_positive_int(value, name: str, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def _check_split_args(test_size, random_state) -> None:
    if (
        isinstance(test_size, bool)
        or not isinstance(test_size, numbers.Real)
        or not 0.0 < test_size < 1.0
    ):
        raise ValueError(f"test_size must be a float in (0, 1), got {test_size!r}")
    if (
        isinstance(random_state, bool)
        or not isinstance(random_state, numbers.Integral)
        or random_state < 0
    ):
        raise ValueError(f"random_state must be a non-negative int, got {random_state!r}")


# --- array checks for users' files


def _as_samples(X: np.ndarray, source: str) -> tuple[np.ndarray, str]:
    """Return X as float64 vectors (n, d) or images (n, c, h, w), and its kind."""
    if X.dtype.kind not in "biuf":
        raise ValueError(f"{source}: data of dtype {X.dtype} is not numeric")
    if X.ndim not in (1, 2, 3, 4):
        raise ValueError(f"{source}: data of shape {X.shape} is neither vectors nor images")
    kind = "images" if X.ndim >= 3 else "vectors"
    # 8-bit images are pixel bytes; every other array is taken at face value.
    scale = 255.0 if kind == "images" and X.dtype == np.uint8 else 1.0
    X = np.asarray(X, dtype=np.float64) / scale
    if X.ndim == 1:
        X = X[:, None]  # (n, 1): one feature per sample
    elif X.ndim == 3:
        X = X[:, None]  # (n, 1, h, w): one channel, as DESIGN.md specifies
    bad = ~np.isfinite(X.reshape(len(X), -1)).all(axis=1)
    if bad.any():
        raise ValueError(
            f"{source}: {int(bad.sum())} samples contain NaN or infinite values "
            f"(the first is sample {int(np.argmax(bad))})"
        )
    return X, kind


def _infer_levels(X: np.ndarray, kind: str, was_bytes: bool) -> tuple[int, float] | None:
    """(levels, level_step) of values on a grid, or None for continuous data.

    8-bit images are 256 levels of 1/255. Otherwise non-negative whole numbers are levels
    0..max (step 1), and values in [0, 1] on a grid of 1/m are m + 1 levels.
    """
    if was_bytes:
        return 256, 1 / 255
    if X.size == 0 or X.min() < 0:
        return None
    top = float(X.max())
    if np.all(X == np.round(X)):
        return (int(top) + 1, 1.0) if 1 <= top < MAX_LEVELS else None
    if top > 1:
        return None
    values = np.unique(X)
    smallest_gap = float(np.min(np.diff(values)))
    for m in dict.fromkeys((round(1 / smallest_gap), 255, MAX_LEVELS - 1)):
        if 1 <= m < MAX_LEVELS and _level_indices(X, 1 / m, m + 1) is not None:
            return m + 1, 1 / m
    return None


def _with_levels(data: Dataset, levels) -> Dataset:
    """Apply `load`'s levels argument: "auto" keeps what the data declare."""
    if isinstance(levels, str) and levels == "auto":
        return data
    if isinstance(levels, str) and levels == "continuous":
        return replace(data, levels=None, level_step=None)
    if isinstance(levels, bool) or not isinstance(levels, numbers.Integral):
        raise ValueError(f"levels must be 'auto', 'continuous' or an int, got {levels!r}")
    if data.kind not in ("vectors", "images", "counts"):
        raise ValueError(f"{data.kind} data {data.name!r} take no levels")
    parts = [data.X_train, data.X_test]
    if data.has_second_domain:
        parts += [data.X_b_train, data.X_b_test]
    top = max(float(np.max(X)) for X in parts)
    # Values in [0, 1] are levels k / (L - 1); larger ones are the level indices themselves.
    step = 1.0 if data.kind == "counts" or top > 1 else 1.0 / max(levels - 1, 1)
    return replace(data, levels=levels, level_step=step)


def _encode_labels(y: np.ndarray | None, source: str) -> tuple[np.ndarray | None, tuple | None]:
    """Return int64 labels and, for string labels, the sorted class names they index."""
    if y is None:
        return None, None
    if y.dtype.kind in "US":
        classes, y = np.unique(y.astype(str), return_inverse=True)
        return y.astype(np.int64), tuple(str(c) for c in classes)
    if y.dtype.kind in "biu":
        return y.astype(np.int64), None
    if y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
        return y.astype(np.int64), None
    raise ValueError(f"{source}: labels must be integers or strings, got dtype {y.dtype}")


def _random_split(X, y, test_size: float, random_state: int, source: str):
    n = len(X)
    n_test = math.ceil(test_size * n)
    if n_test < 1 or n - n_test < 1:
        raise ValueError(f"{source}: {n} samples cannot be split with test_size={test_size}")
    order = np.random.default_rng(random_state).permutation(n)
    train, test = order[n_test:], order[:n_test]
    if y is None:
        return X[train], X[test], None, None
    return X[train], X[test], y[train], y[test]


# --- built-in data sets


def _load_toy(name: str, n_samples: int | None, random_state: int) -> Dataset:
    n = _TOY_TRAIN_SIZE if n_samples is None else n_samples
    make = TOY_DATASETS[name]
    # An independent draw from another seed, so the test set shares no point with the train set.
    X_test = make(max(n // 4, 1), random_state=random_state + 1)
    return Dataset(name, "vectors", make(n, random_state=random_state), X_test)


def _load_digits(n_samples: int | None) -> Dataset:
    X_train, y_train = load_digits("train")
    X_test, y_test = load_digits("test")
    X_train, y_train = X_train[:n_samples], y_train[:n_samples]
    return Dataset("digits", "images", X_train, X_test, y_train, y_test, _DIGIT_CLASSES, levels=17)


def _load_digit_values(name: str, n_samples: int | None) -> Dataset:
    """Digits as 64 pixel counts 0..16 ("digits_counts") or binarised at 8 ("digits_binary")."""
    X_train, y_train = load_digits("train", flatten=True)
    X_test, y_test = load_digits("test", flatten=True)
    X_train, y_train = X_train[:n_samples], y_train[:n_samples]
    if name == "digits_counts":
        kind, levels = "counts", 17
        X_train, X_test = np.round(16 * X_train), np.round(16 * X_test)
    else:
        kind, levels = "vectors", 2
        X_train, X_test = (X_train >= 0.5) * 1.0, (X_test >= 0.5) * 1.0
    return Dataset(
        name,
        kind,
        X_train,
        X_test,
        y_train,
        y_test,
        _DIGIT_CLASSES,
        display_shape=(1, 8, 8),
        levels=levels,
    )


def _load_sequences(name: str, n_samples: int | None, random_state: int) -> Dataset:
    from genzoo.data.casino import make_casino

    n = _SEQUENCE_TRAIN_SIZE if n_samples is None else n_samples
    X_train, lengths_train, _ = make_casino(n, _SEQUENCE_LENGTH, random_state=random_state)
    X_test, lengths_test, _ = make_casino(
        max(n // 4, 1), _SEQUENCE_LENGTH, random_state=random_state + 1
    )
    X_train, X_test = X_train.astype(np.float64), X_test.astype(np.float64)  # symbols 0..5
    return Dataset(
        name, "sequences", X_train, X_test, lengths_train=lengths_train, lengths_test=lengths_test
    )


def _load_table(name: str, n_samples: int | None, random_state: int) -> Dataset:
    from genzoo.data.networks import sample_network

    n = _TOY_TRAIN_SIZE if n_samples is None else n_samples
    X_train = sample_network(name, n, random_state=random_state)
    X_test = sample_network(name, max(n // 4, 1), random_state=random_state + 1)
    return Dataset(name, "table", X_train, X_test)


def _load_bars(n_samples: int | None, random_state: int) -> Dataset:
    from genzoo.data.bars import make_bars

    n = _TOY_TRAIN_SIZE if n_samples is None else n_samples
    X_train, _ = make_bars(n, doc_length=_BARS_DOC_LENGTH, random_state=random_state)
    X_test, _ = make_bars(
        max(n // 4, 1), doc_length=_BARS_DOC_LENGTH, random_state=random_state + 1
    )
    return Dataset("bars", "counts", X_train, X_test, display_shape=(1, 5, 5))


def _load_binary_bars(n_samples: int | None, random_state: int) -> Dataset:
    from genzoo.data.bars import make_binary_bars

    n = _TOY_TRAIN_SIZE if n_samples is None else n_samples
    X_train, _ = make_binary_bars(n, random_state=random_state)
    X_test, _ = make_binary_bars(max(n // 4, 1), random_state=random_state + 1)
    return Dataset("bars_binary", "vectors", X_train, X_test, display_shape=(1, 5, 5), levels=2)


def _load_treebank(n_samples: int | None, random_state: int) -> Dataset:
    from genzoo.data.treebank import make_treebank
    from genzoo.grammar.trees import tree_to_tokens

    n = _TOY_TRAIN_SIZE if n_samples is None else n_samples
    trees_train = make_treebank(n, random_state=random_state)
    trees_test = make_treebank(max(n // 4, 1), random_state=random_state + 1)
    return Dataset(
        "treebank",
        "sentences",
        [tree_to_tokens(t) for t in trees_train],
        [tree_to_tokens(t) for t in trees_test],
        trees_train=trees_train,
        trees_test=trees_test,
    )


def _mnist_folder() -> Path:
    env = os.environ.get(_MNIST_ENV)
    if env:
        if not Path(env).is_dir():
            raise DatasetNotFound(f"{_MNIST_ENV}={env} is not a folder")
        return Path(env)
    candidates = [
        Path.cwd() / ".." / "shared" / "data" / "mnist",
        Path(__file__).resolve().parents[3] / "shared" / "data" / "mnist",
    ]
    for folder in candidates:
        if folder.is_dir():
            return folder
    raise DatasetNotFound(
        f"MNIST not found in {', '.join(str(c) for c in candidates)}; set {_MNIST_ENV} to a "
        "folder holding t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz (and the "
        "train-* files for the official split); genzoo never downloads data"
    )


def _has_mnist(folder: Path, prefix: str) -> bool:
    return any(folder.glob(f"{prefix}-images[-.]idx3-ubyte*"))


def _load_mnist_folder(folder: Path, name: str, test_size: float, random_state: int):
    """Use the official train/test split if both parts are present, else split the one there."""
    has_train, has_test = _has_mnist(folder, "train"), _has_mnist(folder, "t10k")
    if has_train and has_test:
        X_train, y_train = load_mnist(folder, split="train")
        X_test, y_test = load_mnist(folder, split="test")
    elif has_train or has_test:
        X, y = load_mnist(folder, split="train" if has_train else "test")
        X_train, X_test, y_train, y_test = _random_split(X, y, test_size, random_state, name)
    else:
        raise DatasetNotFound(f"{folder}: no MNIST IDX files ({{train|t10k}}-images-idx3-ubyte)")
    return Dataset(name, "images", X_train, X_test, y_train, y_test, _DIGIT_CLASSES, levels=256)


# --- users' files


def _csv_label_column(path: Path) -> str | None:
    """Return the header name of a label column, if the first row is a header that has one."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as file:
            first = next((row for row in csv.reader(file) if any(c.strip() for c in row)), [])
    except (UnicodeDecodeError, csv.Error):
        return None  # load_csv reports the unreadable file with its own message
    names = [cell.strip() for cell in first]
    return next((n for n in _CSV_LABEL_NAMES if n in names), None)


def _read_file(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    name, suffix = path.name.lower(), path.suffix.lower()
    if suffix == ".npy":
        return load_npy(path), None
    if suffix == ".npz":
        return load_npz(path)
    if suffix == ".csv":
        return load_csv(path, label_column=_csv_label_column(path))
    if suffix in (".idx", ".gz") or "idx" in name or name.endswith("ubyte"):
        return load_idx(path), None
    raise ValueError(
        f"{path}: unsupported file type {suffix!r}; expected .npy, .npz, .csv, an IDX file "
        "(.idx, *-ubyte, optionally .gz), a folder of images or a folder of MNIST files"
    )


def _load_path(path: Path, test_size: float, random_state: int) -> Dataset:
    name = Path(path.resolve().name.removesuffix(".gz")).stem
    if path.is_dir() and (_has_mnist(path, "train") or _has_mnist(path, "t10k")):
        return _load_mnist_folder(path, name, test_size, random_state)
    if path.is_dir() and any(path.glob("*.txt")):
        X, vocabulary, _ = load_text_folder(path)
        # Dense, as every consumer of a Dataset expects; load_text_folder itself gives the
        # sparse counts that LatentDirichletAllocation takes for corpora too big for this.
        X = X.toarray()
        X_train, X_test, _, _ = _random_split(X, None, test_size, random_state, str(path))
        return Dataset(name, "counts", X_train, X_test, vocabulary=tuple(vocabulary))
    if path.is_dir():
        X, y, class_list = load_image_folder(path)
        classes = tuple(class_list) or None
    else:
        X, y = _read_file(path)
        y, classes = _encode_labels(y, str(path))
    was_bytes = X.dtype == np.uint8 and X.ndim >= 3
    X, kind = _as_samples(X, str(path))
    X_train, X_test, y_train, y_test = _random_split(X, y, test_size, random_state, str(path))
    levels, step = _infer_levels(X, kind, was_bytes) or (None, None)
    return Dataset(
        name, kind, X_train, X_test, y_train, y_test, classes, levels=levels, level_step=step
    )


def load(
    name_or_path: str | os.PathLike,
    *,
    n_samples: int | None = None,
    test_size: float = 0.2,
    random_state: int = 0,
    levels: int | str = "auto",
) -> Dataset:
    """Return a built-in data set, or a user's file or folder, split into train and test.

    Built-in names (see `list_datasets`) win over a file of the same name; write
    ``"./moons"`` for the file.

    - The toy sets draw `n_samples` training points (default 2000) with seed `random_state`
      and an independent test set of ``max(n_samples // 4, 1)`` points with seed
      ``random_state + 1``.
    - "digits" uses the fixed split of `load_digits` (1437 train, 360 test images);
      "digits_counts" gives the same images as 64 pixel counts 0..16 (kind "counts") and
      "digits_binary" as 64 pixels binarised at half intensity.
    - "casino" draws `n_samples` sequences (default 50) of 200 rolls from the dishonest-casino
      HMM, and an independent test set of a quarter as many; "asia", "sprinkler" and
      "animals" draw `n_samples` rows (default 2000) from those Bayesian networks, as tables.
    - "bars" draws `n_samples` documents (default 2000) of 100 words from the Griffiths and
      Steyvers bars topics (kind "counts", drawn as 5x5 pictures); "treebank" samples
      `n_samples` trees (default 2000) from the built-in English PCFG (kind "sentences",
      with the trees). "bars_binary" draws `n_samples` 5x5 binary images (default 2000)
      whose ten bars are each on with probability 0.2 (Foldiak's bars problem; exact
      log-likelihood by `genzoo.data.binary_bars_log_prob`). Each has an independent test set
      a quarter the size.
    - "digits_negatives" pairs two domains for translation models (see `Dataset.X_b_train`):
      the even training digits of "digits" and the negatives 1 - x of the odd ones (at most
      `n_samples` each, so no training pair exists); the test digits and their negatives
      are paired. 17 levels.
    - "blobs_rotated" pairs `n_samples` draws (default 2000) of three asymmetric Gaussian
      blobs in 2-D with the 90-degree rotation of an independent draw (seed
      ``random_state + 2``); the test part is ``max(n_samples // 4, 1)`` blob points and
      their rotations (`genzoo.data.pairs`).
    - "mnist" reads the IDX files in ``$GENZOO_MNIST_DIR``, else ``../shared/data/mnist``
      from the working directory or the repository. With both train and t10k files it uses
      the official split; with one part only, it splits that part as for a path.
    - A path may be a ``.npy``, ``.npz`` or ``.csv`` file, an IDX file (``.idx``, ``*-ubyte``,
      optionally gzipped), a folder of images (class subfolders give labels), a folder of
      MNIST IDX files, or a folder of ``.txt`` files (one document each, read by
      `load_text_folder` into word counts, kind "counts", with the `vocabulary`). It is
      shuffled with seed `random_state` and its first ``ceil(test_size * n)`` samples become
      the test set. A CSV column headed y, label,
      labels, target, targets or class holds the labels; 3-D arrays are one-channel images,
      and 8-bit images are divided by 255.

    Parameters
    ----------
    name_or_path : str or path-like
        A built-in name or a path.
    n_samples : int or None, default=None
        Training set size of a toy set; for any other data, keep at most the first
        `n_samples` training samples. None keeps them all.
    test_size : float, default=0.2
        Fraction held out for testing when a path (or a one-part MNIST folder) is split.
    random_state : int, default=0
        Seed of the toy draws and of the shuffle before a split.
    levels : "auto", "continuous" or int, default="auto"
        The support of the values (see `Dataset.support`). "auto": built-in sets declare
        theirs (digits 17 levels, MNIST 256, binary sets 2, toy sets continuous) and users'
        files are inferred: 8-bit images are 256 levels, non-negative whole numbers are
        levels 0..max, values in [0, 1] on a grid of 1/m are m + 1 levels, anything else is
        continuous. "continuous" treats the values as real numbers; an int L declares L
        levels (values in [0, 1] as k / (L - 1), larger values as k itself).

    Returns
    -------
    Dataset
    """
    n_samples = _check_positive_int(n_samples, "n_samples", allow_none=True)
    _check_split_args(test_size, random_state)
    return _with_levels(_load(name_or_path, n_samples, test_size, random_state), levels)


def _load(name_or_path, n_samples: int | None, test_size: float, random_state: int) -> Dataset:
    if isinstance(name_or_path, str) and name_or_path in TOY_DATASETS:
        return _load_toy(name_or_path, n_samples, random_state)
    if name_or_path == "digits":
        return _load_digits(n_samples)
    if name_or_path in ("digits_counts", "digits_binary"):
        return _load_digit_values(name_or_path, n_samples)
    if name_or_path in _SEQUENCE_SETS:
        return _load_sequences(name_or_path, n_samples, random_state)
    if name_or_path in _TABLE_SETS:
        return _load_table(name_or_path, n_samples, random_state)
    if name_or_path == "bars":
        return _load_bars(n_samples, random_state)
    if name_or_path == "bars_binary":
        return _load_binary_bars(n_samples, random_state)
    if name_or_path == "treebank":
        return _load_treebank(n_samples, random_state)
    if name_or_path == "digits_negatives":
        from genzoo.data.pairs import load_digits_negatives

        return load_digits_negatives(n_samples)
    if name_or_path == "blobs_rotated":
        from genzoo.data.pairs import load_blobs_rotated

        return load_blobs_rotated(n_samples, random_state=random_state)
    if name_or_path == "mnist":
        data = _load_mnist_folder(_mnist_folder(), "mnist", test_size, random_state)
    else:
        path = Path(name_or_path)
        if not path.exists():
            raise DatasetNotFound(
                f"{str(name_or_path)!r} is neither a built-in data set "
                f"({', '.join(list_datasets())}) nor an existing file or folder"
            )
        data = _load_path(path, test_size, random_state)
    if n_samples is None:
        return data
    y_train = None if data.y_train is None else data.y_train[:n_samples]
    return replace(data, X_train=data.X_train[:n_samples], y_train=y_train)
