"""The VAE's networks and densities: the encoder q(z | x), the decoder p(x | z), their logs.

Both networks come from `genzoo.nets`: an `MLP` on flat vectors, or a `ConvEncoder` and
`ConvDecoder` on images. Labels (a conditional VAE) enter both through the networks' label
embeddings. Every density here is summed over the dimensions of x and is in nats.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genzoo.nets import MLP, ConvDecoder, ConvEncoder

LOG_2PI = math.log(2 * math.pi)
# The encoder's log-variances are clipped here: exp(-12) to exp(8) spans any useful posterior
# width, and the clip keeps early training from overflowing.
LOG_VAR_RANGE = (-12.0, 8.0)


class Encoder(nn.Module):
    """q(z | x[, y]) = N(mu, diag(exp(log_var))): the mean and log-variance of each row."""

    def __init__(self, architecture: dict):
        super().__init__()
        shape, latent = tuple(architecture["input_shape"]), architecture["latent_dim"]
        self.conv = architecture["network"] == "conv"
        n_classes = architecture["n_classes"]
        if self.conv:
            channels = tuple(architecture["channels"])
            self.net = ConvEncoder(shape, 2 * latent, channels, n_classes=n_classes)
        else:
            hidden = tuple(architecture["hidden"])
            self.net = MLP(math.prod(shape), 2 * latent, hidden, n_classes=n_classes)

    def forward(self, x: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor]:
        h = self.net(x if self.conv else x.flatten(1), y=y)  # (batch, 2 * latent_dim)
        mu, log_var = h.chunk(2, dim=1)
        return mu, log_var.clamp(*LOG_VAR_RANGE)


class Decoder(nn.Module):
    """p(x | z[, y]): per dimension of x, a Gaussian mean and log-std, or Bernoulli logits.

    The Gaussian's standard deviation depends on z (the network outputs it next to the mean,
    as extra channels for images): ``min_std + softplus(raw)``. The floor keeps the density
    bounded on dimensions that are constant in the training data (an image's border pixels).
    """

    def __init__(self, architecture: dict):
        super().__init__()
        self.input_shape = tuple(architecture["input_shape"])
        latent, n_classes = architecture["latent_dim"], architecture["n_classes"]
        self.conv = architecture["network"] == "conv"
        self.gaussian = architecture["likelihood"] == "gaussian"
        n_out = 2 if self.gaussian else 1  # mean and raw std, or logits
        if self.conv:
            c, h, w = self.input_shape
            channels = tuple(reversed(architecture["channels"]))
            self.net = ConvDecoder(latent, (n_out * c, h, w), channels, n_classes=n_classes)
        else:
            hidden = tuple(reversed(architecture["hidden"]))
            n_dims = math.prod(self.input_shape)
            self.net = MLP(latent, n_out * n_dims, hidden, n_classes=n_classes)
        self.register_buffer("min_std", torch.tensor(float(architecture["min_std"])))

    def forward(self, z: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """Return the location (Gaussian mean or Bernoulli logits) and the Gaussian log-std."""
        out = self.net(z, y=y)
        if not self.gaussian:
            return out.reshape(len(z), *self.input_shape), None
        # (batch, 2 * c, h, w) or (batch, 2 * d): the first half is the mean
        location, raw = out.reshape(len(z), 2, -1).unbind(1)
        log_std = torch.log(self.min_std + F.softplus(raw))
        shape = (len(z), *self.input_shape)
        return location.reshape(shape), log_std.reshape(shape)


class CodeEncoder(nn.Module):
    """x -> h = net(x), a deterministic code of width `latent_dim`, (batch, latent_dim): the
    denoising autoencoder's (linear output) or, with `squash`, the sparse one's sigmoid
    activations in (0, 1)."""

    def __init__(self, architecture: dict, *, squash: bool = False):
        super().__init__()
        shape, width = tuple(architecture["input_shape"]), architecture["latent_dim"]
        self.conv, self.squash = architecture["network"] == "conv", squash
        if self.conv:
            self.net = ConvEncoder(shape, width, tuple(architecture["channels"]))
        else:
            self.net = MLP(math.prod(shape), width, tuple(architecture["hidden"]))

    def forward(self, x: Tensor) -> Tensor:
        h = self.net(x if self.conv else x.flatten(1))
        return torch.sigmoid(h) if self.squash else h


def build_networks(architecture: dict) -> dict[str, nn.Module]:
    """The VAE's networks: {"encoder": q(z | x), "decoder": p(x | z)}."""
    return {"encoder": Encoder(architecture), "decoder": Decoder(architecture)}


# --- densities


def log_likelihood(x: Tensor, location: Tensor, log_std: Tensor | None) -> Tensor:
    """log p(x | z) summed over x's dimensions; location (..., *shape), x broadcasts to it.

    Gaussian with `log_std`, else Bernoulli with logits `location`: x log p + (1 - x) log(1 - p)
    = x * logit - softplus(logit), which for x in [0, 1] is the continuous cross-entropy.
    Computed in the widest dtype of the inputs: a float64 x gives float64 terms and sums.
    """
    n_dims = x.dim() - 1
    if log_std is not None:
        scaled = (x - location) * torch.exp(-log_std)
        per_dim = -0.5 * scaled**2 - log_std - 0.5 * LOG_2PI
    else:
        per_dim = x * location - F.softplus(location)
    return per_dim.flatten(-n_dims).sum(-1)


def decoder_mean(location: Tensor, log_std: Tensor | None) -> Tensor:
    """E[x | z]: the Gaussian mean, or the Bernoulli probabilities."""
    return location if log_std is not None else torch.sigmoid(location)


def kl_to_standard_normal(mu: Tensor, log_var: Tensor) -> Tensor:
    """KL(N(mu, exp(log_var)) || N(0, I)) per row, in closed form."""
    return 0.5 * (mu**2 + torch.exp(log_var) - 1.0 - log_var).sum(-1)


def importance_log_weights(
    x: Tensor, y: Tensor | None, encoder: Encoder, decoder: Decoder, eps: Tensor
) -> Tensor:
    """log p(x, z_k) - log q(z_k | x) for z_k = mu + sigma * eps_k; shape (K, batch), float64.

    x is standardised data (batch, *shape), float64, and eps the standard normal noise
    (K, batch, L) in the networks' dtype. The networks run in that dtype; every sum (over
    x's dimensions and over L) is taken in float64.
    """
    K, _, L = eps.shape
    mu, log_var = encoder(x.to(eps.dtype), y)  # (batch, L) each
    z = mu + torch.exp(0.5 * log_var) * eps  # (K, batch, L)
    y_rep = None if y is None else y.repeat(K)  # row k * batch + i has label y[i]
    location, log_std = decoder(z.reshape(-1, L), y_rep)
    location = location.reshape(K, *x.shape)  # (K, batch, *shape)
    log_std = None if log_std is None else log_std.reshape(K, *x.shape)
    log_px = log_likelihood(x.to(torch.float64), location, log_std)  # (K, batch)
    wide = torch.float64
    log_pz = -0.5 * (z**2).sum(-1, dtype=wide) - 0.5 * L * LOG_2PI
    log_qz = -0.5 * (eps**2).sum(-1, dtype=wide) - 0.5 * log_var.sum(-1, dtype=wide)
    log_qz = log_qz - 0.5 * L * LOG_2PI
    return log_px + log_pz - log_qz


def row_noise(X: np.ndarray, n_samples: int, latent_dim: int, seed: int) -> np.ndarray:
    """Standard normal noise (n_samples, n_rows, latent_dim), a function of each row's values.

    Each row seeds its own generator from a hash of (seed, its bytes), so a row gets the same
    noise in any batch, and distinct rows get independent noise.
    """
    out = np.empty((n_samples, len(X), latent_dim))
    rows = np.ascontiguousarray(X, dtype=np.float64).reshape(len(X), -1)
    prefix = int(seed).to_bytes(8, "little", signed=True)
    for i, row in enumerate(rows):
        digest = hashlib.blake2b(prefix + row.tobytes(), digest_size=8).digest()
        rng = np.random.default_rng(int.from_bytes(digest, "little"))
        out[:, i] = rng.standard_normal((n_samples, latent_dim))
    return out
