"""GAN and conditional GAN: known answers, planted divergence, diagnostics, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

import genzoo
from genzoo import GAN, ConditionalGAN, TrainingDiverged
from genzoo.data import load, make_eight_gaussians
from genzoo.gan._losses import discriminator_loss, generator_loss, gradient_penalty, r1_penalty
from genzoo.gan.gan import lost_for, separation

ANGLES = np.arange(8) * np.pi / 4
CENTRES = 2.0 * np.stack([np.cos(ANGLES), np.sin(ANGLES)], axis=1)
NOISE = 0.15  # make_eight_gaussians' standard deviation per mode


# --- losses and diagnostics, against closed forms


class _Linear(torch.nn.Module):
    def __init__(self, w):
        super().__init__()
        self.w = torch.nn.Parameter(torch.as_tensor(w, dtype=torch.float64))

    def forward(self, x, y=None):
        return x.flatten(1) @ self.w


def test_penalties_of_a_linear_critic_equal_its_weight_norm():
    gen = torch.Generator().manual_seed(0)
    real, fake = torch.randn(2, 50, 3, generator=gen, dtype=torch.float64)
    unit = _Linear([0.6, 0.8, 0.0])  # ||w|| = 1: no gradient penalty
    assert float(gradient_penalty(unit, real, fake, None, gen)) == pytest.approx(0.0, abs=1e-12)
    critic = _Linear([1.0, 2.0, 2.0])  # ||w|| = 3
    assert float(gradient_penalty(critic, real, fake, None, gen)) == pytest.approx(4.0)
    assert float(r1_penalty(critic, real, None)) == pytest.approx(9.0)


def test_losses_at_known_scores():
    real, fake = torch.tensor([0.0, 2.0]), torch.tensor([0.0, -2.0])
    log2 = np.log(2)
    sp2 = np.log1p(np.exp(-2.0))  # softplus(-2)
    assert float(discriminator_loss("non_saturating", real, fake)) == pytest.approx(
        2 * (log2 + sp2) / 2
    )
    assert float(generator_loss("non_saturating", fake)) == pytest.approx(
        (log2 + np.log1p(np.exp(2.0))) / 2
    )
    assert float(discriminator_loss("hinge", real, fake)) == pytest.approx((1 + 0 + 1 + 0) / 2)
    assert float(discriminator_loss("wgan_gp", real, fake)) == pytest.approx(-1.0 - 1.0)
    assert float(discriminator_loss("least_squares", real, fake)) == pytest.approx(1.0 + 2.0)
    with pytest.raises(ValueError, match="unknown adversarial loss"):
        discriminator_loss("nope", real, fake)


def test_separation_is_the_auc():
    rng = np.random.default_rng(0)
    real, fake = rng.normal(1, 1, 300), np.round(rng.normal(0, 1, 200), 1)  # with ties
    labels = np.r_[np.ones(300), np.zeros(200)]
    expected = roc_auc_score(labels, np.r_[real, fake])
    assert separation(torch.tensor(real), torch.tensor(fake)) == pytest.approx(expected)


def test_divergence_needs_a_streak_after_warm_up():
    lost = {"step": [100.0, 300.0, 400.0, 500.0], "d_auc": [1.0] * 4, "recall": [0.0] * 4}
    assert lost_for(lost, 3) is not None and "recall 0.000" in lost_for(lost, 3)
    assert lost_for(lost, 4) is None  # the streak began before the warm-up was over
    healthy = {**lost, "recall": [0.0, 0.0, 0.5, 0.0]}
    assert lost_for(healthy, 3) is None


# --- known answers


def _mode_shares(samples: np.ndarray) -> tuple[np.ndarray, float]:
    distances = np.linalg.norm(samples[:, None] - CENTRES[None], axis=2)  # (n, 8)
    close = distances.min(1) < 3 * NOISE
    shares = np.bincount(distances.argmin(1)[close], minlength=8) / len(samples)
    return shares, close.mean()


def test_gan_covers_every_mode_of_eight_gaussians():
    X = make_eight_gaussians(2000, random_state=0)
    gan = GAN(latent_dim=2, hidden=(128, 128), batch_size=256, max_steps=3000,
              learning_rate=1e-3, ema_decay=0.99, verbose=0, random_state=0).fit(X)  # fmt: skip
    shares, close = _mode_shares(gan.sample(4000, random_state=1))
    assert shares.min() >= 0.05, shares
    assert close >= 0.90
    history = gan.history_
    assert history["step"] == [300.0 * k for k in range(1, 11)]
    assert history["recall"][-1] > 0.5 and np.isfinite(history["mmd"]).all()


def test_conditional_samples_are_read_as_their_class():
    from genzoo.metrics.feature_nets import predict_digits

    digits = load("digits")
    cgan = ConditionalGAN(channels=(32, 64), max_steps=600, learning_rate=5e-4,
                          ema_decay=0.99, verbose=0, random_state=0)  # fmt: skip
    cgan.fit(digits.X_train, digits.y_train)
    y = np.repeat(np.arange(10), 30)
    samples = cgan.sample(300, y=y, random_state=1)
    assert samples.min() >= 0 and samples.max() <= 1  # the tanh range, back in pixel units
    accuracy = np.mean(predict_digits(samples) == y)
    assert accuracy >= 0.8, accuracy
    assert set(cgan.history_) == {"step", "precision", "recall", "fid", "d_auc"}


def test_planted_divergence_is_reported_not_returned():
    X = make_eight_gaussians(500, random_state=0)
    gan = GAN(latent_dim=2, hidden=(32, 32), learning_rate=10.0, max_steps=1000,
              monitor_every=50, verbose=0, random_state=0)  # fmt: skip
    with pytest.raises(TrainingDiverged, match=r"at step \d+"):
        gan.fit(X)
    assert not hasattr(gan, "generator_state_")  # nothing half-fitted is left


def test_resume_from_a_checkpoint_is_exact(tmp_path):
    X = make_eight_gaussians(300, random_state=0)
    params = {"latent_dim": 2, "hidden": (16, 16), "max_steps": 40, "monitor_every": 10,
              "verbose": 0, "random_state": 0}  # fmt: skip
    whole = GAN(**params).fit(X)
    GAN(**{**params, "max_steps": 25}, checkpoint_dir=tmp_path).fit(X)
    resumed = GAN(**params, checkpoint_dir=tmp_path).fit(X)
    for name in ("generator_state_", "discriminator_state_"):
        for key, value in getattr(whole, name).items():
            assert torch.equal(value, getattr(resumed, name)[key]), key
    assert resumed.loss_curves_["generator"] == whole.loss_curves_["generator"]


# --- bad input and the missing likelihood


def test_bad_arguments_are_named():
    X = make_eight_gaussians(100, random_state=0)
    with pytest.raises(ValueError, match="n_critic"):
        GAN(n_critic=0, verbose=0).fit(X)
    with pytest.raises(ValueError, match="n_critic=5 exceeds max_steps=3"):
        GAN(n_critic=5, max_steps=3, verbose=0).fit(X)
    with pytest.raises(ValueError, match="generator_betas"):
        GAN(generator_betas=(0.5, 1.5), max_steps=2, verbose=0).fit(X)
    with pytest.raises(ValueError, match="network='conv' needs images"):
        GAN(network="conv", max_steps=2, verbose=0).fit(X)
    with pytest.raises(ValueError, match="NaN"):
        GAN(max_steps=2, verbose=0).fit(np.r_[X, [[np.nan, 0.0]]])


def test_unseen_labels_and_log_prob_are_refused():
    digits = load("digits", n_samples=200)
    cgan = ConditionalGAN(channels=(8, 16), max_steps=5, verbose=0, random_state=0)
    cgan.fit(digits.X_train, digits.y_train)
    with pytest.raises(ValueError, match="unseen"):
        cgan.sample(2, y=[11, 11])
    with pytest.raises(genzoo.LikelihoodUnavailable, match="precision_recall"):
        cgan.log_prob(digits.X_test)
