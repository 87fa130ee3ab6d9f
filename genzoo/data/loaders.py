"""Readers for users' own data files: NumPy, CSV, image folders and MNIST's IDX format.

Every reader returns NumPy arrays and raises `ValueError` naming the file (and, where it helps,
the line, column or entry) when the content is not what it should be. Nothing is ever
unpickled: NumPy files are opened with ``allow_pickle=False``. Loaders read; the checks that
make an array fit for a model (finite values, enough samples) are `genzoo.data.load`'s job.
"""

from __future__ import annotations

import csv
import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

__all__ = [
    "DatasetNotFound",
    "load_csv",
    "load_idx",
    "load_image_folder",
    "load_mnist",
    "load_npy",
    "load_npz",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
_NPZ_X_KEYS = ("X", "x", "data")
_NPZ_Y_KEYS = ("y", "labels", "targets")
# IDX type codes (http://yann.lecun.com/exdb/mnist/): all multi-byte types are big-endian.
_IDX_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"
_HIGH_DEPTH_GRAY = ("I", "I;16", "I;16B", "I;16L", "I;16N")
_MNIST_PREFIXES = {"train": ("train",), "test": ("t10k",), "all": ("train", "t10k")}


class DatasetNotFound(ValueError, FileNotFoundError):
    """A data set name or path that cannot be found.

    Both a `ValueError` (bad input, as for every genzoo argument) and a `FileNotFoundError`.
    """


# --- NumPy files


def load_npy(path: str | os.PathLike) -> np.ndarray:
    """Read one array from a ``.npy`` file, refusing pickled (object) arrays.

    Parameters
    ----------
    path : str or path-like
        The ``.npy`` file.

    Returns
    -------
    X : ndarray
        The stored array, with its stored dtype and shape.
    """
    path = Path(path)
    try:
        X = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DatasetNotFound(f"no such file: {path}") from None
    except (ValueError, OSError) as error:
        raise ValueError(f"{path}: cannot read as a .npy array ({error})") from None
    if not isinstance(X, np.ndarray):
        X.close()
        raise ValueError(f"{path}: is an .npz archive, not a .npy array; use load_npz")
    return X


def load_npz(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray | None]:
    """Read features and optional labels from a ``.npz`` archive, refusing pickled arrays.

    X is the entry "X", else "x", else "data", else the first entry that is not a label; y is
    the entry "y", "labels" or "targets" (the first present), or None.

    Parameters
    ----------
    path : str or path-like
        The ``.npz`` file.

    Returns
    -------
    X : ndarray
        The feature array, with its stored dtype and shape.
    y : ndarray of shape (n_samples,) or None
        The labels, with their stored dtype.
    """
    path = Path(path)
    try:
        archive = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DatasetNotFound(f"no such file: {path}") from None
    except (ValueError, OSError) as error:
        raise ValueError(f"{path}: cannot read as an .npz archive ({error})") from None
    if isinstance(archive, np.ndarray):
        raise ValueError(f"{path}: is a .npy array, not an .npz archive; use load_npy")
    with archive:
        keys = list(archive.files)
        y_key = next((k for k in _NPZ_Y_KEYS if k in keys), None)
        x_key = next((k for k in _NPZ_X_KEYS if k in keys), None)
        if x_key is None:
            x_key = next((k for k in keys if k not in _NPZ_Y_KEYS), None)
        if x_key is None:
            raise ValueError(f"{path}: no feature array found (entries: {keys})")
        try:
            X = archive[x_key]
            y = None if y_key is None else archive[y_key]
        except ValueError as error:
            raise ValueError(f"{path}: cannot read entry ({error})") from None
    if y is not None and (y.ndim != 1 or len(y) != len(X)):
        raise ValueError(
            f"{path}: labels {y_key!r} of shape {y.shape} do not match the {len(X)} samples "
            f"of {x_key!r}; expected shape ({len(X)},)"
        )
    return X, y


# --- CSV


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _read_rows(path: Path, delimiter: str) -> list[tuple[int, list[str]]]:
    """Return (line number, stripped cells) for each non-blank row."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as file:
            reader = csv.reader(file, delimiter=delimiter)
            rows = [(reader.line_num, [c.strip() for c in row]) for row in reader]
    except FileNotFoundError:
        raise DatasetNotFound(f"no such file: {path}") from None
    except (UnicodeDecodeError, csv.Error) as error:
        raise ValueError(f"{path}: not a readable CSV text file ({error})") from None
    return [(line, cells) for line, cells in rows if any(cells)]


def _label_index(label_column: str | int, header: list[str] | None, n_cols: int, path: Path):
    if isinstance(label_column, str):
        if header is None:
            raise ValueError(
                f"{path}: label_column={label_column!r} names a column, but the file has no "
                "header row; pass the column's index instead"
            )
        if label_column not in header:
            raise ValueError(f"{path}: label_column={label_column!r} not in header {header}")
        return header.index(label_column)
    if isinstance(label_column, bool) or not isinstance(label_column, int):
        raise ValueError(f"label_column must be a str, an int or None, got {label_column!r}")
    if not -n_cols <= label_column < n_cols:
        raise ValueError(f"{path}: label_column={label_column} out of range for {n_cols} columns")
    return label_column % n_cols


def _parse_features(rows, columns, names, path: Path) -> np.ndarray:
    cells = [[row[j] for j in columns] for _, row in rows]
    try:
        return np.array(cells, dtype=np.float64).reshape(len(rows), len(columns))
    except ValueError:
        pass
    # The fast path failed: find the first bad cell to name it.
    for line, row in rows:
        for j in columns:
            if not _is_number(row[j]):
                name = f" ({names[j]!r})" if names is not None else ""
                raise ValueError(
                    f"{path}: line {line}, column {j + 1}{name}: {row[j]!r} is not a number"
                ) from None
    raise AssertionError("unreachable: numpy rejected a cell that float() accepts")


def _parse_labels(values: list[str]) -> np.ndarray:
    """Return integer labels as int64 and any others as strings."""
    try:
        numbers = np.array(values, dtype=np.float64)
    except ValueError:
        return np.array(values, dtype=str)
    if np.all(np.isfinite(numbers)) and np.all(numbers == np.round(numbers)):
        return numbers.astype(np.int64)
    return np.array(values, dtype=str)


def load_csv(
    path: str | os.PathLike,
    *,
    label_column: str | int | None = None,
    header: bool | str = "auto",
    delimiter: str = ",",
) -> tuple[np.ndarray, np.ndarray | None]:
    """Read a numeric table from a CSV file, with an optional label column.

    Parameters
    ----------
    path : str or path-like
        The CSV file (UTF-8, optionally with a byte-order mark). Blank lines are skipped.
    label_column : str, int or None, default=None
        The column holding class labels, by header name or 0-based index (negative counts
        from the end). None reads every column as a feature.
    header : bool or "auto", default="auto"
        Whether the first row is a header; "auto" takes it as one when any of its cells is
        not a number.
    delimiter : str, default=","
        The cell separator.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float64
        The feature columns. Cells such as "nan" or "inf" parse as floats.
    y : ndarray of shape (n_samples,) or None
        The labels: int64 when every label is an integer, else strings.
    """
    path = Path(path)
    if header not in (True, False, "auto"):
        raise ValueError(f"header must be True, False or 'auto', got {header!r}")
    rows = _read_rows(path, delimiter)
    if not rows:
        raise ValueError(f"{path}: the file holds no rows")
    first = rows[0][1]
    if header == "auto":
        header = not all(_is_number(cell) for cell in first)
    names = first if header else None
    rows = rows[1:] if header else rows
    if not rows:
        raise ValueError(f"{path}: the file holds a header but no data rows")
    n_cols = len(first)
    for line, row in rows:
        if len(row) != n_cols:
            raise ValueError(f"{path}: line {line} has {len(row)} cells, expected {n_cols}")
    label = None if label_column is None else _label_index(label_column, names, n_cols, path)
    columns = [j for j in range(n_cols) if j != label]
    if not columns:
        raise ValueError(f"{path}: no feature columns besides the label column")
    X = _parse_features(rows, columns, names, path)
    y = None if label is None else _parse_labels([row[label] for _, row in rows])
    return X, y


# --- image folders


def _list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _find_images(root: Path) -> tuple[list[Path], list[int] | None, list[str]]:
    """Return image files, their class indices (None without subfolders) and class names."""
    if not root.is_dir():
        raise DatasetNotFound(f"no such folder: {root}")
    top = _list_images(root)
    subfolders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    by_class = [(d.name, _list_images(d)) for d in subfolders]
    by_class = [(name, files) for name, files in by_class if files]
    if top and by_class:
        raise ValueError(
            f"{root}: holds both images and class subfolders with images; put every image "
            "in a class subfolder, or none"
        )
    if by_class:
        files = [f for _, fs in by_class for f in fs]
        labels = [k for k, (_, fs) in enumerate(by_class) for _ in fs]
        return files, labels, [name for name, _ in by_class]
    if not top:
        raise ValueError(f"{root}: no image files ({', '.join(IMAGE_SUFFIXES)}) found")
    return top, None, []


def _is_gray(image) -> bool:
    if image.mode == "P":
        # A palette image is gray when every palette colour it uses has R == G == B.
        rgb = np.asarray(image.convert("RGB"))
        return bool(np.all(rgb[..., 0] == rgb[..., 1]) and np.all(rgb[..., 1] == rgb[..., 2]))
    return image.getbands() in (("L",), ("1",), ("I",), ("F",), ("L", "A"), ("I", "A"))


def _read_image(file: Path, grayscale: bool | None, size: tuple[int, int] | None) -> np.ndarray:
    """Return one image as (c, h, w) float64 in [0, 1]; alpha is dropped."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(file) as image:
            gray = _is_gray(image) if grayscale is None else grayscale
            if image.mode in _HIGH_DEPTH_GRAY:
                # Pillow's convert("L") clips 16-bit values instead of rescaling, so scale here.
                image, scale = image.convert("I"), 65535.0
            else:
                image, scale = image.convert("L" if gray else "RGB"), 255.0
            if size is not None and image.size != (size[1], size[0]):
                image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)
            pixels = np.asarray(image, dtype=np.float64)
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise ValueError(f"{file}: not a readable image ({error})") from None
    pixels = np.clip(pixels / scale, 0.0, 1.0)
    if pixels.ndim == 3:
        return pixels.transpose(2, 0, 1)  # (3, h, w)
    return pixels[None] if gray else np.repeat(pixels[None], 3, axis=0)  # (c, h, w)


