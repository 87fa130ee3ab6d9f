"""Discrete Bayesian network: structure learning, ML or Bayesian parameters, exact inference.

Tables come in and go out as pandas DataFrames, converted and checked by `_tables`. Inside,
every column is a vector of integer codes into its variable's states, and the math
(`_factors`, `structure`) works on those codes.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass

import numpy as np
import torch

from genzoo._validation import MAX_ITERATIONS, Interval, Options
from genzoo.base import GenerativeModel
from genzoo.bayesnet._factors import (
    CompiledNetwork,
    expected_counts,
    forward_sample,
    log_prob_codes,
)
from genzoo.bayesnet._tables import (
    Table,
    Vocabulary,
    check_frame,
    cpd_frame,
    fitted_codes,
    joint_frame,
    marginal_frame,
    parse_evidence,
    python_value,
    state_frame,
    training_table,
)
from genzoo.bayesnet.structure import (
    chow_liu,
    estimate_cpd,
    family_counts,
    find_cycle,
    hill_climb,
    topological_order,
)
from genzoo.registry import register
from genzoo.training.em import run_em

__all__ = ["BayesianNetwork"]

# EM reads the rows in batches of this many, bounding the memory of batched inference.
_EM_BATCH_ROWS = 4096
# A CPD column must sum to 1 within this tolerance in `from_spec`.
_CPD_ATOL = 1e-8


# --- EM for parameters with missing values


@dataclass(frozen=True)
class _ParameterEM:
    """E- and M-steps of EM for a network's CPDs, its structure fixed (for `run_em`)."""

    parents: list[list[int]]
    cards: list[int]
    estimator: str
    pseudo_count: float
    equivalent_sample_size: float

    def _e_step(self, params: dict, X: torch.Tensor):
        cpds = [params[f"cpd.{v}"].numpy() for v in range(len(self.cards))]
        counts, loglik = expected_counts(cpds, self.parents, self.cards, X.numpy())
        stats = {f"counts.{v}": torch.as_tensor(c) for v, c in enumerate(counts)}
        return stats, torch.as_tensor(float(loglik), dtype=torch.float64)

    def _m_step(self, stats: dict, params: dict) -> dict:
        return {
            f"cpd.{v}": torch.as_tensor(self._cpd(stats[f"counts.{v}"].numpy()))
            for v in range(len(self.cards))
        }

    def _cpd(self, counts: np.ndarray) -> np.ndarray:
        return estimate_cpd(counts, self.estimator, self.pseudo_count, self.equivalent_sample_size)


# --- the model


