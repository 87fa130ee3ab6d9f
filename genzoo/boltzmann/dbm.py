"""Deep Boltzmann machine (Salakhutdinov and Hinton, 2009) over binary vectors.

Greedy pre-training of a stack of RBMs with doubled inputs, then joint training by mean-field
for the data and persistent Gibbs chains for the model; `log_prob` is the mean-field lower
bound on the unnormalised log-probability minus log Z from annealed importance sampling
(exact enumeration when one side of the bipartite odd/even split is small).
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from genzoo._validation import Interval, check_binary, validate_params
from genzoo.base import FeatureTransformerMixin, GenerativeModel
from genzoo.boltzmann import _limits
from genzoo.boltzmann._cd import MEAN_CLIP, base_rate_bias, check_finite
from genzoo.boltzmann._dbm_math import (
    bipartite_parameters,
    gibbs_sweeps,
    mean_field,
    mean_field_bound,
    persistent_step,
    pretrain_rbm,
)
from genzoo.boltzmann._rbm_math import bernoulli, hidden_mean
from genzoo.boltzmann.ais import ais_log_partition, exact_log_partition
from genzoo.registry import register

__all__ = ["DBM"]

# log Z is enumerated exactly when the smaller side of the odd/even split has at most this many
# units (2^20 states, summed in chunks); above it, AIS estimates it.
_EXACT_MAX_UNITS = 20
# Mean-field for log_prob and transform runs each row to convergence: the bound is then a
# deterministic function of the row.
_EVAL_MAX_ITER = 500
_EVAL_TOL = 1e-10
_CHUNK_ROWS = 4096
DIVERGED = "the DBM's training diverged to NaN or infinity; lower learning_rate or momentum."


@register(
    "dbm",
    family="boltzmann",
    data_kind="vectors",
    default_dataset="digits_binary",
    zoo_datasets=("bars_binary",),
    fixture_dataset="digits_binary",
    fixture_size=200,
    test_params={
        "hidden_layer_sizes": (12, 8), "n_iter": 3, "pretrain_iter": 2, "n_chains": 20,
        "batch_size": 50, "n_mean_field": 5, "sample_burn_in": 20, "verbose": 0,
        "random_state": 0,
    },
    quick_params={
        "hidden_layer_sizes": (64, 64), "n_iter": 60, "pretrain_iter": 20, "learning_rate": 0.1,
        "n_chains": 100, "n_ais_betas": 10000, "ais_tol": None, "verbose": 0, "random_state": 0,
    },
    zoo_params={
        "hidden_layer_sizes": (200, 100), "n_iter": 150, "pretrain_iter": 30,
        "n_chains": 100, "n_ais_betas": 20000, "ais_tol": None, "random_state": 0,
    },
    # One AIS run per class: fewer temperatures keep ten of them affordable. A fixed schedule
    # runs one round of chains (ais_tol=None), as the zoo's settings were chosen for.
    classifier_params={"n_ais_betas": 3000, "ais_tol": None},
)  # fmt: skip
class DBM(FeatureTransformerMixin, GenerativeModel):
    """Deep Boltzmann machine with binary visible and hidden units.

    Layers v = x_0, x_1, ..., x_L (L >= 2 hidden layers), each joined only to its neighbours:
    p(v, h) = exp(sum_l b_l . x_l + sum_l x_l^T W_l x_{l-1}) / Z. Training (Salakhutdinov and
    Hinton, 2009) pre-trains a stack of RBMs greedily, the bottom one seeing its input twice,
    the top one with doubled hidden units and the middle ones doubled both ways, so that once
    composed (each layer then gets half its input from below and half from above) the DBM
    starts from a good point. Joint training follows the stochastic-approximation procedure:
    mean-field posteriors for the data statistics and `n_chains` persistent Gibbs chains for
    the model statistics.

    `log_prob` is an estimate: the mean-field lower bound on log p*(v) = log sum_h exp(-E(v, h))
    (expected negative energy plus the entropy of the factorised posterior) minus log Z. Since
    the odd layers are independent given the even ones and vice versa, the DBM is an RBM
    between the odd layers and the even ones, and log Z is that RBM's: enumerated exactly when
    one side has at most 20 units, else estimated by annealed importance sampling from a
    base-rate model fitted to the mean-field means of the odd layers. log Z is computed once
    at the end of `fit` (`log_partition_`). The bound makes `log_prob` biased low; AIS error
    in log Z shifts every row by the same amount.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(100, 50)
        Units per hidden layer, bottom first; at least two layers (one is an RBM), each at
        most 2^16.
    learning_rate : float, default=0.05
        Step size of the joint training (and of the pre-training).
    learning_rate_decay : float, default=0.05
        The joint training's step size in epoch t is learning_rate / (1 + decay * t).
    batch_size : int, default=50
        Rows per minibatch, at most 2^20.
    n_iter : int, default=50
        Epochs of joint training.
    pretrain_iter : int, default=10
        CD-1 epochs per layer of greedy pre-training; 0 starts from small random weights.
    n_chains : int, default=100
        Persistent Markov chains (fantasy particles) for the model statistics, at most 2^20.
    n_gibbs_steps : int, default=5
        Block-Gibbs sweeps of the chains per update, at most 10^6.
    n_mean_field : int, default=10
        Mean-field iterations per minibatch in training, at most 10^6. `log_prob` and
        `transform` iterate each row to convergence.
    momentum : float, default=0.5
    weight_decay : float, default=1e-4
        L2 penalty on the weights.
    binarize : float or None, default=None
        Threshold above which a value counts as 1; None requires X to be binary.
    sample_burn_in : int, default=1000
        Gibbs sweeps of `sample` from fresh chains before a state is returned, at most 10^6.
        One call of `sample` draws at most 2^30 / (units of the larger of the odd and the
        even layers together) samples.
    n_ais_chains : int, default=100
    n_ais_betas : int or None, default=None
    ais_tol : float or None, default=0.05
        AIS settings for log Z (unused when log Z is exact), as `RBM`'s: chains of the first
        round (2 to 2^20); inverse temperatures, None to adapt them to the weights by a pilot
        run, or an int (2 to 10^7) for Salakhutdinov & Murray's fixed schedule; the standard
        error of log Z in nats at which chains stop being added (at most 64 times
        `n_ais_chains`), None for one round.
    verbose : int, default=0
        1 shows a progress bar over epochs.
    random_state : int or None
        Seeds training, the AIS estimate of log Z and (unless `sample` gets its own) sampling.
        The same seed gives the same model and samples on the same device.
    device : str or torch.device, default="auto"
        Where training, mean-field, sampling and AIS run: "auto" is CUDA where present and
        the fit is large enough to pay for it, else the CPU. Input is validated on the host first.
    dtype : {"float32", "float64"}, default="float32"
        Precision of training and sampling; the bound, log Z and `transform` are float64.

    Attributes
    ----------
    weights_ : list of ndarray, weights_[i] of shape (n_{i+1}, n_i), layer 0 being v
    biases_ : list of ndarray, biases_[i] of shape (n_i,), biases_[0] the visible biases
    log_partition_ : float, log partition function (exact or AIS)
    log_partition_stderr_ : float, its standard error by the delta method (0 when exact)
    log_partition_method_ : str, "exact" or "ais"
    n_iter_ : int, epochs of joint training run
    n_features_in_ : int
    input_shape_ : list of int

    Examples
    --------
    >>> from genzoo.boltzmann.dbm import DBM
    >>> from genzoo.data import load
    >>> X = load("digits_binary").X_train
    >>> dbm = DBM(hidden_layer_sizes=(16, 8), n_iter=5, random_state=0).fit(X)
    >>> dbm.sample(3).shape, dbm.log_prob(X[:2]).shape
    ((3, 64), (2,))
    """

    likelihood_kind = "estimate"
    discrete_likelihood = True  # probabilities of binary vectors
    fitted_attributes = (
        "weights_",
        "biases_",
        "log_partition_",
        "log_partition_stderr_",
        "log_partition_method_",
        "n_iter_",
        "n_features_in_",
        "input_shape_",
    )
    _parameter_constraints = {
        "hidden_layer_sizes": ["array-like"],
        "learning_rate": [Interval(float, 0, None, closed="neither")],
        "learning_rate_decay": [Interval(float, 0, None)],
        "batch_size": [_limits.ROWS],
        "n_iter": [Interval(int, 0, None)],
        "pretrain_iter": [Interval(int, 0, None)],
        "n_chains": [_limits.ROWS],
        "n_gibbs_steps": [_limits.STEPS],
        "n_mean_field": [_limits.STEPS],
        "momentum": [Interval(float, 0, 1, closed="left")],
        "weight_decay": [Interval(float, 0, None)],
        "binarize": [None, Interval(float, None, None)],
        "sample_burn_in": [_limits.BURN_IN],
        "n_ais_chains": [_limits.AIS_CHAINS],
        "n_ais_betas": [_limits.AIS_BETAS, None],
        "ais_tol": [_limits.AIS_TOL, None],
        "verbose": [Interval(int, 0, None)],
        "random_state": ["random_state"],
        "device": ["device"],
        "dtype": ["dtype"],
    }

    def __init__(
        self,
        hidden_layer_sizes: tuple[int, ...] = (100, 50),
        *,
        learning_rate: float = 0.05,
        learning_rate_decay: float = 0.05,
        batch_size: int = 50,
        n_iter: int = 50,
        pretrain_iter: int = 10,
        n_chains: int = 100,
        n_gibbs_steps: int = 5,
        n_mean_field: int = 10,
        momentum: float = 0.5,
        weight_decay: float = 1e-4,
        binarize: float | None = None,
        sample_burn_in: int = 1000,
        n_ais_chains: int = 100,
        n_ais_betas: int | None = None,
        ais_tol: float | None = 0.05,
        verbose: int = 0,
        random_state: int | None = None,
        device: str = "auto",
        dtype: str = "float32",
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.learning_rate = learning_rate
        self.learning_rate_decay = learning_rate_decay
        self.batch_size = batch_size
        self.n_iter = n_iter
        self.pretrain_iter = pretrain_iter
        self.n_chains = n_chains
        self.n_gibbs_steps = n_gibbs_steps
        self.n_mean_field = n_mean_field
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.binarize = binarize
        self.sample_burn_in = sample_burn_in
        self.n_ais_chains = n_ais_chains
        self.n_ais_betas = n_ais_betas
        self.ais_tol = ais_tol
        self.verbose = verbose
        self.random_state = random_state
        self.device = device
        self.dtype = dtype

    # --- input

    def _check_X(self, X, *, reset: bool) -> np.ndarray:
        X = super()._check_X(X, reset=reset)
        return check_binary(X, self.binarize)

    def _layer_sizes(self, n_features: int) -> list[int]:
        sizes = self.hidden_layer_sizes
        if (
            not isinstance(sizes, (tuple, list, np.ndarray))
            or len(sizes) < 2
            or not all(isinstance(s, (int, np.integer)) and s >= 1 for s in sizes)
        ):
            raise ValueError(
                "hidden_layer_sizes of DBM must be a tuple of two or more positive ints (a DBM "
                f"with one hidden layer is an RBM: use genzoo's RBM); got {sizes!r}."
            )
        _limits.check_sizes(sizes)
        return [n_features, *(int(s) for s in sizes)]

    # --- training

    def _fit(self, X, y, gen: torch.Generator) -> dict:
        sizes = self._layer_sizes(X.shape[1])
        data = self._to_tensor(X)  # dtype and device of the model
        total = self.pretrain_iter * (len(sizes) - 1) + self.n_iter
        with tqdm(total=total, desc="DBM", disable=self.verbose <= 0) as bar:
            weights, biases = self._pretrain(data, sizes, gen, bar.update)
            weights, biases = self._train_jointly(data, weights, biases, gen, bar.update)
        weights = [w.double() for w in weights]
        biases = [b.double() for b in biases]
        log_z, stderr, method = self._log_partition(data.double(), weights, biases, gen)
        return {
            "weights_": [w.cpu().numpy() for w in weights],
            "biases_": [b.cpu().numpy() for b in biases],
            "log_partition_": log_z,
            "log_partition_stderr_": stderr,
            "log_partition_method_": method,
            "n_iter_": self.n_iter,
            **self._fitted_input_shape(X),
        }

    def _pretrain(self, data, sizes, gen, callback):
        """Greedy RBM stack with doubled inputs; random small weights if pretrain_iter is 0."""
        like = dict(dtype=data.dtype, device=data.device)
        if self.pretrain_iter == 0:
            weights = [
                0.01 * torch.randn(sizes[i + 1], sizes[i], generator=gen, **like)
                for i in range(len(sizes) - 1)
            ]
            biases = [base_rate_bias(data)] + [torch.zeros(s, **like) for s in sizes[1:]]
            return weights, biases
        top = len(sizes) - 2
        weights, visible_bias, hidden_bias = [], [], []
        layer_data = data
        for k in range(len(sizes) - 1):
            up, down = (2.0 if k < top else 1.0), (2.0 if k > 0 else 1.0)
            W, b, c = pretrain_rbm(
                layer_data,
                sizes[k + 1],
                up=up,
                down=down,
                n_iter=self.pretrain_iter,
                batch_size=self.batch_size,
                learning_rate=self.learning_rate,
                momentum=self.momentum,
                weight_decay=self.weight_decay,
                gen=gen,
                diverged=DIVERGED,
                callback=callback,
            )
            weights.append(W)
            visible_bias.append(b)
            hidden_bias.append(c)
            layer_data = hidden_mean(layer_data, W, c, up)
        # A middle layer is the hidden layer of one RBM and the visible layer of the next:
        # in the DBM it gets half its (doubled) input from each, so its bias is their mean.
        biases = [visible_bias[0]]
        biases += [(hidden_bias[k] + visible_bias[k + 1]) / 2 for k in range(len(sizes) - 2)]
        biases.append(hidden_bias[-1])
        return weights, biases

    def _train_jointly(self, data, weights, biases, gen, callback):
        """Stochastic approximation with persistent chains (Salakhutdinov and Hinton, alg. 1).

        The chains are even blocks (see `_dbm_math`), started at random training rows with
        their even hidden layers drawn from mean-field. Finiteness is checked once per epoch.
        """
        n = len(data)
        start = data[torch.randint(n, (self.n_chains,), generator=gen, device=data.device)]
        mu = mean_field(start, weights, biases, n_iter=self.n_mean_field)
        chains = torch.cat([start] + [bernoulli(m, gen) for m in mu[2::2]], 1)
        velocity = [torch.zeros_like(p) for p in [*weights, *biases]]
        for epoch in range(self.n_iter):
            learning_rate = self.learning_rate / (1 + self.learning_rate_decay * epoch)
            order = torch.randperm(n, generator=gen, device=data.device)
            for begin in range(0, n, self.batch_size):
                chains = persistent_step(
                    data[order[begin : begin + self.batch_size]],
                    chains,
                    weights,
                    biases,
                    velocity,
                    learning_rate=learning_rate,
                    momentum=self.momentum,
                    weight_decay=self.weight_decay,
                    n_mean_field=self.n_mean_field,
                    n_gibbs_steps=self.n_gibbs_steps,
                    gen=gen,
                )
            check_finite([*weights, *biases], DIVERGED)
            callback()
        return weights, biases

    def _log_partition(self, data, weights, biases, gen) -> tuple[float, float, str]:
        """log Z of the odd/even bipartite RBM: exact when small, else AIS from base rates,
        on the model's device in float64."""
        W, b_odd, b_even = bipartite_parameters(weights, biases)
        if min(W.shape) <= _EXACT_MAX_UNITS:
            return float(exact_log_partition(W, b_odd, b_even)), 0.0, "exact"
        odd_means = torch.cat(
            [m.mean(0) for m in self._mean_field(data, weights, biases)[1::2]]
        ).clamp(MEAN_CLIP, 1 - MEAN_CLIP)
        seed = int(torch.randint(2**62, (1,), generator=gen, device=gen.device))
        result = ais_log_partition(
            W,
            b_odd,
            b_even,
            base_visible_bias=torch.logit(odd_means),
            n_chains=self.n_ais_chains,
            n_betas=self.n_ais_betas,
            tol=self.ais_tol,
            random_state=seed,
            progress=self.verbose > 0,
        )
        return float(result.log_z), float(result.stderr), "ais"

    # --- the fitted model

    def _parameters(self, dtype=torch.float64) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Weights and biases as tensors of `dtype` on the model's device."""
        like = dict(dtype=dtype, device=self._device())
        weights = [torch.as_tensor(w, **like) for w in self.weights_]
        return weights, [torch.as_tensor(b, **like) for b in self.biases_]

    def _mean_field(self, X, weights, biases) -> list[torch.Tensor]:
        """Converged mean-field means [v, mu_1, ..., mu_L] of every row of X, in chunks."""
        chunks = [
            mean_field(part, weights, biases, n_iter=_EVAL_MAX_ITER, tol=_EVAL_TOL)
            for part in torch.split(X, _CHUNK_ROWS)
        ]
        return [torch.cat(layer) for layer in zip(*chunks, strict=True)]

    def _log_prob(self, X: torch.Tensor) -> torch.Tensor:
        weights, biases = self._parameters()
        mu = self._mean_field(X.double(), weights, biases)
        return mean_field_bound(mu, weights, biases) - self.log_partition_

    def _sample_item_bytes(self) -> int:
        # every layer's state per chain, with its probabilities and uniforms
        return 4 * 8 * sum(len(b) for b in self.biases_)

    def _sample(self, n_samples: int, y, gen: torch.Generator) -> torch.Tensor:
        self._validate_params()  # sizes changed by set_params after fit
        weights, biases = self._parameters(self._dtype())
        # Fresh chains start from each even unit's bias alone, then burn in.
        even_bias = torch.cat(biases[0::2])
        even = bernoulli(torch.sigmoid(even_bias).expand(n_samples, -1), gen)
        even, _ = gibbs_sweeps(even, weights, biases, n_steps=self.sample_burn_in, gen=gen)
        return even[:, : len(self.biases_[0])]  # v leads the even block, which is sampled last

    @property
    def _n_features_out(self) -> int:
        """Width of `transform`: the units of the top layer (what transform gives by default)."""
        return int(self.hidden_layer_sizes[-1])

    def transform(self, X, *, layer: int | None = -1) -> np.ndarray:
        """Return the mean-field posterior means of hidden layer `layer` for each row of X.

        `layer` indexes `hidden_layer_sizes` (-1, the default, is the top layer); None
        concatenates all hidden layers, bottom first. Shape (n_samples, units).
        """
        self._check_fitted()
        validate_params(self, self._parameter_constraints)  # device, after set_params
        n_hidden = len(self.weights_)
        if layer is not None and not (
            isinstance(layer, (int, np.integer)) and -n_hidden <= layer < n_hidden
        ):
            raise ValueError(
                f"layer must be None or an int in [-{n_hidden}, {n_hidden}); got {layer!r}."
            )
        X = self._check_X(X, reset=False)
        X = torch.as_tensor(X, dtype=torch.float64, device=self._device())
        weights, biases = self._parameters()
        with torch.no_grad():
            mu = self._mean_field(X, weights, biases)[1:]
        out = torch.cat(mu, 1) if layer is None else mu[layer]
        return out.cpu().numpy()
