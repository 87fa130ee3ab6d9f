"""Tables in and out of a Bayesian network: pandas frames to integer codes and back.

`BayesianNetwork` takes and returns pandas DataFrames; its math (`_factors`, `structure`) works
on integer codes, each column a vector of indices into its variable's states, -1 where missing.
These pure functions do the conversion and the checks of the tables, states and evidence a
user gives. pandas is imported inside the functions that need it, so ``import genzoo`` stays
fast.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import scipy.sparse
import torch

from genzoo.bayesnet.structure import find_cycle

__all__ = [
    "Table",
    "as_frame",
    "check_frame",
    "column_states",
    "cpd_frame",
    "encode",
    "fitted_codes",
    "joint_frame",
    "marginal_frame",
    "parse_evidence",
    "python_value",
    "state_frame",
    "training_table",
    "Vocabulary",
]


@dataclass(frozen=True)
class Table:
    """A validated training table: codes (n, d), -1 where missing, and each column's states."""

    codes: np.ndarray
    variables: list[str]
    states: dict[str, list]

    def __len__(self) -> int:
        return len(self.codes)


# --- states and codes


def as_frame(X, name: str = "X"):
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
    if scipy.sparse.issparse(X):
        raise TypeError(
            f"{name} is a scipy.sparse matrix: Sparse data is not supported; a table of states "
            f"is dense (pass {name}.toarray() or a DataFrame)."
        )
    array = np.asarray(X, dtype=object if isinstance(X, (list, tuple)) else None)
    if array.ndim != 2:
        raise ValueError(
            f"{name} must be a DataFrame or a 2-D array (n_samples, n_variables); "
            f"got shape {array.shape}."
        )
    return pd.DataFrame(array, columns=[f"x{j}" for j in range(array.shape[1])])


def python_value(value):
    return value.item() if isinstance(value, np.generic) else value


def column_states(column, name: str) -> list:
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
    values = [python_value(v) for v in values]
    for v in values:
        if isinstance(v, complex):
            raise ValueError(f"Complex data not supported: column {name!r} has {v!r}.")
        if not isinstance(v, (str, int, float, bool)):
            raise ValueError(
                f"column {name!r} has a value {v!r} of type {type(v).__name__}; states must be "
                "strings, ints, floats or bools."
            )
    return values


def encode(frame, variables, states) -> np.ndarray:
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
        mapped = np.array([lookup.get(python_value(u), -1) for u in uniques] + [-1])
        if (mapped[:-1] < 0).any():
            value = python_value(uniques[int(np.argmax(mapped[:-1] < 0))])
            raise ValueError(
                f"column {var!r} has the value {value!r}, unseen in training; its states are "
                f"{states[var]}."
            )
        codes[:, j] = mapped[local]
    return codes


# --- checks of the input tables


def check_frame(X):
    """X as a DataFrame and its column names, which must be distinct strings."""
    frame = as_frame(X)
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        what = "0 sample(s)" if frame.shape[0] == 0 else "0 feature(s)"
        raise ValueError(
            f"X is empty: Found array with {what} (shape={frame.shape}) while a minimum of 1 "
            "is required."
        )
    columns = list(frame.columns)
    if len(set(columns)) != len(columns):
        raise ValueError(f"X has duplicate column names: {columns}.")
    if not all(isinstance(c, str) for c in columns):
        raise ValueError(
            f"X's column names must be strings (they name the variables); got {columns}. "
            "Use X.columns = X.columns.astype(str)."
        )
    return frame, columns


def training_table(frame, columns: list[str], *, edges, states, missing: str) -> Table:
    """The `Table` of a training frame, its `edges` and `states` (constructor arguments)
    checked against its columns."""
    _check_edges(edges, columns)
    given = _given_states(states, columns)
    found = {}
    for var in columns:
        seen = column_states(frame[var], var)
        if var in given:
            unknown = [s for s in seen if s not in given[var]]
            if unknown:
                raise ValueError(
                    f"column {var!r} has value(s) {unknown} not in states[{var!r}] = {given[var]}."
                )
            seen = given[var]
        if not seen:
            raise ValueError(f"column {var!r} has no values (every entry is missing).")
        found[var] = seen
    codes = encode(frame, columns, found)
    absent = (codes < 0).any(0)
    if absent.any() and missing == "error":
        names = [v for v, m in zip(columns, absent, strict=True) if m]
        raise ValueError(
            f"X has missing values (NaN or None) in column(s) {names}; drop those rows or "
            "set missing='em' to fit the tables by EM."
        )
    return Table(codes, columns, found)


