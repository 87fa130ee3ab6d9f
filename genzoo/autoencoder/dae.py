"""Denoising autoencoder (Vincent et al., 2008), sampled by the generalised-DAE Markov chain."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from genzoo._neural import NEURAL_CONSTRAINTS
from genzoo._validation import MAX_ITERATIONS, MAX_ROWS, MAX_WIDTH, Interval, Options
from genzoo.autoencoder._base import CodeAutoencoder
from genzoo.autoencoder._vae_nets import CodeEncoder, Decoder, decoder_mean, log_likelihood
from genzoo.registry import register
from genzoo.training import Objective

__all__ = ["DenoisingAutoencoder"]

# Floor of the reconstruction distribution's standard deviation, in standardised units.
_MIN_STD = 0.01
# Steps of the sampling chains in one call of sample (each a pass through both networks).
_MAX_CHAIN_STEPS = 10**6


# --- corruption C(x~ | x), on standardised data


def gaussian_corruption(x: Tensor, noise_level: float, gen: torch.Generator) -> Tensor:
    """x~ = x + noise_level * eps, eps ~ N(0, I) (additive isotropic Gaussian noise)."""
    eps = torch.randn(x.shape, generator=gen, device=gen.device, dtype=x.dtype)
    return x + noise_level * eps


def mask_corruption(x: Tensor, noise_level: float, gen: torch.Generator) -> Tensor:
    """Masking noise (Vincent et al., 2008): each value is set to 0 with probability noise_level.

    On standardised data 0 is the feature's (or the image's) mean; on Bernoulli data, 0.
    """
    keep = torch.rand(x.shape, generator=gen, device=gen.device, dtype=x.dtype) >= noise_level
    return x * keep


CORRUPTIONS = {"gaussian": gaussian_corruption, "mask": mask_corruption}


# --- the generalised denoising autoencoder's Markov chain


def draw_reconstruction(location: Tensor, log_std: Tensor | None, gen: torch.Generator) -> Tensor:
    """x ~ P(x | x~): a Gaussian draw with the decoder's std, or Bernoulli 0/1 draws."""
    if log_std is not None:
        eps = torch.randn(location.shape, generator=gen, device=gen.device, dtype=location.dtype)
        return location + torch.exp(log_std) * eps
    return torch.bernoulli(torch.sigmoid(location), generator=gen)


@torch.no_grad()
def gdae_chain(
    corrupt: Callable[[Tensor, torch.Generator], Tensor],
    reconstruct: Callable[[Tensor, torch.Generator], tuple[Tensor, Tensor]],
    x: Tensor,
    *,
    n_burn_in: int,
    thinning: int,
    n_keep: int,
    gen: torch.Generator,
    callback: Callable[[int, Tensor], None] | None = None,
) -> tuple[Tensor, Tensor]:
    """Run the generalised-denoising-autoencoder chain (Bengio, Yao, Alain and Vincent, 2013).

    Each step alternates (section 3 of the paper)
        1. x~_t ~ C(x~ | x_t), the training corruption;
        2. x_{t+1} ~ P_theta(x | x~_t), the learned reconstruction distribution;
    whose stationary distribution estimates the data distribution when P_theta is a consistent
    estimator of the true P(x | x~). `x` (n_chains, ...) is the start state, one row a chain.

    `reconstruct(x~, gen)` returns (a draw x_{t+1}, its distribution's mean). After
    `n_burn_in` steps, the state is kept every `thinning` steps, `n_keep` times per chain.
    Returns the kept draws and means, each (n_keep, n_chains, ...).
    """
    draws, means = [], []
    for step in range(1, n_burn_in + thinning * (n_keep - 1) + 2):
        x, mean = reconstruct(corrupt(x, gen), gen)
        if callback is not None:
            callback(step, x)
        if step > n_burn_in and (step - n_burn_in - 1) % thinning == 0:
            draws.append(x)
            means.append(mean)
    return torch.stack(draws), torch.stack(means)


def build_networks(architecture: dict) -> dict[str, torch.nn.Module]:
    """The code encoder and the VAE's decoder P(x | h): Gaussian (mean, std) or Bernoulli."""
    return {"encoder": CodeEncoder(architecture), "decoder": Decoder(architecture)}


