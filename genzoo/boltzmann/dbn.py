"""Deep belief network: a stack of RBMs trained greedily, layer by layer (Hinton, Osindero &
Teh, 2006), with log-likelihoods from Salakhutdinov & Murray's variational lower bound (2008).

Layers h_0 = v, h_1, ..., h_L. The top two layers form an undirected RBM; every lower layer
is generated from the one above by a directed sigmoid belief net,

    p(v, h_1, ..., h_L) = prod_{l=1}^{L-1} p(h_(l-1) | h_l)  p_top(h_(L-1), h_L),
    p(h_(l-1) | h_l) = prod_i sigmoid(b_l + W_l^T h_l)_i,

where W_l and b_l are the weights and visible biases of the l-th RBM of the greedy stack, and
its hidden biases c_l give the factorial recognition posterior Q(h_l | h_(l-1)) =
sigmoid(c_l + W_l h_(l-1)).
"""

from __future__ import annotations

import hashlib
import math
import numbers

import numpy as np
import torch
from tqdm.auto import tqdm

from genzoo._validation import Interval, Options, check_binary, make_generator, validate_params
from genzoo.base import FeatureTransformerMixin, GenerativeModel
from genzoo.boltzmann import _limits
from genzoo.boltzmann._dbm_math import bernoulli_entropy
from genzoo.boltzmann._rbm_math import bernoulli, free_energy, hidden_mean, softplus, visible_mean
from genzoo.boltzmann.rbm import RBM
from genzoo.registry import register

__all__ = ["DBN"]

# The DBN's arguments that every layer's RBM takes as they are (and checks as the RBM does).
_LAYER_PARAMS = (
    "learning_rate", "batch_size", "n_iter", "k", "persistent", "momentum", "weight_decay",
    "learning_rate_schedule", "sample_burn_in", "n_ais_chains", "n_ais_betas", "ais_tol", "device",
    "dtype",
)  # fmt: skip
_RBM_STATES = "_rbm_states"  # values of each layer's RBM; its arrays go in `rbms_.<l>.<name>`
# Most elements (posterior samples x rows x width) of the largest array of one chunk of
# `log_prob`: the noise over all directed layers, or the widest layer's activations.
_CHUNK_ELEMENTS = 2**22


# --- the bound


def row_uniforms(X: np.ndarray, n_samples: int, width: int, seed: int) -> np.ndarray:
    """Uniform noise (n_samples, n_rows, width), a function of each row's values and `seed`.

    Each row seeds its own generator from a hash of (seed, its bytes), so a row gets the same
    noise in any batch (log_prob of halves equals log_prob of the whole), and distinct rows
    get independent noise. One generator per row costs about 10 us, little beside the draws
    and the pass up the stack; a vectorised hash-based generator would change every draw.
    """
    out = np.empty((n_samples, len(X), width))
    # + 0.0 turns -0.0 into 0.0, which compare equal but hash differently.
    rows = np.ascontiguousarray(X, dtype=np.float64) + 0.0
    # Any int seed is valid (as in make_generator): reduce it to 8 bytes.
    prefix = (int(seed) % 2**63).to_bytes(8, "little")
    for i, row in enumerate(rows):
        digest = hashlib.blake2b(prefix + row.tobytes(), digest_size=8).digest()
        out[:, i] = np.random.default_rng(int.from_bytes(digest, "little")).random(
            (n_samples, width)
        )
    return out


