"""Restricted Boltzmann machine with Bernoulli or Gaussian visible units, trained by CD-k or
persistent contrastive divergence (Hinton, 2002; Tieleman, 2008; Hinton's 2010 practical
guide), with log-likelihoods from an exact or an AIS estimate of the partition function
(Salakhutdinov & Murray, 2008)."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted
from tqdm.auto import tqdm

from genzoo._validation import Interval, Options, check_binary, make_generator, validate_params
from genzoo.base import FeatureTransformerMixin, GenerativeModel, LikelihoodUnavailable
from genzoo.boltzmann import _limits
from genzoo.boltzmann._cd import initial_parameters, train_epochs
from genzoo.boltzmann._rbm_math import (
    bernoulli,
    block_gibbs,
    free_energy,
    hidden_mean,
    log_pseudo_likelihood,
    reconstruction_error,
    sample_visible,
)
from genzoo.boltzmann.ais import MAX_ENUMERATED_UNITS, ais_log_partition, exact_log_partition
from genzoo.registry import Variant, register

__all__ = ["RBM"]

# Most elements (rows x features x hidden units) of one pseudo-likelihood chunk.
_CHUNK_ELEMENTS = 2**22
DIVERGED = (
    "the RBM's training diverged to NaN or infinity; lower learning_rate (Gaussian visibles "
    "usually need 0.001 to 0.01)."
)


# --- the model


@register(
    "rbm",
    family="boltzmann",
    data_kind="vectors",
    default_dataset="digits_binary",
    zoo_datasets=("bars_binary",),
    fixture_dataset="digits_binary",
    fixture_size=200,
    test_params={
        "n_components": 12, "batch_size": 20, "n_iter": 5, "learning_rate": 0.05,
        "sample_burn_in": 20, "random_state": 0,
    },
    quick_params={
        "n_components": 128, "batch_size": 20, "n_iter": 50, "learning_rate": 0.05,
        "momentum": 0.5, "learning_rate_schedule": "linear", "random_state": 0,
    },
    zoo_params={
        "n_components": 256, "batch_size": 20, "n_iter": 100, "learning_rate": 0.05,
        "momentum": 0.5, "learning_rate_schedule": "linear", "random_state": 0,
    },
    # One AIS run per class: fewer temperatures keep ten of them affordable. A fixed schedule
    # runs one round of chains (ais_tol=None), as the zoo's settings were chosen for.
    classifier_params={"n_ais_betas": 3000, "ais_tol": None},
    test_variants=(Variant("gaussian_visibles", {"visible": "gaussian"}),),
)  # fmt: skip
class RBM(FeatureTransformerMixin, GenerativeModel):
    """Restricted Boltzmann machine: binary hidden units, binary or Gaussian visible units.

    p(v, h) ∝ exp(b.v + c.h + h.W v) for Bernoulli visibles, and ∝ exp(-||v - b||^2 / 2 + c.h +
    h.W v) for unit-variance Gaussian visibles on data standardised per feature. Trained like
    scikit-learn's BernoulliRBM by stochastic gradient ascent on the log-likelihood, with the
    model's expectation from CD-k (Hinton, 2002) or persistent chains (PCD, Tieleman, 2008).
    `log_prob(x) = -F(x) - log Z` in float64, where log Z is exact by enumeration when
    min(n_components, n_features) <= `exact_max_hidden` for Bernoulli visibles (n_components
    for Gaussian ones) and is otherwise an AIS estimate (Salakhutdinov & Murray, 2008), hence
    `likelihood_kind = "estimate"`.

    `fit` computes log Z after training: exactly in well under a second, or by AIS. By default
    AIS adapts its temperatures to the fitted weights (a short pilot run places them at equal
    steps of thermodynamic length, see `genzoo.boltzmann.ais.adapted_betas`), starts from the
    base-rate model of the training data (Salakhutdinov & Murray, 2008) and adds chains in
    rounds until the standard error of log Z is at most `ais_tol`; on 8x8 digits with 256
    hidden units that is about 120 temperatures and 100 chains, a fraction of the training
    time. The AIS seed, `ais_seed_`, is drawn at fit, so the estimate can be reproduced.
    ``compute_log_partition=False`` skips it, for an RBM used only as a feature extractor
    (`transform`); `estimate_log_partition()` computes it later.

    Parameters
    ----------
    n_components : int, default=256
        Number of hidden units, at most 2^16.
    learning_rate : float, default=0.1
        Step size of the gradient ascent; Gaussian visibles usually want 10-100 times less.
    batch_size : int, default=10
        Rows per minibatch, at most 2^20.
    n_iter : int, default=10
        Epochs over the training data (each one shuffled).
    verbose : int, default=0
        Show a progress bar of epochs, with the mean-field reconstruction error, when > 0.
    random_state : int or None
        Seeds initialisation, shuffling, the Gibbs chains, the AIS run and, unless it gets
        its own, `sample`.
    visible : {"bernoulli", "gaussian"}, default="bernoulli"
        Binary visible units, or unit-variance Gaussian ones on standardised data (log_prob
        is then mapped back to a density of the original data).
    k : int, default=1
        Gibbs sweeps per update of the negative phase (CD-k or PCD-k), at most 10^6.
    persistent : bool, default=True
        Keep the negative-phase chains between updates (PCD) instead of restarting them at
        the data (CD).
    n_chains : int or None
        Persistent chains, at most 2^20; None is `batch_size`, as scikit-learn.
    momentum : float, default=0.0
        Momentum of the updates; scikit-learn has none. Hinton's guide suggests 0.5 to 0.9.
    weight_decay : float, default=0.0
        L2 penalty on the weights (not the biases).
    learning_rate_schedule : {"constant", "linear"}, default="constant"
        "linear" decays the learning rate to 0 over the run.
    binarize : float or None, default=None
        Threshold above which a feature is 1 (Bernoulli visibles). None requires 0/1 data.
    sample_from : {"fresh", "persistent"}, default="fresh"
        `sample` starts new chains from the base rate (independent visibles with the data's
        means), or continues the persistent chains `h_samples_` (cycled if fewer than asked).
    sample_burn_in : int, default=1000
        Block Gibbs sweeps before `sample` returns the visible states, at most 10^6. One call
        of `sample` draws at most 2^30 / max(n_components, n_features) samples.
    n_ais_chains : int, default=100
        AIS chains of the first round (2 to 2^20), when log Z is estimated.
    n_ais_betas : int or None, default=None
        AIS inverse temperatures: None adapts them to the fitted weights; an int (2 to 10^7)
        asks for Salakhutdinov & Murray's fixed schedule of that length.
    ais_tol : float or None, default=0.05
        AIS adds chains in rounds until the standard error of log Z is at most this many nats
        (and at most 64 times `n_ais_chains` in all); None runs one round of `n_ais_chains`.
    exact_max_hidden : int, default=20
        Largest layer (at most 25) whose configurations are enumerated for an exact log Z.
    compute_log_partition : bool, default=True
        Compute log Z at the end of `fit` (needed by `log_prob` and `score`).
    device : str or torch.device, default="auto"
        Where training, sampling and the other methods run: "auto" is CUDA where present
        and the fit is large enough to pay for it, else the CPU. Input is validated on the
        host first. AIS runs on the CPU, so that a model's log Z does not depend on its device.
    dtype : {"float32", "float64"}, default="float32"
        Precision of training and sampling (float32 trains about 1.5 times faster on a CPU);
        likelihoods, free energies and log Z are always float64.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        Weights W.
    intercept_hidden_ : ndarray of shape (n_components,)
    intercept_visible_ : ndarray of shape (n_features,)
    h_samples_ : ndarray of shape (n_chains, n_components)
        Hidden states of the persistent chains.
    base_visible_bias_ : ndarray of shape (n_features,)
        Visible biases of the base-rate model that AIS and fresh samples start from.
    mean_, scale_ : ndarray of shape (n_features,) or None
        Per-feature standardisation (Gaussian visibles only).
    log_partition_ : float or None
        log Z of the model (of the standardised data for Gaussian visibles); None when not
        computed (see `compute_log_partition`).
    log_partition_stderr_ : float or None
        Its standard error (0 when exact).
    log_partition_method_ : {"exact", "ais"} or None
    ais_seed_ : int
    n_iter_ : int
        Epochs run, `partial_fit` calls included.
    n_features_in_ : int

    Examples
    --------
    >>> from genzoo.boltzmann.rbm import RBM
    >>> from genzoo.data import load
    >>> data = load("digits_binary")
    >>> rbm = RBM(n_components=16, batch_size=20, n_iter=10, random_state=0).fit(data.X_train)
    >>> rbm.log_partition_method_, rbm.sample(4).shape, rbm.transform(data.X_test).shape
    ('exact', (4, 64), (360, 16))
    """

    likelihood_kind = "estimate"
    discrete_likelihood = True  # probabilities of binary vectors
    fitted_attributes = (
        "components_",
        "intercept_hidden_",
        "intercept_visible_",
        "h_samples_",
        "base_visible_bias_",
        "mean_",
        "scale_",
        "ais_seed_",
        "n_iter_",
        "log_partition_",
        "log_partition_stderr_",
        "log_partition_method_",
        "n_features_in_",
        "input_shape_",
    )
    _parameter_constraints = {
        "n_components": [_limits.UNITS],
        "learning_rate": [Interval(float, 0, None, closed="neither")],
        "batch_size": [_limits.ROWS],
        "n_iter": [Interval(int, 1, None)],
        "verbose": [Interval(int, 0, None)],
        "random_state": ["random_state"],
        "visible": [Options("bernoulli", "gaussian")],
        "k": [_limits.STEPS],
        "persistent": [bool],
        "n_chains": [_limits.ROWS, None],
        "momentum": [Interval(float, 0, 1, closed="left")],
        "weight_decay": [Interval(float, 0, None)],
        "learning_rate_schedule": [Options("constant", "linear")],
        "binarize": [Interval(float, None, None), None],
        "sample_from": [Options("fresh", "persistent")],
        "sample_burn_in": [_limits.BURN_IN],
        "n_ais_chains": [_limits.AIS_CHAINS],
        "n_ais_betas": [_limits.AIS_BETAS, None],
        "ais_tol": [_limits.AIS_TOL, None],
        "exact_max_hidden": [Interval(int, 0, MAX_ENUMERATED_UNITS)],
        "compute_log_partition": [bool],
        "device": ["device"],
        "dtype": ["dtype"],
    }

    def __init__(
        self,
        n_components: int = 256,
        *,
        learning_rate: float = 0.1,
        batch_size: int = 10,
        n_iter: int = 10,
        verbose: int = 0,
        random_state: int | None = None,
        visible: str = "bernoulli",
        k: int = 1,
        persistent: bool = True,
        n_chains: int | None = None,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        learning_rate_schedule: str = "constant",
        binarize: float | None = None,
        sample_from: str = "fresh",
        sample_burn_in: int = 1000,
        n_ais_chains: int = 100,
        n_ais_betas: int | None = None,
        ais_tol: float | None = 0.05,
        exact_max_hidden: int = 20,
        compute_log_partition: bool = True,
        device: str = "auto",
        dtype: str = "float32",
    ):
        self.n_components = n_components
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.n_iter = n_iter
        self.verbose = verbose
        self.random_state = random_state
        self.visible = visible
        self.k = k
        self.persistent = persistent
        self.n_chains = n_chains
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.learning_rate_schedule = learning_rate_schedule
        self.binarize = binarize
        self.sample_from = sample_from
        self.sample_burn_in = sample_burn_in
        self.n_ais_chains = n_ais_chains
        self.n_ais_betas = n_ais_betas
        self.ais_tol = ais_tol
        self.exact_max_hidden = exact_max_hidden
        self.compute_log_partition = compute_log_partition
        self.device = device
        self.dtype = dtype

    # --- input

    def _check_params(self) -> None:
        if self.visible != "bernoulli" and self.binarize is not None:
            raise ValueError("binarize applies to visible='bernoulli' only; set it to None.")

    def _fit_flops(self, X) -> float:
        """One epoch of contrastive divergence: three products of the data with the weights
        (up, down, up again) and the gradient's, 2 operations each."""
        return 8.0 * X.shape[0] * X.shape[1] * self.n_components

    def _check_X(self, X, *, reset: bool) -> np.ndarray:
        X = super()._check_X(X, reset=reset)  # NaN and infinity are refused before binarising
        if self.visible == "bernoulli":
            return check_binary(X, self.binarize)
        return X

    def _to_tensor(self, X) -> torch.Tensor:
        # The base class hands log_prob its input through here: keep it float64.
        return torch.as_tensor(np.array(X, dtype=np.float64), device=self._device())

    def _standardise(self, X: torch.Tensor) -> torch.Tensor:
        if self.visible == "gaussian":
            return (X - X.new_tensor(self.mean_)) / X.new_tensor(self.scale_)
        return X

    def _inputs(self, X, dtype=torch.float64) -> torch.Tensor:
        """Validated X as a standardised tensor, for the public methods beyond the protocol."""
        check_is_fitted(self)
        validate_params(self, self._parameter_constraints)  # device and dtype, set_params
        X = torch.as_tensor(self._check_X(X, reset=False), dtype=dtype, device=self._device())
        return self._standardise(X)

    def _params(self, dtype=torch.float64) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(W, b, c) as tensors of `dtype` on the model's device."""
        like = dict(dtype=dtype, device=self._device())
        return (
            torch.as_tensor(self.components_, **like),
            torch.as_tensor(self.intercept_visible_, **like),
            torch.as_tensor(self.intercept_hidden_, **like),
        )

    # --- fitting

    def _fit(self, X, y, gen) -> dict:
        start = self._start(X, gen)
        chains = self._train(start, self.n_iter, self.learning_rate_schedule, gen)
        fitted = self._fitted(start["params"], chains, start, self.n_iter, X)
        if self.compute_log_partition:
            fitted.update(self._log_partition(fitted))
        return fitted

    def _train(self, start: dict, n_epochs: int, schedule: str, gen) -> torch.Tensor:
        """Train the start's parameters in place by the shared CD loop; return the chains."""
        X, params = start["X"], start["params"]
        bar = tqdm(total=n_epochs, desc="RBM", disable=self.verbose <= 0)

        def progress():
            bar.update()
            if self.verbose > 0:  # reading the error is a host sync: only when it is shown
                W, b, c = params["W"], params["b"], params["c"]
                error = reconstruction_error(X, W, b, c, self.visible)
                bar.set_postfix(reconstruction_error=f"{float(error):.4f}")

        with bar:
            chains = train_epochs(
                X,
                params,
                start["chains"] if self.persistent else None,
                n_epochs=n_epochs,
                batch_size=self.batch_size,
                learning_rate=self.learning_rate,
                gen=gen,
                schedule=schedule,
                momentum=self.momentum,
                weight_decay=self.weight_decay,
                k=self.k,
                visible=self.visible,
                diverged=DIVERGED,
                callback=progress,
            )
        return start["chains"] if chains is None else chains  # CD keeps its unused start

    def _start(self, X: np.ndarray, gen) -> dict:
        """The initial state of a fit on X: parameters, chains, standardisation, AIS seed."""
        standardisation = self._standardisation(X)
        Xt = self._training_tensor(X, standardisation)
        params = initial_parameters(Xt, self.n_components, visible=self.visible, gen=gen)
        n_chains = self.batch_size if self.n_chains is None else self.n_chains
        return {
            "X": Xt,
            "params": params,
            "chains": Xt.new_zeros(n_chains, self.n_components),  # scikit-learn's start
            "base_bias": params["b"].detach().clone(),
            "standardisation": standardisation,
            "ais_seed": int(torch.randint(2**62, (1,), generator=gen, device=gen.device)),
        }

    def _partial_fit(self, X, y, gen) -> dict:
        """Run one epoch of minibatch updates on X, starting from the current fit if any.

        The first call initialises the model (and, for Gaussian visibles, the standardisation)
        from X. Momentum restarts at every call and the learning rate is not decayed. log Z
        is recomputed only when it is exact (cheap); an AIS estimate is dropped, as it no
        longer fits the weights: call `estimate_log_partition` before `log_prob`.
        """
        fitted = self._is_fitted()
        epochs = self.n_iter_ if fitted else 0
        # A new stream for each call, still reproducible from random_state.
        seed = None if self.random_state is None else self.random_state + epochs
        gen = make_generator(seed, self._device())
        if fitted:
            standardisation = (self.mean_, self.scale_)
            start = {
                "X": self._training_tensor(X, standardisation),
                # Copies: training updates them in place, and as_tensor may share memory.
                "params": {
                    n: p.clone() for n, p in zip("Wbc", self._params(self._dtype()), strict=True)
                },
                "chains": torch.tensor(self.h_samples_, dtype=self._dtype(), device=self._device()),
                "base_bias": self.base_visible_bias_,
                "standardisation": standardisation,
                "ais_seed": self.ais_seed_,
            }
        else:
            start = self._start(X, gen)
        chains = self._train(start, 1, "constant", gen)
        fitted = self._fitted(start["params"], chains, start, epochs + 1, X)
        if self.compute_log_partition and self._enumerable(X.shape[1]):
            fitted.update(self._log_partition(fitted))
        return fitted

    def _standardisation(self, X: np.ndarray):
        if self.visible == "bernoulli":
            return None, None
        scale = X.std(0)
        return X.mean(0), np.where(scale > 0, scale, 1.0)  # constant features keep scale 1

    def _training_tensor(self, X: np.ndarray, standardisation) -> torch.Tensor:
        mean, scale = standardisation
        if mean is not None:
            X = (X - mean) / scale
        return torch.tensor(X, dtype=self._dtype(), device=self._device())

    def _fitted(self, params, chains, start: dict, epochs: int, X) -> dict:
        """The fitted attributes, log Z not yet computed."""

        def numpy(t):
            return np.asarray(t.detach().cpu().numpy() if torch.is_tensor(t) else t, np.float64)

        return {
            "components_": numpy(params["W"]),
            "intercept_hidden_": numpy(params["c"]),
            "intercept_visible_": numpy(params["b"]),
            "h_samples_": numpy(chains),
            "base_visible_bias_": numpy(start["base_bias"]),
            "mean_": start["standardisation"][0],
            "scale_": start["standardisation"][1],
            "ais_seed_": start["ais_seed"],
            "n_iter_": epochs,
            "log_partition_": None,
            "log_partition_stderr_": None,
            "log_partition_method_": None,
            **self._fitted_input_shape(X),
        }

    # --- the partition function

    def _enumerable(self, n_features: int) -> bool:
        """Whether log Z is enumerated exactly (one layer small enough) rather than by AIS."""
        n_enumerated = self.n_components
        if self.visible == "bernoulli":
            n_enumerated = min(n_enumerated, n_features)
        return n_enumerated <= self.exact_max_hidden

    def _log_partition(self, fitted: dict) -> dict:
        """log Z of the weights in `fitted`: exact when enumerable, else AIS (seed ais_seed_)."""
        W, b, c = fitted["components_"], fitted["intercept_visible_"], fitted["intercept_hidden_"]
        if self._enumerable(W.shape[1]):
            log_z = exact_log_partition(W, b, c, visible=self.visible)
            return {
                "log_partition_": log_z,
                "log_partition_stderr_": 0.0,
                "log_partition_method_": "exact",
            }
        # The fitted weights are numpy arrays, so AIS runs on the CPU: a model gives the same
        # estimate whatever its device.
        result = ais_log_partition(
            W, b, c,
            visible=self.visible,
            base_visible_bias=fitted["base_visible_bias_"],
            n_chains=self.n_ais_chains,
            n_betas=self.n_ais_betas,
            tol=self.ais_tol,
            random_state=fitted["ais_seed_"],
            progress=self.verbose > 0,
        )  # fmt: skip
        return {
            "log_partition_": result.log_z,
            "log_partition_stderr_": result.stderr,
            "log_partition_method_": "ais",
        }

    def estimate_log_partition(self) -> RBM:
        """Compute log Z of the fitted weights (exact or AIS, as `fit` does) and keep it.

        For a model fitted with ``compute_log_partition=False``, or after `partial_fit` dropped
        an AIS estimate, or to re-run AIS after changing `n_ais_chains`, `n_ais_betas` or
        `ais_tol`.
        Returns self.
        """
        self._check_fitted()
        self._validate_params()
        self._commit(self._log_partition(vars(self)))
        return self

    # --- protocol hooks

    def _log_prob(self, X: torch.Tensor) -> torch.Tensor:
        log_z = self.log_partition_
        if log_z is None:
            raise LikelihoodUnavailable(
                "log Z of this RBM has not been computed (compute_log_partition=False, or "
                "partial_fit changed the weights); call estimate_log_partition() first."
            )
        X = self._standardise(X)
        out = -free_energy(X, *self._params(), self.visible) - log_z
        if self.visible == "gaussian":
            out = out - np.log(self.scale_).sum()  # density of the original data
        return out

    def _sample(self, n_samples: int, y, gen) -> torch.Tensor:
        self._validate_params()  # sizes changed by set_params after fit
        return self._draw(n_samples, gen, burn_in=self.sample_burn_in)

    def _sample_item_bytes(self) -> int:
        # a visible and a hidden state per chain, with their probabilities and uniforms
        return 4 * 8 * sum(self.components_.shape)

    def _draw(self, n_samples: int, gen, *, burn_in: int) -> torch.Tensor:
        """Visible states after `burn_in` block Gibbs sweeps from `sample_from`'s start."""
        W, b, c = self._params(self._dtype())
        like = dict(dtype=W.dtype, device=W.device)
        if self.sample_from == "persistent":
            chains = torch.as_tensor(self.h_samples_, **like)
            h = chains[torch.arange(n_samples, device=W.device) % len(chains)]
            v = sample_visible(h, W, b, self.visible, gen)
        else:
            base = torch.as_tensor(self.base_visible_bias_, **like).expand(n_samples, -1)
            if self.visible == "gaussian":
                v = base + torch.randn(base.shape, generator=gen, **like)
            else:
                v = bernoulli(torch.sigmoid(base), gen)
        v, _ = block_gibbs(v, W, b, c, visible=self.visible, n_steps=burn_in, gen=gen)
        if self.visible == "gaussian":
            v = v * v.new_tensor(self.scale_) + v.new_tensor(self.mean_)
        return v

    # --- public methods beyond the protocol

    def free_energy(self, X) -> np.ndarray:
        """Return F(x) = -log sum_h exp(-E(x, h)) of each row, (n_samples,), in float64.

        For Gaussian visibles it is the free energy of the standardised row.
        """
        X = self._inputs(X)
        with torch.no_grad():
            return free_energy(X, *self._params(), self.visible).cpu().numpy()

    @property
    def _n_features_out(self) -> int:
        """Width of `transform`: the hidden units."""
        return int(self.n_components)

    def transform(self, X) -> np.ndarray:
        """Return the hidden probabilities p(h_j = 1 | x), (n_samples, n_components)."""
        X = self._inputs(X)
        W, _, c = self._params()
        with torch.no_grad():
            return hidden_mean(X, W, c).cpu().numpy()

    def gibbs(self, v, *, random_state: int | None = None) -> np.ndarray:
        """Return one block Gibbs step v -> h -> v' from each row of v, (n_samples, n_features).

        As scikit-learn's, the hidden and the new visible states are drawn, not averaged.
        `random_state` (else the constructor's) seeds the draw.
        """
        v = self._inputs(v, self._dtype())
        gen = self._generator(random_state)
        W, b, c = self._params(self._dtype())
        with torch.no_grad():
            out, _ = block_gibbs(v, W, b, c, visible=self.visible, n_steps=1, gen=gen)
        if self.visible == "gaussian":
            out = out * out.new_tensor(self.scale_) + out.new_tensor(self.mean_)
        return out.cpu().numpy().astype(np.float64)

    def pseudo_likelihood(self, X) -> np.ndarray:
        """Return the log pseudo-likelihood sum_i log p(x_i | x_-i) of each row, (n_samples,).

        The full sum over every feature, deterministic: scikit-learn's `score_samples` is
        n_features times one randomly chosen term of it, an unbiased estimate of this.
        Bernoulli visibles only.
        """
        X = self._inputs(X)
        if self.visible != "bernoulli":
            raise ValueError("pseudo_likelihood needs visible='bernoulli'.")
        W, b, c = self._params()
        rows = max(1, _CHUNK_ELEMENTS // (W.numel()))
        with torch.no_grad():
            out = [log_pseudo_likelihood(part, W, b, c) for part in torch.split(X, rows)]
        return torch.cat(out).cpu().numpy()
