"""Variational autoencoder (Kingma and Welling, 2014), optionally conditioned on a label."""

from __future__ import annotations

import math

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from genzoo._neural import NEURAL_CONSTRAINTS
from genzoo._validation import MAX_ITERATIONS, MAX_ROWS, MAX_WIDTH, Interval, Options
from genzoo.autoencoder._base import NeuralAutoencoder, _numpy
from genzoo.autoencoder._vae_nets import (
    build_networks,
    decoder_mean,
    importance_log_weights,
    kl_to_standard_normal,
    log_likelihood,
    row_noise,
)
from genzoo.registry import Variant, register
from genzoo.training import Objective

__all__ = ["VAE"]

# Most elements (rows x importance samples x dimensions) decoded at once in log_prob and elbo.
_CHUNK_ELEMENTS = 2**21


@register(
    "vae",
    family="autoencoder",
    data_kind="images",
    default_dataset="digits",
    zoo_datasets=("digits_binary", "moons"),
    fixture_dataset="digits",
    fixture_size=200,
    test_params={
        "latent_dim": 4, "hidden": (32,), "channels": (8, 16), "n_importance": 8,
        "batch_size": 64, "max_steps": 30, "verbose": 0, "random_state": 0,
    },
    quick_params={"latent_dim": 8, "max_steps": 1500, "verbose": 0, "random_state": 0},
    zoo_params={"latent_dim": 16, "max_steps": 6000, "random_state": 0},
    # A tenth of the digits per class: a tenth of the quick steps is as many epochs, and the
    # importance-sampled bound ranks the classes as well with fewer samples (0.972 either way).
    classifier_params={"max_steps": 150, "n_importance": 16},
    test_variants=(Variant("conditional", {"conditional": True}),),
)  # fmt: skip
class VAE(NeuralAutoencoder):
    """Variational autoencoder on vectors or images, optionally conditioned on a class label.

    The encoder q(z | x) is a diagonal Gaussian and the prior p(z) is N(0, I). Training
    maximises the ELBO, E_q[log p(x | z)] - beta * KL(q(z | x) || p(z)), by AdamW through the
    shared `Trainer`. `log_prob` returns the importance-weighted bound of Burda et al. (2016)
    with `n_importance` samples, which is at least the ELBO and tightens as it grows.

    Continuous data are standardised before training (per feature for vectors, one scale for
    images) and the densities are mapped back, so `log_prob` is a density of the original data
    in nats. Networks are MLPs on vectors and convolutional for images with sides 8 to 64
    (`network="auto"`). The fitted networks evaluate in `dtype` (float32 by default); the
    bounds are summed in float64.

    Parameters
    ----------
    latent_dim : int, default=16
        Size of the latent code z.
    hidden : tuple of int, default=(256, 256)
        Hidden widths of the MLP encoder (the decoder mirrors them).
    channels : tuple of int, default=(32, 64)
        Channels of the convolutional encoder's stride-2 stages (the decoder mirrors them).
    likelihood : {"auto", "gaussian", "bernoulli"}, default="auto"
        The decoder p(x | z). "gaussian": a mean per dimension from the network and a learned
        standard deviation per dimension (per pixel), shared by all z. "bernoulli": for data
        in [0, 1]; on binary data `log_prob` is a log-probability (a proper mass function),
        on intensities in between it is the continuous cross-entropy, not a normalised
        density. "auto" picks "bernoulli" when every training value is 0 or 1.
    conditional : bool, default=False
        Learn p(x | y): `fit(X, y)`, `sample(n, y=labels)`; the label enters both networks.
    beta : float, default=1.0
        Weight of the KL term in the training loss (beta-VAE, Higgins et al., 2017); 1 is the
        ELBO. `log_prob` and `elbo` always use the true bound, whatever `beta`.
    kl_warmup_steps : int, default=0
        Raise the KL weight linearly from 0 to `beta` over this many first steps (KL
        annealing, Bowman et al., 2016), so the decoder learns to use the code before the KL
        term pulls the posterior to the prior; on 2-D data it avoids a code that describes
        one coordinate only.
    n_importance : int, default=64
        Importance samples K of `log_prob` and `elbo`.
    network : {"auto", "mlp", "conv"}, default="auto"
        "auto" uses convolutions for images with both sides in [8, 64], else an MLP.
    min_std : float, default=0.01
        Floor of the Gaussian decoder's standard deviation, in units of the standardised data.
    sample_noise : bool or "auto", default="auto"
        Whether `sample` draws x ~ p(x | z) (Gaussian noise, or Bernoulli 0/1 draws) rather
        than returning the decoder's mean E[x | z] (pixel probabilities for "bernoulli").
        "auto" draws for vectors, where the decoder's noise is part of the data's spread, and
        returns the mean for images, which is what one plots.
    device, batch_size, max_steps, learning_rate, weight_decay, warmup_steps, schedule,
    grad_clip, ema_decay, verbose, checkpoint_dir, checkpoint_every, precision, dtype
        Training and evaluation settings, documented once in `NeuralGenerativeModel`
        (genzoo/_neural.py).
    random_state : int or None, default=None
        Seeds the weights, the training batches and noise, and (unless `sample` gets its own)
        sampling. The importance samples of `log_prob` and `elbo` for a row are drawn from a
        hash of this seed (0 when None) and the row's values: both are deterministic
        functions of each row, whatever the batch or the device, and independent between
        distinct rows.

    Attributes
    ----------
    encoder_state_, decoder_state_ : dict of str to Tensor
        The networks' weights (in `dtype`); `networks()` builds the modules.
    architecture_ : dict
        What the networks were built from (network, likelihood, sizes, n_classes).
    likelihood_ : str
        "gaussian" or "bernoulli", as resolved at fit.
    data_shift_, data_scale_ : Tensor of shape input_shape
        The standardisation: the networks see (X - data_shift_) / data_scale_.
    classes_ : ndarray (conditional only)
    class_log_prior_ : Tensor (n_classes,) (conditional only), log frequencies of the labels
    loss_curve_ : list of float, the training loss (nats per dimension) at every step
    n_steps_ : int
    n_features_in_ : int
    input_shape_ : list of int, (d,) or (c, h, w)

    Examples
    --------
    >>> from genzoo import VAE
    >>> from genzoo.data import make_moons
    >>> vae = VAE(latent_dim=2, max_steps=200, verbose=0, random_state=0).fit(make_moons(500))
    >>> vae.sample(4).shape, vae.log_prob(make_moons(3)).shape
    ((4, 2), (3,))
    """

    _build_networks = staticmethod(build_networks)

    likelihood_kind = "lower_bound"
    fitted_attributes = (*NeuralAutoencoder.fitted_attributes, "classes_", "class_log_prior_")
    # Images (n, c, h, w) or (n, h, w), and vectors (n, d) as well: the base accepts 2-D X too.
    data_kind = "images"
    _parameter_constraints = {
        "latent_dim": [Interval(int, 1, MAX_WIDTH)],
        "hidden": ["array-like"],
        "channels": ["array-like"],
        "likelihood": [Options("auto", "gaussian", "bernoulli")],
        "conditional": [bool],
        "beta": [Interval(float, 0, None)],
        "kl_warmup_steps": [Interval(int, 0, MAX_ITERATIONS)],
        "n_importance": [Interval(int, 1, MAX_ROWS)],
        "network": [Options("auto", "mlp", "conv")],
        "min_std": [Interval(float, 0, None, closed="neither")],
        "sample_noise": [bool, Options("auto")],
        **NEURAL_CONSTRAINTS,
    }
    _tensor_attributes = (*NeuralAutoencoder._tensor_attributes, "class_log_prior_")

    def __init__(
        self,
        latent_dim: int = 16,
        *,
        hidden: tuple[int, ...] = (256, 256),
        channels: tuple[int, ...] = (32, 64),
        likelihood: str = "auto",
        conditional: bool = False,
        beta: float = 1.0,
        kl_warmup_steps: int = 0,
        n_importance: int = 64,
        network: str = "auto",
        min_std: float = 0.01,
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
        self.likelihood = likelihood
        self.conditional = conditional
        self.beta = beta
        self.kl_warmup_steps = kl_warmup_steps
        self.n_importance = n_importance
        self.network = network
        self.min_std = min_std
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

    # The base declares `conditional` as a class-level constant; here it is a constructor
    # argument. A property keeps it in the instance under its own name (for get_params and
    # clone) and lets the registry see that it depends on the instance.
    @property
    def conditional(self) -> bool:
        """Whether the model is conditioned on labels (the constructor argument)."""
        return self.__dict__.get("conditional", False)

    @conditional.setter
    def conditional(self, value: bool) -> None:
        self.__dict__["conditional"] = value

    def likelihood_support(self, X=None) -> str:
        """ "discrete" with a Bernoulli decoder (probabilities of binary data), "continuous"
        with a Gaussian one; before fit, ``likelihood="auto"`` decides from the data X."""
        likelihood = vars(self).get("likelihood_")
        if likelihood is None:
            if self.likelihood == "auto" and X is None:
                raise ValueError(
                    "likelihood='auto' is decided by the training data: pass X to "
                    "likelihood_support, or fit first."
                )
            likelihood = self._resolve_likelihood(np.asarray(X, dtype=np.float64))
        return "discrete" if likelihood == "bernoulli" else "continuous"

    # --- fitting

    def _architecture(self, X, y) -> dict:
        n_classes = len(self.classes_) if self.conditional else None
        return self._autoencoder_architecture(
            X, self.latent_dim, n_classes=n_classes, min_std=self.min_std
        )

    def _build_networks(self, architecture: dict) -> dict:
        return build_networks(architecture)

    def _objectives(self) -> list[Objective]:
        return [Objective("elbo", self._loss_fn())]

    def _extra_fitted(self, X, y, fitted: dict, seed: int) -> dict:
        extra = super()._extra_fitted(X, y, fitted, seed)
        if self.conditional:
            n_classes = fitted["architecture_"]["n_classes"]
            extra["class_log_prior_"] = self._class_log_prior(y, n_classes)
        return extra

    def _loss_fn(self):
        """The negative beta-ELBO per dimension of one minibatch, one z per row."""
        beta, conditional, warmup = float(self.beta), self.conditional, self.kl_warmup_steps

        def loss_fn(modules, batch, gen, step=0):
            x = batch[0]
            y = batch[1] if conditional else None
            mu, log_var = modules["encoder"](x, y)
            eps = torch.randn(mu.shape, generator=gen, device=gen.device, dtype=mu.dtype)
            z = mu + torch.exp(0.5 * log_var) * eps  # the reparameterisation trick
            location, log_std = modules["decoder"](z, y)
            reconstruction = log_likelihood(x, location, log_std).mean()
            kl = kl_to_standard_normal(mu, log_var).mean()
            n_dims = x[0].numel()
            weight = beta * min(1.0, step / warmup) if warmup else beta
            loss = (weight * kl - reconstruction) / n_dims
            # tensors: the Trainer reads them every few steps, not at every step
            return loss, {"kl": kl.detach(), "reconstruction": reconstruction.detach()}

        return loss_fn

    # --- networks and bounds

    def _importance_noise(self, X: torch.Tensor) -> torch.Tensor:
        """eps (n_importance, n, latent_dim), each row's a function of its values and the seed.

        So `log_prob` is a deterministic function of each row, whatever the batch; the noise
        is drawn on the host from the row's float64 values, so it is the same on every device.
        """
        seed = 0 if self.random_state is None else self.random_state
        eps = row_noise(X.cpu().numpy(), self.n_importance, self.latent_dim, seed)
        return torch.as_tensor(eps, dtype=self._dtype(), device=X.device)

    def _log_det(self) -> torch.Tensor:
        """log |d standardise / dx|, which maps densities of standardised data back to X."""
        return -torch.log(self.data_scale_).sum()

    def _bound(self, X: torch.Tensor, y: torch.Tensor | None, iwae: bool) -> torch.Tensor:
        """The IWAE bound (or the K-sample ELBO) of log p(x | y) for each row, shape (n,),
        summed in float64."""
        Xs = self._standardise(X)
        rows = max(1, _CHUNK_ELEMENTS // (self.n_importance * self.n_features_in_))
        out = []
        with self._evaluation() as networks:
            for start in range(0, len(X), rows):
                part = slice(start, start + rows)
                eps = self._importance_noise(X[part])
                log_w = importance_log_weights(
                    Xs[part], None if y is None else y[part], *networks.values(), eps
                )  # (K, rows), float64
                if iwae:
                    out.append(torch.logsumexp(log_w, 0) - math.log(len(eps)))
                else:
                    out.append(log_w.mean(0))
        return torch.cat(out) + self._log_det()

    def _joint_or_marginal(self, X, y, iwae: bool) -> torch.Tensor:
        """Bound on log p(x, y) for given labels, else on log p(x); unconditional: log p(x)."""
        if not self.conditional:
            return self._bound(X, None, iwae)
        if y is not None:
            return self._bound(X, y, iwae) + self.class_log_prior_[y]
        per_class = [
            self._bound(X, torch.full((len(X),), k, device=X.device), iwae) + log_prior
            for k, log_prior in enumerate(self.class_log_prior_)
        ]
        return torch.logsumexp(torch.stack(per_class), 0)  # (n,)

    def _log_prob(self, X: torch.Tensor) -> torch.Tensor:
        return self._joint_or_marginal(X, None, iwae=True)

    def _labelled_log_prob(self, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self._joint_or_marginal(X, y, iwae=True)

    # --- public extras

    def elbo(self, X, y=None) -> np.ndarray:
        """Return the ELBO of each row of X in nats, shape (n_samples,).

        It is the mean of the same `n_importance` log-weights whose log-mean-exp is `log_prob`,
        so ``elbo(X) <= log_prob(X)`` row by row. Labels y work as in `log_prob`.
        """
        X, y = self._inputs(X, y)
        with torch.no_grad():
            return _numpy(self._joint_or_marginal(X, y, iwae=False))

    def encode(self, X, y=None, *, return_log_var: bool = False):
        """Return the latent means of q(z | x), (n_samples, latent_dim) [, their log-variances].

        A conditional model needs the labels y.
        """
        X, y = self._inputs(X, y, need_labels=True)
        with torch.no_grad(), self._evaluation() as networks:
            mu, log_var = networks["encoder"](self._standardise(X).to(self._dtype()), y)
        return (_numpy(mu), _numpy(log_var)) if return_log_var else _numpy(mu)

    def decode(self, Z, y=None) -> np.ndarray:
        """Return E[x | z] for each latent row of Z, shaped like the training data.

        A conditional model needs the labels y (one, or one per row).
        """
        check_is_fitted(self)
        Z = np.asarray(Z.detach().cpu() if isinstance(Z, torch.Tensor) else Z, dtype=np.float64)
        if Z.ndim != 2 or Z.shape[1] != self.latent_dim or not np.isfinite(Z).all():
            raise ValueError(
                f"Z must be a finite array of shape (n_samples, {self.latent_dim}); "
                f"got shape {Z.shape}."
            )
        y = self._required_labels(y, len(Z), broadcast=True)
        with torch.no_grad():
            return _numpy(self._decode_mean(self._to_tensor(Z), y))

    def reconstruct(self, X, y=None) -> np.ndarray:
        """Return decode(encode(X)): each row through its latent mean and back."""
        return self.decode(self.encode(X, y), y)

    def interpolate(self, x0, x1, n_steps: int = 10, *, y=None) -> np.ndarray:
        """Decode `n_steps` points on the line between the latent means of x0 and x1.

        x0 and x1 are single samples (shaped like one row of X). Returns (n_steps, ...), the
        first row the reconstruction of x0, the last that of x1.
        """
        if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 2:
            raise ValueError(f"n_steps must be an int >= 2; got {n_steps!r}.")
        pair = [np.asarray(v.detach().cpu() if isinstance(v, torch.Tensor) else v)
                for v in (x0, x1)]  # fmt: skip
        if pair[0].shape != pair[1].shape:
            raise ValueError(f"x0 and x1 differ in shape: {pair[0].shape} and {pair[1].shape}.")
        labels = None if y is None else [y, y]
        mu = self.encode(np.stack(pair), labels)  # (2, latent_dim)
        t = np.linspace(0.0, 1.0, n_steps)[:, None]
        return self.decode((1 - t) * mu[0] + t * mu[1], y)

    def _inputs(self, X, y, *, need_labels: bool = False):
        return self._inference_data(X, y, need_labels=need_labels)

    def _required_labels(self, y, n: int, *, broadcast: bool = False):
        if self.conditional and y is None:
            raise ValueError(
                "VAE requires y to be passed, but the target y is None: it is conditional "
                "(conditional=True)."
            )
        return self._label_index(y, n, broadcast=broadcast)

    def _decode_mean(self, Z: torch.Tensor, y) -> torch.Tensor:
        with self._evaluation() as networks:
            location, log_std = networks["decoder"](Z.to(self._dtype()), y)
            return self._unstandardise(decoder_mean(location, log_std))

    # --- sampling

    def _sample(self, n_samples: int, y, gen) -> torch.Tensor:
        if not self.conditional:
            return self._draw(n_samples, None, gen)
        return self._sample_with_labels(n_samples, y, gen)[0]

    def _sample_with_labels(self, n_samples: int, y, gen):
        if not self.conditional:
            return super()._sample_with_labels(n_samples, y, gen)  # raises: no labels
        if y is None:
            y = self._labels_from_prior(n_samples, gen)
        return self._draw(n_samples, y, gen), y

    def _draw(self, n_samples: int, y, gen) -> torch.Tensor:
        """x ~ p(x | z, y) with z ~ N(0, I): the decoder's mean, or a draw (`sample_noise`).

        All noise comes from `gen`, on its device (the model's).
        """
        z = torch.randn(
            n_samples, self.latent_dim, generator=gen, device=gen.device, dtype=self._dtype()
        )
        with self._evaluation() as networks:
            location, log_std = networks["decoder"](z, y)
        mean = decoder_mean(location, log_std)
        draw = self.sample_noise
        if draw == "auto":
            draw = len(self.input_shape_) == 1
        if draw and log_std is not None:
            noise = torch.randn(mean.shape, generator=gen, device=gen.device, dtype=mean.dtype)
            mean = mean + torch.exp(log_std) * noise
        elif draw:
            mean = torch.bernoulli(mean, generator=gen)
        return self._unstandardise(mean)
