"""Hidden Markov model with Gaussian, Gaussian-mixture or categorical emissions.

Baum-Welch runs on sufficient statistics (training/em.py): sequences are sorted by length and
padded into batches, each E-step runs forward-backward in log space over a whole batch at once,
and the statistics are sums, so a fit over batches or over processes equals one over all the
data. Names, shapes and the `lengths` convention are hmmlearn's, so a model moves between the
two libraries attribute by attribute.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.distributed as dist

from genzoo._validation import (
    MAX_ITEMS,
    MAX_ITERATIONS,
    MAX_ROWS,
    MAX_WIDTH,
    Interval,
    Options,
    Sequences,
    check_lengths,
    check_size,
)
from genzoo.base import GenerativeModel
from genzoo.bayesnet._hmm_init import check_symbols, initial_params
from genzoo.bayesnet._hmm_math import (
    SequenceBatch,
    categorical_log_prob,
    categorical_m_step,
    categorical_sums,
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
)
from genzoo.registry import Variant, register
from genzoo.training.em import all_reduce_sum, best_em_run, is_distributed

__all__ = ["HiddenMarkovModel"]


def _all_reduce_max(value: int, device) -> int:
    if not is_distributed():
        return value
    t = torch.tensor([value], dtype=torch.int64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return int(t)


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
    # Gaussian emissions read the casino's die faces as numbers.
    test_variants=(
        Variant("gaussian_diag", {"emission": "gaussian", "covariance_type": "diag"}),
        Variant("gaussian_full", {"emission": "gaussian", "covariance_type": "full"}),
        Variant("gmm_emissions", {"emission": "gmm", "n_mix": 2}),
    ),
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
    >>> hmm = HiddenMarkovModel(2, emission="categorical", random_state=0).fit(X, lengths=lengths)
    >>> hmm.sample(3, length=50).shape
    (3, 50, 1)
    """

    likelihood_kind = "exact"
    data_kind = "sequences"
    fitted_attributes = (
        "startprob_",
        "transmat_",
        "emissionprob_",
        "weights_",
        "means_",
        "covars_",
        "converged_",
        "n_iter_",
        "lower_bound_",
        "lower_bounds_",
        "n_features_in_",
        "input_shape_",
    )
    # The recursions step through time one kernel at a time, so a GPU pays only once each
    # step carries much more work than in the other EM families.
    cuda_min_flops = 2e9
    _parameter_constraints = {
        "n_components": [Interval(int, 1, MAX_WIDTH)],
        "emission": [Options("gaussian", "categorical", "gmm")],
        "covariance_type": [Options("diag", "full")],
        "n_mix": [Interval(int, 1, MAX_WIDTH)],
        "n_symbols": [Interval(int, 1, MAX_WIDTH), None],
        "min_covar": [Interval(float, 0, None)],
        "startprob_prior": [Interval(float, 0, None), "array-like"],
        "transmat_prior": [Interval(float, 0, None), "array-like"],
        "max_iter": [Interval(int, 1, MAX_ITERATIONS)],
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
        "batch_size": [Interval(int, 1, MAX_ROWS), None],
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

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        if self.emission == "categorical":  # symbols 0, 1, 2, ...
            tags.input_tags.categorical = True
            tags.input_tags.positive_only = True
        return tags

    def likelihood_support(self, X=None) -> str:
        """ "discrete" for categorical emissions (symbols), else "continuous" (densities)."""
        return "discrete" if self._categorical else "continuous"

    @property
    def _categorical(self) -> bool:
        return self.emission == "categorical"

    def _n_mix(self) -> int:
        return self.n_mix if self.emission == "gmm" else 1

    def _check_params(self) -> None:
        if self.emission != "gmm" and self.n_mix != 1:
            raise ValueError(f"n_mix={self.n_mix} needs emission='gmm'; got {self.emission!r}.")

    def _fit_flops(self, data: Sequences) -> float:
        """One Baum-Welch iteration: (6K^2 + 7K) per step for the recursions and the
        statistics, and the emissions' work per step."""
        k = self.n_components
        return data.X.shape[0] * (6 * k * k + 7 * k + self._width(data.X.shape[1]))

    def _prepare(self, X, *, lengths=None, reset: bool = False) -> Sequences:
        """X as checked steps and lengths as int64; symbols checked if categorical."""
        X = self._check_X(X, reset=reset)
        lengths = check_lengths(lengths, X.shape[0])
        if self._categorical:
            check_symbols(X, self.n_symbols if reset else self.emissionprob_.shape[1])
        return Sequences(X, lengths)

    def _to_device(self, data: Sequences) -> Sequences:
        return Sequences(self._data(data.X), data.lengths)

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

    @torch.no_grad()
    def _fit(self, data: Sequences, y, gen) -> dict:
        """Baum-Welch on checked sequences; return the fitted attributes."""
        X, lengths = data.X, data.lengths
        d, K = X.shape[1], self.n_components
        data = self._data(X)
        totals = all_reduce_sum({"n": data.new_full((1,), len(data), dtype=self._dtype()),
                                 "sum": self._to_tensor(X.sum(0))})  # fmt: skip
        if float(totals["n"]) < K:
            raise ValueError(f"X has {int(totals['n'])} steps, fewer than n_components={K}.")
        n_symbols = self._resolve_n_symbols(X)
        shift = None if self._categorical else totals["sum"] / totals["n"]
        batches = self._batches(data, lengths, shift)
        result = best_em_run(
            self, batches, lambda: self._init_params(batches, gen, d, n_symbols, shift),
            max_iter=self.max_iter, tol=self.tol, verbose=self.verbose, name="HiddenMarkovModel",
        )  # fmt: skip
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
        """log b_t(k) for every step, (T, B, K), zero on padding; and mixture responsibilities."""
        T, B = batch.mask.shape
        mask = None if batch.padded is None else batch.mask.reshape(-1)
        if self._categorical:
            log_b = categorical_log_prob(batch.data.reshape(-1), params, mask)
            return log_b.reshape(T, B, -1), None
        rows = batch.data.reshape(T * B, -1)
        parts = gaussian_log_prob(rows, params, self.covariance_type, mask)  # (T*B, K, M)
        if parts.shape[-1] == 1:
            return parts.reshape(T, B, -1), None
        log_b = torch.logsumexp(parts, -1)
        resp = torch.exp(parts - log_b[..., None])
        if mask is not None:
            log_b = torch.where(mask[:, None], log_b, 0.0)
        return log_b.reshape(T, B, -1), resp

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
        return initial_params(self, batches, gen, d, n_symbols, shift)

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
        """Checked input as (parameters, batches, lengths) for the fitted model."""
        data, _ = self._inference_data(X, lengths=lengths)
        params = self._params()
        return params, self._batches(data.X, data.lengths, params.get("shift")), data.lengths

    def _log_b(self, params, batch):
        return self._emission_log_prob(params, batch)[0]

    def _log_prob(self, data: Sequences) -> torch.Tensor:
        """Exact log p(sequence) by the forward algorithm, (n_sequences,)."""
        params = self._params()
        out = torch.empty(len(data), dtype=self._dtype(), device=self._device())
        log_start = torch.log(params["startprob"])
        for batch in self._batches(data.X, data.lengths, params.get("shift")):
            log_b = self._log_b(params, batch)
            log_lik = forward(log_b, log_start, params["transmat"], batch.padded)[2]
            if not bool(torch.isfinite(log_lik).all()):
                log_lik = forward_log(log_b, log_start, params["transmat"], batch.active)[1]
            out[batch.index] = log_lik
        return out

    @torch.no_grad()
    def predict_proba(self, X, *, lengths=None) -> np.ndarray:
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
    def decode(self, X, *, lengths=None):
        """Return the Viterbi paths: their log-probabilities (n_sequences,) and states (n_steps,).

        Unlike hmmlearn, which returns the sum, the log-probability is per sequence.
        """
        params, batches, lengths = self._inference(X, lengths)
        log_probs = np.empty(len(lengths))
        states = np.empty(int(lengths.sum()), dtype=np.int64)
        log_start = torch.log(params["startprob"]).cpu().numpy()
        log_trans = torch.log(params["transmat"]).cpu().numpy()
        for batch in batches:
            log_b = self._log_b(params, batch).cpu().numpy()
            log_probs[batch.index], path = viterbi(log_b, log_start, log_trans, batch.active)
            real = batch.rows >= 0
            states[batch.rows[real]] = path[real]
        return log_probs, states

    def predict(self, X, *, lengths=None) -> np.ndarray:
        """Return the state of each step on the most probable (Viterbi) path, (n_steps,)."""
        return self.decode(X, lengths=lengths)[1]

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
        length = check_size(length, "length", high=MAX_ITEMS)
        return self._draw_samples(
            n_sequences, y=y, random_state=random_state, name="n_sequences",
            length=length, return_states=return_states,
        )  # fmt: skip

    def _sample_item_bytes(self, *, length: int, return_states: bool) -> int:
        # per step: the row, the state, and the uniforms and probabilities drawn from
        width = self.n_features_in_ + 2 + self.n_components
        return 8 * length * width

    def _sample(self, n_samples: int, y, gen, *, length: int, return_states: bool):
        X, states = self._sample_sequences(n_samples, length, gen)
        return (X, states) if return_states else X

    def _sample_sequences(self, n: int, length: int, gen):
        params = self._params()
        states = sample_states(params["startprob"], params["transmat"], n, length, gen=gen)
        flat = states.reshape(-1)
        if self._categorical:
            X = sample_categorical(flat, params, gen=gen)[:, None]
        else:
            X = sample_gaussian(flat, params, self.covariance_type, gen=gen)
        return X.reshape(n, length, -1), states
