"""Known answers for the denoising autoencoder: the chain's samples, no likelihood, checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import genzoo
from genzoo.autoencoder.dae import DenoisingAutoencoder, gdae_chain
from genzoo.base import LikelihoodUnavailable
from genzoo.data import load_digits, make_moons
from genzoo.metrics import mmd

FAST = {"verbose": 0, "random_state": 0}
BANDWIDTH = 0.25


@pytest.fixture(scope="module")
def moons_dae():
    with torch.random.fork_rng():
        torch.set_num_threads(1)
        dae = DenoisingAutoencoder(
            16, hidden=(128, 128), noise_level=0.15, max_steps=3000,
            n_burn_in=100, thinning=5, n_chains=200, **FAST,
        )  # fmt: skip
        return dae.fit(make_moons(2000, random_state=0))


@pytest.fixture(scope="module")
def tiny_image_dae():
    X, _ = load_digits("train")
    return DenoisingAutoencoder(
        4, channels=(4, 8), max_steps=5, n_burn_in=2, thinning=1, n_chains=4, **FAST
    ).fit(X[:64])


# --- known answers


@pytest.mark.cpu_stream("its MMD threshold was measured on CPU random streams")
def test_chain_samples_reach_mmd_halfway_from_a_gaussian_to_real_data(moons_dae):
    """MMD^2 to held-out data below the midpoint of two references of the same size.

    The lower reference is two real samples (MMD^2 ~ 5e-5, the estimator's noise); the upper
    one a Gaussian with the data's mean and covariance (~0.029), the best any unimodal
    sampler can do. The chain must close at least half of that gap (it gets ~0.008).
    """
    held_out = make_moons(1000, random_state=1)
    real = make_moons(1000, random_state=2)
    train = make_moons(2000, random_state=0)
    rng = np.random.default_rng(0)
    gaussian = rng.multivariate_normal(train.mean(0), np.cov(train.T), 1000)
    mmd_real = mmd(held_out, real, bandwidth=BANDWIDTH)
    mmd_gaussian = mmd(held_out, gaussian, bandwidth=BANDWIDTH)
    threshold = mmd_real + 0.5 * (mmd_gaussian - mmd_real)
    samples = moons_dae.sample(1000, random_state=0)
    assert mmd(held_out, samples, bandwidth=BANDWIDTH) < threshold


def test_chain_keeps_every_thinning_th_state_after_burn_in():
    visits = []

    def corrupt(x, gen):
        return x

    def reconstruct(x, gen):
        return x + 1, x + 1  # the state counts the steps

    draws, means = gdae_chain(
        corrupt, reconstruct, torch.zeros(3, 2), n_burn_in=4, thinning=3, n_keep=3,
        gen=torch.Generator(), callback=lambda step, x: visits.append(step),
    )  # fmt: skip
    assert draws.shape == (3, 3, 2)
    np.testing.assert_array_equal(draws[:, 0, 0], [5, 8, 11])
    assert visits == list(range(1, 12))
    torch.testing.assert_close(draws, means)


def test_chain_is_reproducible_with_random_state(moons_dae):
    a = moons_dae.sample(50, random_state=3)
    np.testing.assert_array_equal(a, moons_dae.sample(50, random_state=3))
    assert not np.array_equal(a, moons_dae.sample(50, random_state=4))
    np.testing.assert_array_equal(moons_dae.sample(7), moons_dae.sample(7))  # the model's seed


def test_log_prob_raises_with_the_reason(moons_dae):
    assert DenoisingAutoencoder.likelihood_kind is None
    with pytest.raises(LikelihoodUnavailable, match="Markov chain"):
        moons_dae.log_prob(make_moons(3))
    with pytest.raises(LikelihoodUnavailable, match="Markov chain"):
        moons_dae.score(make_moons(3))


def test_reconstruction_removes_the_corruption(moons_dae):
    X = make_moons(500, random_state=3)
    noisy = X + 0.15 * np.random.default_rng(0).standard_normal(X.shape) * X.std()
    clean = moons_dae.reconstruct(noisy)
    assert ((clean - X) ** 2).mean() < ((noisy - X) ** 2).mean()


# --- options


@pytest.mark.parametrize("corruption,noise_level", [("gaussian", 0.5), ("mask", 0.25)])
@pytest.mark.parametrize("likelihood", ["gaussian", "bernoulli"])
def test_corruption_and_likelihood_options(corruption, noise_level, likelihood):
    X, _ = load_digits("train")
    dae = DenoisingAutoencoder(
        4, hidden=(16,), network="mlp", corruption=corruption, noise_level=noise_level,
        likelihood=likelihood, max_steps=10, n_burn_in=2, thinning=2, n_chains=3, **FAST,
    ).fit(X[:64])  # fmt: skip
    assert dae.likelihood_ == likelihood
    samples = dae.sample(7, random_state=0)
    assert samples.shape == (7, 1, 8, 8) and np.isfinite(samples).all()
    draws = dae.set_params(sample_noise=True).sample(7, random_state=0)
    if likelihood == "bernoulli":
        assert np.isin(draws, (0.0, 1.0)).all()
        assert ((samples > 0) & (samples < 1)).all()  # means: pixel probabilities


def test_mask_noise_level_must_be_a_probability():
    with pytest.raises(ValueError, match="below 1"):
        DenoisingAutoencoder(corruption="mask", noise_level=1.0, **FAST).fit(np.zeros((10, 2)))
    with pytest.raises(ValueError, match="corruption"):
        DenoisingAutoencoder(corruption="salt", **FAST).fit(np.zeros((10, 2)))


# --- bad input


def test_images_of_the_wrong_size_or_channels_are_refused(tiny_image_dae):
    for bad in (np.zeros((3, 1, 7, 8)), np.zeros((3, 2, 8, 8)), np.zeros((3, 64))):
        with pytest.raises(ValueError, match="X has"):
            tiny_image_dae.encode(bad)
        with pytest.raises(ValueError, match="X has"):
            tiny_image_dae.reconstruct(bad)
    with pytest.raises(ValueError, match="H must be"):
        tiny_image_dae.decode(np.zeros((3, 5)))


def test_encode_decode_shapes(tiny_image_dae):
    X, _ = load_digits("test")
    H = tiny_image_dae.encode(X[:5])
    assert H.shape == (5, 4)
    np.testing.assert_allclose(tiny_image_dae.reconstruct(X[:5]), tiny_image_dae.decode(H))
    assert tiny_image_dae.sample(3).shape == (3, 1, 8, 8)


def test_save_load_round_trip(tiny_image_dae, tmp_path):
    tiny_image_dae.save(tmp_path / "dae")
    loaded = genzoo.load(tmp_path / "dae")
    assert isinstance(loaded, DenoisingAutoencoder)
    X, _ = load_digits("test")
    np.testing.assert_array_equal(loaded.sample(5, random_state=1),
                                  tiny_image_dae.sample(5, random_state=1))  # fmt: skip
    np.testing.assert_array_equal(loaded.encode(X[:4]), tiny_image_dae.encode(X[:4]))


def test_a_chain_too_long_for_one_call_is_refused():
    X = np.random.default_rng(0).normal(size=(40, 2))
    dae = DenoisingAutoencoder(2, hidden=(8,), max_steps=2, n_chains=1, thinning=10, verbose=0)
    with pytest.raises(ValueError, match="would run the chains for .* raise n_chains"):
        dae.fit(X).sample(200_000)
