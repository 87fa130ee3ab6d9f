"""Known answers for the VAE: sample quality, the importance-weighted bound, conditioning."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from genzoo.autoencoder import VAE
from genzoo.data import load_digits, make_moons
from genzoo.metrics import mmd

FAST = {"verbose": 0, "random_state": 0}


@pytest.fixture(scope="module")
def moons_vae():
    with torch.random.fork_rng():
        torch.set_num_threads(1)
        X = make_moons(2000, random_state=0)
        # beta=0.5 keeps the latent code in use on 2-D data (no posterior collapse)
        vae = VAE(latent_dim=2, hidden=(64, 64), beta=0.5, max_steps=1000, **FAST)
        return vae.fit(X)


@pytest.fixture(scope="module")
def digits_cvae():
    with torch.random.fork_rng():
        torch.set_num_threads(1)
        X, y = load_digits("train")
        vae = VAE(
            latent_dim=8,
            conditional=True,
            likelihood="bernoulli",
            channels=(16, 32),
            max_steps=1500,
            **FAST,
        )
        return vae.fit(X, y)


# --- known answers


@pytest.mark.cpu_stream("its MMD threshold was measured on CPU random streams")
def test_moons_samples_close_most_of_the_gap_to_real_data():
    # KL warm-up: without it the code describes one coordinate only (MMD 0.019 here).
    with torch.random.fork_rng():
        vae = VAE(
            latent_dim=2, hidden=(128, 128), max_steps=4000, kl_warmup_steps=1500,
            learning_rate=3e-3, **FAST,
        ).fit(make_moons(2000, random_state=0))  # fmt: skip
    n, bandwidth = 1000, 0.25  # a kernel narrower than the arcs' width sees their shape
    held_out = make_moons(n, random_state=1)
    reference = np.mean(
        [mmd(held_out, make_moons(n, random_state=s), bandwidth=bandwidth) for s in (2, 3, 4)]
    )
    train = make_moons(2000, random_state=0)
    gaussian = np.random.default_rng(0).multivariate_normal(train.mean(0), np.cov(train.T), n)
    baseline = mmd(held_out, gaussian, bandwidth=bandwidth)  # knows only two moments
    score = mmd(held_out, vae.sample(n, random_state=0), bandwidth=bandwidth)
    # The threshold: at least half the way from a moment-matched Gaussian to real data; the
    # real-vs-real reference (about 1e-4, scatter 3e-4 at n=1000) is far below it.
    assert score < reference + 0.5 * (baseline - reference)


def test_iwae_bound_is_above_the_elbo_and_grows_with_importance_samples(moons_vae):
    X = make_moons(300, random_state=5)
    model = moons_vae
    bounds = {}
    for K in (1, 8, 128):
        twin = VAE(**{**model.get_params(), "n_importance": K})
        twin.__dict__.update({k: v for k, v in vars(model).items() if k.endswith("_")})
        bounds[K] = twin.log_prob(X)
        elbo = twin.elbo(X)
        assert (bounds[K] >= elbo - 1e-12).all()  # Jensen, row by row: same log-weights
    np.testing.assert_allclose(bounds[1], twin.set_params(n_importance=1).elbo(X))
    means = [bounds[K].mean() for K in (1, 8, 128)]
    assert means[0] < means[1] < means[2]


def test_conditional_samples_have_the_requested_digit(digits_cvae):
    X, y = load_digits("train", flatten=True)
    classifier = LogisticRegression(max_iter=2000).fit(X, y)
    labels = np.repeat(np.arange(10), 30)
    samples = digits_cvae.sample(len(labels), y=labels, random_state=0)
    assert samples.shape == (len(labels), 1, 8, 8)
    accuracy = (classifier.predict(samples.reshape(len(labels), 64)) == labels).mean()
    assert accuracy >= 0.8, accuracy


def test_conditional_vae_survives_save_and_load(digits_cvae, tmp_path):
    import genzoo

    X, y = load_digits("test")
    digits_cvae.save(tmp_path / "cvae")
    loaded = genzoo.load(tmp_path / "cvae")
    assert loaded.conditional and np.array_equal(loaded.classes_, digits_cvae.classes_)
    labels = np.repeat(np.arange(10), 3)
    np.testing.assert_array_equal(
        loaded.sample(len(labels), y=labels, random_state=1),
        digits_cvae.sample(len(labels), y=labels, random_state=1),
    )
    np.testing.assert_allclose(
        loaded.log_prob(X[:20], y[:20]), digits_cvae.log_prob(X[:20], y[:20])
    )
    np.testing.assert_array_equal(loaded.encode(X[:5], y[:5]), digits_cvae.encode(X[:5], y[:5]))


# --- bad input


@pytest.fixture(scope="module")
def tiny_image_vae():
    X, _ = load_digits("train")
    return VAE(latent_dim=2, channels=(4, 8), max_steps=5, n_importance=2, **FAST).fit(X[:64])


def test_images_of_the_wrong_size_or_channels_are_refused(tiny_image_vae):
    for bad in (np.zeros((3, 1, 7, 8)), np.zeros((3, 2, 8, 8)), np.zeros((3, 64))):
        with pytest.raises(ValueError, match="X has"):
            tiny_image_vae.log_prob(bad)
        with pytest.raises(ValueError, match="X has"):
            tiny_image_vae.encode(bad)


def test_negative_beta_and_unseen_labels_are_refused(digits_cvae):
    X, y = load_digits("train")
    with pytest.raises(ValueError, match="beta"):
        VAE(beta=-0.5, **FAST).fit(X[:20])
    with pytest.raises(ValueError, match="unseen"):
        digits_cvae.sample(2, y=[11, 11])
    with pytest.raises(ValueError, match="unseen"):
        digits_cvae.log_prob(X[:2], y=[3, 42])
    with pytest.raises(ValueError, match="requires y"):
        digits_cvae.encode(X[:2])


def test_bernoulli_needs_unit_interval_and_conv_needs_images():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        VAE(likelihood="bernoulli", **FAST).fit(np.full((10, 3), 2.0))
    with pytest.raises(ValueError, match="network='conv'"):
        VAE(network="conv", **FAST).fit(np.zeros((10, 3)))


def test_encode_decode_interpolate_shapes(tiny_image_vae):
    X, _ = load_digits("test")
    Z = tiny_image_vae.encode(X[:5])
    assert Z.shape == (5, 2)
    assert tiny_image_vae.reconstruct(X[:5]).shape == (5, 1, 8, 8)
    path = tiny_image_vae.interpolate(X[0], X[1], n_steps=4)
    # float32 networks: a batch of 4 and one of 2 may round differently (about 1e-7)
    np.testing.assert_allclose(path[[0, -1]], tiny_image_vae.reconstruct(X[:2]), atol=1e-6)
