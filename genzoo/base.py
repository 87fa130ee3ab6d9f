"""The one protocol every genzoo model follows.

`GenerativeModel` owns the public methods (`fit`, `log_prob`, `score`, `sample`, `save`).
Each checks that the model is fitted, validates and converts its input, resolves device, dtype
and random generator, calls a private hook on tensors, and returns numpy. A model writes only
the hooks: `_fit`, `_log_prob` (when it has a likelihood) and `_sample`.
"""

from __future__ import annotations

import abc
import os
from typing import ClassVar, Literal

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from genzoo._validation import (
    check_array,
    check_labels,
    check_n_samples,
    make_generator,
    resolve_device,
    resolve_dtype,
    validate_params,
)

__all__ = ["GenerativeModel", "LikelihoodKind", "LikelihoodUnavailable", "LIKELIHOOD_KINDS"]

LikelihoodKind = Literal["exact", "lower_bound", "estimate"] | None
LIKELIHOOD_KINDS = ("exact", "lower_bound", "estimate", None)


class LikelihoodUnavailable(RuntimeError):
    """Raised by `log_prob` and `score` of a model that has no tractable likelihood."""


class GenerativeModel(BaseEstimator, abc.ABC):
    """Base class of every genzoo model: a scikit-learn estimator that learns a distribution.

    Subclasses declare `likelihood_kind` ("exact", "lower_bound", "estimate" or None, with
    `no_likelihood_reason` for None), `data_kind` ("vectors" or "images"), and a
    `_parameter_constraints` dict checked at `fit`; and write the hooks `_fit`, `_sample` and,
    when they have a likelihood, `_log_prob`.
    """

    likelihood_kind: ClassVar[LikelihoodKind]
    no_likelihood_reason: ClassVar[str] = ""
    data_kind: ClassVar[str] = "vectors"
    # Conditional models learn p(x | y): fit(X, y) and sample(n, y=labels).
    conditional: ClassVar[bool] = False
    _parameter_constraints: ClassVar[dict[str, list]] = {}
    # Set by genzoo.registry.register; written into saved files so load can rebuild the class.
    _registry_name: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # A property (a meta-model's kind is its wrapped model's) is checked at run time.
        if "likelihood_kind" in cls.__dict__ and not isinstance(
            cls.__dict__["likelihood_kind"], property
        ):
            kind = cls.likelihood_kind
            if kind not in LIKELIHOOD_KINDS:
                raise TypeError(f"{cls.__name__}.likelihood_kind must be one of {LIKELIHOOD_KINDS}")
            has_hook = cls._log_prob is not GenerativeModel._log_prob
            if kind is not None and not has_hook:
                raise TypeError(f"{cls.__name__} declares a likelihood but writes no _log_prob")
            if kind is None and not cls.no_likelihood_reason:
                raise TypeError(f"{cls.__name__} has no likelihood: set no_likelihood_reason")

    # --- hooks a model writes

    @abc.abstractmethod
    def _fit(self, X, y, gen: torch.Generator) -> dict:
        """Fit on validated input and return the fitted attributes by name; change nothing."""

    @abc.abstractmethod
    def _sample(self, n_samples: int, y, gen: torch.Generator) -> torch.Tensor:
        """Draw `n_samples` rows on the model's device."""

    def _log_prob(self, X: torch.Tensor) -> torch.Tensor:
        """Log-density of each row of X in nats, shape (n,); written by models with one."""
        raise LikelihoodUnavailable(self._no_likelihood_message())

    def _labelled_log_prob(self, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Log-density of each row of X with its label index y, (n,); conditional models."""
        raise ValueError(f"{type(self).__name__} takes no labels in log_prob.")

    # --- public API

    def fit(self, X, y=None):
        """Fit the model to X (and labels y for conditional models); return self.

        Unconditional models ignore y, as scikit-learn's do. The fit is atomic: if it raises, an
        already fitted model is left exactly as it was.
        """
        validate_params(self, self._parameter_constraints)
        X_checked = self._check_X(X, reset=True)
        labels = {}
        if self.conditional:
            classes, y_index = check_labels(y, n_samples=_n_rows(X_checked))
            labels["classes_"] = classes
            y = torch.as_tensor(y_index, device=self._device())
        else:
            y = None
        gen = make_generator(self.random_state, self._device())
        fitted = self._fit(X_checked, y, gen)
        self._set_fitted({**labels, **fitted})
        return self

    def log_prob(self, X, y=None) -> np.ndarray:
        """Return the log-density of each row of X in nats, shape (n_samples,).

        What the number is (exact, a lower bound, or an estimate) is `likelihood_kind`.
        Conditional models also take labels y; see the model for what the number then is.
        """
        if self.likelihood_kind is None:
            raise LikelihoodUnavailable(self._no_likelihood_message())
        check_is_fitted(self)
        X_tensor = self._to_tensor(self._check_X(X, reset=False))
        y_tensor = self._label_index(y, len(X_tensor))
        with torch.no_grad():
            if y_tensor is None:
                out = self._log_prob(X_tensor)
            else:
                out = self._labelled_log_prob(X_tensor, y_tensor)
        return out.detach().cpu().numpy().astype(np.float64)

    def score(self, X, y=None) -> float:
        """Return the mean log-density of X in nats per sample (higher is better)."""
        return float(np.mean(self.log_prob(X, y)))

    def sample(
        self,
        n_samples: int = 1,
        *,
        y=None,
        random_state: int | None = None,
        return_labels: bool = False,
    ):
        """Draw `n_samples` new samples, shaped like the training data without its first axis.

        `y` gives the labels to condition on (conditional models only): one label, or one per
        sample. `random_state` (else the constructor's) seeds the draw: an int gives the same
        samples on every call, on the same device. With `return_labels`, models with discrete
        latent labels (mixture components, classes) also return each sample's label, (n,).
        """
        check_is_fitted(self)
        n_samples = check_n_samples(n_samples)
        y_tensor = self._label_index(y, n_samples, broadcast=True)
        gen = self._generator(random_state)
        with torch.no_grad():
            if not return_labels:
                return self._to_numpy_samples(self._sample(n_samples, y_tensor, gen))
            X, labels = self._sample_with_labels(n_samples, y_tensor, gen)
        labels = labels.cpu().numpy()
        return self._to_numpy_samples(X), self.classes_[labels] if self.conditional else labels

    def _sample_with_labels(self, n_samples: int, y, gen) -> tuple[torch.Tensor, torch.Tensor]:
        """Samples and the label index of each; written by models with discrete labels."""
        raise ValueError(f"{type(self).__name__} has no labels to return with its samples.")

    def _label_index(self, y, n: int, *, broadcast: bool = False) -> torch.Tensor | None:
        """Labels y as indices into `classes_` on the model's device (None stays None)."""
        if y is None:
            return None
        if not self.conditional:
            raise ValueError(f"y must be None: {type(self).__name__} is not a conditional model.")
        y = np.asarray(y.detach().cpu() if isinstance(y, torch.Tensor) else y)
        if broadcast and y.ndim == 0:
            y = np.repeat(y, n)
        _, index = check_labels(y, n_samples=n, classes=self.classes_)
        return torch.as_tensor(index, device=self._device())

    def save(self, path: str | os.PathLike) -> None:
        """Write the fitted model to `path` (a folder, or a file ending in .safetensors)."""
        from genzoo.io import save

        save(self, path)

    # --- state for save/load

    def _state(self) -> tuple[dict[str, np.ndarray], dict]:
        """The fitted state as (arrays, JSON-able values); models with networks extend it."""
        check_is_fitted(self)
        arrays, values = {}, {}
        for name, value in vars(self).items():
            if not name.endswith("_") or name.startswith("_"):
                continue
            if isinstance(value, torch.Tensor):
                value = value.detach().cpu().numpy()
            if isinstance(value, np.ndarray) and value.dtype.kind not in "UO":
                arrays[name] = value
            elif isinstance(value, np.ndarray):
                values[name] = value  # labels such as strings: io keeps them in the JSON
            elif isinstance(value, np.generic):
                values[name] = value.item()
            elif value is None or isinstance(value, (bool, int, float, str, list, tuple)):
                values[name] = value
            else:
                raise TypeError(
                    f"{type(self).__name__}.{name} ({type(value).__name__}) cannot be saved "
                    "generically; the model must extend _state and _set_state."
                )
        return arrays, values

    def _set_state(self, arrays: dict[str, np.ndarray], values: dict) -> None:
        """Restore what `_state` returned."""
        self._set_fitted({**values, **arrays})

    # --- helpers for subclasses

    def _set_fitted(self, fitted: dict) -> None:
        for name, value in fitted.items():
            if name.startswith("__") or not (name.endswith("_") or name.startswith("_")):
                raise ValueError(f"{name!r} is not a fitted attribute name")
            setattr(self, name, value)

    def _check_X(self, X, *, reset: bool, finite: bool = True) -> np.ndarray:
        """Check X for this model's data kind; at fit (`reset`) it fixes the feature count.

        `finite=False` skips the NaN and infinity check, for a caller that makes it itself.
        """
        ndim = (2, 3, 4) if self.data_kind == "images" else 2
        X = check_array(X, name="X", ndim=ndim, finite=finite)
        if self.data_kind == "images" and X.ndim == 3:
            X = X[:, None]  # (n, h, w) is one channel
        shape = tuple(X.shape[1:])
        if not reset:
            expected = tuple(self.input_shape_)
            if shape != expected:
                what = "features" if len(shape) == 1 else "shape"
                raise ValueError(
                    f"X has {what} {shape[0] if len(shape) == 1 else shape}, but "
                    f"{type(self).__name__} was fitted with "
                    f"{expected[0] if len(expected) == 1 else expected}."
                )
        return X

    def _fitted_input_shape(self, X: np.ndarray) -> dict:
        """The `n_features_in_` and `input_shape_` attributes for training data X."""
        return {"n_features_in_": int(np.prod(X.shape[1:])), "input_shape_": list(X.shape[1:])}

    def _device(self) -> torch.device:
        return resolve_device(getattr(self, "device", "cpu"))

    def _dtype(self) -> torch.dtype:
        return resolve_dtype(getattr(self, "dtype", "float64"))

    def _to_tensor(self, X) -> torch.Tensor:
        X = np.asarray(X)
        if not X.flags.writeable:  # torch warns on read-only memory (pandas, np.load mmap)
            X = X.copy()
        return torch.as_tensor(X, dtype=self._dtype(), device=self._device())

    def _generator(self, random_state) -> torch.Generator:
        seed = self.random_state if random_state is None else random_state
        return make_generator(seed, self._device())

    def _to_numpy_samples(self, out: torch.Tensor) -> np.ndarray:
        out = out.detach().cpu().numpy()
        if out.dtype.kind == "f":
            out = out.astype(np.float64 if self._dtype() == torch.float64 else np.float32)
        return out

    def _no_likelihood_message(self) -> str:
        return f"{type(self).__name__} has no tractable likelihood: {self.no_likelihood_reason}"


def _n_rows(X) -> int:
    """Number of samples in validated input (an array, a DataFrame, or a model's container)."""
    return len(X)