@register(
    "dae",
    family="autoencoder",
    data_kind="images",
    default_dataset="digits",
    zoo_datasets=("moons",),
    fixture_dataset="digits",
    fixture_size=200,
    test_params={
        "latent_dim": 4, "hidden": (32,), "channels": (8, 16), "n_burn_in": 3, "thinning": 1,
        "n_chains": 16, "batch_size": 64, "max_steps": 30, "verbose": 0, "random_state": 0,
    },
    quick_params={"latent_dim": 32, "max_steps": 1500, "verbose": 0, "random_state": 0},
    zoo_params={"latent_dim": 64, "max_steps": 6000, "random_state": 0},
)  # fmt: skip
class DenoisingAutoencoder(CodeAutoencoder):
    """Denoising autoencoder whose samples come from the generalised-DAE Markov chain.

    Training corrupts each standardised row, x~ ~ C(x~ | x), and maximises the log-likelihood
    of the clean row under the reconstruction distribution P_theta(x | x~) = p(x | h = f(x~)),
    by AdamW through the shared `Trainer`. f is the encoder (an MLP, or convolutions on images)
    and p(x | h) is the VAE's decoder: a Gaussian whose mean and standard deviation (floored at
    0.01 standardised units) both depend on h, or Bernoulli.

    `sample` runs `n_chains` parallel chains of Bengio, Yao, Alain and Vincent (2013),
    alternating x~ ~ C(x~ | x) and x ~ P_theta(x | x~) (see `gdae_chain`). The chains start
    from noise with the training data's first two moments: N(0, I) on standardised data (the
    data's per-feature mean and spread; one mean and scale for images), or Bernoulli(0.5)
    pixels for the Bernoulli decoder; no training rows are stored. After `n_burn_in` steps,
    each chain gives a sample every `thinning` steps until `n_samples` are drawn.

    The chain's stationary distribution is only implicit, so the model has no likelihood:
    `log_prob` raises `LikelihoodUnavailable`.

    Parameters
    ----------
    latent_dim : int, default=64
        Size of the code h.
    hidden : tuple of int, default=(256, 256)
        Hidden widths of the MLP encoder (the decoder mirrors them).
    channels : tuple of int, default=(32, 64)
        Channels of the convolutional encoder's stride-2 stages (the decoder mirrors them).
    corruption : {"gaussian", "mask"}, default="gaussian"
        C(x~ | x): "gaussian" adds N(0, noise_level^2) noise to each standardised value;
        "mask" sets each value to 0 (the mean, or black for Bernoulli data) with probability
        `noise_level`.
    noise_level : float, default=0.5
        The Gaussian noise's standard deviation in standardised units, or the masking
        probability (then below 1).
    likelihood : {"auto", "gaussian", "bernoulli"}, default="auto"
        The reconstruction distribution P(x | x~); "bernoulli" needs data in [0, 1]. "auto"
        picks "bernoulli" when every training value is 0 or 1.
    network : {"auto", "mlp", "conv"}, default="auto"
        "auto" uses convolutions for images with both sides in [8, 64], else an MLP.
    n_burn_in : int, default=100
        Chain steps discarded before the first kept sample.
    thinning : int, default=10
        Chain steps between two kept samples of one chain.
    n_chains : int, default=100
        Parallel chains (at most `n_samples` run); more chains, fewer samples each.
    sample_noise : bool or "auto", default="auto"
        Whether `sample` returns the chain's states, draws from P(x | x~), rather than the
        means E[x | x~] of the steps that drew them (the chain runs on draws either way).
        "auto" returns draws for vectors and means for images, which is what one plots.
    device, batch_size, max_steps, learning_rate, weight_decay, warmup_steps, schedule,
    grad_clip, ema_decay, verbose, checkpoint_dir, checkpoint_every, precision, dtype
        Training and evaluation settings, documented once in `NeuralGenerativeModel`
        (genzoo/_neural.py).
    random_state : int or None, default=None
        Seeds the weights, the training batches and corruption, and (unless `sample` gets its
        own) the chains.

    Attributes
    ----------
    encoder_state_, decoder_state_ : dict of str to Tensor
        The networks' weights (in `dtype`); `networks()` builds the modules.
    architecture_ : dict
    likelihood_ : str, "gaussian" or "bernoulli", as resolved at fit
    data_shift_, data_scale_ : Tensor of shape input_shape
        The standardisation: the networks see (X - data_shift_) / data_scale_.
    loss_curve_ : list of float, the training loss (nats per dimension) at every step
    n_steps_ : int
    n_features_in_ : int
    input_shape_ : list of int, (d,) or (c, h, w)

    Examples
    --------
    >>> from genzoo import DenoisingAutoencoder
    >>> from genzoo.data import make_moons
    >>> dae = DenoisingAutoencoder(8, hidden=(32,), max_steps=50, n_burn_in=5, verbose=0,
    ...                            random_state=0).fit(make_moons(300))
    >>> dae.sample(4).shape, dae.reconstruct(make_moons(3)).shape
    ((4, 2), (3, 2))
    """

    _build_networks = staticmethod(build_networks)

    likelihood_kind = None
    no_likelihood_reason = (
        "its samples come from a Markov chain whose stationary distribution is only implicit "
        "in the learned reconstruction distribution P(x | x~)."
    )
    data_kind = "images"
    _code_width_param = "latent_dim"
    _parameter_constraints = {
        "latent_dim": [Interval(int, 1, MAX_WIDTH)],
        "hidden": ["array-like"],
        "channels": ["array-like"],
        "corruption": [Options(*CORRUPTIONS)],
        "noise_level": [Interval(float, 0, None, closed="neither")],
        "likelihood": [Options("auto", "gaussian", "bernoulli")],
        "network": [Options("auto", "mlp", "conv")],
        "n_burn_in": [Interval(int, 0, MAX_ITERATIONS)],
        "thinning": [Interval(int, 1, MAX_ITERATIONS)],
        "n_chains": [Interval(int, 1, MAX_ROWS)],
        "sample_noise": [bool, Options("auto")],
        **NEURAL_CONSTRAINTS,
    }

    def __init__(
        self,
        latent_dim: int = 64,
        *,
        hidden: tuple[int, ...] = (256, 256),
        channels: tuple[int, ...] = (32, 64),
        corruption: str = "gaussian",
        noise_level: float = 0.5,
        likelihood: str = "auto",
        network: str = "auto",
        n_burn_in: int = 100,
        thinning: int = 10,
        n_chains: int = 100,
        sample_noise: bool | str = "auto",
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
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.channels = channels
        self.corruption = corruption
        self.noise_level = noise_level
        self.likelihood = likelihood
        self.network = network
        self.n_burn_in = n_burn_in
        self.thinning = thinning
        self.n_chains = n_chains
        self.sample_noise = sample_noise
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

    # --- fitting

    def _check_arguments(self) -> None:
        if self.corruption == "mask" and self.noise_level >= 1:
            raise ValueError(
                f"noise_level is a masking probability with corruption='mask', so below 1; "
                f"got {self.noise_level}."
            )

    def _architecture(self, X, y) -> dict:
        return self._autoencoder_architecture(X, self.latent_dim, n_classes=None, min_std=_MIN_STD)

    def _build_networks(self, architecture: dict) -> dict:
        return build_networks(architecture)

    def _objectives(self) -> list[Objective]:
        return [Objective("reconstruction", self._loss_fn())]

    def _loss_fn(self):
        """-log P(x | x~) per dimension of one minibatch, one corruption x~ per row."""
        corrupt, level = CORRUPTIONS[self.corruption], float(self.noise_level)

        def loss_fn(modules, batch, gen):
            x = batch[0]
            location, log_std = modules["decoder"](modules["encoder"](corrupt(x, level, gen)))
            loss = -log_likelihood(x, location, log_std).mean() / x[0].numel()
            return loss, {}

        return loss_fn

    # --- sampling

    def _sample(self, n_samples: int, y, gen) -> torch.Tensor:
        """The kept states (or their means) of the chains, in standardisation's units undone.

        All noise comes from `gen`, on its device (the model's).
        """
        n_chains = min(self.n_chains, n_samples)
        n_keep = -(-n_samples // n_chains)
        steps = self.n_burn_in + self.thinning * (n_keep - 1) + 1
        if steps > _MAX_CHAIN_STEPS:
            raise ValueError(
                f"sample({n_samples}) would run the chains for {steps:,} steps (n_burn_in="
                f"{self.n_burn_in}, thinning={self.thinning}, n_chains={self.n_chains}), more "
                f"than {_MAX_CHAIN_STEPS:,}; raise n_chains or draw fewer samples per call."
            )
        shape, dtype = (n_chains, *self.input_shape_), self._dtype()
        if self.likelihood_ == "bernoulli":
            start = torch.full(shape, 0.5, dtype=dtype, device=gen.device)
            start = torch.bernoulli(start, generator=gen)
        else:
            start = torch.randn(shape, generator=gen, dtype=dtype, device=gen.device)
        corrupt, level = CORRUPTIONS[self.corruption], float(self.noise_level)
        with self._evaluation() as networks:
            encoder, decoder = networks["encoder"], networks["decoder"]

            def reconstruct(x_tilde, g):
                location, log_std = decoder(encoder(x_tilde))
                return draw_reconstruction(location, log_std, g), decoder_mean(location, log_std)

            draws, means = gdae_chain(
                lambda x, g: corrupt(x, level, g),
                reconstruct,
                start,
                n_burn_in=self.n_burn_in,
                thinning=self.thinning,
                n_keep=n_keep,
                gen=gen,
            )  # (n_keep, n_chains, ...)
        draw = self.sample_noise
        if draw == "auto":
            draw = len(self.input_shape_) == 1
        return self._unstandardise((draws if draw else means).flatten(0, 1)[:n_samples])
