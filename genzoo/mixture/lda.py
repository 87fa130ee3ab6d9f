"""Latent Dirichlet allocation: batch or online variational Bayes, or collapsed Gibbs sampling."""

from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import numpy as np
import scipy.sparse
import torch
import torch.distributed as dist
from tqdm.auto import tqdm

from genzoo._validation import (
    MAX_ITERATIONS,
    MAX_RESTARTS,
    MAX_ROWS,
    MAX_WIDTH,
    Interval,
    Options,
    check_n_samples,
    check_size,
)
from genzoo.base import FeatureTransformerMixin, GenerativeModel
from genzoo.mixture._lda_estep import fit_documents, sum_chunks
from genzoo.mixture._lda_math import (
    Documents,
    Padded,
    Tokens,
    check_counts,
    count_assignments,
    dirichlet_expectation,
    gibbs_priors,
    gibbs_sweep,
    log_multinomial_coefficient,
    sample_documents,
    topic_bound,
    variational_priors,
)
from genzoo.registry import register
from genzoo.training.em import all_reduce_sum, broadcast, is_distributed

__all__ = ["LatentDirichletAllocation"]

# Passes when max_iter is None: scikit-learn's default, and sweeps of a Gibbs chain.
_DEFAULT_PASSES = {"batch": 10, "online": 10, "gibbs": 200}
# Tokens of a document are resampled in this many groups per Gibbs sweep (see gibbs_sweep).
_GIBBS_GROUPS = 32
_MAX_DOC_LENGTH = 10**7  # words in one sampled document
# learn_priors waits this many updates: the priors fitted to topics still forming are huge
# and lead to a degenerate fit of identical, uniform topics.
_PRIOR_BURN_IN = 10
_GIBBS_AVERAGE = 0.1  # share of the last Gibbs sweeps averaged into components_


class _Fit(NamedTuple):
    lambda_: torch.Tensor
    alpha: torch.Tensor
    eta: float
    n_iter: int
    n_batch_iter: int
    history: list[float]


