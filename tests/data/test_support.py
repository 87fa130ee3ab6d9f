"""Every data set declares its support: continuous, or discrete with its levels."""

import numpy as np
import pytest

from genzoo.data import load


@pytest.mark.parametrize(
    ("name", "support", "levels", "step"),
    [
        ("digits", "discrete (17 levels)", 17, 1 / 16),
        ("digits_counts", "discrete (17 levels)", 17, 1.0),
        ("digits_binary", "discrete (2 levels)", 2, 1.0),
        ("bars_binary", "discrete (2 levels)", 2, 1.0),
        ("moons", "continuous", None, None),
        ("eight_gaussians", "continuous", None, None),
        ("bars", "discrete", None, None),
        ("casino", "discrete", None, None),
        ("asia", "discrete", None, None),
        ("treebank", "discrete", None, None),
    ],
)
def test_built_in_data_declare_their_support(name, support, levels, step):
    data = load(name, n_samples=40)
    assert data.support_label == support
    assert data.levels == levels
    assert data.level_step == (None if step is None else pytest.approx(step))
    if levels is not None:
        k = data.level_indices("test")
        assert k.min() >= 0 and k.max() <= levels - 1
        np.testing.assert_allclose(k * data.level_step, data.X_test)


def test_mnist_has_256_levels():
    try:
        data = load("mnist", n_samples=10)
    except FileNotFoundError:
        pytest.skip("MNIST is not in ../shared/data/mnist")
    assert (data.levels, data.support) == (256, "discrete")
    assert data.level_indices("test").max() <= 255


@pytest.mark.parametrize(
    ("make", "levels", "step"),
    [
        (lambda rng: rng.integers(0, 256, (50, 6, 6), dtype=np.uint8), 256, 1 / 255),
        (lambda rng: rng.integers(0, 17, (50, 5)).astype(np.int64), 17, 1.0),
        (lambda rng: rng.integers(0, 17, (50, 5)) / 16.0, 17, 1 / 16),
        (lambda rng: rng.integers(0, 2, (50, 5)).astype(np.float32), 2, 1.0),
        (lambda rng: rng.normal(size=(50, 5)), None, None),
        (lambda rng: rng.random((50, 5)), None, None),
        (lambda rng: rng.integers(-3, 3, (50, 5)), None, None),
    ],
)
def test_levels_of_users_files_are_inferred(tmp_path, make, levels, step):
    rng = np.random.default_rng(0)
    X = make(rng)
    X.flat[0] = X.max() if levels else X.flat[0]  # the top level is present
    np.save(tmp_path / "x.npy", X)
    data = load(tmp_path / "x.npy")
    assert data.levels == levels
    if levels is not None:
        assert data.level_step == pytest.approx(step)
        assert data.level_indices("train").max() <= levels - 1


def test_levels_can_be_declared_or_dropped(tmp_path):
    X = np.random.default_rng(0).integers(0, 4, (40, 3)) / 3.0
    np.save(tmp_path / "x.npy", X)
    assert load(tmp_path / "x.npy").levels == 4
    assert load(tmp_path / "x.npy", levels=7).level_step == pytest.approx(1 / 6)
    assert load(tmp_path / "x.npy", levels="continuous").support == "continuous"
    assert load("digits", levels="continuous").support == "continuous"
    with pytest.raises(ValueError, match="not on the grid of 5 levels"):
        load(tmp_path / "x.npy", levels=5)
    with pytest.raises(ValueError, match="levels must be 'auto', 'continuous' or an int"):
        load("digits", levels="many")
    with pytest.raises(ValueError, match="sequences data 'casino' take no levels"):
        load("casino", levels=6)


def test_discrete_images_become_counts_of_their_levels():
    counts = load("digits").as_counts()
    assert counts.kind == "counts" and counts.X_train.shape[1] == 64
    np.testing.assert_array_equal(counts.X_test, load("digits_counts").X_test)
    with pytest.raises(ValueError, match="have no levels to count"):
        load("moons", n_samples=20).as_counts()
