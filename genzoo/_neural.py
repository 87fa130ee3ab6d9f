"""NeuralGenerativeModel: the one fit template of every gradient-trained model.

Autoencoders use it now; GANs, diffusion models, flows and autoregressive models will. A
model names its networks and its objectives; the template does the rest, the same way for
all of them: standardise, split the seed, build the networks under their own seed, train with
every Trainer setting, keep the EMA weights, and save the fitted state.
"""

from __future__ import annotations

import abc
import contextlib
import copy
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from genzoo._validation import check_memory
from genzoo.base import GenerativeModel, _n_items
from genzoo.nets._layers import MAX_IMAGE_SIZE, MIN_IMAGE_SIZE
from genzoo.training import (
    TRAINER_CONSTRAINTS,
    Monitor,
    Objective,
    TrainConfig,
    Trainer,
    deterministic_kernels,
)

__all__ = ["NEURAL_CONSTRAINTS", "NeuralGenerativeModel"]

# The constraints of the constructor arguments every neural model shares: the Trainer's 14
# settings and the evaluation dtype. A model adds its own: {**own, **NEURAL_CONSTRAINTS}.
NEURAL_CONSTRAINTS: dict[str, list] = {**TRAINER_CONSTRAINTS, "dtype": ["dtype"]}
_STATE_SUFFIX = "_state_"  # fitted network weights: `<network>_state_`, a dict of tensors
# Training holds each parameter five times: the weight, its gradient, Adam's two moments and
# the moving average.
_TRAINING_COPIES = 5


