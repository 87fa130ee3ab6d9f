"""Denoising diffusion probabilistic model (Ho, Jain and Abbeel, 2020), with v- and
x0-prediction, classifier-free guidance and its variational bound as the likelihood."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from genzoo._validation import Interval, Options
from genzoo.diffusion._base import DIFFUSION_CONSTRAINTS, DiffusionModel, row_rngs, rows
from genzoo.diffusion.samplers import SAMPLERS
from genzoo.diffusion.schedules import MAX_TRAIN_STEPS, DiscreteSchedule
from genzoo.registry import Variant, register

__all__ = ["DDPM", "bound_ends", "bound_terms", "discrete_grid", "variational_bound"]

MAX_GRID_LEVELS = 256  # "auto" finds grids of up to 8-bit pixels
# Elements (rows x terms x dimensions) of the bound's noise held at once, and rows of one
# network call; both bound log_prob's memory.
_NOISE_ELEMENTS = 2**22
_NETWORK_ELEMENTS = 2**18


def discrete_grid(X: np.ndarray) -> dict | None:
    """The grid low + k * step, k = 0..levels-1, that every value of X lies on, or None.

    The step is the smallest gap between distinct values; a grid needs at least two values,
    at most MAX_GRID_LEVELS levels, and every value within 1e-6 steps of a level.
    """
    values = np.unique(np.asarray(X, dtype=np.float64))
    if not 2 <= len(values) <= MAX_GRID_LEVELS:
        return None
    low, step = float(values[0]), float(np.diff(values).min())
    k = (values - low) / step
    if not np.allclose(k, np.round(k), rtol=0, atol=1e-6):
        return None
    levels = int(round(k[-1])) + 1
    if levels > MAX_GRID_LEVELS:
        return None
    return {"levels": levels, "low": low, "step": step}


def _log_bin_probability(x: Tensor, mean: Tensor, std: float, levels: int) -> Tensor:
    """log P(bin of x) under N(mean, std^2), bins of width 2 / (levels - 1) centred on the
    grid of [-1, 1] and the outer two stretched to infinity (Ho et al. 2020, eq. 13)."""
    half = 1.0 / (levels - 1)
    upper = torch.where(x > 1 - half / 2, torch.full_like(x, math.inf), (x + half - mean) / std)
    lower = torch.where(x < -1 + half / 2, torch.full_like(x, -math.inf), (x - half - mean) / std)
    # Phi(b) - Phi(a) = Phi(-a) - Phi(-b): take the side whose tail is small, for precision.
    flip = lower > 0
    a = torch.where(flip, -upper, lower)
    b = torch.where(flip, -lower, upper)
    log_b, log_a = torch.special.log_ndtr(b), torch.special.log_ndtr(a)
    return log_b + torch.log(-torch.expm1(torch.clamp(log_a - log_b, max=-1e-300)))


def bound_terms(denoiser, schedule: DiscreteSchedule, x0: Tensor, steps: Tensor,
                noise: Tensor) -> Tensor:  # fmt: skip
    """L_i = (SNR_{i-1} - SNR_i) / 2 ||x_0 - D(x_i, i)||^2 for one step i >= 1 per row (n,):
    the KL between the posterior q(x_{i-1} | x_i, x_0) and the model's step of the same
    variance beta-tilde, at x_i drawn with `noise`."""
    alpha_bar = schedule.alphas_cumprod.to(x0.device)
    snr = alpha_bar / (1 - alpha_bar)
    x0 = x0.to(torch.float64)
    a = rows(alpha_bar[steps], x0)
    x_i = torch.sqrt(a) * x0 + torch.sqrt(1 - a) * noise
    error = ((x0 - denoiser(x_i, steps.to(torch.float64)).to(torch.float64)) ** 2).flatten(1)
    return 0.5 * (snr[steps - 1] - snr[steps]) * error.sum(1)


def bound_ends(denoiser, schedule: DiscreteSchedule, x0: Tensor, noise: Tensor,
               levels: int | None) -> Tensor:  # fmt: skip
    """log p(x_0 | x at step 0) - KL(q(x_T | x_0) || N(0, I)) per row (n,).

    The decoder is N(D(x, 0), beta_0), discretised on the grid of [-1, 1] with `levels` (Ho
    et al. 2020, eq. 13), or a density without.
    """
    x0 = x0.to(torch.float64)
    d = x0[0].numel()
    last = schedule.alphas_cumprod[-1].item()
    prior_kl = 0.5 * (last * (x0.flatten(1) ** 2).sum(1) + d * (1 - last) - d
                      - d * math.log(1 - last))  # fmt: skip
    first = schedule.alphas_cumprod[0].item()
    x = math.sqrt(first) * x0 + math.sqrt(1 - first) * noise
    zero = torch.zeros(len(x0), dtype=torch.float64, device=x0.device)
    mean = denoiser(x, zero).to(torch.float64)
    std = math.sqrt(float(schedule.betas[0]))
    if levels is None:
        log_decoder = -0.5 * ((x0 - mean) / std) ** 2 - math.log(std * math.sqrt(2 * math.pi))
    else:
        log_decoder = _log_bin_probability(x0, mean, std, levels)
    return log_decoder.flatten(1).sum(1) - prior_kl


def variational_bound(
    denoiser, schedule: DiscreteSchedule, x0: Tensor, *, levels: int | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:  # fmt: skip
    """The DDPM bound on log p(x_0) per row in nats (float64), all its terms, one draw each:

    log p(x_0) >= log p(x_0 | x_1) - sum_{i >= 1} L_i - KL(q(x_T | x_0) || N(0, I)).

    `denoiser(x, t)` estimates x_0 at integer steps t, as for the samplers.
    """
    n, T = len(x0), schedule.n_steps
    x0 = x0.to(torch.float64)

    def normal(*shape):
        return torch.randn(*shape, generator=generator, dtype=torch.float64).to(x0.device)

    total = bound_ends(denoiser, schedule, x0, normal(*x0.shape), levels)
    for i in range(1, T):
        steps = torch.full((n,), i, dtype=torch.long, device=x0.device)
        total = total - bound_terms(denoiser, schedule, x0, steps, normal(*x0.shape))
    return total


@register(
    "ddpm",
    family="diffusion",
    data_kind="images",
    default_dataset="digits",
    zoo_datasets=("digits", "moons"),
    fixture_dataset="digits",
    fixture_size=200,
    test_params={
        "hidden": (32, 32), "base_channels": 8, "channel_mults": (1,), "n_steps": 50,
        "batch_size": 64, "max_steps": 20, "sampling_steps": 10, "likelihood_steps": 10,
        "verbose": 0, "random_state": 0,
    },
    quick_params={
        "base_channels": 16, "batch_size": 64, "max_steps": 600, "learning_rate": 2e-3,
        "ema_decay": 0.995, "sampling_steps": 20, "likelihood_steps": 20, "verbose": 0,
        "random_state": 0,
    },
    zoo_params={"max_steps": 3000, "likelihood_steps": 100, "verbose": 0, "random_state": 0},
    # a tenth of the data per class: a tenth of the steps is as many epochs
    classifier_params={"max_steps": 60},
    test_variants=(
        Variant("conditional", {"conditional": True}),
        Variant("v_prediction_cosine", {"prediction": "v", "noise_schedule": "cosine",
                                        "network": "mlp"}),
        Variant("x0_prediction", {"prediction": "x0", "levels": None}),
    ),
)  # fmt: skip
class DDPM(DiffusionModel):
    """Denoising diffusion probabilistic model on images or vectors.

    The forward chain adds Gaussian noise over `n_steps` steps with the linear schedule of
    Ho et al. (beta from 1e-4 to 0.02) or the cosine one of Nichol and Dhariwal (2021); a
    network (a U-Net for images, an MLP for vectors) learns to predict the noise (or v, or
    x_0) with the simple loss, the unweighted squared error at a uniformly drawn step.
    `sample` runs any shared sampler by name (ancestral, DDIM, DPM-Solver++(2M), Heun,
    Euler-Maruyama, predictor-corrector, the probability-flow ODE) with its number of steps.

    With ``conditional=True``, `fit(X, y)` trains one network for p(x | y) and p(x) at once,
    the label dropped to "no label" with probability `label_dropout`; ``sample(n, y=...,
    guidance=w)`` then steers with classifier-free guidance (Ho and Salimans 2022).

    `log_prob` is the variational bound of the paper (eq. 5), in nats: a lower bound on log
    p(x). On data that lie on a grid of levels (8x8 digits' 17, 8-bit pixels' 256), found by
    ``levels="auto"``, the decoder is the discretised Gaussian of eq. 13, so the bound is on
    the probability of the discrete values, comparable with discrete models under the
    leaderboard's protocol; elsewhere the decoder is a Gaussian density. The bound has a term
    per step; `likelihood_steps` = k < n_steps - 1 estimates their sum without bias from one
    term drawn in each of k equal strata (the noise and the terms are a function of each row
    and the seed, so a row's figure does not depend on its batch).

    Parameters
    ----------
    prediction : {"eps", "v", "x0"}, default="eps"
        What the network predicts: the noise, v = alpha eps - sigma x_0 (Salimans and Ho
        2022) or x_0.
    noise_schedule : {"linear", "cosine"}, default="linear"
        The forward chain's noise variances.
    n_steps : int, default=1000
        Steps T of the chain.
    levels : {"auto"} or None, default="auto"
        "auto" scores images whose values lie on a grid of at most 256 levels with the
        discretised decoder; None always uses the density.
    likelihood_steps : int or None, default=None
        Terms of the bound evaluated per row (see above); None evaluates all of them.
    sampler : str, default="dpmpp_2m"
        The default sampler of `sample`; DPM-Solver++ reaches in 25 to 50 steps what
        ancestral sampling does in 1000.
    sampling_steps : int, default=50
        The default number of sampling steps (at most n_steps).
    network : {"auto", "mlp", "conv"}, default="auto"
        "conv" (a U-Net) for images with both sides in [8, 64], else an MLP.
    hidden : tuple of int, default=(256, 256, 256)
        Hidden widths of the MLP.
    base_channels : int, default=32
        Channels of the U-Net's first level.
    channel_mults : tuple of int, default=(1, 2)
        The U-Net's channel multiplier per level (each further level halves the resolution).
    n_res_blocks : int, default=1
        Residual blocks per level.
    attention_resolutions : tuple of int, default=()
        Heights of the feature maps that get self-attention.
    dropout : float, default=0.0
        Dropout in the residual blocks and hidden layers.
    conditional : bool, default=False
        Learn p(x | y) from labels, with classifier-free guidance.
    label_dropout : float, default=0.1
        Probability that a training label is replaced by "no label".
    device, batch_size, max_steps, learning_rate, weight_decay, warmup_steps, schedule,
    grad_clip, verbose, checkpoint_dir, checkpoint_every, random_state, precision, dtype
        Training and evaluation settings, documented once in `NeuralGenerativeModel`
        (genzoo/_neural.py).
    ema_decay : float or None, default=0.999
        The sampled weights are the moving average of training's.

    Attributes
    ----------
    denoiser_state_ : dict of str to Tensor
        The network's weights; `networks()["denoiser"]` builds it.
    grid_ : dict or None
        The grid of the training data ({"levels", "low", "step"}) the decoder is discretised
        on, or None.
    classes_, class_log_prior_
        With ``conditional=True``: the labels and their log frequencies.
    architecture_, data_shift_, data_scale_, loss_curve_, n_steps_, n_features_in_,
    input_shape_
        As in `NeuralGenerativeModel`.

    Examples
    --------
    >>> from genzoo import DDPM
    >>> from genzoo.data import make_moons
    >>> ddpm = DDPM(n_steps=100, max_steps=50, verbose=0, random_state=0)
    >>> ddpm.fit(make_moons(256)).sample(3, sampler="ddim", steps=10).shape
    (3, 2)
    """

    likelihood_kind = "lower_bound"
    fitted_attributes = (*DiffusionModel.fitted_attributes, "grid_")
    _parameter_constraints = {
        "prediction": [Options("eps", "v", "x0")],
        "noise_schedule": [Options("linear", "cosine")],
        "n_steps": [Interval(int, 2, MAX_TRAIN_STEPS)],
        "levels": [None, Options("auto")],
        "likelihood_steps": [None, Interval(int, 1, MAX_TRAIN_STEPS)],
        "sampler": [Options(*SAMPLERS)],
        **DIFFUSION_CONSTRAINTS,
    }

    def __init__(
        self,
        prediction: str = "eps",
        *,
        noise_schedule: str = "linear",
        n_steps: int = 1000,
        levels: str | None = "auto",
        likelihood_steps: int | None = None,
        sampler: str = "dpmpp_2m",
        sampling_steps: int = 50,
        network: str = "auto",
        hidden: tuple[int, ...] = (256, 256, 256),
        base_channels: int = 32,
        channel_mults: tuple[int, ...] = (1, 2),
        n_res_blocks: int = 1,
        attention_resolutions: tuple[int, ...] = (),
        dropout: float = 0.0,
        conditional: bool = False,
        label_dropout: float = 0.1,
        device: str = "auto",
        batch_size: int = 128,
        max_steps: int = 2000,
        learning_rate: float = 1e-3,
        weight_decay: float = 0.0,
        warmup_steps: int = 0,
        schedule: str = "cosine",
        grad_clip: float | None = 1.0,
        ema_decay: float | None = 0.999,
        verbose: int = 1,
        checkpoint_dir=None,
        checkpoint_every: int | None = None,
        random_state: int | None = None,
        precision: str = "auto",
        dtype: str = "float32",
    ):
        self.prediction = prediction
        self.noise_schedule = noise_schedule
        self.n_steps = n_steps
        self.levels = levels
        self.likelihood_steps = likelihood_steps
        self.sampler = sampler
        self.sampling_steps = sampling_steps
        self.network = network
        self.hidden = hidden
        self.base_channels = base_channels
        self.channel_mults = channel_mults
        self.n_res_blocks = n_res_blocks
        self.attention_resolutions = attention_resolutions
        self.dropout = dropout
        self.conditional = conditional
        self.label_dropout = label_dropout
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

    # --- the model's hooks

    def _check_arguments(self) -> None:
        super()._check_arguments()
        if self.sampling_steps > self.n_steps:
            raise ValueError(
                f"sampling_steps={self.sampling_steps} exceeds n_steps={self.n_steps}: a "
                "sampler visits each step of the chain at most once."
            )

    def _prediction(self) -> str:
        return self.prediction

    def _schedule_spec(self, X) -> dict:
        if self.noise_schedule == "linear":
            # The paper's 1e-4 to 0.02 is for 1,000 steps; other lengths keep its total noise.
            scale = 1000 / self.n_steps
            return {"kind": "linear", "n_steps": self.n_steps,
                    "beta_start": 1e-4 * scale, "beta_end": min(0.02 * scale, 0.999)}  # fmt: skip
        return {"kind": "cosine", "n_steps": self.n_steps}

    def _training_times(self, n, gen, net) -> Tensor:
        steps = torch.randint(0, net.schedule.n_steps, (n,), generator=gen, device=gen.device)
        return steps.to(torch.float64)

    def _grid(self, X: np.ndarray) -> dict | None:
        if self.levels is None or X.ndim != 4:
            return None
        return discrete_grid(X)

    def _standardisation(self, X, architecture) -> tuple[np.ndarray, ...]:
        grid = self._grid(X)
        if grid is None:
            return super()._standardisation(X, architecture)
        # The grid's ends go to -1 and 1, where the decoder's outer bins begin.
        half = grid["step"] * (grid["levels"] - 1) / 2
        return np.full(X.shape[1:], grid["low"] + half), np.full(X.shape[1:], half)

    def _extra_fitted(self, X, y, fitted: dict, seed: int) -> dict:
        return {**super()._extra_fitted(X, y, fitted, seed), "grid_": self._grid(X)}

    def likelihood_support(self, X=None) -> str:
        """ "discrete" when the bound is on the probability of grid values (images on a grid
        of levels, see `levels`), else "continuous"; before fit, decided from X."""
        if self._is_fitted():
            grid = self.grid_
        elif self.levels is None:
            grid = None
        elif X is None:
            raise ValueError(
                "levels='auto' is decided by the training data: pass X to likelihood_support, "
                "or fit first."
            )
        else:
            X = np.asarray(X, dtype=np.float64)
            grid = discrete_grid(X) if X.ndim == 4 else None
        return "discrete" if grid is not None else "continuous"

    # --- the likelihood

    def _terms(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each row's term steps (n, k), their weights (n, k) and noise (n, k + 1, ...),
        drawn from a generator seeded by the row's values and the seed."""
        T = self._schedule().n_steps
        k = T - 1 if self.likelihood_steps is None else min(self.likelihood_steps, T - 1)
        edges = np.linspace(1, T, k + 1).round().astype(np.int64)  # strata of steps 1..T-1
        sizes = np.diff(edges).astype(np.float64)
        steps = np.empty((len(X), k), dtype=np.int64)
        noise = np.empty((len(X), k + 1, *self.input_shape_))
        for r, rng in enumerate(row_rngs(X, self.random_state)):
            steps[r] = edges[:-1] + np.floor(rng.random(k) * sizes).astype(np.int64)
            noise[r] = rng.standard_normal((k + 1, *self.input_shape_))
        weights = np.tile(sizes, (len(X), 1))
        return steps, weights, noise

    def _bound(self, X: Tensor, y: Tensor | None) -> Tensor:
        schedule, grid = self._schedule(), self.grid_
        levels = None if grid is None else grid["levels"]
        if grid is not None:
            self._check_on_grid(X, grid)
        d = int(np.prod(self.input_shape_))
        T = schedule.n_steps
        per_row = max(1, _NOISE_ELEMENTS // (T * d))
        batch = max(1, _NETWORK_ELEMENTS // d)
        Xs = self._standardise(X)
        host = X.cpu().numpy()
        out = []
        with self._evaluation() as networks:
            net = networks["denoiser"]
            for start in range(0, len(X), per_row):
                part = slice(start, start + per_row)
                steps, weights, noise = (torch.as_tensor(a, device=X.device)
                                         for a in self._terms(host[part]))  # fmt: skip
                labels = None if y is None else y[part]
                out.append(self._chunked_bound(net, schedule, Xs[part], labels, steps,
                                               weights, noise, levels, batch))  # fmt: skip
        log_det = 0.0 if grid is not None else -torch.log(self.data_scale_).sum()
        return torch.cat(out) + log_det

    def _chunked_bound(self, net, schedule, x0, y, steps, weights, noise, levels, batch):
        """The bound of a few rows, its terms split so one network call takes `batch` rows."""
        k = steps.shape[1]
        per_call = max(1, batch // len(x0))
        total = torch.zeros(len(x0), dtype=torch.float64, device=x0.device)
        for j in range(0, k, per_call):
            m = min(k, j + per_call) - j
            labels = None if y is None else y.repeat_interleave(m)
            terms = bound_terms(
                self._denoiser(net, schedule, labels, 0.0), schedule,
                x0.repeat_interleave(m, 0), steps[:, j : j + m].reshape(-1),
                noise[:, j : j + m].reshape(-1, *x0.shape[1:]),
            )  # fmt: skip
            total -= (weights[:, j : j + m] * terms.reshape(len(x0), m)).sum(1)
        ends = bound_ends(self._denoiser(net, schedule, y, 0.0), schedule, x0, noise[:, -1],
                          levels)  # fmt: skip
        return total + ends

    def _check_on_grid(self, X: Tensor, grid: dict) -> None:
        k = (X - grid["low"]) / grid["step"]
        off = (k - torch.round(k)).abs().max() > 1e-4 if len(X) else False
        if off or (len(X) and (k.min() < -1e-4 or k.max() > grid["levels"] - 1 + 1e-4)):
            raise ValueError(
                f"DDPM's bound is on the probability of the training data's grid of "
                f"{grid['levels']} levels (from {grid['low']:g} by {grid['step']:g}), and X "
                "holds values off it. Pass values on the grid, or fit with levels=None to "
                "score densities."
            )

    def _log_prob(self, X: Tensor) -> Tensor:
        if not self.conditional:
            return self._bound(X, None)
        per_class = [
            self._bound(X, torch.full((len(X),), c, device=X.device)) + log_prior
            for c, log_prior in enumerate(self.class_log_prior_)
        ]
        return torch.logsumexp(torch.stack(per_class), 0)

    def _labelled_log_prob(self, X: Tensor, y: Tensor) -> Tensor:
        return self._bound(X, y) + self.class_log_prior_[y]
