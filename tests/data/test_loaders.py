"""Round trips through files written by the tests, and the messages of bad files."""

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genzoo.data import (
    DatasetNotFound,
    load_csv,
    load_idx,
    load_image_folder,
    load_mnist,
    load_npy,
    load_npz,
)

# Published label counts of the MNIST test set (t10k), digits 0..9.
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
IDX_CODES = {"u1": 0x08, "i1": 0x09, "i2": 0x0B, "i4": 0x0C, "f4": 0x0D, "f8": 0x0E}


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode an array in IDX, independently of the loader: header then big-endian data."""
    code = IDX_CODES[array.dtype.str[1:]]
    header = struct.pack(">BBBB", 0, 0, code, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def mnist_dir() -> Path:
    env = os.environ.get("GENZOO_MNIST_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[3] / "shared/data/mnist"


# --- npy / npz


def test_npy_round_trip(tmp_path):
    X = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.save(tmp_path / "x.npy", X)
    out = load_npy(tmp_path / "x.npy")
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, X)
    np.testing.assert_array_equal(load_npy(str(tmp_path / "x.npy")), X)


def test_npy_refuses_pickled_object_arrays(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="obj.npy"):
        load_npy(tmp_path / "obj.npy")


def test_npy_refuses_npz_and_missing_files(tmp_path):
    np.savez(tmp_path / "a.npz", X=np.zeros(3))
    with pytest.raises(ValueError, match="load_npz"):
        load_npy(tmp_path / "a.npz")
    with pytest.raises(DatasetNotFound, match="missing.npy"):
        load_npy(tmp_path / "missing.npy")
    with pytest.raises(FileNotFoundError):
        load_npy(tmp_path / "missing.npy")


@pytest.mark.parametrize(
    ("x_key", "y_key"), [("X", "y"), ("x", "labels"), ("data", "targets"), ("pixels", None)]
)
def test_npz_keys(tmp_path, x_key, y_key):
    X, y = np.random.default_rng(0).normal(size=(5, 2)), np.arange(5)
    arrays = {x_key: X} if y_key is None else {y_key: y, x_key: X}
    np.savez(tmp_path / "d.npz", **arrays)
    X_out, y_out = load_npz(tmp_path / "d.npz")
    np.testing.assert_array_equal(X_out, X)
    if y_key is None:
        assert y_out is None
    else:
        np.testing.assert_array_equal(y_out, y)


def test_npz_prefers_X_and_else_takes_the_first_array(tmp_path):
    np.savez(tmp_path / "a.npz", other=np.zeros(2), X=np.ones(2))
    np.testing.assert_array_equal(load_npz(tmp_path / "a.npz")[0], np.ones(2))
    np.savez(tmp_path / "b.npz", first=np.ones(2), second=np.zeros(2))
    np.testing.assert_array_equal(load_npz(tmp_path / "b.npz")[0], np.ones(2))


def test_npz_bad_content(tmp_path):
    np.savez(tmp_path / "only_y.npz", y=np.arange(3))
    with pytest.raises(ValueError, match="no feature array"):
        load_npz(tmp_path / "only_y.npz")
    np.savez(tmp_path / "short.npz", X=np.zeros((4, 2)), y=np.arange(3))
    with pytest.raises(ValueError, match="short.npz.*labels 'y'"):
        load_npz(tmp_path / "short.npz")
    np.savez(tmp_path / "obj.npz", X=np.array([None, 1], dtype=object))
    with pytest.raises(ValueError, match="obj.npz"):
        load_npz(tmp_path / "obj.npz")


# --- csv


def test_csv_without_header(tmp_path):
    (tmp_path / "a.csv").write_text("1,2.5,-3\n4, 5e-1 ,6\n\n")
    X, y = load_csv(tmp_path / "a.csv")
    assert X.dtype == np.float64 and y is None
    np.testing.assert_array_equal(X, [[1, 2.5, -3], [4, 0.5, 6]])


def test_csv_header_and_label_column(tmp_path):
    (tmp_path / "a.csv").write_text("f1,f2,label\n0.5,1,3\n2,3,7\n")
    X, y = load_csv(tmp_path / "a.csv")  # the header is detected, labels stay features
    np.testing.assert_array_equal(X, [[0.5, 1, 3], [2, 3, 7]])
    for label_column in ("label", 2, -1):
        X, y = load_csv(tmp_path / "a.csv", label_column=label_column)
        np.testing.assert_array_equal(X, [[0.5, 1], [2, 3]])
        assert y.dtype == np.int64
        np.testing.assert_array_equal(y, [3, 7])


def test_csv_string_labels_and_first_column(tmp_path):
    (tmp_path / "a.csv").write_text("cat,1,2\ndog,3,4\n")
    X, y = load_csv(tmp_path / "a.csv", label_column=0, header=False)
    np.testing.assert_array_equal(X, [[1, 2], [3, 4]])
    assert list(y) == ["cat", "dog"]


def test_csv_non_numeric_cell_names_file_line_and_column(tmp_path):
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n3,oops\n")
    with pytest.raises(ValueError, match=r"bad\.csv: line 3, column 2 \('b'\): 'oops'"):
        load_csv(tmp_path / "bad.csv")
    (tmp_path / "empty_cell.csv").write_text("1,2\n3,\n")
    with pytest.raises(ValueError, match="line 2, column 2"):
        load_csv(tmp_path / "empty_cell.csv")


def test_csv_bad_shapes_and_arguments(tmp_path):
    (tmp_path / "ragged.csv").write_text("1,2\n3\n")
    with pytest.raises(ValueError, match="ragged.csv: line 2 has 1 cells, expected 2"):
        load_csv(tmp_path / "ragged.csv")
    (tmp_path / "empty.csv").write_text("\n\n")
    with pytest.raises(ValueError, match="no rows"):
        load_csv(tmp_path / "empty.csv")
    (tmp_path / "head.csv").write_text("a,b\n")
    with pytest.raises(ValueError, match="no data rows"):
        load_csv(tmp_path / "head.csv")
    (tmp_path / "plain.csv").write_text("1,2\n3,4\n")
    with pytest.raises(ValueError, match="no header"):
        load_csv(tmp_path / "plain.csv", label_column="label")
    with pytest.raises(ValueError, match="out of range"):
        load_csv(tmp_path / "plain.csv", label_column=2)
    with pytest.raises(ValueError, match="header"):
        load_csv(tmp_path / "plain.csv", header="yes")
    with pytest.raises(ValueError, match="line 1, column 1"):
        load_csv(tmp_path / "head.csv", header=False)


# --- image folders


def save_gray(path: Path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels.astype(np.uint8), mode="L").save(path)


def test_flat_folder_of_gray_pngs(tmp_path):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(3, 5, 7))
    for i, p in enumerate(pixels):
        save_gray(tmp_path / f"img{i}.png", p)
    (tmp_path / "notes.txt").write_text("not an image")
    X, y, classes = load_image_folder(tmp_path)
    assert X.shape == (3, 1, 5, 7) and X.dtype == np.float64
    np.testing.assert_array_equal(X[:, 0], pixels / 255.0)
    assert y is None and classes == []


def test_class_subfolders_give_sorted_labels(tmp_path):
    for name, value in [("zebra", 10), ("ant", 20), ("ant", 30)]:
        save_gray(tmp_path / name / f"{value}.png", np.full((4, 4), value))
    (tmp_path / ".hidden").mkdir()
    save_gray(tmp_path / ".hidden" / "x.png", np.zeros((4, 4)))
    (tmp_path / "empty").mkdir()
    X, y, classes = load_image_folder(tmp_path)
    assert classes == ["ant", "zebra"]
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y, [0, 0, 1])
    np.testing.assert_allclose(X[:, 0, 0, 0], np.array([20, 30, 10]) / 255.0)


def test_colour_images_and_grayscale_choice(tmp_path):
    rgb = np.zeros((4, 6, 3), dtype=np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 255, 128, 0
    Image.fromarray(rgb, mode="RGB").save(tmp_path / "a.png")
    save_gray(tmp_path / "b.png", np.full((4, 6), 51))
    X, _, _ = load_image_folder(tmp_path)  # one colour image makes every image RGB
    assert X.shape == (2, 3, 4, 6)
    np.testing.assert_allclose(X[0, :, 0, 0], [1.0, 128 / 255, 0.0])
    np.testing.assert_allclose(X[1, :, 0, 0], [0.2, 0.2, 0.2])
    X, _, _ = load_image_folder(tmp_path, grayscale=True)
    assert X.shape == (2, 1, 4, 6)
    luma = np.asarray(Image.fromarray(rgb, mode="RGB").convert("L"))[0, 0] / 255.0
    np.testing.assert_allclose(X[:, 0, 0, 0], [luma, 0.2])
    save_gray(tmp_path / "gray" / "c.png", np.full((2, 2), 255))
    X, _, _ = load_image_folder(tmp_path / "gray", grayscale=False)
    np.testing.assert_array_equal(X, np.ones((1, 3, 2, 2)))


@pytest.mark.parametrize("suffix", [".jpg", ".jpeg", ".bmp", ".gif", ".PNG"])
def test_other_formats(tmp_path, suffix):
    save_gray(tmp_path / f"a{suffix}", np.full((8, 8), 200))
    X, _, _ = load_image_folder(tmp_path)
    assert X.shape == (1, 1, 8, 8)
    # JPEG is lossy, but a flat image survives it almost exactly.
    np.testing.assert_allclose(X, 200 / 255, atol=2 / 255)


def test_sixteen_bit_png_is_scaled_to_unit_range(tmp_path):
    Image.fromarray(np.full((3, 3), 65535, dtype=np.uint16)).save(tmp_path / "a.png")
    Image.fromarray(np.full((3, 3), 32768, dtype=np.uint16)).save(tmp_path / "b.png")
    X, _, _ = load_image_folder(tmp_path)
    np.testing.assert_allclose(X[:, 0, 0, 0], [1.0, 32768 / 65535])


def test_mixed_sizes_need_size(tmp_path):
    save_gray(tmp_path / "a.png", np.zeros((4, 4)))
    save_gray(tmp_path / "b.png", np.full((8, 6), 255))
    with pytest.raises(ValueError, match=r"b\.png is 8x6.*size=\(height, width\)"):
        load_image_folder(tmp_path)
    X, _, _ = load_image_folder(tmp_path, size=(2, 3))
    assert X.shape == (2, 1, 2, 3)
    np.testing.assert_allclose(X[1], 1.0)
    with pytest.raises(ValueError, match="size"):
        load_image_folder(tmp_path, size=(0, 3))


def test_bad_image_folders(tmp_path):
    with pytest.raises(ValueError, match="no image files"):
        load_image_folder(tmp_path)
    with pytest.raises(DatasetNotFound):
        load_image_folder(tmp_path / "nowhere")
    (tmp_path / "broken.png").write_bytes(b"not a png at all")
    with pytest.raises(ValueError, match="broken.png"):
        load_image_folder(tmp_path)
    (tmp_path / "broken.png").unlink()
    save_gray(tmp_path / "top.png", np.zeros((2, 2)))
    save_gray(tmp_path / "cls" / "a.png", np.zeros((2, 2)))
    with pytest.raises(ValueError, match="class subfolder"):
        load_image_folder(tmp_path)


# --- IDX


@pytest.mark.parametrize("dtype", ["u1", "i1", ">i2", ">i4", ">f4", ">f8"])
@pytest.mark.parametrize("gzipped", [False, True])
def test_idx_round_trip(tmp_path, dtype, gzipped):
    array = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    data = idx_bytes(array)
    # No .gz suffix on purpose: compression is detected from the magic bytes.
    (tmp_path / "a-idx3").write_bytes(gzip.compress(data) if gzipped else data)
    out = load_idx(tmp_path / "a-idx3")
    assert out.shape == (2, 3, 4)
    assert out.dtype == np.dtype(dtype).newbyteorder("=")
    np.testing.assert_array_equal(out, array)


def test_idx_bad_magic_and_truncation(tmp_path):
    data = idx_bytes(np.arange(10, dtype=np.uint8).reshape(2, 5))
    (tmp_path / "magic").write_bytes(b"\x01" + data[1:])
    with pytest.raises(ValueError, match="magic.*magic number 0x01000802"):
        load_idx(tmp_path / "magic")
    (tmp_path / "code").write_bytes(data[:2] + b"\x07" + data[3:])
    with pytest.raises(ValueError, match="magic number"):
        load_idx(tmp_path / "code")
    (tmp_path / "short").write_bytes(data[:-1])
    with pytest.raises(ValueError, match=r"short: truncated IDX file \(shape \(2, 5\) needs 10"):
        load_idx(tmp_path / "short")
    (tmp_path / "header").write_bytes(data[:6])
    with pytest.raises(ValueError, match="truncated"):
        load_idx(tmp_path / "header")
    (tmp_path / "long").write_bytes(data + b"\x00")
    with pytest.raises(ValueError, match="1 bytes after the data"):
        load_idx(tmp_path / "long")
    (tmp_path / "cut.gz").write_bytes(gzip.compress(data)[:-6])
    with pytest.raises(ValueError, match="cut.gz: truncated gzip"):
        load_idx(tmp_path / "cut.gz")


def write_fake_mnist(folder: Path, prefix: str, n: int, seed: int, gz: bool = True):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    for name, array in [
        (f"{prefix}-images-idx3-ubyte", images),
        (f"{prefix}-labels-idx1-ubyte", labels),
    ]:
        data = idx_bytes(array)
        (folder / (name + suffix)).write_bytes(gzip.compress(data) if gz else data)
    return images, labels


def test_mnist_layout(tmp_path):
    test_images, test_labels = write_fake_mnist(tmp_path, "t10k", 6, seed=0)
    train_images, _ = write_fake_mnist(tmp_path, "train", 4, seed=1, gz=False)
    X, y = load_mnist(tmp_path)
    assert X.shape == (6, 1, 28, 28) and X.dtype == np.float64
    np.testing.assert_array_equal(X[:, 0], test_images / 255.0)
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y, test_labels)
    X, _ = load_mnist(tmp_path, split="train")
    np.testing.assert_array_equal(X[:, 0], train_images / 255.0)
    X, y = load_mnist(tmp_path, split="all")
    assert X.shape == (10, 1, 28, 28) and y.shape == (10,)
    with pytest.raises(ValueError, match="split"):
        load_mnist(tmp_path, split="validation")


def test_mnist_missing_or_mismatched_files(tmp_path):
    with pytest.raises(DatasetNotFound, match="t10k-images-idx3-ubyte"):
        load_mnist(tmp_path)
    write_fake_mnist(tmp_path, "t10k", 3, seed=0)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(idx_bytes(np.zeros(2, np.uint8)))
    )
    with pytest.raises(ValueError, match="expected 3 labels"):
        load_mnist(tmp_path)


def test_real_mnist_test_set():
    folder = mnist_dir()
    if not (folder / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"MNIST test set not found in {folder}")
    X, y = load_mnist(folder)
    assert X.shape == (10000, 1, 28, 28) and X.dtype == np.float64
    assert X.min() == 0.0 and X.max() == 1.0
    # The well-known mean pixel intensity of the MNIST test images.
    assert abs(X.mean() - 0.1325) < 5e-4
    assert y.dtype == np.int64
    assert np.bincount(y).tolist() == MNIST_TEST_COUNTS
