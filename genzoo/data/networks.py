"""Discrete Bayesian networks with known tables: asia, sprinkler and the seed text's animals.

Each network is a spec, a plain dict of numpy arrays and lists:

- ``"states"``: ``{variable: [state names]}``, in the network's variable order;
- ``"edges"``: ``[(parent, child), ...]``;
- ``"parents"``: ``{variable: [parents]}``, in the order the edges list them;
- ``"cpds"``: ``{variable: ndarray of shape (card(variable), *card(parents))}``, where
  ``cpds[v][i, j, ...]`` is P(v = states[v][i] | parents in states j, ...).

`sample_network` draws rows from a spec by ancestral sampling, vectorised over rows.
"""

from __future__ import annotations

import copy
import numbers

import numpy as np

__all__ = ["NETWORKS", "network_spec", "sample_network"]


# --- the specs


def _spec(states: dict, parents: dict, cpds: dict) -> dict:
    """A spec from states, parents and nested-list CPDs (child state first)."""
    edges = [(p, child) for child in states for p in parents.get(child, [])]
    return {
        "states": {v: list(s) for v, s in states.items()},
        "edges": edges,
        "cpds": {v: np.asarray(cpds[v], dtype=np.float64) for v in states},
        "parents": {v: list(parents.get(v, [])) for v in states},
    }


def _asia() -> dict:
    """Lauritzen and Spiegelhalter (1988), the tables of the bnlearn repository."""
    yes_no = ["yes", "no"]
    states = {v: yes_no for v in ("asia", "tub", "smoke", "lung", "bronc", "either", "xray")}
    states["dysp"] = yes_no
    parents = {
        "tub": ["asia"],
        "lung": ["smoke"],
        "bronc": ["smoke"],
        "either": ["lung", "tub"],
        "xray": ["either"],
        "dysp": ["bronc", "either"],
    }
    cpds = {
        "asia": [0.01, 0.99],
        "tub": [[0.05, 0.01], [0.95, 0.99]],
        "smoke": [0.5, 0.5],
        "lung": [[0.1, 0.01], [0.9, 0.99]],
        "bronc": [[0.6, 0.3], [0.4, 0.7]],
        # either = lung or tub, deterministically
        "either": [[[1.0, 1.0], [1.0, 0.0]], [[0.0, 0.0], [0.0, 1.0]]],
        "xray": [[0.98, 0.05], [0.02, 0.95]],
        "dysp": [[[0.9, 0.8], [0.7, 0.1]], [[0.1, 0.2], [0.3, 0.9]]],
    }
    return _spec(states, parents, cpds)


def _sprinkler() -> dict:
    """The sprinkler network of Russell and Norvig (2003, fig. 14.12) and Murphy's BNT.

    States are "F" and "T", in that order (BNT's 1 = false, 2 = true).
    """
    states = {v: ["F", "T"] for v in ("cloudy", "sprinkler", "rain", "wet_grass")}
    parents = {"sprinkler": ["cloudy"], "rain": ["cloudy"], "wet_grass": ["sprinkler", "rain"]}
    cpds = {
        "cloudy": [0.5, 0.5],
        "sprinkler": [[0.5, 0.9], [0.5, 0.1]],
        "rain": [[0.8, 0.2], [0.2, 0.8]],
        # P(wet_grass | sprinkler, rain): axes (wet_grass, sprinkler, rain)
        "wet_grass": [[[1.0, 0.1], [0.1, 0.01]], [[0.0, 0.9], [0.9, 0.99]]],
    }
    return _spec(states, parents, cpds)


# The seed text's table (shared/seeds/000_b130acecb95228cd.txt): one row per animal.
_ANIMALS = {
    "Cat": {"covering": "fur", "legs": "4", "tail": "yes", "beak": "no"},
    "Dog": {"covering": "fur", "legs": "4", "tail": "yes", "beak": "no"},
    "Bird": {"covering": "feathers", "legs": "2", "tail": "no", "beak": "yes"},
    "Snake": {"covering": "scales", "legs": "0", "tail": "yes", "beak": "no"},
}


def _animals() -> dict:
    """The animal table: equally likely labels, each feature deterministic given the label."""
    labels = list(_ANIMALS)
    states = {
        "covering": ["fur", "feathers", "scales"],
        "legs": ["4", "2", "0"],
        "tail": ["yes", "no"],
        "beak": ["yes", "no"],
        "label": labels,
    }
    cpds = {"label": np.full(len(labels), 1.0 / len(labels))}
    for feature in ("covering", "legs", "tail", "beak"):
        table = np.zeros((len(states[feature]), len(labels)))
        for j, label in enumerate(labels):
            table[states[feature].index(_ANIMALS[label][feature]), j] = 1.0
        cpds[feature] = table
    parents = {f: ["label"] for f in ("covering", "legs", "tail", "beak")}
    return _spec(states, parents, cpds)


NETWORKS: dict[str, dict] = {"asia": _asia(), "sprinkler": _sprinkler(), "animals": _animals()}


# --- access and sampling


def network_spec(name: str) -> dict:
    """Return a deep copy of the built-in network `name` ("asia", "sprinkler", "animals")."""
    if name not in NETWORKS:
        raise ValueError(
            f"unknown network {name!r}; built-in networks: {', '.join(sorted(NETWORKS))}."
        )
    return copy.deepcopy(NETWORKS[name])


def _topological(spec: dict) -> list[str]:
    order, done = [], set()
    pending = list(spec["states"])
    while pending:
        ready = [v for v in pending if set(spec["parents"][v]) <= done]
        if not ready:
            raise ValueError(f"the network's edges have a cycle among {pending}")
        order += ready
        done.update(ready)
        pending = [v for v in pending if v not in done]
    return order


def sample_network(name_or_spec, n_samples: int, *, random_state=None):
    """Draw `n_samples` rows from a network by ancestral sampling; return a DataFrame.

    Parameters
    ----------
    name_or_spec : str or dict
        A built-in network name, or a spec as described in this module's docstring.
    n_samples : int
        Number of rows.
    random_state : int or None
        Seed of numpy's generator; an int gives the same rows on every call.

    Returns
    -------
    pandas.DataFrame of shape (n_samples, n_variables)
        Columns in the spec's variable order, of dtype ``category`` with the states as
        categories.
    """
    import pandas as pd

    spec = network_spec(name_or_spec) if isinstance(name_or_spec, str) else name_or_spec
    if isinstance(n_samples, bool) or not isinstance(n_samples, numbers.Integral) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive int; got {n_samples!r}.")
    rng = np.random.default_rng(random_state)
    codes: dict[str, np.ndarray] = {}
    for var in _topological(spec):
        cpd = spec["cpds"][var]
        # one column of the CPD per row: (n, card) conditionals given the sampled parents
        columns = cpd.reshape(len(cpd), -1)
        index = np.zeros(n_samples, dtype=np.int64)
        for parent in spec["parents"][var]:
            index = index * len(spec["states"][parent]) + codes[parent]
        cumulative = np.cumsum(columns[:, index].T, axis=1)
        u = rng.random(n_samples)[:, None] * cumulative[:, -1:]
        codes[var] = np.minimum((u >= cumulative).sum(1), len(cpd) - 1)
    return pd.DataFrame(
        {
            var: pd.Categorical.from_codes(codes[var], categories=states)
            for var, states in spec["states"].items()
        }
    )
