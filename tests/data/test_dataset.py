"""`load` for every built-in name and each kind of path, and the `Dataset` container."""

import dataclasses
import gzip
import os
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits as sk_load_digits
from sklearn.model_selection import train_test_split

from genzoo.data import (
    TOY_DATASETS,
    Dataset,
    DatasetNotFound,
    list_datasets,
    load,
    load_digits,
)

TOY_NAMES = sorted(TOY_DATASETS)


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array in IDX: zero bytes, type 0x08, rank, big-endian dims, data."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    return header + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def write_fake_mnist(folder: Path, prefix: str, n: int) -> None:
    rng = np.random.default_rng(len(prefix))
    folder.mkdir(parents=True, exist_ok=True)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = np.arange(n, dtype=np.uint8) % 10
    (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images)))
    (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(idx_bytes(labels))


def assert_split_of(data: Dataset, X: np.ndarray, n_test: int) -> None:
    """Train and test are disjoint, cover X's rows, and the test part has n_test rows."""
    assert len(data.X_test) == n_test and len(data.X_train) == len(X) - n_test
    rows = np.concatenate([data.X_train, data.X_test]).reshape(len(X), -1)
    expected = X.reshape(len(X), -1)
    np.testing.assert_array_equal(rows[np.lexsort(rows.T)], expected[np.lexsort(expected.T)])


def test_list_datasets():
    others = ["digits", "digits_counts", "digits_binary", "mnist", "casino", "asia", "sprinkler"]
    assert list_datasets() == sorted(
        [
            *TOY_NAMES,
            *others,
            "animals",
            "bars",
            "bars_binary",
            "treebank",
            "blobs_rotated",
            "digits_negatives",
        ]  # fmt: skip
    )


def test_digit_counts_and_binary_pixels():
    counts = load("digits_counts")
    assert counts.kind == "counts" and counts.X_train.shape == (1437, 64)
    assert set(np.unique(counts.X_train)) <= set(range(17))
    images = load("digits")
    np.testing.assert_array_equal(counts.X_train, 16 * images.X_train.reshape(1437, 64))
    binary = load("digits_binary", n_samples=100)
    assert binary.X_train.shape == (100, 64) and set(np.unique(binary.X_train)) == {0.0, 1.0}
    np.testing.assert_array_equal(binary.y_train, counts.y_train[:100])


# --- digits

# Class sizes of scikit-learn's 8x8 digits, 0..9.
DIGIT_COUNTS = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def test_load_digits_split_sizes_and_values():
    X_all, y_all = load_digits("all")
    assert X_all.shape == (1797, 1, 8, 8) and X_all.dtype == np.float64
    assert y_all.dtype == np.int64 and np.bincount(y_all).tolist() == DIGIT_COUNTS
    assert X_all.min() == 0.0 and X_all.max() == 1.0
    # sklearn's pixels are integers 0..16, so every value is a multiple of 1/16.
    np.testing.assert_array_equal(X_all * 16, np.round(X_all * 16))
    X_train, y_train = load_digits("train")
    X_test, y_test = load_digits("test")
    assert X_train.shape == (1437, 1, 8, 8) and X_test.shape == (360, 1, 8, 8)
    assert_split_of(Dataset("d", "images", X_train, X_test), X_all, n_test=360)


def test_load_digits_is_stratified_and_fixed():
    _, y_test = load_digits("test")
    # Stratified: each class holds 20% of its images in the test set, up to rounding.
    assert np.all(np.abs(np.bincount(y_test) - 0.2 * np.array(DIGIT_COUNTS)) <= 1)
    # The documented recipe, recomputed here.
    bunch = sk_load_digits()
    _, images, _, labels = train_test_split(
        bunch.images, bunch.target, test_size=0.2, random_state=0, stratify=bunch.target
    )
    X_test, y_test = load_digits("test", flatten=True)
    np.testing.assert_array_equal(X_test, images.reshape(-1, 64) / 16.0)
    np.testing.assert_array_equal(y_test, labels)


def test_load_digits_returns_copies_and_checks_split():
    X, _ = load_digits("train")
    X[:] = -1.0
    assert load_digits("train")[0].min() == 0.0
    with pytest.raises(ValueError, match="split"):
        load_digits("validation")


# --- built-in names


@pytest.mark.parametrize("name", TOY_NAMES)
def test_toy_defaults(name):
    data = load(name)
    assert (data.name, data.kind) == (name, "vectors")
    assert data.X_train.shape == (2000, 2) and data.X_test.shape == (500, 2)
    assert data.y_train is None and data.y_test is None and data.classes is None


@pytest.mark.parametrize("name", TOY_NAMES)
def test_toy_seeds(name):
    make = TOY_DATASETS[name]
    data = load(name, n_samples=40, random_state=3)
    # Train from the seed, test an independent draw from seed + 1.
    np.testing.assert_array_equal(data.X_train, make(40, random_state=3))
    np.testing.assert_array_equal(data.X_test, make(10, random_state=4))
    assert load(name, n_samples=1).X_test.shape == (1, 2)


def test_digits():
    data = load("digits")
    assert data.kind == "images"
    assert data.X_train.shape == (1437, 1, 8, 8) and data.X_test.shape == (360, 1, 8, 8)
    assert data.classes == tuple("0123456789")
    X_test, y_test = load_digits("test")
    np.testing.assert_array_equal(data.X_test, X_test)
    np.testing.assert_array_equal(data.y_test, y_test)
    small = load("digits", n_samples=100)
    np.testing.assert_array_equal(small.X_train, data.X_train[:100])
    np.testing.assert_array_equal(small.y_train, data.y_train[:100])
    assert len(load("digits", n_samples=5000).X_train) == 1437


def test_mnist_from_env_with_test_part_only(tmp_path, monkeypatch):
    write_fake_mnist(tmp_path, "t10k", 50)
    monkeypatch.setenv("GENZOO_MNIST_DIR", str(tmp_path))
    data = load("mnist", test_size=0.2)
    assert (data.name, data.kind) == ("mnist", "images")
    assert data.X_train.shape == (40, 1, 28, 28) and data.X_test.shape == (10, 1, 28, 28)
    assert data.classes == tuple("0123456789")
    assert len(load("mnist", n_samples=7).X_train) == 7


def test_mnist_official_split_when_both_parts_exist(tmp_path, monkeypatch):
    write_fake_mnist(tmp_path, "t10k", 6)
    write_fake_mnist(tmp_path, "train", 9)
    monkeypatch.setenv("GENZOO_MNIST_DIR", str(tmp_path))
    data = load("mnist")
    assert len(data.X_train) == 9 and len(data.X_test) == 6
    np.testing.assert_array_equal(data.y_test, np.arange(6))


def test_mnist_absent(tmp_path, monkeypatch):
    monkeypatch.setenv("GENZOO_MNIST_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(DatasetNotFound, match="GENZOO_MNIST_DIR"):
        load("mnist")
    monkeypatch.setenv("GENZOO_MNIST_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="no MNIST IDX files"):
        load("mnist")


def test_real_mnist(monkeypatch):
    folder = Path(os.environ.get("GENZOO_MNIST_DIR") or "")
    if not folder.name:
        folder = Path(__file__).resolve().parents[3] / "shared" / "data" / "mnist"
    if not (folder / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"MNIST test set not found in {folder}")
    monkeypatch.setenv("GENZOO_MNIST_DIR", str(folder))
    data = load("mnist")
    n = len(data.X_train) + len(data.X_test)
    assert n in (10000, 70000)
    assert data.X_train.shape[1:] == (1, 28, 28)
    assert set(np.unique(data.y_test)) == set(range(10))


def test_unknown_name_lists_builtins():
    with pytest.raises(DatasetNotFound, match="'mooons' is neither.*moons.*swiss_roll"):
        load("mooons")


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"n_samples": 0}, "n_samples"),
        ({"n_samples": 2.0}, "n_samples"),
        ({"test_size": 1.0}, "test_size"),
        ({"test_size": 0}, "test_size"),
        ({"random_state": -1}, "random_state"),
        ({"random_state": None}, "random_state"),
    ],
)
def test_bad_arguments(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        load("moons", **kwargs)


# --- paths


def test_npy_vectors_split(tmp_path):
    X = np.random.default_rng(0).normal(size=(11, 3))
    np.save(tmp_path / "points.npy", X)
    data = load(tmp_path / "points.npy", test_size=0.25, random_state=5)
    assert (data.name, data.kind) == ("points", "vectors")
    assert_split_of(data, X, n_test=3)  # ceil(0.25 * 11)
    again = load(str(tmp_path / "points.npy"), test_size=0.25, random_state=5)
    np.testing.assert_array_equal(again.X_test, data.X_test)
    other = load(tmp_path / "points.npy", test_size=0.25, random_state=6)
    assert not np.array_equal(other.X_test, data.X_test)
    assert len(load(tmp_path / "points.npy", n_samples=2).X_train) == 2


def test_npy_one_dimensional_is_one_feature(tmp_path):
    np.save(tmp_path / "v.npy", np.arange(10))
    data = load(tmp_path / "v.npy")
    assert data.X_train.shape == (8, 1) and data.X_train.dtype == np.float64


def test_npy_uint8_images_are_scaled(tmp_path):
    X = np.random.default_rng(0).integers(0, 256, size=(10, 5, 6), dtype=np.uint8)
    np.save(tmp_path / "imgs.npy", X)
    data = load(tmp_path / "imgs.npy")
    assert data.kind == "images" and data.image_shape == (1, 5, 6)
    assert_split_of(data, X[:, None] / 255.0, n_test=2)


def test_npz_string_labels_become_classes(tmp_path):
    X = np.arange(20, dtype=float).reshape(10, 2)
    y = np.array(["dog", "cat"] * 5)
    np.savez(tmp_path / "pets.npz", X=X, y=y)
    data = load(tmp_path / "pets.npz")
    assert data.classes == ("cat", "dog")
    assert data.y_train.dtype == np.int64
    # The label travels with its row: row i of X is (2i, 2i+1) and has label "dog" iff i even.
    for X_part, y_part in [(data.X_train, data.y_train), (data.X_test, data.y_test)]:
        row = (X_part[:, 0] / 2).astype(int)
        np.testing.assert_array_equal(y_part, np.where(row % 2 == 0, 1, 0))


def test_npz_non_integer_labels_rejected(tmp_path):
    np.savez(tmp_path / "f.npz", X=np.zeros((4, 2)), y=np.array([0.5, 1, 2, 3]))
    with pytest.raises(ValueError, match="f.npz: labels must be integers or strings"):
        load(tmp_path / "f.npz")


def test_csv_with_label_header(tmp_path):
    lines = ["a,b,label"] + [f"{i},{-i},{i % 3}" for i in range(10)]
    (tmp_path / "t.csv").write_text("\n".join(lines))
    data = load(tmp_path / "t.csv")
    assert data.X_train.shape == (8, 2) and data.classes is None
    np.testing.assert_array_equal(data.y_train, data.X_train[:, 0].astype(int) % 3)


def test_image_folder_with_classes(tmp_path):
    for k, name in enumerate(["b", "a"]):
        (tmp_path / name).mkdir()
        for i in range(5):
            Image.fromarray(np.full((3, 4), 50 * k + i, np.uint8)).save(
                tmp_path / name / f"{i}.png"
            )
    data = load(tmp_path, test_size=0.3)
    assert (data.name, data.kind, data.classes) == (tmp_path.name, "images", ("a", "b"))
    assert data.X_train.shape == (7, 1, 3, 4) and data.X_test.shape == (3, 1, 3, 4)
    # Class "a" (index 0) holds the brighter images.
    X = np.concatenate([data.X_train, data.X_test])[:, 0, 0, 0] * 255
    y = np.concatenate([data.y_train, data.y_test])
    np.testing.assert_array_equal(y, np.where(X >= 50, 0, 1))


def test_mnist_folder_and_single_idx_files(tmp_path):
    write_fake_mnist(tmp_path / "fashion", "t10k", 20)
    data = load(tmp_path / "fashion")
    assert data.name == "fashion" and data.X_train.shape == (16, 1, 28, 28)
    assert data.y_train is not None
    data = load(tmp_path / "fashion" / "t10k-images-idx3-ubyte.gz")
    assert (data.name, data.kind) == ("t10k-images-idx3-ubyte", "images")
    assert data.y_train is None and data.X_train.max() <= 1.0
    array = np.arange(30, dtype=np.uint8).reshape(10, 3)
    (tmp_path / "raw.idx").write_bytes(idx_bytes(array))
    data = load(tmp_path / "raw.idx", test_size=0.5)
    assert data.kind == "vectors"
    assert_split_of(data, array.astype(float), n_test=5)


def test_non_finite_values_name_the_file(tmp_path):
    X = np.zeros((5, 2))
    X[3, 1] = np.nan
    np.save(tmp_path / "nan.npy", X)
    with pytest.raises(ValueError, match=r"nan\.npy: 1 samples contain NaN or inf.*sample 3"):
        load(tmp_path / "nan.npy")
    (tmp_path / "inf.csv").write_text("1,2\n3,inf\n")
    with pytest.raises(ValueError, match=r"inf\.csv: .*NaN or infinite"):
        load(tmp_path / "inf.csv")


def test_bad_paths(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match="unsupported file type '.txt'"):
        load(tmp_path / "notes.txt")
    np.save(tmp_path / "one.npy", np.zeros((1, 2)))
    with pytest.raises(ValueError, match="1 samples cannot be split with test_size"):
        load(tmp_path / "one.npy")
    np.save(tmp_path / "text.npy", np.array(["a", "b", "c"]))
    with pytest.raises(ValueError, match="text.npy: data of dtype <U1 is not numeric"):
        load(tmp_path / "text.npy")
    with pytest.raises(DatasetNotFound, match="missing.npy' is neither") as info:
        load(tmp_path / "missing.npy")
    assert isinstance(info.value, ValueError) and isinstance(info.value, FileNotFoundError)


# --- the container


def test_as_vectors_and_helpers():
    data = load("digits", n_samples=10)
    assert data.n_features == 64 and data.image_shape == (1, 8, 8)
    flat = data.as_vectors()
    assert flat.kind == "vectors" and flat.image_shape is None
    assert flat.X_train.shape == (10, 64) and flat.X_test.shape == (360, 64)
    np.testing.assert_array_equal(flat.X_train[3], data.X_train[3].ravel())
    assert flat.y_train is data.y_train and flat.classes == data.classes
    assert flat.as_vectors() is flat
    assert "X_train=(10, 64)" in repr(flat)


def test_dataset_is_frozen_and_checked():
    data = load("moons", n_samples=10)
    with pytest.raises(dataclasses.FrozenInstanceError):
        data.name = "other"
    with pytest.raises(ValueError, match="kind"):
        Dataset("x", "tables", np.zeros((2, 2)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="X_train of images must be 4-D"):
        Dataset("x", "images", np.zeros((2, 2)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="y_test"):
        Dataset("x", "vectors", np.zeros((2, 2)), np.zeros((3, 2)), None, np.zeros(2))
    with pytest.raises(ValueError, match="differ in sample shape"):
        Dataset("x", "vectors", np.zeros((2, 2)), np.zeros((3, 3)))


def test_text_folder_becomes_word_counts(tmp_path):
    texts = ["Cats chase mice.", "Dogs chase cats!", "Mice sleep.", "The cat and the dog."]
    for i, text in enumerate(texts):
        (tmp_path / f"doc{i}.txt").write_text(text)
    data = load(tmp_path, test_size=0.25, random_state=0)
    assert data.kind == "counts" and data.X_train.shape[0] == 3 and data.X_test.shape[0] == 1
    assert data.vocabulary == ("cat", "cats", "chase", "dog", "dogs", "mice", "sleep")
    total = data.X_train.sum() + data.X_test.sum()
    assert total == 10  # "the" and "and" are stop words
    assert data.as_vectors().kind == "vectors"


def test_bars_and_treebank_built_ins():
    bars = load("bars", n_samples=40, random_state=0)
    assert bars.kind == "counts" and bars.X_train.shape == (40, 25) and len(bars.X_test) == 10
    assert (bars.X_train.sum(1) == 100).all() and bars.image_shape == (1, 5, 5)
    treebank = load("treebank", n_samples=20, random_state=0)
    assert treebank.kind == "sentences" and len(treebank.X_train) == 20
    assert len(treebank.trees_test) == len(treebank.X_test) == 5
    for sentence, tree in zip(treebank.X_train, treebank.trees_train, strict=True):
        leaves = [part.strip(")") for part in tree.split() if not part.startswith("(")]
        assert sentence == leaves and sentence
    with pytest.raises(ValueError, match="sentences"):
        dataclasses.replace(treebank, X_train=[["ok"], "not a list"])