def _check_edges(edges, columns: list[str]) -> None:
    if edges is None:
        return
    try:
        pairs = [tuple(e) for e in edges]
    except TypeError:
        raise ValueError(f"edges must be a list of (parent, child) pairs; got {edges!r}.") from None
    for edge in pairs:
        if len(edge) != 2:
            raise ValueError(f"edges must be (parent, child) pairs; got {edge!r}.")
        unknown = [v for v in edge if v not in columns]
        if unknown:
            raise ValueError(
                f"edge {edge!r} names variable(s) {unknown} that are not columns of X {columns}."
            )
        if edge[0] == edge[1]:
            raise ValueError(f"edge {edge!r} is a self-loop; edges must form a DAG.")
    if len(set(pairs)) != len(pairs):
        raise ValueError(f"edges has duplicates: {pairs}.")
    cycle = find_cycle(pairs)
    if cycle is not None:
        raise ValueError(f"edges contain a cycle: {' -> '.join(map(str, cycle))}.")


def _given_states(states, columns: list[str]) -> dict:
    if states is None:
        return {}
    if not isinstance(states, dict):
        raise ValueError(f"states must be a dict {{column: [states]}}; got {states!r}.")
    given = {}
    for var, values in states.items():
        if var not in columns:
            raise ValueError(f"states names {var!r}, which is not a column of X {columns}.")
        values = [python_value(v) for v in values]
        if len(set(values)) != len(values) or not values:
            raise ValueError(f"states[{var!r}] must be a non-empty list of distinct states.")
        given[var] = values
    return given


def fitted_codes(X, frame, variables: list[str], states: dict) -> np.ndarray:
    """Codes (n, d) of the complete rows of `frame` (checked from `X`) for a fitted network;
    an array's columns are the variables by position."""
    if not isinstance(X, type(frame)):
        if frame.shape[1] != len(variables):
            raise ValueError(
                f"X has {frame.shape[1]} features, but BayesianNetwork is expecting "
                f"{len(variables)} features as input (the columns {variables})."
            )
        frame.columns = variables
    columns = list(frame.columns)
    absent = [v for v in variables if v not in columns]
    extra = [c for c in columns if c not in variables]
    if absent or extra:
        raise ValueError(
            f"X's columns do not match the fitted variables: missing column(s) {absent}, "
            f"unexpected column(s) {extra}; expected {variables}."
        )
    codes = encode(frame, variables, states)
    missing = (codes < 0).any(0)
    if missing.any():
        names = [v for v, m in zip(variables, missing, strict=True) if m]
        raise ValueError(
            f"X has missing values in column(s) {names}; log_prob needs complete rows."
        )
    return codes


# --- variables and evidence


@dataclass(frozen=True)
class Vocabulary:
    """A fitted network's variables and states with their name -> index and state -> code
    maps, built once, so that checking a query costs a few dict lookups."""

    variables: list[str]
    states: dict[str, list]
    index: dict[str, int]
    codes: list[dict]

    @classmethod
    def of(cls, variables: list[str], states: dict) -> Vocabulary:
        index = {v: i for i, v in enumerate(variables)}
        codes = [{s: k for k, s in enumerate(states[v])} for v in variables]
        return cls(variables, states, index, codes)

    def variable_index(self, requested, name: str) -> list[int]:
        """Indices of the `requested` variable(s), named `name` in errors."""
        if isinstance(requested, str):
            requested = [requested]
        requested = list(requested)
        index = self.index
        unknown = [v for v in requested if v not in index]
        if unknown or not requested:
            raise ValueError(
                f"{name} names unknown variable(s) {unknown}; the variables are {self.variables}."
            )
        found = [index[v] for v in requested]
        if len(set(found)) != len(found):
            raise ValueError(f"{name} repeats a variable: {requested}.")
        return found

    def evidence_codes(self, evidence: dict) -> dict[int, int]:
        """One query's evidence ``{variable: state}`` as ``{index: code}``."""
        found = {}
        if not evidence:
            return found
        for i, (var, state) in zip(
            self.variable_index(list(evidence), "evidence"), evidence.items(), strict=True
        ):
            try:
                found[i] = self.codes[i][state]
            except (KeyError, TypeError):
                raise ValueError(
                    f"evidence gives variable {var!r} the unknown state {python_value(state)!r}; "
                    f"its states are {self.states[var]}."
                ) from None
        return found


