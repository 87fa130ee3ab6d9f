"""Known answers for the image metrics and their shipped feature nets."""

import math

import numpy as np
import pytest
import scipy.linalg
import torch

import genzoo.metrics.feature_nets as feature_nets
import genzoo.metrics.image_quality as image_quality_module
from genzoo.data.dataset import _mnist_folder
from genzoo.data.digits import load_digits
from genzoo.data.loaders import DatasetNotFound, load_mnist
from genzoo.metrics.feature_nets import (
    feature_net_info,
    feature_net_names,
    image_features,
    predict_digits,
    save_feature_net,
)
from genzoo.metrics.image_quality import (
    density_coverage,
    feature_quality,
    feature_quality_floor,
    frechet_distance,
    image_quality,
    image_quality_floor,
    precision_recall,
)


def _mnist_or_skip():
    try:
        return _mnist_folder()
    except DatasetNotFound as err:
        pytest.skip(f"MNIST not available: {err}")


def _same_build_or_skip(net: str) -> None:
    """Bits are reproducible on the PyTorch version and CPU type the shipped file was made on."""
    info = feature_net_info(net)
    here = (torch.__version__, torch.backends.cpu.get_cpu_capability())
    if (info["torch"], info["cpu_capability"]) != here:
        pytest.skip(
            f"{net} was trained with {info['torch']} on {info['cpu_capability']}, not {here}"
        )


# --- frechet_distance


def test_frechet_distance_equals_closed_form_of_sample_moments():
    rng = np.random.default_rng(0)
    d = 4
    L_a, L_b = rng.normal(size=(2, d, d))
    A = rng.normal(size=(300, d)) @ L_a.T + 1.0
    B = rng.normal(size=(200, d)) @ L_b.T - 0.5
    mu_a, mu_b = A.mean(axis=0), B.mean(axis=0)
    S_a, S_b = np.cov(A, rowvar=False), np.cov(B, rowvar=False)
    cross = scipy.linalg.sqrtm(S_a @ S_b).real
    expected = np.sum((mu_a - mu_b) ** 2) + np.trace(S_a + S_b - 2.0 * cross)
    assert frechet_distance(A, B) == pytest.approx(expected, rel=1e-9)
    assert frechet_distance(B, A) == pytest.approx(expected, rel=1e-9)


def _with_moments(mu: np.ndarray, s: np.ndarray, n: int, rng) -> np.ndarray:
    """n rows whose sample mean is exactly mu and sample covariance exactly diag(s^2)."""
    Z = rng.normal(size=(n, len(mu)))
    Q, _ = np.linalg.qr(Z - Z.mean(axis=0))  # orthonormal columns, each summing to 0
    return mu + Q * s * math.sqrt(n - 1)


def test_frechet_distance_with_diagonal_covariances_is_a_sum_of_1d_distances():
    rng = np.random.default_rng(1)
    mu_a, mu_b = rng.normal(size=(2, 5))
    s_a, s_b = rng.uniform(0.2, 3.0, size=(2, 5))
    A, B = _with_moments(mu_a, s_a, 400, rng), _with_moments(mu_b, s_b, 250, rng)
    # For diagonal covariances Tr (S_a S_b)^1/2 = sum s_a s_b: each axis adds its 1-D W_2^2.
    expected = np.sum((mu_a - mu_b) ** 2) + np.sum((s_a - s_b) ** 2)
    assert frechet_distance(A, B) == pytest.approx(expected, rel=1e-10)


def test_frechet_distance_of_identical_sets_is_zero_even_when_singular():
    rng = np.random.default_rng(2)
    A = rng.normal(size=(200, 8)) * 10.0 + 100.0
    assert frechet_distance(A, A) == pytest.approx(0.0, abs=1e-8)
    # Fewer rows than features and dead (constant zero) features, like unused ReLU units:
    # singular covariances must give a finite, non-negative value.
    S = np.hstack([rng.normal(size=(5, 20)), np.zeros((5, 3))])
    T = np.hstack([rng.normal(size=(7, 20)), np.zeros((7, 3))])
    assert frechet_distance(S, S) == pytest.approx(0.0, abs=1e-9)
    value = frechet_distance(S, T)
    assert math.isfinite(value) and value > 0.0


# --- precision_recall and density_coverage


def test_precision_recall_of_a_set_against_itself_and_a_far_copy():
    X = np.random.default_rng(3).normal(size=(300, 4))
    assert precision_recall(X, X) == (1.0, 1.0)
    assert precision_recall(X, X + 100.0) == (0.0, 0.0)
    assert density_coverage(X, X + 100.0) == (0.0, 0.0)
    assert density_coverage(X, X)[1] == 1.0


def _modes(n_per_mode: int, modes, rng) -> np.ndarray:
    """Unit Gaussians around well separated centres on a circle of radius 50."""
    angles = 2.0 * np.pi * np.asarray(modes) / 10.0
    centres = 50.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1)  # 31 apart or more
    return np.concatenate([c + rng.normal(size=(n_per_mode, 2)) for c in centres])