def _check_size(size) -> tuple[int, int] | None:
    if size is None:
        return None
    if (
        not isinstance(size, tuple | list)
        or len(size) != 2
        or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in size)
    ):
        raise ValueError(
            f"size must be None or a (height, width) pair of positive ints, got {size!r}"
        )
    return int(size[0]), int(size[1])


def load_image_folder(
    path: str | os.PathLike,
    *,
    size: tuple[int, int] | None = None,
    grayscale: bool | None = None,
) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """Read a folder of PNG, JPEG, BMP or GIF images, one class per subfolder if it has any.

    Files are read in sorted name order (classes by sorted subfolder name, then files). Hidden
    subfolders and subfolders without images are ignored; the first frame of an animated GIF
    is used; an alpha channel is dropped.

    Parameters
    ----------
    path : str or path-like
        The folder.
    size : (height, width) or None, default=None
        Resize every image to this size (bilinear). None requires all images to share one size.
    grayscale : bool or None, default=None
        Return one channel (luma) if True, three (RGB) if False. None picks one channel when
        every image is single-channel (a palette of grays counts as one channel).

    Returns
    -------
    X : ndarray of shape (n_samples, c, h, w), float64
        Pixel intensities in [0, 1]; c is 1 or 3.
    y : ndarray of shape (n_samples,) or None
        Class index of each image (int64) when the folder has class subfolders, else None.
    classes : list of str
        The class names, so that ``classes[y[i]]`` is image i's subfolder; empty without them.
    """
    root = Path(path)
    size = _check_size(size)
    if grayscale not in (None, True, False):
        raise ValueError(f"grayscale must be None, True or False, got {grayscale!r}")
    files, labels, classes = _find_images(root)
    arrays = [_read_image(file, grayscale, size) for file in files]
    if grayscale is None and any(a.shape[0] == 3 for a in arrays):
        # One colour image makes the whole set RGB; gray images get three equal channels.
        arrays = [np.repeat(a, 3, axis=0) if a.shape[0] == 1 else a for a in arrays]
    shapes = {a.shape[1:] for a in arrays}
    if len(shapes) > 1:
        first = arrays[0].shape[1:]
        odd = next(i for i, a in enumerate(arrays) if a.shape[1:] != first)
        raise ValueError(
            f"{root}: images differ in size ({files[0].name} is {first[0]}x{first[1]}, "
            f"{files[odd].name} is {arrays[odd].shape[1]}x{arrays[odd].shape[2]}); "
            "pass size=(height, width) to resize them"
        )
    X = np.stack(arrays)
    y = None if labels is None else np.asarray(labels, dtype=np.int64)
    return X, y, classes


