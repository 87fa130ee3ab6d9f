"""CycleGAN: the known maps of the built-in pairs recovered, sampling, pictures, bad input."""

from __future__ import annotations

from types import MappingProxyType

import numpy as np
import pytest
from PIL import Image

from genzoo import CycleGAN, LikelihoodUnavailable, registry
from genzoo.data import load
from genzoo.data.pairs import BLOB_MEANS, BLOB_STDS, BLOB_WEIGHTS, ROTATION
from genzoo.plotting import save_pairs_png
from genzoo.zoo import run_zoo

SMALL = {
    "hidden": (16, 16), "channels": (8, 16), "n_blocks": 1, "batch_size": 32, "max_steps": 20,
    "n_held": 64, "verbose": 0, "random_state": 0,
}  # fmt: skip


@pytest.fixture(scope="module")
def blobs():
    return load("blobs_rotated", n_samples=1000)


@pytest.fixture(scope="module")
def small_model(blobs):
    return CycleGAN(**SMALL).fit(blobs.X_train, X_b=blobs.X_b_train)


# --- known answers


def test_the_rotation_of_the_blobs_is_recovered(blobs):
    # Seed 0 finds the rotation; about one seed in three settles on another pairing of the
    # blobs, which the adversarial and cycle losses cannot tell apart from the rotation
    # within blobs of equal shape (it shows as a higher MMD in history_).
    model = CycleGAN(hidden=(128, 128), batch_size=64, max_steps=800, learning_rate=1e-3,
                     ema_decay=0.98, verbose=0, random_state=0)  # fmt: skip
    model.fit(blobs.X_train, X_b=blobs.X_b_train)
    # A map that only sent each point somewhere in the right blob would miss by the mean
    # distance of two points of that blob, sqrt(pi) * sd for a round Gaussian: 0.48 on
    # average over the blobs. The identity misses by 2.2, a wrong blob by at least 1.9.
    threshold = np.sqrt(np.pi) * float(BLOB_WEIGHTS @ BLOB_STDS)
    assert 0.47 < threshold < 0.49
    translated = model.translate(blobs.X_test)
    error = np.linalg.norm(translated - blobs.X_b_test, axis=1)
    assert error.mean() < threshold, error.mean()  # measured: 0.033
    source = np.argmin(((blobs.X_test[:, None] - BLOB_MEANS) ** 2).sum(-1), axis=1)
    target = np.argmin(((translated[:, None] - BLOB_MEANS @ ROTATION.T) ** 2).sum(-1), axis=1)
    assert np.mean(source == target) >= 0.95
    back = model.translate(blobs.X_b_test, direction="b_to_a")
    assert np.linalg.norm(back - blobs.X_test, axis=1).mean() < threshold
    history = model.history_
    assert history["step"][-1] == 800 and len(history["step"]) == 10
    assert history["mmd"][-1] < 0.01 and history["recall"][-1] > 0.9
    assert history["cycle_error"][-1] < 0.05 and 0.4 < history["d_auc"][-1] < 0.8


def test_digits_become_their_negatives_and_keep_their_class():
    from genzoo.metrics.feature_nets import predict_digits

    pair = load("digits_negatives")
    model = CycleGAN(channels=(16, 32), n_blocks=2, batch_size=32, max_steps=500,
                     learning_rate=1e-3, ema_decay=0.98, monitor_every=None, verbose=0,
                     random_state=0)  # fmt: skip
    model.fit(pair.X_train, X_b=pair.X_b_train)
    assert model.architecture_["network"] == "conv" and not hasattr(model, "history_")
    negatives = model.translate(pair.X_test)
    assert negatives.shape == pair.X_test.shape
    # The identity misses by 0.79 per pixel; a tenth of that is under two of the digits'
    # 17 grey levels (1/16 apart). Measured: 0.028 either way, 99% of classes kept.
    assert np.abs(pair.X_test - pair.X_b_test).mean() > 0.7
    assert np.abs(negatives - pair.X_b_test).mean() < 0.08
    assert np.mean(predict_digits(1.0 - negatives) == pair.y_test) >= 0.9
    back = model.translate(pair.X_b_test, direction="b_to_a")
    assert np.abs(back - pair.X_test).mean() < 0.08


# --- sampling and translation


def test_samples_are_held_rows_translated(small_model, blobs):
    model = small_model
    assert model.held_a_.shape == (64, 2) and model.held_b_.shape == (64, 2)
    held_a = model.held_a_.cpu().numpy()
    assert np.isin(held_a[:, 0], blobs.X_train[:, 0]).all()  # rows of the training data
    samples = model.sample(300, random_state=3)
    assert samples.shape == (300, 2) and np.isfinite(samples).all()
    np.testing.assert_array_equal(samples, model.sample(300, random_state=3))
    translations = model.translate(held_a)
    # Each sample is the translation of one held row, so at most n_held distinct values.
    assert len(np.unique(samples, axis=0)) <= 64
    matches = np.abs(samples[:, None] - translations[None]).max(-1).min(-1)
    assert matches.max() < 1e-6
    other = model.sample(50, domain="a", random_state=3)
    back = model.translate(model.held_b_.cpu().numpy(), direction="b_to_a")
    assert np.abs(other[:, None] - back[None]).max(-1).min(-1).max() < 1e-6


