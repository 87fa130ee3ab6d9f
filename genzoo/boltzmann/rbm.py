"""Restricted Boltzmann machine with Bernoulli or Gaussian visible units, trained by CD-k or
persistent contrastive divergence (Hinton, 2002; Tieleman, 2008; Hinton's 2010 practical
guide), with log-likelihoods from an exact or an AIS estimate of the partition function
(Salakhutdinov & Murray, 2008)."""

from __future__ import annotations

import math

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted
from tqdm.auto import tqdm

from genzoo._validation import Interval, Options, make_generator, validate_params
from genzoo.base import GenerativeModel
from genzoo.boltzmann._rbm_math import (
    block_gibbs,
    free_energy,
    hidden_input,
    hidden_mean,
    log_pseudo_likelihood,
    sample_visible,
    visible_mean,
)
from genzoo.boltzmann.ais import MAX_ENUMERATED_UNITS, ais_log_partition, exact_log_partition
from genzoo.registry import register

__all__ = ["RBM"]

# Training pixel means are clipped to [eps, 1 - eps] before the logit of the visible biases.
_MEAN_CLIP = 1e-3
# Most elements (rows x features x hidden units) of one pseudo-likelihood chunk.
_CHUNK_ELEMENTS = 2**22
_DIVERGED = (
    "the RBM's training diverged to NaN or infinity; lower learning_rate (Gaussian visibles "
    "usually need 0.001 to 0.01)."
)


# --- training


def _initial_parameters(X: torch.Tensor, n_components: int, visible: str, gen) -> dict:
    """scikit-learn's start (weights N(0, 0.01^2), zero hidden biases); Bernoulli visible
    biases at the logit of the training means (Hinton's guide, sec. 8)."""
    n_features = X.shape[1]
    like = dict(device=X.device, dtype=X.dtype)
    W = 0.01 * torch.randn(n_components, n_features, generator=gen, **like)
    if visible == "bernoulli":
        p = X.mean(0).clamp(_MEAN_CLIP, 1 - _MEAN_CLIP)
        b = torch.log(p) - torch.log1p(-p)
    else:
        b = X.mean(0)  # zero for standardised data
    return {"W": W, "b": b, "c": torch.zeros(n_components, **like)}


def _train_epochs(model: RBM, X: torch.Tensor, params: dict, chains, *, n_epochs: int, gen):
    """Run `n_epochs` shuffled minibatch epochs of CD-k / PCD-k; return (params, chains).

    `params` and `chains` are updated in place: the caller passes copies. The statistics use
    mean-field hidden probabilities in both phases (Hinton's guide, sec. 3).
    """
    n, bs = len(X), model.batch_size
    n_updates = n_epochs * math.ceil(n / bs)
    velocity = [torch.zeros_like(params[p]) for p in "Wbc"] if model.momentum > 0 else None
    bar = tqdm(range(n_epochs), desc="RBM", disable=model.verbose <= 0)
    t = 0
    for _ in bar:
        X_epoch = X[torch.randperm(n, generator=gen, device=X.device)]
        try:
            for start in range(0, n, bs):
                lr = model.learning_rate
                if model.learning_rate_schedule == "linear":
                    lr *= 1 - t / n_updates
                chains = _step(
                    model, X_epoch[start : start + bs], params, chains, velocity, lr, gen
                )
                t += 1
        except torch.OutOfMemoryError:
            raise
        except RuntimeError as err:  # torch.bernoulli refuses the NaN of an overflow
            raise ValueError(_DIVERGED) from err
        _check_finite(params)
        if model.verbose > 0:
            bar.set_postfix(reconstruction_error=f"{_reconstruction_error(model, X, params):.4f}")
    return params, chains