# --- IDX (MNIST)


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DatasetNotFound(f"no such file: {path}") from None
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except EOFError:
        raise ValueError(f"{path}: truncated gzip stream") from None
    except (OSError, zlib.error) as error:
        raise ValueError(f"{path}: corrupt gzip stream ({error})") from None


def load_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an array in the IDX format of MNIST, gzipped or not.

    Gzip is detected by the content's magic bytes, not the file name. The header is two zero
    bytes, a type code (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32,
    0x0E float64), the number of dimensions, then each dimension as a big-endian uint32.

    Parameters
    ----------
    path : str or path-like
        The IDX file, e.g. ``t10k-images-idx3-ubyte.gz``.

    Returns
    -------
    X : ndarray
        The array in native byte order, with the file's dtype and shape.
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise ValueError(f"{path}: truncated IDX file ({len(raw)} bytes, no full header)")
    if raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES or raw[3] == 0:
        raise ValueError(
            f"{path}: bad IDX magic number 0x{raw[:4].hex()} (expected 0x0000TTNN with a "
            "type code TT in 08, 09, 0b, 0c, 0d, 0e and NN >= 1 dimensions)"
        )
    dtype, ndim = _IDX_DTYPES[raw[2]], raw[3]
    offset = 4 + 4 * ndim
    if len(raw) < offset:
        raise ValueError(f"{path}: truncated IDX file (header of {ndim} dimensions cut short)")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = math.prod(shape) * dtype.itemsize
    found = len(raw) - offset
    if found < expected:
        raise ValueError(
            f"{path}: truncated IDX file (shape {shape} needs {expected} data bytes, found {found})"
        )
    if found > expected:
        raise ValueError(
            f"{path}: {found - expected} bytes after the data of shape {shape}; not an IDX file?"
        )
    data = np.frombuffer(raw, dtype=dtype, count=math.prod(shape), offset=offset)
    return data.reshape(shape).astype(dtype.newbyteorder("="))


