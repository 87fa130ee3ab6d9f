"""What the autoencoders share on top of `NeuralGenerativeModel`: the choice of likelihood
and network, their architecture dict, no standardisation for the Bernoulli decoder, and
(for the denoising and sparse models) encode and decode of a deterministic code.

Training, the fitted weights (`encoder_state_`, `decoder_state_`), evaluation and saving are
`NeuralGenerativeModel`'s.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from genzoo._neural import NeuralGenerativeModel
from genzoo.autoencoder._vae_nets import decoder_mean
from genzoo.base import FeatureTransformerMixin


class NeuralAutoencoder(NeuralGenerativeModel):
    """Base of the VAE, denoising and sparse autoencoders (not registered itself)."""

    fitted_attributes = (
        *NeuralGenerativeModel.fitted_attributes,
        "encoder_state_",
        "decoder_state_",
        "likelihood_",
    )

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

    def _autoencoder_architecture(
        self, X: np.ndarray, latent_dim: int, *, n_classes: int | None, min_std: float
    ) -> dict:
        """The dict `_vae_nets` builds the encoder and decoder from."""
        shape = tuple(X.shape[1:])
        return {
            "network": self._resolve_network(shape),
            "likelihood": self._resolve_likelihood(X),
            "input_shape": list(shape),
            "latent_dim": latent_dim,
            "hidden": list(self.hidden),
            "channels": list(self.channels),
            "n_classes": n_classes,
            "min_std": min_std,
        }

    def _standardisation(self, X: np.ndarray, architecture: dict) -> tuple[np.ndarray, ...]:
        if architecture["likelihood"] == "bernoulli":  # Bernoulli data stay in [0, 1]
            return np.zeros(X.shape[1:]), np.ones(X.shape[1:])
        return super()._standardisation(X, architecture)

    def _extra_fitted(self, X: np.ndarray, y, fitted: dict, seed: int) -> dict:
        return {"likelihood_": fitted["architecture_"]["likelihood"]}


class CodeAutoencoder(FeatureTransformerMixin, NeuralAutoencoder):
    """Base of the autoencoders whose code is the encoder's output (denoising and sparse):
    `encode`, `decode` and `reconstruct`; `transform` is `encode`, so the codes serve as
    features in a scikit-learn Pipeline. `_code_width_param` names the code's width."""

    _code_width_param: ClassVar[str]

    @property
    def _n_features_out(self) -> int:
        """Width of `transform`: the code's."""
        return int(getattr(self, self._code_width_param))

    def transform(self, X) -> np.ndarray:
        """The code of each row of X, as `encode` (scikit-learn's name for features)."""
        return self.encode(X)

    def encode(self, X) -> np.ndarray:
        """Return the code of each row of X (standardised first), (n_samples, code width)."""
        X, _ = self._inference_data(X)
        with torch.no_grad(), self._evaluation() as networks:
            return _numpy(networks["encoder"](self._standardise(X).to(self._dtype())))

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
        with self._evaluation() as networks:
            location, log_std = networks["decoder"](H.to(self._dtype()))
            return self._unstandardise(decoder_mean(location, log_std))


def _check_unit_interval(X: np.ndarray, what: str) -> None:
    if X.min() < 0.0 or X.max() > 1.0:
        raise ValueError(
            f"X has values in [{X.min():.4g}, {X.max():.4g}], but {what} needs values in "
            "[0, 1]; rescale X or use likelihood='gaussian'."
        )


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.float64)