def test_translation_goes_in_chunks_and_is_deterministic(small_model):
    X = np.random.default_rng(0).normal(size=(600, 2))  # more rows than one chunk
    first = small_model.translate(X)
    np.testing.assert_array_equal(first, small_model.translate(X))
    np.testing.assert_allclose(first[:10], small_model.translate(X[:10]), atol=1e-6)


def test_the_identity_loss_changes_the_fit(blobs):
    plain = CycleGAN(**SMALL).fit(blobs.X_train, X_b=blobs.X_b_train)
    kept = CycleGAN(**{**SMALL, "identity_weight": 0.5}).fit(blobs.X_train, X_b=blobs.X_b_train)
    assert plain.loss_curve_[-1] != kept.loss_curve_[-1]


# --- bad input


def test_fit_needs_a_second_domain_of_the_same_shape(blobs):
    model = CycleGAN(**SMALL)
    with pytest.raises(ValueError, match=r"needs the second domain by keyword: fit\(X_a, X_b"):
        model.fit(blobs.X_train)
    with pytest.raises(ValueError, match=r"X_b has samples of shape \(3,\), but X has \(2,\)"):
        model.fit(blobs.X_train, X_b=np.ones((50, 3)))
    bad = blobs.X_b_train.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="X_b"):
        model.fit(blobs.X_train, X_b=bad)
    with pytest.raises(ValueError, match="X_b"):
        model.fit(blobs.X_train, X_b=np.full((50, 2), np.inf))
    with pytest.raises(ValueError, match="channels=.* must be a sequence of positive integers"):
        CycleGAN(**{**SMALL, "channels": (-1, 2)}).fit(blobs.X_train, X_b=blobs.X_b_train)
    with pytest.raises(ValueError, match=r"discriminator_betas must be two floats in \[0, 1\)"):
        CycleGAN(**{**SMALL, "discriminator_betas": (0.5, 1.0)}).fit(
            blobs.X_train, X_b=blobs.X_b_train
        )
    digits = load("digits_negatives", n_samples=40)
    with pytest.raises(ValueError, match="same sample shape"):
        model.fit(digits.X_train, X_b=digits.X_b_train[:, :, :, :4])


def test_bad_directions_domains_and_labels_are_refused(small_model):
    X = np.zeros((3, 2))
    with pytest.raises(ValueError, match=r"direction must be one of \('a_to_b', 'b_to_a'\)"):
        small_model.translate(X, direction="b_to_c")
    with pytest.raises(ValueError, match="domain must be 'a' or 'b'"):
        small_model.sample(3, domain="c")
    with pytest.raises(ValueError, match="y"):
        small_model.sample(3, y=[0, 1, 2])
    with pytest.raises(ValueError, match="2 features"):
        small_model.translate(np.zeros((3, 5)))
    with pytest.raises(LikelihoodUnavailable, match="pair of deterministic maps"):
        small_model.log_prob(X)


def test_translate_before_fit_is_refused():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        CycleGAN().translate(np.zeros((2, 2)))


# --- pictures and the leaderboard


def test_pairs_picture_puts_each_translation_under_its_input(tmp_path):
    images = np.random.default_rng(0).random((10, 1, 8, 8))
    path = save_pairs_png(images, 1.0 - images, tmp_path / "pairs.png", title="negatives")
    with Image.open(path) as picture:
        assert picture.size == (600, 600)
    save_pairs_png(images[:, 0, 0, :2], images[:, 0, 1, :2], tmp_path / "points.png")
    save_pairs_png(images[:, 0, 0, :1], images[:, 0, 1, :1], tmp_path / "line.png")
    with pytest.raises(ValueError, match="one shape"):
        save_pairs_png(images, images[:3], tmp_path / "bad.png")


def test_the_zoo_scores_translations_against_the_second_domain(tmp_path, monkeypatch):
    entry = registry.ModelEntry(
        name="tiny_cyclegan", cls=CycleGAN, family="gan", data_kind="images",
        default_dataset="blobs_rotated", fixture_dataset="blobs_rotated",
        quick_params=MappingProxyType(SMALL),
    )  # fmt: skip
    monkeypatch.setitem(registry._REGISTRY, "tiny_cyclegan", entry)
    rows = run_zoo(["tiny_cyclegan", "gmm"], data="blobs_rotated", quick=True, out=tmp_path,
                   progress=False)  # fmt: skip
    cycle, gmm = rows
    assert cycle["status"] == "ok" and gmm["status"] == "ok", (cycle["status"], gmm["status"])
    assert cycle["likelihood_kind"] is None and cycle["log_density"] is None
    assert 0 <= cycle["precision"] <= 1 and np.isfinite(cycle["mmd"])
    # The floors are each model's own target: domain b for the translation, a for the mixture.
    assert cycle["mmd_floor"] != gmm["mmd_floor"]
    with Image.open(tmp_path / cycle["picture"]) as picture:
        assert picture.size == (600, 600)
    assert (tmp_path / "tiny_cyclegan_history.png").is_file()  # what the monitor measured
    assert not (tmp_path / "gmm_blobs_rotated_history.png").exists()
