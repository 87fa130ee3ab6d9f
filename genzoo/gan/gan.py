"""Generative adversarial network (Goodfellow et al., 2014), with WGAN-GP, hinge, spectral
normalisation, R1, two-timescale Adam, n_critic and an EMA generator; watched for collapse."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from genzoo._neural import NEURAL_CONSTRAINTS, NeuralGenerativeModel
from genzoo._validation import MAX_ITERATIONS, MAX_WIDTH, Interval, Options
from genzoo.gan._losses import (
    discriminator_loss,
    generator_loss,
    gradient_penalty,
    r1_penalty,
)
from genzoo.gan._nets import Critic, Generator, critic_scores
from genzoo.metrics.tracking import MAX_TRACKED_ROWS, QualityTracker
from genzoo.registry import Variant, register
from genzoo.training import Monitor, Objective, TrainingDiverged

__all__ = ["GAN"]

# Rows generated at once when sampling: bounds the memory of one pass of the generator.
_SAMPLE_CHUNK = 4096
# The discriminator "wins outright" when it orders every real row above every sample
# (AUC at least this) while the samples cover almost none of the data (recall at most this).
_WIN_AUC, _LOST_RECALL = 0.999, 0.05
# Every generator starts out losing; a streak counts from this many steps of training on.
_WARMUP_STEPS = 200
_MIN_MONITOR_ROWS = 16


# --- diagnostics


def separation(real_scores: Tensor, fake_scores: Tensor) -> float:
    """P(D(real) > D(fake)) over all pairs, ties counting half (the discriminator's AUC): 1
    when it tells every real row from every sample, 0.5 when it cannot."""
    real, fake = real_scores.double()[:, None], fake_scores.double()[None, :]
    return float(((real > fake).double() + 0.5 * (real == fake).double()).mean())


def lost_for(monitored: dict[str, list[float]], patience: int) -> str | None:
    """Why training has failed, if the discriminator won outright at each of the last
    `patience` measurements, the first of them after `_WARMUP_STEPS` (see `_WIN_AUC`);
    else None."""
    auc, recall = monitored.get("d_auc", []), monitored.get("recall", [])
    if len(auc) < patience or monitored["step"][-patience] < _WARMUP_STEPS:
        return None
    streak = zip(auc[-patience:], recall[-patience:], strict=True)
    if all(a >= _WIN_AUC and r <= _LOST_RECALL for a, r in streak):
        return (
            f"the discriminator has told every real row from every sample (AUC {auc[-1]:.3f}) "
            f"while the samples cover almost none of the data (recall {recall[-1]:.3f}) at the "
            f"last {patience} measurements. Lower learning_rate, or try spectral_norm=True, "
            "r1_gamma > 0 or loss='wgan_gp'."
        )
    return None


def check_betas(model) -> None:
    """Refuse `generator_betas` or `discriminator_betas` of `model` that are not two floats in
    [0, 1) (Adam's moment decays)."""
    for name in ("generator_betas", "discriminator_betas"):
        betas = tuple(getattr(model, name))
        if len(betas) != 2 or not all(
            isinstance(b, (int, float)) and not isinstance(b, bool) and 0 <= b < 1 for b in betas
        ):
            raise ValueError(f"{name} must be two floats in [0, 1); got {betas!r}.")


def tanh_range(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(shift, scale) of shape X.shape[1:] that map all of X onto [-1, 1] (one range for
    every pixel), the range of a tanh output layer."""
    low, high = float(X.min()), float(X.max())
    half = (high - low) / 2 if high > low else 1.0
    return np.full(X.shape[1:], low + half), np.full(X.shape[1:], half)


@register(
    "gan",
    family="gan",
    data_kind="images",
    default_dataset="digits",
    zoo_datasets=("eight_gaussians",),
    fixture_dataset="eight_gaussians",
    fixture_size=200,
    test_params={
        "latent_dim": 4, "hidden": (32, 32), "channels": (8, 16), "batch_size": 64,
        "max_steps": 30, "verbose": 0, "random_state": 0,
    },
    # Least squares on the leaderboard: on the digits (1,500 steps, seeds 0 and 1) it reached
    # FID 14.6 and 18.3 with recall 0.78 and 0.71, where the non-saturating loss collapsed
    # (FID 160-200, recall 0: its discriminator won, AUC 0.9).
    quick_params={"loss": "least_squares", "channels": (32, 64), "max_steps": 1500,
                  "learning_rate": 5e-4, "ema_decay": 0.99, "verbose": 0, "random_state": 0},
    zoo_params={"loss": "least_squares", "max_steps": 8000, "random_state": 0},
    test_variants=(
        Variant("wgan_gp", {"loss": "wgan_gp", "n_critic": 2, "ema_decay": None}),
        Variant("hinge_sn_r1", {"loss": "hinge", "spectral_norm": True, "r1_gamma": 1.0}),
        Variant("images", {"latent_dim": 8}, fixture_dataset="digits"),
    ),
)  # fmt: skip
class GAN(NeuralGenerativeModel):
    """Generative adversarial network on vectors or images.

    A generator G maps noise z ~ N(0, I) to data; a discriminator (critic) D scores rows as
    real or generated. They train against each other by the shared `Trainer`, each with its
    own Adam: D at every step, G every `n_critic` steps. `sample` runs the exponential
    moving average of G's weights (`ema_decay`), which is smoother than the last iterate.

    A GAN has no likelihood: `log_prob` raises `LikelihoodUnavailable`. What it has instead
    is watched during training: every `monitor_every` steps the generator's samples are
    compared with real rows by the discriminator-free figures of the leaderboard (precision
    and recall, and the Fréchet distance for images or the MMD for vectors), shown on the
    progress bar and kept in `history_`; recall falling while precision holds is mode
    collapse, seen as it happens. Training that breaks is reported, never returned: a loss
    that is no longer finite, or a discriminator that wins outright (every real row told
    from every sample while the samples cover nothing of the data) at `divergence_patience`
    measurements in a row, raises `genzoo.training.TrainingDiverged` naming the step.

    Images are scaled to [-1, 1] (one range for all pixels) for the tanh generator; vectors
    are standardised per feature.

    Parameters
    ----------
    latent_dim : int, default=32
        Size of the noise z.
    hidden : tuple of int, default=(256, 256)
        Hidden widths of the MLPs on vectors (the generator's and the discriminator's).
    channels : tuple of int, default=(64, 128)
        Channels of the discriminator's stride-2 stages on images; the DCGAN generator
        mirrors them.
    network : {"auto", "mlp", "conv"}, default="auto"
        "auto" uses convolutions for images with both sides in [8, 64], else MLPs.
    loss : {"non_saturating", "wgan_gp", "hinge", "least_squares"}, default="non_saturating"
        The adversarial loss (see `genzoo.gan._losses`). "wgan_gp" adds the gradient penalty.
    spectral_norm : bool, default=False
        Spectrally normalise every layer of the discriminator (Miyato et al., 2018).
    r1_gamma : float, default=0.0
        Weight gamma of the R1 penalty gamma / 2 * E||grad D(x)||^2 on real rows
        (Mescheder et al., 2018); 0 turns it off.
    gp_weight : float, default=10.0
        Weight lambda of the WGAN-GP gradient penalty (used with loss="wgan_gp").
    n_critic : int, default=1
        Discriminator steps per generator step (5 in WGAN-GP). `max_steps` counts the
        discriminator's.
    discriminator_learning_rate : float or None, default=None
        The discriminator's peak learning rate; None uses `learning_rate`, which is the
        generator's (two time-scales, Heusel et al. 2017, with a larger one here).
    generator_betas, discriminator_betas : tuple of two floats, default=(0.5, 0.999)
        Adam's moment decays of each network (DCGAN's; WGAN-GP uses (0.0, 0.9)).
    monitor_every : int, "auto" or None, default="auto"
        Steps between two measurements of sample quality; "auto" measures 10 times over
        training; None never (and then no collapse is detected). Data of fewer than 16 rows
        are not monitored.
    divergence_patience : int or None, default=3
        Measurements in a row at which the discriminator must win outright before training
        stops with `TrainingDiverged`; None never stops.
    device, batch_size, max_steps, weight_decay, warmup_steps, checkpoint_dir,
    checkpoint_every, precision, dtype, verbose
        Training and evaluation settings, documented once in `NeuralGenerativeModel`
        (genzoo/_neural.py); batch_size defaults to 64 here.
    learning_rate : float, default=2e-4
        The generator's peak learning rate (and the discriminator's, unless it has its own).
    schedule : {"constant", "cosine"}, default="constant"
        GANs usually keep their learning rates constant.
    grad_clip : float or None, default=None
        No clipping by default: it would bias the critic's gradient penalty.
    ema_decay : float or None, default=0.999
        Decay of the moving average of the generator's weights, which `sample` uses.
    random_state : int or None, default=None
        Seeds the weights, the training batches and noise, and (unless `sample` gets its own)
        sampling.

    Attributes
    ----------
    generator_state_, discriminator_state_ : dict of str to Tensor
        The networks' weights (the generator's moving average with `ema_decay`; the
        discriminator's last weights); `networks()` builds them.
    history_ : dict of str to list of float
        With monitoring: "step", "precision", "recall", "fid" (8x8 or 28x28 pixels in [0, 1],
        in the shipped classifier's features), "fd" (other images, on pixels) or "mmd"
        (vectors), and "d_auc", the discriminator's AUC of real against generated rows.
    loss_curve_ : list of float
        The discriminator's loss at every step.
    loss_curves_ : dict of str to list of float
        "discriminator" and "generator": each network's loss at each of its updates.
    architecture_, data_shift_, data_scale_, n_steps_, n_features_in_, input_shape_
        As in `NeuralGenerativeModel`.

    Examples
    --------
    >>> from genzoo import GAN
    >>> from genzoo.data import make_eight_gaussians
    >>> gan = GAN(latent_dim=8, max_steps=100, verbose=0, random_state=0)
    >>> gan.fit(make_eight_gaussians(512)).sample(3).shape
    (3, 2)
    """

    likelihood_kind = None
    no_likelihood_reason = (
        "a GAN defines its distribution only through the samples of its generator, with no "
        "density to evaluate. Compare its samples instead: genzoo.metrics.precision_recall, "
        "feature_quality (FID) or mmd, as in history_ and the leaderboard."
    )
    data_kind = "images"
    fitted_attributes = (
        *NeuralGenerativeModel.fitted_attributes,
        "generator_state_",
        "discriminator_state_",
        "loss_curves_",
        "history_",
    )
    _parameter_constraints = {
        "latent_dim": [Interval(int, 1, MAX_WIDTH)],
        "hidden": ["array-like"],
        "channels": ["array-like"],
        "network": [Options("auto", "mlp", "conv")],
        "loss": [Options("non_saturating", "wgan_gp", "hinge", "least_squares")],
        "spectral_norm": [bool],
        "r1_gamma": [Interval(float, 0, None)],
        "gp_weight": [Interval(float, 0, None)],
        "n_critic": [Interval(int, 1, MAX_ITERATIONS)],
        "discriminator_learning_rate": [None, Interval(float, 0, None, closed="neither")],
        "generator_betas": ["array-like"],
        "discriminator_betas": ["array-like"],
        "monitor_every": [None, Options("auto"), Interval(int, 1, MAX_ITERATIONS)],
        "divergence_patience": [None, Interval(int, 1, MAX_ITERATIONS)],
        **NEURAL_CONSTRAINTS,
    }

    def __init__(
        self,
        latent_dim: int = 32,
        *,
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
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.channels = channels
        self.network = network
        self.loss = loss
        self.spectral_norm = spectral_norm
        self.r1_gamma = r1_gamma
        self.gp_weight = gp_weight
        self.n_critic = n_critic
        self.discriminator_learning_rate = discriminator_learning_rate
        self.generator_betas = generator_betas
        self.discriminator_betas = discriminator_betas
        self.monitor_every = monitor_every
        self.divergence_patience = divergence_patience
        self.device = device
        self.batch_size = batch_size
        self.max_steps = max_steps
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.warmup_steps = warmup_steps
        self.schedule = schedule
        self.grad_clip = grad_clip
        self.ema_decay = ema_decay
        self.verbose = verbose
        self.checkpoint_dir = checkpoint_dir
        self.checkpoint_every = checkpoint_every
        self.random_state = random_state
        self.precision = precision
        self.dtype = dtype

    # --- the template's hooks

    def _check_arguments(self) -> None:
        check_betas(self)
        if self.n_critic > self.max_steps:
            raise ValueError(
                f"n_critic={self.n_critic} exceeds max_steps={self.max_steps}: the generator "
                "would never be updated."
            )

    def _architecture(self, X, y) -> dict:
        shape = tuple(X.shape[1:])
        return {
            "network": self._resolve_network(shape),
            "input_shape": list(shape),
            "latent_dim": self.latent_dim,
            "hidden": list(self.hidden),
            "channels": list(self.channels),
            "n_classes": len(self.classes_) if self.conditional else None,
            "conditioning": self._conditioning(),
            "spectral_norm": self.spectral_norm,
        }

    def _conditioning(self) -> str | None:
        return None

    def _build_networks(self, architecture: dict) -> dict:
        return {"generator": Generator(architecture), "discriminator": Critic(architecture)}

    def _standardisation(self, X: np.ndarray, architecture: dict) -> tuple[np.ndarray, ...]:
        if X.ndim == 2:
            return super()._standardisation(X, architecture)
        return tanh_range(X)

    def _averaged(self) -> tuple[str, ...]:
        return ("generator",)

    def _objectives(self) -> list[Objective]:
        return [
            Objective(
                "discriminator", self._discriminator_loss(), modules=("discriminator",),
                learning_rate=self.discriminator_learning_rate,
                betas=tuple(self.discriminator_betas),
            ),
            Objective(
                "generator", self._generator_loss(), modules=("generator",),
                every=self.n_critic, betas=tuple(self.generator_betas),
            ),
        ]  # fmt: skip

    def _noise(self, n: int, gen: torch.Generator, dtype=torch.float32) -> Tensor:
        return torch.randn(n, self.latent_dim, generator=gen, device=gen.device, dtype=dtype)

    def _discriminator_loss(self):
        """D's loss on a minibatch and as many generated rows, with its penalties."""
        kind, conditional = self.loss, self.conditional
        r1, gp = float(self.r1_gamma), float(self.gp_weight) if self.loss == "wgan_gp" else 0.0
        noise = self._noise

        def loss_fn(modules, batch, gen):
            real, D = batch[0], modules["discriminator"]
            y = batch[1] if conditional else None
            with torch.no_grad():
                fake = modules["generator"](noise(len(real), gen), y)
            both = None if y is None else torch.cat([y, y])
            scores = D(torch.cat([real, fake.to(real.dtype)]), both)
            real_scores, fake_scores = scores.chunk(2)
            loss = discriminator_loss(kind, real_scores, fake_scores)
            if gp:
                loss = loss + gp * gradient_penalty(D, real, fake, y, gen)
            if r1:
                loss = loss + 0.5 * r1 * r1_penalty(D, real, y)
            return loss, {"real_score": real_scores.mean().detach(),
                          "fake_score": fake_scores.mean().detach()}  # fmt: skip

        return loss_fn

    def _generator_loss(self):
        """G's loss on as many rows as a minibatch (with its labels, when conditional)."""
        kind, conditional, noise = self.loss, self.conditional, self._noise

        def loss_fn(modules, batch, gen):
            y = batch[1] if conditional else None
            fake = modules["generator"](noise(len(batch[0]), gen), y)
            return generator_loss(kind, modules["discriminator"](fake, y))

        return loss_fn

    def _monitor(self, X, y, shift, scale) -> Monitor | None:
        every = self.monitor_every
        if every is None or len(X) < _MIN_MONITOR_ROWS:  # too few rows for k-NN figures
            return None
        if every == "auto":
            every = max(1, self.max_steps // 10)
        seed = 0 if self.random_state is None else self.random_state
        rows = np.random.default_rng(seed).permutation(len(X))[:MAX_TRACKED_ROWS]
        rows.sort()
        real = X[rows]
        image_shape = real.shape[1:] if real.ndim == 4 else None
        unit = bool(real.min() >= 0.0 and real.max() <= 1.0)
        tracker = QualityTracker(real, image_shape=image_shape, unit_range=unit)
        real_s = torch.as_tensor((real - shift) / scale, dtype=torch.float32)
        labels = None if y is None else y[torch.as_tensor(rows)]
        patience = self.divergence_patience

        def measure(modules, averaged, gen):
            device = gen.device
            y_rows = None if labels is None else labels.to(device)
            kept = (averaged or modules)["generator"]
            fake_s = kept(self._noise(len(real), gen), y_rows)
            if not torch.isfinite(fake_s).all():
                raise TrainingDiverged("the generator's samples are no longer finite.")
            D = modules["discriminator"]
            auc = separation(critic_scores(D, real_s.to(device), y_rows),
                             critic_scores(D, modules["generator"](
                                 self._noise(len(real), gen), y_rows), y_rows))  # fmt: skip
            fake = fake_s.double().cpu().numpy() * scale + shift
            return {**tracker(fake), "d_auc": auc}

        def check(monitored):
            return None if patience is None else lost_for(monitored, patience)

        return Monitor(measure, every, check)

    # --- sampling

    def _generate(self, n_samples: int, y, gen) -> Tensor:
        """n rows from the generator (the EMA weights), in the data's units, float64."""
        out = []
        with self._evaluation() as networks:
            for start in range(0, n_samples, _SAMPLE_CHUNK):
                count = min(_SAMPLE_CHUNK, n_samples - start)
                part = None if y is None else y[start : start + count]
                out.append(networks["generator"](self._noise(count, gen, self._dtype()), part))
        return self._unstandardise(torch.cat(out))

    def _sample(self, n_samples: int, y, gen) -> Tensor:
        return self._generate(n_samples, None, gen)
