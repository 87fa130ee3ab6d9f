"""Time and label embeddings shared by the conditional networks.

Diffusion models condition on a time (an integer step or a continuous time) and conditional
models on a class label. Both become vectors here; `ConditionEmbedding` joins them into the
one conditioning vector that `MLP`, `ConvEncoder`, `ConvDecoder` and `UNet` consume.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from genzoo.nets._layers import as_batch_times


class SinusoidalEmbedding(nn.Module):
    """Fixed sinusoidal features of a time, as in the Transformer and DDPM.

    Feature ``i < dim/2`` is ``cos(scale * t * f_i)`` and feature ``dim/2 + i`` is
    ``sin(scale * t * f_i)``, with frequencies ``f_i = max_period ** (-i / (dim/2))`` from 1 down
    to ``1/max_period``. An odd ``dim`` gets one trailing zero.

    Parameters
    ----------
    dim : int
        Number of features.
    max_period : float, default=10000
        Longest period, in units of ``scale * t``.
    scale : float, default=1.0
        Factor applied to t first. Integer steps (0..1000) work with 1; continuous times in
        [0, 1] are better spread with about 1000 (as in score SDE's networks).

    Examples
    --------
    >>> SinusoidalEmbedding(16)(torch.tensor([0.0, 1.0, 10.0])).shape
    torch.Size([3, 16])
    """

    def __init__(self, dim: int, max_period: float = 10000.0, *, scale: float = 1.0):
        super().__init__()
        if not isinstance(dim, int) or dim < 1:
            raise ValueError(f"dim={dim!r} must be a positive integer.")
        if max_period <= 1:
            raise ValueError(f"max_period={max_period!r} must be greater than 1.")
        self.dim, self.max_period, self.scale = dim, float(max_period), float(scale)

    def forward(self, t: Tensor) -> Tensor:
        """Return the (batch, dim) features of times t of shape (batch,)."""
        if not t.is_floating_point():
            t = t.to(torch.get_default_dtype())
        half = self.dim // 2
        exponent = torch.arange(half, device=t.device, dtype=t.dtype) / max(half, 1)
        freqs = torch.exp(-math.log(self.max_period) * exponent)  # (half,)
        angles = self.scale * t[:, None] * freqs[None, :]  # (batch, half)
        features = torch.cat([torch.cos(angles), torch.sin(angles)], dim=1)
        if self.dim % 2:
            features = nn.functional.pad(features, (0, 1))
        return features


class TimeEmbedding(nn.Module):
    """Sinusoidal features of a time followed by a small MLP: Linear, SiLU, Linear.

    Parameters
    ----------
    dim : int
        Size of the sinusoidal features and of the output.
    hidden : int or None, default=None
        Width of the hidden layer; None uses ``dim``.
    max_period, scale : float
        As in `SinusoidalEmbedding`.

    Examples
    --------
    >>> TimeEmbedding(32)(torch.rand(4)).shape
    torch.Size([4, 32])
    """

    def __init__(
        self,
        dim: int,
        hidden: int | None = None,
        *,
        max_period: float = 10000.0,
        scale: float = 1.0,
    ):
        super().__init__()
        hidden = dim if hidden is None else hidden
        self.sinusoidal = SinusoidalEmbedding(dim, max_period, scale=scale)
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.SiLU()
        self.fc2 = nn.Linear(hidden, dim)
        self.out_features = dim

    def forward(self, t: Tensor) -> Tensor:
        """Return the (batch, dim) embedding of times t of shape (batch,)."""
        features = self.sinusoidal(t.to(self.fc1.weight.dtype))
        return self.fc2(self.act(self.fc1(features)))


class LabelEmbedding(nn.Module):
    """A learned vector per class, plus one for "no label" (classifier-free guidance).

    With ``null_label=True`` the index ``n_classes`` means "no label": train with a fraction
    of labels replaced by it (`drop`) and the same network models p(x) and p(x | y).

    Parameters
    ----------
    n_classes : int
        Number of classes; labels are integers in ``[0, n_classes)``.
    dim : int
        Size of each embedding vector.
    null_label : bool, default=True
        Add the extra "no label" index ``n_classes``.

    Examples
    --------
    >>> emb = LabelEmbedding(10, 8)
    >>> emb(torch.tensor([0, 9, emb.null_index])).shape
    torch.Size([3, 8])
    """

    def __init__(self, n_classes: int, dim: int, null_label: bool = True):
        super().__init__()
        if not isinstance(n_classes, int) or n_classes < 1:
            raise ValueError(f"n_classes={n_classes!r} must be a positive integer.")
        if not isinstance(dim, int) or dim < 1:
            raise ValueError(f"dim={dim!r} must be a positive integer.")
        self.n_classes, self.null_label = n_classes, null_label
        self.null_index = n_classes if null_label else None
        self.embedding = nn.Embedding(n_classes + int(null_label), dim)
        nn.init.normal_(self.embedding.weight, std=0.02)
        self.out_features = dim

    def forward(self, y: Tensor) -> Tensor:
        """Return the (batch, dim) embeddings of integer labels y of shape (batch,)."""
        if y.dim() != 1 or (y.is_floating_point() and not torch.equal(y, y.round())):
            raise ValueError(f"y must be a 1-D tensor of integer labels; got shape {y.shape}.")
        y = y.long()
        n_indices = self.embedding.num_embeddings
        if y.numel() and (int(y.min()) < 0 or int(y.max()) >= n_indices):
            raise ValueError(
                f"y holds labels outside [0, {n_indices - 1}] (n_classes={self.n_classes}"
                + (", plus the null label)." if self.null_label else ").")
            )
        return self.embedding(y)

    def drop(self, y: Tensor, p: float, generator: torch.Generator | None = None) -> Tensor:
        """Return a copy of y with each label replaced by the null label with probability p."""
        if not self.null_label:
            raise ValueError("drop needs null_label=True.")
        keep = torch.rand(y.shape, generator=generator, device=y.device) >= p
        return torch.where(keep, y, torch.full_like(y, self.n_classes))


class ConditionEmbedding(nn.Module):
    """Join an optional time embedding and an optional label embedding into one vector.

    The output is the concatenation ``[TimeEmbedding(t), LabelEmbedding(y)]`` of size
    ``out_features`` (0 when neither is configured, and then `forward` returns None). A
    missing ``y`` uses the "no label" index, so a conditional network also runs unconditioned.

    Parameters
    ----------
    time_dim : int or None
        Size of the time embedding; None for no time input.
    n_classes : int or None
        Number of classes; None for no label input.
    label_dim : int
        Size of the label embedding (used only with ``n_classes``).
    time_scale : float, default=1.0
        ``scale`` of the sinusoidal features (see `SinusoidalEmbedding`).

    Examples
    --------
    >>> cond = ConditionEmbedding(time_dim=16, n_classes=3, label_dim=8)
    >>> cond(torch.rand(5), torch.tensor([0, 1, 2, 0, 1]), batch_size=5).shape
    torch.Size([5, 24])
    """

    def __init__(
        self,
        time_dim: int | None = None,
        n_classes: int | None = None,
        label_dim: int = 32,
        *,
        time_scale: float = 1.0,
    ):
        super().__init__()
        if time_dim is not None and (not isinstance(time_dim, int) or time_dim < 1):
            raise ValueError(f"time_dim={time_dim!r} must be a positive integer or None.")
        if n_classes is not None and (not isinstance(n_classes, int) or n_classes < 2):
            raise ValueError(f"n_classes={n_classes!r} must be an integer >= 2 or None.")
        if n_classes is not None and (not isinstance(label_dim, int) or label_dim < 1):
            raise ValueError(f"label_dim={label_dim!r} must be a positive integer.")
        self.time = None if time_dim is None else TimeEmbedding(time_dim, scale=time_scale)
        self.label = None if n_classes is None else LabelEmbedding(n_classes, label_dim)
        self.out_features = (time_dim or 0) + (label_dim if n_classes is not None else 0)

    def forward(self, t, y, *, batch_size: int) -> Tensor | None:
        """Return the (batch, out_features) conditioning vector, or None without conditions."""
        parts = []
        if self.time is None and t is not None:
            raise ValueError("t was given but this network has no time input (time_dim=None).")
        if self.label is None and y is not None:
            raise ValueError("y was given but this network has no label input (n_classes=None).")
        if self.time is not None:
            if t is None:
                raise ValueError("t is required: this network was built with a time input.")
            weight = self.time.fc1.weight
            parts.append(self.time(as_batch_times(t, batch_size, weight)))
        if self.label is not None:
            device = self.label.embedding.weight.device
            if y is None:
                y = torch.full((batch_size,), self.label.null_index, device=device)
            y = torch.as_tensor(y, device=device)
            if y.shape != (batch_size,):
                raise ValueError(f"y has shape {tuple(y.shape)}; expected ({batch_size},).")
            parts.append(self.label(y))
        return torch.cat(parts, dim=1) if parts else None
