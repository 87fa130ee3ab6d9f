"""Data sets with a second, unpaired domain: the built-in pairs and the `Dataset` fields."""

import numpy as np
import pytest

from genzoo.data import Dataset, list_datasets, load, load_digits, make_blobs3
from genzoo.data.kinds import kind_of
from genzoo.data.pairs import BLOB_MEANS, BLOB_STDS, BLOB_WEIGHTS, ROTATION


def test_pairs_are_listed():
    assert {"digits_negatives", "blobs_rotated"} <= set(list_datasets())


# --- digits_negatives


def test_digits_negatives_shapes_levels_and_labels():
    data = load("digits_negatives")
    assert data.kind == "images" and data.has_second_domain
    assert data.X_train.shape == (719, 1, 8, 8) and data.X_b_train.shape == (718, 1, 8, 8)
    assert data.X_test.shape == data.X_b_test.shape == (360, 1, 8, 8)
    assert data.levels == 17 and data.level_step == 1 / 16
    for X in (data.X_train, data.X_test, data.X_b_train, data.X_b_test):
        np.testing.assert_array_equal(16 * X, np.round(16 * X))
        assert X.min() >= 0 and X.max() <= 1
    _, y_train = load_digits("train")
    np.testing.assert_array_equal(data.y_train, y_train[0::2])
    assert data.classes == tuple(str(k) for k in range(10))


def test_digits_negatives_test_part_is_paired_by_negation():
    data = load("digits_negatives")
    X_test, y_test = load_digits("test")
    np.testing.assert_array_equal(data.X_test, X_test)
    np.testing.assert_array_equal(data.X_b_test, 1 - X_test)
    np.testing.assert_array_equal(data.y_test, y_test)


def test_digits_negatives_training_domains_come_from_disjoint_rows():
    data = load("digits_negatives")
    X_train, _ = load_digits("train")
    # a takes the even rows and b the negatives of the odd rows: together each row once.
    np.testing.assert_array_equal(data.X_train, X_train[0::2])
    np.testing.assert_array_equal(1 - data.X_b_train, X_train[1::2])
    assert len(data.X_train) + len(data.X_b_train) == len(X_train)


def test_digits_negatives_n_samples_caps_each_training_domain():
    data = load("digits_negatives", n_samples=50)
    assert len(data.X_train) == len(data.y_train) == len(data.X_b_train) == 50
    assert len(data.X_test) == len(data.X_b_test) == 360


# --- blobs_rotated


def test_blobs_rotated_sizes_and_support():
    data = load("blobs_rotated", n_samples=100)
    assert data.kind == "vectors" and data.support == "continuous" and data.levels is None
    assert data.X_train.shape == data.X_b_train.shape == (100, 2)
    assert data.X_test.shape == data.X_b_test.shape == (25, 2)
    assert data.y_train is None and data.y_test is None
    default = load("blobs_rotated")
    assert len(default.X_train) == len(default.X_b_train) == 2000 and len(default.X_test) == 500
    assert len(load("blobs_rotated", n_samples=3).X_test) == 1


def test_blobs_rotated_test_part_is_rotated_a_quarter_turn_counter_clockwise():
    data = load("blobs_rotated", n_samples=100)
    np.testing.assert_array_equal(data.X_b_test, data.X_test @ ROTATION.T)
    # (x, y) -> (-y, x), written out by hand
    np.testing.assert_array_equal(data.X_b_test[:, 0], -data.X_test[:, 1])
    np.testing.assert_array_equal(data.X_b_test[:, 1], data.X_test[:, 0])


def test_blobs_rotated_draws_use_the_documented_seeds():
    data = load("blobs_rotated", n_samples=40, random_state=7)
    np.testing.assert_array_equal(data.X_train, make_blobs3(40, random_state=7))
    np.testing.assert_array_equal(data.X_test, make_blobs3(10, random_state=8))
    np.testing.assert_array_equal(data.X_b_train, make_blobs3(40, random_state=9) @ ROTATION.T)


def test_blobs_rotated_is_reproducible():
    first = load("blobs_rotated", n_samples=50, random_state=3)
    again = load("blobs_rotated", n_samples=50, random_state=3)
    other = load("blobs_rotated", n_samples=50, random_state=4)
    for part in ("X_train", "X_test", "X_b_train", "X_b_test"):
        np.testing.assert_array_equal(getattr(first, part), getattr(again, part))
        assert not np.array_equal(getattr(first, part), getattr(other, part))