def test_samples_of_half_the_modes_have_high_precision_and_half_the_recall():
    rng = np.random.default_rng(4)
    real, fake = _modes(200, range(10), rng), _modes(200, range(5), rng)
    precision, recall = precision_recall(real, fake)
    # Real points of the missing modes lie 30 standard deviations from any sample, so recall
    # is at most 1/2; within a covered mode nearly every point is inside a sample's ball.
    assert precision > 0.9
    assert 0.42 < recall <= 0.5
    density, coverage = density_coverage(real, fake)
    assert 0.42 < coverage <= 0.5
    assert density == pytest.approx(1.0, abs=0.1)


def test_density_coverage_and_precision_recall_on_a_handmade_example():
    real = np.array([[0.0], [1.0], [3.0], [7.0]])
    fake = np.array([[0.5], [0.8], [6.5], [20.0]])
    # k=1 real balls: [-1, 1], [0, 2], [1, 5], [3, 11]; they hold 0.5 and 0.8 twice each, 6.5
    # once and 20 never, and every ball but the one around 3 holds a sample.
    assert density_coverage(real, fake, k=1) == pytest.approx((5 / 4, 3 / 4), abs=1e-12)
    # k=2 real balls: [-3, 3], [-1, 3], [0, 6], [1, 13]: 3 + 3 + 1 + 0 hits over k M = 8.
    assert density_coverage(real, fake, k=2) == pytest.approx((7 / 8, 1.0), abs=1e-12)
    # k=1 sample balls: [0.2, 0.8], [0.5, 1.1], [0.8, 12.2], [6.5, 33.5] miss only the real 0.
    assert precision_recall(real, fake, k=1) == pytest.approx((3 / 4, 3 / 4), abs=1e-12)


def test_blocked_distances_give_the_same_answers(monkeypatch):
    rng = np.random.default_rng(5)
    real, fake = rng.normal(size=(60, 3)), rng.normal(0.5, 1.0, size=(45, 3))
    whole = (precision_recall(real, fake), density_coverage(real, fake))
    monkeypatch.setattr(image_quality_module, "_BLOCK_ENTRIES", 7 * 60)  # blocks of 7 rows
    assert (precision_recall(real, fake), density_coverage(real, fake)) == whole


def test_subsampling_is_seeded_and_a_no_op_on_small_inputs():
    rng = np.random.default_rng(6)
    real, fake = rng.normal(size=(2, 80, 3))
    kwargs = {"max_samples": 40, "random_state": 7}
    assert precision_recall(real, fake, **kwargs) == precision_recall(real, fake, **kwargs)
    assert density_coverage(real, fake, max_samples=80) == density_coverage(real, fake)
    assert feature_quality(fake, real, **kwargs) == feature_quality(fake, real, **kwargs)


# --- the shipped feature nets


def test_digits8_classifies_the_digits_test_split():
    X, y = load_digits("test")
    accuracy = float(np.mean(predict_digits(X) == y))
    assert accuracy >= 0.95
    assert accuracy == pytest.approx(feature_net_info("digits8")["accuracy"], abs=1.5 / len(y))
    features = image_features(X.reshape(len(X), 64))
    assert features.shape == (len(X), 64) and features.dtype == np.float64
    assert np.array_equal(features, image_features(torch.as_tensor(X), "digits8"))
    assert np.allclose(features, image_features(X, batch_size=7), atol=1e-5)


def test_mnist28_classifies_its_held_out_images():
    X, y = load_mnist(_mnist_or_skip())
    info = feature_net_info("mnist28")
    X_test, y_test = X[info["n_train"] :], y[info["n_train"] :]
    assert len(y_test) == 2000
    assert float(np.mean(predict_digits(X_test) == y_test)) >= 0.97
    assert image_features(X_test[:10]).shape == (10, 128)


def test_weight_files_are_small_and_record_their_training():
    for net in feature_net_names():
        assert (feature_nets.WEIGHTS_DIR / f"{net}.safetensors").stat().st_size <= 1_000_000
        info = feature_net_info(net)
        assert info["net"] == net and info["seed"] == 0


def _assert_regenerates(net: str, folder, X_test, y_test, **kwargs) -> None:
    """The training script remakes the shipped file: byte for byte where this machine's
    kernels are those the file was made with; elsewhere (another CPU rounds its sums in
    another order, and 900 steps of training carry the difference) a net as accurate as the
    shipped one that classifies the held-out images as it does, made by a script that is
    deterministic here."""
    path, record = save_feature_net(net, folder / "a", **kwargs)
    shipped = (feature_nets.WEIGHTS_DIR / f"{net}.safetensors").read_bytes()
    if path.read_bytes() == shipped:
        return
    info = feature_net_info(net)
    assert abs(record["accuracy"] - info["accuracy"]) <= 0.01
    images, _ = feature_nets._check_images(X_test, net)
    with torch.no_grad():
        ours = feature_nets._read_net(net, path)(images).argmax(1).numpy()
    assert np.mean(ours == predict_digits(X_test, net)) >= 0.97
    assert np.mean(ours == y_test) >= info["accuracy"] - 0.01
    if net == "digits8":  # cheap enough to make twice
        again, _ = save_feature_net(net, folder / "b", **kwargs)
        assert again.read_bytes() == path.read_bytes()


