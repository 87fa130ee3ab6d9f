"""Structure of discrete Bayesian networks: acyclicity, counts, scores and structure search.

Data are integer codes, (n_samples, n_variables), each column j in 0..cards[j]-1. Counts use
one `np.bincount` over mixed-radix codes of a variable and its parents. Scores are
decomposable: a network's score is the sum of each variable's local score given its parents,
so hill climbing re-scores only the families a move changes, and caches every local score.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Hashable, Iterable

import numpy as np
from scipy.special import gammaln

__all__ = [
    "LocalScores",
    "bdeu_score",
    "bic_score",
    "chow_liu",
    "estimate_cpd",
    "family_counts",
    "find_cycle",
    "hill_climb",
    "maximum_spanning_tree",
    "mutual_information",
    "topological_order",
]

# Score changes closer than this (relative) are ties in hill climbing.
_TIE = 1e-9


# --- graphs


def find_cycle(edges: Iterable[tuple[Hashable, Hashable]]) -> list | None:
    """A directed cycle of the edge list as [a, b, ..., a], or None if it is acyclic."""
    children: dict = {}
    for parent, child in edges:
        children.setdefault(parent, []).append(child)
        children.setdefault(child, [])
    colour = dict.fromkeys(children, 0)  # 0 new, 1 on the current path, 2 done
    for start in children:
        if colour[start]:
            continue
        path, stack = [start], [iter(children[start])]
        colour[start] = 1
        while stack:
            child = next(stack[-1], None)
            if child is None:
                colour[path.pop()] = 2
                stack.pop()
            elif colour[child] == 1:
                return [*path[path.index(child) :], child]
            elif colour[child] == 0:
                colour[child] = 1
                path.append(child)
                stack.append(iter(children[child]))
    return None


def topological_order(parents: list[list[int]]) -> list[int]:
    """Variables 0..d-1 ordered so that parents come first (ties by index)."""
    order, done = [], set()
    pending = list(range(len(parents)))
    while pending:
        ready = [v for v in pending if all(p in done for p in parents[v])]
        if not ready:
            raise ValueError("the parent lists have a cycle")
        order += ready
        done.update(ready)
        pending = [v for v in pending if v not in done]
    return order


# --- counts, local scores and tables from counts


def family_counts(columns: np.ndarray, cards, var: int, parents) -> np.ndarray:
    """Counts of (var, *parents) states, shape (card(var), *card(parents)).

    `columns` holds the codes one variable per row, (n_variables, n_samples), so each column
    of the data is contiguous.
    """
    index = columns[var].copy()
    size = cards[var]
    for p in parents:
        index *= cards[p]
        index += columns[p]
        size *= cards[p]
    counts = np.bincount(index, minlength=size).astype(np.float64)
    return counts.reshape(cards[var], *(cards[p] for p in parents))


def bic_score(counts: np.ndarray, n_samples: int) -> float:
    """BIC local score: log-likelihood at the ML estimate minus (log n / 2) q (r - 1)."""
    r = counts.shape[0]
    table = counts.reshape(r, -1)  # (r, q)
    totals = table.sum(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        loglik = np.where(table > 0, table * np.log(table / totals), 0.0).sum()
    return float(loglik - 0.5 * math.log(n_samples) * table.shape[1] * (r - 1))


def bdeu_score(counts: np.ndarray, equivalent_sample_size: float) -> float:
    """BDeu local score (Heckerman et al., 1995): a Dirichlet marginal likelihood with
    pseudo-count ess / (q r) per cell."""
    r = counts.shape[0]
    table = counts.reshape(r, -1)  # (r, q)
    q = table.shape[1]
    alpha, beta = equivalent_sample_size / q, equivalent_sample_size / (q * r)
    score = q * gammaln(alpha) - gammaln(table.sum(0) + alpha).sum()
    score += gammaln(table + beta).sum() - table.size * gammaln(beta)
    return float(score)


class LocalScores:
    """Cached local scores of a data set: ``scores(var, parents)``, parents in any order."""

    def __init__(self, codes: np.ndarray, cards, scoring: str = "bic", equivalent_sample_size=10.0):
        if scoring not in ("bic", "bdeu"):
            raise ValueError(f"scoring must be 'bic' or 'bdeu'; got {scoring!r}.")
        self.columns = np.ascontiguousarray(np.asarray(codes, dtype=np.int64).T)
        self.cards = list(cards)
        self.n_samples = codes.shape[0]
        self.scoring = scoring
        self.equivalent_sample_size = equivalent_sample_size
        self._cache: dict[tuple[int, frozenset], float] = {}

    def __call__(self, var: int, parents) -> float:
        key = (var, frozenset(parents))
        if key not in self._cache:
            counts = family_counts(self.columns, self.cards, var, sorted(key[1]))
            if self.scoring == "bic":
                self._cache[key] = bic_score(counts, self.n_samples)
            else:
                self._cache[key] = bdeu_score(counts, self.equivalent_sample_size)
        return self._cache[key]


def estimate_cpd(
    counts: np.ndarray, estimator: str, pseudo_count: float = 1.0, ess: float = 10.0
) -> np.ndarray:
    """A CPD (card, *parent cards) from counts of the same shape.

    "mle" divides counts by their column totals (uniform for unseen parent states);
    "dirichlet" adds `pseudo_count` to every cell first; "bdeu" adds ess / (card q).
    """
    if estimator == "dirichlet":
        counts = counts + pseudo_count
    elif estimator == "bdeu":
        counts = counts + ess / counts.size
    totals = counts.sum(0, keepdims=True)
    uniform = np.full_like(counts, 1.0 / len(counts))
    return np.where(totals > 0, counts / np.where(totals > 0, totals, 1.0), uniform)


# --- hill climbing


def _reachability(children: list[set[int]]) -> list[set[int]]:
    """For each node, the nodes reachable from it by a directed path of length >= 1."""
    reach = []
    for start in range(len(children)):
        seen, stack = set(), list(children[start])
        while stack:
            node = stack.pop()
            if node not in seen:
                seen.add(node)
                stack.extend(children[node])
        reach.append(seen)
    return reach


def _moves(parents, children, score, current, tabu, max_parents):
    """Every legal move (add, remove or flip an edge) with its score change."""
    d = len(parents)
    reach = _reachability(children)
    for u in range(d):
        for v in range(d):
            if u == v or u in parents[v] or v in parents[u]:
                continue
            if u in reach[v] or ("+", (u, v)) in tabu or len(parents[v]) >= max_parents:
                continue
            yield ("+", (u, v)), score(v, parents[v] | {u}) - current[v]
    for v in range(d):
        for u in sorted(parents[v]):
            if ("-", (u, v)) not in tabu:
                yield ("-", (u, v)), score(v, parents[v] - {u}) - current[v]
    for v in range(d):
        for u in sorted(parents[v]):
            # flipping u -> v makes a cycle when another path leads from u to v
            if any(v in reach[w] for w in children[u] if w != v):
                continue
            if ("flip", (u, v)) in tabu or ("flip", (v, u)) in tabu:
                continue
            if len(parents[u]) >= max_parents:
                continue
            delta = score(u, parents[u] | {v}) + score(v, parents[v] - {u})
            yield ("flip", (u, v)), delta - current[u] - current[v]


def hill_climb(
    codes: np.ndarray,
    cards,
    *,
    scoring: str = "bic",
    max_parents: int | None = None,
    equivalent_sample_size: float = 10.0,
    tabu_length: int = 100,
    epsilon: float = 1e-4,
    max_iter: int = 1_000_000,
    scores: LocalScores | None = None,
) -> list[tuple[int, int]]:
    """Greedy best-improvement search over DAGs from the empty graph; return its edges.

    Each step applies the add, remove or flip of one edge that most increases the score,
    among the moves that keep the graph acyclic, keep at most `max_parents` parents, and do not
    undo one of the last `tabu_length` moves; it stops when no move gains `epsilon` or more
    (Koller and Friedman, 2009, sec. 18.4.3; the moves and tabu list of pgmpy's
    HillClimbSearch).
    """
    d = len(cards)
    score = scores or LocalScores(codes, cards, scoring, equivalent_sample_size)
    max_parents = d if max_parents is None else max_parents
    parents = [set() for _ in range(d)]
    children = [set() for _ in range(d)]
    current = [score(v, ()) for v in range(d)]
    tabu: deque = deque(maxlen=tabu_length)
    for _ in range(max_iter):
        candidates = _moves(parents, children, score, current, set(tabu), max_parents)
        best, best_delta = None, -math.inf
        for move, delta in candidates:
            # Equivalent moves (u -> v or v -> u alone) tie up to rounding: the first listed,
            # with the earlier column as parent, wins, so the result does not hang on rounding.
            if best is None or delta > best_delta + _TIE * max(1.0, abs(best_delta)):
                best, best_delta = move, delta
        if best is None or best_delta < epsilon:
            break
        kind, (u, v) = best
        if kind == "+":
            parents[v].add(u)
            children[u].add(v)
            tabu.append(("-", (u, v)))
        elif kind == "-":
            parents[v].discard(u)
            children[u].discard(v)
            tabu.append(("+", (u, v)))
        else:
            parents[v].discard(u)
            children[u].discard(v)
            parents[u].add(v)
            children[v].add(u)
            tabu.append(best)
        for w in (u, v):
            current[w] = score(w, parents[w])
    return [(u, v) for v in range(d) for u in sorted(parents[v])]


# --- Chow-Liu trees


def mutual_information(codes: np.ndarray, cards) -> np.ndarray:
    """Empirical mutual information (nats) of every pair of columns, (d, d), zero diagonal."""
    columns = np.ascontiguousarray(np.asarray(codes, dtype=np.int64).T)
    d, n = columns.shape
    mi = np.zeros((d, d))
    for i in range(d):
        for j in range(i + 1, d):
            joint = family_counts(columns, cards, i, [j]) / n  # (card_i, card_j)
            outer = joint.sum(1, keepdims=True) * joint.sum(0, keepdims=True)
            with np.errstate(divide="ignore", invalid="ignore"):
                mi[i, j] = mi[j, i] = np.where(joint > 0, joint * np.log(joint / outer), 0).sum()
    return mi


def maximum_spanning_tree(weights: np.ndarray) -> list[tuple[int, int]]:
    """Prim's algorithm on a dense symmetric weight matrix; edges (in tree, new), from node 0."""
    d = len(weights)
    in_tree = np.zeros(d, dtype=bool)
    in_tree[0] = True
    best = weights[0].astype(np.float64).copy()
    link = np.zeros(d, dtype=np.int64)
    edges = []
    for _ in range(d - 1):
        candidates = np.where(in_tree, -np.inf, best)
        new = int(np.argmax(candidates))
        edges.append((int(link[new]), new))
        in_tree[new] = True
        closer = ~in_tree & (weights[new] > best)
        best[closer], link[closer] = weights[new][closer], new
    return edges


def chow_liu(codes: np.ndarray, cards, root: int = 0) -> list[tuple[int, int]]:
    """Chow and Liu (1968): the maximum spanning tree on mutual information, directed away
    from `root`; edges (parent, child)."""
    mi = mutual_information(codes, cards)
    d = len(cards)
    order = [root, *(v for v in range(d) if v != root)]
    tree = maximum_spanning_tree(mi[np.ix_(order, order)])
    return [(order[a], order[b]) for a, b in tree]
