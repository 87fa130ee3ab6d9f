"""Discrete Bayesian network: structure learning, ML or Bayesian parameters, exact inference.

Tables come in and go out as pandas DataFrames (pandas is imported inside the functions that
need it, so ``import genzoo`` stays fast). Inside, every column is a vector of integer codes
into its variable's states, and the math (`_factors`, `structure`) works on those codes.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from genzoo._validation import Interval, Options, check_n_samples
from genzoo.base import GenerativeModel
from genzoo.bayesnet._factors import (
    expected_counts,
    forward_sample,
    log_prob_codes,
    map_assignment,
    posterior,
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


# --- tables of states and codes


@dataclass(frozen=True)
class _Table:
    """A validated training table: codes (n, d), -1 where missing, and each column's states."""

    codes: np.ndarray
    variables: list[str]
    states: dict[str, list]

    def __len__(self) -> int:
        return len(self.codes)


def _as_frame(X, name: str = "X"):
    """X as a DataFrame; a 2-D array gets the columns x0, x1, ..."""
    import pandas as pd

    if isinstance(X, pd.DataFrame):
        return X
    if isinstance(X, (str, bytes)) or X is None:
        raise ValueError(
            f"{name} must be a pandas DataFrame or a 2-D array of states; got {type(X).__name__}."
        )
    if isinstance(X, torch.Tensor):
        X = X.detach().cpu().numpy()
    array = np.asarray(X, dtype=object if isinstance(X, (list, tuple)) else None)
    if array.ndim != 2:
        raise ValueError(
            f"{name} must be a DataFrame or a 2-D array (n_samples, n_variables); "
            f"got shape {array.shape}."
        )
    return pd.DataFrame(array, columns=[f"x{j}" for j in range(array.shape[1])])


def _python_value(value):
    return value.item() if isinstance(value, np.generic) else value


def _column_states(column, name: str) -> list:
    """The states of a column: its categories if categorical, else its sorted distinct values."""
    import pandas as pd

    if isinstance(column.dtype, pd.CategoricalDtype):
        values = list(column.cat.categories)
    else:
        values = list(pd.unique(column.dropna()))
        try:
            values = sorted(values)
        except TypeError:
            values = sorted(values, key=str)
    values = [_python_value(v) for v in values]
    for v in values:
        if not isinstance(v, (str, int, float, bool)):
            raise ValueError(
                f"column {name!r} has a value {v!r} of type {type(v).__name__}; states must be "
                "strings, ints, floats or bools."
            )
    return values


def _encode(frame, variables, states) -> np.ndarray:
    """Codes (n, d) of the columns `variables`, -1 where missing; unseen values raise."""
    import pandas as pd

    codes = np.empty((len(frame), len(variables)), dtype=np.int64)
    for j, var in enumerate(variables):
        column = frame[var]
        if isinstance(column.dtype, pd.CategoricalDtype) and (
            list(column.cat.categories) == states[var]
        ):
            codes[:, j] = column.cat.codes
            continue
        # hash the column once, then map its few distinct values (NaN and None give -1)
        local, uniques = pd.factorize(np.asarray(column, dtype=object))
        lookup = {s: k for k, s in enumerate(states[var])}
        mapped = np.array([lookup.get(_python_value(u), -1) for u in uniques] + [-1])
        if (mapped[:-1] < 0).any():
            value = _python_value(uniques[int(np.argmax(mapped[:-1] < 0))])
            raise ValueError(
                f"column {var!r} has the value {value!r}, unseen in training; its states are "
                f"{states[var]}."
            )
        codes[:, j] = mapped[local]
    return codes


@functools.lru_cache(maxsize=1024)
def _categorical_dtype(states: tuple):
    """The categorical dtype of a variable (built once: pandas validates it at every build)."""
    import pandas as pd

    return pd.CategoricalDtype(list(states))


