"""Small CNN digit classifiers whose penultimate activations are the features of image metrics.

Two nets ship with the package as float32 safetensors files in ``genzoo/metrics/weights``:

- ``"digits8"`` for 8x8 images (scikit-learn's digits), trained on the train split of
  :func:`genzoo.data.digits.load_digits` and scored on its test split;
- ``"mnist28"`` for 28x28 images (MNIST), trained on the first 8000 images of the MNIST test
  file (``t10k``, the only part the repository holds) and scored on its last 2000.

Each is a plain CNN: stages of 3x3 convolutions (padding 1) with ReLU, each stage closed by a
2x2 max pool, then a fully connected layer with ReLU whose activations are the features, then
a linear layer to the 10 classes. Pixels are read in [0, 1], as genzoo's loaders return them.

Training (:func:`train_feature_net`, or ``scripts/train_feature_nets.py``) reproduces the
shipped files bit for bit on the same PyTorch version and CPU type: one ``torch.Generator``
with a fixed seed draws the initial weights, the data order and the random shifts; the steps
and epochs are fixed; and it runs float32 on the CPU with one thread and deterministic
algorithms, so that every floating-point sum is taken in the same order. Another CPU type or
PyTorch version may pick other kernels and round differently; the file records both.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

__all__ = [
    "feature_net_info",
    "feature_net_names",
    "image_features",
    "predict_digits",
    "save_feature_net",
    "train_feature_net",
]

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
TRAINING_SCRIPT = "scripts/train_feature_nets.py"
_METADATA_KEY = "training"  # one key: safetensors writes several in a random order
_N_CLASSES = 10
_EVAL_BATCH = 1000


@dataclass(frozen=True)
class _Recipe:
    """A net's architecture and the settings that train it."""

    side: int  # images are (1, side, side)
    stages: tuple[tuple[int, ...], ...]  # output channels of each stage's convolutions
    n_features: int  # width of the penultimate layer
    data: str  # "digits" or "mnist"
    n_train: int | None  # mnist: images 0..n_train-1 train, the rest of t10k test
    epochs: int
    batch_size: int
    learning_rate: float
    weight_decay: float
    max_shift: int  # random translations of up to this many pixels in each direction
    seed: int


_RECIPES = {
    "digits8": _Recipe(
        side=8,
        stages=((16, 32),),
        n_features=64,
        data="digits",
        n_train=None,
        epochs=40,
        batch_size=64,
        learning_rate=2e-3,
        weight_decay=1e-4,
        max_shift=1,
        seed=0,
    ),
    "mnist28": _Recipe(
        side=28,
        stages=((16,), (32, 32), (32,)),
        n_features=128,
        data="mnist",
        n_train=8000,
        epochs=12,
        batch_size=64,
        learning_rate=2e-3,
        weight_decay=1e-4,
        max_shift=2,
        seed=0,
    ),
}


def feature_net_names() -> tuple[str, ...]:
    """Return the names of the shipped feature nets."""
    return tuple(_RECIPES)


def _recipe(net: str) -> _Recipe:
    if net not in _RECIPES:
        raise ValueError(f"net must be one of {feature_net_names()}, got {net!r}")
    return _RECIPES[net]


# --- the network


class _ConvClassifier(nn.Module):
    """Convolution stages, a ReLU feature layer, and a linear layer to the classes."""

    def __init__(self, side: int, stages: tuple[tuple[int, ...], ...], n_features: int):
        super().__init__()
        layers, channels = [], 1
        for stage in stages:
            for out in stage:
                layers += [nn.Conv2d(channels, out, 3, padding=1), nn.ReLU()]
                channels = out
            layers.append(nn.MaxPool2d(2))
            side //= 2
        layers += [nn.Flatten(), nn.Linear(channels * side * side, n_features), nn.ReLU()]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(n_features, _N_CLASSES)

    def features(self, x: Tensor) -> Tensor:
        # Pixels in [0, 1] are centred on 0 so that ReLUs start half open.
        return self.body(2.0 * x - 1.0)  # (n, n_features)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))  # (n, 10) logits


