"""Pictures of generated samples: a scatter over the data, or a grid of images.

Figures are drawn on a `matplotlib.figure.Figure` with the Agg canvas, never through pyplot, so
plotting neither opens windows nor changes the global backend or pyplot's list of figures.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from genzoo.data.kinds import get_kind

__all__ = [
    "FIGURE_PIXELS",
    "MAX_GRID_IMAGES",
    "save_history_png",
    "save_pairs_png",
    "save_samples_png",
]

FIGURE_PIXELS = 600  # width and height of every saved PNG
MAX_GRID_IMAGES = 64
_DPI = 100
_MAX_POINTS = 5000  # points of each cloud drawn in a scatter
_PAIR_COLUMNS = 8  # pairs of images per row pair of a translation's grid
_PATH_POINTS = 500  # points per panel of a denoising path
_MAX_PAIR_LINES = 300  # segments joining inputs to translations in a scatter
_SENTENCES_SHOWN = 16
_SENTENCE_CHARS = 70  # a longer sentence is cut with an ellipsis so it fits the figure


def save_samples_png(
    samples,
    path: str | os.PathLike,
    *,
    kind: str,
    image_shape: tuple[int, ...] | None = None,
    reference=None,
    title: str | None = None,
) -> Path:
    """Save a picture of `samples` as a FIGURE_PIXELS-square PNG at `path`; return the path.

    - Images (``kind="images"``, or vectors with `image_shape` given): a square-ish grid of
      the first MAX_GRID_IMAGES images, pixel values clipped to [0, 1], in grey when they
      have one channel.
    - Vectors with 2 features: a scatter of the samples over `reference` (the data, in grey,
      behind).
    - Vectors with 1 feature: histograms of the samples and of `reference`.
    - Vectors with more features: a scatter of both clouds projected on the first 2
      principal directions of `reference` (of the samples when there is no reference).
      Counts are drawn as vectors.
    - Sequences, (n_sequences, length, n_features): the first few sequences' first feature
      against time, one line each.
    - Tables (a DataFrame): the frequency of each state of each column, in the samples and
      in `reference`, side by side.
    - Sentences (a list of token lists): the first few sentences as text.

    Parameters
    ----------
    samples : array-like of shape (n_samples, n_features) or (n_samples, [c,] h, w)
    path : str or path-like
        The PNG to write; missing folders are created.
    kind : {"vectors", "images", "counts", "sequences", "table", "sentences"}
    image_shape : tuple of int or None, default=None
        The (c, h, w) or (h, w) shape of one image, for images flattened to vectors.
    reference : array-like of shape (n_ref, n_features) or None, default=None
        Data drawn behind the samples in scatters and histograms; unused for images.
    title : str or None, default=None

    Examples
    --------
    >>> import tempfile
    >>> X = np.random.default_rng(0).normal(size=(100, 2))
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     save_samples_png(X, Path(folder, "samples.png"), kind="vectors").name
    'samples.png'
    """

    data_kind = get_kind(kind)
    if len(samples) == 0:
        raise ValueError("samples must hold at least one sample")
    fig = _figure()
    data_kind.draw_figure(fig, samples, reference, image_shape)
    return _save(fig, path, title)


def _figure():
    """A FIGURE_PIXELS-square figure on the Agg canvas (no pyplot)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    size = FIGURE_PIXELS / _DPI
    fig = Figure(figsize=(size, size), dpi=_DPI)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path, title: str | None) -> Path:
    if title:
        fig.suptitle(title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=_DPI)
    return path


