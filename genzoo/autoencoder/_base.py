"""What the autoencoders share: networks kept as float64 weights, the Trainer's settings,
the choice of likelihood and network, and saving the weights.

A model sets `_build_networks` (architecture dict -> encoder, decoder) and keeps its fitted
weights in `encoder_state_` and `decoder_state_`; the modules are rebuilt from them per call,
so the fitted model holds only tensors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from genzoo._validation import Interval
from genzoo.autoencoder._vae_nets import decoder_mean
from genzoo.base import GenerativeModel
from genzoo.nets._layers import MAX_IMAGE_SIZE, MIN_IMAGE_SIZE
from genzoo.training import TrainConfig

_NETWORK_STATES = ("encoder_state_", "decoder_state_")
# The constraints of the Trainer's settings, which every autoencoder's constructor repeats.
TRAINER_CONSTRAINTS = {
    "device": ["device"],
    "batch_size": [Interval(int, 1, None)],
    "max_steps": [Interval(int, 1, None)],
    "learning_rate": [Interval(float, 0, None, closed="neither")],
    "ema_decay": [None, Interval(float, 0, 1, closed="left")],
    "verbose": [Interval(int, 0, None)],
    "checkpoint_every": [None, Interval(int, 1, None)],
    "random_state": ["random_state"],
}
_TENSOR_ATTRIBUTES = ("data_shift_", "data_scale_", "class_log_prior_")


class NeuralAutoencoder(GenerativeModel):
    """Base of the VAE, denoising and sparse autoencoders (not registered itself)."""

    _build_networks: ClassVar[Callable]

    def _check_X(self, X, *, reset: bool) -> np.ndarray:
        X = super()._check_X(X, reset=reset)
        if not reset and self.likelihood_ == "bernoulli":
            _check_unit_interval(X, "the fitted Bernoulli decoder")
        return X

    def _resolve_likelihood(self, X: np.ndarray) -> str:
        if self.likelihood == "bernoulli":
            _check_unit_interval(X, "likelihood='bernoulli'")
            return "bernoulli"
        if self.likelihood == "auto" and np.isin(X, (0.0, 1.0)).all():
            return "bernoulli"
        return "gaussian"

    def _resolve_network(self, shape: tuple[int, ...]) -> str:
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

    # --- training

    def _train_config(self, seed: int) -> TrainConfig:
        return TrainConfig(
            device=self.device,
            batch_size=self.batch_size,
            max_steps=self.max_steps,
            learning_rate=float(self.learning_rate),
            ema_decay=self.ema_decay,
            verbose=self.verbose,
            checkpoint_dir=self.checkpoint_dir,
            checkpoint_every=self.checkpoint_every,
            random_state=seed,
        )

    # --- networks

    def networks(self) -> dict[str, torch.nn.Module]:
        """Return fresh `encoder` and `decoder` modules holding a copy of the fitted weights.

        The encoder reads standardised x (see `data_shift_`); the decoder returns (location,
        log_std), the location being a Gaussian mean or Bernoulli logits.
        """
        check_is_fitted(self)
        encoder, decoder = self._modules()
        return {"encoder": _copy_weights(encoder), "decoder": _copy_weights(decoder)}

    def _modules(self, fitted: dict | None = None):
        """Evaluation modules sharing the fitted tensors, built without initialising weights."""
        fitted = vars(self) if fitted is None else fitted
        with torch.device("meta"):
            encoder, decoder = self._build_networks(fitted["architecture_"])
        encoder.load_state_dict(fitted["encoder_state_"], assign=True)
        decoder.load_state_dict(fitted["decoder_state_"], assign=True)
        return encoder.eval(), decoder.eval()

    # --- save and load

    def _state(self) -> tuple[dict[str, np.ndarray], dict]:
        """Network weights as arrays named `encoder_state_.<parameter>`; the rest as usual."""
        check_is_fitted(self)
        arrays, values = {}, {}
        for name, value in vars(self).items():
            if not name.endswith("_") or name.startswith("_"):
                continue
            if name in _NETWORK_STATES:
                arrays.update({f"{name}.{k}": _numpy(v) for k, v in value.items()})
            elif isinstance(value, torch.Tensor):
                arrays[name] = _numpy(value)
            elif isinstance(value, np.ndarray) and value.dtype.kind not in "UO":
                arrays[name] = value
            else:  # classes_ of strings, architecture_, lists and numbers: JSON
                values[name] = value
        return arrays, values

    def _set_state(self, arrays: dict[str, np.ndarray], values: dict) -> None:
        fitted = self._fitted_from_state(arrays, values)
        self._modules(fitted)  # raises if the weights do not fit the architecture
        self._set_fitted(fitted)

    def _fitted_from_state(self, arrays: dict[str, np.ndarray], values: dict) -> dict:
        """The fitted attributes from what `_state` wrote, network weights as tensors."""
        device = self._device()
        fitted = dict(values)
        for key, array in arrays.items():
            name, _, parameter = key.partition(".")
            if name in _NETWORK_STATES:
                tensor = torch.tensor(array, device=device)
                fitted.setdefault(name, {})[parameter] = tensor
            elif name in _TENSOR_ATTRIBUTES:
                fitted[name] = torch.tensor(array, device=device)
            else:
                fitted[name] = array
        return fitted


# --- helpers


class CodeAutoencoder(NeuralAutoencoder):
    """Base of the autoencoders whose code is the encoder's output (denoising and sparse):
    `encode`, `decode` and `reconstruct`. `_code_width_param` names the code's width."""

    _code_width_param: ClassVar[str]

    def encode(self, X) -> np.ndarray:
        """Return the code of each row of X (standardised first), (n_samples, code width)."""
        check_is_fitted(self)
        X = self._to_tensor(self._check_X(X, reset=False))
        encoder, _ = self._modules()
        with torch.no_grad():
            return _numpy(encoder((X - self.data_shift_) / self.data_scale_))

    def decode(self, H) -> np.ndarray:
        """Return the decoder's mean E[x | h] for each code row of H, shaped like the data."""
        check_is_fitted(self)
        width = getattr(self, self._code_width_param)
        H = np.asarray(H.detach().cpu() if isinstance(H, torch.Tensor) else H, dtype=np.float64)
        if H.ndim != 2 or H.shape[1] != width or not np.isfinite(H).all():
            raise ValueError(
                f"H must be a finite array of shape (n_samples, {width}); got shape {H.shape}."
            )
        with torch.no_grad():
            return _numpy(self._mean_of_codes(self._to_tensor(H)))

    def reconstruct(self, X) -> np.ndarray:
        """Return decode(encode(X)): each row through its code and back."""
        return self.decode(self.encode(X))

    def _mean_of_codes(self, H: torch.Tensor) -> torch.Tensor:
        """E[x | h] in the data's units for each code row of H."""
        _, decoder = self._modules()
        return decoder_mean(*decoder(H)) * self.data_scale_ + self.data_shift_


