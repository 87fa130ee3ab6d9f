"""BayesianNetwork against pgmpy on asia: variable-elimination queries and hill climbing.

Both libraries fit asia's true graph on the same 10,000 sampled rows by maximum likelihood.
1,000 random queries ask for one variable given two others (their states taken from sampled
rows, so every evidence is possible): pgmpy's VariableElimination answers them one by one;
genzoo answers them one by one (a dict of evidence per call) and batched (the queries grouped by
their (query variable, evidence variables) signature, one DataFrame of evidence and one
vectorised pass per group). The answers must agree to 1e-9. Then both learn the structure
from the 10,000 rows by hill climbing on BIC (no limit on parents; genzoo's time is its whole
`fit`, tables included), and the learned edge sets are compared.

`--sweep` compares inference alone over networks of three sizes, spanning 100x in CPD cells:
asia (8 variables, 36 cells), a random DAG of 30 variables (2-3 states, about 500 cells) and
one of 100 (2-4 states, about 3,800 cells), each variable drawing up to 3 parents among the 8
before it. Both libraries get the same tables. Two workloads per network: 200 queries of one
variable given two others, each a random signature, answered one per call (genzoo's lean
path, ``as_frame=False``, on a freshly loaded model, so no plan is cached from a previous
repeat); and 200 evidence rows of one signature answered by genzoo in one batched call
(a DataFrame of evidence) and by pgmpy one by one. The extra columns give the ratio when
the same workload runs again on the same model (its plans cached), the DataFrame path's
ratio, and the largest difference from pgmpy's probabilities.

    python benchmarks/network_vs_pgmpy.py [--queries 1000] [--repeats 3] [--json out.json]
    python benchmarks/network_vs_pgmpy.py --sweep [--repeats 3] [--json out.json]
"""

from __future__ import annotations

import json
import platform
import warnings

import numpy as np
import torch
from _timing import benchmark_parser, report_sweep, timed  # benchmarks/ is on the path

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


def genzoo_lean(bn, queries):
    return [bn.query(var, evidence, as_frame=False) for var, evidence in queries]


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


# --- the size sweep: inference alone, same tables in both libraries

SWEEP_QUERIES, SWEEP_ROWS = 200, 200


def random_spec(n_vars: int, max_states: int, seed: int = 0, window: int = 8) -> dict:
    """A random DAG (each variable draws up to 3 parents among the `window` before it) with
    2 to `max_states` states and random CPDs, as a spec of `genzoo.data.networks`."""
    rng = np.random.default_rng(seed)
    names = [f"v{i:03d}" for i in range(n_vars)]
    states = {v: [f"s{k}" for k in range(rng.integers(2, max_states + 1))] for v in names}
    parents = {}
    for i, v in enumerate(names):
        pool = np.arange(max(0, i - window), i)
        k = min(len(pool), int(rng.integers(0, 4)))
        parents[v] = [names[j] for j in np.sort(rng.choice(pool, size=k, replace=False))]
    cpds = {}
    for v in names:
        shape = [len(states[p]) for p in parents[v]]
        table = rng.dirichlet(np.ones(len(states[v])), size=shape)  # (*parents, card)
        cpds[v] = np.ascontiguousarray(np.moveaxis(table, -1, 0))
    edges = [(p, v) for v in names for p in parents[v]]
    return {"states": states, "edges": edges, "cpds": cpds, "parents": parents}


def pgmpy_from_spec(spec):
    from pgmpy.factors.discrete import TabularCPD
    from pgmpy.models import DiscreteBayesianNetwork

    model = DiscreteBayesianNetwork()
    model.add_nodes_from(spec["states"])
    model.add_edges_from(spec["edges"])
    for v, cpd in spec["cpds"].items():
        parents = spec["parents"][v]
        model.add_cpds(
            TabularCPD(
                v,
                len(cpd),
                cpd.reshape(len(cpd), -1),
                evidence=parents or None,
                evidence_card=[len(spec["states"][p]) for p in parents] or None,
                state_names={u: spec["states"][u] for u in [v, *parents]},
            )
        )
    return model


def sweep_queries(spec, seed: int = 0):
    """Random (variable, evidence) pairs, and one signature's evidence rows as a DataFrame."""
    rng = np.random.default_rng(seed)
    names = list(spec["states"])
    rows = BayesianNetwork.from_spec(spec).sample(SWEEP_QUERIES, random_state=seed)
    queries = []
    for k in range(SWEEP_QUERIES):
        chosen = rng.choice(len(names), size=1 + N_EVIDENCE, replace=False)
        evidence = {names[j]: rows[names[j]].iloc[k] for j in chosen[1:]}
        queries.append((names[chosen[0]], evidence))
    var, given = queries[0][0], sorted(queries[0][1])
    frame = BayesianNetwork.from_spec(spec).sample(SWEEP_ROWS, random_state=seed + 1)[given]
    return queries, var, frame.astype(str)