def parse_evidence(evidence, vocabulary: Vocabulary):
    """Evidence as (hard codes {index: (B,)}, soft likelihoods {index: (B, card)}, B,
    query labels or None). A DataFrame gives one query per row; NaN leaves a variable
    unobserved in that row."""
    import pandas as pd

    if evidence is None or (isinstance(evidence, dict) and not evidence):
        return {}, {}, 1, None
    if isinstance(evidence, dict):
        codes = vocabulary.evidence_codes(evidence)
        return {i: np.array([c]) for i, c in codes.items()}, {}, 1, None
    if not isinstance(evidence, pd.DataFrame):
        raise ValueError(
            f"evidence must be a dict {{variable: state}} or a DataFrame; got "
            f"{type(evidence).__name__}."
        )
    if len(evidence) == 0:
        raise ValueError("evidence is an empty DataFrame; give at least one row.")
    index = vocabulary.variable_index(list(evidence.columns), "evidence")
    try:
        codes = encode(evidence, list(evidence.columns), vocabulary.states)
    except ValueError as err:
        raise ValueError(f"evidence: {err}") from None
    hard, soft = {}, {}
    for j, i in enumerate(index):
        column = codes[:, j]
        if (column >= 0).all():
            hard[i] = column
        elif (column >= 0).any():
            eye = np.eye(len(vocabulary.codes[i]))
            soft[i] = np.where(column[:, None] >= 0, eye[column], 1.0)
    return hard, soft, len(evidence), list(evidence.index)


# --- output frames


@functools.lru_cache(maxsize=1024)
def _categorical_dtype(states: tuple):
    """The categorical dtype of a variable (built once: pandas validates it at every build)."""
    import pandas as pd

    return pd.CategoricalDtype(list(states))


def state_frame(columns: dict[str, np.ndarray], states: dict[str, list], after=None, before=None):
    """A DataFrame of categorical columns from codes, between the `before` and `after` ones."""
    import pandas as pd

    data = {
        v: pd.Categorical.from_codes(c, dtype=_categorical_dtype(tuple(states[v])))
        for v, c in columns.items()
    }
    return pd.DataFrame({**(before or {}), **data, **(after or {})}, copy=False)


def joint_frame(names: list[str], probs: np.ndarray, labels, states: dict):
    """A joint posterior (B, *cards) as a column per variable and ``probability``."""
    cards = probs.shape[1:]
    grid = np.indices(cards).reshape(len(cards), -1)  # (k, n_states)
    n_batch, n_states = len(probs), grid.shape[1]
    columns = {v: np.tile(grid[k], n_batch) for k, v in enumerate(names)}
    first = {} if labels is None else {"query": np.repeat(np.asarray(labels), n_states)}
    return state_frame(columns, states, {"probability": probs.reshape(-1)}, first)


def marginal_frame(names: list[str], marginals, labels, states: dict):
    """Marginal posteriors, each (B, card), as ``variable``, ``state`` and ``probability``."""
    import pandas as pd

    parts = []
    for var, probs in zip(names, marginals, strict=True):
        n_batch, card = probs.shape
        part = {
            "variable": [var] * (n_batch * card),
            "state": states[var] * n_batch,
            "probability": probs.reshape(-1),
        }
        if labels is not None:
            part = {"query": np.repeat(np.asarray(labels), card), **part}
        parts.append(pd.DataFrame(part))
    return pd.concat(parts, ignore_index=True)


def cpd_frame(table: np.ndarray, var: str, parents: list[str], states: dict):
    """A CPD as a DataFrame: a row per parent state, a column per state of `var`."""
    import pandas as pd

    if len(parents) == 1:
        index = pd.Index(states[parents[0]], name=parents[0])
    elif parents:
        index = pd.MultiIndex.from_product([states[p] for p in parents], names=parents)
    else:
        index = pd.Index([""], name="")
    columns = pd.Index(states[var], name=var)
    return pd.DataFrame(table.reshape(len(table), -1).T, index=index, columns=columns)