def _check_unit_interval(X: np.ndarray, what: str) -> None:
    if X.min() < 0.0 or X.max() > 1.0:
        raise ValueError(
            f"X has values in [{X.min():.4g}, {X.max():.4g}], but {what} needs values in "
            "[0, 1]; rescale X or use likelihood='gaussian'."
        )


def _standardisation(X: np.ndarray, likelihood: str) -> tuple[np.ndarray, np.ndarray]:
    """Shift and scale of shape X.shape[1:]: per feature for vectors, one scale for images."""
    shape = X.shape[1:]
    if likelihood == "bernoulli":  # Bernoulli data stay in [0, 1]
        return np.zeros(shape), np.ones(shape)
    if X.ndim == 2:
        shift, scale = X.mean(0), X.std(0)
    else:
        shift, scale = np.full(shape, X.mean()), np.full(shape, X.std())
    return shift, np.where(scale > 1e-8, scale, 1.0)  # constant features keep their units


def _float64_state(module: torch.nn.Module, device: torch.device) -> dict[str, torch.Tensor]:
    return {
        k: v.detach().to(device=device, dtype=torch.float64).clone()
        for k, v in module.state_dict().items()
    }


def _copy_weights(module: torch.nn.Module) -> torch.nn.Module:
    for p in module.parameters():
        p.data = p.data.clone()
    for b in module.buffers():
        b.data = b.data.clone()
    return module


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.float64)
