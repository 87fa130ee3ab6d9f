"""Hidden Markov model with Gaussian, Gaussian-mixture or categorical emissions.

Baum-Welch runs on sufficient statistics (training/em.py): sequences are sorted by length and
padded into batches, each E-step runs forward-backward in log space over a whole batch at once,
and the statistics are sums, so a fit over batches or over processes equals one over all the
data. Names, shapes and the `lengths` convention are hmmlearn's, so a model moves between the
two libraries attribute by attribute.
"""

from __future__ import annotations

import math
import warnings
from types import SimpleNamespace

import numpy as np
import torch
import torch.distributed as dist
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted

from genzoo._validation import (
    Interval,
    Options,
    check_array,
    check_n_samples,
    make_generator,
    validate_params,
)
from genzoo.base import GenerativeModel
from genzoo.bayesnet._hmm_math import (
    SequenceBatch,
    categorical_log_prob,
    categorical_m_step,
    categorical_sums,
    chain_sums,
    forward,
    forward_backward,
    forward_log,
    gaussian_log_prob,
    gaussian_m_step,
    gaussian_sums,
    make_batches,
    sample_categorical,
    sample_gaussian,
    sample_states,
    transition_m_step,
    transition_sums,
    viterbi,
    window_histograms,
)
from genzoo.mixture._gaussian import kmeans_plusplus, lloyd, nearest
from genzoo.registry import register
from genzoo.training.em import all_reduce_sum, broadcast, is_distributed, run_em

__all__ = ["HiddenMarkovModel"]

# k-means seeds from at most this many steps.
_SEED_ROWS = 50_000
# Categorical k-means clusters histograms of the symbols within this many steps of each step.
_WINDOW = 5


