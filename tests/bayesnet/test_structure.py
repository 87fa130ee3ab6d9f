"""Structure learning: cycles, counts, local scores against pgmpy, Chow-Liu against a brute-force
maximum spanning tree, hill climbing on asia."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy.sparse.csgraph import minimum_spanning_tree
from sklearn.metrics import mutual_info_score

from genzoo.bayesnet.network import BayesianNetwork
from genzoo.bayesnet.structure import (
    LocalScores,
    _moves,
    chow_liu,
    family_counts,
    find_cycle,
    hill_climb,
    mutual_information,
    topological_order,
)
from genzoo.data.networks import network_spec, sample_network

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


def codes_of(X: pd.DataFrame):
    codes = np.stack([X[v].cat.codes.to_numpy() for v in X.columns], axis=1).astype(np.int64)
    return codes, [len(X[v].cat.categories) for v in X.columns]


def skeleton(edges) -> set[frozenset]:
    return {frozenset(e) for e in edges}


@pytest.fixture(scope="module")
def asia_20k():
    return sample_network("asia", 20_000, random_state=0)


# --- graphs and counts


def test_find_cycle_and_topological_order():
    assert find_cycle([("a", "b"), ("b", "c"), ("a", "c")]) is None
    assert find_cycle([("a", "b"), ("b", "c"), ("c", "a")]) == ["a", "b", "c", "a"]
    assert find_cycle([("x", "y"), ("b", "b")]) == ["b", "b"]
    order = topological_order([[2], [], [1], [0, 2]])
    assert order.index(1) < order.index(2) < order.index(0) < order.index(3)


def test_family_counts_equal_a_crosstab():
    X = sample_network("asia", 3000, random_state=1)
    codes, cards = codes_of(X)
    counts = family_counts(np.ascontiguousarray(codes.T), cards, 7, [4, 5])  # dysp | bronc, either
    table = X.groupby(["dysp", "bronc", "either"], observed=False).size().to_numpy()
    np.testing.assert_array_equal(counts.reshape(-1), table)


def test_mutual_information_equals_sklearn():
    X = sample_network("asia", 3000, random_state=2)
    codes, cards = codes_of(X)
    mi = mutual_information(codes, cards)
    for i, j in itertools.combinations(range(len(cards)), 2):
        assert mi[i, j] == pytest.approx(mutual_info_score(codes[:, i], codes[:, j]), abs=1e-12)


# --- scores


@pytest.mark.parametrize("scoring", ["bic", "bdeu"])
def test_local_scores_equal_pgmpy(scoring):
    structure_score = pytest.importorskip("pgmpy.structure_score")
    X = sample_network("asia", 2000, random_state=3)
    codes, cards = codes_of(X)
    names = list(X.columns)
    states = {v: list(X[v].cat.categories) for v in names}
    data = X.astype(str)
    if scoring == "bic":
        reference = structure_score.BIC(data, state_names=states)
    else:
        reference = structure_score.BDeu(data, equivalent_sample_size=7, state_names=states)
    ours = LocalScores(codes, cards, scoring, equivalent_sample_size=7.0)
    families = [(0, ()), (1, (0,)), (5, (3, 1)), (7, (4, 5)), (6, (0, 2, 3)), (2, (5, 6, 7))]
    for var, parents in families:
        expected = reference.local_score(names[var], tuple(names[p] for p in parents))
        assert ours(var, parents) == pytest.approx(expected, rel=1e-10, abs=1e-8)


# --- Chow-Liu


def _brute_force_tree(weights: np.ndarray) -> tuple[float, set[frozenset]]:
    """The maximum-weight spanning tree by trying every set of d - 1 edges: (weight, edges)."""
    d = len(weights)
    pairs = list(itertools.combinations(range(d), 2))
    best, best_edges = -np.inf, None
    for edges in itertools.combinations(pairs, d - 1):
        component = list(range(d))

        def find(a, component=component):
            while component[a] != a:
                a = component[a]
            return a

        tree = True
        for a, b in edges:
            ra, rb = find(a), find(b)
            if ra == rb:
                tree = False
                break
            component[ra] = rb
        total = sum(weights[a, b] for a, b in edges)
        if tree and total > best:
            best, best_edges = total, edges
    return best, skeleton(best_edges)


@pytest.mark.parametrize("name", ["asia", "sprinkler", "animals"])
def test_chow_liu_is_the_maximum_spanning_tree(name):
    X = sample_network(name, 4000, random_state=4)
    if name == "asia":  # 6 of its 8 variables keep the enumeration of trees small
        X = X[["asia", "tub", "smoke", "lung", "either", "xray"]]
    codes, cards = codes_of(X)
    mi = mutual_information(codes, cards)
    edges = chow_liu(codes, cards, root=0)
    best, best_edges = _brute_force_tree(mi)
    assert sum(mi[a, b] for a, b in edges) == pytest.approx(best, abs=1e-12)
    if name != "animals":  # animals' features are copies of the label: MI ties, many trees
        assert skeleton(edges) == best_edges
    # directed away from the root: every variable but the root has exactly one parent
    children = [c for _, c in edges]
    assert sorted(children) == list(range(1, len(cards)))
    model = BayesianNetwork(structure="chow_liu").fit(X)
    assert skeleton(model.edges_) == skeleton((X.columns[a], X.columns[b]) for a, b in edges)


def test_chow_liu_equals_scipy_spanning_tree_on_all_of_asia():
    X = sample_network("asia", 4000, random_state=4)
    codes, cards = codes_of(X)
    mi = mutual_information(codes, cards)
    tree = minimum_spanning_tree(-np.triu(mi)).toarray()  # max tree: min tree of -MI
    assert skeleton(chow_liu(codes, cards)) == skeleton(zip(*np.nonzero(tree), strict=True))


# --- hill climbing


def test_hill_climbing_recovers_the_asia_skeleton():
    true = skeleton(network_spec("asia")["edges"])
    exact = 0
    for seed in range(4):
        X = sample_network("asia", 20_000, random_state=seed)
        learned = skeleton(BayesianNetwork().fit(X).edges_)
        # asia -> tub is barely identifiable: P(tub) goes from 0.01 to 0.05 in the 1% of
        # rows with asia = yes, an expected BIC gain of ~3 nats with a sampling sd of ~4, so
        # some samples of 20,000 rows (seed 0) favour the graph without it. Every other edge
        # must be found, with no extra edge; asia - tub exactly when adding it alone gains.
        assert learned - true == set(), (seed, learned - true)
        assert true - learned <= {frozenset(("asia", "tub"))}, (seed, true - learned)
        codes, cards = codes_of(X)
        scores = LocalScores(codes, cards, "bic")
        gains = scores(1, [0]) - scores(1, []) > 0
        assert (frozenset(("asia", "tub")) in learned) == gains, seed
        exact += learned == true
    assert exact >= 3


def test_hill_climbing_scores_at_least_the_true_graph_and_respects_max_parents(asia_20k):
    codes, cards = codes_of(asia_20k)
    scores = LocalScores(codes, cards, "bic")
    names = list(asia_20k.columns)
    spec = network_spec("asia")
    true = sum(scores(names.index(v), [names.index(p) for p in spec["parents"][v]]) for v in names)
    edges = hill_climb(codes, cards, scoring="bic", scores=scores)
    parents = [[u for u, v in edges if v == w] for w in range(len(cards))]
    assert sum(scores(v, parents[v]) for v in range(len(cards))) >= true - 1e-6
    assert find_cycle(edges) is None
    limited = hill_climb(codes, cards, scoring="bdeu", max_parents=1)
    assert max(np.bincount([v for _, v in limited], minlength=len(cards))) <= 1


def test_hill_climbing_ends_at_a_local_maximum():
    X = sample_network("sprinkler", 5000, random_state=5)
    codes, cards = codes_of(X)
    scores = LocalScores(codes, cards, "bic")
    edges = hill_climb(codes, cards, scoring="bic", scores=scores)
    parents = [{u for u, v in edges if v == w} for w in range(len(cards))]
    children = [{v for u, v in edges if u == w} for w in range(len(cards))]
    current = [scores(v, parents[v]) for v in range(len(cards))]
    moves = list(_moves(parents, children, scores, current, set(), len(cards)))
    assert moves and max(delta for _, delta in moves) < 1e-4
    # every move it lists keeps the graph acyclic
    for (kind, (u, v)), _ in moves:
        changed = set(edges) - ({(u, v)} if kind != "+" else set())
        changed |= {(u, v)} if kind == "+" else {(v, u)} if kind == "flip" else set()
        assert find_cycle(changed) is None, (kind, u, v)
