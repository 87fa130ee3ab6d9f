"""The one protocol every genzoo model follows.

`GenerativeModel` owns the public methods (`fit`, `partial_fit`, `log_prob`, `score`,
`sample`, `save`) for every kind of data. Each checks parameters and fitted state, validates
its input on the host (`_prepare`) before any device work, resolves the random generator,
calls a private hook and returns what the user passed in kind (`_to_output`). A model writes
only hooks:

- `_prepare(X, lengths=, reset=)`: checked input, kept opaque by the base; `_to_device`
  turns it into what the inference hooks read (a tensor by default).
- `_fit(data, y, gen)` -> the fitted attributes; `_partial_fit(data, y, gen)` where a model
  learns from a stream.
- `_log_prob(data)` (and `_labelled_log_prob` for conditional models) where there is a
  likelihood; `_sample(n, y, gen, **options)`, with options declared by the model's own
  `sample` signature, which calls `_draw_samples`.
- `_on_fitted()` to rebuild caches after `fit` and after loading.

Everything a fit learns is declared in `fitted_attributes`: `save` writes those, and `load`
accepts nothing else.
"""

from __future__ import annotations

import abc
import contextlib
import math
import os
import warnings
from typing import ClassVar, Literal

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.exceptions import NotFittedError
from sklearn.utils.metaestimators import available_if

from genzoo._determinism import deterministic_kernels
from genzoo._validation import (
    check_array,
    check_finite_output,
    check_labels,
    check_memory,
    check_n_samples,
    make_generator,
    resolve_device,
    resolve_dtype,
    safe_magnitude,
    validate_params,
)

__all__ = [
    "FeatureTransformerMixin",
    "GenerativeModel",
    "LikelihoodKind",
    "LikelihoodUnavailable",
    "LIKELIHOOD_KINDS",
]

LikelihoodKind = Literal["exact", "lower_bound", "estimate"] | None
LIKELIHOOD_KINDS = ("exact", "lower_bound", "estimate", None)
# Data kinds whose values are discrete by nature; vectors and images may be either.
_DISCRETE_DATA_KINDS = ("counts", "sequences", "table", "sentences")
# Bytes of scratch memory a draw needs per byte of its output, unless a model says otherwise.
_SAMPLE_WORKSPACE = 4


class LikelihoodUnavailable(RuntimeError):
    """Raised by `log_prob` and `score` of a model that has no tractable likelihood."""


class FeatureTransformerMixin(ClassNamePrefixFeaturesOutMixin, TransformerMixin):
    """For models whose `transform` gives learned features (hidden units, topics): scikit-learn's
    transformer tags, `fit_transform`, `get_feature_names_out` (`rbm0`, `rbm1`, ...) and
    `set_output(transform="pandas")`. A model sets `_n_features_out`, the width of `transform`."""


def _has_partial_fit(model) -> bool:
    return type(model)._partial_fit is not GenerativeModel._partial_fit