def _all_reduce_max(value: int, device) -> int:
    if not is_distributed():
        return value
    t = torch.tensor([value], dtype=torch.int64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return int(t)


def _check_lengths(lengths, n_steps: int) -> np.ndarray:
    """lengths as an int64 array of positive ints summing to n_steps (None: one sequence)."""
    if lengths is None:
        return np.array([n_steps], dtype=np.int64)
    if isinstance(lengths, torch.Tensor):
        lengths = lengths.detach().cpu().numpy()
    array = np.asarray(lengths)
    if array.ndim != 1 or array.size == 0 or array.dtype.kind not in "biuf":
        raise ValueError(
            f"lengths must be a non-empty 1-D array of ints; got {np.shape(lengths)} "
            f"of dtype {array.dtype}."
        )
    if array.dtype.kind == "f" and not (np.isfinite(array).all() and (array % 1 == 0).all()):
        raise ValueError("lengths must hold whole numbers; got non-integer values.")
    array = array.astype(np.int64)
    if (array < 1).any():
        raise ValueError(f"lengths must be positive; got {int(array.min())}.")
    if array.sum() != n_steps:
        raise ValueError(
            f"lengths sum to {int(array.sum())}, but X has {n_steps} steps; they must be equal."
        )
    return array


def _check_symbols(X: np.ndarray, n_symbols: int | None) -> None:
    if X.shape[1] != 1:
        raise ValueError(
            f"X must have one column of symbols for emission='categorical'; got {X.shape[1]}."
        )
    if (X < 0).any() or (X % 1 != 0).any():
        raise ValueError("X must hold non-negative integer symbols for emission='categorical'.")
    if n_symbols is not None and X.max() >= n_symbols:
        raise ValueError(
            f"X has symbol {int(X.max())}, out of range for n_symbols={n_symbols} "
            f"(symbols are 0..{n_symbols - 1})."
        )


# --- the model


@register(
    "hmm",
    family="bayesnet",
    data_kind="sequences",
    default_dataset="casino",
    fixture_dataset="casino",
    fixture_size=8,
    test_params={"n_components": 2, "emission": "categorical", "max_iter": 10, "random_state": 0},
    quick_params={"n_components": 2, "emission": "categorical", "random_state": 0},
)
class HiddenMarkovModel(GenerativeModel):
    """Hidden Markov model fitted by Baum-Welch (EM) on sufficient statistics.

    Sequences are passed as hmmlearn does: X holds the steps of all sequences stacked,
    (n_steps, n_features), and `lengths` the length of each, in order (None: X is one
    sequence). Forward-backward runs in log space on padded batches of sequences, on the CPU or
    a GPU, and under torch.distributed each process fits its shard of the sequences.

    Parameters
    ----------
    n_components : int, default=1
        Number of hidden states K.
    emission : {"gaussian", "categorical", "gmm"}, default="gaussian"
        Each state emits from a Gaussian, a categorical distribution over the symbols 0..S-1
        (X is then one column of ints), or a mixture of `n_mix` Gaussians.
    covariance_type : {"diag", "full"}, default="diag"
        Diagonal or full covariances of the Gaussian emissions.
    n_mix : int, default=1
        Gaussians per state for emission="gmm" (1 otherwise).
    n_symbols : int or None, default=None
        Number of symbols S of categorical emissions; None takes the largest symbol + 1 at fit.
    min_covar : float, default=1e-3
        Added to every variance in each M-step, so covariances stay positive definite.
        (hmmlearn uses min_covar at initialisation only and regularises with covars_prior.)
    startprob_prior, transmat_prior : float or array-like, default=1.0
        Dirichlet pseudo-counts as in hmmlearn: p = max(prior - 1 + expected counts, 0),
        normalised; 1.0 is no prior.
    max_iter : int, default=100
        Most EM iterations.
    tol : float, default=1e-4
        EM stops when the mean log-likelihood per step (nats) gains less than this.
    init_params : {"kmeans", "random"}, default="kmeans"
        "kmeans" labels each step by k-means (on the rows; for categorical emissions on the
        symbol frequencies within 5 steps) and starts from the counts of those labels:
        start and transition probabilities, per-state Gaussians (k-means again within each
        state for "gmm") or symbol frequencies. "random" starts from random soft labels.
    startprob_init, transmat_init, means_init, covars_init, weights_init, \
emissionprob_init : array-like or None
        Initial values, with the shapes of the fitted attributes (covars_init may also be
        (K, d, d) for "diag", as hmmlearn's `covars_` returns it); each one given replaces
        what `init_params` computes. Give them all to start from exactly those parameters.
    random_state : int or None
        Seeds initialisation and, unless `sample` gets its own, sampling.
    verbose : int, default=0
        Show a progress bar of EM iterations when > 0.
    batch_size : int or None
        Sequences per E-step batch; None bounds each batch's memory to about 32 MiB.
    device : str, default="auto"
    dtype : {"float64", "float32"}, default="float64"

    Attributes
    ----------
    startprob_ : (K,)
    transmat_ : (K, K), rows sum to one
    means_ : (K, d); for "gmm" (K, n_mix, d)
    covars_ : "diag" (K, d), "full" (K, d, d); for "gmm" (K, n_mix, d) or (K, n_mix, d, d)
    weights_ : (K, n_mix), "gmm" only
    emissionprob_ : (K, S), "categorical" only
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float, mean log-likelihood per step (nats) at the last E-step
    lower_bounds_ : list of float, its value at every iteration
    n_features_in_ : int

    Examples
    --------
    >>> from genzoo.bayesnet.hmm import HiddenMarkovModel
    >>> from genzoo.data.casino import make_casino
    >>> X, lengths, _ = make_casino(20, 100, random_state=0)
    >>> hmm = HiddenMarkovModel(2, emission="categorical", random_state=0).fit(X, lengths)
    >>> hmm.sample(3, length=50).shape
    (3, 50, 1)
    """

    likelihood_kind = "exact"
    data_kind = "sequences"
    _parameter_constraints = {
        "n_components": [Interval(int, 1, None)],
        "emission": [Options("gaussian", "categorical", "gmm")],
        "covariance_type": [Options("diag", "full")],
        "n_mix": [Interval(int, 1, None)],
        "n_symbols": [Interval(int, 1, None), None],
        "min_covar": [Interval(float, 0, None)],
        "startprob_prior": [Interval(float, 0, None), "array-like"],
        "transmat_prior": [Interval(float, 0, None), "array-like"],
        "max_iter": [Interval(int, 1, None)],
        "tol": [Interval(float, 0, None)],
        "init_params": [Options("kmeans", "random")],
        "startprob_init": ["array-like", None],
        "transmat_init": ["array-like", None],
        "means_init": ["array-like", None],
        "covars_init": ["array-like", None],
        "weights_init": ["array-like", None],
        "emissionprob_init": ["array-like", None],
        "random_state": ["random_state"],
        "verbose": [Interval(int, 0, None)],
        "batch_size": [Interval(int, 1, None), None],
        "device": ["device"],
        "dtype": ["dtype"],
    }

    def __init__(
        self,
        n_components: int = 1,
        *,
        emission: str = "gaussian",
        covariance_type: str = "diag",
        n_mix: int = 1,
        n_symbols: int | None = None,
        min_covar: float = 1e-3,
        startprob_prior=1.0,
        transmat_prior=1.0,
        max_iter: int = 100,
        tol: float = 1e-4,
        init_params: str = "kmeans",
        startprob_init=None,
        transmat_init=None,
        means_init=None,
        covars_init=None,
        weights_init=None,
        emissionprob_init=None,
        random_state: int | None = None,
        verbose: int = 0,
        batch_size: int | None = None,
        device: str = "auto",
        dtype: str = "float64",
    ):
        self.n_components = n_components
        self.emission = emission
        self.covariance_type = covariance_type
        self.n_mix = n_mix
        self.n_symbols = n_symbols
        self.min_covar = min_covar
        self.startprob_prior = startprob_prior
        self.transmat_prior = transmat_prior
        self.max_iter = max_iter
        self.tol = tol
        self.init_params = init_params
        self.startprob_init = startprob_init
        self.transmat_init = transmat_init
        self.means_init = means_init
        self.covars_init = covars_init
        self.weights_init = weights_init
        self.emissionprob_init = emissionprob_init
        self.random_state = random_state
        self.verbose = verbose
        self.batch_size = batch_size
        self.device = device
        self.dtype = dtype

    # --- input

    @property
    def _categorical(self) -> bool:
        return self.emission == "categorical"

    def _n_mix(self) -> int:
        return self.n_mix if self.emission == "gmm" else 1

    def _check_sequences(self, X, lengths, *, reset: bool):
        """X as a checked float array and lengths as int64; symbols checked if categorical."""
        X = self._check_X(X, reset=reset)
        lengths = _check_lengths(lengths, X.shape[0])
        if self._categorical:
            _check_symbols(X, self.n_symbols if reset else self.emissionprob_.shape[1])
        return X, lengths

    def _data(self, X: np.ndarray) -> torch.Tensor:
        """Checked X as the tensor the math reads: rows (n, d), or symbols (n,) int64."""
        if self._categorical:
            return torch.as_tensor(X[:, 0].astype(np.int64), device=self._device())
        return self._to_tensor(X)

    def _width(self, d: int) -> int:
        """Elements per padded step of a batch's widest intermediate."""
        if self._categorical:
            return 4 * self.n_components
        parts = self.n_components * self._n_mix()
        return parts * (d + (d * d if self.covariance_type == "full" else 0)) + 4 * parts

    def _batches(self, data, lengths, shift) -> list[SequenceBatch]:
        width = self._width(1 if self._categorical else data.shape[1])
        rows = data if shift is None else data - shift
        return make_batches(rows, lengths, width, self.batch_size)

    # --- fit

    def fit(self, X, lengths=None):
        """Fit the model to the sequences in X (hmmlearn's `lengths` convention); return self.

        The fit is atomic: if it raises, an already fitted model is left exactly as it was.
        """
        validate_params(self, self._parameter_constraints)
        if self.emission != "gmm" and self.n_mix != 1:
            raise ValueError(f"n_mix={self.n_mix} needs emission='gmm'; got {self.emission!r}.")
        X, lengths = self._check_sequences(X, lengths, reset=True)
        gen = make_generator(self.random_state, self._device())
        with torch.no_grad():
            fitted = self._fit(X, lengths, gen)
        self._set_fitted(fitted)
        return self

    def _fit(self, X, lengths, gen) -> dict:
        """Baum-Welch on validated X and lengths (the base's `y` slot); return the attributes."""
        d, K = X.shape[1], self.n_components
        data = self._data(X)
        totals = all_reduce_sum({"n": data.new_full((1,), len(data), dtype=self._dtype()),
                                 "sum": self._to_tensor(X.sum(0))})  # fmt: skip
        if float(totals["n"]) < K:
            raise ValueError(f"X has {int(totals['n'])} steps, fewer than n_components={K}.")
        n_symbols = self._resolve_n_symbols(X)
        shift = None if self._categorical else totals["sum"] / totals["n"]
        batches = self._batches(data, lengths, shift)
        params = self._init_params(batches, gen, d, n_symbols, shift)
        result = run_em(
            self, batches, params, max_iter=self.max_iter, tol=self.tol,
            verbose=self.verbose, desc="HiddenMarkovModel",
        )  # fmt: skip
        if not result.converged:
            warnings.warn(
                f"HiddenMarkovModel did not converge in max_iter={self.max_iter} iterations; "
                "increase max_iter or tol, or check the data.",
                ConvergenceWarning,
                stacklevel=3,
            )
        return {
            **self._attributes(result.params),
            "converged_": result.converged,
            "n_iter_": result.n_iter,
            "lower_bound_": result.lower_bound,
            "lower_bounds_": result.history,
            "n_features_in_": d,
            "input_shape_": [d],
        }

    def _resolve_n_symbols(self, X) -> int | None:
        if not self._categorical:
            return None
        if self.n_symbols is not None:
            return self.n_symbols
        seen = _all_reduce_max(int(X.max()) + 1, self._device())
        if self.emissionprob_init is not None:
            given = np.shape(self.emissionprob_init)[-1]
            if given < seen:
                raise ValueError(
                    f"emissionprob_init has {given} symbols, but X has symbol {seen - 1}."
                )
            return given
        return seen

    # --- EM hooks

    def _e_step(self, params: dict, batch: SequenceBatch):
        """Statistics of one batch of sequences and its summed log-likelihood."""
        log_b, resp = self._emission_log_prob(params, batch)
        gamma, xi, log_lik = forward_backward(
            log_b, torch.log(params["startprob"]), params["transmat"], batch.active, batch.padded
        )
        n_symbols = params["emissionprob"].shape[1] if self._categorical else None
        emission = self._emission_sums(batch, gamma, resp, n_symbols)
        return {**transition_sums(gamma, xi), **emission}, log_lik.sum()

    def _m_step(self, stats: dict, params: dict) -> dict:
        """New parameters from statistics summed over all batches and processes."""
        priors = [self._prior(p) for p in (self.startprob_prior, self.transmat_prior)]
        new = transition_m_step(stats, params, *priors)
        if self._categorical:
            return {**new, **categorical_m_step(stats, params)}
        return {**new, **gaussian_m_step(stats, params, self.min_covar, self.covariance_type)}

    def _prior(self, value):
        return torch.as_tensor(value, dtype=self._dtype(), device=self._device())

    def _emission_log_prob(self, params: dict, batch: SequenceBatch):
        """log b_t(k) for every step, (T, B, K), -inf on padding; and mixture responsibilities."""
        T, B = batch.mask.shape
        resp = None
        if self._categorical:
            log_b = categorical_log_prob(batch.data.reshape(-1), params).reshape(T, B, -1)
        else:
            rows = batch.data.reshape(T * B, -1)
            parts = gaussian_log_prob(rows, params, self.covariance_type)  # (T*B, K, M)
            if parts.shape[-1] == 1:
                log_b = parts.reshape(T, B, -1)
            else:
                log_b = torch.logsumexp(parts, -1)
                resp = torch.exp(parts - log_b[..., None])
                log_b = log_b.reshape(T, B, -1)
        if batch.padded is not None:
            log_b = log_b.masked_fill(batch.padded[..., None], -math.inf)
        return log_b, resp

    def _emission_sums(self, batch: SequenceBatch, gamma, resp, n_symbols) -> dict:
        """Emission statistics from state weights gamma (T, B, K) and mixture resp."""
        K = gamma.shape[-1]
        flat = gamma.reshape(-1, K)
        if self._categorical:
            return categorical_sums(batch.data.reshape(-1), flat, n_symbols)
        weights = flat[..., None] if resp is None else flat[..., None] * resp
        rows = batch.data.reshape(flat.shape[0], -1)
        return gaussian_sums(rows, weights, self.covariance_type)

    # --- initialisation

    def _init_params(self, batches, gen, d: int, n_symbols, shift) -> dict:
        """Initial parameters: computed by `init_params`, then replaced by those given."""
        given = self._given_arrays(d, n_symbols, shift)
        needed = ["startprob", "transmat"] + (
            ["emissionprob"] if self._categorical else ["weights", "means", "covars"]
        )
        if all(given.get(k) is not None for k in needed):
            return {k: given[k] for k in needed} | ({} if shift is None else {"shift": shift})
        stats = self._initial_stats(batches, gen, n_symbols)
        K, M = self.n_components, self._n_mix()
        uniform = self._to_tensor(np.full(K, 1.0 / K))
        old = {"startprob": uniform, "transmat": uniform.expand(K, K)}
        params = transition_m_step(stats, old, 1.0, 1.0)
        if self._categorical:
            old["emissionprob"] = self._to_tensor(np.full((K, n_symbols), 1.0 / n_symbols))
            params.update(categorical_m_step(stats, old))
        else:
            ones = torch.ones_like(stats["sxx"])
            old |= {"weights": torch.ones_like(stats["nk"]) / M, "covars": ones, "shift": shift,
                    "means": torch.zeros_like(stats["sx"]) + shift}  # fmt: skip
            params.update(gaussian_m_step(stats, old, self.min_covar, self.covariance_type))
        return params | {k: v for k, v in given.items() if v is not None}

    def _initial_stats(self, batches, gen, n_symbols) -> dict:
        """Summed statistics of the initial labels, plus one pseudo-count of everything."""
        labeller = self._kmeans_labeller(batches, gen, n_symbols)
        stats = None
        for batch in batches:
            gamma, resp = labeller(batch)
            part = {**chain_sums(gamma), **self._emission_sums(batch, gamma, resp, n_symbols)}
            stats = part if stats is None else {k: stats[k] + part[k] for k in stats}
        stats = all_reduce_sum(stats)
        # A pseudo-count keeps every start, transition and symbol possible, and gives an empty
        # state (or mixture part) the data's mean and covariance.
        pseudo = {"start": 1.0, "trans": 1.0, "counts": 1.0}
        if not self._categorical:
            moments = all_reduce_sum(self._moments(batches))
            n = moments["nk"]
            pseudo |= {"nk": 1.0, "sx": moments["sx"] / n, "sxx": moments["sxx"] / n[..., None]}
        return {k: v + pseudo[k] for k, v in stats.items()}

    def _moments(self, batches) -> dict:
        """Sums of the (shifted) rows of all steps and of their squares, as one state's."""
        total = None
        for batch in batches:
            rows = batch.data[batch.mask]
            part = gaussian_sums(rows, rows.new_ones(len(rows), 1, 1), self.covariance_type)
            total = part if total is None else {k: total[k] + part[k] for k in total}
        return {"nk": total["nk"][0], "sx": total["sx"][0], "sxx": total["sxx"][0]}

    def _kmeans_labeller(self, batches, gen, n_symbols):
        """A function from a batch to initial state weights (T, B, K) and mixture resp."""
        K, M = self.n_components, self._n_mix()

        def features(batch):
            if self._categorical:
                hist = window_histograms(batch.data, batch.mask, n_symbols, _WINDOW)
                return hist.to(self._dtype())[batch.mask]
            return batch.data[batch.mask]

        def onehot(labels, n, batch):
            out = torch.zeros(*batch.mask.shape, n, dtype=self._dtype(), device=self._device())
            out[batch.mask] = torch.nn.functional.one_hot(labels, n).to(out.dtype)
            return out

        if self.init_params == "random":

            def labeller(batch):
                gamma = torch.rand(*batch.mask.shape, K, generator=gen, dtype=self._dtype(),
                                   device=self._device())  # fmt: skip
                gamma = gamma / gamma.sum(-1, keepdim=True) * batch.mask[..., None]
                resp = torch.rand(gamma.numel() // K, K, M, generator=gen, dtype=gamma.dtype,
                                  device=gamma.device)  # fmt: skip
                return gamma, None if M == 1 else resp / resp.sum(-1, keepdim=True)

            return labeller
        rows = [SimpleNamespace(Xc=features(b)) for b in batches]
        centres = _kmeans(rows, K, gen)
        parts = [self._part_centres(rows, centres, k, gen) for k in range(K)] if M > 1 else None

        def labeller(batch):
            X = features(batch)
            labels = nearest(X, centres)
            gamma = onehot(labels, K, batch)
            if parts is None:
                return gamma, None
            part = torch.zeros_like(labels)
            for k in range(K):
                chosen = labels == k
                part[chosen] = nearest(X[chosen], parts[k])
            resp = torch.zeros(*batch.mask.shape, M, dtype=gamma.dtype, device=gamma.device)
            resp[batch.mask] = torch.nn.functional.one_hot(part, M).to(resp.dtype)
            return gamma, resp.reshape(-1, 1, M).expand(-1, K, M)

        return labeller

    def _part_centres(self, rows, centres, k: int, gen):
        """k-means centres of the mixture parts of state k, from the rows nearest its centre."""
        own = [SimpleNamespace(Xc=r.Xc[nearest(r.Xc, centres) == k]) for r in rows]
        return _kmeans(own, self._n_mix(), gen, fallback=centres[k])

    def _given_arrays(self, d: int, n_symbols, shift) -> dict:
        """The user's *_init arrays, checked, as parameter tensors (None where not given)."""
        K, M = self.n_components, self._n_mix()
        cov = self.covariance_type
        shapes = {"startprob": (K,), "transmat": (K, K)}
        if self._categorical:
            shapes["emissionprob"] = (K, n_symbols)
        else:
            mixed = self.emission == "gmm"
            shapes["means"] = (K, M, d) if mixed else (K, d)
            shapes["covars"] = ((K, M) if mixed else (K,)) + ((d,) if cov == "diag" else (d, d))
            if mixed:
                shapes["weights"] = (K, M)
        out = {}
        for key in ("startprob", "transmat", "emissionprob", "means", "covars", "weights"):
            name, value = f"{key}_init", getattr(self, f"{key}_init")
            if value is None:
                continue
            if key not in shapes:
                raise ValueError(f"{name} does not apply to emission={self.emission!r}.")
            out[key] = self._to_tensor(_check_init(name, value, key, shapes[key], cov))
        if not self._categorical:
            for key in ("means", "covars"):
                if key in out and self.emission != "gmm":
                    out[key] = out[key][:, None]  # (K, 1, ...): one mixture part per state
            out.setdefault("weights", self._to_tensor(np.ones((K, 1))) if M == 1 else None)
        return out

    # --- fitted parameters as tensors and back

    def _attributes(self, params: dict) -> dict:
        numpy = {k: v.detach().cpu().numpy() for k, v in params.items() if k != "shift"}
        out = {"startprob_": numpy["startprob"], "transmat_": numpy["transmat"]}
        if self._categorical:
            out["emissionprob_"] = numpy["emissionprob"]
        elif self.emission == "gmm":
            out |= {"weights_": numpy["weights"], "means_": numpy["means"],
                    "covars_": numpy["covars"]}  # fmt: skip
        else:
            out |= {"means_": numpy["means"][:, 0], "covars_": numpy["covars"][:, 0]}
        return out

    def _params(self) -> dict:
        t = self._to_tensor
        params = {"startprob": t(self.startprob_), "transmat": t(self.transmat_)}
        if self._categorical:
            return params | {"emissionprob": t(self.emissionprob_)}
        if self.emission == "gmm":
            params |= {"weights": t(self.weights_), "means": t(self.means_),
                       "covars": t(self.covars_)}  # fmt: skip
        else:
            means = t(self.means_)[:, None]
            params |= {"weights": means.new_ones(len(means), 1), "means": means,
                       "covars": t(self.covars_)[:, None]}  # fmt: skip
        # Rows are shifted by the mean of the means, where the expanded squares are accurate.
        return params | {"shift": params["means"].mean((0, 1))}

    # --- inference

    def _inference(self, X, lengths):
        """Checked input as (parameters, batches, number of steps) for the fitted model."""
        check_is_fitted(self)
        X, lengths = self._check_sequences(X, lengths, reset=False)
        params = self._params()
        return params, self._batches(self._data(X), lengths, params.get("shift")), lengths

    def _log_b(self, params, batch):
        return self._emission_log_prob(params, batch)[0]

    def _log_prob(self, X: torch.Tensor, lengths=None) -> torch.Tensor:
        """Exact log p(sequence) by the forward algorithm, (n_sequences,); X as `_data` gives."""
        lengths = _check_lengths(lengths, X.shape[0])
        params = self._params()
        out = torch.empty(len(lengths), dtype=self._dtype(), device=self._device())
        log_start = torch.log(params["startprob"])
        for batch in self._batches(X, lengths, params.get("shift")):
            log_b = self._log_b(params, batch)
            log_lik = forward(log_b, log_start, params["transmat"], batch.active, batch.padded)[3]
            if not bool(torch.isfinite(log_lik).all()):
                log_lik = forward_log(log_b, log_start, params["transmat"], batch.active)[1]
            out[batch.index] = log_lik
        return out

    def log_prob(self, X, lengths=None) -> np.ndarray:
        """Return the exact log-likelihood of each sequence in nats, shape (n_sequences,)."""
        check_is_fitted(self)
        X, lengths = self._check_sequences(X, lengths, reset=False)
        with torch.no_grad():
            out = self._log_prob(self._data(X), lengths)
        return out.cpu().numpy().astype(np.float64)

    def score(self, X, lengths=None) -> float:
        """Return the mean log-likelihood per sequence, in nats.

        hmmlearn's `score` is the sum over the sequences; this is `log_prob(X, lengths).mean()`.
        """
        return float(np.mean(self.log_prob(X, lengths)))

    @torch.no_grad()
    def predict_proba(self, X, lengths=None) -> np.ndarray:
        """Return the posterior probability of each state at each step, (n_steps, K)."""
        params, batches, lengths = self._inference(X, lengths)
        out = np.empty((int(lengths.sum()), self.n_components))
        log_start, transmat = torch.log(params["startprob"]), params["transmat"]
        for batch in batches:
            log_b = self._log_b(params, batch)
            gamma = forward_backward(log_b, log_start, transmat, batch.active, batch.padded)[0]
            mask = batch.mask.cpu().numpy()
            out[batch.rows[mask]] = gamma.cpu().numpy()[mask]
        return out

    @torch.no_grad()
    def decode(self, X, lengths=None):
        """Return the Viterbi paths: their log-probabilities (n_sequences,) and states (n_steps,).

        Unlike hmmlearn, which returns the sum, the log-probability is per sequence.
        """
        params, batches, lengths = self._inference(X, lengths)
        log_probs = np.empty(len(lengths))
        states = np.empty(int(lengths.sum()), dtype=np.int64)
        log_start, log_trans = torch.log(params["startprob"]), torch.log(params["transmat"])
        for batch in batches:
            score, path = viterbi(self._log_b(params, batch), log_start, log_trans, batch.active)
            mask = batch.mask.cpu().numpy()
            log_probs[batch.index] = score.cpu().numpy()
            states[batch.rows[mask]] = path.cpu().numpy()[mask]
        return log_probs, states

    def predict(self, X, lengths=None) -> np.ndarray:
        """Return the state of each step on the most probable (Viterbi) path, (n_steps,)."""
        return self.decode(X, lengths)[1]

    # --- sampling

    def sample(
        self,
        n_sequences: int = 1,
        *,
        length: int = 100,
        y=None,
        random_state: int | None = None,
        return_states: bool = False,
    ):
        """Draw sequences, (n_sequences, length, n_features); with `return_states`, also
        their states, (n_sequences, length) int64.

        Categorical samples are int64 symbols with n_features 1. `random_state` (else the
        constructor's) seeds the draw: an int gives the same sequences on every call.
        """
        check_is_fitted(self)
        if y is not None:
            raise ValueError("y must be None: HiddenMarkovModel is not a conditional model.")
        n_sequences = check_n_samples(n_sequences, "n_sequences")
        length = check_n_samples(length, "length")
        gen = self._generator(random_state)
        with torch.no_grad():
            X, states = self._sample_sequences(n_sequences, length, gen)
        X = self._to_numpy_samples(X)
        return (X, states.cpu().numpy()) if return_states else X

    def _sample(self, n_samples: int, y, gen) -> torch.Tensor:
        return self._sample_sequences(n_samples, 100, gen)[0]

    def _sample_sequences(self, n: int, length: int, gen):
        params = self._params()
        states = sample_states(params["startprob"], params["transmat"], n, length, gen=gen)
        flat = states.reshape(-1)
        if self._categorical:
            X = sample_categorical(flat, params, gen=gen)[:, None]
        else:
            X = sample_gaussian(flat, params, self.covariance_type, gen=gen)
        return X.reshape(n, length, -1), states


# --- helpers of initialisation


def _kmeans(rows: list, n_clusters: int, gen, fallback=None) -> torch.Tensor:
    """k-means centres of the rows of every process: k-means++ seeds on rank 0, then Lloyd."""
    local = torch.cat([r.Xc for r in rows])
    n = all_reduce_sum({"n": local.new_full((1,), len(local))})["n"]
    if float(n) < n_clusters and fallback is not None:
        return fallback.expand(n_clusters, -1).clone()
    if len(local) > _SEED_ROWS:
        local = local[torch.randperm(len(local), generator=gen, device=local.device)[:_SEED_ROWS]]
    if len(local) >= n_clusters:
        centres = kmeans_plusplus(local, n_clusters, gen)
    else:  # only where another process holds the rows: rank 0 broadcasts its centres
        centres = local.new_zeros(n_clusters, local.shape[1])
    centres = broadcast({"centres": centres.contiguous()})["centres"]
    return lloyd(rows, centres)


def _check_init(name: str, value, key: str, shape: tuple, covariance_type: str) -> np.ndarray:
    """One *_init array checked for shape and values."""
    array = check_array(value, name=name, ndim=None, min_samples=0)
    if key == "covars" and covariance_type == "diag" and array.shape == shape + shape[-1:]:
        diagonal = np.diagonal(array, axis1=-2, axis2=-1)
        if not np.allclose(array, diagonal[..., None] * np.eye(shape[-1])):
            raise ValueError(f"{name} must be diagonal for covariance_type='diag'.")
        array = diagonal.copy()
    if array.shape != shape:
        raise ValueError(f"{name} must have shape {shape}; got {array.shape}.")
    if key in ("startprob", "transmat", "emissionprob", "weights"):
        if (array < 0).any() or not np.allclose(array.sum(-1), 1.0, atol=1e-6):
            raise ValueError(f"{name} must be non-negative and each row must sum to 1.")
    elif key == "covars":
        positive = (
            (array > 0).all()
            if covariance_type == "diag"
            else all(np.linalg.eigvalsh(c).min() > 0 for c in array.reshape(-1, *shape[-2:]))
        )
        if not positive:
            raise ValueError(f"{name} must be positive (definite) covariances.")
    return array