def _find_idx(folder: Path, prefix: str, kind: str, rank: int) -> Path:
    # Both the official names and the common "train-images.idx3-ubyte" variant.
    names = [f"{prefix}-{kind}-idx{rank}-ubyte", f"{prefix}-{kind}.idx{rank}-ubyte"]
    for name in names:
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    raise DatasetNotFound(f"{folder}: no MNIST file {names[0]}[.gz]")


def _load_mnist_part(folder: Path, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    images_path = _find_idx(folder, prefix, "images", 3)
    labels_path = _find_idx(folder, prefix, "labels", 1)
    images, labels = load_idx(images_path), load_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(
            f"{images_path}: expected uint8 images of shape (n, h, w), "
            f"got {images.dtype} {images.shape}"
        )
    if labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(f"{labels_path}: expected {len(images)} labels, got shape {labels.shape}")
    return images[:, None] / 255.0, labels.astype(np.int64)


def load_mnist(folder: str | os.PathLike, *, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """Read MNIST (or a data set in its layout, such as Fashion-MNIST) from its IDX files.

    Looks in `folder` for ``{train|t10k}-images-idx3-ubyte`` and ``-labels-idx1-ubyte``, each
    optionally gzipped (``.gz``).

    Parameters
    ----------
    folder : str or path-like
        The folder holding the IDX files.
    split : {"train", "test", "all"}, default="test"
        "train" reads the ``train-*`` files, "test" the ``t10k-*`` files, "all" both (train
        first).

    Returns
    -------
    X : ndarray of shape (n_samples, 1, 28, 28), float64
        Pixel intensities in [0, 1] (bytes divided by 255).
    y : ndarray of shape (n_samples,), int64
        The labels.
    """
    if split not in _MNIST_PREFIXES:
        raise ValueError(f"split must be one of {tuple(_MNIST_PREFIXES)}, got {split!r}")
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetNotFound(f"no such folder: {folder}")
    parts = [_load_mnist_part(folder, prefix) for prefix in _MNIST_PREFIXES[split]]
    if len(parts) == 1:
        return parts[0]
    return np.concatenate([X for X, _ in parts]), np.concatenate([y for _, y in parts])