class NeuralGenerativeModel(GenerativeModel):
    """Base of the gradient-trained models (not registered itself).

    `fit` runs one template (`_fit`):

    1. ``self._check_arguments()`` refuses argument combinations the constraints cannot
       express (nothing by default), before any work.
    2. ``architecture = self._architecture(X, y)``: a JSON-able dict of everything the
       networks are built from, kept as `architecture_`.
    3. The standardisation ``(shift, scale) = self._standardisation(X, architecture)``, arrays
       of shape X.shape[1:] (by default per feature for vectors, one for images); the
       networks see (X - shift) / scale, in float32.
    4. The generator's seed splits into an init seed, a training seed and a seed for the
       model's own use after training (`_extra_fitted`).
    5. ``self._build_networks(architecture)`` returns the dict of named modules, built under
       the init seed (the global random state is forked, so left as it was).
    6. `Trainer` trains them on ``self._objectives()`` (a list of `genzoo.training.Objective`:
       one for a VAE, a discriminator's and a generator's for a GAN), with every setting of
       `TrainConfig` taken from the constructor argument of the same name. The data are the
       standardised X, and the label index y for conditional models.
       A model whose losses say little about its samples (a GAN) also returns a
       `genzoo.training.Monitor` from ``self._monitor(X, y, shift, scale)``: its figures,
       measured every few steps, become `history_`.
    7. With `ema_decay`, the fitted weights are the moving average, of the networks that
       ``self._averaged()`` names (every network by default; a GAN's generator alone: the
       discriminator is not used to sample, and averaging it costs a step's time).
    8. The fitted attributes: ``<network>_state_`` (the weights, a dict of tensors in `dtype`
       on the model's device, per network), `architecture_`, `data_shift_` and `data_scale_`
       (float64), `loss_curve_` (the first objective's loss at each of its updates),
       `n_steps_`, `n_features_in_`, `input_shape_`, and whatever
       ``self._extra_fitted(X, y, fitted, seed)`` adds.

    A model writes `_architecture`, `_build_networks`, `_objectives` and the protocol's
    `_sample` (and `_log_prob` if it has a likelihood); `_check_arguments`,
    `_standardisation`, `_training_data`, `_monitor` and `_extra_fitted` are optional. Its
    constructor lists the shared arguments below explicitly (scikit-learn style), and its
    `_parameter_constraints` end with ``**NEURAL_CONSTRAINTS``.

    Evaluation goes through ``with self._evaluation() as networks:``, which gives the fitted
    networks (sharing the fitted tensors; built without initialising weights once per set of
    weights and kept, so callers must not change them) and runs CUDA work with deterministic
    kernels and no TF32, so a seeded draw repeats exactly. Networks run in `dtype`; inputs
    stay float64 until the networks read them, and likelihood sums (log_prob,
    importance-weight log-sum-exps, log-determinants) are accumulated in float64.

    Parameters
    ----------
    The arguments every neural model takes, after its own (the defaults are the Trainer's):

    device : str, default="auto"
        Where the model trains and evaluates: "cpu", "cuda", "cuda:N", or "auto": CUDA
        where present and one training step is large enough to pay for it (see the
        README's "Choosing a device"), else the CPU.
    batch_size : int, default=128
        Rows per training step (per process under torchrun).
    max_steps : int, default=2000
        Training steps.
    learning_rate : float, default=1e-3
        Peak learning rate of AdamW.
    weight_decay : float, default=0.0
        AdamW's decoupled weight decay.
    warmup_steps : int, default=0
        Steps over which the learning rate rises linearly to its peak.
    schedule : {"cosine", "constant"}, default="cosine"
        The learning rate after warm-up: cosine decay to zero at `max_steps`, or constant.
    grad_clip : float or None, default=1.0
        Largest global gradient norm of an update; None does not clip.
    ema_decay : float or None, default=None
        When set, the fitted weights are the exponential moving average of training's.
    verbose : int, default=1
        1 shows a progress bar of training; 0 is silent.
    checkpoint_dir : str or path or None, default=None
        Where training writes a checkpoint (and `fit` resumes from one found there).
    checkpoint_every : int or None, default=None
        Steps between checkpoints (needs `checkpoint_dir`); None writes one at the end and on
        SIGINT or SIGTERM only.
    random_state : int or None, default=None
        Seeds the weights, the training batches and noise, and (unless `sample` gets its own)
        sampling. The same seed gives the same model on the same device.
    precision : {"auto", "float32", "bfloat16"}, default="auto"
        Training arithmetic: "auto" is bf16 autocast on a GPU that supports it, float32
        elsewhere.
    dtype : {"float32", "float64"}, default="float32"
        The dtype the fitted networks are evaluated in (and their weights kept in).
    """

    # What the template fits; a model adds `<network>_state_` for each of its networks.
    fitted_attributes = (
        "architecture_",
        "data_shift_",
        "data_scale_",
        "loss_curve_",
        "n_steps_",
        "n_features_in_",
        "input_shape_",
    )
    # Fitted attributes that format-1 files held as arrays, restored as float64 tensors.
    _tensor_attributes: tuple[str, ...] = ("data_shift_", "data_scale_")

    # --- hooks a model writes

    @abc.abstractmethod
    def _architecture(self, X: np.ndarray, y: torch.Tensor | None) -> dict:
        """What the networks are built from (JSON-able), resolved from the data and params."""

    @abc.abstractmethod
    def _build_networks(self, architecture: dict) -> dict[str, nn.Module]:
        """The named networks, freshly initialised (from the global generator)."""

    @abc.abstractmethod
    def _objectives(self) -> list[Objective]:
        """What training minimises; the losses see the networks dict and (Xs[, y])."""

    def _standardisation(self, X: np.ndarray, architecture: dict) -> tuple[np.ndarray, ...]:
        """(shift, scale) of shape X.shape[1:]: per feature for vectors, one for images."""
        shape = X.shape[1:]
        if X.ndim == 2:
            shift, scale = X.mean(0), X.std(0)
        else:
            shift, scale = np.full(shape, X.mean()), np.full(shape, X.std())
        return shift, np.where(scale > 1e-8, scale, 1.0)  # constant features keep their units

    def _check_arguments(self) -> None:
        """Raise ValueError for argument combinations the constraints cannot express, before
        any work; nothing by default."""

    def _training_data(self, X, y, shift, scale) -> tuple[torch.Tensor, ...]:
        """The tensors the Trainer draws minibatches from: the standardised X in float32, and
        the label index y for conditional models."""
        data = (torch.as_tensor((X - shift) / scale, dtype=torch.float32),)
        return data if y is None else (*data, y)

    def _monitor(self, X, y, shift, scale) -> Monitor | None:
        """What to measure during training (see `genzoo.training.Monitor`); None by default."""
        return None

    def _averaged(self) -> tuple[str, ...] | None:
        """The networks whose moving average `ema_decay` keeps; None for every network."""
        return None

    def _extra_fitted(self, X: np.ndarray, y, fitted: dict, seed: int) -> dict:
        """More fitted attributes, computed after training from `fitted`; none by default."""
        return {}

    # --- pieces the models share

    def _resolve_network(self, shape: tuple[int, ...]) -> str:
        """ "conv" for images (c, h, w) that the conv stacks take, when `network` is "conv"
        or "auto"; else "mlp". Raises ValueError for network="conv" on what they cannot take."""
        if len(shape) == 1:
            if self.network == "conv":
                raise ValueError(
                    "network='conv' needs images (n_samples, c, h, w); "
                    f"X has shape (n, {shape[0]})."
                )
            return "mlp"
        fits = all(MIN_IMAGE_SIZE <= side <= MAX_IMAGE_SIZE for side in shape[1:])
        if self.network == "conv" and not fits:
            raise ValueError(
                f"network='conv' takes images with height and width in [{MIN_IMAGE_SIZE}, "
                f"{MAX_IMAGE_SIZE}]; X has images of shape {shape}. Use network='mlp'."
            )
        return "conv" if self.network == "conv" or (self.network == "auto" and fits) else "mlp"

    def _class_log_prior(self, y: torch.Tensor, n_classes: int) -> torch.Tensor:
        """Log frequencies of the training labels (n_classes,), float64 on the model's device."""
        counts = torch.bincount(y, minlength=n_classes).to(self._device(), torch.float64)
        return torch.log(counts / counts.sum())

    def _labels_from_prior(self, n_samples: int, gen: torch.Generator) -> torch.Tensor:
        """Label indices drawn from `class_log_prior_`, for conditional samples without y."""
        prior = torch.exp(self.class_log_prior_).to(gen.device)
        return torch.multinomial(prior, n_samples, replacement=True, generator=gen)

    # --- the template

    def _fit(self, X, y, gen) -> dict:
        self._check_arguments()
        architecture = self._architecture(X, y)
        self._check_network_size(architecture)
        shift, scale = self._standardisation(X, architecture)
        seeds = torch.randint(2**62, (3,), generator=gen, device=gen.device).tolist()
        init_seed, train_seed, extra_seed = seeds
        config = self._train_config(train_seed)
        with torch.random.fork_rng(devices=[]):  # seeded weights, global state left alone
            torch.manual_seed(init_seed)
            networks = self._build_networks(architecture)
        data = self._training_data(X, y, shift, scale)
        monitor = self._monitor(X, y, shift, scale)
        result = Trainer(config).fit(
            networks, self._objectives(), data, monitor=monitor, averaged=self._averaged()
        )
        trained = {**networks, **(result.ema or {})}
        device = self._device()
        fitted = {
            **{name + _STATE_SUFFIX: self._weights(net) for name, net in trained.items()},
            "architecture_": architecture,
            "data_shift_": torch.as_tensor(shift, dtype=torch.float64, device=device),
            "data_scale_": torch.as_tensor(scale, dtype=torch.float64, device=device),
            "loss_curve_": list(result.history),
            "n_steps_": int(result.step),
            **self._fitted_input_shape(X),
            **({} if monitor is None else {"history_": dict(result.monitored)}),
            **({"loss_curves_": dict(result.losses)} if len(result.losses) > 1 else {}),
        }
        return {**fitted, **self._extra_fitted(X, y, fitted, extra_seed)}

    def _fit_flops(self, X) -> float:
        """One training step's arithmetic, for device="auto": about 6 operations per weight
        per example (forward and backward) over a minibatch; a convolution's weights work at
        every position, counted at a quarter of the input's (its layers run at falling
        resolutions)."""
        architecture = self._architecture(X, None)
        with torch.device("meta"):
            networks = self._build_networks(architecture)
        weights = sum(p.numel() for net in networks.values() for p in net.parameters())
        shape = architecture.get("input_shape", [1])
        positions = max(1.0, np.prod(shape[1:]) / 4) if architecture["network"] == "conv" else 1.0
        return 6.0 * weights * min(self.batch_size, _n_items(X)) * positions

    def _check_network_size(self, architecture: dict) -> None:
        """Refuse networks whose training would not fit in memory, before any is built: the
        widths a user asks for are counted on the meta device."""
        with torch.device("meta"):
            networks = self._build_networks(architecture)
        n = sum(p.numel() for net in networks.values() for p in net.parameters())
        check_memory(
            n * _TRAINING_COPIES * 4,
            self._device(),
            f"training {type(self).__name__}'s networks ({n:,} parameters; check the widths)",
        )

    def _train_config(self, seed: int) -> TrainConfig:
        """The Trainer's settings: the constructor's arguments, with the training seed."""
        settings = {name: getattr(self, name) for name in TRAINER_CONSTRAINTS}
        if settings["device"] == "auto":
            settings["device"] = self._device()  # where "auto" chose to fit this data
        return TrainConfig(**{**settings, "random_state": seed})

    def _weights(self, module: nn.Module) -> dict[str, torch.Tensor]:
        """A copy of the module's state: floating tensors in `dtype`, on the model's device."""
        device, dtype = self._device(), self._dtype()
        return {
            k: v.detach().to(device, dtype if v.is_floating_point() else v.dtype, copy=True)
            for k, v in module.state_dict().items()
        }

    # --- evaluation

    def networks(self) -> dict[str, nn.Module]:
        """Return fresh modules holding a copy of the fitted weights, by network name.

        They read standardised input (see `data_shift_`), in `dtype`.
        """
        self._check_fitted()
        return {name: _copy_weights(net) for name, net in self._built(vars(self)).items()}

    def _networks(self, fitted: dict | None = None) -> dict[str, nn.Module]:
        """Evaluation modules sharing the fitted tensors (of `fitted`, or the model's own).

        The model's own are built once and kept while its weights and architecture stay the
        same objects (a refit or a load replaces them): building a U-Net's modules costs
        about 10 ms, more than a small batch's forward pass. Callers must not change them.
        """
        if fitted is not None:
            return self._built(fitted)
        kept = vars(self).get("_evaluation_networks")
        if kept is None or not kept.built_from(vars(self)):
            kept = self._evaluation_networks = _KeptNetworks(vars(self), self._built(vars(self)))
        return kept.networks

    def _built(self, fitted: dict) -> dict[str, nn.Module]:
        """New modules sharing the tensors of `fitted`, built without initialising weights."""
        with torch.device("meta"):
            networks = self._build_networks(fitted["architecture_"])
        for name, net in networks.items():
            net.load_state_dict(fitted[name + _STATE_SUFFIX], assign=True)
            net.eval()
        return networks

    @contextlib.contextmanager
    def _evaluation(self, fitted: dict | None = None) -> Iterator[dict[str, nn.Module]]:
        """The fitted networks, while CUDA runs deterministic kernels without TF32."""
        networks = self._networks(fitted)
        with deterministic_kernels(self._device(), allow_tf32=False):
            yield networks

    def _to_tensor(self, X) -> torch.Tensor:
        """X as float64 on the model's device: it is standardised before the networks (which
        run in `dtype`) see it, and likelihoods are summed in float64."""
        X = np.asarray(X)
        if not X.flags.writeable:  # torch warns on read-only memory (pandas, np.load mmap)
            X = X.copy()
        return torch.as_tensor(X, dtype=torch.float64, device=self._device())

    def _standardise(self, X: torch.Tensor, fitted: dict | None = None) -> torch.Tensor:
        """(X - data_shift_) / data_scale_, in float64."""
        fitted = vars(self) if fitted is None else fitted
        return (X.to(torch.float64) - fitted["data_shift_"]) / fitted["data_scale_"]

    def _unstandardise(self, Xs: torch.Tensor) -> torch.Tensor:
        """Standardised values back in the data's units, in float64."""
        return Xs.to(torch.float64) * self.data_scale_ + self.data_shift_

    # --- after fit and load

    def _on_fitted(self) -> None:
        """Weights in the model's dtype and on its device (a file or another model's state
        may hold others), then a check that they fit the architecture (a crafted file)."""
        device, dtype = self._device(), self._dtype()
        for name in [n for n in vars(self) if n.endswith(_STATE_SUFFIX)]:
            weights = vars(self)[name]
            cast = {
                k: v.to(device, dtype if v.is_floating_point() else v.dtype)
                for k, v in weights.items()
            }
            setattr(self, name, cast)
        self._networks()

    def _from_legacy_state(self, arrays: dict[str, np.ndarray], values: dict) -> dict:
        """Format-1 files kept each network's weights as arrays `<network>_state_.<name>`,
        in float64: they become tensors in `dtype` (so they load into a float32 model)."""
        device, dtype = self._device(), self._dtype()
        fitted = dict(values)
        for key, array in arrays.items():
            name, _, parameter = key.partition(".")
            if name.endswith(_STATE_SUFFIX) and parameter:
                tensor = torch.as_tensor(array, device=device)
                if tensor.is_floating_point():
                    tensor = tensor.to(dtype)
                fitted.setdefault(name, {})[parameter] = tensor
            elif name in self._tensor_attributes:
                fitted[name] = torch.as_tensor(array, dtype=torch.float64, device=device)
            else:
                fitted[name] = array
        return fitted


