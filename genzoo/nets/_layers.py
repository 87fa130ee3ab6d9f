"""Small pieces the networks share: activations, normalisation layers and argument checks."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

ACTIVATIONS = {
    "silu": nn.SiLU,
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.2),  # the DCGAN slope
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
    "sigmoid": nn.Sigmoid,
}
NORMS = ("group", "batch", None)
MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 8, 64


def make_activation(name: str | None, argument: str = "activation") -> nn.Module:
    """Return a fresh activation module for `name` (None gives the identity)."""
    if name is None:
        return nn.Identity()
    if name not in ACTIVATIONS:
        raise ValueError(f"{argument}={name!r} is not one of {sorted(ACTIVATIONS)}.")
    return ACTIVATIONS[name]()


def make_norm(kind: str | None, channels: int) -> nn.Module:
    """GroupNorm with gcd(8, channels) groups, BatchNorm2d, or the identity."""
    if kind == "group":
        return nn.GroupNorm(math.gcd(8, channels), channels)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    return nn.Identity()


def check_norm(norm) -> None:
    if norm not in NORMS:
        raise ValueError(f"norm={norm!r} is not one of {list(NORMS)}.")


def check_positive_ints(values, argument: str, *, allow_empty: bool = False) -> tuple[int, ...]:
    """Return `values` as a tuple of positive ints, or raise ValueError naming `argument`."""
    if isinstance(values, int):
        values = (values,)
    values = tuple(values)
    if (not values and not allow_empty) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in values
    ):
        raise ValueError(f"{argument}={values!r} must be a sequence of positive integers.")
    return values


def check_image_shape(image_shape) -> tuple[int, int, int]:
    """Return image_shape as (c, h, w), with h and w between 8 and 64."""
    shape = tuple(image_shape)
    if len(shape) != 3 or not all(isinstance(s, int) and s > 0 for s in shape):
        raise ValueError(f"image_shape={shape!r} must be three positive integers (c, h, w).")
    c, h, w = shape
    if not (MIN_IMAGE_SIZE <= h <= MAX_IMAGE_SIZE and MIN_IMAGE_SIZE <= w <= MAX_IMAGE_SIZE):
        raise ValueError(
            f"image_shape={shape!r}: height and width must be between {MIN_IMAGE_SIZE} and "
            f"{MAX_IMAGE_SIZE} (these networks are sized for small images)."
        )
    return shape


def check_input(x: Tensor, shape: tuple[int, ...], name: str = "x") -> None:
    """Raise ValueError naming `name` unless x has shape (batch, *shape)."""
    if x.dim() != len(shape) + 1 or tuple(x.shape[1:]) != tuple(shape):
        raise ValueError(
            f"{name} has shape {tuple(x.shape)}; this network expects (batch, "
            + ", ".join(str(s) for s in shape)
            + ")."
        )


def as_batch_times(t, batch_size: int, like: Tensor) -> Tensor:
    """Times as a (batch,) tensor in like's dtype and device; a scalar is broadcast."""
    t = torch.as_tensor(t, device=like.device)
    if not t.is_floating_point():
        t = t.to(torch.get_default_dtype())
    t = t.to(like.dtype)
    if t.dim() == 0:
        t = t.expand(batch_size)
    if t.shape != (batch_size,):
        raise ValueError(f"t has shape {tuple(t.shape)}; expected ({batch_size},) or a scalar.")
    return t