class GenerativeModel(BaseEstimator, abc.ABC):
    """Base class of every genzoo model: a scikit-learn estimator that learns a distribution.

    Subclasses declare `likelihood_kind` ("exact", "lower_bound", "estimate" or None, with
    `no_likelihood_reason` for None), `data_kind`, `fitted_attributes` and a
    `_parameter_constraints` dict checked at `fit`; and write the hooks listed in the module
    docstring.
    """

    likelihood_kind: ClassVar[LikelihoodKind]
    no_likelihood_reason: ClassVar[str] = ""
    data_kind: ClassVar[str] = "vectors"
    # Conditional models learn p(x | y): fit(X, y) and sample(n, y=labels).
    conditional: ClassVar[bool] = False
    _parameter_constraints: ClassVar[dict[str, list]] = {}
    # Every attribute a fit sets that save writes and load restores; caches rebuilt by
    # `_on_fitted` are left out. A name must end in "_" or start with one.
    fitted_attributes: ClassVar[tuple[str, ...]] = ()
    # Whether X may be a scipy.sparse matrix (counts from a vectoriser).
    takes_sparse: ClassVar[bool] = False
    # Whether fit also takes a second domain, `fit(X, X_b=...)` (a translation model), whose
    # samples then belong to that domain.
    second_domain: ClassVar[bool] = False
    # Whether log_prob gives probabilities of discrete values (True) or densities (False);
    # None: as the data kind says (see `likelihood_support`).
    discrete_likelihood: ClassVar[bool | None] = None
    # Set by genzoo.registry.register; written into saved files so load can rebuild the class.
    _registry_name: ClassVar[str | None] = None
    # Floating-point operations of one fitting iteration (or training step) from which
    # device="auto" fits on CUDA: below it a GPU mostly waits on kernel launches while a
    # CPU's caches hold the work (see `_fit_flops` and the README's "Choosing a device").
    cuda_min_flops: ClassVar[float] = 2e8

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in cls.fitted_attributes:
            if name.startswith("__") or not (name.endswith("_") or name.startswith("_")):
                raise TypeError(f"{cls.__name__}.fitted_attributes: {name!r} is not a fitted name")
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
    def _fit(self, data, y, gen: torch.Generator) -> dict:
        """Fit on prepared data and return the fitted attributes by name; change nothing."""

    @abc.abstractmethod
    def _sample(self, n_samples: int, y, gen: torch.Generator):
        """Draw `n_samples` items on the model's device (what `_to_output` takes)."""

    def _partial_fit(self, data, y, gen: torch.Generator) -> dict:
        """The fitted attributes after learning from one more batch; models of streams."""
        raise NotImplementedError  # unreachable: partial_fit is available only with the hook

    def _log_prob(self, data) -> torch.Tensor:
        """Log-density of each item in nats, shape (n,); written by models with one."""
        raise LikelihoodUnavailable(self._no_likelihood_message())

    def _labelled_log_prob(self, data, y: torch.Tensor) -> torch.Tensor:
        """Log-density of each item with its label index y, (n,); conditional models."""
        raise ValueError(f"{type(self).__name__} takes no labels in log_prob.")

    def _sample_with_labels(self, n_samples: int, y, gen) -> tuple[torch.Tensor, torch.Tensor]:
        """Samples and the label index of each; written by models with discrete labels."""
        raise ValueError(f"{type(self).__name__} has no labels to return with its samples.")

    def _check_params(self) -> None:
        """Checks across constructor arguments that the constraints table cannot express."""

    def _on_fitted(self) -> None:
        """Rebuild caches from the fitted attributes, after `fit` and after `load`."""

    def _fit_flops(self, data) -> float:
        """Floating-point operations of one fitting iteration (or training step) on prepared
        `data`, for device="auto". This default counts 32 per value of the data; models whose
        cost per value grows with their size (components, states, topics) say so."""
        return 32.0 * _count_values(data)

    def _prepare(self, X, *, lengths=None, reset: bool = False):
        """Input checked on the host for this model's data kind (an array by default).

        At fit (`reset`) it fixes the feature count; afterwards it must match. A model of
        another data kind returns its own container, whose len() is the number of items.
        """
        if lengths is not None:
            raise ValueError(f"lengths applies to sequences; {type(self).__name__} takes none.")
        return self._check_X(X, reset=reset)

    def _to_device(self, data):
        """Prepared data as the inference hooks read it: a tensor on the model's device."""
        return self._to_tensor(data)

    def _to_output(self, samples):
        """What `_sample` drew, as the user receives it: numpy arrays (tuples of them)."""
        if isinstance(samples, tuple):
            return tuple(self._to_output(s) for s in samples)
        if not isinstance(samples, torch.Tensor):
            return samples
        out = samples.detach().cpu().numpy()
        if out.dtype.kind == "f":
            out = out.astype(np.float64 if self._dtype() == torch.float64 else np.float32)
            check_finite_output(out, f"{type(self).__name__}.sample")
        return out

    def _sample_item_bytes(self, **options) -> int:
        """Bytes one drawn item and its scratch memory take, for the memory check of sample."""
        itemsize = torch.finfo(self._dtype()).bits // 8
        return _SAMPLE_WORKSPACE * itemsize * int(np.prod(getattr(self, "input_shape_", [1])))

    # --- public API

    def fit(self, X, y=None, *, lengths=None):
        """Fit the model to X (and labels y for conditional models); return self.

        Unconditional models ignore y, as scikit-learn's do. Sequences come as the steps of
        all sequences stacked in X, with their `lengths`. The fit is atomic: if it raises, an
        already fitted model is left exactly as it was.
        """
        return self._fit_data(X, y, lengths=lengths)

    def _fit_data(self, X, y, **inputs):
        """The steps of every `fit`: a model whose fit takes data beyond X and y (a second
        domain) declares them in its own `fit` signature and passes them here as `inputs`,
        which its `_prepare` checks with X."""
        self._validate_params()
        data = self._prepare(X, reset=True, **inputs)
        labels, y_index = self._fit_labels(y, data, classes=None)
        with self._fitting(labels), self._fit_device_for(data):
            y_index = None if y_index is None else y_index.to(self._device())
            gen = make_generator(self.random_state, self._device())
            with deterministic_kernels(self._device()):
                fitted = self._fit(data, y_index, gen)
            self._commit({**labels, **fitted})
        return self

    @available_if(_has_partial_fit)
    def partial_fit(self, X, y=None, classes=None, *, lengths=None):
        """Learn from one more batch of X (and labels y); return self.

        A series of calls learns from a stream too large to hold at once. Conditional models
        need `classes` (every label of the stream) on the first call, as in scikit-learn.
        """
        self._validate_params()
        first = not self._is_fitted()
        data = self._prepare(X, lengths=lengths, reset=first)
        if first:
            labels, y_index = self._fit_labels(y, data, classes=classes, stream=True)
        else:
            labels, y_index = self._stream_labels(y, data, classes)
        # a stream stays where its first batch put it
        with (
            self._fitting(labels),
            self._fit_device_for(data) if first else contextlib.nullcontext(),
        ):
            y_index = None if y_index is None else y_index.to(self._device())
            gen = make_generator(self.random_state, self._device())
            with deterministic_kernels(self._device()):
                fitted = self._partial_fit(data, y_index, gen)
            self._commit({**labels, **fitted})
        return self

    def log_prob(self, X, y=None, *, lengths=None) -> np.ndarray:
        """Return the log-density of each item of X in nats, shape (n_samples,).

        What the number is (exact, a lower bound, or an estimate) is `likelihood_kind`.
        Conditional models also take labels y; see the model for what the number then is.
        """
        data, y_index = self._inference_data(X, y, lengths=lengths)
        if self.likelihood_kind is None:
            raise LikelihoodUnavailable(self._no_likelihood_message())
        with torch.no_grad(), deterministic_kernels(self._device()):
            if y_index is None:
                out = self._log_prob(data)
            else:
                out = self._labelled_log_prob(data, y_index)
        out = out.detach().cpu().numpy().astype(np.float64)
        # -inf is an honest answer (an item of probability zero); NaN and +inf are not.
        return check_finite_output(out, f"{type(self).__name__}.log_prob", allow_neg_inf=True)

    def score(self, X, y=None, *, lengths=None) -> float:
        """Return the mean log-density of X in nats per item (higher is better)."""
        return float(np.mean(self.log_prob(X, y, lengths=lengths)))

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
        A request that would not fit in memory is refused with the memory it needs.
        """
        return self._draw_samples(
            n_samples, y=y, random_state=random_state, return_labels=return_labels
        )

    def likelihood_support(self, X=None) -> str | None:
        """What `log_prob` measures on data like X: "discrete" (log-probabilities of
        discrete values), "continuous" (log-densities) or None (no likelihood).

        Continuous models on discrete data are scored under the dequantization protocol of
        `genzoo.metrics.likelihood`. X matters only to models that choose their likelihood
        from the training data (a VAE's ``likelihood="auto"``) and are not fitted yet.
        """
        if self.likelihood_kind is None:
            return None
        discrete = self.discrete_likelihood
        if discrete is None:
            discrete = self.data_kind in _DISCRETE_DATA_KINDS
        return "discrete" if discrete else "continuous"

    def save(self, path: str | os.PathLike) -> None:
        """Write the fitted model to `path` (a folder, or a file ending in .safetensors)."""
        from genzoo.io import save

        save(self, path)

    # --- the shared steps of the public methods

    def _draw_samples(
        self,
        n_samples,
        *,
        y=None,
        random_state=None,
        return_labels: bool = False,
        name: str = "n_samples",
        **options,
    ):
        """Check, seed and run `_sample` (or `_sample_with_labels`); the base of every
        model's `sample`. `options` are the model's own sampling options, already checked."""
        self._check_fitted()
        n_samples = check_n_samples(n_samples, name)
        check_memory(
            n_samples * self._sample_item_bytes(**options),
            self._device(),
            f"{type(self).__name__}.sample({name}={n_samples})",
        )
        y_index = self._label_index(y, n_samples, broadcast=True)
        gen = self._generator(random_state)
        with torch.no_grad(), deterministic_kernels(self._device()):
            if not return_labels:
                return self._to_output(self._sample(n_samples, y_index, gen, **options))
            X, labels = self._sample_with_labels(n_samples, y_index, gen, **options)
        labels = labels.cpu().numpy()
        return self._to_output(X), self.classes_[labels] if self.conditional else labels

    def _inference_data(self, X, y=None, *, lengths=None, need_labels: bool = False):
        """(data on the device, label indices or None) for any method of a fitted model.

        Every public method that reads data goes through here: the fitted check, the host
        checks of `_prepare` and the labels' checks come before any device work.
        """
        self._check_fitted()
        data = self._prepare(X, lengths=lengths, reset=False)
        if need_labels and self.conditional and y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None: "
                "it is conditional."
            )
        if not self.conditional:
            self._ignore_labels(y, data)
            y = None
        y_index = None if y is None else self._label_index(y, _n_items(data))
        return self._to_device(data), y_index

    def _validate_params(self) -> None:
        validate_params(self, self._parameter_constraints)
        self._check_params()

    def _fit_labels(self, y, data, *, classes, stream: bool = False):
        """({"classes_": ...} or {}, label indices on the device or None) at a first fit."""
        if not self.conditional:
            self._ignore_labels(y, data)
            return {}, None
        from genzoo.training.distributed import union_across_processes

        if stream and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        if classes is not None:
            classes, _ = check_labels(np.unique(np.asarray(classes)), name="classes")
        else:
            # Every process learns the same classes, whatever labels its own shard holds.
            found, _ = check_labels(y, n_samples=_n_items(data), min_classes=1)
            classes, _ = check_labels(union_across_processes(found), name="y")
        _, index = check_labels(y, n_samples=_n_items(data), classes=classes)
        return {"classes_": classes}, torch.as_tensor(index, device=self._device())

    def _ignore_labels(self, y, data) -> None:
        """Accept and ignore y in an unconditional model, as scikit-learn's unsupervised
        estimators do (so Pipeline(...).fit(X, y) works), with two guards: a model that could
        use labels says so, and a sequence model refuses what may be sequence lengths."""
        if y is None:
            return
        name = type(self).__name__
        if self.data_kind == "sequences":
            n_steps = int(getattr(data, "X", data).shape[0])
            y = np.asarray(y.detach().cpu() if isinstance(y, torch.Tensor) else y)
            # Lengths as long as the steps are all ones, so only labels can be both.
            if y.ndim != 1 or len(y) != n_steps or bool(np.all(y == 1)):
                raise ValueError(
                    f"{name} got a second positional argument that may be sequence lengths; "
                    "pass them by keyword: fit(X, lengths=lengths). (Labels y, one per step, "
                    "are accepted and ignored.)"
                )
        if "conditional" in self.get_params(deep=False):
            warnings.warn(
                f"{name} ignores y: it is unconditional (conditional=False). Pass "
                "conditional=True to learn and score p(x | y).",
                UserWarning,
                stacklevel=4,
            )

    def _stream_labels(self, y, data, classes):
        """Labels of a later partial_fit call: its classes must repeat `classes_`."""
        if not self.conditional:
            self._ignore_labels(y, data)
            return {}, None
        if classes is not None:
            given, _ = check_labels(np.unique(np.asarray(classes)), name="classes")
            if not np.array_equal(given, self.classes_):
                raise ValueError(
                    f"classes={list(given)} differs from classes_={list(self.classes_)} "
                    "of the previous calls; a stream keeps its classes."
                )
        _, index = check_labels(y, n_samples=_n_items(data), classes=self.classes_)
        return {}, torch.as_tensor(index, device=self._device())

    @contextlib.contextmanager
    def _fitting(self, labels: dict):
        """Set `classes_` while a conditional model's hook fits, as scikit-learn's estimators
        do, so the hook sees the number of classes; a fit that raises leaves the old one."""
        if not labels:
            yield
            return
        missing = object()
        old = vars(self).get("classes_", missing)
        self.classes_ = labels["classes_"]
        try:
            yield
        except BaseException:
            if old is missing:
                del self.classes_
            else:
                self.classes_ = old
            raise

    def _commit(self, fitted: dict) -> None:
        """Check what a fit learned, then set it all at once and rebuild the caches."""
        for name, value in fitted.items():
            _check_fitted_value(value, f"{type(self).__name__}.fit: {name}")
        saved = {name: vars(self)[name] for name in fitted if name in vars(self)}
        self._set_fitted(fitted)
        try:
            self._on_fitted()
        except BaseException:
            for name in fitted:  # leave the model as it was
                if name in saved:
                    setattr(self, name, saved[name])
                else:
                    delattr(self, name)
            raise

    def _label_index(self, y, n: int, *, broadcast: bool = False) -> torch.Tensor | None:
        """Labels y as indices into `classes_` on the model's device (None stays None)."""
        if y is None:
            return None
        if not self.conditional:
            hint = " (sequence lengths go by keyword: lengths=...)"
            raise ValueError(
                f"y must be None: {type(self).__name__} is not a conditional model"
                f"{hint if self.data_kind == 'sequences' else ''}."
            )
        y = np.asarray(y.detach().cpu() if isinstance(y, torch.Tensor) else y)
        if broadcast and y.ndim == 0:
            y = np.repeat(y, n)
        _, index = check_labels(y, n_samples=n, classes=self.classes_)
        return torch.as_tensor(index, device=self._device())

    # --- fitted state: what save writes and load restores

    def _is_fitted(self) -> bool:
        return any(
            name in vars(self) for name in type(self).fitted_attributes if name.endswith("_")
        )

    def _check_fitted(self) -> None:
        if not self._is_fitted():
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                "appropriate arguments before using this estimator."
            )

    def __sklearn_is_fitted__(self) -> bool:
        return self._is_fitted()

    def __sklearn_tags__(self):
        """scikit-learn's tags, from what the model declares: its data kind's input, sparse
        input where it takes it, labels required by conditional models, and classifier tags
        for conditional models that predict labels."""
        from sklearn.utils import ClassifierTags

        from genzoo.data.kinds import get_kind

        tags = super().__sklearn_tags__()
        get_kind(self.data_kind).sklearn_input_tags(tags.input_tags)
        tags.input_tags.sparse = self.takes_sparse
        tags.target_tags.required = bool(self.conditional)
        if self.conditional and hasattr(self, "predict"):
            tags.estimator_type = "classifier"
            tags.classifier_tags = ClassifierTags()
        return tags

    def _fitted_state(self) -> dict:
        """The declared fitted attributes this model holds, by name (what save writes)."""
        self._check_fitted()
        return {n: vars(self)[n] for n in type(self).fitted_attributes if n in vars(self)}

    def _load_fitted(self, state: dict) -> None:
        """Restore what `_fitted_state` returned (from a file): declared names only."""
        unknown = sorted(set(state) - set(type(self).fitted_attributes))
        if unknown:
            raise ValueError(
                f"{', '.join(map(repr, unknown))} is not a fitted attribute of "
                f"{type(self).__name__}."
            )
        for name, value in state.items():
            _check_fitted_value(value, name)
        self._commit(state)

    def _from_legacy_state(self, arrays: dict[str, np.ndarray], values: dict) -> dict:
        """The fitted attributes of a file in format 1, which kept arrays of nested values
        under dotted names (`cpds_.asia`); models that nested other models override it."""
        fitted = dict(values)
        for key, array in arrays.items():
            name, _, rest = key.partition(".")
            if rest:
                fitted.setdefault(name, {})[rest] = array
            else:
                fitted[name] = array
        return fitted

    def _set_fitted(self, fitted: dict) -> None:
        for name, value in fitted.items():
            if name.startswith("__") or not (name.endswith("_") or name.startswith("_")):
                raise ValueError(f"{name!r} is not a fitted attribute name")
            if hasattr(type(self), name):  # a method or class constant must stay what it is
                raise ValueError(f"{name!r} would hide {type(self).__name__}.{name}")
            setattr(self, name, value)

    # --- helpers for subclasses

    def _check_X(self, X, *, reset: bool, name: str = "X") -> np.ndarray:
        """Check X (called `name` in errors) for this model's data kind; at fit (`reset`) it
        fixes the feature count.

        Values beyond what the model's arithmetic squares without overflow are refused.
        """
        ndim = (2, 3, 4) if self.data_kind == "images" else 2
        X = check_array(X, name=name, ndim=ndim, max_abs=safe_magnitude(self._dtype()))
        if self.data_kind == "images" and X.ndim == 3:
            X = X[:, None]  # (n, h, w) is one channel
        shape = tuple(X.shape[1:])
        if not reset:
            expected = tuple(self.input_shape_)
            if shape != expected:
                raise ValueError(_feature_mismatch(self, shape, expected))
        return X

    def _fitted_input_shape(self, X: np.ndarray) -> dict:
        """The `n_features_in_` and `input_shape_` attributes for training data X."""
        return {"n_features_in_": int(np.prod(X.shape[1:])), "input_shape_": list(X.shape[1:])}

    def _device(self) -> torch.device:
        """Where the model computes: its `device`, with "auto" as its last fit chose."""
        device = getattr(self, "device", "cpu")
        chosen = vars(self).get("_auto_device")
        return chosen if device == "auto" and chosen is not None else resolve_device(device)

    @contextlib.contextmanager
    def _fit_device_for(self, data):
        """Choose where device="auto" fits `data`, kept for the fitted model's other methods.

        "auto" is CUDA only where one fitting iteration is large enough to pay for it
        (`_fit_flops(data) >= cuda_min_flops`); GENZOO_DEVICE, when set, decides instead. A
        fit that raises leaves the earlier choice."""
        missing = object()
        old = vars(self).get("_auto_device", missing)
        if getattr(self, "device", "cpu") == "auto":
            self._auto_device = resolve_device(
                "auto", worth_cuda=lambda: self._fit_flops(data) >= self.cuda_min_flops
            )
        try:
            yield
        except BaseException:
            if old is missing:
                vars(self).pop("_auto_device", None)
            else:
                self._auto_device = old
            raise

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

    def _no_likelihood_message(self) -> str:
        return f"{type(self).__name__} has no tractable likelihood: {self.no_likelihood_reason}"


