"""Mixture of products of Bernoullis over binary vectors, fitted by MAP EM on sufficient statistics.

p(x) = sum_k pi_k prod_j mu_kj^x_j (1 - mu_kj)^(1 - x_j)   (Bishop 2006, section 9.3.3)

The E-step and M-step are pure functions on tensors, run by `genzoo.training.em.best_em_run`, so a
fit over batches or over processes under torch.distributed equals the fit in memory.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from genzoo._validation import (
    MAX_ITERATIONS,
    MAX_RESTARTS,
    MAX_ROWS,
    MAX_WIDTH,
    Interval,
    Options,
    check_binary,
)
from genzoo.mixture._base import MixtureModel
from genzoo.mixture._gaussian import kmeans_plusplus, lloyd, nearest, shifted_batch
from genzoo.registry import register
from genzoo.training.em import Batches, all_reduce_sum, best_em_run, broadcast

__all__ = ["BernoulliMixture"]

# Largest batch, in elements of its widest intermediate, handled at once (64 MiB in float64).
_BATCH_ELEMENTS = 2**23
# k-means seeding draws from a uniform sample of at most this many values (rows x features).
_SEED_ELEMENTS = 2**22


# --- densities


def component_log_prob(X: torch.Tensor, means: torch.Tensor) -> torch.Tensor:
    """log prod_j mu_kj^x_j (1 - mu_kj)^(1 - x_j) for binary rows X, shape (n, K).

    Means of exactly 0 or 1 (possible with alpha=0) give -inf where the row disagrees, and
    never 0 * -inf = NaN where it agrees.
    """
    log_p, log_q = torch.log(means), torch.log1p(-means)  # (K, d) each
    finite_p, finite_q = torch.isfinite(log_p), torch.isfinite(log_q)
    if bool(finite_p.all()) and bool(finite_q.all()):
        # One matrix product: x log p + (1 - x) log q = x (log p - log q) + log q.
        return X @ (log_p - log_q).T + log_q.sum(1)
    log_p, log_q = log_p.where(finite_p, 0.0), log_q.where(finite_q, 0.0)
    out = X @ log_p.T + (1 - X) @ log_q.T
    # Count, per row and component, the features whose observed value has probability 0.
    impossible = X @ (~finite_p).to(X.dtype).T + (1 - X) @ (~finite_q).to(X.dtype).T
    return out.masked_fill(impossible > 0, -math.inf)


def weighted_log_prob(X: torch.Tensor, params: dict) -> torch.Tensor:
    """log pi_k + log p(x | k), shape (n, K)."""
    return component_log_prob(X, params["means"]) + torch.log(params["weights"])


def log_prior(means: torch.Tensor, alpha: float) -> torch.Tensor:
    """Unnormalised log Beta(1 + alpha, 1 + alpha) prior of the means: the MAP penalty."""
    if alpha == 0:
        return means.new_zeros(())
    return alpha * (torch.log(means) + torch.log1p(-means)).sum()


# --- E-step and M-step


def bernoulli_sums(X: torch.Tensor, resp: torch.Tensor) -> dict[str, torch.Tensor]:
    """Additive statistics: responsibility mass nk (K,) and weighted feature sums sx (K, d)."""
    return {"nk": resp.sum(0), "sx": resp.T @ X}


def e_step(X: torch.Tensor, params: dict) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Statistics of one batch and its summed log-likelihood."""
    weighted = weighted_log_prob(X, params)
    log_norm = torch.logsumexp(weighted, dim=1)  # (n,)
    resp = torch.exp(weighted - log_norm[:, None])
    return bernoulli_sums(X, resp), log_norm.sum()


def m_step(stats: dict, alpha: float) -> dict[str, torch.Tensor]:
    """MAP parameters: pi_k = n_k / n, mu_kj = (s_kj + alpha) / (n_k + 2 alpha)."""
    # As scikit-learn, 10 eps keeps an emptied component's weight positive and its mean defined.
    nk = stats["nk"] + 10 * torch.finfo(stats["nk"].dtype).eps
    means = (stats["sx"] + alpha) / (nk[:, None] + 2 * alpha)
    return {"weights": nk / nk.sum(), "means": means.clamp(0.0, 1.0)}


# --- the model


