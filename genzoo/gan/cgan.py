"""Conditional GAN (Mirza and Osindero, 2014) with a projection discriminator (Miyato and
Koyama, 2018) or label concatenation."""

from __future__ import annotations

import torch

from genzoo._validation import Options
from genzoo.gan.gan import GAN
from genzoo.registry import Variant, register

__all__ = ["ConditionalGAN"]


@register(
    "cgan",
    family="gan",
    data_kind="images",
    default_dataset="digits",
    fixture_dataset="digits",
    fixture_size=200,
    test_params={
        "latent_dim": 4, "hidden": (32, 32), "channels": (8, 16), "batch_size": 64,
        "max_steps": 30, "verbose": 0, "random_state": 0,
    },
    quick_params={"channels": (32, 64), "max_steps": 1500, "learning_rate": 5e-4,
                  "ema_decay": 0.99, "verbose": 0, "random_state": 0},
    zoo_params={"max_steps": 8000, "random_state": 0},
    test_variants=(Variant("concat", {"conditioning": "concat", "network": "mlp"}),),
)  # fmt: skip
class ConditionalGAN(GAN):
    """GAN of p(x | y): the generator and the discriminator both see the class label.

    `fit(X, y)` learns one generator for every class; `sample(n, y=labels)` draws from the
    classes asked for (one label, or one per sample), and ``sample(n)`` draws labels from
    their training frequencies first. A label not seen in training is refused.

    The generator takes the label through its layers' label embedding (every layer adds a
    projection of it). The discriminator takes it by projection, D(x, y) = psi(phi(x)) +
    embed(y) . phi(x) (Miyato and Koyama, 2018), which scores how well x fits its own class
    rather than guessing the class from a concatenated input; or by concatenation, the
    label embedding joining every layer ("concat").

    Parameters
    ----------
    conditioning : {"projection", "concat"}, default="projection"
        How the discriminator sees the label.
    latent_dim, hidden, channels, network, loss, spectral_norm, r1_gamma, gp_weight,
    n_critic, discriminator_learning_rate, generator_betas, discriminator_betas,
    monitor_every, divergence_patience, and the training settings
        As in `GAN`.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The labels seen in training.
    class_log_prior_ : Tensor of shape (n_classes,)
        Log frequencies of the labels, which `sample` draws from when given no y.
    generator_state_, discriminator_state_, history_, loss_curve_, loss_curves_
        As in `GAN`; the monitor draws its samples with the labels of its real rows.

    Examples
    --------
    >>> from genzoo import ConditionalGAN
    >>> from genzoo.data import load
    >>> digits = load("digits")
    >>> cgan = ConditionalGAN(max_steps=50, verbose=0, random_state=0)
    >>> cgan.fit(digits.X_train, digits.y_train).sample(4, y=3).shape
    (4, 1, 8, 8)
    """

    conditional = True
    fitted_attributes = (*GAN.fitted_attributes, "classes_", "class_log_prior_")
    _parameter_constraints = {
        **GAN._parameter_constraints,
        "conditioning": [Options("projection", "concat")],
    }
    _tensor_attributes = (*GAN._tensor_attributes, "class_log_prior_")

    def __init__(
        self,
        latent_dim: int = 32,
        *,
        conditioning: str = "projection",
        hidden: tuple[int, ...] = (256, 256),
        channels: tuple[int, ...] = (64, 128),
        network: str = "auto",
        loss: str = "non_saturating",
        spectral_norm: bool = False,
        r1_gamma: float = 0.0,
        gp_weight: float = 10.0,
        n_critic: int = 1,
        discriminator_learning_rate: float | None = None,
        generator_betas: tuple[float, float] = (0.5, 0.999),
        discriminator_betas: tuple[float, float] = (0.5, 0.999),
        monitor_every: int | str | None = "auto",
        divergence_patience: int | None = 3,
        device: str = "auto",
        batch_size: int = 64,
        max_steps: int = 2000,
        learning_rate: float = 2e-4,
        weight_decay: float = 0.0,
        warmup_steps: int = 0,
        schedule: str = "constant",
        grad_clip: float | None = None,
        ema_decay: float | None = 0.999,
        verbose: int = 1,
        checkpoint_dir=None,
        checkpoint_every: int | None = None,
        random_state: int | None = None,
        precision: str = "auto",
        dtype: str = "float32",
    ):
        self.conditioning = conditioning
        super().__init__(
            latent_dim, hidden=hidden, channels=channels, network=network, loss=loss,
            spectral_norm=spectral_norm, r1_gamma=r1_gamma, gp_weight=gp_weight,
            n_critic=n_critic, discriminator_learning_rate=discriminator_learning_rate,
            generator_betas=generator_betas, discriminator_betas=discriminator_betas,
            monitor_every=monitor_every, divergence_patience=divergence_patience,
            device=device, batch_size=batch_size, max_steps=max_steps,
            learning_rate=learning_rate, weight_decay=weight_decay, warmup_steps=warmup_steps,
            schedule=schedule, grad_clip=grad_clip, ema_decay=ema_decay, verbose=verbose,
            checkpoint_dir=checkpoint_dir, checkpoint_every=checkpoint_every,
            random_state=random_state, precision=precision, dtype=dtype,
        )  # fmt: skip

    def _conditioning(self) -> str:
        return self.conditioning

    def _extra_fitted(self, X, y, fitted: dict, seed: int) -> dict:
        return {"class_log_prior_": self._class_log_prior(y, len(self.classes_))}

    def _sample(self, n_samples: int, y, gen) -> torch.Tensor:
        return self._sample_with_labels(n_samples, y, gen)[0]

    def _sample_with_labels(self, n_samples: int, y, gen):
        if y is None:
            y = self._labels_from_prior(n_samples, gen)
        return self._generate(n_samples, y, gen), y
