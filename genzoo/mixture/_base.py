"""What every finite mixture shares: the likelihood as a sum over components, component
posteriors, hard assignments and the information criteria."""

from __future__ import annotations

import abc
import math

import numpy as np
import torch

from genzoo.base import GenerativeModel

__all__ = ["MixtureModel"]


class MixtureModel(GenerativeModel):
    """A mixture of K components; subclasses write `_weighted_log_prob` and `_n_parameters`.

    `log_prob` is log sum_k pi_k p_k(x), `predict_proba` the posterior of each component and
    `predict` the most probable one; `bic` and `aic` count `_n_parameters` free parameters.
    """

    @abc.abstractmethod
    def _weighted_log_prob(self, X: torch.Tensor) -> torch.Tensor:
        """log pi_k + log p_k(x) of each row and component, (n, K)."""

    @abc.abstractmethod
    def _n_parameters(self) -> int:
        """Free parameters of the fitted model."""

    def _log_prob(self, X: torch.Tensor) -> torch.Tensor:
        return torch.logsumexp(self._weighted_log_prob(X), dim=1)

    def _sample(self, n_samples: int, y, gen) -> torch.Tensor:
        return self._sample_with_labels(n_samples, y, gen)[0]

    def predict_proba(self, X) -> np.ndarray:
        """Return each component's posterior probability for each row of X, (n, K)."""
        data, _ = self._inference_data(X)
        with torch.no_grad():
            return torch.softmax(self._weighted_log_prob(data), dim=1).cpu().numpy()

    def predict(self, X) -> np.ndarray:
        """Return the most probable component of each row of X, (n,)."""
        return self.predict_proba(X).argmax(1)

    def bic(self, X) -> float:
        """Bayesian information criterion of the model on X (lower is better)."""
        log_prob = self.log_prob(X)
        return -2 * log_prob.sum() + self._n_parameters() * math.log(len(log_prob))

    def aic(self, X) -> float:
        """Akaike information criterion of the model on X (lower is better)."""
        return -2 * self.log_prob(X).sum() + 2 * self._n_parameters()