def _empty_net(recipe: _Recipe) -> _ConvClassifier:
    """The architecture with unallocated weights, built without touching the global RNG."""
    with torch.device("meta"):
        # float32 whatever torch's default dtype is at the time.
        return _ConvClassifier(recipe.side, recipe.stages, recipe.n_features).float()


@torch.no_grad()
def _init_weights(net: nn.Module, gen: torch.Generator) -> None:
    """He-uniform weights and zero biases (He et al., 2015), drawn from `gen`."""
    for module in net.modules():
        if isinstance(module, nn.Conv2d | nn.Linear):
            fan_in = module.weight[0].numel()
            bound = math.sqrt(6.0 / fan_in)
            module.weight.uniform_(-bound, bound, generator=gen)
            module.bias.zero_()


# --- loading the shipped weights


def _weights_path(net: str) -> Path:
    path = WEIGHTS_DIR / f"{net}.safetensors"
    if not path.is_file():
        raise FileNotFoundError(
            f"the weights of feature net {net!r} are missing ({path}); regenerate them with "
            f"`python {TRAINING_SCRIPT} --net {net}` from the repository root"
        )
    return path


@functools.cache
def _load_net(net: str) -> _ConvClassifier:
    """The shipped net in eval mode, read once per process (safetensors, never pickle)."""
    return _read_net(net, _weights_path(net))


def _read_net(net: str, path) -> _ConvClassifier:
    """Net `net`'s architecture with the weights of the file at `path`, in eval mode."""
    from safetensors.torch import load_file

    model = _empty_net(_recipe(net))
    model.load_state_dict(load_file(path, device="cpu"), strict=True, assign=True)
    return model.eval().requires_grad_(False)


def feature_net_info(net: str) -> dict:
    """Return the training record stored in a shipped net's file (accuracy, settings, ...)."""
    from safetensors import safe_open

    _recipe(net)
    with safe_open(_weights_path(net), framework="pt") as f:
        return json.loads(f.metadata()[_METADATA_KEY])


# --- inference


def _net_for_shape(shape: tuple, net: str | None, name: str = "images") -> str:
    """The net that reads images of this shape: `net` if it fits, else the one of their size."""
    sides = {recipe.side: n for n, recipe in _RECIPES.items()}
    shape = tuple(shape)
    if len(shape) == 2 and math.isqrt(shape[1]) ** 2 == shape[1]:
        side = math.isqrt(shape[1])
    elif len(shape) in (3, 4) and shape[-1] == shape[-2] and shape[1:-2] in ((), (1,)):
        side = shape[-1]
    else:
        side = None
    if side not in sides:
        accepted = " or ".join(f"(n, 1, {s}, {s}), (n, {s}, {s}), (n, {s * s})" for s in sides)
        raise ValueError(f"{name} must be grey images of shape {accepted}; got shape {shape}")
    if net is None:
        return sides[side]
    if _recipe(net).side != side:
        s = _recipe(net).side
        raise ValueError(f"net {net!r} reads {s}x{s} images, but {name} has shape {shape}")
    return net


def _check_images(images, net: str | None) -> tuple[Tensor, str]:
    """Return images as a float32 tensor (n, 1, side, side) and the net that reads them."""
    if isinstance(images, Tensor):
        images = images.detach().cpu().numpy()
    try:
        X = np.asarray(images, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"images must be a numeric array-like: {err}") from err
    if X.size == 0:
        raise ValueError(f"images is empty (shape {X.shape})")
    net = _net_for_shape(X.shape, net)
    if not np.isfinite(X).all():
        raise ValueError("images contains NaN or infinity")
    side = _RECIPES[net].side
    return torch.as_tensor(X.reshape(-1, 1, side, side), dtype=torch.float32), net