@register(
    "bernoulli_mixture",
    family="mixture",
    data_kind="vectors",
    default_dataset="digits_binary",
    zoo_datasets=("bars_binary",),
    fixture_dataset="digits_binary",
    test_params={"n_components": 3, "max_iter": 20, "random_state": 0},
    quick_params={"n_components": 20, "random_state": 0},
    zoo_params={"n_components": 20, "n_init": 3, "random_state": 0},
)
class BernoulliMixture(MixtureModel):
    """Mixture of products of Bernoullis over binary vectors, fitted by MAP EM.

    Each component is an independent Bernoulli per feature; the mixture captures the
    dependence between features. Names follow scikit-learn's GaussianMixture. Each mean gets a
    symmetric Beta(1 + alpha, 1 + alpha) prior and EM maximises the posterior, so the M-step
    is mu_kj = (s_kj + alpha) / (n_k + 2 alpha), BernoulliNB's additive smoothing with soft
    counts: no probability is exactly 0 or 1 and no unseen pixel has log-likelihood -inf.

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components.
    alpha : float, default=0.1
        Pseudo-counts per mean (the MAP prior above); 0 is maximum likelihood. 0.1 holds
        out best on binarised digits among 0.01, 0.1 and 1: 1 blurs small components, and
        0.01 leaves probabilities near 0 and 1 that punish unusual test pixels.
    binarize : float or None, default=None
        Threshold above which a feature is 1; None requires X to hold only 0 and 1.
    tol : float, default=1e-3
        EM stops when the mean log-likelihood per sample gains less than this.
    max_iter : int, default=100
        Most EM iterations per initialisation.
    n_init : int, default=1
        Initialisations to try; the best lower bound wins.
    init_params : {"kmeans", "k-means++", "random", "random_from_data"}, default="kmeans"
        Initial responsibilities: nearest k-means centre, nearest k-means++ seed, uniform
        random, or nearest of n_components random rows.
    random_state : int or None
        Seeds initialisation and, unless `sample` gets its own, sampling.
    warm_start : bool, default=False
        Start the next `fit` from the current solution (then `n_init` is 1).
    verbose : int, default=0
        Show a progress bar of EM iterations when > 0.
    batch_size : int or None
        Rows per E-step batch; None bounds memory to about 64 MiB.
    device : str, default="auto"
    dtype : {"float64", "float32"}, default="float64"

    Attributes
    ----------
    weights_ : (n_components,) mixing proportions
    means_ : (n_components, n_features) probability that each feature is 1, per component
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float, mean log-likelihood per sample of the best initialisation
    lower_bounds_ : list of float, its value at every iteration
    n_features_in_ : int

    Examples
    --------
    >>> from genzoo.mixture.bernoulli import BernoulliMixture
    >>> from genzoo.data import load
    >>> data = load("digits_binary")
    >>> bmm = BernoulliMixture(n_components=20, random_state=0).fit(data.X_train)
    >>> bmm.sample(5).shape, bmm.predict(data.X_test[:3]).shape
    ((5, 64), (3,))
    """

    likelihood_kind = "exact"
    discrete_likelihood = True  # probabilities of binary vectors
    fitted_attributes = (
        "weights_",
        "means_",
        "converged_",
        "n_iter_",
        "lower_bound_",
        "lower_bounds_",
        "n_features_in_",
        "input_shape_",
    )
    _parameter_constraints = {
        "n_components": [Interval(int, 1, MAX_WIDTH)],
        "alpha": [Interval(float, 0, None)],
        "binarize": [Interval(float, None, None), None],
        "tol": [Interval(float, 0, None)],
        "max_iter": [Interval(int, 1, MAX_ITERATIONS)],
        "n_init": [Interval(int, 1, MAX_RESTARTS)],
        "init_params": [Options("kmeans", "k-means++", "random", "random_from_data")],
        "random_state": ["random_state"],
        "warm_start": [bool],
        "verbose": [Interval(int, 0, None)],
        "batch_size": [Interval(int, 1, MAX_ROWS), None],
        "device": ["device"],
        "dtype": ["dtype"],
    }

    def __init__(
        self,
        n_components: int = 1,
        *,
        alpha: float = 0.1,
        binarize: float | None = None,
        tol: float = 1e-3,
        max_iter: int = 100,
        n_init: int = 1,
        init_params: str = "kmeans",
        random_state: int | None = None,
        warm_start: bool = False,
        verbose: int = 0,
        batch_size: int | None = None,
        device: str = "auto",
        dtype: str = "float64",
    ):
        self.n_components = n_components
        self.alpha = alpha
        self.binarize = binarize
        self.tol = tol
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.batch_size = batch_size
        self.device = device
        self.dtype = dtype

    # --- input

    def _check_X(self, X, *, reset: bool) -> np.ndarray:
        # NaN and infinity are refused before binarising
        X = check_binary(super()._check_X(X, reset=reset), self.binarize)
        if reset and X.shape[0] < self.n_components:
            raise ValueError(
                f"X has {X.shape[0]} samples, fewer than n_components={self.n_components}."
            )
        return X

    def _batches(self, X: torch.Tensor) -> Batches:
        rows = self.batch_size or max(1, _BATCH_ELEMENTS // (X.shape[1] + self.n_components))
        return Batches(X, batch_rows=rows)

    # --- EM hooks

    def _fit(self, X, y, gen) -> dict:
        batches = self._batches(self._to_tensor(X))
        warm = self.warm_start and hasattr(self, "means_")
        if warm and self.means_.shape != (self.n_components, X.shape[1]):
            raise ValueError(
                f"warm_start needs means of shape {(self.n_components, X.shape[1])}, but the "
                f"fitted means_ have shape {self.means_.shape}; refit with warm_start=False."
            )
        best = best_em_run(
            self, batches, lambda: self._params() if warm else self._init_params(batches, gen),
            n_init=1 if warm else self.n_init, max_iter=self.max_iter, tol=self.tol,
            verbose=self.verbose, name="BernoulliMixture",
        )  # fmt: skip
        return {
            "weights_": best.params["weights"].cpu().numpy(),
            "means_": best.params["means"].cpu().numpy(),
            "converged_": best.converged,
            "n_iter_": best.n_iter,
            "lower_bound_": best.lower_bound,
            "lower_bounds_": best.history,
            **self._fitted_input_shape(X),
        }

    def _init_params(self, batches: Batches, gen) -> dict:
        """Parameters from one M-step on the responsibilities that `init_params` picks."""
        K = self.n_components
        centres = self._initial_centres(batches, gen)
        stats = None
        for X in batches:
            if centres is None:  # "random": uniform random responsibilities, as scikit-learn
                resp = torch.rand(len(X), K, generator=gen, device=X.device, dtype=X.dtype)
                resp = resp / resp.sum(1, keepdim=True)
            else:
                resp = torch.nn.functional.one_hot(nearest(X, centres), K).to(X.dtype)
            part = bernoulli_sums(X, resp)
            stats = part if stats is None else {k: stats[k] + part[k] for k in stats}
        return self._m_step(all_reduce_sum(stats), None)

    def _initial_centres(self, batches: Batches, gen) -> torch.Tensor | None:
        if self.init_params == "random":
            return None
        X = batches.source
        limit = max(20 * self.n_components, _SEED_ELEMENTS // X.shape[1])
        seeds = (
            X
            if len(X) <= limit
            else X[torch.randperm(len(X), generator=gen, device=X.device)[:limit]]
        )
        if self.init_params == "random_from_data":
            pick = torch.randperm(len(seeds), generator=gen, device=seeds.device)
            centres = seeds[pick[: self.n_components]].clone()
        else:
            centres = kmeans_plusplus(seeds, self.n_components, gen)
        # Every process starts from rank 0's centres.
        centres = broadcast({"centres": centres.contiguous()})["centres"]
        if self.init_params == "kmeans":
            # For binary x, x^2 = x: a "diag" batch about 0 is just the data.
            zero = centres.new_zeros(centres.shape[1])
            as_kmeans = batches.with_prepare(lambda b: shifted_batch(b, zero, "diag"), cache=False)
            centres = lloyd(as_kmeans, centres)
        return centres

    def _e_step(self, params: dict, X: torch.Tensor):
        return e_step(X, params)

    def _m_step(self, stats: dict, params) -> dict:
        return m_step(stats, self.alpha)

    # --- fitted parameters

    def _params(self) -> dict:
        return {"weights": self._to_tensor(self.weights_), "means": self._to_tensor(self.means_)}

    def _weighted_log_prob(self, X: torch.Tensor) -> torch.Tensor:
        params = self._params()
        rows = self.batch_size or max(1, _BATCH_ELEMENTS // (X.shape[1] + self.n_components))
        return torch.cat([weighted_log_prob(b, params) for b in torch.split(X, rows)])

    def _sample_with_labels(self, n_samples: int, y, gen):
        params = self._params()
        means = params["means"]
        labels = torch.multinomial(params["weights"], n_samples, replacement=True, generator=gen)
        u = torch.rand(
            n_samples, means.shape[1], generator=gen, device=means.device, dtype=means.dtype
        )
        return (u < means[labels]).to(means.dtype), labels

    # --- public methods beyond the protocol

    def _n_parameters(self) -> int:
        K, d = self.means_.shape
        return K * d + K - 1