def test_regenerating_digits8_gives_the_shipped_net(tmp_path):
    _same_build_or_skip("digits8")
    X, y = load_digits("test")
    _assert_regenerates("digits8", tmp_path, X, y)


@pytest.mark.slow
def test_regenerating_mnist28_gives_the_shipped_net(tmp_path):
    folder = _mnist_or_skip()
    _same_build_or_skip("mnist28")
    X, y = load_mnist(folder)
    n_train = feature_net_info("mnist28")["n_train"]
    _assert_regenerates("mnist28", tmp_path, X[n_train:], y[n_train:], mnist_folder=folder)


def test_training_leaves_global_settings_and_random_state_alone(tmp_path):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    threads = torch.get_num_threads()
    save_feature_net("digits8", tmp_path, max_steps=2)
    assert torch.get_num_threads() == threads
    assert not torch.are_deterministic_algorithms_enabled()
    assert torch.equal(torch.rand(3), expected)


# --- image_quality


def test_real_digits_halves_are_far_closer_than_digits_and_noise():
    X, _ = load_digits("test")
    floor = image_quality_floor(X)
    noise = image_quality(np.random.default_rng(8).uniform(size=X.shape), X)
    assert floor["fid"] < 0.1 * noise["fid"]
    assert min(floor["precision"], floor["recall"], floor["coverage"]) > 0.8
    assert noise["precision"] < 0.5 and noise["recall"] < 0.5 and noise["coverage"] < 0.5


def test_image_quality_equals_feature_quality_of_the_images_features():
    X_train, _ = load_digits("train")
    X_test, _ = load_digits("test")
    kwargs = {"random_state": 3, "max_samples": 300}
    expected = feature_quality(image_features(X_train), image_features(X_test), **kwargs)
    assert image_quality(X_train, X_test, **kwargs) == pytest.approx(expected, rel=1e-6)
    expected = feature_quality_floor(image_features(X_train), **kwargs)
    assert image_quality_floor(X_train, **kwargs) == pytest.approx(expected, rel=1e-6)


# --- bad input


@pytest.mark.parametrize(
    ("real", "fake", "k", "match"),
    [
        (np.ones(10), np.ones((10, 2)), 3, "real_features must be a 2-D array"),
        (np.ones((10, 2)), np.ones((10, 3)), 3, "fake_features has 3 features"),
        (np.full((10, 2), np.nan), np.ones((10, 2)), 3, "real_features contains NaN"),
        (np.ones((3, 2)), np.ones((10, 2)), 3, "real_features needs at least 4 samples"),
        (np.ones((10, 2)), np.ones((10, 2)), 0, "k must be an int >= 1"),
        (np.ones((0, 2)), np.ones((10, 2)), 3, "real_features is empty"),
    ],
)
def test_feature_metrics_reject_bad_input(real, fake, k, match):
    with pytest.raises(ValueError, match=match):
        precision_recall(real, fake, k=k)


def test_frechet_distance_rejects_bad_input():
    with pytest.raises(ValueError, match="features_b needs at least 2 samples"):
        frechet_distance(np.ones((5, 2)), np.ones((1, 2)))
    with pytest.raises(ValueError, match="features_a contains NaN or infinity"):
        frechet_distance(np.array([[np.inf, 0.0], [0.0, 0.0]]), np.ones((5, 2)))


@pytest.mark.parametrize(
    ("images", "net", "match"),
    [
        (np.zeros((4, 1, 10, 10)), None, r"images must be grey images of shape .*\(4, 1, 10, 10\)"),
        (np.zeros((4, 3, 8, 8)), None, "images must be grey images of shape"),
        (np.zeros((4, 1, 8, 8)), "mnist28", "net 'mnist28' reads 28x28 images"),
        (np.zeros((4, 64)), "cifar", "net must be one of"),
        (np.full((4, 64), np.nan), None, "images contains NaN or infinity"),
        (np.zeros((0, 1, 8, 8)), None, "images is empty"),
    ],
)
def test_image_features_rejects_bad_input(images, net, match):
    with pytest.raises(ValueError, match=match):
        image_features(images, net)


def test_image_quality_rejects_images_of_two_sizes():
    with pytest.raises(ValueError, match="net 'digits8' reads 8x8 images, but real has shape"):
        image_quality(np.zeros((20, 64)), np.zeros((20, 784)))
    with pytest.raises(ValueError, match="real needs at least 12 samples"):
        image_quality_floor(np.zeros((11, 64)))


def test_missing_weights_name_the_script_that_regenerates_them(monkeypatch, tmp_path):
    monkeypatch.setattr(feature_nets, "WEIGHTS_DIR", tmp_path)
    feature_nets._load_net.cache_clear()
    with pytest.raises(FileNotFoundError, match="scripts/train_feature_nets.py --net digits8"):
        image_features(np.zeros((2, 64)))
    feature_nets._load_net.cache_clear()