@torch.no_grad()
def _apply(images, net: str | None, batch_size: int, logits: bool) -> Tensor:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    X, net = _check_images(images, net)
    model = _load_net(net)
    run = model if logits else model.features
    return torch.cat([run(X[i : i + batch_size]) for i in range(0, len(X), batch_size)])


def image_features(images, net: str | None = None, *, batch_size: int = 512) -> np.ndarray:
    """Return the penultimate activations of a shipped classifier for each image.

    Parameters
    ----------
    images : array-like of shape (n_samples, 1, s, s), (n_samples, s, s) or (n_samples, s * s)
        Grey images with pixels in [0, 1]; s is 8 for "digits8" and 28 for "mnist28". Values
        outside [0, 1] are read as they are.
    net : {"digits8", "mnist28"} or None, default=None
        The classifier; None picks it from the image size.
    batch_size : int, default=512
        Images per forward pass; it bounds memory.

    Returns
    -------
    ndarray of shape (n_samples, n_features), float64
        ReLU activations of the layer before the classes: 64 features for "digits8", 128 for
        "mnist28". Computed in float32 on the CPU, the same on every call.

    Examples
    --------
    >>> from genzoo.data.digits import load_digits
    >>> image_features(load_digits("test")[0]).shape
    (360, 64)
    """
    return _apply(images, net, batch_size, logits=False).double().numpy()


def predict_digits(images, net: str | None = None, *, batch_size: int = 512) -> np.ndarray:
    """Return the digit (0-9) a shipped classifier reads in each image.

    Takes the arguments of :func:`image_features`; returns an int64 array of shape
    (n_samples,).
    """
    return _apply(images, net, batch_size, logits=True).argmax(dim=1).numpy()


# --- training


