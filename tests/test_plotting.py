"""Pictures of samples: scatters over the data and image grids, at a fixed pixel size."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from genzoo.plotting import FIGURE_PIXELS, save_samples_png

SIZE = (FIGURE_PIXELS, FIGURE_PIXELS)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def _png_size(path) -> tuple[int, int]:
    with Image.open(path) as image:
        assert image.format == "PNG"
        return image.size


def _pixels(path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("L"), dtype=float)


def test_scatter_over_reference(tmp_path, rng):
    path = save_samples_png(
        rng.normal(size=(300, 2)),
        tmp_path / "sub" / "scatter.png",
        kind="vectors",
        reference=rng.normal(size=(500, 2)),
        title="samples",
    )
    assert path == tmp_path / "sub" / "scatter.png"
    assert _png_size(path) == SIZE
    assert _pixels(path).std() > 0  # something was drawn


@pytest.mark.parametrize("d", [1, 5])
def test_vectors_of_other_dimensions(tmp_path, rng, d):
    path = save_samples_png(
        rng.normal(size=(100, d)),
        tmp_path / "v.png",
        kind="vectors",
        reference=rng.normal(size=(200, d)),
    )
    assert _png_size(path) == SIZE


@pytest.mark.parametrize(
    "shape, image_shape, kind",
    [
        ((20, 1, 8, 8), None, "images"),
        ((20, 8, 8), None, "images"),
        ((100, 3, 6, 6), None, "images"),  # more than a grid holds: the first 64 are shown
        ((20, 64), (1, 8, 8), "vectors"),  # flattened images with their shape
    ],
)
def test_image_grid(tmp_path, rng, shape, image_shape, kind):
    samples = rng.uniform(-0.5, 1.5, size=shape)  # clipped to [0, 1]
    path = save_samples_png(samples, tmp_path / "grid.png", kind=kind, image_shape=image_shape)
    assert _png_size(path) == SIZE


def test_grid_shows_white_and_black_images(tmp_path):
    samples = np.stack([np.zeros((1, 8, 8)), np.ones((1, 8, 8))])
    pixels = _pixels(save_samples_png(samples, tmp_path / "bw.png", kind="images"))
    assert pixels.min() < 10 and pixels.max() > 245


def test_grid_borders_are_grey_so_white_images_stay_apart(tmp_path):
    pixels = _pixels(save_samples_png(np.ones((4, 1, 8, 8)), tmp_path / "w.png", kind="images"))
    grey = np.abs(pixels.astype(float) - 128) < 20
    assert grey.mean() > 0.02  # the borders between and around the four white images


def test_plotting_leaves_pyplot_alone(tmp_path, rng):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    save_samples_png(rng.normal(size=(10, 2)), tmp_path / "p.png", kind="vectors")
    assert plt.get_fignums() == before


@pytest.mark.parametrize(
    "samples, kwargs, match",
    [
        (np.zeros((4, 2)), {"kind": "tables"}, "kind"),
        (np.zeros((4, 10)), {"kind": "vectors", "image_shape": (1, 3, 3)}, "cannot be shown"),
        (np.zeros((4, 2, 8, 8)), {"kind": "images"}, "channels"),
        (np.zeros((0, 2)), {"kind": "vectors"}, "at least one"),
        (np.zeros((4, 2)), {"kind": "vectors", "reference": np.zeros((5, 3))}, "features"),
    ],
)
def test_bad_input(tmp_path, samples, kwargs, match):
    with pytest.raises(ValueError, match=match):
        save_samples_png(samples, tmp_path / "bad.png", **kwargs)


def test_history_picture_has_a_panel_per_figure_and_refuses_ragged_lists(tmp_path):
    from genzoo.plotting import save_history_png

    history = {"step": [10, 20, 30], "precision": [0.1, 0.4, 0.6], "recall": [0.0, 0.2, 0.5]}
    path = save_history_png(history, tmp_path / "h.png", title="gan")
    with Image.open(path) as picture:
        assert picture.size == (600, 600)
    with pytest.raises(ValueError, match=r"history\['recall'\] has 2 values, not 3"):
        save_history_png({**history, "recall": [0.0, 0.2]}, tmp_path / "bad.png")
    with pytest.raises(ValueError, match="a 'step' list and at least one figure"):
        save_history_png({"step": [1]}, tmp_path / "bad.png")


def test_path_of_images_puts_one_sample_per_row(tmp_path):
    from genzoo.plotting import save_path_png

    # 3 samples over 4 frames, black to white: each row of the strip brightens to the right
    frames = np.stack([np.full((3, 1, 8, 8), level) for level in (0.0, 1 / 3, 2 / 3, 1.0)])
    pixels = _pixels(save_path_png(frames, tmp_path / "strip.png"))
    assert _png_size(tmp_path / "strip.png") == SIZE
    row = pixels[pixels.shape[0] // 2]  # through the middle sample
    columns = np.array_split(row[row != row[0]], 4)  # off the margin colour
    means = [c.mean() for c in columns]
    assert means == sorted(means) and means[-1] - means[0] > 100


def test_path_of_points_draws_a_panel_per_frame_and_refuses_one_frame(tmp_path, rng):
    from genzoo.plotting import save_path_png

    frames = np.stack([rng.normal(size=(50, 2)) * s for s in (3.0, 2.0, 1.0, 0.5, 0.2, 0.1)])
    path = save_path_png(frames, tmp_path / "cloud.png", reference=rng.normal(size=(80, 2)))
    assert _png_size(path) == SIZE and _pixels(path).std() > 0
    with pytest.raises(ValueError, match="n_frames >= 2"):
        save_path_png(frames[:1], tmp_path / "bad.png")
