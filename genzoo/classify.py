"""Any density model as a classifier: one model per class, then Bayes' rule.

A generative classifier learns the joint P(X, y) = P(y) P(X | y), with P(X | y) any genzoo
model that has a likelihood, and classifies by P(y | X) = P(X, y) / sum over y' of P(X, y').
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import clone

from genzoo.base import GenerativeModel
from genzoo.mixture import GaussianMixture
from genzoo.registry import register

__all__ = ["GenerativeClassifier"]


@register(
    "generative_classifier",
    family="classify",
    data_kind="vectors",
    default_dataset="digits",
    fixture_dataset="digits",
    fixture_size=300,
    test_params={"random_state": 0},
    quick_params={"random_state": 0},
)
class GenerativeClassifier(GenerativeModel):
    """A density model per class and class priors, classifying by Bayes' rule in log space.

    Parameters
    ----------
    estimator : GenerativeModel or None, default=None
        The model of P(X | y), cloned once per class. It needs a likelihood
        (`likelihood_kind` not None). None means ``GaussianMixture(3, reg_covar=1e-2)``, full
        covariances regularised for features on a unit scale.
    priors : array-like of shape (n_classes,) or None, default=None
        Class priors; None estimates them from the class frequencies (or uses uniform priors
        when `fit_prior` is False).
    fit_prior : bool, default=True
        Whether to learn the priors from the data when `priors` is None.
    random_state : int or None, default=None
        Seeds the per-class models that take a `random_state`, and sampling.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    class_log_prior_ : ndarray of shape (n_classes,)
    class_count_ : ndarray of shape (n_classes,)
    estimators_ : list of fitted models, one per class
    n_features_in_ : int

    Notes
    -----
    `log_prob(X)` is log P(X) = log sum over y of P(X, y), and `log_prob(X, y)` the joint
    log P(X, y). Both are of the wrapped model's `likelihood_kind`: with a lower bound or an
    estimate per class, the posterior P(y | X) is approximate too.

    Examples
    --------
    >>> from genzoo import GenerativeClassifier, GaussianMixture
    >>> from genzoo.data import load
    >>> data = load("digits").as_vectors()
    >>> clf = GenerativeClassifier(GaussianMixture(2, covariance_type="diag", reg_covar=0.01))
    >>> accuracy = (clf.fit(data.X_train, data.y_train).predict(data.X_test) == data.y_test)
    >>> bool(accuracy.mean() > 0.85)
    True
    """

    conditional = True
    fitted_attributes = (
        "classes_",
        "class_count_",
        "class_log_prior_",
        "estimators_",
        "n_features_in_",
        "input_shape_",
    )
    _parameter_constraints = {
        "priors": ["array-like", None],
        "fit_prior": [bool],
        "random_state": ["random_state"],
    }

    def __init__(self, estimator=None, *, priors=None, fit_prior: bool = True, random_state=None):
        self.estimator = estimator
        self.priors = priors
        self.fit_prior = fit_prior
        self.random_state = random_state

    @property
    def likelihood_kind(self):
        """That of the wrapped model (an exact density makes an exact joint)."""
        return self._base_estimator().likelihood_kind

    @property
    def data_kind(self) -> str:
        return self._base_estimator().data_kind

    def likelihood_support(self, X=None) -> str | None:
        """That of the wrapped model: a joint of a density and a label is a density."""
        return self._base_estimator().likelihood_support(X)

    def _base_estimator(self) -> GenerativeModel:
        if self.estimator is None:
            return GaussianMixture(3, reg_covar=1e-2)
        if not isinstance(self.estimator, GenerativeModel):
            raise ValueError(
                f"estimator must be a genzoo model; got {type(self.estimator).__name__}."
            )
        return self.estimator

    # --- fitting

    def _fit(self, X, y, gen) -> dict:
        base = self._base_estimator()
        if base.likelihood_kind is None:
            raise ValueError(
                f"GenerativeClassifier needs a model with a likelihood for Bayes' rule; "
                f"{type(base).__name__} has none ({base.no_likelihood_reason})."
            )
        y = y.cpu().numpy()
        n_classes = len(self.classes_)
        counts = np.bincount(y, minlength=n_classes).astype(np.float64)
        estimators = []
        for k in range(n_classes):
            model = clone(base)
            if self.random_state is not None and "random_state" in model.get_params():
                model.set_params(random_state=self.random_state + k)
            estimators.append(model.fit(X[y == k]))
        return {
            "class_count_": counts,
            "class_log_prior_": self._log_priors(counts),
            "estimators_": estimators,
            **self._fitted_input_shape(X),
        }

    def _log_priors(self, counts: np.ndarray) -> np.ndarray:
        if self.priors is not None:
            priors = np.asarray(self.priors, dtype=np.float64)
            if priors.shape != counts.shape or (priors < 0).any():
                raise ValueError(f"priors must be {len(counts)} non-negative numbers.")
            if not np.isclose(priors.sum(), 1.0):
                raise ValueError("priors must sum to 1.")
            return np.log(priors)
        if not self.fit_prior:
            return np.full(len(counts), -np.log(len(counts)))
        return np.log(counts / counts.sum())

    # --- Bayes' rule

    def joint_log_likelihood(self, X) -> np.ndarray:
        """Return log P(X, y) for every class, (n_samples, n_classes)."""
        return self._joint(self._inference_data(X)[0])

    def _joint(self, X) -> np.ndarray:
        per_class = np.stack([m.log_prob(X) for m in self.estimators_], axis=1)
        return per_class + self.class_log_prior_

    def _to_device(self, X):
        return X  # each class's model moves the data to its own device

    def predict_log_proba(self, X) -> np.ndarray:
        """Return log P(y | X), (n_samples, n_classes)."""
        joint = self.joint_log_likelihood(X)
        return joint - _logsumexp(joint)[:, None]

    def predict_proba(self, X) -> np.ndarray:
        """Return P(y | X), (n_samples, n_classes)."""
        return np.exp(self.predict_log_proba(X))

    def predict(self, X) -> np.ndarray:
        """Return the most probable class of each row of X."""
        best = self.joint_log_likelihood(X).argmax(1)
        return self.classes_[best]

    def _log_prob(self, X) -> torch.Tensor:
        return torch.as_tensor(_logsumexp(self._joint(X)))

    def _labelled_log_prob(self, X, y: torch.Tensor) -> torch.Tensor:
        joint = self._joint(X)
        return torch.as_tensor(joint[np.arange(len(joint)), y.cpu().numpy()])

    # --- sampling

    def _sample(self, n_samples: int, y, gen) -> torch.Tensor:
        return self._sample_with_labels(n_samples, y, gen)[0]

    def _sample_with_labels(self, n_samples: int, y, gen):
        if y is None:
            prior = torch.as_tensor(np.exp(self.class_log_prior_))
            y = torch.multinomial(prior, n_samples, replacement=True, generator=gen)
        y = y.cpu()
        out = None
        seeds = torch.randint(2**31 - 1, (len(self.estimators_),), generator=gen)
        for k, model in enumerate(self.estimators_):
            rows = torch.nonzero(y == k).squeeze(1)
            if len(rows) == 0:
                continue
            drawn = model.sample(len(rows), random_state=int(seeds[k]))
            if out is None:  # numpy in the class models' own dtype
                out = np.empty((n_samples, *drawn.shape[1:]), dtype=drawn.dtype)
            out[rows.numpy()] = drawn
        return out, y

    # --- files of format 1 kept each class's model under a prefix

    def _from_legacy_state(self, arrays: dict, values: dict) -> dict:
        states = values.pop("_estimator_states")
        estimators = []
        for k, sub_values in enumerate(states):
            prefix = f"_estimator{k}."
            sub_arrays = {n[len(prefix) :]: a for n, a in arrays.items() if n.startswith(prefix)}
            model = clone(self._base_estimator())
            model._load_fitted(model._from_legacy_state(sub_arrays, dict(sub_values)))
            estimators.append(model)
        own = {n: a for n, a in arrays.items() if not n.startswith("_estimator")}
        return {**own, **values, "estimators_": estimators}


def _logsumexp(a: np.ndarray) -> np.ndarray:
    top = a.max(1)
    top = np.where(np.isfinite(top), top, 0.0)
    return top + np.log(np.exp(a - top[:, None]).sum(1))
