"""A small U-Net for the diffusion models (DDPM, NCSN, score SDE), sized to train on a CPU.

The layout follows DDPM (Ho et al., 2020) and its ADM refinements (Dhariwal and Nichol,
2021), reduced to what small images need:

    in conv 3x3
    down:   per level, n_res_blocks ResBlocks (+ attention), keep a skip, downsample
    middle: ResBlock, attention (if listed), ResBlock
    up:     per level, upsample to the skip's size, concatenate it, n_res_blocks ResBlocks
    out:    GroupNorm, SiLU, conv 3x3 (zero-initialised)

Downsampling is a 3x3 convolution with stride 2, mapping a side s to ceil(s / 2)
(28 -> 14 -> 7 -> 4); upsampling is nearest-neighbour interpolation *to the skip's size*
followed by a 3x3 convolution, so any size from 8 to 64 comes back exactly, odd sizes included.

The time embedding (and the label embedding, concatenated to it) modulates every ResBlock
through a per-channel scale and shift of its second normalisation (ADM's scale-shift norm).
The last convolution of every ResBlock, attention block and of the output starts at zero, so
the network starts as a near-identity stack and outputs zeros.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genzoo.nets._layers import check_image_shape, check_input, check_positive_ints
from genzoo.nets.embeddings import ConditionEmbedding


def _group_norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(8, channels), channels)


def _zero(module: nn.Module) -> nn.Module:
    for p in module.parameters():
        nn.init.zeros_(p)
    return module


class _ResBlock(nn.Module):
    """GroupNorm, SiLU, conv; scale-shift by the embedding; GroupNorm, SiLU, dropout, conv."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int, dropout: float):
        super().__init__()
        self.norm1 = _group_norm(c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb_proj = nn.Linear(emb_dim, 2 * c_out)
        self.norm2 = _group_norm(c_out)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = _zero(nn.Conv2d(c_out, c_out, 3, padding=1))
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.emb_proj(F.silu(emb))[:, :, None, None].chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift  # (batch, c_out, h, w)
        h = self.conv2(self.dropout(F.silu(h)))
        return self.skip(x) + h


class _Attention(nn.Module):
    """Single-head self-attention over the pixels of a feature map, with a residual."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = _group_norm(channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = _zero(nn.Conv2d(channels, channels, 1))

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        qkv = self.qkv(self.norm(x)).reshape(b, 3, c, h * w).transpose(2, 3)  # (b, 3, hw, c)
        q, k, v = qkv.unbind(dim=1)  # each (b, hw, c)
        out = F.scaled_dot_product_attention(q, k, v)  # (b, hw, c)
        return x + self.proj(out.transpose(1, 2).reshape(b, c, h, w))


class _Level(nn.Module):
    """n ResBlocks at one resolution, each optionally followed by self-attention."""

    def __init__(self, c_in, c_out, n_blocks, emb_dim, dropout, attention: bool):
        super().__init__()
        self.blocks = nn.ModuleList(
            _ResBlock(c_in if i == 0 else c_out, c_out, emb_dim, dropout) for i in range(n_blocks)
        )
        self.attentions = nn.ModuleList(
            _Attention(c_out) if attention else nn.Identity() for _ in range(n_blocks)
        )

    def forward(self, h: Tensor, emb: Tensor) -> Tensor:
        for block, attention in zip(self.blocks, self.attentions, strict=True):
            h = attention(block(h, emb))
        return h


class _Upsample(nn.Module):
    """Nearest-neighbour resize to a given size, then a 3x3 convolution."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, h: Tensor, size: tuple[int, int]) -> Tensor:
        return self.conv(F.interpolate(h, size=size, mode="nearest"))


def _level_heights(height: int, n_levels: int) -> list[int]:
    """Height of each level: a stride-2 3x3 convolution maps s to ceil(s / 2)."""
    heights = [height]
    for _ in range(n_levels - 1):
        heights.append(math.ceil(heights[-1] / 2))
    return heights


def _check_attention(attention_resolutions, heights: list[int]) -> set[int]:
    attention = set(
        check_positive_ints(attention_resolutions, "attention_resolutions", allow_empty=True)
    )
    if attention - set(heights):
        raise ValueError(
            f"attention_resolutions={tuple(attention_resolutions)!r} lists heights the "
            f"network never reaches; its levels have heights {heights}."
        )
    return attention


class UNet(nn.Module):
    """A small U-Net that maps (x, t[, y]) to a tensor of x's shape: noise, score or x0.

    Parameters
    ----------
    image_shape : tuple (c, h, w)
        Image shape; h and w between 8 and 64 (odd sizes such as 28 -> 14 -> 7 included).
    base_channels : int, default=32
        Channels at full resolution.
    channel_mults : tuple of int, default=(1, 2)
        Channel multiplier of each level; every level after the first halves the resolution.
    n_res_blocks : int, default=1
        ResBlocks per level (on each of the down and up paths).
    attention_resolutions : tuple of int, default=()
        Feature-map heights at which to add single-head self-attention, e.g. ``(14,)`` for
        28x28 inputs with ``channel_mults=(1, 2)`` (levels at 28 and 14, the middle at 14).
        Each must be the height of a level.
    time_dim : int or None, default=None
        Size of the time embedding; None uses ``4 * base_channels``.
    n_classes : int or None, default=None
        Number of classes for label conditioning; ``y=None`` in ``forward`` means "no label"
        (the unconditional branch of classifier-free guidance).
    dropout : float, default=0.0
        Dropout inside every ResBlock.
    time_scale : float, default=1.0
        Factor on t before its sinusoidal features: 1 for integer steps, about 1000 for
        continuous times in [0, 1] (see `SinusoidalEmbedding`).

    Examples
    --------
    >>> import torch
    >>> net = UNet((1, 28, 28), base_channels=8, n_classes=10)
    >>> net(torch.randn(2, 1, 28, 28), torch.rand(2), y=torch.tensor([3, 7])).shape
    torch.Size([2, 1, 28, 28])
    """

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        base_channels: int = 32,
        channel_mults: tuple[int, ...] = (1, 2),
        n_res_blocks: int = 1,
        attention_resolutions: tuple[int, ...] = (),
        *,
        time_dim: int | None = None,
        n_classes: int | None = None,
        dropout: float = 0.0,
        time_scale: float = 1.0,
    ):
        super().__init__()
        self.image_shape = check_image_shape(image_shape)
        (base_channels,) = check_positive_ints(base_channels, "base_channels")
        mults = check_positive_ints(channel_mults, "channel_mults")
        (n_res_blocks,) = check_positive_ints(n_res_blocks, "n_res_blocks")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout={dropout!r} must be in [0, 1).")
        heights = _level_heights(self.image_shape[1], len(mults))
        attention = _check_attention(attention_resolutions, heights)
        time_dim = 4 * base_channels if time_dim is None else time_dim
        self.cond = ConditionEmbedding(time_dim, n_classes, time_dim, time_scale=time_scale)
        emb_dim = self.cond.out_features
        widths = [base_channels * m for m in mults]

        c = self.image_shape[0]
        self.inp = nn.Conv2d(c, base_channels, 3, padding=1)
        self.down, self.downsample = nn.ModuleList(), nn.ModuleList()
        ch = base_channels
        for i, width in enumerate(widths):
            level_attn = heights[i] in attention
            self.down.append(_Level(ch, width, n_res_blocks, emb_dim, dropout, level_attn))
            ch = width
            if i < len(widths) - 1:
                self.downsample.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1))
        self.mid1 = _ResBlock(ch, ch, emb_dim, dropout)
        self.mid_attn = _Attention(ch) if heights[-1] in attention else nn.Identity()
        self.mid2 = _ResBlock(ch, ch, emb_dim, dropout)
        # up path, deepest level first; upsample[j] runs before up[j + 1]
        self.up, self.upsample = nn.ModuleList(), nn.ModuleList()
        for i in reversed(range(len(widths))):
            level_attn = heights[i] in attention
            self.up.append(
                _Level(ch + widths[i], widths[i], n_res_blocks, emb_dim, dropout, level_attn)
            )
            ch = widths[i]
            if i > 0:
                self.upsample.append(_Upsample(ch))
        self.out_norm = _group_norm(ch)
        self.out = _zero(nn.Conv2d(ch, c, 3, padding=1))

    def forward(self, x: Tensor, t: Tensor, y: Tensor | None = None) -> Tensor:
        """Return a tensor of x's shape (batch, c, h, w) for times t of shape (batch,)."""
        check_input(x, self.image_shape)
        emb = self.cond(t, y, batch_size=x.shape[0])  # (batch, emb_dim)
        h = self.inp(x)
        skips = []
        for i, level in enumerate(self.down):
            h = level(h, emb)
            skips.append(h)
            if i < len(self.downsample):
                h = self.downsample[i](h)
        h = self.mid2(self.mid_attn(self.mid1(h, emb)), emb)
        for j, level in enumerate(self.up):
            skip = skips.pop()
            if j > 0:
                h = self.upsample[j - 1](h, skip.shape[-2:])
            h = level(torch.cat([h, skip], dim=1), emb)
        return self.out(F.silu(self.out_norm(h)))
