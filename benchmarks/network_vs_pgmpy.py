"""BayesianNetwork against pgmpy on asia: variable-elimination queries and hill climbing.

Both libraries fit asia's true graph on the same 10,000 sampled rows by maximum likelihood.
1,000 random queries ask for one variable given two others (their states taken from sampled
rows, so every evidence is possible): pgmpy's VariableElimination answers them one by one;
genzoo answers them one by one (a dict of evidence per call) and batched (the queries grouped by
their (query variable, evidence variables) signature, one DataFrame of evidence and one
vectorised pass per group). The answers must agree to 1e-9. Then both learn the structure
from the 10,000 rows by hill climbing on BIC (no limit on parents; genzoo's time is its whole
`fit`, tables included), and the learned edge sets are compared.

    python benchmarks/network_vs_pgmpy.py [--queries 1000] [--repeats 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import warnings

import numpy as np
import torch
from _timing import timed  # benchmarks/ is on the path when run as a script

from genzoo.bayesnet.network import BayesianNetwork
from genzoo.bayesnet.structure import LocalScores
from genzoo.data.networks import network_spec, sample_network

N_ROWS, N_EVIDENCE = 10_000, 2


def make_queries(data, n_queries: int, seed: int = 0):
    """(query variable, evidence dict) pairs, evidence states read off random rows."""
    rng = np.random.default_rng(seed)
    names = list(data.columns)
    queries = []
    for _ in range(n_queries):
        chosen = rng.choice(len(names), size=1 + N_EVIDENCE, replace=False)
        row = data.iloc[int(rng.integers(len(data)))]
        evidence = {names[j]: str(row[names[j]]) for j in chosen[1:]}
        queries.append((names[chosen[0]], evidence))
    return queries


# --- the libraries


def genzoo_one_by_one(bn, queries):
    return [bn.query(var, evidence)["probability"].to_numpy() for var, evidence in queries]


def genzoo_batched(bn, queries):
    import pandas as pd

    groups: dict[tuple, list[int]] = {}
    for k, (var, evidence) in enumerate(queries):
        groups.setdefault((var, *sorted(evidence)), []).append(k)
    answers = [None] * len(queries)
    for (var, *given), members in groups.items():
        evidence = pd.DataFrame({v: [queries[k][1][v] for k in members] for v in given})
        probs = bn.query(var, evidence)["probability"].to_numpy()
        for k, p in zip(members, probs.reshape(len(members), -1), strict=True):
            answers[k] = p
    return answers


def genzoo_batched_by_variable(bn, queries):
    """All queries of one variable in one pass: one evidence column per other variable, NaN
    where a query leaves it unobserved."""
    import pandas as pd

    groups: dict[str, list[int]] = {}
    for k, (var, _) in enumerate(queries):
        groups.setdefault(var, []).append(k)
    answers = [None] * len(queries)
    for var, members in groups.items():
        others = [v for v in bn.variables_ if v != var]
        evidence = pd.DataFrame({v: [queries[k][1].get(v) for k in members] for v in others})
        probs = bn.query(var, evidence)["probability"].to_numpy()
        for k, p in zip(members, probs.reshape(len(members), -1), strict=True):
            answers[k] = p
    return answers


def pgmpy_model(data):
    from pgmpy.models import DiscreteBayesianNetwork

    model = DiscreteBayesianNetwork(network_spec("asia")["edges"])
    model.fit(data.astype(str))  # maximum likelihood
    return model


def pgmpy_one_by_one(model, queries, states):
    from pgmpy.inference import VariableElimination

    inference = VariableElimination(model)
    answers = []
    for var, evidence in queries:
        factor = inference.query([var], evidence=evidence, show_progress=False)
        order = [factor.state_names[var].index(s) for s in states[var]]
        answers.append(factor.values[order])
    return answers


def pgmpy_hill_climb(data):
    from pgmpy.estimators import HillClimbSearch

    search = HillClimbSearch(data.astype(str))
    return set(search.estimate(scoring_method="bic-d", show_progress=False).edges())


# --- comparing structures


def bic(data, edges) -> float:
    names = list(data.columns)
    codes = np.stack([data[v].cat.codes.to_numpy() for v in names], 1).astype(np.int64)
    scores = LocalScores(codes, [len(data[v].cat.categories) for v in names], "bic")
    return sum(scores(names.index(w), [names.index(u) for u, v in edges if v == w]) for w in names)


def describe(edges, true) -> str:
    skeleton = {frozenset(e) for e in edges}
    true_skeleton = {frozenset(e) for e in true}
    missing = sorted("-".join(sorted(e)) for e in true_skeleton - skeleton)
    extra = sorted("-".join(sorted(e)) for e in skeleton - true_skeleton)
    return f"{len(edges)} edges, missing {missing or 'none'}, extra {extra or 'none'}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=FutureWarning)
    torch.set_num_threads(torch.get_num_threads())

    data = sample_network("asia", N_ROWS, random_state=0)
    bn = BayesianNetwork(tuple(network_spec("asia")["edges"])).fit(data)
    model = pgmpy_model(data)
    queries = make_queries(data, args.queries)

    t_pgmpy, ref = timed(lambda: pgmpy_one_by_one(model, queries, bn.states_), args.repeats)
    t_single, single = timed(lambda: genzoo_one_by_one(bn, queries), args.repeats)
    t_batched, batched = timed(lambda: genzoo_batched(bn, queries), args.repeats)
    t_by_var, by_var = timed(lambda: genzoo_batched_by_variable(bn, queries), args.repeats)
    error = max(
        np.abs(a - r).max()
        for answers in (single, batched, by_var)
        for a, r in zip(answers, ref, strict=True)
    )
    if error > 1e-9:
        raise AssertionError(f"genzoo and pgmpy disagree by {error:.2e}")

    t_hc_pgmpy, edges_pgmpy = timed(lambda: pgmpy_hill_climb(data), args.repeats)
    t_hc, learned = timed(lambda: BayesianNetwork(max_parents=None).fit(data), args.repeats)
    edges_genzoo = set(learned.edges_)
    true = network_spec("asia")["edges"]

    rows = [
        ("queries: pgmpy VariableElimination, one by one", t_pgmpy, 1.0),
        ("queries: genzoo, one by one (dict evidence)", t_single, t_single / t_pgmpy),
        ("queries: genzoo, batched by signature", t_batched, t_batched / t_pgmpy),
        ("queries: genzoo, batched by query variable", t_by_var, t_by_var / t_pgmpy),
        ("hill climbing BIC: pgmpy HillClimbSearch", t_hc_pgmpy, 1.0),
        ("hill climbing BIC: genzoo fit (structure + tables)", t_hc, t_hc / t_hc_pgmpy),
    ]
    print(f"asia, {N_ROWS} rows, {args.queries} queries of 1 variable given {N_EVIDENCE}; "
          f"best of {args.repeats}; {platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} threads")  # fmt: skip
    print(f"{'':52s} {'seconds':>9s} {'ratio':>7s}")
    for name, seconds, ratio in rows:
        print(f"{name:52s} {seconds:9.4f} {ratio:7.3f}")
    print(f"largest difference between the answers: {error:.1e}")
    print(f"genzoo structure: {describe(edges_genzoo, true)}, BIC {bic(data, edges_genzoo):.2f}")
    print(f"pgmpy structure:  {describe(edges_pgmpy, true)}, BIC {bic(data, edges_pgmpy):.2f}")
    print(f"true structure:   BIC {bic(data, true):.2f}")
    same = {frozenset(e) for e in edges_genzoo} == {frozenset(e) for e in edges_pgmpy}
    print(f"same skeleton: {same}; same directed edges: {edges_genzoo == edges_pgmpy}")

    if args.json:
        result = {
            "rows": N_ROWS,
            "queries": args.queries,
            "seconds": {name: seconds for name, seconds, _ in rows},
            "max_abs_difference": float(error),
            "edges": {
                "genzoo": sorted(map(list, edges_genzoo)),
                "pgmpy": sorted(map(list, edges_pgmpy)),
                "true": sorted(map(list, true)),
            },
        }
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