def _count_values(data) -> int:
    """How many numbers prepared data hold (arrays, sparse matrices, and containers of them)."""
    if isinstance(data, np.ndarray | torch.Tensor):
        return int(np.prod(data.shape))
    if hasattr(data, "nnz"):  # a scipy.sparse matrix
        return int(data.nnz)
    if isinstance(data, dict):
        return sum(_count_values(v) for v in data.values())
    if isinstance(data, tuple | list):
        return sum(_count_values(v) for v in data) if data else 0
    if hasattr(data, "__dataclass_fields__"):
        return sum(_count_values(getattr(data, f)) for f in data.__dataclass_fields__)
    return 1


def _feature_mismatch(model, shape: tuple, expected: tuple) -> str:
    """The message for input of another width than the fit's, in scikit-learn's words."""
    name = type(model).__name__
    if len(shape) == 1 and len(expected) == 1:
        return (
            f"X has {shape[0]} features, but {name} is expecting {expected[0]} features as input."
        )
    return f"X has shape {shape} per item, but {name} is expecting {expected} as input."


def _n_items(data) -> int:
    """Items in prepared data: rows of an array or sparse matrix, else its len()."""
    shape = getattr(data, "shape", None)
    return int(shape[0]) if shape is not None else len(data)


# Arrays a model may hold: no int8 or float16 that would overflow the arithmetic downstream.
_FITTED_DTYPES = frozenset("float64 float32 int64 int32 bool".split())
_MAX_NESTING = 8