@register(
    "bayesian_network",
    family="bayesnet",
    data_kind="table",
    default_dataset="asia",
    fixture_dataset="asia",
    fixture_size=400,
    test_params={"edges": None, "random_state": 0},
    quick_params={"random_state": 0},
)
class BayesianNetwork(GenerativeModel):
    """Bayesian network over discrete variables, with exact inference by variable elimination.

    The joint distribution is the product of one conditional probability table (CPD) per
    variable given its parents in a directed acyclic graph. The graph is given or learned;
    the tables are learned by maximum likelihood or with a Dirichlet prior, by EM when rows
    have missing values.

    Parameters
    ----------
    edges : tuple of (parent, child) pairs or None, default=None
        The graph, by column names. None learns it with `structure`.
    structure : {"hill_climb", "chow_liu"}, default="hill_climb"
        Structure learning when `edges` is None: greedy hill climbing over DAGs (add, remove
        or flip an edge, best improvement, tabu list of 100 moves) on the `scoring` score, or
        the Chow-Liu maximum spanning tree on mutual information, rooted at the first column.
    scoring : {"bic", "bdeu"}, default="bic"
        Score of hill climbing.
    max_parents : int or None, default=3
        Most parents a variable may get in hill climbing; None for no limit.
    equivalent_sample_size : float, default=10.0
        Equivalent sample size of the BDeu score and of the "bdeu" estimator.
    estimator : {"mle", "dirichlet", "bdeu"}, default="mle"
        Maximum likelihood (a parent state never seen gets a uniform column); the posterior
        mean under a Dirichlet prior of `pseudo_count` per cell; or under the BDeu prior
        (equivalent_sample_size / (card * parent states) per cell).
    pseudo_count : float, default=1.0
        Dirichlet pseudo-count of the "dirichlet" estimator (1 is the K2 prior).
    states : dict or None, default=None
        ``{column: [states]}`` fixing the order of a column's states, or adding states unseen
        in the data. Otherwise a categorical column keeps its categories and any other
        column's states are its sorted distinct values.
    missing : {"error", "em"}, default="error"
        Rows with missing values (NaN or None) in `fit`: refused, or used by EM on the CPDs
        (the structure, when learned, is learned on the complete rows).
    max_iter : int, default=100
        Most EM iterations.
    tol : float, default=1e-6
        EM stops when the mean log-likelihood per row gains less than this.
    random_state : int or None, default=None
        Default seed of `sample`; an int gives the same draw on every call.
    verbose : int, default=0
        Show EM's progress bar when positive.

    Attributes
    ----------
    variables_ : list of str
        The variables (the training columns), in order.
    states_ : dict of str to list
        Each variable's states; codes index these lists.
    edges_ : list of (parent, child) tuples
        The graph.
    parents_ : dict of str to list of str
        Each variable's parents, in the order of its CPD's axes.
    cpds_ : dict of str to ndarray of shape (card(v), *card(parents_[v]))
        ``cpds_[v][i, j, ...]`` = P(v = states_[v][i] | parents in states j, ...).
    n_features_in_ : int
        Number of variables.
    feature_names_in_ : ndarray of str, shape (n_features_in_,)
        The column names seen in `fit` (x0, x1, ... for arrays).
    input_shape_ : list of int
        ``[n_features_in_]``.
    n_iter_ : int
        EM iterations run (0 without missing values).
    converged_ : bool
        Whether EM converged (True without missing values).

    Examples
    --------
    >>> from genzoo.data.networks import sample_network
    >>> X = sample_network("asia", 2000, random_state=0)
    >>> bn = BayesianNetwork(random_state=0).fit(X)
    >>> bn.query("lung", evidence={"smoke": "yes", "xray": "yes"})  # doctest: +SKIP
    """

    likelihood_kind = "exact"
    data_kind = "table"
    fitted_attributes = (
        "variables_",
        "states_",
        "edges_",
        "parents_",
        "cpds_",
        "n_features_in_",
        "feature_names_in_",
        "input_shape_",
        "n_iter_",
        "converged_",
    )
    _parameter_constraints = {
        "structure": [Options("hill_climb", "chow_liu")],
        "scoring": [Options("bic", "bdeu")],
        "max_parents": [Interval(int, 0, None), None],
        "equivalent_sample_size": [Interval(float, 0, None, closed="neither")],
        "estimator": [Options("mle", "dirichlet", "bdeu")],
        "pseudo_count": [Interval(float, 0, None, closed="left")],
        "missing": [Options("error", "em")],
        "max_iter": [Interval(int, 1, MAX_ITERATIONS)],
        "tol": [Interval(float, 0, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": [Interval(int, 0, None)],
    }

    def __init__(
        self,
        edges=None,
        *,
        structure: str = "hill_climb",
        scoring: str = "bic",
        max_parents: int | None = 3,
        equivalent_sample_size: float = 10.0,
        estimator: str = "mle",
        pseudo_count: float = 1.0,
        states: dict | None = None,
        missing: str = "error",
        max_iter: int = 100,
        tol: float = 1e-6,
        random_state: int | None = None,
        verbose: int = 0,
    ):
        self.edges = edges
        self.structure = structure
        self.scoring = scoring
        self.max_parents = max_parents
        self.equivalent_sample_size = equivalent_sample_size
        self.estimator = estimator
        self.pseudo_count = pseudo_count
        self.states = states
        self.missing = missing
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.verbose = verbose

    # --- input

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = self.missing == "em"  # missing states, learned by EM
        return tags

    def _check_X(self, X, *, reset: bool):
        """At fit, a `Table` of codes and states; afterwards, codes (n, d) of complete rows."""
        frame, columns = check_frame(X)
        if reset:
            return training_table(
                frame, columns, edges=self.edges, states=self.states, missing=self.missing
            )
        return fitted_codes(X, frame, self.variables_, self.states_)

    # --- fitting

    def _fit(self, X: Table, y, gen) -> dict:
        variables, states = X.variables, X.states
        cards = [len(states[v]) for v in variables]
        complete = (X.codes >= 0).all(1)
        parents = self._structure(X, cards, complete)
        em = _ParameterEM(
            parents, cards, self.estimator, self.pseudo_count, self.equivalent_sample_size
        )
        columns = np.ascontiguousarray(X.codes[complete].T)
        counts = [family_counts(columns, cards, v, parents[v]) for v in range(len(cards))]
        n_iter, converged = 0, True
        if complete.all():
            cpds = [em._cpd(c) for c in counts]
        else:
            cpds, n_iter, converged = self._run_em(em, X.codes, counts)
        names = [[variables[p] for p in parents[v]] for v in range(len(cards))]
        return {
            "variables_": list(variables),
            "states_": {v: list(states[v]) for v in variables},
            "edges_": [(p, v) for v, ps in zip(variables, names, strict=True) for p in ps],
            "parents_": dict(zip(variables, names, strict=True)),
            "cpds_": dict(zip(variables, cpds, strict=True)),
            "n_features_in_": len(variables),
            "feature_names_in_": np.asarray(variables, dtype=object),
            "input_shape_": [len(variables)],
            "n_iter_": n_iter,
            "converged_": converged,
        }

    def _structure(self, X: Table, cards, complete) -> list[list[int]]:
        """Each variable's parents (indices): from `edges`, or learned on the complete rows."""
        index = {v: i for i, v in enumerate(X.variables)}
        parents: list[list[int]] = [[] for _ in cards]
        if self.edges is not None:
            for parent, child in self.edges:
                parents[index[child]].append(index[parent])
            return parents
        codes = X.codes[complete]
        if len(codes) == 0:
            raise ValueError(
                "X has no complete row, so the structure cannot be learned; give edges."
            )
        if self.structure == "chow_liu":
            learned = chow_liu(codes, cards, root=0)
        else:
            learned = hill_climb(
                codes,
                cards,
                scoring=self.scoring,
                max_parents=self.max_parents,
                equivalent_sample_size=self.equivalent_sample_size,
            )
        for parent, child in learned:
            parents[child].append(parent)
        return [sorted(p) for p in parents]

    def _run_em(self, em: _ParameterEM, codes: np.ndarray, complete_counts):
        """CPDs by EM from the complete rows' tables (smoothed, so no observed row is
        impossible at the start); returns (cpds, n_iter, converged)."""
        params = {
            f"cpd.{v}": torch.as_tensor(estimate_cpd(c + 1.0, "mle", 0.0, 0.0))
            for v, c in enumerate(complete_counts)
        }
        batches = list(torch.split(torch.as_tensor(codes), _EM_BATCH_ROWS))
        result = run_em(
            em, batches, params, max_iter=self.max_iter, tol=self.tol,
            verbose=self.verbose, desc="BayesianNetwork EM",
        )  # fmt: skip
        cpds = [result.params[f"cpd.{v}"].numpy() for v in range(len(em.cards))]
        return cpds, result.n_iter, result.converged

    # --- the network by index

    def _indexed(self):
        """(cpds, parents) as lists by variable index, for the pure functions."""
        index = {v: i for i, v in enumerate(self.variables_)}
        cpds = [np.asarray(self.cpds_[v], dtype=np.float64) for v in self.variables_]
        parents = [[index[p] for p in self.parents_[v]] for v in self.variables_]
        return cpds, parents

    def _inference(self) -> tuple[CompiledNetwork, Vocabulary]:
        """The compiled network and the vocabulary of the fitted tables, built after fit and
        load and rebuilt if a table, the parents or the states were replaced since."""
        cache = vars(self).get("_compiled")
        tables = [self.cpds_[v] for v in self.variables_]
        if (
            cache is None
            or cache[0] is not self.parents_
            or cache[1] is not self.states_
            or not all(map(operator.is_, tables, cache[2]))
        ):
            cpds, parents = self._indexed()
            network = CompiledNetwork(cpds, parents)
            vocabulary = Vocabulary.of(self.variables_, self.states_)
            cache = self._compiled = (self.parents_, self.states_, tables, network, vocabulary)
        return cache[3], cache[4]

    # --- inference

    def query(self, variables, evidence=None, *, joint: bool = True, as_frame: bool = True):
        """Return the posterior of `variables` given `evidence`, by variable elimination.

        Parameters
        ----------
        variables : str or list of str
            The query variables.
        evidence : dict, DataFrame or None
            ``{variable: state}``; or a DataFrame with one query per row (NaN: unobserved),
            all answered in one batched pass.
        joint : bool, default=True
            The joint posterior of the variables, one row per joint state; else each
            variable's marginal, one row per (variable, state).
        as_frame : bool, default=True
            Return a DataFrame; False returns plain arrays instead, which skips building the
            frame: the lean path for many small queries in a loop.

        Returns
        -------
        DataFrame
            With `joint`, a column per query variable and ``probability``; else columns
            ``variable``, ``state`` and ``probability``. A DataFrame of evidence adds a first
            column ``query`` holding the evidence row's index label.
        ndarray or dict of ndarray, with ``as_frame=False``
            With `joint`, the probabilities of shape (*n_states) with an axis per query
            variable in the order given, the states in `states_` order; else a dict
            ``{variable: probabilities (n_states,)}``. A DataFrame of evidence adds a first
            axis, one row per evidence row.

        Notes
        -----
        The elimination order of the whole network is computed once, and the contraction
        plan of each signature (query variables, observed variables) on its first query and
        reused by the next ones; replacing a table in `cpds_` rebuilds them.
        """
        if "_compiled" not in vars(self):  # the compiled network exists only once fitted
            self._check_fitted()
        network, vocabulary = self._inference()
        query = vocabulary.variable_index(variables, "variables")
        if evidence is None or isinstance(evidence, dict):  # one query: no batch axis
            hard, soft, n_batch, labels = vocabulary.evidence_codes(evidence or {}), {}, None, None
        else:
            hard, soft, n_batch, labels = parse_evidence(evidence, vocabulary)
        both = [self.variables_[i] for i in query if i in hard or i in soft]
        if both:
            raise ValueError(f"variable(s) {both} are both queried and given as evidence.")
        groups = [query] if joint else [[i] for i in query]
        if n_batch is None:
            probs = [self._posterior_one(network, group, hard) for group in groups]
        else:
            probs = [self._posterior(network, g, hard, n_batch, soft) for g in groups]
        names = [self.variables_[i] for i in query]
        if not as_frame:
            return probs[0] if joint else dict(zip(names, probs, strict=True))
        if n_batch is None:
            probs = [p[None] for p in probs]  # (1, *n_states): the frames' batch of one
        if joint:
            return joint_frame(names, probs[0], labels, self.states_)
        return marginal_frame(names, probs, labels, self.states_)

    @staticmethod
    def _posterior(network, query, hard, n_batch, soft) -> np.ndarray:
        probs, log_evidence = network.posterior(query, hard, n_batch, soft)
        impossible = np.flatnonzero(~np.isfinite(log_evidence))
        if len(impossible):
            raise ValueError(
                f"the evidence has probability zero under the model (query row(s) "
                f"{impossible[:10].tolist()}); no posterior exists."
            )
        return probs

    @staticmethod
    def _posterior_one(network, query, hard) -> np.ndarray:
        probs, log_evidence = network.posterior_one(query, hard)
        if not math.isfinite(log_evidence):
            raise ValueError(
                "the evidence has probability zero under the model (query row(s) [0]); no "
                "posterior exists."
            )
        return probs

    def map_query(self, variables=None, evidence=None):
        """Return the most probable joint state of `variables` given `evidence`.

        With `variables` None, every variable not in the evidence (the most probable
        explanation); otherwise the others are summed out first (marginal MAP).

        Returns
        -------
        dict ``{variable: state}``, or for a DataFrame of evidence a DataFrame with a column
        ``query`` (the evidence row's index label) and one column per variable.
        """
        self._check_fitted()
        network, vocabulary = self._inference()
        hard, soft, n_batch, labels = parse_evidence(evidence, vocabulary)
        if variables is None:
            chosen = [i for i in range(len(self.variables_)) if i not in hard and i not in soft]
            if not chosen:
                raise ValueError("every variable is in the evidence; nothing is left to explain.")
        else:
            chosen = vocabulary.variable_index(variables, "variables")
            both = [self.variables_[i] for i in chosen if i in hard or i in soft]
            if both:
                raise ValueError(f"variable(s) {both} are both queried and given as evidence.")
        codes, log_max = network.map_assignment(chosen, hard, n_batch, soft)
        impossible = np.flatnonzero(~np.isfinite(log_max))
        if len(impossible):
            raise ValueError(
                f"the evidence has probability zero under the model (query row(s) "
                f"{impossible[:10].tolist()}); no MAP state exists."
            )
        names = [self.variables_[i] for i in chosen]
        if labels is None:
            return {v: self.states_[v][int(codes[0, k])] for k, v in enumerate(names)}
        columns = {v: codes[:, k] for k, v in enumerate(names)}
        return state_frame(columns, self.states_, before={"query": np.asarray(labels)})

    # --- likelihood and sampling

    def _to_device(self, codes: np.ndarray) -> np.ndarray:
        return codes  # the tables are small: inference runs in numpy on the host

    def _log_prob(self, codes: np.ndarray) -> torch.Tensor:
        cpds, parents = self._indexed()
        return torch.as_tensor(log_prob_codes(cpds, parents, codes.astype(np.int64)))

    def sample(
        self,
        n_samples: int = 1,
        *,
        y=None,
        evidence: dict | None = None,
        random_state: int | None = None,
        return_weights: bool = False,
    ):
        """Draw `n_samples` rows as a DataFrame with the training columns, by ancestral sampling.

        With `evidence` ``{variable: state}``, by likelihood weighting: evidence variables are
        clamped and each particle is weighted by the probability of the evidence given its
        parents; the particles are then resampled in proportion to their weights, so the rows
        are approximately draws from P(X | evidence). With `return_weights`, return
        ``(particles, weights)`` instead, weights normalised to sum to 1 and no resampling.
        See `GenerativeModel.sample` for `random_state`.
        """
        self._check_fitted()
        if evidence is not None and not isinstance(evidence, dict):
            raise ValueError(
                f"evidence of sample must be a dict {{variable: state}}; got "
                f"{type(evidence).__name__}."
            )
        vocabulary = Vocabulary.of(self.variables_, self.states_)  # sample keeps vars(self)
        hard, _, _, _ = parse_evidence(evidence, vocabulary)
        fixed = {i: int(c[0]) for i, c in hard.items()}
        return self._draw_samples(
            n_samples, y=y, random_state=random_state, fixed=fixed, return_weights=return_weights
        )

    def _sample_item_bytes(self, *, fixed: dict, return_weights: bool) -> int:
        # codes and uniforms per variable, a weight, and the DataFrame built from them
        return 8 * (4 * len(self.variables_) + 2)

    def _sample(self, n_samples: int, y, gen, *, fixed: dict, return_weights: bool):
        codes, log_weight = self._draw(n_samples, gen, fixed)
        if not (fixed or return_weights):
            return codes
        if not np.isfinite(log_weight).any():
            raise ValueError(
                "every particle has weight zero: the evidence is impossible under the "
                "model, or too unlikely for this many samples."
            )
        weights = np.exp(log_weight - log_weight.max())
        weights /= weights.sum()
        if return_weights:
            return codes, weights
        pick = torch.multinomial(
            torch.as_tensor(weights), n_samples, replacement=True, generator=gen
        )
        return codes[pick.numpy()]

    def _to_output(self, samples):
        """Codes as a DataFrame of the states, with the particle weights when asked for."""
        if isinstance(samples, tuple):
            return self._frame(samples[0]), samples[1]
        return self._frame(samples)

    def _draw(self, n_samples: int, gen: torch.Generator, fixed: dict[int, int]):
        cpds, parents = self._indexed()
        order = topological_order(parents)
        uniforms = torch.rand(n_samples, len(cpds), generator=gen, dtype=torch.float64)
        return forward_sample(cpds, parents, order, uniforms.numpy(), fixed)

    def _frame(self, codes: np.ndarray):
        return state_frame({v: codes[:, j] for j, v in enumerate(self.variables_)}, self.states_)

    # --- building, printing and saving

    @classmethod
    def from_spec(cls, spec: dict) -> BayesianNetwork:
        """Return a fitted network from a spec of `genzoo.data.networks` (states, edges,
        parents, cpds); the tables are checked, not learned."""
        states = {v: [python_value(s) for s in spec["states"][v]] for v in spec["states"]}
        variables = list(states)
        parents = {v: list(spec["parents"].get(v, [])) for v in variables}
        edges = [(p, v) for v in variables for p in parents[v]]
        cycle = find_cycle(edges)
        if cycle is not None:
            raise ValueError(f"the spec's edges contain a cycle: {' -> '.join(cycle)}.")
        cpds = {}
        for v in variables:
            cpd = np.asarray(spec["cpds"][v], dtype=np.float64)
            shape = (len(states[v]), *(len(states[p]) for p in parents[v]))
            if cpd.shape != shape:
                raise ValueError(f"cpds[{v!r}] has shape {cpd.shape}; expected {shape}.")
            if (cpd < 0).any() or not np.allclose(cpd.sum(0), 1.0, atol=_CPD_ATOL):
                raise ValueError(f"cpds[{v!r}] must be non-negative and sum to 1 over axis 0.")
            cpds[v] = cpd.copy()
        model = cls(edges=tuple(edges))
        model._commit({
            "variables_": variables,
            "states_": states,
            "edges_": edges,
            "parents_": parents,
            "cpds_": cpds,
            "n_features_in_": len(variables),
            "feature_names_in_": np.asarray(variables, dtype=object),
            "input_shape_": [len(variables)],
            "n_iter_": 0,
            "converged_": True,
        })  # fmt: skip
        return model

    def cpd(self, var: str):
        """Return the CPD of `var` as a DataFrame: a row per parent state, a column per state."""
        self._check_fitted()
        self._inference()[1].variable_index(var, "var")
        return cpd_frame(self.cpds_[var], var, self.parents_[var], self.states_)

    def _on_fitted(self) -> None:
        """Check that every CPD has the shape its states and parents give (for loaded files),
        then compile the network for inference."""
        for v in self.variables_:
            shape = tuple(len(self.states_[u]) for u in [v, *self.parents_[v]])
            if np.shape(self.cpds_[v]) != shape:
                raise ValueError(
                    f"the CPD of {v!r} has shape {np.shape(self.cpds_[v])}, not {shape}"
                )
        if set(self.cpds_) != set(self.variables_):
            raise ValueError(f"cpds_ has tables for {sorted(self.cpds_)}, not the variables")
        vars(self).pop("_compiled", None)
        self._inference()
