"""CycleGAN (Zhu et al., 2017): unpaired translation between two domains, with least-squares
adversarial, cycle-consistency and identity losses."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from genzoo._determinism import deterministic_kernels
from genzoo._neural import NEURAL_CONSTRAINTS, NeuralGenerativeModel
from genzoo._validation import MAX_ITERATIONS, Interval, Options, check_memory
from genzoo.gan._losses import discriminator_loss, generator_loss
from genzoo.gan._nets import Critic, Translator, critic_scores
from genzoo.gan.gan import _MIN_MONITOR_ROWS, check_betas, lost_for, separation, tanh_range
from genzoo.metrics.tracking import MAX_TRACKED_ROWS, QualityTracker
from genzoo.nets._layers import check_positive_ints
from genzoo.registry import Variant, register
from genzoo.training import Monitor, Objective, TrainingDiverged

__all__ = ["CycleGAN"]

# Rows translated in one pass of a translator: bounds the memory of full-resolution images.
_CHUNK = 256
_DIRECTIONS = ("a_to_b", "b_to_a")
_MAX_HELD = 100_000


@dataclass(frozen=True)
class _Domains:
    """The two checked training domains; len() is domain a's row count (what fit's labels
    would be counted against)."""

    a: np.ndarray
    b: np.ndarray

    def __len__(self) -> int:
        return len(self.a)


@register(
    "cyclegan",
    family="gan",
    data_kind="images",
    default_dataset="digits_negatives",
    zoo_datasets=("blobs_rotated",),
    fixture_dataset="blobs_rotated",
    fixture_size=200,
    test_params={
        "hidden": (16, 16), "channels": (8, 16), "n_blocks": 1, "batch_size": 32,
        "max_steps": 20, "n_held": 64, "verbose": 0, "random_state": 0,
    },
    # hidden sizes the MLPs of 2-D sets, channels and n_blocks the conv nets of images.
    # Narrower MLPs found the rotation of blobs_rotated for more seeds (2 of 3 against 1).
    quick_params={"hidden": (64, 64), "channels": (16, 32), "n_blocks": 2, "max_steps": 1200,
                  "learning_rate": 1e-3, "ema_decay": 0.99, "verbose": 0, "random_state": 0},
    zoo_params={"hidden": (64, 64), "channels": (16, 32), "n_blocks": 2, "max_steps": 2500,
                "learning_rate": 1e-3, "ema_decay": 0.99, "random_state": 0},
    test_variants=(
        Variant("images", {}, fixture_dataset="digits_negatives"),
        Variant("identity_loss", {"identity_weight": 0.5, "ema_decay": None}),
    ),
)  # fmt: skip
class CycleGAN(NeuralGenerativeModel):
    """Unpaired translation between two domains a and b (images, or vectors).

    Two translators learn G_ab: a -> b and G_ba: b -> a, each against a discriminator of its
    target domain (D_b, D_a), from two sets of data with no pair between them. Each
    translator minimises the least-squares adversarial loss (Mao et al., 2017), and together
    they minimise the cycle-consistency loss ``|G_ba(G_ab(a)) - a|_1 + |G_ab(G_ba(b)) -
    b|_1`` weighted by `cycle_weight`, which makes each the other's inverse, and the identity
    loss ``|G_ab(b) - b|_1 + |G_ba(a) - a|_1`` weighted by ``identity_weight *
    cycle_weight``, which keeps what both domains share (Zhu et al., 2017, sections 3 and
    5.2). The discriminators minimise half the least-squares loss each. The translators are
    updated first at each step, then the discriminators.

    ``fit(X, X_b=X_b)`` takes domain a as X and domain b by keyword (so that scikit-learn's
    ``fit(X, y)`` stays valid); the domains need the same sample shape, not the same size.
    `translate` maps rows either way. The model's distribution is that of domain b as its
    translator sees it: ``sample(n)`` translates held rows of domain a (`n_held` of them,
    drawn from the training data and saved with the model) into domain b, and
    ``sample(n, domain="a")`` the other way. Translation is deterministic, so at most
    `n_held` distinct samples exist.

    A CycleGAN has no likelihood. As for `GAN`, training is watched: every `monitor_every`
    steps the translations of held rows of a are compared with real rows of b by precision,
    recall and the Fréchet distance (images) or the MMD (vectors), with the cycle error and
    D_b's AUC, in `history_` and on the progress bar; a D_b that wins outright at
    `divergence_patience` measurements in a row raises `TrainingDiverged`.

    Images are scaled to [-1, 1] (the translators' tanh) by one range over both domains;
    vectors are standardised per feature over both domains together. The translators of
    vectors are plain MLPs, not residual ones: see `genzoo.gan._nets.Translator` for why a
    map started at the identity cannot learn a rotation.

    Parameters
    ----------
    cycle_weight : float, default=10.0
        Weight lambda of the cycle-consistency loss (10 in the paper).
    identity_weight : float, default=0.0
        The identity loss's weight, as a fraction of `cycle_weight`; 0 turns it off. It
        favours maps that change little, which suits translations of style (0.5 in the paper,
        for photographs and paintings) and works against the maps of the built-in pairs (a
        negative, a rotation), hence off by default.
    hidden : tuple of int, default=(128, 128)
        Hidden widths of the MLPs on vectors: the translators' and the
        discriminators'.
    channels : tuple of int, default=(32, 64)
        On images, the discriminators' stride-2 stages (as in `GAN`); the translators work at
        full resolution with ``channels[0]`` channels.
    n_blocks : int, default=3
        Residual blocks of each image translator.
    network : {"auto", "mlp", "conv"}, default="auto"
        "auto" uses convolutions for images with both sides in [8, 64], else MLPs.
    n_held : int, default=512
        Training rows of each domain kept with the model for `sample` to translate.
    discriminator_learning_rate : float or None, default=None
        The discriminators' learning rate; None uses `learning_rate`.
    generator_betas, discriminator_betas : tuple of two floats, default=(0.5, 0.999)
        Adam's moment decays of the translators and of the discriminators.
    monitor_every : int, "auto" or None, default="auto"
        Steps between measurements; "auto" measures 10 times over training; None never.
    divergence_patience : int or None, default=3
        As in `GAN`.
    device, batch_size, max_steps, weight_decay, warmup_steps, checkpoint_dir,
    checkpoint_every, precision, dtype, verbose
        Training and evaluation settings, documented once in `NeuralGenerativeModel`
        (genzoo/_neural.py); batch_size defaults to 64 here. Each step draws a batch of each
        domain (the shorter domain is repeated to the longer one's length).
    learning_rate : float, default=2e-4
        The translators' learning rate (and the discriminators', unless they have their own).
    schedule : {"constant", "cosine"}, default="constant"
    grad_clip : float or None, default=None
    ema_decay : float or None, default=0.999
        Decay of the moving average of the translators' weights, which `translate` and
        `sample` use.
    random_state : int or None, default=None

    Attributes
    ----------
    g_ab_state_, g_ba_state_, d_a_state_, d_b_state_ : dict of str to Tensor
        The networks' weights (the translators' moving averages with `ema_decay`, the
        discriminators' last weights); `networks()` builds them.
    held_a_, held_b_ : Tensor of shape (n_held, ...)
        The held rows of each domain, in the data's units (float64).
    history_ : dict of str to list of float
        "step", "precision", "recall", "fid", "fd" or "mmd" of the translations a -> b
        against real b (as in `GAN`), "cycle_error" (mean |G_ba(G_ab(a)) - a| in
        standardised units) and "d_auc" (D_b's AUC of real b against translations).
    loss_curve_, loss_curves_
        The translators' loss at each step, and each objective's ("generators",
        "discriminators").
    architecture_, data_shift_, data_scale_, n_steps_, n_features_in_, input_shape_
        As in `NeuralGenerativeModel`.

    Examples
    --------
    >>> from genzoo import CycleGAN
    >>> from genzoo.data import load
    >>> pair = load("blobs_rotated", n_samples=256)
    >>> model = CycleGAN(max_steps=50, verbose=0, random_state=0)
    >>> model.fit(pair.X_train, X_b=pair.X_b_train).translate(pair.X_test[:3]).shape
    (3, 2)
    """

    likelihood_kind = None
    no_likelihood_reason = (
        "a CycleGAN is a pair of deterministic maps between two domains, with no density to "
        "evaluate. Compare its translations instead: genzoo.metrics.precision_recall, "
        "feature_quality (FID) or mmd against the target domain, as in history_ and the "
        "leaderboard, or against the true images where they are known."
    )
    data_kind = "images"
    second_domain = True
    fitted_attributes = (
        *NeuralGenerativeModel.fitted_attributes,
        "g_ab_state_",
        "g_ba_state_",
        "d_a_state_",
        "d_b_state_",
        "held_a_",
        "held_b_",
        "loss_curves_",
        "history_",
    )
    _parameter_constraints = {
        "cycle_weight": [Interval(float, 0, None)],
        "identity_weight": [Interval(float, 0, None)],
        "hidden": ["array-like"],
        "channels": ["array-like"],
        "n_blocks": [Interval(int, 0, 64)],
        "network": [Options("auto", "mlp", "conv")],
        "n_held": [Interval(int, 1, _MAX_HELD)],
        "discriminator_learning_rate": [None, Interval(float, 0, None, closed="neither")],
        "generator_betas": ["array-like"],
        "discriminator_betas": ["array-like"],
        "monitor_every": [None, Options("auto"), Interval(int, 1, MAX_ITERATIONS)],
        "divergence_patience": [None, Interval(int, 1, MAX_ITERATIONS)],
        **NEURAL_CONSTRAINTS,
    }

    def __init__(
        self,
        cycle_weight: float = 10.0,
        *,
        identity_weight: float = 0.0,
        hidden: tuple[int, ...] = (128, 128),
        channels: tuple[int, ...] = (32, 64),
        n_blocks: int = 3,
        network: str = "auto",
        n_held: int = 512,
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
        self.cycle_weight = cycle_weight
        self.identity_weight = identity_weight
        self.hidden = hidden
        self.channels = channels
        self.n_blocks = n_blocks
        self.network = network
        self.n_held = n_held
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

    # --- public API

    def fit(self, X, y=None, *, X_b=None):
        """Learn the translations between domain a (X) and domain b (`X_b`); return self.

        The rows of X and X_b are unpaired; they need the same sample shape. y is ignored.
        """
        return self._fit_data(X, y, X_b=X_b)

    def translate(self, X, direction: str = "a_to_b") -> np.ndarray:
        """Translate rows of domain a into domain b ("a_to_b"), or of b into a ("b_to_a").

        Returns an array shaped like X, in the data's units.
        """
        if direction not in _DIRECTIONS:
            raise ValueError(f"direction must be one of {_DIRECTIONS}; got {direction!r}.")
        data, _ = self._inference_data(X)
        check_memory(
            min(len(data), _CHUNK) * self._sample_item_bytes(),
            self._device(),
            f"{type(self).__name__}.translate",
        )
        with torch.no_grad(), deterministic_kernels(self._device()):
            return self._to_output(self._translated(data, direction))

    def sample(self, n_samples: int = 1, *, domain: str = "b", y=None, random_state=None):
        """Draw `n_samples` rows of `domain` ("b" or "a"): held rows of the other domain,
        drawn at random with replacement, translated. y must be None (unconditional)."""
        if domain not in ("a", "b"):
            raise ValueError(f"domain must be 'a' or 'b'; got {domain!r}.")
        return self._draw_samples(n_samples, y=y, random_state=random_state, domain=domain)

    # --- the data: two domains

    def _prepare(self, X, *, lengths=None, reset: bool = False, X_b=None):
        if X_b is None:
            if reset:
                raise ValueError(
                    "CycleGAN.fit needs the second domain by keyword: fit(X_a, X_b=X_b)."
                )
            return super()._prepare(X, lengths=lengths, reset=reset)
        a = super()._prepare(X, lengths=lengths, reset=reset)
        b = self._check_X(X_b, reset=True, name="X_b")
        if a.shape[1:] != b.shape[1:]:
            raise ValueError(
                f"X_b has samples of shape {b.shape[1:]}, but X has {a.shape[1:]}: the two "
                "domains must have the same sample shape."
            )
        return _Domains(a, b)

    def _fitted_input_shape(self, data) -> dict:
        return super()._fitted_input_shape(data.a)

    # --- the template's hooks

    def _check_arguments(self) -> None:
        # Both are checked, whichever the data use, so that a typo never waits for images.
        check_positive_ints(self.hidden, "hidden")
        check_positive_ints(self.channels, "channels")
        check_betas(self)

    def _architecture(self, data, y) -> dict:
        shape = tuple(data.a.shape[1:])
        return {
            "network": self._resolve_network(shape),
            "input_shape": list(shape),
            "hidden": list(self.hidden),
            "channels": list(self.channels),
            "n_blocks": self.n_blocks,
            "n_classes": None,
            "conditioning": None,
            "spectral_norm": False,
        }

    def _build_networks(self, architecture: dict) -> dict:
        return {
            "g_ab": Translator(architecture),
            "g_ba": Translator(architecture),
            "d_a": Critic(architecture),
            "d_b": Critic(architecture),
        }

    def _standardisation(self, data, architecture: dict) -> tuple[np.ndarray, ...]:
        both = np.concatenate([data.a, data.b])
        if both.ndim == 2:
            return super()._standardisation(both, architecture)
        return tanh_range(both)

    def _averaged(self) -> tuple[str, ...]:
        return ("g_ab", "g_ba")

    def _training_data(self, data, y, shift, scale) -> tuple[Tensor, ...]:
        """Both domains standardised, the shorter repeated to the longer's length: a batch
        is a batch of each (their pairing means nothing; no loss term joins a row of a with
        a row of b)."""
        n = max(len(data.a), len(data.b))
        a = data.a[np.arange(n) % len(data.a)]
        b = data.b[np.arange(n) % len(data.b)]
        return tuple(torch.as_tensor((X - shift) / scale, dtype=torch.float32) for X in (a, b))

    def _objectives(self) -> list[Objective]:
        return [
            Objective(
                "generators", self._generators_loss(), modules=("g_ab", "g_ba"),
                betas=tuple(self.generator_betas),
            ),
            Objective(
                "discriminators", self._discriminators_loss(), modules=("d_a", "d_b"),
                learning_rate=self.discriminator_learning_rate,
                betas=tuple(self.discriminator_betas),
            ),
        ]  # fmt: skip

    def _generators_loss(self):
        cycle, identity = float(self.cycle_weight), float(self.identity_weight * self.cycle_weight)

        def loss_fn(modules, batch, gen):
            a, b = batch
            g_ab, g_ba = modules["g_ab"], modules["g_ba"]
            fake_b, fake_a = g_ab(a), g_ba(b)
            adversarial = generator_loss("least_squares", modules["d_b"](fake_b)) + (
                generator_loss("least_squares", modules["d_a"](fake_a))
            )
            cycle_error = (g_ba(fake_b) - a).abs().mean() + (g_ab(fake_a) - b).abs().mean()
            loss = adversarial + cycle * cycle_error
            if identity:
                loss = loss + identity * ((g_ab(b) - b).abs().mean() + (g_ba(a) - a).abs().mean())
            return loss, {"adversarial": adversarial.detach(), "cycle": cycle_error.detach()}

        return loss_fn

    @staticmethod
    def _discriminators_loss():
        def loss_fn(modules, batch, gen):
            a, b = batch
            with torch.no_grad():
                fake_b, fake_a = modules["g_ab"](a), modules["g_ba"](b)
            d_a, d_b = modules["d_a"], modules["d_b"]
            loss_b = discriminator_loss("least_squares", d_b(b), d_b(fake_b.to(b.dtype)))
            loss_a = discriminator_loss("least_squares", d_a(a), d_a(fake_a.to(a.dtype)))
            return 0.5 * (loss_a + loss_b)  # the paper halves D's objective

        return loss_fn

    def _monitor(self, data, y, shift, scale) -> Monitor | None:
        every = self.monitor_every
        if every is None or min(len(data.a), len(data.b)) < _MIN_MONITOR_ROWS:
            return None
        if every == "auto":
            every = max(1, self.max_steps // 10)
        seed = 0 if self.random_state is None else self.random_state
        rng = np.random.default_rng(seed)
        rows_a = np.sort(rng.permutation(len(data.a))[:MAX_TRACKED_ROWS])
        rows_b = np.sort(rng.permutation(len(data.b))[:MAX_TRACKED_ROWS])
        real_b = data.b[rows_b]
        image_shape = real_b.shape[1:] if real_b.ndim == 4 else None
        unit = bool(real_b.min() >= 0.0 and real_b.max() <= 1.0)
        tracker = QualityTracker(real_b, image_shape=image_shape, unit_range=unit)
        held_a = torch.as_tensor((data.a[rows_a] - shift) / scale, dtype=torch.float32)
        real_b = torch.as_tensor((real_b - shift) / scale, dtype=torch.float32)
        patience = self.divergence_patience

        def measure(modules, averaged, gen):
            a, b = held_a.to(gen.device), real_b.to(gen.device)
            kept = averaged or modules
            fake_b = _in_chunks(kept["g_ab"], a)
            if not torch.isfinite(fake_b).all():
                raise TrainingDiverged("the translations a -> b are no longer finite.")
            cycle_error = float((_in_chunks(kept["g_ba"], fake_b) - a).abs().mean())
            d_b = modules["d_b"]
            auc = separation(
                critic_scores(d_b, b), critic_scores(d_b, _in_chunks(modules["g_ab"], a))
            )
            translated = fake_b.double().cpu().numpy() * scale + shift
            return {**tracker(translated), "cycle_error": cycle_error, "d_auc": auc}

        def check(monitored):
            return None if patience is None else lost_for(monitored, patience)

        return Monitor(measure, every, check)

    def _extra_fitted(self, data, y, fitted: dict, seed: int) -> dict:
        rng = np.random.default_rng(seed)
        device = self._device()
        held = {}
        for name, X in (("held_a_", data.a), ("held_b_", data.b)):
            rows = np.sort(rng.permutation(len(X))[: self.n_held])
            held[name] = torch.as_tensor(X[rows], dtype=torch.float64, device=device)
        return held

    # --- translation and sampling

    def _translated(self, X: Tensor, direction: str) -> Tensor:
        """Rows in the data's units translated by the fitted (EMA) translator, float64."""
        name = "g_ab" if direction == "a_to_b" else "g_ba"
        with self._evaluation() as networks:
            Xs = self._standardise(X).to(self._dtype())
            return self._unstandardise(_in_chunks(networks[name], Xs))

    def _sample(self, n_samples: int, y, gen, *, domain: str) -> Tensor:
        held = self.held_a_ if domain == "b" else self.held_b_
        index = torch.randint(len(held), (n_samples,), generator=gen, device=gen.device)
        direction = "a_to_b" if domain == "b" else "b_to_a"
        return self._translated(held[index.to(held.device)], direction)


def _in_chunks(net, X: Tensor) -> Tensor:
    return torch.cat([net(X[i : i + _CHUNK]) for i in range(0, len(X), _CHUNK)])
