"""Shapes, conditioning, gradients, small fits and argument checks of genzoo.nets."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import genzoo.data
from genzoo.nets import (
    MLP,
    ConvDecoder,
    ConvEncoder,
    LabelEmbedding,
    ResidualMLP,
    SinusoidalEmbedding,
    TimeEmbedding,
    UNet,
    count_parameters,
)

IMAGE_SHAPES = [(1, 8, 8), (1, 28, 28), (3, 32, 32), (1, 12, 12)]


@pytest.fixture(autouse=True)
def _seed_and_one_thread():
    """Fixed seed; one thread, since these tiny nets only lose to threads on a busy CPU."""
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _unzero(net: nn.Module) -> nn.Module:
    """Give zero-initialised weights random values, so every path reaches the output."""
    with torch.no_grad():
        for p in net.parameters():
            if p.dim() > 1 and not p.any():
                p.normal_(0.0, 0.05)
    return net


def _all_grads_nonzero(net: nn.Module, loss: torch.Tensor) -> None:
    net.zero_grad()
    loss.backward()
    for name, p in net.named_parameters():
        assert p.grad is not None, name
        assert p.grad.abs().sum() > 0, name


# --- embeddings


def test_sinusoidal_embedding_values():
    emb = SinusoidalEmbedding(7)
    out = emb(torch.tensor([0.0, 2.0]))
    assert out.shape == (2, 7)
    torch.testing.assert_close(out[0, :3], torch.ones(3))  # cos(0)
    torch.testing.assert_close(out[0, 3:], torch.zeros(4))  # sin(0) and the odd pad
    torch.testing.assert_close(out[1, 0], torch.cos(torch.tensor(2.0)))  # frequency 1
    assert out[1, -1] == 0


def test_time_embedding_accepts_integer_steps_and_other_dtypes():
    emb = TimeEmbedding(16, 32).double()
    out = emb(torch.tensor([0, 10, 999]))
    assert out.shape == (3, 16) and out.dtype == torch.float64


def test_label_embedding_null_index_and_drop():
    emb = LabelEmbedding(3, 4)
    assert emb.null_index == 3 and emb.embedding.num_embeddings == 4
    y = torch.zeros(10_000, dtype=torch.long)
    dropped = emb.drop(y, 0.25, generator=torch.Generator().manual_seed(0))
    frac = (dropped == 3).double().mean().item()
    assert abs(frac - 0.25) < 4 * math.sqrt(0.25 * 0.75 / 10_000)
    assert LabelEmbedding(3, 4, null_label=False).embedding.num_embeddings == 3
    with pytest.raises(ValueError, match="y holds labels"):
        emb(torch.tensor([4]))


# --- MLP


@pytest.mark.parametrize("cls", [MLP, ResidualMLP])
@pytest.mark.parametrize("time_dim, n_classes", [(None, None), (16, None), (None, 3), (16, 3)])
def test_mlp_shapes(cls, time_dim, n_classes):
    net = cls(5, 3, time_dim=time_dim, n_classes=n_classes)
    t = torch.rand(4) if time_dim else None
    y = torch.tensor([0, 1, 2, 0]) if n_classes else None
    assert net(torch.randn(4, 5), t=t, y=y).shape == (4, 3)
    if n_classes:  # y=None is the "no label" index
        assert net(torch.randn(4, 5), t=t).shape == (4, 3)


def test_mlp_final_activation_and_float64():
    net = MLP(3, 2, hidden=(8,), final_activation="sigmoid").double()
    out = net(torch.randn(6, 3, dtype=torch.float64))
    assert out.dtype == torch.float64 and ((out > 0) & (out < 1)).all()


@pytest.mark.parametrize("cls", [MLP, ResidualMLP])
def test_mlp_time_and_label_change_the_output(cls):
    net = _unzero(cls(4, 4, time_dim=16, n_classes=3))
    x = torch.randn(1, 4).expand(3, 4)
    out_t = net(x, t=torch.tensor([0.0, 10.0, 500.0]), y=torch.zeros(3, dtype=torch.long))
    out_y = net(x, t=torch.full((3,), 10.0), y=torch.tensor([0, 1, 2]))
    for out in (out_t, out_y):
        assert (out[0] - out[1]).abs().max() > 1e-4 and (out[1] - out[2]).abs().max() > 1e-4


@pytest.mark.parametrize("cls", [MLP, ResidualMLP])
def test_mlp_gradients_reach_every_parameter(cls):
    net = _unzero(
        cls(4, 2, hidden=(16,), time_dim=8, n_classes=2)
        if cls is MLP
        else cls(4, 2, width=16, n_blocks=2, time_dim=8, n_classes=2)
    )
    out = net(torch.randn(6, 4), t=torch.rand(6) * 100, y=torch.tensor([0, 1, 2, 0, 1, 2]))
    _all_grads_nonzero(net, out.square().sum())


def test_mlp_fits_a_small_regression():
    x = torch.linspace(-2, 2, 64)[:, None]
    target = torch.sin(2 * x) + 0.5 * x
    net = MLP(1, 1, hidden=(64, 64))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(200):
        loss = (net(x) - target).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.01 * target.var().item()


# --- conv encoder and decoder


@pytest.mark.parametrize("shape", IMAGE_SHAPES)
@pytest.mark.parametrize("n_classes", [None, 4])
def test_conv_round_trip_shapes(shape, n_classes):
    enc = ConvEncoder(shape, 10, n_classes=n_classes)
    dec = ConvDecoder(10, shape, n_classes=n_classes, final_activation="sigmoid")
    x = torch.rand(3, *shape)
    y = torch.tensor([0, 1, 3]) if n_classes else None
    z = enc(x, y)
    assert z.shape == (3, 10)
    assert dec(z, y).shape == (3, *shape)


@pytest.mark.parametrize("norm", ["group", "batch", None])
def test_conv_norm_and_spectral_norm_options(norm):
    enc = ConvEncoder((1, 28, 28), 1, norm=norm, activation="leaky_relu", spectral_norm=True)
    dec = ConvDecoder(8, (1, 28, 28), norm=norm, spectral_norm=True)
    assert enc(torch.randn(2, 1, 28, 28)).shape == (2, 1)
    assert dec(torch.randn(2, 8)).shape == (2, 1, 28, 28)


def test_conv_label_changes_the_output_and_gradients_flow():
    enc = ConvEncoder((1, 12, 12), 6, n_classes=3)
    dec = ConvDecoder(6, (1, 12, 12), n_classes=3)
    x = torch.randn(1, 1, 12, 12).expand(4, 1, 12, 12)
    y = torch.tensor([0, 1, 2, 3])  # 3 is the "no label" index
    out = dec(enc(x, y), y)
    assert (out[0] - out[1]).abs().max() > 1e-4
    _all_grads_nonzero(nn.ModuleList([enc, dec]), out.square().sum())


def test_conv_autoencoder_reduces_reconstruction_error_on_digits():
    x = torch.as_tensor(genzoo.data.load("digits").X_train[:64], dtype=torch.float32)
    enc, dec = ConvEncoder((1, 8, 8), 16), ConvDecoder(16, (1, 8, 8), final_activation="sigmoid")
    params = [*enc.parameters(), *dec.parameters()]
    opt = torch.optim.Adam(params, lr=3e-3)

    def error():
        return (dec(enc(x)) - x).square().mean()

    with torch.no_grad():
        start = error().item()
    for _ in range(100):
        loss = error()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        assert error().item() < start / 10


# --- U-Net


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32)])
@pytest.mark.parametrize("n_classes", [None, 10])
def test_unet_output_shape_equals_input_shape(shape, n_classes):
    net = UNet(shape, base_channels=8, n_classes=n_classes)
    y = torch.tensor([1, 9]) if n_classes else None
    x = torch.randn(2, *shape)
    assert net(x, torch.rand(2), y).shape == x.shape


def test_unet_deeper_with_attention_keeps_odd_sizes():
    net = UNet((1, 28, 28), 8, channel_mults=(1, 2, 2), n_res_blocks=2, attention_resolutions=(7,))
    x = torch.randn(2, 1, 28, 28)
    assert net(x, torch.tensor([0, 999])).shape == x.shape  # 28 -> 14 -> 7 and back


def test_unet_starts_at_zero_output():
    net = UNet((1, 8, 8), base_channels=8)
    assert not net(torch.randn(2, 1, 8, 8), torch.rand(2)).any()


def test_unet_time_and_label_change_the_output_and_gradients_flow():
    net = _unzero(UNet((1, 8, 8), 8, attention_resolutions=(4,), n_classes=3))
    x = torch.randn(1, 1, 8, 8).expand(4, 1, 8, 8)
    out_t = net(x, torch.tensor([0.0, 100.0, 500.0, 900.0]), torch.zeros(4, dtype=torch.long))
    assert (out_t[0] - out_t[1]).abs().max() > 1e-4
    out = net(x, torch.full((4,), 50.0), torch.tensor([0, 1, 2, 3]))
    assert (out[0] - out[1]).abs().max() > 1e-4 and (out[2] - out[3]).abs().max() > 1e-4
    _all_grads_nonzero(net, out.square().sum())


def test_unet_float64():
    net = UNet((1, 8, 8), 8).double()
    out = net(torch.randn(2, 1, 8, 8, dtype=torch.float64), torch.tensor([1, 2]))
    assert out.dtype == torch.float64


# --- sizes of the defaults


def test_default_parameter_counts_stay_cpu_sized():
    counts = {
        "mlp": count_parameters(MLP(2, 2, time_dim=128)),
        "residual_mlp": count_parameters(ResidualMLP(2, 2, time_dim=128)),
        "encoder_28": count_parameters(ConvEncoder((1, 28, 28), 32)),
        "decoder_28": count_parameters(ConvDecoder(16, (1, 28, 28))),
        "unet_28": count_parameters(UNet((1, 28, 28))),
        "unet_32_rgb": count_parameters(UNet((3, 32, 32))),
    }
    assert counts["mlp"] < 200_000 and counts["residual_mlp"] < 600_000
    assert counts["encoder_28"] < 200_000 and counts["decoder_28"] < 200_000
    assert counts["unet_28"] < 1_000_000 and counts["unet_32_rgb"] < 1_000_000
    frozen = MLP(2, 2, hidden=(4,)).requires_grad_(False)
    assert count_parameters(frozen) == 0 and count_parameters(frozen, trainable_only=False) == 22


# --- bad arguments


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: ConvEncoder((1, 6, 6), 4), "image_shape"),
        (lambda: ConvDecoder(4, (1, 80, 80)), "image_shape"),
        (lambda: UNet((1, 4, 28)), "image_shape"),
        (lambda: UNet((1, 28)), "image_shape"),
        (lambda: MLP(2, 2, activation="swish"), "activation"),
        (lambda: MLP(2, 2, final_activation="softplus"), "final_activation"),
        (lambda: MLP(2, 2, hidden=(0,)), "hidden"),
        (lambda: MLP(2, 2, dropout=1.0), "dropout"),
        (lambda: ConvEncoder((1, 8, 8), 4, channels=(8, 8, 8, 8)), "channels"),
        (lambda: ConvEncoder((1, 8, 8), 4, norm="layer"), "norm"),
        (lambda: UNet((1, 28, 28), attention_resolutions=(7,)), "attention_resolutions"),
        (lambda: UNet((1, 28, 28), channel_mults=()), "channel_mults"),
        (lambda: MLP(2, 2, n_classes=1), "n_classes"),
    ],
)
def test_bad_constructor_arguments_raise(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_bad_forward_inputs_raise():
    with pytest.raises(ValueError, match=r"x has shape \(2, 3, 8, 8\)"):
        UNet((1, 8, 8), 8)(torch.randn(2, 3, 8, 8), torch.rand(2))
    with pytest.raises(ValueError, match="x has shape"):
        ConvEncoder((3, 32, 32), 4)(torch.randn(2, 1, 32, 32))
    with pytest.raises(ValueError, match="z has shape"):
        ConvDecoder(4, (1, 8, 8))(torch.randn(2, 5))
    with pytest.raises(ValueError, match="x has shape"):
        MLP(3, 1)(torch.randn(4, 2))
    with pytest.raises(ValueError, match="t is required"):
        MLP(3, 1, time_dim=8)(torch.randn(4, 3))
    with pytest.raises(ValueError, match="time_dim=None"):
        MLP(3, 1)(torch.randn(4, 3), t=torch.rand(4))
    with pytest.raises(ValueError, match="n_classes=None"):
        MLP(3, 1)(torch.randn(4, 3), y=torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="t has shape"):
        UNet((1, 8, 8), 8)(torch.randn(2, 1, 8, 8), torch.rand(3))
