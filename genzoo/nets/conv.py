"""A convolutional encoder and decoder for small images (8x8 up to 64x64, 28x28 included).

Each entry of ``channels`` is one stage: a 4x4 convolution with stride 2 and padding 1,
normalisation, activation. Such a convolution maps a size s to floor(s / 2), so 28 -> 14 -> 7
and 12 -> 6 -> 3. The decoder recomputes the same sizes from ``image_shape`` and undoes each
stage with a 4x4 transposed convolution, which maps s to 2s + output_padding; an
output_padding of 1 restores an odd size (7 -> 14 is 0, 3 -> 7 is 1), so the decoder returns
exactly (h, w) for any size, power of two or not.

Labels (``n_classes``) enter as an embedding that every stage adds, through its own linear
map, as a per-channel bias after normalisation, and that is concatenated to the flat vector
(encoder output, decoder input): the conditioning of conditional VAEs and GANs.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from genzoo.nets._layers import (
    check_image_shape,
    check_input,
    check_norm,
    check_positive_ints,
    make_activation,
    make_norm,
)
from genzoo.nets.embeddings import ConditionEmbedding


def down_sizes(size: int, n_stages: int) -> list[int]:
    """Sizes [s, floor(s/2), ...] after each of n_stages stride-2 convolutions."""
    sizes = [size]
    for _ in range(n_stages):
        if sizes[-1] < 2:
            raise ValueError(
                f"channels has {n_stages} stages, too many for an image side of {size}: "
                "each stage halves it and it would fall below 1."
            )
        sizes.append(sizes[-1] // 2)
    return sizes


def _maybe_spectral(layer: nn.Module, on: bool) -> nn.Module:
    return _spectral_norm(layer) if on else layer


class _ConvStage(nn.Module):
    """Convolution, normalisation, optional per-channel conditioning bias, activation."""

    def __init__(self, conv: nn.Module, out_channels, cond_features, norm, activation):
        super().__init__()
        self.conv = conv
        self.norm = make_norm(norm, out_channels)
        self.cond_proj = nn.Linear(cond_features, out_channels) if cond_features else None
        self.act = make_activation(activation)

    def forward(self, h: Tensor, c: Tensor | None) -> Tensor:
        h = self.norm(self.conv(h))
        if c is not None:
            h = h + self.cond_proj(c)[:, :, None, None]  # (batch, channels, 1, 1)
        return self.act(h)


def _check_common(image_shape, channels, norm, activation):
    image_shape = check_image_shape(image_shape)
    channels = check_positive_ints(channels, "channels")
    check_norm(norm)
    make_activation(activation)
    return image_shape, channels


class ConvEncoder(nn.Module):
    """Map images (batch, c, h, w) to vectors (batch, out_features) with strided convolutions.

    Parameters
    ----------
    image_shape : tuple (c, h, w)
        Input image shape; h and w between 8 and 64.
    out_features : int
        Size of the output vector (e.g. twice the latent size for a VAE's mean and log-variance,
        or 1 for a GAN discriminator).
    channels : tuple of int, default=(32, 64)
        Channels of each stride-2 stage (so ``len(channels)`` halvings).
    n_classes : int or None, default=None
        Number of classes for label conditioning; ``forward`` then takes ``y``.
    label_dim : int, default=32
        Size of the label embedding.
    norm : {"group", "batch", None}, default="group"
        Normalisation after each convolution. GAN discriminators usually take "group" or None.
    activation : str, default="silu"
        Activation after each stage ("leaky_relu" is the GAN discriminator's usual choice).
    spectral_norm : bool, default=False
        Wrap every convolution and linear layer in spectral normalisation (GAN discriminators).

    Examples
    --------
    >>> import torch
    >>> ConvEncoder((1, 28, 28), 16)(torch.randn(2, 1, 28, 28)).shape
    torch.Size([2, 16])
    """

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        out_features: int,
        channels: tuple[int, ...] = (32, 64),
        *,
        n_classes: int | None = None,
        label_dim: int = 32,
        norm: str | None = "group",
        activation: str = "silu",
        spectral_norm: bool = False,
    ):
        super().__init__()
        self.image_shape, channels = _check_common(image_shape, channels, norm, activation)
        (out_features,) = check_positive_ints(out_features, "out_features")
        c, h, w = self.image_shape
        heights, widths = down_sizes(h, len(channels)), down_sizes(w, len(channels))
        self.cond = ConditionEmbedding(None, n_classes, label_dim)
        n_cond = self.cond.out_features
        self.stages = nn.ModuleList()
        for c_in, c_out in zip((c, *channels[:-1]), channels, strict=True):
            conv = _maybe_spectral(nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), spectral_norm)
            self.stages.append(_ConvStage(conv, c_out, n_cond, norm, activation))
        flat = channels[-1] * heights[-1] * widths[-1]
        self.out = _maybe_spectral(nn.Linear(flat + n_cond, out_features), spectral_norm)
        self.out_features = out_features

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Return the (batch, out_features) codes of images x of shape (batch, c, h, w)."""
        check_input(x, self.image_shape)
        c = self.cond(None, y, batch_size=x.shape[0])
        h = x
        for stage in self.stages:
            h = stage(h, c)
        h = h.flatten(1)  # (batch, channels * h' * w')
        if c is not None:
            h = torch.cat([h, c], dim=1)
        return self.out(h)


class ConvDecoder(nn.Module):
    """Map vectors (batch, in_features) to images (batch, c, h, w), the mirror of ConvEncoder.

    A linear layer makes a (channels[0], h', w') map at the encoder's smallest size; each stage
    doubles it with a transposed convolution (output_padding restores odd sizes), and a 3x3
    convolution gives the c output channels.

    Parameters
    ----------
    in_features : int
        Size of the input vector (latent code or noise).
    image_shape : tuple (c, h, w)
        Output image shape; h and w between 8 and 64.
    channels : tuple of int, default=(64, 32)
        Channels of each stride-2 stage, from the smallest resolution up.
    n_classes, label_dim, norm, activation, spectral_norm
        As in `ConvEncoder`.
    final_activation : str or None, default=None
        Activation on the output: "sigmoid" for pixels in [0, 1], "tanh" for [-1, 1].

    Examples
    --------
    >>> import torch
    >>> ConvDecoder(16, (1, 28, 28))(torch.randn(2, 16)).shape
    torch.Size([2, 1, 28, 28])
    """

    def __init__(
        self,
        in_features: int,
        image_shape: tuple[int, int, int],
        channels: tuple[int, ...] = (64, 32),
        *,
        n_classes: int | None = None,
        label_dim: int = 32,
        norm: str | None = "group",
        activation: str = "silu",
        final_activation: str | None = None,
        spectral_norm: bool = False,
    ):
        super().__init__()
        self.image_shape, channels = _check_common(image_shape, channels, norm, activation)
        (in_features,) = check_positive_ints(in_features, "in_features")
        c, h, w = self.image_shape
        # the encoder's sizes, smallest first: the decoder walks them back up
        heights = down_sizes(h, len(channels))[::-1]
        widths = down_sizes(w, len(channels))[::-1]
        self.start_shape = (channels[0], heights[0], widths[0])
        self.cond = ConditionEmbedding(None, n_classes, label_dim)
        n_cond = self.cond.out_features
        self.fc = _maybe_spectral(
            nn.Linear(in_features + n_cond, channels[0] * heights[0] * widths[0]), spectral_norm
        )
        self.act = make_activation(activation)
        self.stages = nn.ModuleList()
        for i, (c_in, c_out) in enumerate(
            zip(channels, (*channels[1:], channels[-1]), strict=True)
        ):
            pad = (heights[i + 1] - 2 * heights[i], widths[i + 1] - 2 * widths[i])  # 0 or 1
            conv = nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1, output_padding=pad)
            conv = _maybe_spectral(conv, spectral_norm)
            self.stages.append(_ConvStage(conv, c_out, n_cond, norm, activation))
        self.out = _maybe_spectral(nn.Conv2d(channels[-1], c, 3, padding=1), spectral_norm)
        self.final_act = make_activation(final_activation, "final_activation")
        self.in_features = in_features

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """Return images (batch, c, h, w) decoded from z of shape (batch, in_features)."""
        check_input(z, (self.in_features,), name="z")
        c = self.cond(None, y, batch_size=z.shape[0])
        h = z if c is None else torch.cat([z, c], dim=1)
        h = self.act(self.fc(h)).view(z.shape[0], *self.start_shape)  # (batch, ch, h', w')
        for stage in self.stages:
            h = stage(h, c)
        return self.final_act(self.out(h))
