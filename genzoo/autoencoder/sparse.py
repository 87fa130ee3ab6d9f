"""Sparse autoencoder (Ng, CS294A notes, 2011), made generative by a density of its codes."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import clone
from torch import Tensor

from genzoo._neural import NEURAL_CONSTRAINTS
from genzoo._validation import MAX_WIDTH, Interval, Options
from genzoo.autoencoder._base import CodeAutoencoder, _numpy
from genzoo.autoencoder._vae_nets import CodeEncoder, Decoder, log_likelihood
from genzoo.base import GenerativeModel
from genzoo.mixture import GaussianMixture
from genzoo.registry import register
from genzoo.training import Objective

__all__ = ["SparseAutoencoder"]

_DENSITY_PREFIX = "code_density_"  # arrays of the fitted code density: `code_density_.<name>`
_DENSITY_VALUES = "_code_density_values"
# Keeps log rho_hat finite in the KL penalty when a unit is (numerically) always off or on.
_RATE_EPS = 1e-6


# --- sparsity penalties


def kl_sparsity(h: Tensor, rho: float) -> Tensor:
    """sum_j KL(rho || rho_hat_j) between Bernoulli rates, rho_hat_j the batch mean of unit j.

    The sparsity penalty of Ng's notes (section 2.3); h (batch, n_hidden) in (0, 1).
    """
    rho_hat = h.mean(0).clamp(_RATE_EPS, 1 - _RATE_EPS)
    kl = rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))
    return kl.sum()


def l1_sparsity(h: Tensor) -> Tensor:
    """sum_j mean_i |h_ij|: the L1 norm of each row's code, averaged over the batch."""
    return h.abs().sum(1).mean()


def build_networks(architecture: dict) -> dict[str, torch.nn.Module]:
    """The code encoder and the VAE's decoder, which maps the code (its `latent_dim`) to x."""
    return {"encoder": CodeEncoder(architecture, squash=True), "decoder": Decoder(architecture)}


