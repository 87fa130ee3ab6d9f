"""Score-based generative modelling through SDEs (Song et al. 2021): continuous-time denoising
score matching for the VP, sub-VP and VE SDEs, and log p by the probability-flow ODE."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from genzoo._validation import Interval, Options
from genzoo.diffusion._base import DIFFUSION_CONSTRAINTS, DiffusionModel, row_rngs
from genzoo.diffusion.likelihood import EXACT_TRACE_MAX_DIM, ode_log_likelihood
from genzoo.diffusion.ncsn import noise_levels
from genzoo.diffusion.samplers import MAX_SAMPLING_STEPS, SAMPLERS
from genzoo.registry import Variant, register

__all__ = ["ScoreSDE"]

# Rows whose log-likelihoods are integrated together: bounds the memory of the ODE's graph.
_LIKELIHOOD_ELEMENTS = 2**16
_WEIGHT_GRID = 4096  # times at which the likelihood weighting's mean is taken


@register(
    "score_sde",
    family="diffusion",
    data_kind="images",
    default_dataset="digits",
    zoo_datasets=("digits", "moons"),
    fixture_dataset="digits",
    fixture_size=200,
    test_params={
        "hidden": (32, 32), "base_channels": 8, "channel_mults": (1,), "batch_size": 64,
        "max_steps": 20, "sampling_steps": 10, "likelihood_steps": 4, "verbose": 0,
        "random_state": 0,
    },
    quick_params={"base_channels": 16, "batch_size": 64, "max_steps": 600,
                  "learning_rate": 2e-3, "ema_decay": 0.995, "sampler": "dpmpp_2m",
                  "sampling_steps": 20, "likelihood_steps": 8, "verbose": 0,
                  "random_state": 0},
    zoo_params={"max_steps": 3000, "sampling_steps": 50, "likelihood_steps": 20,
                "verbose": 0, "random_state": 0},
    classifier_params={"max_steps": 60, "likelihood_steps": 4},
    test_variants=(
        Variant("subvp_likelihood_weighting", {"sde": "subvp", "likelihood_weighting": True,
                                               "network": "mlp"}),
        Variant("ve", {"sde": "ve", "sampler": "pc"}),
    ),
)  # fmt: skip
class ScoreSDE(DiffusionModel):
    """Score-based model in continuous time: the VP, sub-VP or VE SDE of Song et al. (2021).

    Data (standardised) diffuse by the chosen SDE from t_min to 1; the network, conditioned
    on t, is trained by continuous-time denoising score matching at uniform times: it predicts
    the noise, and the score is its negative divided by sigma(t). The weights are
    lambda(t) = sigma(t)^2 (the noise-prediction loss), or with `likelihood_weighting` the
    diffusion's g(t)^2, which makes the loss a bound on the negative log-likelihood (Song,
    Durkan, Murray and Ermon 2021), rescaled to mean 1 over t.

    `sample` runs the reverse SDE ("euler_maruyama"), predictor-corrector ("pc"), the
    probability-flow ODE ("ode"), or any other shared sampler. `log_prob` integrates the
    probability-flow ODE from the data to the prior with the instantaneous change of variables
    (`genzoo.diffusion.ode_log_likelihood`): the divergence exactly up to 32 dimensions,
    else by Hutchinson's estimator with one Rademacher probe per row (drawn from the row's
    values and the seed, so a row's figure does not depend on its batch). The result is an
    estimate of the model's log-density (`likelihood_kind="estimate"`): the ODE is solved
    numerically and the trace may be estimated. On discrete data the leaderboard trains and
    scores it on dequantized data, as for any density.

    Parameters
    ----------
    sde : {"vp", "subvp", "ve"}, default="vp"
        The forward SDE.
    beta_min, beta_max : float, default=0.1, 20.0
        The VP and sub-VP SDEs' linear beta(t).
    sigma_min : float, default=0.01
        The VE SDE's smallest noise level.
    sigma_max : float or "auto", default="auto"
        The VE SDE's largest; "auto" is the largest distance between two training rows
        (Song and Ermon 2020, technique 1).
    t_min : float or None, default=None
        The smallest time trained and integrated to; None is 1e-3 (VP, sub-VP) or 1e-5 (VE).
    likelihood_weighting : bool, default=False
        Weight the loss by g(t)^2 instead of sigma(t)^2.
    likelihood_steps : int, default=100
        RK4 steps of the probability-flow ODE in `log_prob`, even in the log noise level.
    sampler : str, default="pc"
        The default sampler.
    sampling_steps : int, default=200
        The default number of sampling steps.
    network, hidden, base_channels, channel_mults, n_res_blocks, attention_resolutions,
    dropout, conditional, label_dropout, and the training settings
        As in `DDPM`.

    Attributes
    ----------
    denoiser_state_, classes_, class_log_prior_, architecture_, data_shift_, data_scale_,
    loss_curve_, n_steps_, n_features_in_, input_shape_
        As in `DDPM`.

    Examples
    --------
    >>> from genzoo import ScoreSDE
    >>> from genzoo.data import make_moons
    >>> sde = ScoreSDE(max_steps=50, likelihood_steps=10, verbose=0, random_state=0)
    >>> sde.fit(make_moons(256)).log_prob(make_moons(2)).shape
    (2,)
    """

    likelihood_kind = "estimate"
    _time_scale = 1000.0
    _parameter_constraints = {
        "sde": [Options("vp", "subvp", "ve")],
        "beta_min": [Interval(float, 0, None, closed="neither")],
        "beta_max": [Interval(float, 0, 1e4, closed="neither")],
        "sigma_min": [Interval(float, 0, None, closed="neither")],
        "sigma_max": [Options("auto"), Interval(float, 0, 1e6, closed="neither")],
        "t_min": [None, Interval(float, 0, 0.5, closed="neither")],
        "likelihood_weighting": [bool],
        "likelihood_steps": [Interval(int, 1, MAX_SAMPLING_STEPS)],
        "sampler": [Options(*SAMPLERS)],
        **DIFFUSION_CONSTRAINTS,
    }

    def __init__(
        self,
        sde: str = "vp",
        *,
        beta_min: float = 0.1,
        beta_max: float = 20.0,
        sigma_min: float = 0.01,
        sigma_max: float | str = "auto",
        t_min: float | None = None,
        likelihood_weighting: bool = False,
        likelihood_steps: int = 100,
        sampler: str = "pc",
        sampling_steps: int = 200,
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
        self.sde = sde
        self.beta_min = beta_min
        self.beta_max = beta_max
        self.sigma_min = sigma_min
        self.sigma_max = sigma_max
        self.t_min = t_min
        self.likelihood_weighting = likelihood_weighting
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

    def _check_arguments(self) -> None:
        super()._check_arguments()
        if self.beta_max <= self.beta_min:
            raise ValueError(f"beta_max={self.beta_max} must exceed beta_min={self.beta_min}.")
        if self.sigma_max != "auto" and self.sigma_max <= self.sigma_min:
            raise ValueError(f"sigma_max={self.sigma_max} must exceed sigma_min={self.sigma_min}.")

    def _schedule_spec(self, X) -> dict:
        if self.sde == "ve":
            t_min = 1e-5 if self.t_min is None else float(self.t_min)
            sigma_max = self.sigma_max
            if sigma_max == "auto":
                shift, scale = self._standardisation(X, {})
                sigma_max, _ = noise_levels((X - shift) / scale, self.sigma_min)
            return {"kind": "ve", "sigma_min": float(self.sigma_min),
                    "sigma_max": float(sigma_max), "t_min": t_min}  # fmt: skip
        t_min = 1e-3 if self.t_min is None else float(self.t_min)
        return {"kind": self.sde, "beta_min": float(self.beta_min),
                "beta_max": float(self.beta_max), "t_min": t_min}  # fmt: skip

    def _training_times(self, n, gen, net) -> Tensor:
        t_min = net.schedule.t_min
        u = torch.rand(n, generator=gen, device=gen.device, dtype=torch.float64)
        return t_min + (1 - t_min) * u

    def _loss_weights(self, t: Tensor, schedule) -> Tensor | None:
        if not self.likelihood_weighting:
            return None

        def weight(times: Tensor) -> Tensor:
            return schedule.diffusion(times) ** 2 / schedule.sigma(times) ** 2

        grid = torch.linspace(schedule.t_min, 1.0, _WEIGHT_GRID, dtype=torch.float64)
        return weight(t) / weight(grid).mean()

    # --- the likelihood

    def _log_prob(self, X: Tensor) -> Tensor:
        if not self.conditional:
            return self._ode_log_prob(X, None)
        per_class = [
            self._ode_log_prob(X, torch.full((len(X),), c, device=X.device)) + log_prior
            for c, log_prior in enumerate(self.class_log_prior_)
        ]
        return torch.logsumexp(torch.stack(per_class), 0)

    def _labelled_log_prob(self, X: Tensor, y: Tensor) -> Tensor:
        return self._ode_log_prob(X, y) + self.class_log_prior_[y]

    def _ode_log_prob(self, X: Tensor, y: Tensor | None) -> Tensor:
        """log p(x [| y]) per row in the data's units, by the probability-flow ODE."""
        schedule, d = self._schedule(), int(np.prod(self.input_shape_))
        exact = d <= EXACT_TRACE_MAX_DIM
        chunk = max(1, _LIKELIHOOD_ELEMENTS // (d * (d if exact else 1)))
        Xs, host, out = self._standardise(X), X.cpu().numpy(), []
        with self._evaluation() as networks:
            net = networks["denoiser"]
            for start in range(0, len(X), chunk):
                part = slice(start, start + chunk)
                probes = None
                if not exact:
                    rngs = row_rngs(host[part], self.random_state)
                    signs = [rng.integers(0, 2, d) for rng in rngs]
                    probes = torch.as_tensor(2.0 * np.stack(signs) - 1, device=X.device)
                    probes = probes.reshape(Xs[part].shape)
                labels = None if y is None else y[part]
                denoiser = self._denoiser(net, schedule, labels, 0.0)
                out.append(ode_log_likelihood(
                    denoiser, schedule, Xs[part], steps=self.likelihood_steps,
                    trace="exact" if exact else "hutchinson", probes=probes,
                ))  # fmt: skip
        return torch.cat(out) - torch.log(self.data_scale_).sum()