def _step(model: RBM, v_pos, params: dict, chains, velocity, lr: float, gen):
    """One CD-k / PCD-k update on the minibatch v_pos; returns the persistent chains."""
    W, b, c = params["W"], params["b"], params["c"]
    h_pos = torch.sigmoid(hidden_input(v_pos, W, c))
    h = chains if model.persistent else torch.bernoulli(h_pos, generator=gen)
    for _ in range(model.k):
        v_neg = sample_visible(h, W, b, model.visible, gen)
        h_neg = torch.sigmoid(hidden_input(v_neg, W, c))
        h = torch.bernoulli(h_neg, generator=gen)
    _update(model, params, velocity, (v_pos, h_pos, v_neg, h_neg), lr)
    return h if model.persistent else chains


def _check_finite(params: dict) -> None:
    if not all(bool(torch.isfinite(p).all()) for p in params.values()):
        raise ValueError(_DIVERGED)


def _update(model: RBM, params: dict, velocity, stats, lr: float) -> None:
    """One gradient step on the log-likelihood, with momentum and weight decay on W only."""
    W, b, c = params["W"], params["b"], params["c"]
    v_pos, h_pos, v_neg, h_neg = stats
    scale_pos, scale_neg = 1.0 / len(v_pos), 1.0 / len(v_neg)
    if velocity is None:  # the cheapest path: plain SGD, in place
        if model.weight_decay > 0:
            W.mul_(1 - lr * model.weight_decay)
        W.addmm_(h_pos.T, v_pos, alpha=lr * scale_pos).addmm_(h_neg.T, v_neg, alpha=-lr * scale_neg)
        b.add_(v_pos.sum(0) * scale_pos - v_neg.sum(0) * scale_neg, alpha=lr)
        c.add_(h_pos.sum(0) * scale_pos - h_neg.sum(0) * scale_neg, alpha=lr)
        return
    grad_W = torch.addmm(h_pos.T @ v_pos, h_neg.T, v_neg, beta=scale_pos, alpha=-scale_neg)
    if model.weight_decay > 0:
        grad_W.sub_(W, alpha=model.weight_decay)
    grad_b = v_pos.sum(0) * scale_pos - v_neg.sum(0) * scale_neg
    grad_c = h_pos.sum(0) * scale_pos - h_neg.sum(0) * scale_neg
    for p, vel, grad in zip((W, b, c), velocity, (grad_W, grad_b, grad_c), strict=True):
        vel.mul_(model.momentum).add_(grad, alpha=lr)
        p.add_(vel)


