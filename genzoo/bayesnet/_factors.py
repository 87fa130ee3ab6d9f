"""Factor algebra and exact inference for discrete Bayesian networks, on numpy arrays.

Variables are integers 0..d-1. A factor is a table with one axis per variable in its scope,
after an optional leading batch axis: a batch of B queries shares the CPDs that no evidence
touches (no batch axis) and carries its own copy of those it reduces ((B, ...) tables), so
one pass of einsums answers B queries with different evidence values.

Variable elimination (Zhang and Poole, 1994; Koller and Friedman, 2009, alg. 9.1) removes the
variables that are neither queried nor ancestors of the query or the evidence (barren nodes),
reduces the evidence by indexing, and sums out the rest in a greedy min-fill order. Each
intermediate table is divided by its largest entry and the log of that scale is carried, so
no product underflows however large the network.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from genzoo.bayesnet.structure import family_counts

__all__ = [
    "Factor",
    "ancestors",
    "cpd_factors",
    "eliminate",
    "expected_counts",
    "forward_sample",
    "log_prob_codes",
    "map_assignment",
    "min_fill_order",
    "posterior",
    "reduce",
]

# np.einsum names axes by integers below 52.
_MAX_EINSUM_LABELS = 52
_MAX_EINSUM_OPERANDS = 16


class Factor(NamedTuple):
    """A non-negative table over `scope`; with `batched`, axis 0 indexes the queries."""

    scope: tuple[int, ...]
    table: np.ndarray
    batched: bool = False


# --- graph helpers


def ancestors(parents: list[list[int]], nodes) -> set[int]:
    """The given nodes and all their ancestors."""
    seen, stack = set(nodes), list(nodes)
    while stack:
        for p in parents[stack.pop()]:
            if p not in seen:
                seen.add(p)
                stack.append(p)
    return seen


def min_fill_order(scopes, eliminate_vars) -> list[int]:
    """Greedy elimination order: each step removes the variable adding the fewest fill edges.

    Ties go to the variable with fewest neighbours, then to the lowest id, so the order is
    deterministic.
    """
    neighbours: dict[int, set[int]] = {}
    for scope in scopes:
        for v in scope:
            neighbours.setdefault(v, set()).update(u for u in scope if u != v)
    remaining = set(eliminate_vars)
    order = []
    while remaining:

        def cost(v):
            near = list(neighbours.get(v, ()))
            fill = sum(
                1 for i, a in enumerate(near) for b in near[i + 1 :] if b not in neighbours[a]
            )
            return fill, len(near), v

        best = min(remaining, key=cost)
        near = neighbours.pop(best, set())
        for a in near:
            neighbours[a].discard(best)
            neighbours[a].update(near - {a})
        remaining.discard(best)
        order.append(best)
    return order


# --- factor operations


def cpd_factors(cpds: list[np.ndarray], parents: list[list[int]], keep=None) -> list[Factor]:
    """One factor per CPD (over the variable, then its parents), for the variables in `keep`."""
    keep = range(len(cpds)) if keep is None else keep
    return [Factor((v, *parents[v]), cpds[v]) for v in sorted(keep)]


def reduce(factor: Factor, evidence: dict[int, np.ndarray]) -> Factor:
    """Index the evidence variables out of `factor`; `evidence` maps a variable to (B,) codes.

    The result is batched whenever evidence touches the factor (a gather along the batch axis).
    """
    observed = [v for v in factor.scope if v in evidence]
    if not observed:
        return factor
    rest = tuple(v for v in factor.scope if v not in evidence)
    # One gather: an index array per evidence axis (and the batch axis), a slice elsewhere;
    # numpy puts the gathered (B,) axis first when the arrays sit on adjacent axes or not.
    index = [evidence[v] if v in evidence else slice(None) for v in factor.scope]
    if factor.batched:
        index = [np.arange(len(factor.table)), *index]
    table = factor.table[tuple(index)]
    if not _adjacent_leading(index):
        # numpy keeps the gathered axis in place of adjacent index arrays: move it first
        first = next(k for k, i in enumerate(index) if not isinstance(i, slice))
        table = np.moveaxis(table, first, 0)
    return Factor(rest, table, True)  # (B, *rest)


def _adjacent_leading(index) -> bool:
    """Whether numpy's advanced indexing with `index` puts the gathered axis first."""
    arrays = [k for k, i in enumerate(index) if not isinstance(i, slice)]
    adjacent = arrays == list(range(arrays[0], arrays[-1] + 1))
    return not adjacent or arrays[0] == 0


