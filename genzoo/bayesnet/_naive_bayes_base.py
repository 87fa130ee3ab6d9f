"""The shared machinery of the naive Bayes models: statistics, Bayes' rule and sampling."""

from __future__ import annotations

import abc

import numpy as np
import scipy.sparse
import torch

from genzoo._validation import Interval
from genzoo.base import GenerativeModel
from genzoo.bayesnet._naive_bayes_math import (
    batch_rows,
    check_alpha,
    class_sums,
    discrete_log_prior,
    sum_batches,
)

_COMMON_CONSTRAINTS = {"random_state": ["random_state"], "device": ["device"], "dtype": ["dtype"]}
_DISCRETE_CONSTRAINTS = {
    **_COMMON_CONSTRAINTS,
    "alpha": [Interval(float, 0, None), "array-like"],
    "force_alpha": [bool],
    "fit_prior": [bool],
    "class_prior": ["array-like", None],
}


# --- the shared model


class _BaseNaiveBayes(GenerativeModel):
    """Naive Bayes: classes with a prior, features independent given the class.

    A variant writes the hooks `_statistics` (summed statistics of X and class indices y),
    `_stats_from_attributes` (the same statistics recovered from the fitted attributes),
    `_params_from_stats` (fitted attributes, with smoothing), `_joint` (log p(x, y=k), (n, K))
    and `_sample_given` (features of rows of the given classes).
    """

    likelihood_kind = "exact"
    conditional = True
    takes_sparse = True  # counts from a vectoriser are turned dense here

    # --- hooks

    @abc.abstractmethod
    def _statistics(self, X: torch.Tensor, y: torch.Tensor, n_classes: int) -> dict:
        """Statistics of rows X with class indices y, summed over batches and processes."""

    @abc.abstractmethod
    def _stats_from_attributes(self) -> dict:
        """The statistics the fitted attributes were computed from."""

    @abc.abstractmethod
    def _params_from_stats(self, stats: dict) -> dict:
        """The fitted attributes (numpy) from summed statistics."""

    @abc.abstractmethod
    def _joint(self, X: torch.Tensor) -> torch.Tensor:
        """log p(x, y=k) for each row of validated X and each class, (n, K)."""

    @abc.abstractmethod
    def _sample_given(self, y: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """Features of one row per class index in y, (len(y), d)."""

    def _check_values(self, X: np.ndarray, reset: bool) -> np.ndarray:
        """The variant's own checks of finite numeric X (counts, categories, ...)."""
        return X

    def _merge_stats(self, old: dict, new: dict) -> dict:
        return {k: old[k] + new[k] for k in old}

    def _log_prior(self) -> torch.Tensor:
        return self._tensor(self.class_log_prior_)

    # --- input

    def _check_X(self, X, *, reset: bool) -> np.ndarray:
        if scipy.sparse.issparse(X):
            X = X.toarray()  # counts from a vectoriser; the arithmetic here is dense
        return self._check_values(super()._check_X(X, reset=reset), reset)

    def _tensor(self, array) -> torch.Tensor:
        return torch.as_tensor(np.asarray(array), dtype=self._dtype(), device=self._device())

    def _fitted_attributes(self, stats: dict, d: int) -> dict:
        stats = {k: v.detach().cpu().numpy().astype(np.float64) for k, v in stats.items()}
        return {**self._params_from_stats(stats), "n_features_in_": d, "input_shape_": [d]}

    # --- fitting

    def _fit(self, X, y, gen) -> dict:
        stats = self._statistics(self._to_tensor(X), y, len(self.classes_))
        return self._fitted_attributes(stats, X.shape[1])

    def _partial_fit(self, X, y, gen) -> dict:
        """Add one batch of labelled rows to the statistics of every row seen so far, so a
        series of `partial_fit` calls gives the model `fit` gives on all the rows at once."""
        stats = self._statistics(self._to_tensor(X), y, len(self.classes_))
        if "class_count_" in vars(self):  # a later call of the stream
            stats = self._merge_stats(self._stats_from_attributes(), stats)
        return self._fitted_attributes(stats, X.shape[1])

    # --- likelihoods and predictions

    def _log_prob(self, X: torch.Tensor) -> torch.Tensor:
        return torch.logsumexp(self._joint(X), dim=1)

    def _labelled_log_prob(self, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self._joint(X).gather(1, y[:, None])[:, 0]

    def _checked_joint(self, X) -> torch.Tensor:
        data, _ = self._inference_data(X)
        with torch.no_grad():
            return self._joint(data)

    def predict_joint_log_proba(self, X) -> np.ndarray:
        """Return log p(x, y=k) for each row of X and each class in `classes_`, (n, K)."""
        return self._checked_joint(X).cpu().numpy()

    def predict_log_proba(self, X) -> np.ndarray:
        """Return log p(y=k | x) for each row of X and each class in `classes_`, (n, K)."""
        joint = self._checked_joint(X)
        return (joint - torch.logsumexp(joint, dim=1, keepdim=True)).cpu().numpy()

    def predict_proba(self, X) -> np.ndarray:
        """Return p(y=k | x) for each row of X and each class in `classes_`, (n, K)."""
        return np.exp(self.predict_log_proba(X))

    def predict(self, X) -> np.ndarray:
        """Return the most probable class of each row of X, (n,)."""
        joint = self._checked_joint(X)
        # numpy's argmax is the faster on the host, and takes the first of tied classes as
        # scikit-learn does
        best = joint.numpy().argmax(1) if joint.device.type == "cpu" else joint.argmax(1).cpu()
        return self.classes_[np.asarray(best)]

    # --- sampling

    def _sample(self, n_samples: int, y, gen) -> torch.Tensor:
        return self._sample_with_labels(n_samples, y, gen)[0]

    def _sample_with_labels(self, n_samples: int, y, gen):
        if y is None:
            prior = torch.exp(self._log_prior())
            y = torch.multinomial(prior, n_samples, replacement=True, generator=gen)
        return self._sample_given(y, gen), y


class _DiscreteNaiveBayes(_BaseNaiveBayes):
    """Shared smoothing and class prior of the multinomial, Bernoulli and categorical models."""

    _parameter_constraints = _DISCRETE_CONSTRAINTS
    # the multinomial and Bernoulli models'; the categorical one keeps tables per feature
    fitted_attributes = (
        "class_count_",
        "class_log_prior_",
        "feature_count_",
        "feature_log_prob_",
        "classes_",
        "n_features_in_",
        "input_shape_",
    )

    def _class_log_prior(self, class_count: np.ndarray) -> np.ndarray:
        return discrete_log_prior(class_count, self.class_prior, self.fit_prior)

    def _alpha(self, n_features: int):
        return check_alpha(self.alpha, self.force_alpha, n_features)

    def _statistics(self, X, y, n_classes):
        sums = sum_batches(
            lambda Xb, yb: class_sums(Xb, yb, n_classes), X, y, batch_rows(1, X.shape[1])
        )
        return {"class_count": sums["count"], "feature_count": sums["sum"]}

    def _stats_from_attributes(self):
        return {
            "class_count": self._tensor(self.class_count_),
            "feature_count": self._tensor(self.feature_count_),
        }