@torch.no_grad()
def _reconstruction_error(model: RBM, X: torch.Tensor, params: dict) -> float:
    """Mean squared error per feature of the mean-field reconstruction E[v | p(h | x)]."""
    h = hidden_mean(X, params["W"], params["c"])
    return float(((visible_mean(h, params["W"], params["b"], model.visible) - X) ** 2).mean())


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
)  # fmt: skip
class RBM(GenerativeModel):
    """Restricted Boltzmann machine: binary hidden units, binary or Gaussian visible units.

    p(v, h) ∝ exp(b.v + c.h + h.W v) for Bernoulli visibles, and ∝ exp(-||v - b||^2 / 2 + c.h +
    h.W v) for unit-variance Gaussian visibles on data standardised per feature. Trained like
    scikit-learn's BernoulliRBM by stochastic gradient ascent on the log-likelihood, with the
    model's expectation from CD-k (Hinton, 2002) or persistent chains (PCD, Tieleman, 2008).
    `log_prob(x) = -F(x) - log Z` in float64, where log Z is exact by enumeration when
    min(n_components, n_features) <= `exact_max_hidden` for Bernoulli visibles (n_components
    for Gaussian ones) and is otherwise an AIS estimate (Salakhutdinov & Murray, 2008), hence
    `likelihood_kind = "estimate"`.

    The exact log Z is computed by `fit`. The AIS estimate is not (it would cost more than the
    fit itself): it is computed on first use (`log_prob`, `score`, `log_partition_`) and kept.
    Its seed, `ais_seed_`, is drawn at fit, so every call, a saved and loaded copy included,
    gets the same number.

    Parameters
    ----------
    n_components : int, default=256
        Number of hidden units.
    learning_rate : float, default=0.1
        Step size of the gradient ascent; Gaussian visibles usually want 10-100 times less.
    batch_size : int, default=10
        Rows per minibatch.
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
        Gibbs sweeps per update of the negative phase (CD-k or PCD-k).
    persistent : bool, default=True
        Keep the negative-phase chains between updates (PCD) instead of restarting them at
        the data (CD).
    n_chains : int or None
        Persistent chains; None is `batch_size`, as scikit-learn.
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
        Block Gibbs sweeps before `sample` returns the visible states.
    n_ais_chains : int, default=100
    n_ais_betas : int, default=10000
        AIS chains and inverse temperatures, when log Z is estimated.
    exact_max_hidden : int, default=20
        Largest layer (at most 25) whose configurations are enumerated for an exact log Z.
    device : str, default="auto"
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
    log_partition_ : float
        log Z of the model (of the standardised data for Gaussian visibles).
    log_partition_stderr_ : float
        Its standard error (0 when exact).
    log_partition_method_ : {"exact", "ais"}
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
    _parameter_constraints = {
        "n_components": [Interval(int, 1, None)],
        "learning_rate": [Interval(float, 0, None, closed="neither")],
        "batch_size": [Interval(int, 1, None)],
        "n_iter": [Interval(int, 1, None)],
        "verbose": [Interval(int, 0, None)],
        "random_state": ["random_state"],
        "visible": [Options("bernoulli", "gaussian")],
        "k": [Interval(int, 1, None)],
        "persistent": [bool],
        "n_chains": [Interval(int, 1, None), None],
        "momentum": [Interval(float, 0, 1, closed="left")],
        "weight_decay": [Interval(float, 0, None)],
        "learning_rate_schedule": [Options("constant", "linear")],
        "binarize": [Interval(float, None, None), None],
        "sample_from": [Options("fresh", "persistent")],
        "sample_burn_in": [Interval(int, 0, None)],
        "n_ais_chains": [Interval(int, 2, None)],
        "n_ais_betas": [Interval(int, 2, None)],
        "exact_max_hidden": [Interval(int, 0, MAX_ENUMERATED_UNITS)],
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
        n_ais_betas: int = 10_000,
        exact_max_hidden: int = 20,
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
        self.exact_max_hidden = exact_max_hidden
        self.device = device
        self.dtype = dtype

    # --- input

    def _check_X(self, X, *, reset: bool) -> np.ndarray:
        X = super()._check_X(X, reset=reset)  # NaN and infinity are refused before binarising
        if self.visible == "gaussian":
            if self.binarize is not None:
                raise ValueError("binarize applies to visible='bernoulli' only; set it to None.")
        elif self.binarize is not None:
            X = (X > self.binarize).astype(np.float64)
        elif ((X != 0) & (X != 1)).any():
            bad = X[(X != 0) & (X != 1)][0]
            raise ValueError(
                f"X must hold only 0 and 1 for visible='bernoulli' when binarize is None "
                f"(found {bad!r}); pass binarize=threshold to binarise it."
            )
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
        params, chains = _train_epochs(
            self, start["X"], start["params"], start["chains"], n_epochs=self.n_iter, gen=gen
        )
        return self._fitted(params, chains, start, self.n_iter, X)

    def _start(self, X: np.ndarray, gen) -> dict:
        """The initial state of a fit on X: parameters, chains, standardisation, AIS seed."""
        standardisation = self._standardisation(X)
        Xt = self._training_tensor(X, standardisation)
        params = _initial_parameters(Xt, self.n_components, self.visible, gen)
        n_chains = self.batch_size if self.n_chains is None else self.n_chains
        return {
            "X": Xt,
            "params": params,
            "chains": Xt.new_zeros(n_chains, self.n_components),  # scikit-learn's start
            "base_bias": params["b"].detach().clone(),
            "standardisation": standardisation,
            "ais_seed": int(torch.randint(2**62, (1,), generator=gen, device=gen.device)),
        }

    def partial_fit(self, X, y=None) -> RBM:
        """Run one epoch of minibatch updates on X, starting from the current fit if any.

        The first call initialises the model (and, for Gaussian visibles, the standardisation)
        from X. Momentum restarts at every call and the learning rate is not decayed. As
        `fit`, it is atomic and returns self.
        """
        validate_params(self, self._parameter_constraints)
        fitted = hasattr(self, "components_")
        X = self._check_X(X, reset=not fitted)
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
        params, chains = _train_epochs(
            self, start["X"], start["params"], start["chains"], n_epochs=1, gen=gen
        )
        self._set_fitted(self._fitted(params, chains, start, epochs + 1, X))
        return self

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
        """The fitted attributes, with the exact log Z when it is cheap enough."""

        def numpy(t):
            return np.asarray(t.detach().cpu().numpy() if torch.is_tensor(t) else t, np.float64)

        fitted = {
            "components_": numpy(params["W"]),
            "intercept_hidden_": numpy(params["c"]),
            "intercept_visible_": numpy(params["b"]),
            "h_samples_": numpy(chains),
            "base_visible_bias_": numpy(start["base_bias"]),
            "mean_": start["standardisation"][0],
            "scale_": start["standardisation"][1],
            "ais_seed_": start["ais_seed"],
            "n_iter_": epochs,
            **self._fitted_input_shape(X),
        }
        n_enumerated = self.n_components
        if self.visible == "bernoulli":
            n_enumerated = min(n_enumerated, X.shape[1])
        log_partition = None
        if n_enumerated <= self.exact_max_hidden:
            log_z = exact_log_partition(
                fitted["components_"], fitted["intercept_visible_"],
                fitted["intercept_hidden_"], visible=self.visible,
            )  # fmt: skip
            log_partition = (log_z, 0.0, "exact")
        return {**fitted, "_log_partition": log_partition}

    # --- the partition function

    def _log_partition_estimate(self) -> tuple[float, float, str]:
        """(log Z, its standard error, method); the AIS run happens once, on first use."""
        check_is_fitted(self)
        if self._log_partition is None:
            W, b, c = self._params()
            result = ais_log_partition(
                W, b, c,
                visible=self.visible,
                base_visible_bias=self.base_visible_bias_,
                n_chains=self.n_ais_chains,
                n_betas=self.n_ais_betas,
                random_state=self.ais_seed_,
                progress=self.verbose > 0,
            )  # fmt: skip
            self._log_partition = (result.log_z, result.stderr, "ais")
        return tuple(self._log_partition)

    @property
    def log_partition_(self) -> float:
        return self._log_partition_estimate()[0]

    @property
    def log_partition_stderr_(self) -> float:
        return self._log_partition_estimate()[1]

    @property
    def log_partition_method_(self) -> str:
        return self._log_partition_estimate()[2]

    def _state(self):
        arrays, values = super()._state()
        if self._log_partition is not None:  # an AIS estimate is worth keeping
            values["_log_partition"] = tuple(self._log_partition)
        return arrays, values

    def _set_state(self, arrays, values) -> None:
        values = {"_log_partition": None, **values}
        if values["_log_partition"] is not None:
            values["_log_partition"] = tuple(values["_log_partition"])
        super()._set_state(arrays, values)

    # --- protocol hooks

    def _log_prob(self, X: torch.Tensor) -> torch.Tensor:
        log_z = self._log_partition_estimate()[0]
        X = self._standardise(X)
        out = -free_energy(X, *self._params(), self.visible) - log_z
        if self.visible == "gaussian":
            out = out - np.log(self.scale_).sum()  # density of the original data
        return out

    def _sample(self, n_samples: int, y, gen) -> torch.Tensor:
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
                v = torch.bernoulli(torch.sigmoid(base), generator=gen)
        v, _ = block_gibbs(v, W, b, c, visible=self.visible, n_steps=self.sample_burn_in, gen=gen)
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
        if self.visible != "bernoulli":
            raise ValueError("pseudo_likelihood needs visible='bernoulli'.")
        X = self._inputs(X)
        W, b, c = self._params()
        rows = max(1, _CHUNK_ELEMENTS // (W.numel()))
        with torch.no_grad():
            out = [log_pseudo_likelihood(part, W, b, c) for part in torch.split(X, rows)]
        return torch.cat(out).cpu().numpy()