def _bernoulli_log_prob(h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log prod_i sigmoid(x_i)^h_i (1 - sigmoid(x_i))^(1 - h_i), summed over the last axis."""
    return (h * x - softplus(x)).sum(-1)


def log_weights(v, directed, top, u: torch.Tensor, estimator: str) -> torch.Tensor:
    """One Monte-Carlo term of log p*(v) per posterior sample, (n_samples, n), unnormalised.

    v (n, d) binary rows; `directed` the (W_l, b_l, c_l) of layers 1..L-1; `top` the top RBM's
    (W_L, b_L, c_L); u (n_samples, n, sum of widths of h_1..h_(L-1)) uniforms that draw
    h_l ~ Q(h_l | h_(l-1)) up the stack. For "bound" a term is
    sum_l [log p(h_(l-1) | h_l) + H(Q(. | h_(l-1)))] - F_top(h_(L-1)), whose mean is unbiased
    for Salakhutdinov & Murray's bound (eq. 17, applied recursively; the entropy of each
    factorial Q given the layer below is exact). For "importance" it is the log importance
    weight log [p(h_0..h_(L-1)) / Q(h_1..h_(L-1) | v)] with the top layer's p* = exp(-F_top).
    """
    S, n = u.shape[:2]
    below = v.expand(S, n, v.shape[1]).reshape(S * n, -1)  # (S n, d): h_0 for every sample
    total = v.new_zeros(S * n)
    offset = 0
    for W, b, c in directed:
        width = W.shape[0]
        x = torch.addmm(c, below, W.T)  # (S n, width): logits of Q(h_l | h_(l-1))
        q = torch.sigmoid(x)
        noise = u[:, :, offset : offset + width].reshape(S * n, width)
        h = (noise < q).to(v.dtype)
        a = torch.addmm(b, h, W)  # (S n, width below): logits of p(h_(l-1) | h_l)
        total += _bernoulli_log_prob(below, a)
        if estimator == "bound":
            total += bernoulli_entropy(q)
        else:
            total -= _bernoulli_log_prob(h, x)
        below, offset = h, offset + width
    total -= free_energy(below, *top, "bernoulli")
    return total.view(S, n)


# --- the model


@register(
    "dbn",
    family="boltzmann",
    data_kind="vectors",
    default_dataset="digits_binary",
    zoo_datasets=("bars_binary",),
    fixture_dataset="digits_binary",
    fixture_size=200,
    test_params={
        "hidden_layer_sizes": (16, 8), "n_iter": 3, "batch_size": 20, "learning_rate": 0.05,
        "sample_burn_in": 20, "n_posterior_samples": 10, "random_state": 0,
    },
    quick_params={
        "hidden_layer_sizes": (64, 32), "n_iter": 100, "estimator": "importance",
        "n_ais_betas": 5_000, "ais_tol": None, "random_state": 0,
    },
    zoo_params={
        "hidden_layer_sizes": (256, 128), "n_iter": 100, "estimator": "importance",
        "random_state": 0,
    },
)  # fmt: skip
class DBN(FeatureTransformerMixin, GenerativeModel):
    """Deep belief network over binary vectors: RBMs stacked and trained greedily.

    The first RBM learns the data; each next RBM learns the hidden probabilities p(h = 1 | x)
    of the one below on the training data (Hinton et al., 2006; probabilities rather than
    sampled states, as Hinton's practical guide and code do, for less noisy statistics).
    Every RBM is genzoo's `RBM`, trained by CD-k or PCD-k with the arguments below and a seed
    drawn from `random_state`. The fitted model is generative top-down: the top RBM is a prior
    over the last two layers, the layers below are directed sigmoid belief nets.

    `sample` runs block Gibbs in the top RBM from the base rate for `sample_burn_in` sweeps,
    then one downward pass that draws binary states of each lower layer,
    h_(l-1) ~ sigmoid(b_l + W_l^T h_l), and returns the visible states.

    `log_prob` is an *estimate*, not a bound one can trust blindly: a stochastic variational
    lower bound on log p*(v) minus the top RBM's log Z, which is exact by enumeration when the
    top RBM is small enough (see `RBM`) and otherwise an AIS estimate (Salakhutdinov & Murray,
    2008, sec. 5). With estimator="bound" it is the mean over `n_posterior_samples` draws
    from the recognition posterior Q(h_1 | v) Q(h_2 | h_1) ... of
    sum_l [log p(h_(l-1) | h_l) + H(Q(. | h_(l-1)))] - F_top(h_(L-1)) - log Z_top, an unbiased
    estimate of their bound (eq. 17, applied up the stack). With "importance" it is the log of
    the mean importance weight p(v, h) / Q(h | v) over the same draws, which is tighter: its
    expectation lies between the bound and log p(v). One hidden layer is the RBM itself, and
    `log_prob` is then the RBM's -F(v) - log Z.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(256, 128)
        Width of each hidden layer, bottom to top; one or more, each at most 2^16.
    learning_rate : float, default=0.05
    batch_size : int, default=20
    n_iter : int, default=50
        Epochs of training per layer.
    k : int, default=1
        Gibbs sweeps of each RBM's negative phase.
    persistent : bool, default=True
        Persistent chains (PCD) rather than CD.
    momentum : float, default=0.5
    weight_decay : float, default=0.0
    learning_rate_schedule : {"constant", "linear"}, default="linear"
        These six are passed to every layer's `RBM`, and bounded as there. Momentum 0.5 and
        the linear decay gain about 4 nats of held-out bound on binarised digits over plain
        SGD.
    binarize : float or None, default=None
        Threshold above which a feature is 1; None requires X to hold only 0 and 1.
    sample_burn_in : int, default=1000
        Block Gibbs sweeps in the top RBM before the downward pass of `sample`, at most 10^6.
    n_posterior_samples : int, default=100
        Draws from the recognition posterior per row in `log_prob`, at most 10^5.
    estimator : {"bound", "importance"}, default="bound"
        What `log_prob` averages over those draws (above).
    n_ais_chains : int, default=100
    n_ais_betas : int or None, default=None
    ais_tol : float or None, default=0.05
        AIS settings of the top RBM's log Z, when it is estimated (as `RBM`'s): chains of the
        first round, temperatures (None adapts them to the weights) and the standard error
        at which chains stop being added.
    verbose : int, default=0
        1 shows a progress bar over layers; 2 also each RBM's epochs and the AIS run.
    random_state : int or None
        Seeds each layer's training and AIS run and, unless it gets its own, `sample`. The
        posterior draws of `log_prob` for a row come from a hash of this seed (0 when None)
        and the row's values: deterministic per row, whatever the batch.
    device : str or torch.device, default="auto"
        Where the layers train and sample (as `RBM`'s).
    dtype : {"float32", "float64"}, default="float32"
        Precision of training and sampling (as `RBM`'s); likelihoods are always float64.

    Attributes
    ----------
    rbms_ : list of RBM
        The fitted layers, bottom first; `rbms_[l].components_` is W_(l+1), shape
        (hidden_layer_sizes[l], width of the layer below).
    log_partition_ : float
        log Z of the top RBM.
    log_partition_stderr_ : float
        Its standard error (0 when exact).
    log_partition_method_ : {"exact", "ais"}
    n_features_in_ : int

    Examples
    --------
    >>> from genzoo.boltzmann.dbn import DBN
    >>> from genzoo.data import load
    >>> data = load("digits_binary")
    >>> dbn = DBN(hidden_layer_sizes=(64, 16), n_iter=5, random_state=0).fit(data.X_train)
    >>> dbn.sample(4).shape, dbn.transform(data.X_test).shape, dbn.log_prob(data.X_test).shape
    ((4, 64), (360, 16), (360,))
    """

    likelihood_kind = "estimate"
    discrete_likelihood = True  # probabilities of binary vectors
    fitted_attributes = (
        "rbms_",
        "log_partition_",
        "log_partition_stderr_",
        "log_partition_method_",
        "n_features_in_",
        "input_shape_",
    )
    _parameter_constraints = {
        "hidden_layer_sizes": ["array-like"],
        **{name: RBM._parameter_constraints[name] for name in _LAYER_PARAMS},
        "binarize": [Interval(float, None, None), None],
        "n_posterior_samples": [Interval(int, 1, _limits.MAX_POSTERIOR_SAMPLES)],
        "estimator": [Options("bound", "importance")],
        "verbose": [Interval(int, 0, None)],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        hidden_layer_sizes: tuple[int, ...] = (256, 128),
        *,
        learning_rate: float = 0.05,
        batch_size: int = 20,
        n_iter: int = 50,
        k: int = 1,
        persistent: bool = True,
        momentum: float = 0.5,
        weight_decay: float = 0.0,
        learning_rate_schedule: str = "linear",
        binarize: float | None = None,
        sample_burn_in: int = 1000,
        n_posterior_samples: int = 100,
        estimator: str = "bound",
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
        self.batch_size = batch_size
        self.n_iter = n_iter
        self.k = k
        self.persistent = persistent
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.learning_rate_schedule = learning_rate_schedule
        self.binarize = binarize
        self.sample_burn_in = sample_burn_in
        self.n_posterior_samples = n_posterior_samples
        self.estimator = estimator
        self.n_ais_chains = n_ais_chains
        self.n_ais_betas = n_ais_betas
        self.ais_tol = ais_tol
        self.verbose = verbose
        self.random_state = random_state
        self.device = device
        self.dtype = dtype

    # --- input

    def _check_X(self, X, *, reset: bool) -> np.ndarray:
        X = super()._check_X(X, reset=reset)  # NaN and infinity are refused before binarising
        return check_binary(X, self.binarize)

    def _layer_sizes(self) -> tuple[int, ...]:
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, np.ndarray):
            sizes = sizes.tolist()
        ok = all(isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in sizes)
        if len(sizes) == 0 or not ok or min(sizes) < 1:
            raise ValueError(
                "hidden_layer_sizes must be a non-empty sequence of positive ints, one per "
                f"hidden layer; got {self.hidden_layer_sizes!r}."
            )
        _limits.check_sizes(sizes)
        return tuple(int(s) for s in sizes)

    # --- fitting

    def _fit(self, X, y, gen) -> dict:
        sizes = self._layer_sizes()
        seeds = torch.randint(2**31, (len(sizes),), generator=gen, device=gen.device).tolist()
        H = X
        rbms = []
        bar = tqdm(sizes, desc="DBN layers", disable=self.verbose <= 0)
        for depth, (size, seed) in enumerate(zip(bar, seeds, strict=True)):
            rbm = self._layer(size, seed, top=depth == len(sizes) - 1)
            _fit_layer(rbm, H)
            rbms.append(rbm)
            # The next layer learns this one's hidden probabilities (Hinton et al., 2006).
            if len(rbms) < len(sizes):
                H = _upward(rbm, H)
        # The top log Z is needed by every log_prob: the top RBM's fit estimates it once, so
        # that log_prob and the saved state never change. The lower layers need none.
        top = rbms[-1]
        return {
            "rbms_": rbms,
            "log_partition_": float(top.log_partition_),
            "log_partition_stderr_": float(top.log_partition_stderr_),
            "log_partition_method_": top.log_partition_method_,
            **self._fitted_input_shape(X),
        }

    def _layer(self, n_components: int, seed: int, *, top: bool = True) -> RBM:
        """An unfitted RBM for one layer, with this model's training arguments; only the top
        one computes its log Z."""
        return RBM(
            n_components,
            **{name: getattr(self, name) for name in _LAYER_PARAMS},
            verbose=max(self.verbose - 1, 0),
            random_state=seed,
            compute_log_partition=top,
        )

    # --- likelihood

    def _log_prob(self, X: torch.Tensor) -> torch.Tensor:
        X = X.to(torch.float64)
        params = [rbm._params() for rbm in self.rbms_]  # float64 (W, b, c) per layer
        if len(params) == 1:  # the RBM itself: its free energy is exact
            return -free_energy(X, *params[0], "bernoulli") - self.log_partition_
        directed, top = params[:-1], params[-1]
        width = sum(W.shape[0] for W, _, _ in directed)
        S = self.n_posterior_samples
        seed = 0 if self.random_state is None else self.random_state
        widest = max(max(W.shape) for W, _, _ in params)
        rows = max(1, _CHUNK_ELEMENTS // (S * max(width, widest)))
        out = []
        for part in torch.split(X, rows):
            u = torch.as_tensor(row_uniforms(part.cpu().numpy(), S, width, seed), device=X.device)
            log_w = log_weights(part, directed, top, u, self.estimator)  # (S, rows)
            if self.estimator == "bound":
                out.append(log_w.mean(0))
            else:
                out.append(torch.logsumexp(log_w, 0) - math.log(S))
        return torch.cat(out) - self.log_partition_

    # --- sampling

    def _sample_item_bytes(self) -> int:
        return max(rbm._sample_item_bytes() for rbm in self.rbms_)

    def _sample(self, n_samples: int, y, gen) -> torch.Tensor:
        self._validate_params()  # sizes changed by set_params after fit
        # Block Gibbs in the top RBM from its base rate: its visible states are h_(L-1).
        h = self.rbms_[-1]._draw(n_samples, gen, burn_in=self.sample_burn_in)
        for rbm in reversed(self.rbms_[:-1]):  # the directed pass down to the data
            W, b, _ = rbm._params(h.dtype)
            h = bernoulli(visible_mean(h, W, b, "bernoulli"), gen)
        return h

    # --- public methods beyond the protocol

    @property
    def _n_features_out(self) -> int:
        """Width of `transform`: the units of the top layer."""
        return int(self.hidden_layer_sizes[-1])

    def transform(self, X) -> np.ndarray:
        """Return the top layer's hidden probabilities after an upward mean-field pass,
        (n_samples, hidden_layer_sizes[-1])."""
        self._check_fitted()
        H = self._check_X(X, reset=False)
        for rbm in self.rbms_:
            H = _upward(rbm, H)
        return H

    # --- files of format 1 kept each layer's state under a prefix

    def _from_legacy_state(self, arrays: dict[str, np.ndarray], values: dict) -> dict:
        values = dict(values)
        specs = values.pop(_RBM_STATES)
        own = {k: a for k, a in arrays.items() if not k.startswith("rbms_.")}
        rbms = []
        for layer, spec in enumerate(specs):
            prefix = f"rbms_.{layer}."
            rbm_arrays = {k[len(prefix) :]: a for k, a in arrays.items() if k.startswith(prefix)}
            rbm = spec["model"]  # an unfitted RBM with the saved params
            rbm._load_fitted(rbm._from_legacy_state(rbm_arrays, dict(spec["values"])))
            rbms.append(rbm)
        return {**values, **own, "rbms_": rbms}


def _fit_layer(rbm: RBM, H: np.ndarray) -> None:
    """Fit one layer's RBM on H, binary data or the hidden probabilities of the layer below.

    `RBM.fit` refuses values between 0 and 1; its contrastive-divergence statistics take them
    as they are (the mean-field data of Hinton's guide, sec. 3.2), so this runs the RBM's own
    training hook with the generator `fit` would make.
    """
    validate_params(rbm, rbm._parameter_constraints)
    gen = make_generator(rbm.random_state, rbm._device())
    # A fresh writable copy: X may be read-only (a DataFrame's memory), H is shared.
    rbm._commit(rbm._fit(np.array(H, dtype=np.float64), None, gen))


def _upward(rbm: RBM, H: np.ndarray) -> np.ndarray:
    """p(h = 1 | H) of a fitted layer, for binary or fractional (mean-field) rows H."""
    W, _, c = rbm._params()
    H = torch.tensor(H, dtype=W.dtype, device=W.device)  # a copy: H may be read-only memory
    with torch.no_grad():
        return hidden_mean(H, W, c).cpu().numpy()