def _training_data(recipe: _Recipe, mnist_folder) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Train images and labels, then held-out ones, as float32 and int64 tensors."""
    if recipe.data == "digits":
        from genzoo.data.digits import load_digits

        (X_train, y_train), (X_test, y_test) = load_digits("train"), load_digits("test")
    else:
        from genzoo.data.dataset import _mnist_folder
        from genzoo.data.loaders import load_mnist

        X, y = load_mnist(_mnist_folder() if mnist_folder is None else mnist_folder)
        n = recipe.n_train
        X_train, y_train, X_test, y_test = X[:n], y[:n], X[n:], y[n:]

    def as_tensors(X, y):
        return torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(y, dtype=torch.int64)

    return *as_tensors(X_train, y_train), *as_tensors(X_test, y_test)


def _random_shift(x: Tensor, max_shift: int, gen: torch.Generator) -> Tensor:
    """Translate each image by its own integer offset in [-max_shift, max_shift], zero-filled."""
    if max_shift == 0:
        return x
    n, _, h, w = x.shape
    padded = nn.functional.pad(x, (max_shift,) * 4)  # (n, 1, h + 2 m, w + 2 m)
    dy, dx = torch.randint(2 * max_shift + 1, (2, n, 1), generator=gen)
    rows = (dy + torch.arange(h))[:, :, None]  # (n, h, 1)
    cols = (dx + torch.arange(w))[:, None, :]  # (n, 1, w)
    return padded[torch.arange(n)[:, None, None], 0, rows, cols][:, None]  # (n, 1, h, w)


@contextlib.contextmanager
def _reproducible_cpu():
    """One thread and deterministic algorithms inside the block; the settings come back after."""
    # With several threads a reduction may be split differently from run to run.
    threads = torch.get_num_threads()
    before = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before, warn_only=warn_only)
        torch.set_num_threads(threads)


def _fit(model, X, y, recipe: _Recipe, gen: torch.Generator, max_steps: int | None) -> int:
    """AdamW with a cosine learning-rate decay over fixed epochs; return the steps taken."""
    n = X.shape[0]
    steps_per_epoch = -(-n // recipe.batch_size)
    total = recipe.epochs * steps_per_epoch
    if max_steps is not None:
        total = min(total, max_steps)
    # The single-tensor update, whatever a PyTorch version picks by default, for stable bits.
    optimizer = torch.optim.AdamW(
        model.parameters(),
        lr=recipe.learning_rate,
        weight_decay=recipe.weight_decay,
        foreach=False,
    )
    model.train()
    step = 0
    while step < total:
        order = torch.randperm(n, generator=gen)
        for start in range(0, n, recipe.batch_size):
            if step == total:
                break
            batch = order[start : start + recipe.batch_size]
            x = _random_shift(X[batch], recipe.max_shift, gen)
            for group in optimizer.param_groups:
                group["lr"] = recipe.learning_rate * 0.5 * (1.0 + math.cos(math.pi * step / total))
            loss = nn.functional.cross_entropy(model(x), y[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
    return step


@torch.no_grad()
def _accuracy(model: nn.Module, X: Tensor, y: Tensor) -> float:
    model.eval()
    predicted = torch.cat([model(X[i : i + _EVAL_BATCH]) for i in range(0, len(X), _EVAL_BATCH)])
    return float((predicted.argmax(dim=1) == y).double().mean())


def train_feature_net(
    net: str, *, max_steps: int | None = None, mnist_folder=None
) -> tuple[dict[str, Tensor], dict]:
    """Train a feature net from its fixed recipe; return its weights and training record.

    Parameters
    ----------
    net : {"digits8", "mnist28"}
        Which net.
    max_steps : int or None, default=None
        Stop after this many optimizer steps (the learning-rate schedule shrinks to match);
        None runs the recipe's full epochs, which is what the shipped files hold.
    mnist_folder : path-like or None, default=None
        Folder of the MNIST IDX files for "mnist28"; None looks where
        :func:`genzoo.data.load` does (``GENZOO_MNIST_DIR``, then ``../shared/data/mnist``).

    Returns
    -------
    weights : dict of str to Tensor
        The float32 state dict.
    record : dict
        ``"accuracy"`` on the held-out images, ``"n_test"``, ``"n_steps"``, the recipe's
        settings, and the torch version and CPU capability the net was trained with.
    """
    recipe = _recipe(net)
    if max_steps is not None and (
        isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1
    ):
        raise ValueError(f"max_steps must be an int >= 1 or None, got {max_steps!r}")
    X_train, y_train, X_test, y_test = _training_data(recipe, mnist_folder)
    with _reproducible_cpu():
        gen = torch.Generator().manual_seed(recipe.seed)
        model = _empty_net(recipe).to_empty(device="cpu")
        _init_weights(model, gen)
        n_steps = _fit(model, X_train, y_train, recipe, gen, max_steps)
        accuracy = _accuracy(model, X_test, y_test)
    weights = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    record = {
        **asdict(recipe),
        "net": net,
        "accuracy": accuracy,
        "n_train": int(len(y_train)),
        "n_test": int(len(y_test)),
        "n_steps": n_steps,
        "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }
    return weights, record


def save_feature_net(
    net: str, folder=None, *, max_steps: int | None = None, mnist_folder=None
) -> tuple[Path, dict]:
    """Train a feature net (:func:`train_feature_net`) and write ``<folder>/<net>.safetensors``.

    `folder` defaults to the package's weights folder. Returns the file's path and the training
    record, which the file also holds as JSON under the metadata key "training", with the
    training time added to the returned record only (so the file's bytes do not depend on it).
    """
    from safetensors.torch import save

    folder = WEIGHTS_DIR if folder is None else Path(folder)
    start = time.perf_counter()
    weights, record = train_feature_net(net, max_steps=max_steps, mnist_folder=mnist_folder)
    seconds = time.perf_counter() - start
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{net}.safetensors"
    # Written through Python rather than save_file, which creates files readable by the owner only.
    path.write_bytes(save(weights, metadata={_METADATA_KEY: json.dumps(record, sort_keys=True)}))
    if folder.resolve() == WEIGHTS_DIR:
        _load_net.cache_clear()
    return path, {**record, "seconds": seconds}
