"""Gaussian mixture model fitted by expectation-maximisation on sufficient statistics."""

from __future__ import annotations

import contextlib
import math

import torch

from genzoo._validation import (
    MAX_ITERATIONS,
    MAX_RESTARTS,
    MAX_ROWS,
    MAX_WIDTH,
    Interval,
    Options,
    check_array,
)
from genzoo.mixture._base import MixtureModel
from genzoo.mixture._gaussian import (
    COVARIANCE_TYPES,
    check_initial_arrays,
    e_step,
    gaussian_sums,
    kmeans_plusplus,
    lloyd,
    m_step,
    make_params,
    n_quadratic_features,
    nearest,
    override_params,
    params_from_sums,
    precisions_from_cholesky,
    recenter,
    shifted_batch,
    stats_centre,
    stats_from_params,
    weighted_log_prob,
)
from genzoo.registry import Variant, register
from genzoo.training.em import (
    Batches,
    Chunks,
    all_reduce_sum,
    best_em_run,
    broadcast,
    is_chunked,
    sum_statistics,
)

__all__ = ["GaussianMixture"]

# Largest batch, in elements of its widest intermediate, handled at once: 64 MiB in float64
# on the CPU (in cache-friendly pieces); on a GPU 1 GiB, so that each matrix product fills it.
_BATCH_ELEMENTS = {"cpu": 2**23, "cuda": 2**27}
# Quadratic features of data in memory are kept between EM iterations up to this many bytes
# (on a GPU, up to half its free memory).
_CACHE_BYTES = 2**30
# Initialisation seeds from a uniform sample of at most this many values (rows x features).
_SEED_ELEMENTS = 2**22


# --- float32 arithmetic on a GPU


@contextlib.contextmanager
def _full_float32_matmul():
    """Keep CUDA matrix products in full float32 (no TF32) while the mixture computes.

    TF32 keeps 10 bits of mantissa: the expanded squares (phi(x) . q - 2 x^T L m + m^T L m)
    would then carry errors of about 5e-4 * R nats, R the squared Mahalanobis distance of the
    means from the data's centre, and the summed second moments relative errors of 5e-4; no
    useful R keeps that within 1e-5 of float64, so TF32 is off even where a user enabled it
    globally. Cholesky factors and solves never use TF32.
    """
    matmul = torch.backends.cuda.matmul
    # torch >= 2.9 names the setting fp32_precision and refuses mixing it with allow_tf32
    name, exact = (
        ("fp32_precision", "ieee")
        if hasattr(matmul, "fp32_precision")
        else (
            "allow_tf32",
            False,
        )
    )
    saved = getattr(matmul, name)
    setattr(matmul, name, exact)
    try:
        yield
    finally:
        setattr(matmul, name, saved)


# --- the model