@register(
    "sparse_ae",
    family="autoencoder",
    data_kind="images",
    default_dataset="digits",
    zoo_datasets=("moons",),
    fixture_dataset="digits",
    fixture_size=200,
    test_params={
        "n_hidden": 8, "hidden": (32,), "channels": (8, 16), "batch_size": 64,
        "max_steps": 30, "verbose": 0, "random_state": 0,
    },
    quick_params={"n_hidden": 32, "max_steps": 1500, "verbose": 0, "random_state": 0},
    zoo_params={"n_hidden": 64, "max_steps": 6000, "random_state": 0},
)  # fmt: skip
class SparseAutoencoder(CodeAutoencoder):
    """Autoencoder with sparse sigmoid codes, made generative by a density fitted to its codes.

    The encoder maps x to code activations h in (0, 1) (a sigmoid layer); the decoder maps h
    back to x. Training minimises the reconstruction's negative log-likelihood (the VAE's
    decoder p(x | h): a Gaussian with a learned standard deviation, or Bernoulli) plus
    ``sparsity_weight`` times a sparsity penalty, by AdamW through the shared `Trainer`:

    - "kl": sum_j KL(rho || rho_hat_j), rho = `target_rate` and rho_hat_j the mean activation of
      unit j over the batch (Ng's sparse autoencoder notes), which pulls every unit's mean
      activation towards the target rate;
    - "l1": the mean L1 norm of the code, sum_j |h_j|, which pushes activations to 0 (it
      ignores `target_rate`).

    After training, `code_density` (a genzoo density model) is fitted to the codes of the
    training data. `sample` draws codes from it, clips them to [0, 1] and decodes them (the
    decoder's mean). The decoder is deterministic, so the model defines no density over x:
    `log_prob` raises `LikelihoodUnavailable`.

    Data are standardised as in the VAE (per feature for vectors, one scale for images; none
    for the Bernoulli decoder). The fitted networks evaluate in `dtype` (float32 by default).

    Parameters
    ----------
    n_hidden : int, default=64
        Number of code units h.
    hidden : tuple of int, default=(256,)
        Hidden widths of the MLP encoder (the decoder mirrors them).
    channels : tuple of int, default=(32, 64)
        Channels of the convolutional encoder's stride-2 stages (the decoder mirrors them).
    sparsity : {"kl", "l1"}, default="kl"
    target_rate : float in (0, 1), default=0.05
        The mean activation rho each code unit is pulled to ("kl").
    sparsity_weight : float, default=10.0
        Weight of the penalty against the reconstruction's log-likelihood (both in nats and
        summed over dimensions and units).
    code_density : genzoo model or None, default=None
        Estimator of the codes' density, cloned at fit; it needs a likelihood and must not be
        conditional. None is ``GaussianMixture(n_components=10, covariance_type="full",
        reg_covar=1e-3)`` on this model's `device`. A clone whose `random_state` is None is
        seeded from this model's.
    likelihood : {"auto", "gaussian", "bernoulli"}, default="auto"
        The reconstruction loss, as the VAE's decoder: "bernoulli" for data in [0, 1]; "auto"
        picks it when every training value is 0 or 1.
    network : {"auto", "mlp", "conv"}, default="auto"
        "auto" uses convolutions for images with both sides in [8, 64], else an MLP.
    min_std : float, default=0.01
        Floor of the Gaussian decoder's standard deviation, in units of the standardised data.
    device, batch_size, max_steps, learning_rate, weight_decay, warmup_steps, schedule,
    grad_clip, ema_decay, verbose, checkpoint_dir, checkpoint_every, precision, dtype
        Training and evaluation settings, documented once in `NeuralGenerativeModel`
        (genzoo/_neural.py).
    random_state : int or None, default=None
        Seeds the weights, the training batches, the code density's fit (when its own
        `random_state` is None) and (unless `sample` gets its own) sampling.

    Attributes
    ----------
    encoder_state_, decoder_state_ : dict of str to Tensor
        The networks' weights (in `dtype`); `networks()` builds the modules.
    architecture_ : dict
        What the networks were built from (network, likelihood, sizes).
    likelihood_ : str
        "gaussian" or "bernoulli", as resolved at fit.
    code_density_ : GenerativeModel
        The fitted density of the training data's codes.
    mean_activation_ : float
        The mean code activation over the training data (near `target_rate` with "kl").
    data_shift_, data_scale_ : Tensor of shape input_shape
        The standardisation: the networks see (X - data_shift_) / data_scale_.
    loss_curve_ : list of float, the training loss (nats per dimension) at every step
    n_steps_ : int
    n_features_in_ : int
    input_shape_ : list of int, (d,) or (c, h, w)

    Examples
    --------
    >>> from genzoo import SparseAutoencoder
    >>> from genzoo.data import load_digits
    >>> X, _ = load_digits("train")
    >>> ae = SparseAutoencoder(16, max_steps=50, verbose=0, random_state=0).fit(X[:300])
    >>> ae.encode(X[:2]).shape, ae.sample(3).shape
    ((2, 16), (3, 1, 8, 8))
    """

    _build_networks = staticmethod(build_networks)

    likelihood_kind = None
    fitted_attributes = (*CodeAutoencoder.fitted_attributes, "code_density_", "mean_activation_")
    no_likelihood_reason = (
        "its decoder is deterministic, so it defines no density over X (its code density "
        "is a density over codes, not data)."
    )
    data_kind = "images"  # images (n, c, h, w) or (n, h, w), and vectors (n, d)
    _code_width_param = "n_hidden"
    _parameter_constraints = {
        "n_hidden": [Interval(int, 1, MAX_WIDTH)],
        "hidden": ["array-like"],
        "channels": ["array-like"],
        "sparsity": [Options("kl", "l1")],
        "target_rate": [Interval(float, 0, 1, closed="neither")],
        "sparsity_weight": [Interval(float, 0, None)],
        "likelihood": [Options("auto", "gaussian", "bernoulli")],
        "network": [Options("auto", "mlp", "conv")],
        "min_std": [Interval(float, 0, None, closed="neither")],
        **NEURAL_CONSTRAINTS,
    }

    def __init__(
        self,
        n_hidden: int = 64,
        *,
        hidden: tuple[int, ...] = (256,),
        channels: tuple[int, ...] = (32, 64),
        sparsity: str = "kl",
        target_rate: float = 0.05,
        sparsity_weight: float = 10.0,
        code_density: GenerativeModel | None = None,
        likelihood: str = "auto",
        network: str = "auto",
        min_std: float = 0.01,
        device: str = "auto",
        batch_size: int = 128,
        max_steps: int = 2000,
        learning_rate: float = 1e-3,
        weight_decay: float = 0.0,
        warmup_steps: int = 0,
        schedule: str = "cosine",
        grad_clip: float | None = 1.0,
        ema_decay: float | None = None,
        verbose: int = 1,
        checkpoint_dir=None,
        checkpoint_every: int | None = None,
        random_state: int | None = None,
        precision: str = "auto",
        dtype: str = "float32",
    ):
        self.n_hidden = n_hidden
        self.hidden = hidden
        self.channels = channels
        self.sparsity = sparsity
        self.target_rate = target_rate
        self.sparsity_weight = sparsity_weight
        self.code_density = code_density
        self.likelihood = likelihood
        self.network = network
        self.min_std = min_std
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

    # --- the code density

    def _code_density_estimator(self) -> GenerativeModel:
        """The unfitted code density: `code_density`, or the default Gaussian mixture."""
        if self.code_density is None:
            return GaussianMixture(
                n_components=10, covariance_type="full", reg_covar=1e-3, device=self.device
            )
        model = self.code_density
        if not isinstance(model, GenerativeModel):
            raise ValueError(
                f"code_density must be a genzoo model or None; got {type(model).__name__}."
            )
        if model.likelihood_kind is None or model.conditional:
            what = "has no likelihood" if model.likelihood_kind is None else "is conditional"
            raise ValueError(
                f"code_density must be an unconditional genzoo model with a likelihood, to "
                f"fit and sample the codes; {type(model).__name__} {what}."
            )
        return model

    # --- fitting

    def _check_arguments(self) -> None:
        self._code_density_estimator()  # refuses a bad one before training

    def _architecture(self, X, y) -> dict:
        return self._autoencoder_architecture(
            X, self.n_hidden, n_classes=None, min_std=self.min_std
        )

    def _build_networks(self, architecture: dict) -> dict:
        return build_networks(architecture)

    def _objectives(self) -> list[Objective]:
        return [Objective("reconstruction", self._loss_fn())]

    def _extra_fitted(self, X, y, fitted: dict, seed: int) -> dict:
        """The code density, fitted to the training data's codes by the fitted encoder."""
        density = clone(self._code_density_estimator())
        with torch.no_grad(), self._evaluation(fitted) as networks:
            Xs = self._standardise(self._to_tensor(X), fitted).to(self._dtype())
            codes = _numpy(networks["encoder"](Xs))
        if "random_state" in density.get_params() and density.random_state is None:
            density.set_params(random_state=seed % 2**31)
        density.fit(codes)
        return {
            **super()._extra_fitted(X, y, fitted, seed),
            "code_density_": density,
            "mean_activation_": float(codes.mean()),
        }

    def _loss_fn(self):
        """Reconstruction NLL plus the weighted sparsity penalty, per dimension, of a batch."""
        weight, sparsity, rho = float(self.sparsity_weight), self.sparsity, float(self.target_rate)

        def loss_fn(modules, batch, gen):
            x = batch[0]
            h = modules["encoder"](x)
            location, log_std = modules["decoder"](h)
            reconstruction = log_likelihood(x, location, log_std).mean()
            penalty = kl_sparsity(h, rho) if sparsity == "kl" else l1_sparsity(h)
            loss = (weight * penalty - reconstruction) / x[0].numel()
            # tensors: the Trainer reads them every few steps, not at every step
            return loss, {"reconstruction": reconstruction.detach(), "rate": h.mean().detach()}

        return loss_fn

    # --- sampling

    def _sample(self, n_samples: int, y, gen) -> torch.Tensor:
        """Codes from `code_density_`, clipped to [0, 1], through the decoder's mean."""
        seed = int(torch.randint(2**31, (1,), generator=gen, device=gen.device))
        codes = self.code_density_.sample(n_samples, random_state=seed)
        H = self._to_tensor(np.clip(codes, 0.0, 1.0))
        return self._mean_of_codes(H)

    # --- files of format 1 kept the code density's state under a prefix

    def _from_legacy_state(self, arrays: dict[str, np.ndarray], values: dict) -> dict:
        values = dict(values)
        density_spec = values.pop(_DENSITY_VALUES)
        prefix = _DENSITY_PREFIX + "."
        density_arrays = {k[len(prefix) :]: a for k, a in arrays.items() if k.startswith(prefix)}
        arrays = {k: a for k, a in arrays.items() if not k.startswith(prefix)}
        fitted = super()._from_legacy_state(arrays, values)
        density = density_spec["model"]  # an unfitted instance with the saved params
        density._load_fitted(
            density._from_legacy_state(density_arrays, dict(density_spec["values"]))
        )
        return {**fitted, _DENSITY_PREFIX: density}