@register(
    "lda",
    family="mixture",
    data_kind="counts",
    default_dataset="bars",
    fixture_dataset="bars",
    fixture_size=200,
    test_params={"n_components": 10, "max_iter": 20, "random_state": 0},
    # The bars documents draw their topic proportions from Dirichlet(1) (Griffiths and Steyvers
    # 2004); with that prior VB finds every bar, with the default 1/K it often merges two.
    quick_params={"n_components": 10, "doc_topic_prior": 1.0, "max_iter": 50, "random_state": 0},
    zoo_params={"n_components": 10, "doc_topic_prior": 1.0, "max_iter": 150, "random_state": 0},
)
class LatentDirichletAllocation(FeatureTransformerMixin, GenerativeModel):
    """Latent Dirichlet allocation (Blei, Ng and Jordan 2003) over word counts.

    Each document d draws topic proportions theta_d ~ Dirichlet(alpha), each of its words a
    topic z ~ theta_d and then the word from that topic's distribution beta_z; the topics have
    the prior beta_k ~ Dirichlet(eta). Names and results follow scikit-learn's
    LatentDirichletAllocation (`components_` is the variational Dirichlet parameter lambda of
    the topics). The E-step runs on all documents of a chunk at once in PyTorch, and the fit
    sums statistics over chunks and over processes under torch.distributed.

    `log_prob` is each document's evidence lower bound (`likelihood_kind="lower_bound"`) of
    its count vector, with q(beta) = Dirichlet(components_) fixed: log(N_d! / prod_w n_dw!)
    + E_q[log p(words_d | theta_d, beta)] - KL(q(theta_d) || p(theta_d)). `perplexity` is
    scikit-learn's: exp(-bound / words), the bound summing the same without the multinomial
    coefficients, plus E_q[log p(beta) - log q(beta)] once.

    Parameters
    ----------
    n_components : int, default=10
        Number of topics K.
    doc_topic_prior : float, array-like of shape (n_components,) or None, default=None
        alpha; None is 1 / n_components. An array gives each topic its own (asymmetric) prior.
    topic_word_prior : float or None, default=None
        eta, the symmetric prior of the topic-word distributions; None is 1 / n_components.
    learning_method : {"batch", "online", "gibbs"}, default="batch"
        "batch": variational Bayes over all documents per pass; its bound never decreases.
        "online": stochastic variational Bayes on minibatches of `batch_size` documents
        (Hoffman, Blei and Bach 2010), lambda <- (1 - rho) lambda + rho lambda_hat with
        rho = (learning_offset + t) ** -learning_decay at update t = 1, 2, ....
        "gibbs": collapsed Gibbs sampling (Griffiths and Steyvers 2004), group-parallel as
        AD-LDA (see `gibbs_sweep`); components_ is eta plus the topic-word counts averaged
        over the last tenth of the sweeps, which `transform` and `log_prob` use as lambda.
    n_init : int, default=1
        Fits from different random initial topics; the one with the highest evidence lower
        bound on the training data is kept (LDA's bound has local optima).
    learning_decay, learning_offset : float, default=0.7 and 10.0
        kappa and tau_0 of the online step size.
    max_iter : int or None, default=None
        Passes over the data (sweeps for "gibbs"); None is 10 for the variational methods (as
        scikit-learn) and 200 for "gibbs".
    batch_size : int, default=128
        Documents per online update (per process under torch.distributed).
    evaluate_every : int, default=-1
        Every this many passes (> 0), stop on `tol`; <= 0 runs all `max_iter`, as
        scikit-learn. "online" and "gibbs" compute the training bound (an E-step) then.
    total_samples : float, default=1e6
        Corpus size assumed by `partial_fit` (the data of one `fit` is its own corpus).
    tol : float, default=1e-4
        Stop when the bound per word (nats) gains less than this between checks.
    mean_change_tol : float, default=1e-3
        A document's E-step stops when its gamma changes by less than this on average.
    max_doc_update_iter : int, default=100
        Most E-step iterations per document.
    learn_priors : bool, default=False
        Also learn alpha (per topic if `doc_topic_prior` is an array) and eta by maximising
        the bound (Minka 2000: fixed points, Newton's method), from the eleventh update on
        (earlier, topics are still forming); online steps move them by rho as lambda.
    random_state : int or None
        Seeds the initial topics (or Gibbs topics) and, unless `sample` gets its own, sampling.
    verbose : int, default=0
        Show a progress bar of passes when > 0.
    device : str, default="auto"; dtype : {"float64", "float32"}, default="float64"

    Attributes
    ----------
    components_ : (n_components, n_features) lambda, the topics' variational Dirichlet parameters
    exp_dirichlet_component_ : (n_components, n_features) exp(E[log beta])
    topic_word_ : (n_components, n_features) each topic's mean word distribution
    doc_topic_prior_ : float, or (n_components,) for an asymmetric prior
    topic_word_prior_ : float
    n_iter_ : int, passes (or sweeps) done
    n_batch_iter_ : int, updates of lambda done (one per pass in batch, per minibatch online)
    bound_ : list of float, the training data's evidence lower bound (nats): for "batch" at
        every pass, before its M-step (it never decreases); else at each `evaluate_every`
    mean_doc_length_ : float, words per training document, the default length of `sample`
    n_docs_seen_ : int, training documents (of all processes; summed over `partial_fit` calls)
    n_features_in_ : int

    Examples
    --------
    >>> from genzoo.mixture import LatentDirichletAllocation
    >>> from genzoo.data.bars import make_bars
    >>> X, _ = make_bars(300, random_state=0)
    >>> lda = LatentDirichletAllocation(10, max_iter=20, random_state=0).fit(X)
    >>> lda.transform(X[:2]).shape, lda.sample(3, doc_length=50).sum(1)
    ((2, 10), array([50., 50., 50.]))
    """

    likelihood_kind = "lower_bound"
    data_kind = "counts"
    takes_sparse = True
    fitted_attributes = (
        "components_",
        "exp_dirichlet_component_",
        "topic_word_",
        "doc_topic_prior_",
        "topic_word_prior_",
        "n_iter_",
        "n_batch_iter_",
        "bound_",
        "mean_doc_length_",
        "n_docs_seen_",
        "n_features_in_",
        "input_shape_",
    )
    _parameter_constraints = {
        "n_components": [Interval(int, 1, MAX_WIDTH)],
        "doc_topic_prior": [Interval(float, 0, None, closed="neither"), "array-like", None],
        "topic_word_prior": [Interval(float, 0, None, closed="neither"), None],
        "learning_method": [Options("batch", "online", "gibbs")],
        "n_init": [Interval(int, 1, MAX_RESTARTS)],
        "learning_decay": [Interval(float, 0, 1)],
        "learning_offset": [Interval(float, 0, None, closed="neither")],
        "max_iter": [Interval(int, 1, MAX_ITERATIONS), None],
        "batch_size": [Interval(int, 1, MAX_ROWS)],
        "evaluate_every": [Interval(int, None, None)],
        "total_samples": [Interval(float, 0, None, closed="neither")],
        "tol": [Interval(float, 0, None)],
        "mean_change_tol": [Interval(float, 0, None)],
        "max_doc_update_iter": [Interval(int, 1, MAX_ITERATIONS)],
        "learn_priors": [bool],
        "random_state": ["random_state"],
        "verbose": [Interval(int, 0, None)],
        "device": ["device"],
        "dtype": ["dtype"],
    }

    def __init__(
        self,
        n_components: int = 10,
        *,
        doc_topic_prior: float | None = None,
        topic_word_prior: float | None = None,
        learning_method: str = "batch",
        n_init: int = 1,
        learning_decay: float = 0.7,
        learning_offset: float = 10.0,
        max_iter: int | None = None,
        batch_size: int = 128,
        evaluate_every: int = -1,
        total_samples: float = 1e6,
        tol: float = 1e-4,
        mean_change_tol: float = 1e-3,
        max_doc_update_iter: int = 100,
        learn_priors: bool = False,
        random_state: int | None = None,
        verbose: int = 0,
        device: str = "auto",
        dtype: str = "float64",
    ):
        self.n_components = n_components
        self.doc_topic_prior = doc_topic_prior
        self.topic_word_prior = topic_word_prior
        self.learning_method = learning_method
        self.n_init = n_init
        self.learning_decay = learning_decay
        self.learning_offset = learning_offset
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.evaluate_every = evaluate_every
        self.total_samples = total_samples
        self.tol = tol
        self.mean_change_tol = mean_change_tol
        self.max_doc_update_iter = max_doc_update_iter
        self.learn_priors = learn_priors
        self.random_state = random_state
        self.verbose = verbose
        self.device = device
        self.dtype = dtype

    # --- input

    def _fit_flops(self, X) -> float:
        """One pass: about 4 operations per stored count and topic in each of the E-step's
        iterations per document (a few dozen; 32 counted)."""
        return 4.0 * 32 * X.nnz * self.n_components

    def _check_X(self, X, *, reset: bool) -> scipy.sparse.csr_matrix:
        """Dense or scipy.sparse counts as a checked CSR matrix of float64 counts."""
        if not scipy.sparse.issparse(X):
            return check_counts(scipy.sparse.csr_matrix(super()._check_X(X, reset=reset)))
        X = check_counts(X)
        if not reset and X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input (its vocabulary)."
            )
        return X

    def _to_device(self, X) -> Documents:
        """Checked counts as CSR tensors on the model's device."""
        return Documents.from_csr(X, self._device(), self._dtype())

    def _priors(self, n_features: int) -> tuple[torch.Tensor, float]:
        """The initial alpha (K,) and eta, checked."""
        K, t = self.n_components, self._tensor
        eta = 1.0 / K if self.topic_word_prior is None else float(self.topic_word_prior)
        if self.doc_topic_prior is None or isinstance(self.doc_topic_prior, numbers.Real):
            a = 1.0 / K if self.doc_topic_prior is None else float(self.doc_topic_prior)
            return t(np.full(K, a)), eta
        alpha = np.asarray(self.doc_topic_prior, dtype=np.float64)
        if alpha.shape != (K,) or not np.isfinite(alpha).all() or (alpha <= 0).any():
            raise ValueError(
                f"doc_topic_prior must be a positive float or {K} positive values (one per "
                f"topic); got {self.doc_topic_prior!r}."
            )
        return t(alpha), eta

    @property
    def _symmetric_alpha(self) -> bool:
        return self.doc_topic_prior is None or isinstance(self.doc_topic_prior, numbers.Real)

    def _tensor(self, array) -> torch.Tensor:
        return torch.as_tensor(np.asarray(array), dtype=self._dtype(), device=self._device())

    def _passes(self) -> int:
        return _DEFAULT_PASSES[self.learning_method] if self.max_iter is None else self.max_iter

    # --- fitting

    def _fit(self, X, y, gen) -> dict:
        docs = self._to_device(X)
        alpha, eta = self._priors(X.shape[1])
        totals = {"docs": docs.count.new_tensor(float(len(docs))), "words": docs.count.sum()}
        totals = all_reduce_sum(totals)
        if float(totals["words"]) == 0:
            raise ValueError("X holds no words: every document is empty.")
        n_docs = float(totals["docs"])
        run = {"batch": self._fit_batch, "online": self._fit_online, "gibbs": self._fit_gibbs}
        best, best_bound = None, -math.inf
        for trial in range(self.n_init):
            bar = tqdm(
                total=self._passes(),
                desc=f"LDA ({self.learning_method}) init {trial + 1}/{self.n_init}",
                disable=self.verbose <= 0 or (is_distributed() and dist.get_rank() != 0),
            )
            with torch.no_grad():
                fit = _Fit(*run[self.learning_method](docs, alpha, eta, gen, n_docs, bar))
                bound = self._final_bound(docs, fit) if self.n_init > 1 else 0.0
            bar.close()
            if best is None or bound > best_bound:
                best, best_bound = fit, bound
        return {
            **self._attributes(best.lambda_, best.alpha, best.eta),
            "n_iter_": best.n_iter,
            "n_batch_iter_": best.n_batch_iter,
            "bound_": best.history,
            "mean_doc_length_": float(totals["words"]) / n_docs,
            "n_docs_seen_": int(n_docs),
            "n_features_in_": X.shape[1],
            "input_shape_": [X.shape[1]],
        }

    def _final_bound(self, docs, fit: _Fit) -> float:
        if self.learning_method == "batch":
            return fit.history[-1]
        return self._training_bound(docs, fit.lambda_, fit.alpha, fit.eta)[0]

    def _init_topics(self, n_features: int, gen) -> torch.Tensor:
        """lambda ~ Gamma(100, 1/100) per entry, as scikit-learn; rank 0's everywhere."""
        shape = torch.full(
            (self.n_components, n_features), 100.0, dtype=torch.float64, device=self._device()
        )
        lambda_ = (torch._standard_gamma(shape, generator=gen) / 100.0).to(self._dtype())
        return broadcast({"lambda": lambda_})["lambda"]

    def _e_step_all(self, chunks, lambda_, alpha, gammas):
        max_iter, tol = self.max_doc_update_iter, self.mean_change_tol
        return sum_chunks(chunks, lambda_, alpha, gammas, max_iter=max_iter, tol=tol)

    def _fit_batch(self, docs, alpha, eta, gen, n_docs, bar):
        """Batch variational Bayes: E-step on every chunk, lambda = eta + summed statistics.

        Each E-step starts every document afresh, as scikit-learn's, which finds better
        topics than continuing from the last pass. Should that lower the bound (computed in the
        E-step, before the M-step), the pass is redone with the documents whose last gamma
        bounds them better continuing from it (see `e_step`): a coordinate ascent, so the
        recorded bound never decreases.
        """
        lambda_ = self._init_topics(docs.n_words, gen)
        chunks = docs.chunks(self.n_components)
        gammas = [None] * len(chunks)
        history, n_iter = [], 0
        for n_iter in range(1, self._passes() + 1):
            fresh = [None] * len(chunks)
            stats, new_gammas = self._e_step_all(chunks, lambda_, alpha, fresh)
            bound = float(stats["bound"] + topic_bound(lambda_, eta))
            if history and bound < history[-1]:  # the same decision on every process
                stats, new_gammas = self._e_step_all(chunks, lambda_, alpha, gammas)
                bound = float(stats["bound"] + topic_bound(lambda_, eta))
            gammas = new_gammas
            history.append(bound)
            lambda_ = eta + stats["topic_word"]
            if self.learn_priors and n_iter > _PRIOR_BURN_IN:
                alpha, eta = self._update_priors(alpha, eta, stats, lambda_)
            bar.update(1)
            every = self.evaluate_every
            if (
                every > 0
                and n_iter % every == 0
                and self._converged(history, stats["n_tokens"], every)
            ):
                break
        return lambda_, alpha, eta, n_iter, n_iter, history

    def _converged(self, history: list[float], n_tokens, lag: int = 1) -> bool:
        """Whether the bound per word gained less than `tol` over the last `lag` entries."""
        if len(history) <= lag:
            return False
        return abs(history[-1] - history[-1 - lag]) / max(float(n_tokens), 1.0) < self.tol

    def _update_priors(self, alpha, eta, stats, lambda_, rho: float = 1.0):
        return variational_priors(alpha, eta, stats, lambda_, rho, self._symmetric_alpha)

    def _minibatches(self, docs: Documents, n_docs: float) -> list[list[Padded]]:
        """Consecutive minibatches (each a list of chunks), equally many on every process."""
        world = dist.get_world_size() if is_distributed() else 1
        steps = max(math.ceil(n_docs / (self.batch_size * world)), 1)
        bounds = np.linspace(0, len(docs), steps + 1).round().astype(int)
        return [
            docs.rows(a, b).chunks(self.n_components)
            for a, b in zip(bounds[:-1], bounds[1:], strict=True)
        ]

    def _online_update(self, chunks, lambda_, alpha, eta, n_docs, step):
        """One stochastic step (Hoffman et al. 2010, algorithm 2) on a minibatch."""
        stats, _ = self._e_step_all(chunks, lambda_, alpha, [None] * len(chunks))
        if float(stats["n_docs"]) == 0:
            return lambda_, alpha, eta
        rho = (self.learning_offset + step) ** -self.learning_decay
        lambda_hat = eta + n_docs / stats["n_docs"] * stats["topic_word"]
        lambda_ = (1 - rho) * lambda_ + rho * lambda_hat
        if self.learn_priors and step > _PRIOR_BURN_IN:
            alpha, eta = self._update_priors(alpha, eta, stats, lambda_, rho)
        return lambda_, alpha, eta

    def _fit_online(self, docs, alpha, eta, gen, n_docs, bar):
        lambda_ = self._init_topics(docs.n_words, gen)
        batches = self._minibatches(docs, n_docs)
        history, n_iter, step = [], 0, 0
        for n_iter in range(1, self._passes() + 1):
            for chunks in batches:
                step += 1
                lambda_, alpha, eta = self._online_update(chunks, lambda_, alpha, eta, n_docs, step)
            bar.update(1)
            if self._evaluate(n_iter, history, docs, lambda_, alpha, eta):
                break
        return lambda_, alpha, eta, n_iter, step, history

    def _evaluate(self, n_iter, history, docs, lambda_, alpha, eta) -> bool:
        """Every `evaluate_every` passes: the training bound into history; whether converged."""
        if self.evaluate_every <= 0 or n_iter % self.evaluate_every:
            return False
        bound, n_tokens = self._training_bound(docs, lambda_, alpha, eta)
        history.append(bound)
        return self._converged(history, n_tokens)

    def _training_bound(self, docs, lambda_, alpha, eta) -> tuple[float, float]:
        """The evidence lower bound of the training data (all processes) under lambda, and
        the number of words it covers."""
        chunks = docs.chunks(self.n_components)
        stats, _ = self._e_step_all(chunks, lambda_, alpha, [None] * len(chunks))
        return float(stats["bound"] + topic_bound(lambda_, float(eta))), float(stats["n_tokens"])

    def _fit_gibbs(self, docs, alpha, eta, gen, n_docs, bar):
        """Collapsed Gibbs sampling; lambda = eta + topic-word counts of the last sweeps."""
        K, V, dtype = self.n_components, docs.n_words, self._dtype()
        tokens = Tokens.from_documents(docs, _GIBBS_GROUPS)
        z = torch.randint(K, (len(tokens.doc),), generator=gen, device=docs.word.device)
        n_dk, n_wk = count_assignments(tokens, z, len(docs), V, K, dtype)
        n_wk = all_reduce_sum({"n": n_wk})["n"]
        sweeps = self._passes()
        n_average = max(1, round(_GIBBS_AVERAGE * sweeps))
        averaged, n_averaged, history = torch.zeros_like(n_wk), 0, []
        eta = torch.tensor(eta, dtype=dtype, device=n_wk.device)
        for n_iter in range(1, sweeps + 1):
            start = n_wk.clone()
            gibbs_sweep(tokens, z, n_dk, n_wk, alpha, eta, gen=gen)
            n_wk = start + all_reduce_sum({"d": n_wk - start})["d"]  # AD-LDA's synchronisation
            if self.learn_priors and n_iter > _PRIOR_BURN_IN:
                alpha, eta = gibbs_priors(alpha, eta, n_dk, n_wk, docs, self._symmetric_alpha)
            if n_iter > sweeps - n_average:
                averaged, n_averaged = averaged + n_wk, n_averaged + 1
            bar.update(1)
            if self._evaluate(n_iter, history, docs, eta + n_wk.T, alpha, float(eta)):
                averaged, n_averaged = n_wk, 1  # stopped early: the last state
                break
        return eta + averaged.T / n_averaged, alpha, float(eta), n_iter, n_iter, history

    def _attributes(self, lambda_, alpha, eta) -> dict:
        # C order, as a saved and loaded copy has, so both sum in the same order
        numpy = np.ascontiguousarray(lambda_.detach().cpu().numpy(), dtype=np.float64)
        alpha = alpha.detach().cpu().numpy().astype(np.float64)
        return {
            "components_": numpy,
            "exp_dirichlet_component_": np.exp(
                dirichlet_expectation(self._tensor(numpy)).cpu().numpy().astype(np.float64)
            ),
            "topic_word_": numpy / numpy.sum(1, keepdims=True),
            "doc_topic_prior_": float(alpha[0]) if self._symmetric_alpha else alpha,
            "topic_word_prior_": float(eta),
        }

    # --- online learning from a stream

    def _partial_fit(self, X, y, gen) -> dict:
        """Update the topics with the documents X by online variational Bayes.

        Each minibatch of `batch_size` documents is one step of Hoffman et al. (2010) for a
        corpus of `total_samples`, as in scikit-learn ("gibbs" is refused). The first call
        initialises the topics. Under torch.distributed, give every process as many rows.
        """
        if self.learning_method == "gibbs":
            raise ValueError(
                "learning_method='gibbs' has no partial_fit; use 'online' (or 'batch')."
            )
        first = not self._is_fitted()
        if not first and self.components_.shape[0] != self.n_components:
            raise ValueError(
                f"n_components is {self.n_components} but the fitted model has "
                f"{self.components_.shape[0]} topics; refit from scratch to change it."
            )
        docs = self._to_device(X)
        if first:
            alpha, eta = self._priors(X.shape[1])
            lambda_ = self._init_topics(X.shape[1], gen)
            step, n_words = 0, 0.0
        else:
            alpha, eta = self._alpha(), self.topic_word_prior_
            lambda_, step = self._tensor(self.components_), self.n_batch_iter_
            n_words = self.mean_doc_length_ * self.n_docs_seen_
        with torch.no_grad():
            for start in range(0, len(docs), self.batch_size):
                chunks = docs.rows(start, min(start + self.batch_size, len(docs)))
                step += 1
                lambda_, alpha, eta = self._online_update(
                    chunks.chunks(self.n_components), lambda_, alpha, eta, self.total_samples, step
                )
        seen = (0 if first else self.n_docs_seen_) + len(docs)
        return {
            **self._attributes(lambda_, alpha, eta),
            "n_iter_": 0 if first else self.n_iter_,
            "n_batch_iter_": step,
            "bound_": [] if first else self.bound_,
            "mean_doc_length_": (n_words + float(docs.count.sum())) / seen,
            "n_docs_seen_": seen,
            "n_features_in_": X.shape[1],
            "input_shape_": [X.shape[1]],
        }

    # --- documents given the topics

    def _documents(self, X) -> Documents:
        return self._inference_data(X)[0]

    def _fit_documents(self, docs: Documents) -> tuple[torch.Tensor, torch.Tensor]:
        return fit_documents(
            docs, self._tensor(self.components_), self._alpha(),
            max_iter=self.max_doc_update_iter, tol=self.mean_change_tol,
        )  # fmt: skip

    def _alpha(self) -> torch.Tensor:
        return self._tensor(np.full(self.n_components, self.doc_topic_prior_, dtype=np.float64))

    @property
    def _n_features_out(self) -> int:
        """Width of `transform`: the topics."""
        return int(self.n_components)

    def transform(self, X, *, normalize: bool = True) -> np.ndarray:
        """Return each document's topic proportions, (n_documents, n_components).

        These are the variational posterior means E[theta_d] = gamma_d / sum gamma_d, or gamma
        itself when `normalize` is False.
        """
        with torch.no_grad():
            gamma, _ = self._fit_documents(self._documents(X))
        if normalize:
            gamma = gamma / gamma.sum(1, keepdim=True)
        return gamma.cpu().numpy().astype(np.float64)

    def _log_prob(self, docs: Documents) -> torch.Tensor:
        return self._fit_documents(docs)[1] + log_multinomial_coefficient(docs)

    def perplexity(self, X) -> float:
        """Return scikit-learn's perplexity of X: exp(-bound / number of words).

        The bound sums each document's ELBO without its multinomial coefficient, plus once
        E_q[log p(beta | eta) - log q(beta | lambda)]; see the class docstring.
        """
        with torch.no_grad():
            docs = self._documents(X)
            n_words = float(docs.count.sum())
            if n_words == 0:
                raise ValueError("X holds no words: perplexity needs at least one word.")
            topics_term = topic_bound(self._tensor(self.components_), self.topic_word_prior_)
            bound = self._fit_documents(docs)[1].sum() + topics_term
        return math.exp(-float(bound) / n_words)

    def top_words(self, n: int = 10, vocabulary=None) -> list[list]:
        """Return the `n` most probable words of each topic, most probable first.

        Words are indices into the columns of X, or the entries of `vocabulary` (a sequence of
        n_features words) when given.
        """
        self._check_fitted()
        n = check_n_samples(n, name="n")
        if vocabulary is not None and len(vocabulary) != self.n_features_in_:
            raise ValueError(
                f"vocabulary has {len(vocabulary)} words, but the model has "
                f"{self.n_features_in_} features."
            )
        order = np.argsort(-self.topic_word_, axis=1, kind="stable")[:, :n]
        if vocabulary is None:
            return [[int(w) for w in row] for row in order]
        return [[vocabulary[w] for w in row] for row in order]

    # --- sampling

    def sample(
        self,
        n_samples: int = 1,
        *,
        doc_length: int | None = None,
        y=None,
        random_state: int | None = None,
    ) -> np.ndarray:
        """Draw `n_samples` documents of `doc_length` words each as counts, (n, n_features).

        Each draws theta ~ Dirichlet(doc_topic_prior_), then every word's topic from theta and
        the word from that topic's mean distribution `topic_word_`. `doc_length` (at most
        10**7) defaults to the mean training document length, rounded. `random_state` is as in
        the base class; LDA takes no labels y.
        """
        self._check_fitted()
        if doc_length is None:
            doc_length = max(1, round(self.mean_doc_length_))
        doc_length = check_size(doc_length, "doc_length", high=_MAX_DOC_LENGTH)
        return self._draw_samples(n_samples, y=y, random_state=random_state, doc_length=doc_length)

    def _sample_item_bytes(self, *, doc_length: int) -> int:
        # the counts, plus each word's topic and word index while it is drawn
        return 8 * (2 * self.n_features_in_ + 3 * doc_length + self.n_components)

    def _sample(self, n_samples: int, y, gen, *, doc_length: int) -> torch.Tensor:
        topic_word = self._tensor(self.topic_word_)
        return sample_documents(self._alpha(), topic_word, n_samples, doc_length, gen=gen)