def _einsum(factors: list[Factor], out_scope: tuple[int, ...]) -> tuple[np.ndarray, bool]:
    """Product of `factors`, summed over every variable not in `out_scope`."""
    while len(factors) > _MAX_EINSUM_OPERANDS:  # np.einsum takes at most 32 operands
        head = factors[:_MAX_EINSUM_OPERANDS]
        scope = tuple(sorted(set().union(*(f.scope for f in head))))
        factors = [Factor(scope, *_einsum(head, scope)), *factors[_MAX_EINSUM_OPERANDS:]]
    variables = sorted(set().union(*(f.scope for f in factors)))
    if len(variables) >= _MAX_EINSUM_LABELS:
        raise ValueError(
            f"variable elimination needs a table over {len(variables)} variables; the network "
            "is too densely connected for exact inference."
        )
    label = {v: i for i, v in enumerate(variables)}
    batch = len(variables)
    batched = any(f.batched for f in factors)
    operands = []
    for f in factors:
        operands += [f.table, ([batch] if f.batched else []) + [label[v] for v in f.scope]]
    out = ([batch] if batched else []) + [label[v] for v in out_scope]
    return np.einsum(*operands, out), batched


def _rescale(table: np.ndarray, batched: bool) -> tuple[np.ndarray, np.ndarray]:
    """Divide a table by its largest entry (per query); return it and the log of the scale."""
    if not batched:
        scale = table.max() if table.size else 1.0
        if scale > 0:
            return table / scale, np.log(scale)
        return table, -np.inf
    scale = table.reshape(len(table), -1).max(1)  # (B,)
    if not (scale > 0).all():  # impossible evidence in some query: keep its zeros
        with np.errstate(divide="ignore"):
            log_scale = np.log(scale)
        scale = np.where(scale > 0, scale, 1.0)
    else:
        log_scale = np.log(scale)
    return table / scale.reshape((-1,) + (1,) * (table.ndim - 1)), log_scale


# --- variable elimination


def eliminate(factors: list[Factor], order, n_batch: int) -> tuple[list[Factor], np.ndarray]:
    """Sum out the variables of `order` in turn; return the remaining factors and log scale."""
    factors = list(factors)
    log_scale = np.zeros(n_batch)
    for v in order:
        involved = [f for f in factors if v in f.scope]
        if not involved:
            continue
        factors = [f for f in factors if v not in f.scope]
        scope = tuple(sorted(set().union(*(f.scope for f in involved)) - {v}))
        table, batched = _einsum(involved, scope)
        table, log_s = _rescale(table, batched)
        log_scale = log_scale + log_s
        factors.append(Factor(scope, table, batched))
    return factors, log_scale


def _reduced_factors(cpds, parents, targets, evidence, likelihood):
    """CPD factors of the relevant variables with hard evidence indexed out and soft evidence
    (per-query likelihood vectors, (B, card)) attached."""
    likelihood = likelihood or {}
    relevant = ancestors(parents, [*targets, *evidence, *likelihood])
    factors = [reduce(f, evidence) for f in cpd_factors(cpds, parents, relevant)]
    factors += [Factor((v,), lam, True) for v, lam in likelihood.items() if v in relevant]
    return factors, relevant


