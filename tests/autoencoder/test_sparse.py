"""Known answers for the sparse autoencoder: its mean activation, its code density, its I/O."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.base import clone

import genzoo
from genzoo.autoencoder.sparse import SparseAutoencoder, kl_sparsity
from genzoo.base import LikelihoodUnavailable
from genzoo.data import load_digits
from genzoo.mixture import GaussianMixture

FAST = {"verbose": 0, "random_state": 0}


@pytest.fixture(scope="module")
def digits_kl():
    with torch.random.fork_rng():
        torch.set_num_threads(1)
        X, _ = load_digits("train")
        ae = SparseAutoencoder(32, channels=(16, 32), target_rate=0.05, max_steps=300, **FAST)
        return ae.fit(X)


@pytest.fixture(scope="module")
def tiny():
    X, _ = load_digits("train")
    density = genzoo.make("gmm", n_components=3, covariance_type="diag", reg_covar=1e-3)
    ae = SparseAutoencoder(4, channels=(4, 8), max_steps=5, code_density=density, **FAST)
    return ae.fit(X[:64])


# --- known answers


def test_kl_sparsity_holds_the_mean_activation_within_20_percent_of_its_target(digits_kl):
    X, _ = load_digits("test")
    assert abs(digits_kl.mean_activation_ - 0.05) <= 0.2 * 0.05, digits_kl.mean_activation_
    held_out = digits_kl.encode(X).mean()
    assert abs(held_out - 0.05) <= 0.2 * 0.05, held_out
    codes = digits_kl.encode(X)
    assert codes.shape == (len(X), 32) and ((codes > 0) & (codes < 1)).all()


def test_kl_penalty_is_zero_at_the_target_rate_and_positive_elsewhere():
    h = torch.full((10, 3), 0.05)
    assert kl_sparsity(h, 0.05).abs() < 1e-6
    assert kl_sparsity(torch.full((10, 3), 0.2), 0.05) > 0


def test_l1_sparsity_lowers_the_activations():
    X, _ = load_digits("train")
    common = {"n_hidden": 16, "channels": (8, 16), "max_steps": 150, **FAST}
    free = SparseAutoencoder(sparsity="l1", sparsity_weight=0.0, **common).fit(X[:400])
    sparse = SparseAutoencoder(sparsity="l1", sparsity_weight=10.0, **common).fit(X[:400])
    assert sparse.mean_activation_ < 0.5 * free.mean_activation_


def test_samples_are_decoded_codes_from_the_code_density(digits_kl):
    density = digits_kl.code_density_
    assert isinstance(density, GaussianMixture) and density.n_components == 10
    assert digits_kl.code_density is None  # the constructor argument is left alone
    samples = digits_kl.sample(50, random_state=3)
    assert samples.shape == (50, 1, 8, 8) and np.isfinite(samples).all()
    codes = np.clip(density.sample(50, random_state=7), 0.0, 1.0)
    assert digits_kl.decode(codes).shape == (50, 1, 8, 8)


# --- the likelihood and the code density


def test_log_prob_raises_likelihood_unavailable_with_a_reason(tiny):
    X, _ = load_digits("test")
    for method in (tiny.log_prob, tiny.score):
        with pytest.raises(LikelihoodUnavailable, match="decoder is deterministic"):
            method(X[:3])
    assert SparseAutoencoder.likelihood_kind is None


def test_a_custom_code_density_is_cloned_and_used(tiny):
    assert tiny.code_density_.n_components == 3
    assert tiny.code_density_ is not tiny.code_density
    assert tiny.code_density_.means_.shape == (3, 4)
    assert not hasattr(tiny.code_density, "means_")  # the given estimator stays unfitted


def test_a_code_density_without_a_likelihood_is_refused():
    X, _ = load_digits("train")
    for bad, match in ((SparseAutoencoder(), "no likelihood"), ("gmm", "genzoo model")):
        with pytest.raises(ValueError, match=match):
            SparseAutoencoder(4, max_steps=2, code_density=bad, **FAST).fit(X[:20])


# --- bad input, reproducibility, save and load


def test_images_of_the_wrong_size_or_channels_are_refused(tiny):
    for bad in (np.zeros((3, 1, 7, 8)), np.zeros((3, 2, 8, 8)), np.zeros((3, 64))):
        with pytest.raises(ValueError, match="X has"):
            tiny.encode(bad)
        with pytest.raises(ValueError, match="X has"):
            tiny.reconstruct(bad)
    with pytest.raises(ValueError, match="H must be"):
        tiny.decode(np.zeros((2, 5)))


def test_bad_parameters_are_refused():
    X, _ = load_digits("train")
    for params, match in (
        ({"target_rate": 1.0}, "target_rate"),
        ({"sparsity": "l2"}, "sparsity"),
        ({"sparsity_weight": -1.0}, "sparsity_weight"),
    ):
        with pytest.raises(ValueError, match=match):
            SparseAutoencoder(**params, **FAST).fit(X[:20])


def test_samples_are_reproducible_with_random_state(tiny):
    X, _ = load_digits("train")
    np.testing.assert_array_equal(tiny.sample(6, random_state=1), tiny.sample(6, random_state=1))
    assert not np.array_equal(tiny.sample(6, random_state=1), tiny.sample(6, random_state=2))
    again = clone(tiny).fit(X[:64])
    np.testing.assert_array_equal(tiny.sample(6), again.sample(6))


def test_save_load_round_trip_keeps_the_code_density(tiny, tmp_path):
    X, _ = load_digits("test")
    tiny.save(tmp_path / "sae.safetensors")
    loaded = genzoo.load(tmp_path / "sae.safetensors")
    assert isinstance(loaded, SparseAutoencoder)
    assert loaded.code_density_.n_components == 3
    np.testing.assert_array_equal(loaded.sample(8, random_state=4), tiny.sample(8, random_state=4))
    np.testing.assert_array_equal(loaded.encode(X[:5]), tiny.encode(X[:5]))
    np.testing.assert_allclose(
        loaded.code_density_.log_prob(tiny.encode(X[:5])),
        tiny.code_density_.log_prob(tiny.encode(X[:5])),
    )