def save_pairs_png(
    inputs,
    outputs,
    path: str | os.PathLike,
    *,
    image_shape: tuple[int, ...] | None = None,
    reference=None,
    title: str | None = None,
) -> Path:
    """Save a picture of a translation, each input beside its output, at `path`.

    Images (or vectors with `image_shape`): rows of inputs, each followed by the row of their
    translations, `_PAIR_COLUMNS` to a row. Vectors: the inputs and the outputs as two
    clouds, a grey segment joining each input to its output, over `reference` (the target
    domain's data) when given.

    >>> import tempfile
    >>> X = np.random.default_rng(0).normal(size=(50, 2))
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     save_pairs_png(X, X @ [[0, -1], [1, 0]], Path(folder, "pairs.png")).name
    'pairs.png'
    """

    inputs, outputs = np.asarray(inputs, dtype=np.float64), np.asarray(outputs, dtype=np.float64)
    if len(inputs) == 0 or inputs.shape != outputs.shape:
        raise ValueError(
            f"inputs and outputs must be non-empty and of one shape; got {inputs.shape} and "
            f"{outputs.shape}"
        )
    fig = _figure()
    if image_shape is not None or inputs.ndim > 2:
        n = min(len(inputs), MAX_GRID_IMAGES // 2)
        shown = as_images(inputs[:n], image_shape), as_images(outputs[:n], image_shape)
        rows = [
            part[start : start + _PAIR_COLUMNS]
            for start in range(0, n, _PAIR_COLUMNS)
            for part in shown
        ]
        # A short last row is padded with grey, so every input keeps its place above its output.
        blank = np.full((_PAIR_COLUMNS, *shown[0].shape[1:]), 0.5)
        grid = np.concatenate([np.concatenate([r, blank[len(r) :]]) for r in rows])
        draw_image_grid(fig, grid, cols=_PAIR_COLUMNS)
    else:
        draw_pairs(fig.add_subplot(), inputs.reshape(len(inputs), -1),
                   outputs.reshape(len(outputs), -1), reference)  # fmt: skip
    return _save(fig, path, title)


def save_path_png(
    frames,
    path: str | os.PathLike,
    *,
    image_shape: tuple[int, ...] | None = None,
    reference=None,
    title: str | None = None,
) -> Path:
    """Save samples followed from noise to data, `frames` of shape (n_frames, n, ...).

    Images: one row per sample, the frames left to right. Vectors: a panel per frame of
    the whole cloud over `reference`, in two rows past four frames, all on the final
    frame's square scale so the cloud is seen contracting onto the data.

    Examples
    --------
    >>> import tempfile
    >>> frames = np.random.default_rng(0).normal(size=(4, 50, 2))
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     save_path_png(frames, Path(folder, "path.png")).name
    'path.png'
    """
    frames = np.asarray(frames, dtype=np.float64)
    if frames.ndim < 3 or len(frames) < 2:
        raise ValueError(f"frames must have shape (n_frames >= 2, n, ...); got {frames.shape}")
    n_frames, n = frames.shape[:2]
    fig = _figure()
    if image_shape is not None or frames.ndim > 3:
        rows = min(n, max(1, MAX_GRID_IMAGES // n_frames))
        ordered = frames[:, :rows].swapaxes(0, 1).reshape(rows * n_frames, *frames.shape[2:])
        draw_image_grid(fig, as_images(ordered, image_shape), cols=n_frames)
    else:
        final = frames[-1].reshape(n, -1)
        low, high = np.percentile(final, 1, axis=0), np.percentile(final, 99, axis=0)
        centre, half = (low + high) / 2, 0.75 * (high - low).max()
        cols = math.ceil(n_frames / 2) if n_frames > 4 else n_frames
        fig.subplots_adjust(left=0.02, right=0.98, wspace=0.06)
        for i, frame in enumerate(frames):
            ax = fig.add_subplot(math.ceil(n_frames / cols), cols, i + 1)
            # small panels: fewer, smaller points, or the cloud hides its own shape
            points = frame[:_PATH_POINTS]
            draw_vectors(ax, points.reshape(len(points), -1), reference, size=1)
            if final.shape[1] == 2:
                ax.set_aspect("equal", adjustable="box")
                ax.set_xlim(centre[0] - half, centre[0] + half)
                ax.set_ylim(centre[1] - half, centre[1] + half)
            ax.set_title(f"frame {i + 1} of {n_frames}", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel("")
            ax.set_ylabel("")
            if ax.get_legend() is not None:
                ax.get_legend().remove()
    return _save(fig, path, title)


def save_history_png(history: dict, path: str | os.PathLike, *, title: str | None = None) -> Path:
    """Save each figure of a training `history_` (a "step" list and lists of the figures
    measured at those steps) against the step, one panel per figure, at `path`.

    >>> import tempfile
    >>> history = {"step": [100, 200], "precision": [0.2, 0.6], "recall": [0.1, 0.5]}
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     save_history_png(history, Path(folder, "history.png")).name
    'history.png'
    """
    steps = np.asarray(history.get("step", ()), dtype=np.float64)
    names = [name for name in history if name != "step"]
    if not len(steps) or not names:
        raise ValueError("history must hold a 'step' list and at least one figure")
    for name in names:
        if len(history[name]) != len(steps):
            raise ValueError(f"history[{name!r}] has {len(history[name])} values, not {len(steps)}")
    fig = _figure()
    cols = math.ceil(math.sqrt(len(names)))
    rows = math.ceil(len(names) / cols)
    for i, name in enumerate(names):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.plot(steps, np.asarray(history[name], dtype=np.float64), marker="o", markersize=3)
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=7)
        if i >= len(names) - cols:
            ax.set_xlabel("step", fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return _save(fig, path, title)


# --- sequences, tables and sentences


def draw_sentences(fig, sentences) -> None:
    """The first sentences as lines of text, cut to fit the figure's width."""
    lines = []
    for tokens in list(sentences)[:_SENTENCES_SHOWN]:
        text = " ".join(map(str, tokens))
        if len(text) > _SENTENCE_CHARS:
            text = text[: _SENTENCE_CHARS - 1] + "…"
        lines.append(text)
    for i, line in enumerate(lines):
        fig.text(0.03, 0.9 - i * 0.8 / _SENTENCES_SHOWN, line, fontsize=8, family="monospace")


def draw_sequences(ax, samples: np.ndarray, n_shown: int = 5) -> None:
    """The first feature of the first `n_shown` sequences against time, offset apart."""
    values = samples[:n_shown, :, 0]
    spread = max(float(np.ptp(values)), 1.0) * 1.2
    for i, row in enumerate(values):
        ax.step(np.arange(len(row)), row + i * spread, where="mid", linewidth=0.8)
    ax.set_xlabel("step")
    ax.set_yticks([])
    ax.set_title(f"{len(values)} sampled sequences (first feature)")


def draw_table_frequencies(fig, samples, reference) -> None:
    """For each column, the share of each state in the samples and in the reference data."""
    columns = list(samples.columns)
    n_cols = min(len(columns), 9)
    side = int(np.ceil(np.sqrt(n_cols)))
    for i, column in enumerate(columns[:n_cols]):
        ax = fig.add_subplot(side, side, i + 1)
        states = sorted(
            {*map(str, samples[column])}
            | (set(map(str, reference[column])) if reference is not None else set())
        )
        shares = [np.mean(samples[column].astype(str) == s) for s in states]
        x = np.arange(len(states))
        ax.bar(x - 0.2, shares, width=0.4, label="samples")
        if reference is not None:
            ref = [np.mean(reference[column].astype(str) == s) for s in states]
            ax.bar(x + 0.2, ref, width=0.4, color="0.6", label="data")
        ax.set_xticks(x, states, fontsize=6)
        ax.set_title(str(column), fontsize=8)
        ax.tick_params(axis="y", labelsize=6)
    fig.axes[0].legend(fontsize=6)


# --- images


def as_images(samples: np.ndarray, image_shape) -> np.ndarray:
    """Samples as images (n, h, w, channels) in [0, 1], for imshow."""
    if image_shape is not None:
        shape = tuple(int(s) for s in image_shape)
        if math.prod(shape) != math.prod(samples.shape[1:]):
            raise ValueError(
                f"samples of shape {samples.shape[1:]} cannot be shown as images of shape {shape}"
            )
        samples = samples.reshape(len(samples), *shape)
    if samples.ndim == 3:
        samples = samples[:, None]  # (n, h, w) is one channel
    if samples.ndim != 4:
        raise ValueError(
            f"images must have shape (n, h, w) or (n, c, h, w), got {samples.shape}; pass "
            "image_shape for images flattened to vectors"
        )
    if samples.shape[1] not in (1, 3):
        raise ValueError(f"images must have 1 or 3 channels, got {samples.shape[1]}")
    samples = np.nan_to_num(samples[:MAX_GRID_IMAGES], nan=0.0)
    return np.clip(samples, 0.0, 1.0).transpose(0, 2, 3, 1)  # (n, h, w, c)


def draw_image_grid(fig, images: np.ndarray, cols: int | None = None) -> None:
    """One mosaic of the images with a 1-pixel grey border, drawn by a single imshow;
    `cols` images to a row (None: a square-ish grid).

    Grey, not white or black, so that neither ink nor background runs into the next image.
    """
    n, h, w, c = images.shape
    cols = math.ceil(math.sqrt(n)) if cols is None else cols
    rows = math.ceil(n / cols)
    mosaic = np.full((rows * (h + 1) + 1, cols * (w + 1) + 1, c), 0.5)
    for i, image in enumerate(images):
        top, left = 1 + (i // cols) * (h + 1), 1 + (i % cols) * (w + 1)
        mosaic[top : top + h, left : left + w] = image
    ax = fig.add_axes((0.02, 0.02, 0.96, 0.90))
    if c == 1:
        ax.imshow(mosaic[..., 0], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    else:
        ax.imshow(mosaic, interpolation="nearest")
    ax.set_axis_off()


# --- vectors


def draw_vectors(ax, samples: np.ndarray, reference: np.ndarray | None, *, size: float = 4) -> None:
    d = samples.shape[1]
    if reference is not None:
        reference = reference.reshape(len(reference), -1)
        if reference.shape[1] != d:
            raise ValueError(f"reference has {reference.shape[1]} features but samples have {d}")
    if d == 1:
        _draw_histograms(ax, samples[:, 0], None if reference is None else reference[:, 0])
        return
    labels = ("x1", "x2")
    if d > 2:
        basis = _principal_directions(samples if reference is None else reference)
        samples = samples @ basis
        reference = None if reference is None else reference @ basis
        labels = ("principal direction 1", "principal direction 2")
    if reference is not None:
        ref = _thin(reference)
        ax.scatter(ref[:, 0], ref[:, 1], s=size, c="0.7", alpha=0.5, label="data", zorder=1)
    points = _thin(samples)
    ax.scatter(points[:, 0], points[:, 1], s=size, c="tab:blue", alpha=0.7, label="samples",
               zorder=2)  # fmt: skip
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    ax.set_aspect("equal", adjustable="datalim")
    ax.legend(loc="upper right", markerscale=3)


def draw_pairs(ax, inputs: np.ndarray, outputs: np.ndarray, reference) -> None:
    """Inputs and their translations as two clouds, each pair joined by a grey segment; in
    one dimension, each translation against its input."""
    labels = ("x1", "x2")
    if inputs.shape[1] == 1:
        ax.scatter(inputs[:, 0], outputs[:, 0], s=5, c="tab:blue", alpha=0.8)
        ax.set_xlabel("input")
        ax.set_ylabel("translation")
        return
    if inputs.shape[1] != 2:
        basis = _principal_directions(np.concatenate([inputs, outputs]))
        inputs, outputs = inputs @ basis, outputs @ basis
        reference = None if reference is None else reference.reshape(len(reference), -1) @ basis
        labels = ("principal direction 1", "principal direction 2")
    if reference is not None:
        ref = _thin(np.asarray(reference, dtype=np.float64).reshape(len(reference), -1))
        ax.scatter(ref[:, 0], ref[:, 1], s=4, c="0.8", alpha=0.5, label="target data", zorder=1)
    joined = slice(0, _MAX_PAIR_LINES)
    for start, end in zip(inputs[joined], outputs[joined], strict=True):
        ax.plot(*np.stack([start, end]).T, color="0.5", linewidth=0.4, alpha=0.6, zorder=2)
    a, b = _thin(inputs), _thin(outputs)
    ax.scatter(a[:, 0], a[:, 1], s=5, c="tab:blue", alpha=0.8, label="input", zorder=3)
    ax.scatter(b[:, 0], b[:, 1], s=5, c="tab:orange", alpha=0.8, label="translation", zorder=3)
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    ax.set_aspect("equal", adjustable="datalim")
    ax.legend(loc="upper right", markerscale=3)


def _draw_histograms(ax, samples: np.ndarray, reference: np.ndarray | None) -> None:
    values = samples if reference is None else np.concatenate([samples, reference])
    finite = values[np.isfinite(values)]
    bins = np.histogram_bin_edges(finite if len(finite) else [0.0], bins=50)
    if reference is not None:
        ax.hist(reference, bins=bins, density=True, color="0.7", label="data")
    ax.hist(samples, bins=bins, density=True, histtype="step", color="tab:blue", label="samples")
    ax.set_xlabel("x1")
    ax.legend(loc="upper right")


def _principal_directions(X: np.ndarray) -> np.ndarray:
    """The first two principal directions of X as columns, (d, 2)."""
    X = X[np.isfinite(X).all(axis=1)]
    if len(X) < 2:
        return np.eye(X.shape[1])[:, :2]
    _, _, vt = np.linalg.svd(X - X.mean(axis=0), full_matrices=False)
    return vt[:2].T


def _thin(X: np.ndarray) -> np.ndarray:
    """At most _MAX_POINTS evenly spaced rows, so big clouds stay quick to draw."""
    step = max(1, math.ceil(len(X) / _MAX_POINTS))
    return X[::step]
