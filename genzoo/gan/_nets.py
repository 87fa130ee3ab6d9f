"""The GAN family's networks: generators, discriminators (critics) and translators.

All are built from a JSON-able architecture dict out of `genzoo.nets`: MLPs for vectors,
DCGAN-style strided convolutions for images (Radford et al., 2016: batch-normalised ReLU
generator with a tanh output, leaky-ReLU discriminator without batch norm, so that gradient
penalties stay per-sample). Labels reach a conditional discriminator by concatenation (the
label embedding joins every layer) or by projection (Miyato and Koyama, 2018). Spectral
normalisation (Miyato et al., 2018) wraps every weight of a discriminator on request.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from genzoo.nets import MLP, ConvDecoder, ConvEncoder
from genzoo.nets._layers import make_activation

__all__ = ["Critic", "Generator", "Translator", "spectral_normalise"]


def spectral_normalise(module: nn.Module) -> nn.Module:
    """Wrap the weight of every linear, convolution and embedding layer of `module` in
    spectral normalisation (one power iteration per training forward pass); return it."""
    layers = [m for m in module.modules() if isinstance(m, (nn.Linear, nn.Conv2d, nn.Embedding))]
    for layer in layers:
        _spectral_norm(layer)
    return module


class Generator(nn.Module):
    """x = G(z[, y]): an MLP on vectors, a DCGAN transposed-convolution stack on images.

    Images come out through tanh, in [-1, 1] (the data are scaled to that range); vectors
    through a linear layer, in standardised units.
    """

    def __init__(self, architecture: dict):
        super().__init__()
        self.shape = tuple(architecture["input_shape"])
        latent, n_classes = architecture["latent_dim"], architecture["n_classes"]
        self.conv = architecture["network"] == "conv"
        if self.conv:
            channels = tuple(reversed(architecture["channels"]))
            self.net = ConvDecoder(
                latent, self.shape, channels, n_classes=n_classes, norm="batch",
                activation="relu", final_activation="tanh",
            )  # fmt: skip
        else:
            hidden = tuple(architecture["hidden"])
            self.net = MLP(latent, math.prod(self.shape), hidden, n_classes=n_classes,
                           activation="leaky_relu")  # fmt: skip

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        return self.net(z, y=y).reshape(len(z), *self.shape)


class Critic(nn.Module):
    """D(x[, y]): one unbounded score per row (a logit, or a Wasserstein critic's value).

    A body maps x to features phi(x); the score is ``psi(phi(x))``, plus ``embed(y) .
    phi(x)`` for the projection discriminator. With "concat" conditioning the label enters
    the body instead (every layer adds a projection of its embedding).
    """

    def __init__(self, architecture: dict):
        super().__init__()
        shape = tuple(architecture["input_shape"])
        n_classes, conditioning = architecture["n_classes"], architecture["conditioning"]
        self.conv = architecture["network"] == "conv"
        self.concat = n_classes is not None and conditioning == "concat"
        body_classes = n_classes if self.concat else None
        if self.conv:
            channels = tuple(architecture["channels"])
            width = 2 * channels[-1]
            self.body = ConvEncoder(
                shape, width, channels, n_classes=body_classes, norm=None,
                activation="leaky_relu",
            )  # fmt: skip
        else:
            hidden = tuple(architecture["hidden"])
            width = hidden[-1]
            self.body = MLP(math.prod(shape), width, hidden[:-1], n_classes=body_classes,
                            activation="leaky_relu")  # fmt: skip
        self.act = make_activation("leaky_relu")
        self.head = nn.Linear(width, 1)
        projection = n_classes is not None and conditioning == "projection"
        self.embed = nn.Embedding(n_classes, width) if projection else None
        if architecture["spectral_norm"]:
            spectral_normalise(self)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        x = x if self.conv else x.flatten(1)
        h = self.act(self.body(x, y=y if self.concat else None))  # (batch, width)
        score = self.head(h).squeeze(1)
        if self.embed is not None:
            score = score + (self.embed(y) * h).sum(1)  # the projection term
        return score


class _ResidualBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.InstanceNorm2d(channels, affine=True),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.InstanceNorm2d(channels, affine=True),
        )

    def forward(self, h: Tensor) -> Tensor:
        return h + self.body(h)


class Translator(nn.Module):
    """A CycleGAN generator, x_b = G(x_a), that keeps the data's shape.

    Images: a fully convolutional residual network at full resolution (a stem, residual
    blocks with instance norm, as in Zhu et al. 2017's ResNet generator without its
    down-sampling, which 8x8 images cannot afford), with a tanh output in [-1, 1]. Vectors:
    an MLP.

    The vector translator is deliberately not residual (``x + MLP(x)``). A map that starts
    at the identity is pulled towards the nearest map that matches the distributions, the
    one that moves the data least, which is monotone (the gradient of a convex function, as
    optimal transport maps are; Brenier, 1991). A rotation by 90 degrees never is: from the
    identity, each cluster goes to its nearest cluster of the other domain. Started from a
    random map, it has no such pull to resist (measured on "blobs_rotated": the residual
    translator sent 99.6% of points to the wrong blob, the plain one 0.4%).
    """

    def __init__(self, architecture: dict):
        super().__init__()
        self.shape = tuple(architecture["input_shape"])
        self.conv = architecture["network"] == "conv"
        if self.conv:
            c, width = self.shape[0], architecture["channels"][0]
            blocks = [_ResidualBlock(width) for _ in range(architecture["n_blocks"])]
            self.net = nn.Sequential(
                nn.Conv2d(c, width, 3, padding=1), nn.ReLU(), *blocks,
                nn.Conv2d(width, c, 3, padding=1), nn.Tanh(),
            )  # fmt: skip
        else:
            d = math.prod(self.shape)
            self.net = MLP(d, d, tuple(architecture["hidden"]), activation="leaky_relu")

    def forward(self, x: Tensor) -> Tensor:
        if self.conv:
            return self.net(x)
        return self.net(x.flatten(1)).reshape(x.shape)


def critic_scores(critic: nn.Module, x: Tensor, y: Tensor | None = None) -> Tensor:
    """The critic's score of every row of x, in chunks (bounded memory), in float64."""
    out = [critic(x[i : i + 4096], None if y is None else y[i : i + 4096]) for i in
           range(0, len(x), 4096)]  # fmt: skip
    return torch.cat(out).double()