def posterior(
    cpds: list[np.ndarray],
    parents: list[list[int]],
    query: list[int],
    evidence: dict[int, np.ndarray],
    n_batch: int,
    likelihood: dict[int, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Joint posterior of `query` given the evidence, for a batch of queries.

    Parameters
    ----------
    cpds, parents : the network; ``cpds[v]`` has shape (card(v), *card(parents[v])).
    query : the query variables, none of them in `evidence`.
    evidence : variable -> (n_batch,) int codes of its observed state in each query.
    n_batch : number of queries B.
    likelihood : variable -> (n_batch, card) soft evidence multiplied in (1 for unobserved).

    Returns
    -------
    probs : ndarray (B, *card(query)), each query's posterior (NaN where P(evidence) = 0).
    log_evidence : ndarray (B,), log P(evidence) of each query.
    """
    factors, relevant = _reduced_factors(cpds, parents, query, evidence, likelihood)
    hidden = relevant - set(query) - set(evidence)
    order = min_fill_order([f.scope for f in factors], hidden)
    factors, log_scale = eliminate(factors, order, n_batch)
    query = tuple(query)
    if factors:
        table, batched = _einsum(factors, query)
    else:
        table, batched = np.ones(()), False
    if not batched:
        table = np.broadcast_to(table, (n_batch, *table.shape))
    total = table.reshape(n_batch, -1).sum(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        probs = table / total.reshape((-1,) + (1,) * len(query))
        log_evidence = log_scale + np.log(total)
    return probs, log_evidence


# --- max-product


def _max_out(factors: list[Factor], v: int, n_batch: int):
    """Multiply the factors over v and maximise v out; return the new factor, the log of its
    scale, its scope and the argmax table (B, *scope)."""
    scope = tuple(sorted(set().union(*(f.scope for f in factors))))
    table, batched = _einsum(factors, scope)
    if not batched:
        table = np.broadcast_to(table, (n_batch, *table.shape))
    axis = 1 + scope.index(v)
    rest = tuple(u for u in scope if u != v)
    best = table.argmax(axis)  # (B, *rest)
    table, log_scale = _rescale(table.max(axis), True)
    return Factor(rest, table, True), log_scale, rest, best


def map_assignment(
    cpds: list[np.ndarray],
    parents: list[list[int]],
    map_vars: list[int],
    evidence: dict[int, np.ndarray],
    n_batch: int,
    likelihood: dict[int, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Most probable joint state of `map_vars` given the evidence, for a batch of queries.

    The other variables are summed out first (marginal MAP); then the MAP variables are
    maximised out in min-fill order, keeping each argmax table, and a traceback in reverse
    order reads off the assignment (Koller and Friedman, 2009, alg. 13.1). Arguments as in
    `posterior`.

    Returns
    -------
    codes : ndarray (B, len(map_vars)), the MAP state of each variable per query.
    log_max : ndarray (B,), log max P(map_vars, evidence); -inf where the evidence is
        impossible.
    """
    factors, relevant = _reduced_factors(cpds, parents, map_vars, evidence, likelihood)
    hidden = relevant - set(map_vars) - set(evidence)
    order = min_fill_order([f.scope for f in factors], hidden)
    factors, log_max = eliminate(factors, order, n_batch)
    traceback = []
    for v in min_fill_order([f.scope for f in factors], map_vars):
        involved = [f for f in factors if v in f.scope]  # never empty: v is not summed out
        factors = [f for f in factors if v not in f.scope]
        new, log_scale, rest, best = _max_out(involved, v, n_batch)
        log_max = log_max + log_scale
        factors.append(new)
        traceback.append((v, rest, best))
    if factors:  # what is left has an empty scope: constants per query
        table, batched = _einsum(factors, ())
        with np.errstate(divide="ignore"):
            log_max = log_max + np.log(table)
    assignment: dict[int, np.ndarray] = {}
    rows = np.arange(n_batch)
    for v, rest, best in reversed(traceback):
        assignment[v] = best[(rows, *(assignment[u] for u in rest))]
    return np.stack([assignment[v] for v in map_vars], axis=1), log_max


# --- the whole network: likelihood, forward sampling, expected counts


def log_prob_codes(cpds, parents, codes: np.ndarray) -> np.ndarray:
    """Exact log P(row) of complete rows of codes, (n,)."""
    total = np.zeros(len(codes))
    with np.errstate(divide="ignore"):
        for v, cpd in enumerate(cpds):
            index = codes[:, v].copy()
            for p in parents[v]:
                index = index * cpd.shape[1 + parents[v].index(p)] + codes[:, p]
            total += np.log(cpd.reshape(-1)[index])
    return total


def forward_sample(cpds, parents, order, uniforms: np.ndarray, fixed: dict[int, int]):
    """Forward-sample rows from uniforms (n, d), clamping `fixed` variables (likelihood
    weighting); return codes (n, d) and the log weights (n,)."""
    n, d = uniforms.shape
    codes = np.zeros((n, d), dtype=np.int64)
    log_weight = np.zeros(n)
    for v in order:
        cpd = cpds[v]
        config = np.zeros(n, dtype=np.int64)
        for p in parents[v]:
            config = config * len(cpds[p]) + codes[:, p]
        columns = cpd.reshape(len(cpd), -1)  # (card, q)
        if v in fixed:
            codes[:, v] = fixed[v]
            with np.errstate(divide="ignore"):
                log_weight += np.log(columns[fixed[v], config])
            continue
        cumulative = np.cumsum(columns[:, config].T, axis=1)  # (n, card)
        u = uniforms[:, v : v + 1] * cumulative[:, -1:]
        codes[:, v] = np.minimum((u >= cumulative).sum(1), len(cpd) - 1)
    return codes, log_weight


def expected_counts(cpds, parents, cards, codes: np.ndarray):
    """Expected family counts of rows of codes with -1 where missing, and their log-likelihood.

    Complete rows are counted directly; the others by batched inference: each family's
    posterior given each row's observed values, variables observed in every row as hard
    evidence and the rest as per-row likelihood vectors (one-hot, or ones where missing).
    """
    complete = (codes >= 0).all(1)
    columns = np.ascontiguousarray(codes[complete].T)
    counts = [family_counts(columns, cards, v, parents[v]) for v in range(len(cards))]
    loglik = log_prob_codes(cpds, parents, codes[complete]).sum()
    partial = codes[~complete]
    if len(partial) == 0:
        return counts, loglik
    observed = partial >= 0
    hard = {u: partial[:, u] for u in range(len(cards)) if observed[:, u].all()}
    soft = {
        u: np.where(observed[:, u, None], np.eye(cards[u])[partial[:, u]], 1.0)
        for u in range(len(cards))
        if observed[:, u].any() and u not in hard
    }  # (B, card)
    for v in range(len(cards)):
        family = [v, *parents[v]]
        family_hard = {u: c for u, c in hard.items() if u not in family}
        family_soft = {**soft, **{u: np.eye(cards[u])[hard[u]] for u in family if u in hard}}
        probs, log_evidence = posterior(
            cpds, parents, family, family_hard, len(partial), family_soft
        )
        counts[v] = counts[v] + probs.sum(0)
    return counts, loglik + log_evidence.sum()
