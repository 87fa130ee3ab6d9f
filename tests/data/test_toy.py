"""Known answers for the 2-D toy generators: shapes, seeds and the geometry of each set."""

import numpy as np
import pytest
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from genzoo.data import (
    TOY_DATASETS,
    make_checkerboard,
    make_circles,
    make_eight_gaussians,
    make_moons,
    make_pinwheel,
    make_swiss_roll,
)

NAMES = sorted(TOY_DATASETS)


def test_registry_names_the_six_sets():
    assert TOY_DATASETS == {
        "moons": make_moons,
        "circles": make_circles,
        "eight_gaussians": make_eight_gaussians,
        "checkerboard": make_checkerboard,
        "swiss_roll": make_swiss_roll,
        "pinwheel": make_pinwheel,
    }


@pytest.mark.parametrize("name", NAMES)
def test_shape_dtype_and_scale(name):
    X = TOY_DATASETS[name](2000, random_state=0)
    assert X.shape == (2000, 2)
    assert X.dtype == np.float64
    assert np.isfinite(X).all()
    assert np.abs(X).max() < 4.5
    # Roughly standardised: neither collapsed nor blown up.
    assert 0.5 < X.std() < 2.5


@pytest.mark.parametrize("name", NAMES)
def test_int_seed_is_deterministic_and_seeds_differ(name):
    make = TOY_DATASETS[name]
    np.testing.assert_array_equal(make(300, random_state=7), make(300, random_state=7))
    assert not np.allclose(make(300, random_state=7), make(300, random_state=8))


@pytest.mark.parametrize("name", NAMES)
def test_no_seed_and_one_sample(name):
    make = TOY_DATASETS[name]
    assert make(1).shape == (1, 2)
    assert make().shape == (1000, 2)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "10", None])
def test_bad_n_samples(name, bad):
    with pytest.raises(ValueError, match="n_samples"):
        TOY_DATASETS[name](bad)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf"), "0.1"])
def test_bad_noise(name, bad):
    with pytest.raises(ValueError, match="noise"):
        TOY_DATASETS[name](10, noise=bad)


def test_moons_lie_on_two_arcs_half_each():
    X = make_moons(1000, noise=0.0, random_state=0)
    upper = np.isclose(np.linalg.norm(X - [-1.0, -0.2], axis=1), 2.0) & (X[:, 1] >= -0.2 - 1e-12)
    lower = np.isclose(np.linalg.norm(X - [1.0, 0.8], axis=1), 2.0) & (X[:, 1] <= 0.8 + 1e-12)
    assert (upper ^ lower).all()
    assert upper.sum() == lower.sum() == 500


def test_moons_form_two_connected_components():
    # Arcs are >= 1 apart; with noise 0.05 a 0.3-neighbourhood graph joins each arc only.
    X = make_moons(1000, noise=0.05, random_state=1)
    graph = cKDTree(X).sparse_distance_matrix(cKDTree(X), 0.3)
    n_components, labels = connected_components(graph, directed=False)
    assert n_components == 2
    assert sorted(np.bincount(labels)) == [500, 500]


def test_circles_have_radii_two_and_one():
    radius = np.linalg.norm(make_circles(1000, noise=0.0, random_state=0), axis=1)
    assert np.isclose(radius, 2.0).sum() == 500
    assert np.isclose(radius, 1.0).sum() == 500

    radius = np.linalg.norm(make_circles(4000, noise=0.1, random_state=0), axis=1)
    outer, inner = radius[radius > 1.5], radius[radius <= 1.5]
    assert len(outer) == len(inner) == 2000
    # Mean radius within 5 standard errors; radial noise std ~= the isotropic noise.
    assert abs(outer.mean() - 2.0) < 5 * 0.1 / np.sqrt(2000) + 0.01
    assert abs(inner.mean() - 1.0) < 5 * 0.1 / np.sqrt(2000) + 0.01
    assert 0.08 < outer.std() < 0.12


def test_eight_gaussians_cluster_at_eight_centres_on_radius_two():
    n, std = 8000, 0.15
    X = make_eight_gaussians(n, noise=std, random_state=0)
    angles = np.arange(8) * np.pi / 4
    centres = 2.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    nearest = np.argmin(np.linalg.norm(X[:, None] - centres[None], axis=2), axis=1)
    counts = np.bincount(nearest, minlength=8)
    # Each centre's count is Binomial(n, 1/8): within 5 standard deviations.
    assert np.all(np.abs(counts - n / 8) < 5 * np.sqrt(n / 8 * 7 / 8))
    offsets = X - centres[nearest]
    assert np.abs(offsets.mean(axis=0)).max() < 5 * std / np.sqrt(n)
    assert np.allclose(offsets.std(axis=0), std, rtol=0.05)


def test_checkerboard_only_on_black_squares():
    n = 8000
    X = make_checkerboard(n, random_state=0)
    assert X.min() >= -2.0 and X.max() < 2.0
    cells = np.floor(X).astype(int)
    assert np.all((cells.sum(axis=1) % 2) == 0)
    _, counts = np.unique(cells, axis=0, return_counts=True)
    assert len(counts) == 8  # all 8 black squares are used, uniformly
    assert np.all(np.abs(counts - n / 8) < 5 * np.sqrt(n / 8 * 7 / 8))


def test_checkerboard_noise_blurs_edges():
    X = make_checkerboard(4000, noise=0.2, random_state=0)
    assert np.any(np.floor(X).astype(int).sum(axis=1) % 2 == 1)


def test_swiss_roll_follows_the_spiral():
    X = make_swiss_roll(2000, noise=0.0, random_state=0)
    t = 5.0 * np.linalg.norm(X, axis=1)
    assert t.min() >= 1.5 * np.pi - 1e-9 and t.max() <= 4.5 * np.pi + 1e-9
    # The point's direction is its own parameter t: the curve t (cos t, sin t) / 5.
    np.testing.assert_allclose(X, t[:, None] * np.stack([np.cos(t), np.sin(t)], 1) / 5.0)


def test_pinwheel_has_five_arms_at_radius_two():
    n = 1000
    X = make_pinwheel(n, noise=1e-9, random_state=0)
    # Without noise each arm collapses to 2 * (cos a, -sin a), a = 2 pi k / 5 + 0.25 e.
    a = 2 * np.pi * np.arange(5) / 5 + 0.25 * np.e
    tips = 2.0 * np.stack([np.cos(a), -np.sin(a)], axis=1)
    distances = np.linalg.norm(X[:, None] - tips[None], axis=2)
    assert distances.min(axis=1).max() < 1e-6
    assert np.all(np.bincount(distances.argmin(axis=1), minlength=5) == n // 5)


def test_pinwheel_arms_bend_outwards():
    X = make_pinwheel(5000, random_state=0)
    radius = np.linalg.norm(X, axis=1)
    assert abs(np.median(radius) - 2.0) < 0.1
    # Arm 0 is turned clockwise by 0.25 exp(r / 2): farther points are turned more.
    angle = -np.arctan2(X[:, 1], X[:, 0])
    base = 2 * np.pi * np.round((angle - 0.25 * np.exp(radius / 2)) / (2 * np.pi / 5)) / 5
    turn = np.mod(angle - base + np.pi, 2 * np.pi) - np.pi
    assert np.corrcoef(radius, turn)[0, 1] > 0.7