def test_make_blobs3_recovers_weights_means_and_spreads():
    n = 20_000
    X = make_blobs3(n, random_state=0)
    assert X.shape == (n, 2) and X.dtype == np.float64
    # The blobs lie over 3.5 standard deviations from any midpoint: nearest-mean assignment
    # errs on a negligible fraction of points.
    blob = np.argmin(((X[:, None, :] - BLOB_MEANS[None]) ** 2).sum(axis=-1), axis=1)
    weights = np.bincount(blob, minlength=3) / n
    # 5 binomial standard errors, sqrt(w (1 - w) / n) <= 0.0036
    np.testing.assert_allclose(weights, BLOB_WEIGHTS, atol=5 * 0.0036)
    for k in range(3):
        points = X[blob == k]
        se = BLOB_STDS[k] / np.sqrt(len(points))
        np.testing.assert_allclose(points.mean(axis=0), BLOB_MEANS[k], atol=5 * se)
        np.testing.assert_allclose(points.std(axis=0), BLOB_STDS[k], rtol=0.05)


def test_make_blobs3_checks_n_samples():
    with pytest.raises(ValueError, match="n_samples"):
        make_blobs3(0)


# --- the Dataset's second domain


def test_domain_views():
    data = load("digits_negatives", n_samples=30)
    a = data.domain_a()
    assert not a.has_second_domain and a.X_b_train is None and a.X_b_test is None
    assert a.X_train is data.X_train and a.y_train is data.y_train and a.name == data.name
    b = data.domain_b()
    assert b.name == "digits_negatives/b" and b.kind == "images" and not b.has_second_domain
    assert b.X_train is data.X_b_train and b.X_test is data.X_b_test
    assert b.y_train is None and b.y_test is data.y_test and b.classes == data.classes
    assert (b.levels, b.level_step) == (17, data.level_step)
    with pytest.raises(ValueError, match="no second domain"):
        a.domain_b()


def test_second_domain_is_checked():
    X, X_b = np.zeros((4, 2)), np.ones((3, 2))
    with pytest.raises(ValueError, match="together"):
        Dataset("x", "vectors", X, X, X_b_train=X_b)
    with pytest.raises(ValueError, match="X_b_test has sample shape"):
        Dataset("x", "vectors", X, X, X_b_train=X_b, X_b_test=np.zeros((4, 3)))
    with pytest.raises(ValueError, match="X_b_train must have at least one row"):
        Dataset("x", "vectors", X, X, X_b_train=X_b[:0], X_b_test=X)
    with pytest.raises(ValueError, match="paired"):
        Dataset("x", "vectors", X, X, X_b_train=X_b, X_b_test=X_b)
    with pytest.raises(ValueError, match="counts data take no second domain"):
        Dataset("x", "counts", X, X, X_b_train=X_b, X_b_test=X)
    with pytest.raises(ValueError, match="X_b_train of data set 'x' is not on the grid"):
        Dataset("x", "vectors", X, X, X_b_train=X_b / 3, X_b_test=X, levels=2)
    assert Dataset("x", "vectors", X, X, X_b_train=X_b, X_b_test=X, levels=2).has_second_domain


def test_fit_args_carry_the_second_domain_to_translation_models_only():
    data = load("digits_negatives", n_samples=20)
    kind = kind_of(data)
    args, kwargs = kind.fit_args(data, second_domain=True)
    assert args == (data.X_train,) and kwargs.keys() == {"X_b"}
    assert kwargs["X_b"] is data.X_b_train
    args, kwargs = kind.fit_args(data, "test", conditional=True, second_domain=True)
    assert args[0] is data.X_test and args[1] is data.y_test and kwargs["X_b"] is data.X_b_test
    assert kind.eval_kwargs(data, "test") == {}
    args, kwargs = kind.fit_args(data)
    assert args == (data.X_train,) and kwargs == {}
    with pytest.raises(ValueError, match="has one domain; a translation model needs two"):
        kind.fit_args(data.domain_a(), second_domain=True)


def test_as_vectors_flattens_both_domains_and_as_counts_drops_b():
    data = load("digits_negatives", n_samples=20)
    flat = data.as_vectors()
    assert flat.kind == "vectors" and flat.has_second_domain
    assert flat.X_b_train.shape == (20, 64) and flat.X_b_test.shape == (360, 64)
    np.testing.assert_array_equal(flat.X_b_train[4], data.X_b_train[4].ravel())
    assert "X_b_train=(20, 64)" in repr(flat)
    counts = data.as_counts()
    assert counts.kind == "counts" and not counts.has_second_domain


def test_levels_argument_keeps_the_second_domain():
    continuous = load("digits_negatives", n_samples=20, levels="continuous")
    assert continuous.levels is None and continuous.has_second_domain
    declared = load("digits_negatives", n_samples=20, levels=17)
    assert declared.levels == 17 and declared.level_step == 1 / 16
    np.testing.assert_array_equal(declared.X_b_test, 1 - declared.X_test)
    assert load("blobs_rotated", n_samples=20, levels="auto").levels is None