@register(
    "gmm",
    family="mixture",
    data_kind="vectors",
    default_dataset="eight_gaussians",
    fixture_dataset="eight_gaussians",
    fixture_size=240,
    test_params={"n_components": 3, "max_iter": 20, "random_state": 0},
    quick_params={"n_components": 8, "random_state": 0},
    zoo_params={"n_components": 8, "n_init": 3, "random_state": 0},
    test_variants=tuple(
        Variant(kind, {"covariance_type": kind}) for kind in ("tied", "diag", "spherical")
    ),
)
class GaussianMixture(MixtureModel):
    """Gaussian mixture model, fitted by EM on sufficient statistics.

    The attribute names, parameters and results follow scikit-learn's GaussianMixture; the
    arithmetic runs in PyTorch (CPU or GPU), sums statistics over batches, over chunks of data
    larger than memory, or over processes under torch.distributed, and `partial_fit` learns
    from a stream by stepwise online EM.

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components.
    covariance_type : {"full", "tied", "diag", "spherical"}, default="full"
        Each component's own full covariance, one shared covariance, diagonal ones, or one
        variance per component.
    tol : float, default=1e-3
        EM stops when the mean log-likelihood per sample gains less than this.
    reg_covar : float, default=1e-6
        Added to the covariances' diagonals, so they stay positive definite.
    max_iter : int, default=100
        Most EM iterations per initialisation.
    n_init : int, default=1
        Initialisations to try; the best lower bound wins.
    init_params : {"kmeans", "k-means++", "random", "random_from_data"}, default="kmeans"
        How responsibilities are initialised when `means_init` is not given.
    weights_init, means_init, precisions_init : array-like or None
        User-provided initial weights (K,), means (K, d), precisions (shape as
        `covariance_type` implies).
    random_state : int or None
        Seeds initialisation and, unless `sample` gets its own, sampling.
    warm_start : bool, default=False
        Start the next `fit` from the current solution (then `n_init` is 1).
    verbose : int, default=0
        Show a progress bar of EM iterations when > 0.
    learning_decay, learning_offset : float, default=0.7 and 10.0
        `partial_fit` step size (learning_offset + t) ** -learning_decay for batch t
        (Cappé and Moulines 2009; Liang and Klein 2009).
    batch_size : int or None
        Rows per E-step batch; None picks a size bounding memory to about 64 MiB.
    device : str, default="auto"
        "cpu", "cuda", "cuda:N", or "auto": CUDA where present and one EM iteration is large
        enough to pay for it (about 4 n k d^2 / 2 operations for full covariances; see the
        README's "Choosing a device").
    dtype : {"float64", "float32"}, default="float64"

    Attributes
    ----------
    weights_ : (n_components,)
    means_ : (n_components, n_features)
    covariances_ : full (K, d, d), tied (d, d), diag (K, d), spherical (K,)
    precisions_, precisions_cholesky_ : same shapes as `covariances_`
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float, mean log-likelihood per sample of the best initialisation
    lower_bounds_ : list of float, its value at every iteration
    n_features_in_ : int

    Examples
    --------
    >>> from genzoo import GaussianMixture
    >>> from genzoo.data import make_eight_gaussians
    >>> gmm = GaussianMixture(n_components=8, random_state=0).fit(make_eight_gaussians(2000))
    >>> gmm.sample(5).shape
    (5, 2)
    """

    likelihood_kind = "exact"
    # An EM iteration is two matrix products and ~45 small kernels (~0.5 ms to launch on a
    # GPU), the time 2 CPU cores take for about 2e7 operations of matrix products.
    cuda_min_flops = 2e7
    fitted_attributes = (
        "weights_",
        "means_",
        "covariances_",
        "precisions_",
        "precisions_cholesky_",
        "converged_",
        "n_iter_",
        "lower_bound_",
        "lower_bounds_",
        "n_features_in_",
        "input_shape_",
        "_online_stats",
        "_n_batches_seen",
    )
    _parameter_constraints = {
        "n_components": [Interval(int, 1, MAX_WIDTH)],
        "covariance_type": [Options(*COVARIANCE_TYPES)],
        "tol": [Interval(float, 0, None)],
        "reg_covar": [Interval(float, 0, None)],
        "max_iter": [Interval(int, 1, MAX_ITERATIONS)],
        "n_init": [Interval(int, 1, MAX_RESTARTS)],
        "init_params": [Options("kmeans", "k-means++", "random", "random_from_data")],
        "weights_init": ["array-like", None],
        "means_init": ["array-like", None],
        "precisions_init": ["array-like", None],
        "random_state": ["random_state"],
        "warm_start": [bool],
        "verbose": [Interval(int, 0, None)],
        "learning_decay": [Interval(float, 0.5, 1.0, closed="right")],
        "learning_offset": [Interval(float, 0, None, closed="neither")],
        "batch_size": [Interval(int, 1, MAX_ROWS), None],
        "device": ["device"],
        "dtype": ["dtype"],
    }

    def __init__(
        self,
        n_components: int = 1,
        *,
        covariance_type: str = "full",
        tol: float = 1e-3,
        reg_covar: float = 1e-6,
        max_iter: int = 100,
        n_init: int = 1,
        init_params: str = "kmeans",
        weights_init=None,
        means_init=None,
        precisions_init=None,
        random_state: int | None = None,
        warm_start: bool = False,
        verbose: int = 0,
        learning_decay: float = 0.7,
        learning_offset: float = 10.0,
        batch_size: int | None = None,
        device: str = "auto",
        dtype: str = "float64",
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.learning_decay = learning_decay
        self.learning_offset = learning_offset
        self.batch_size = batch_size
        self.device = device
        self.dtype = dtype

    # --- input

    def _check_X(self, X, *, reset: bool):
        if is_chunked(X):
            if not reset:
                raise ValueError("X must be one array here; chunks are accepted by fit only.")
            return Chunks(X, check_array)
        X = super()._check_X(X, reset=reset)
        if reset and X.shape[0] < self.n_components:
            raise ValueError(
                f"X has {X.shape[0]} samples, fewer than n_components={self.n_components}."
            )
        return X

    def _fit_flops(self, data) -> float:
        """One EM iteration: about 4 operations per row, component and quadratic feature (a
        product in the E-step, one in the M-step)."""
        if is_chunked(data):  # data larger than memory
            return math.inf
        width = n_quadratic_features(data.shape[1], self.covariance_type) + data.shape[1]
        return 4.0 * data.shape[0] * self.n_components * width

    def _batch_rows(self, d: int) -> int:
        width = n_quadratic_features(d, self.covariance_type) + self.n_components + d
        elements = _BATCH_ELEMENTS.get(self._device().type, _BATCH_ELEMENTS["cpu"])
        return self.batch_size or max(1, elements // width)

    def _batches(self, X) -> Batches:
        """Raw row batches of X (an array or Chunks) as tensors on the model's device."""
        if isinstance(X, Chunks):
            rows = self._batch_rows(X.n_features)
            return Batches(X.source, convert=lambda c: self._to_tensor(X.check(c)), batch_rows=rows)
        return Batches(self._to_tensor(X), batch_rows=self._batch_rows(X.shape[1]))

    def _shifted(self, batches: Batches, shift: torch.Tensor) -> Batches:
        """The batches as ShiftedBatches about `shift`, cached in memory when they fit."""
        width = n_quadratic_features(shift.shape[0], self.covariance_type) + shift.shape[0]
        size = getattr(batches.source, "shape", (0,))[0] * width * shift.element_size()
        prepare = lambda X: shifted_batch(X, shift, self.covariance_type)  # noqa: E731
        limit = _CACHE_BYTES
        if shift.device.type == "cuda":
            limit = max(limit, torch.cuda.mem_get_info(shift.device)[0] // 2)
        return batches.with_prepare(prepare, cache=batches.in_memory and size <= limit)

    def _check_continuation(self, d: int, what: str) -> None:
        """Refuse to continue a fit whose shapes no longer match the parameters."""
        K = self.n_components
        expected = {"full": (K, d, d), "tied": (d, d), "diag": (K, d), "spherical": (K,)}
        if self.n_features_in_ != d:
            raise ValueError(f"X has {d} features, but the model has {self.n_features_in_}.")
        if self.means_.shape[0] != K:
            raise ValueError(
                f"n_components is {K} but the fitted model has {self.means_.shape[0]} "
                f"components; {what} must match its parameters (refit from scratch to change)."
            )
        if self.covariances_.shape != expected[self.covariance_type]:
            raise ValueError(
                f"covariance_type is {self.covariance_type!r} but the fitted covariances have "
                f"shape {self.covariances_.shape}; {what} must match its parameters."
            )

    # --- EM hooks

    def _fit(self, X, y, gen) -> dict:
        with _full_float32_matmul():
            return self._fit_em(X, gen)

    def _fit_em(self, X, gen) -> dict:
        batches = self._batches(X)
        d = X.n_features if isinstance(X, Chunks) else X.shape[1]
        given = self._initial_arrays(d)
        warm = self.warm_start and hasattr(self, "means_")
        if warm:
            self._check_continuation(d, "warm_start")
        shift, seeds = self._data_summary(batches, gen)
        shifted = self._shifted(batches, shift)

        def start():
            if warm:
                return make_params(*self._params_tuple(), self.covariance_type, shift=shift)
            return self._init_params(shifted, shift, seeds, gen, given)

        best = best_em_run(
            self, shifted, start, n_init=1 if warm else self.n_init, max_iter=self.max_iter,
            tol=self.tol, verbose=self.verbose, name="GaussianMixture",
        )  # fmt: skip
        return {
            **self._attributes(best.params),
            "converged_": best.converged,
            "n_iter_": best.n_iter,
            "lower_bound_": best.lower_bound,
            "lower_bounds_": best.history,
            "n_features_in_": d,
            "input_shape_": [d],
            "_online_stats": None,  # a new fit starts partial_fit's running statistics afresh
            "_n_batches_seen": 0,
        }

    def _data_summary(self, batches: Batches, gen):
        """The mean of all rows (over chunks and processes) and a uniform sample to seed from.

        The sample is every row while they fit in `_SEED_ELEMENTS`, else the rows with the
        smallest random keys (a reservoir over all batches), so seeding depends neither on the
        batch size nor on the order of the rows.
        """
        total = n = keys = seeds = None
        for X in batches:
            total = X.sum(0) if total is None else total + X.sum(0)
            n = X.new_full((), len(X)) if n is None else n + len(X)
            seeds = X if seeds is None else torch.cat([seeds, X])
            limit = max(20 * self.n_components, _SEED_ELEMENTS // X.shape[1])
            if keys is not None or len(seeds) > limit:
                fresh = len(seeds) - (0 if keys is None else len(keys))
                new_keys = torch.rand(fresh, generator=gen, device=X.device, dtype=X.dtype)
                keys = new_keys if keys is None else torch.cat([keys, new_keys])
                keep = torch.topk(keys, min(limit, len(keys)), largest=False).indices.sort().values
                keys, seeds = keys[keep], seeds[keep]
        summed = all_reduce_sum({"sum": total, "n": n})
        if float(summed["n"]) < self.n_components:
            raise ValueError(
                f"X has {int(summed['n'])} samples, fewer than n_components={self.n_components}."
            )
        return summed["sum"] / summed["n"], seeds

    def _init_params(self, shifted: Batches, shift, seeds, gen, given: dict) -> dict:
        """Initial parameters from responsibilities chosen by `init_params` (or `means_init`)."""
        K, cov_type = self.n_components, self.covariance_type
        centres = self._initial_centres(
            shifted, shift, seeds - shift, gen, given
        )  # shifted, or None
        stats = None
        for batch in shifted:
            Xc = batch.Xc
            if centres is None:  # "random": uniform random responsibilities, as scikit-learn
                resp = torch.rand(len(Xc), K, generator=gen, device=Xc.device, dtype=Xc.dtype)
                part = gaussian_sums(batch, (resp / resp.sum(1, keepdim=True)).T, cov_type)
            else:
                # Hard assignments: differences to each row's own centre are all the centred
                # sums need, so the (K, n, d) differences to every centre are never formed.
                labels = nearest(Xc, centres)
                resp = torch.nn.functional.one_hot(labels, K).to(Xc.dtype)
                own = shifted_batch(Xc - centres[labels], 0.0, cov_type)
                part = gaussian_sums(own, resp.T, cov_type)
            stats = part if stats is None else {k: stats[k] + part[k] for k in stats}
        centre = shift if centres is None else shift + centres
        params = params_from_sums(all_reduce_sum(stats), centre, shift, self.reg_covar, cov_type)
        return self._override(params, given)

    def _initial_centres(self, shifted: Batches, shift, seeds, gen, given):
        K = self.n_components
        if given["means"] is not None:
            return given["means"] - shift
        if self.init_params == "random":
            return None
        # Every process seeds from rank 0's sample, so all check rank 0's size together.
        count = broadcast({"count": seeds.new_full((), len(seeds))})["count"]
        if int(count) < K:
            raise ValueError(
                f"the seeding sample has {int(count)} rows, fewer than n_components={K}."
            )
        if self.init_params == "random_from_data":
            pick = torch.randperm(len(seeds), generator=gen, device=seeds.device)[:K]
            centres = seeds[pick].clone()
        else:
            centres = kmeans_plusplus(seeds, K, gen)
        centres = broadcast({"centres": centres.contiguous()})["centres"]
        if self.init_params == "kmeans":
            centres = lloyd(shifted, centres)
        return centres

    def _initial_arrays(self, d: int) -> dict:
        """The user's weights_init, means_init and precisions_init as checked tensors."""
        arrays = check_initial_arrays(
            self.weights_init, self.means_init, self.precisions_init,
            self.n_components, d, self.covariance_type,
        )  # fmt: skip
        return {k: None if v is None else self._to_tensor(v) for k, v in arrays.items()}

    def _override(self, params: dict, given: dict) -> dict:
        return override_params(params, given, self.covariance_type)

    def _e_step(self, params: dict, batch):
        return e_step(batch, params, self.covariance_type)

    def _m_step(self, stats: dict, params: dict) -> dict:
        return m_step(stats, params, self.reg_covar, self.covariance_type)

    # --- fitted parameters as tensors and back

    def _params_tuple(self):
        t = self._to_tensor
        return (
            t(self.weights_),
            t(self.means_),
            t(self.covariances_),
            t(self.precisions_cholesky_),
        )

    def _params(self) -> dict:
        return make_params(*self._params_tuple(), self.covariance_type)

    def _attributes(self, params: dict) -> dict:
        precisions = precisions_from_cholesky(params["precisions_cholesky"], self.covariance_type)
        keys = ("weights", "means", "covariances", "precisions_cholesky")
        numpy = {k: params[k].detach().cpu().numpy() for k in keys}
        return {
            "weights_": numpy["weights"],
            "means_": numpy["means"],
            "covariances_": numpy["covariances"],
            "precisions_cholesky_": numpy["precisions_cholesky"],
            "precisions_": precisions.detach().cpu().numpy(),
        }

    def _weighted_log_prob(self, X: torch.Tensor) -> torch.Tensor:
        with _full_float32_matmul():
            return self._weighted_log_prob_batches(X)

    def _weighted_log_prob_batches(self, X: torch.Tensor) -> torch.Tensor:
        params, cov_type = self._params(), self.covariance_type
        parts = [
            weighted_log_prob(shifted_batch(batch, params["shift"], cov_type), params, cov_type)
            for batch in torch.split(X, self._batch_rows(X.shape[1]))
        ]
        return torch.cat(parts, dim=1).T  # (n, K), a view of the components-first result

    # --- public methods beyond the protocol

    def _sample_with_labels(self, n_samples: int, y, gen):
        params = self._params()
        means, cov = params["means"], params["covariances"]
        K, d = means.shape
        labels = torch.multinomial(params["weights"], n_samples, replacement=True, generator=gen)
        z = torch.randn(n_samples, d, generator=gen, device=means.device, dtype=means.dtype)
        if self.covariance_type == "full":
            chol = torch.linalg.cholesky(cov)
            X = torch.empty_like(z)
            for k in range(K):  # one matmul per component keeps memory at (n, d)
                rows = labels == k
                X[rows] = z[rows] @ chol[k].T
        elif self.covariance_type == "tied":
            X = z @ torch.linalg.cholesky(cov).T
        elif self.covariance_type == "diag":
            X = z * torch.sqrt(cov)[labels]
        else:
            X = z * torch.sqrt(cov)[labels, None]
        return X + means[labels], labels

    def _n_parameters(self) -> int:
        K, d = self.means_.shape
        cov_params = {
            "full": K * d * (d + 1) / 2,
            "diag": K * d,
            "tied": d * (d + 1) / 2,
            "spherical": K,
        }[self.covariance_type]
        return int(cov_params + K * d + K - 1)

    # --- online EM

    def _partial_fit(self, X, y, gen) -> dict:
        with _full_float32_matmul():
            return self._online_step(X, gen)

    def _online_step(self, X, gen) -> dict:
        """Update the model with one batch of a stream by stepwise online EM.

        Running per-sample statistics s are updated as s <- (1 - eta) s + eta s_batch with
        eta = (learning_offset + t) ** -learning_decay for the t-th batch, then the M-step runs
        on s (Cappé and Moulines 2009). The first call on an unfitted model initialises from X.
        """
        if isinstance(X, Chunks):
            raise ValueError("partial_fit takes one array per call; chunks go to fit.")
        first = not self._is_fitted()
        if not first:
            self._check_continuation(X.shape[1], "partial_fit")
        batches = self._batches(X)
        if first:
            shift, seeds = self._data_summary(batches, gen)
            shifted = self._shifted(batches, shift)
            given = self._initial_arrays(X.shape[1])
            params = self._init_params(shifted, shift, seeds, gen, given)
            running, step = None, 0
        else:
            params = self._params()
            shifted = self._shifted(batches, params["shift"])
            running, step = self._online_running(params), self._n_batches_seen
        stats, loglik, n = sum_statistics(self._e_step, params, shifted)
        stats = {k: v / n for k, v in stats.items()}
        if running is not None:
            eta = (self.learning_offset + step) ** -self.learning_decay
            stats = {k: (1 - eta) * running[k] + eta * stats[k] for k in stats}
        new_params = self._m_step(stats, params)
        centre = stats_centre(params, self.covariance_type)
        return {
            **self._attributes(new_params),
            "converged_": False,
            "n_iter_": step + 1,
            "lower_bound_": loglik / n,
            "lower_bounds_": [loglik / n],
            "n_features_in_": X.shape[1],
            "input_shape_": [X.shape[1]],
            "_n_batches_seen": step + 1,
            "_online_stats": {k: v.cpu().numpy() for k, v in {**stats, "centre": centre}.items()},
        }

    def _online_running(self, params: dict) -> dict:
        """Running statistics about the E-step's centre; from the parameters if there are none."""
        centre = stats_centre(params, self.covariance_type)
        saved = getattr(self, "_online_stats", None)
        if saved is None:
            return stats_from_params(params, centre, self.reg_covar, self.covariance_type)
        saved = {k: self._to_tensor(v) for k, v in saved.items()}
        return recenter(saved, saved.pop("centre"), centre, self.covariance_type)

    def _from_legacy_state(self, arrays: dict, values: dict) -> dict:
        # format 1 wrote the running statistics only after a partial_fit
        return {
            "_online_stats": None,
            "_n_batches_seen": 0,
            **super()._from_legacy_state(arrays, values),
        }

    def _on_fitted(self) -> None:
        online = self._online_stats
        if online is not None and set(online) != {"nk", "sx", "sxx", "centre"}:
            raise ValueError(f"unexpected online statistics {sorted(online)} in the model")
        self._check_continuation(self.n_features_in_, "a fitted model")
