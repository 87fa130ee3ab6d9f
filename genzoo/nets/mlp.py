"""Fully connected networks with optional time and label inputs.

Conditioning: the time and label embeddings are concatenated into one vector c (see
`ConditionEmbedding`), and every hidden layer adds its own linear projection of c to its
pre-activation, ``h = act(W h + b + P c)``. That is the same as concatenating c to every
layer's input, without widening the layers.
"""

from __future__ import annotations

from torch import Tensor, nn

from genzoo.nets._layers import check_input, check_positive_ints, make_activation
from genzoo.nets.embeddings import ConditionEmbedding


def _check_dropout(dropout: float) -> None:
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout={dropout!r} must be in [0, 1).")


def _make_condition(time_dim, n_classes, label_dim, time_scale) -> ConditionEmbedding:
    """Label embeddings default to the time embedding's size, else 32."""
    label_dim = label_dim if label_dim is not None else (time_dim or 32)
    return ConditionEmbedding(time_dim, n_classes, label_dim, time_scale=time_scale)


class MLP(nn.Module):
    """A multilayer perceptron, optionally conditioned on a time t and a class label y.

    Parameters
    ----------
    in_features, out_features : int
        Sizes of the input and output vectors.
    hidden : tuple of int, default=(256, 256)
        Widths of the hidden layers (empty for a linear map).
    activation : {"silu", "relu", "leaky_relu", "tanh", "gelu"}, default="silu"
        Non-linearity after every hidden layer.
    time_dim : int or None, default=None
        Size of the time embedding; when set, ``forward`` needs ``t``.
    n_classes : int or None, default=None
        Number of classes; when set, ``forward`` takes labels ``y`` (None means "no label").
    label_dim : int or None, default=None
        Size of the label embedding; None uses ``time_dim``, else 32.
    dropout : float, default=0.0
        Dropout probability after every hidden activation.
    final_activation : str or None, default=None
        Activation on the output, e.g. "sigmoid" for Bernoulli means or "tanh".
    time_scale : float, default=1.0
        Factor on t before its sinusoidal features (see `SinusoidalEmbedding`).

    Examples
    --------
    >>> import torch
    >>> net = MLP(2, 2, hidden=(32, 32), time_dim=16, n_classes=3)
    >>> net(torch.randn(5, 2), t=torch.rand(5), y=torch.tensor([0, 1, 2, 0, 1])).shape
    torch.Size([5, 2])
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden: tuple[int, ...] = (256, 256),
        *,
        activation: str = "silu",
        time_dim: int | None = None,
        n_classes: int | None = None,
        label_dim: int | None = None,
        dropout: float = 0.0,
        final_activation: str | None = None,
        time_scale: float = 1.0,
    ):
        super().__init__()
        (in_features,) = check_positive_ints(in_features, "in_features")
        (out_features,) = check_positive_ints(out_features, "out_features")
        hidden = check_positive_ints(hidden, "hidden", allow_empty=True)
        _check_dropout(dropout)
        self.in_features, self.out_features = in_features, out_features
        self.act = make_activation(activation)
        self.final_act = make_activation(final_activation, "final_activation")
        self.cond = _make_condition(time_dim, n_classes, label_dim, time_scale)
        widths = (in_features, *hidden)
        self.layers = nn.ModuleList(
            nn.Linear(a, b) for a, b in zip(widths[:-1], hidden, strict=True)
        )
        n_cond = self.cond.out_features
        self.cond_proj = nn.ModuleList(nn.Linear(n_cond, b) for b in hidden) if n_cond else None
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(widths[-1], out_features)

    def forward(self, x: Tensor, t: Tensor | None = None, y: Tensor | None = None) -> Tensor:
        """Return the (batch, out_features) output for x of shape (batch, in_features)."""
        check_input(x, (self.in_features,))
        c = self.cond(t, y, batch_size=x.shape[0])
        h = x
        for i, layer in enumerate(self.layers):
            h = layer(h)
            if c is not None:
                h = h + self.cond_proj[i](c)
            h = self.dropout(self.act(h))
        return self.final_act(self.out(h))


class _ResidualBlock(nn.Module):
    """Pre-norm residual block: h + Linear(drop(act(Linear(act(norm(h))) + P c)))."""

    def __init__(self, width: int, cond_features: int, activation: str, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.act = make_activation(activation)
        self.fc1 = nn.Linear(width, width)
        self.cond_proj = nn.Linear(cond_features, width) if cond_features else None
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(width, width)
        # zero-init the last layer so each block starts as the identity (as in ADM)
        nn.init.zeros_(self.fc2.weight)
        nn.init.zeros_(self.fc2.bias)

    def forward(self, h: Tensor, c: Tensor | None) -> Tensor:
        r = self.fc1(self.act(self.norm(h)))
        if c is not None:
            r = r + self.cond_proj(c)
        return h + self.fc2(self.dropout(self.act(r)))


class ResidualMLP(nn.Module):
    """A residual MLP of equal-width blocks with LayerNorm, for deeper score or noise models.

    Conditioning works as in `MLP`: each block adds a projection of the time and label
    embeddings. Each block's last layer starts at zero, so the network starts shallow.

    Parameters
    ----------
    in_features, out_features : int
        Sizes of the input and output vectors.
    width : int, default=256
        Width of every block.
    n_blocks : int, default=3
        Number of residual blocks.
    activation, time_dim, n_classes, label_dim, dropout, final_activation, time_scale
        As in `MLP`.

    Examples
    --------
    >>> import torch
    >>> net = ResidualMLP(2, 2, width=32, n_blocks=2, time_dim=16)
    >>> net(torch.randn(5, 2), t=torch.rand(5)).shape
    torch.Size([5, 2])
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        width: int = 256,
        n_blocks: int = 3,
        *,
        activation: str = "silu",
        time_dim: int | None = None,
        n_classes: int | None = None,
        label_dim: int | None = None,
        dropout: float = 0.0,
        final_activation: str | None = None,
        time_scale: float = 1.0,
    ):
        super().__init__()
        (in_features,) = check_positive_ints(in_features, "in_features")
        (out_features,) = check_positive_ints(out_features, "out_features")
        (width,) = check_positive_ints(width, "width")
        (n_blocks,) = check_positive_ints(n_blocks, "n_blocks")
        _check_dropout(dropout)
        make_activation(activation)  # validate before building the blocks
        self.in_features, self.out_features = in_features, out_features
        self.cond = _make_condition(time_dim, n_classes, label_dim, time_scale)
        self.inp = nn.Linear(in_features, width)
        self.blocks = nn.ModuleList(
            _ResidualBlock(width, self.cond.out_features, activation, dropout)
            for _ in range(n_blocks)
        )
        self.norm = nn.LayerNorm(width)
        self.act = make_activation(activation)
        self.out = nn.Linear(width, out_features)
        self.final_act = make_activation(final_activation, "final_activation")

    def forward(self, x: Tensor, t: Tensor | None = None, y: Tensor | None = None) -> Tensor:
        """Return the (batch, out_features) output for x of shape (batch, in_features)."""
        check_input(x, (self.in_features,))
        c = self.cond(t, y, batch_size=x.shape[0])
        h = self.inp(x)
        for block in self.blocks:
            h = block(h, c)
        return self.final_act(self.out(self.act(self.norm(h))))