def _state_frame(columns: dict[str, np.ndarray], states: dict[str, list], after=None, before=None):
    """A DataFrame of categorical columns from codes, between the `before` and `after` ones."""
    import pandas as pd

    data = {
        v: pd.Categorical.from_codes(c, dtype=_categorical_dtype(tuple(states[v])))
        for v, c in columns.items()
    }
    return pd.DataFrame({**(before or {}), **data, **(after or {})}, copy=False)


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
    _parameter_constraints = {
        "structure": [Options("hill_climb", "chow_liu")],
        "scoring": [Options("bic", "bdeu")],
        "max_parents": [Interval(int, 0, None), None],
        "equivalent_sample_size": [Interval(float, 0, None, closed="neither")],
        "estimator": [Options("mle", "dirichlet", "bdeu")],
        "pseudo_count": [Interval(float, 0, None, closed="left")],
        "missing": [Options("error", "em")],
        "max_iter": [Interval(int, 1, None)],
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

    def _check_X(self, X, *, reset: bool):
        """At fit, a `_Table` of codes and states; afterwards, codes (n, d) of complete rows."""
        frame = _as_frame(X)
        if frame.shape[0] == 0 or frame.shape[1] == 0:
            raise ValueError(f"X is empty: it has shape {frame.shape}; at least one row needed.")
        columns = list(frame.columns)
        if len(set(columns)) != len(columns):
            raise ValueError(f"X has duplicate column names: {columns}.")
        if not all(isinstance(c, str) for c in columns):
            raise ValueError(
                f"X's column names must be strings (they name the variables); got {columns}. "
                "Use X.columns = X.columns.astype(str)."
            )
        if reset:
            return self._training_table(frame, columns)
        if not isinstance(X, type(frame)):  # an array: its columns by position
            if frame.shape[1] != self.n_features_in_:
                raise ValueError(
                    f"X has {frame.shape[1]} columns, but BayesianNetwork was fitted with "
                    f"{self.n_features_in_} columns {self.variables_}."
                )
            frame.columns = self.variables_
        self._check_columns(list(frame.columns))
        codes = _encode(frame, self.variables_, self.states_)
        missing = (codes < 0).any(0)
        if missing.any():
            names = [v for v, m in zip(self.variables_, missing, strict=True) if m]
            raise ValueError(
                f"X has missing values in column(s) {names}; log_prob needs complete rows."
            )
        return codes

    def _check_columns(self, columns: list[str]) -> None:
        absent = [v for v in self.variables_ if v not in columns]
        extra = [c for c in columns if c not in self.variables_]
        if absent or extra:
            raise ValueError(
                f"X's columns do not match the fitted variables: missing column(s) {absent}, "
                f"unexpected column(s) {extra}; expected {self.variables_}."
            )

    def _training_table(self, frame, columns: list[str]) -> _Table:
        self._check_edges(columns)
        given = self._given_states(columns)
        states = {}
        for var in columns:
            seen = _column_states(frame[var], var)
            if var in given:
                unknown = [s for s in seen if s not in given[var]]
                if unknown:
                    raise ValueError(
                        f"column {var!r} has value(s) {unknown} not in states[{var!r}] = "
                        f"{given[var]}."
                    )
                seen = given[var]
            if not seen:
                raise ValueError(f"column {var!r} has no values (every entry is missing).")
            states[var] = seen
        codes = _encode(frame, columns, states)
        missing = (codes < 0).any(0)
        if missing.any() and self.missing == "error":
            names = [v for v, m in zip(columns, missing, strict=True) if m]
            raise ValueError(
                f"X has missing values (NaN or None) in column(s) {names}; drop those rows or "
                "set missing='em' to fit the tables by EM."
            )
        return _Table(codes, columns, states)

    def _check_edges(self, columns: list[str]) -> None:
        if self.edges is None:
            return
        try:
            edges = [tuple(e) for e in self.edges]
        except TypeError:
            raise ValueError(
                f"edges must be a list of (parent, child) pairs; got {self.edges!r}."
            ) from None
        for edge in edges:
            if len(edge) != 2:
                raise ValueError(f"edges must be (parent, child) pairs; got {edge!r}.")
            unknown = [v for v in edge if v not in columns]
            if unknown:
                raise ValueError(
                    f"edge {edge!r} names variable(s) {unknown} that are not columns of X "
                    f"{columns}."
                )
            if edge[0] == edge[1]:
                raise ValueError(f"edge {edge!r} is a self-loop; edges must form a DAG.")
        if len(set(edges)) != len(edges):
            raise ValueError(f"edges has duplicates: {edges}.")
        cycle = find_cycle(edges)
        if cycle is not None:
            raise ValueError(f"edges contain a cycle: {' -> '.join(map(str, cycle))}.")

    def _given_states(self, columns: list[str]) -> dict:
        if self.states is None:
            return {}
        if not isinstance(self.states, dict):
            raise ValueError(f"states must be a dict {{column: [states]}}; got {self.states!r}.")
        given = {}
        for var, values in self.states.items():
            if var not in columns:
                raise ValueError(f"states names {var!r}, which is not a column of X {columns}.")
            values = [_python_value(v) for v in values]
            if len(set(values)) != len(values) or not values:
                raise ValueError(f"states[{var!r}] must be a non-empty list of distinct states.")
            given[var] = values
        return given

    # --- fitting

    def _fit(self, X: _Table, y, gen) -> dict:
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

    def _structure(self, X: _Table, cards, complete) -> list[list[int]]:
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

    def _variable_index(self, variables, name: str) -> list[int]:
        if isinstance(variables, str):
            variables = [variables]
        variables = list(variables)
        unknown = [v for v in variables if v not in self.states_]
        if unknown or not variables:
            raise ValueError(
                f"{name} names unknown variable(s) {unknown}; the variables are {self.variables_}."
            )
        if len(set(variables)) != len(variables):
            raise ValueError(f"{name} repeats a variable: {variables}.")
        return [self.variables_.index(v) for v in variables]

    def _evidence(self, evidence):
        """Evidence as (hard codes {index: (B,)}, soft likelihoods {index: (B, card)}, B,
        query labels or None). A DataFrame gives one query per row; NaN leaves a variable
        unobserved in that row."""
        import pandas as pd

        if evidence is None or (isinstance(evidence, dict) and not evidence):
            return {}, {}, 1, None
        if isinstance(evidence, dict):
            index = self._variable_index(list(evidence), "evidence")
            hard = {}
            for i, (var, state) in zip(index, evidence.items(), strict=True):
                state = _python_value(state)
                if state not in self.states_[var]:
                    raise ValueError(
                        f"evidence gives variable {var!r} the unknown state {state!r}; its "
                        f"states are {self.states_[var]}."
                    )
                hard[i] = np.array([self.states_[var].index(state)])
            return hard, {}, 1, None
        if not isinstance(evidence, pd.DataFrame):
            raise ValueError(
                f"evidence must be a dict {{variable: state}} or a DataFrame; got "
                f"{type(evidence).__name__}."
            )
        if len(evidence) == 0:
            raise ValueError("evidence is an empty DataFrame; give at least one row.")
        index = self._variable_index(list(evidence.columns), "evidence")
        try:
            codes = _encode(evidence, list(evidence.columns), self.states_)
        except ValueError as err:
            raise ValueError(f"evidence: {err}") from None
        hard, soft = {}, {}
        for j, i in enumerate(index):
            column = codes[:, j]
            if (column >= 0).all():
                hard[i] = column
            elif (column >= 0).any():
                eye = np.eye(len(self.states_[self.variables_[i]]))
                soft[i] = np.where(column[:, None] >= 0, eye[column], 1.0)
        return hard, soft, len(evidence), list(evidence.index)

    # --- inference

    def query(self, variables, evidence=None, *, joint: bool = True):
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

        Returns
        -------
        DataFrame
            With `joint`, a column per query variable and ``probability``; else columns
            ``variable``, ``state`` and ``probability``. A DataFrame of evidence adds a first
            column ``query`` holding the evidence row's index label.
        """
        check_is_fitted(self)
        query = self._variable_index(variables, "variables")
        hard, soft, n_batch, labels = self._evidence(evidence)
        both = [self.variables_[i] for i in query if i in hard or i in soft]
        if both:
            raise ValueError(f"variable(s) {both} are both queried and given as evidence.")
        cpds, parents = self._indexed()
        if joint:
            probs = self._posterior(cpds, parents, query, hard, n_batch, soft)
            return self._joint_frame(query, probs, labels)
        marginals = [self._posterior(cpds, parents, [i], hard, n_batch, soft) for i in query]
        return self._marginal_frame(query, marginals, labels)

    def _posterior(self, cpds, parents, query, hard, n_batch, soft) -> np.ndarray:
        probs, log_evidence = posterior(cpds, parents, query, hard, n_batch, soft)
        impossible = np.flatnonzero(~np.isfinite(log_evidence))
        if len(impossible):
            raise ValueError(
                f"the evidence has probability zero under the model (query row(s) "
                f"{impossible[:10].tolist()}); no posterior exists."
            )
        return probs

    def _joint_frame(self, query, probs: np.ndarray, labels):
        names = [self.variables_[i] for i in query]
        cards = probs.shape[1:]
        grid = np.indices(cards).reshape(len(cards), -1)  # (k, n_states)
        n_batch, n_states = len(probs), grid.shape[1]
        columns = {v: np.tile(grid[k], n_batch) for k, v in enumerate(names)}
        first = {} if labels is None else {"query": np.repeat(np.asarray(labels), n_states)}
        return _state_frame(columns, self.states_, {"probability": probs.reshape(-1)}, first)

    def _marginal_frame(self, query, marginals, labels):
        import pandas as pd

        parts = []
        for i, probs in zip(query, marginals, strict=True):
            var = self.variables_[i]
            n_batch, card = probs.shape
            part = {
                "variable": [var] * (n_batch * card),
                "state": self.states_[var] * n_batch,
                "probability": probs.reshape(-1),
            }
            if labels is not None:
                part = {"query": np.repeat(np.asarray(labels), card), **part}
            parts.append(pd.DataFrame(part))
        return pd.concat(parts, ignore_index=True)

    def map_query(self, variables=None, evidence=None):
        """Return the most probable joint state of `variables` given `evidence`.

        With `variables` None, every variable not in the evidence (the most probable
        explanation); otherwise the others are summed out first (marginal MAP).

        Returns
        -------
        dict ``{variable: state}``, or for a DataFrame of evidence a DataFrame with a column
        ``query`` (the evidence row's index label) and one column per variable.
        """
        check_is_fitted(self)
        hard, soft, n_batch, labels = self._evidence(evidence)
        if variables is None:
            chosen = [i for i in range(len(self.variables_)) if i not in hard and i not in soft]
            if not chosen:
                raise ValueError("every variable is in the evidence; nothing is left to explain.")
        else:
            chosen = self._variable_index(variables, "variables")
            both = [self.variables_[i] for i in chosen if i in hard or i in soft]
            if both:
                raise ValueError(f"variable(s) {both} are both queried and given as evidence.")
        cpds, parents = self._indexed()
        codes, log_max = map_assignment(cpds, parents, chosen, hard, n_batch, soft)
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
        return _state_frame(columns, self.states_, before={"query": np.asarray(labels)})

    # --- likelihood and sampling

    def _log_prob(self, X: torch.Tensor) -> torch.Tensor:
        cpds, parents = self._indexed()
        codes = X.detach().cpu().numpy().astype(np.int64)
        return torch.as_tensor(log_prob_codes(cpds, parents, codes))

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
        check_is_fitted(self)
        n_samples = check_n_samples(n_samples)
        self._label_index(y, n_samples, broadcast=True)  # y must be None
        if evidence is not None and not isinstance(evidence, dict):
            raise ValueError(
                f"evidence of sample must be a dict {{variable: state}}; got "
                f"{type(evidence).__name__}."
            )
        hard, _, _, _ = self._evidence(evidence)
        fixed = {i: int(c[0]) for i, c in hard.items()}
        gen = self._generator(random_state)
        codes, log_weight = self._draw(n_samples, gen, fixed)
        if fixed or return_weights:
            if not np.isfinite(log_weight).any():
                raise ValueError(
                    "every particle has weight zero: the evidence is impossible under the "
                    "model, or too unlikely for this many samples."
                )
            weights = np.exp(log_weight - log_weight.max())
            weights /= weights.sum()
            if return_weights:
                return self._frame(codes), weights
            pick = torch.multinomial(
                torch.as_tensor(weights), n_samples, replacement=True, generator=gen
            )
            codes = codes[pick.numpy()]
        return self._frame(codes)

    def _sample(self, n_samples: int, y, gen: torch.Generator) -> torch.Tensor:
        return torch.as_tensor(self._draw(n_samples, gen, {})[0])

    def _draw(self, n_samples: int, gen: torch.Generator, fixed: dict[int, int]):
        cpds, parents = self._indexed()
        order = topological_order(parents)
        uniforms = torch.rand(n_samples, len(cpds), generator=gen, dtype=torch.float64)
        return forward_sample(cpds, parents, order, uniforms.numpy(), fixed)

    def _frame(self, codes: np.ndarray):
        return _state_frame({v: codes[:, j] for j, v in enumerate(self.variables_)}, self.states_)

    # --- building, printing and saving

    @classmethod
    def from_spec(cls, spec: dict) -> BayesianNetwork:
        """Return a fitted network from a spec of `genzoo.data.networks` (states, edges,
        parents, cpds); the tables are checked, not learned."""
        states = {v: [_python_value(s) for s in spec["states"][v]] for v in spec["states"]}
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
        model._set_fitted({
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
        import pandas as pd

        check_is_fitted(self)
        self._variable_index(var, "var")
        table = self.cpds_[var]
        parents = self.parents_[var]
        if len(parents) == 1:
            index = pd.Index(self.states_[parents[0]], name=parents[0])
        elif parents:
            index = pd.MultiIndex.from_product([self.states_[p] for p in parents], names=parents)
        else:
            index = pd.Index([""], name="")
        columns = pd.Index(self.states_[var], name=var)
        return pd.DataFrame(table.reshape(len(table), -1).T, index=index, columns=columns)

    def _state(self):
        check_is_fitted(self)
        arrays = {f"cpds_.{v}": np.ascontiguousarray(self.cpds_[v]) for v in self.variables_}
        values = {
            "variables_": list(self.variables_),
            "states_": {v: list(s) for v, s in self.states_.items()},
            "edges_": [tuple(e) for e in self.edges_],
            "parents_": {v: list(p) for v, p in self.parents_.items()},
            "n_features_in_": int(self.n_features_in_),
            "feature_names_in_": [str(v) for v in self.feature_names_in_],
            "input_shape_": list(self.input_shape_),
            "n_iter_": int(self.n_iter_),
            "converged_": bool(self.converged_),
        }
        return arrays, values

    def _set_state(self, arrays: dict, values: dict) -> None:
        variables = list(values["variables_"])
        cpds = {}
        for v in variables:
            cpd = np.asarray(arrays[f"cpds_.{v}"], dtype=np.float64)
            shape = tuple(len(values["states_"][u]) for u in [v, *values["parents_"][v]])
            if cpd.shape != shape:
                raise ValueError(f"the saved CPD of {v!r} has shape {cpd.shape}, not {shape}")
            cpds[v] = cpd
        extra = set(arrays) - {f"cpds_.{v}" for v in variables}
        if extra:
            raise ValueError(f"unexpected arrays {sorted(extra)} in the saved model")
        self._set_fitted({
            **values,
            "edges_": [tuple(e) for e in values["edges_"]],
            "feature_names_in_": np.asarray(values["feature_names_in_"], dtype=object),
            "cpds_": cpds,
        })  # fmt: skip