class _KeptNetworks:
    """Evaluation modules with the fitted objects they were built from: a cache, equal to
    another built from equal weights (the conformance suite compares copies of a model)."""

    def __init__(self, fitted: dict, networks: dict[str, nn.Module]):
        names = ["architecture_", *(name + _STATE_SUFFIX for name in networks)]
        self.sources = {name: fitted[name] for name in names}
        self.networks = networks

    def built_from(self, fitted: dict) -> bool:
        return self.networks is not None and all(
            fitted.get(name) is source for name, source in self.sources.items()
        )

    def __getstate__(self) -> dict:
        # Pickled empty (rebuilt on first use): modules with parametrisations (spectral
        # norm) refuse pickling, and the fitted attributes hold the weights anyway.
        return {"sources": {}, "networks": None}

    def __deepcopy__(self, memo) -> _KeptNetworks:
        kept = object.__new__(_KeptNetworks)
        kept.sources = copy.deepcopy(self.sources, memo)
        kept.networks = copy.deepcopy(self.networks, memo)
        return kept

    def __eq__(self, other) -> bool:
        if not isinstance(other, _KeptNetworks):
            return NotImplemented
        theirs = other.sources
        return self.sources.keys() == theirs.keys() and all(
            source == theirs[name]
            if name == "architecture_"
            else source.keys() == theirs[name].keys()
            and all(torch.equal(tensor, theirs[name][k]) for k, tensor in source.items())
            for name, source in self.sources.items()
        )

    __hash__ = None  # mutable cache


def _copy_weights(module: nn.Module) -> nn.Module:
    for p in module.parameters():
        p.data = p.data.clone()
    for b in module.buffers():
        b.data = b.data.clone()
    return module