def pgmpy_rows(model, var, frame, states):
    rows = frame.to_dict("records")
    return np.stack(pgmpy_one_by_one(model, [(var, row) for row in rows], states))


def sweep_network(name: str, spec: dict, repeats: int) -> list[dict]:
    """Both workloads on one network: two rows of the sweep table."""
    model = pgmpy_from_spec(spec)
    queries, var, frame = sweep_queries(spec)
    states = spec["states"]
    cells = sum(c.size for c in spec["cpds"].values())

    times, answers = {}, {}
    for _ in range(repeats):  # interleaved, best of `repeats` each
        # models loaded anew, so that every repeat compiles its plans again; the "warm" runs
        # repeat a workload on the model that has just run it
        bn = {key: BayesianNetwork.from_spec(spec) for key in ("lean", "frame", "batch", "bf")}
        for key, run in [
            ("pgmpy", lambda: pgmpy_one_by_one(model, queries, states)),
            ("lean", lambda bn=bn: genzoo_lean(bn["lean"], queries)),
            ("lean_warm", lambda bn=bn: genzoo_lean(bn["lean"], queries)),
            ("frame", lambda bn=bn: genzoo_one_by_one(bn["frame"], queries)),
            ("pgmpy_rows", lambda: pgmpy_rows(model, var, frame, states)),
            ("batch", lambda bn=bn: bn["batch"].query(var, frame, as_frame=False)),
            ("batch_warm", lambda bn=bn: bn["batch"].query(var, frame, as_frame=False)),
            ("batch_frame", lambda bn=bn: bn["bf"].query(var, frame)["probability"].to_numpy()),
        ]:
            seconds, answers[key] = timed(run, 1)
            times[key] = min(times.get(key, np.inf), seconds)
    single = max(
        np.abs(a - r).max()
        for answer in (answers["lean"], answers["frame"])
        for a, r in zip(answer, answers["pgmpy"], strict=True)
    )
    batch = answers["batch_frame"].reshape(answers["batch"].shape)
    batched = max(
        np.abs(answers["batch"] - answers["pgmpy_rows"]).max(),
        np.abs(batch - answers["pgmpy_rows"]).max(),
    )
    label = f"{name} ({len(states)} vars, {cells} cells)"
    return [
        {
            "workload": f"{label}: {SWEEP_QUERIES} queries, one per call",
            "genzoo_s": times["lean"],
            "peer_s": times["pgmpy"],
            "warm_ratio": times["lean_warm"] / times["pgmpy"],
            "frame_ratio": times["frame"] / times["pgmpy"],
            "max_abs_diff": float(single),
        },
        {
            "workload": f"{label}: {SWEEP_ROWS} evidence rows, batched",
            "genzoo_s": times["batch"],
            "peer_s": times["pgmpy_rows"],
            "warm_ratio": times["batch_warm"] / times["pgmpy_rows"],
            "frame_ratio": times["batch_frame"] / times["pgmpy_rows"],
            "max_abs_diff": float(batched),
        },
    ]


def sweep(repeats: int, json_path: str | None):
    networks = [
        ("asia", network_spec("asia")),
        ("random", random_spec(30, max_states=3)),
        ("random", random_spec(100, max_states=4)),
    ]
    rows = [row for name, spec in networks for row in sweep_network(name, spec, repeats)]
    worst = max(row["max_abs_diff"] for row in rows)
    if worst > 1e-9:
        raise AssertionError(f"genzoo and pgmpy disagree by {worst:.2e}")
    title = (
        f"variable elimination against pgmpy: genzoo's arrays (as_frame=False) and, in "
        f"frame_ratio, its DataFrames; best of {repeats}; "
        f"{platform.processor() or platform.machine()}"
    )
    report_sweep(title, rows, "pgmpy", json_path)


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
    parser = benchmark_parser(__doc__)
    parser.add_argument("--queries", type=int, default=1000)
    parser.set_defaults(repeats=3)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=FutureWarning)
    torch.set_num_threads(torch.get_num_threads())
    if args.sweep:
        sweep(args.repeats, args.json)
        return

    data = sample_network("asia", N_ROWS, random_state=0)
    bn = BayesianNetwork(tuple(network_spec("asia")["edges"])).fit(data)
    model = pgmpy_model(data)
    queries = make_queries(data, args.queries)

    t_pgmpy, ref = timed(lambda: pgmpy_one_by_one(model, queries, bn.states_), args.repeats)
    t_single, single = timed(lambda: genzoo_one_by_one(bn, queries), args.repeats)
    t_lean, lean = timed(lambda: genzoo_lean(bn, queries), args.repeats)
    t_batched, batched = timed(lambda: genzoo_batched(bn, queries), args.repeats)
    t_by_var, by_var = timed(lambda: genzoo_batched_by_variable(bn, queries), args.repeats)
    error = max(
        np.abs(a - r).max()
        for answers in (single, lean, batched, by_var)
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
        ("queries: genzoo, one by one, arrays (as_frame=False)", t_lean, t_lean / t_pgmpy),
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