def _check_fitted_value(value, where: str, depth: int = 0) -> None:
    """Refuse NaN, +inf, an unusual dtype or deep nesting in a fitted value (from a fit or a
    file). -inf stays allowed: it is the log of a zero probability."""
    if depth > _MAX_NESTING:
        raise ValueError(f"{where} is nested more than {_MAX_NESTING} levels deep.")
    if isinstance(value, torch.Tensor):
        value = value.detach()
        dtype = str(value.dtype).removeprefix("torch.")
        bad = value.is_floating_point() and bool((torch.isnan(value) | (value == math.inf)).any())
    elif isinstance(value, np.ndarray) and value.dtype.kind not in "UO":
        dtype = str(value.dtype)
        bad = value.dtype.kind == "f" and bool((np.isnan(value) | (value == np.inf)).any())
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_fitted_value(item, f"{where}[{key!r}]", depth + 1)
        return
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_fitted_value(item, f"{where}[{i}]", depth + 1)
        return
    else:
        if isinstance(value, float) and (math.isnan(value) or value == math.inf):
            raise ValueError(
                f"{where} is {value}: the fit met numerical trouble; rescale the data."
            )
        return
    if dtype not in _FITTED_DTYPES:
        raise ValueError(f"{where} has dtype {dtype}; fitted arrays are {sorted(_FITTED_DTYPES)}.")
    if bad:
        raise ValueError(
            f"{where} holds NaN or +inf: the fit met numerical trouble; rescale the data."
        )
