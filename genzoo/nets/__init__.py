"""Networks shared by the neural families: MLPs, a conv encoder and decoder, a small U-Net.

All are plain `torch.nn.Module`s, float32 by default (``.double()`` and ``.to(device)`` work),
sized to train on a CPU, and take optional time ``t`` and label ``y`` inputs:

- `MLP`, `ResidualMLP`: vectors (batch, d), e.g. the 2-D toy sets, VAE and GAN on vectors.
- `ConvEncoder`, `ConvDecoder`: images of 8x8 up to 64x64 (MNIST's 28x28 included).
- `UNet`: the denoiser or score network of DDPM, NCSN and score SDE.
- `SinusoidalEmbedding`, `TimeEmbedding`, `LabelEmbedding`, `ConditionEmbedding`: the pieces.
"""

from torch import nn

from genzoo.nets.conv import ConvDecoder, ConvEncoder
from genzoo.nets.embeddings import (
    ConditionEmbedding,
    LabelEmbedding,
    SinusoidalEmbedding,
    TimeEmbedding,
)
from genzoo.nets.mlp import MLP, ResidualMLP
from genzoo.nets.unet import UNet


def count_parameters(module: nn.Module, trainable_only: bool = True) -> int:
    """Return the number of (trainable, by default) parameters of a module.

    Examples
    --------
    >>> count_parameters(MLP(2, 1, hidden=(4,)))
    17
    """
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


__all__ = [
    "ConditionEmbedding",
    "ConvDecoder",
    "ConvEncoder",
    "LabelEmbedding",
    "MLP",
    "ResidualMLP",
    "SinusoidalEmbedding",
    "TimeEmbedding",
    "UNet",
    "count_parameters",
]
