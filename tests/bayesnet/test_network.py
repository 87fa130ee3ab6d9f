"""BayesianNetwork: exact inference against brute-force enumeration of the joint, parameters
against pgmpy and against the tables that generated the data, sampling, EM, bad input."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from genzoo.bayesnet.network import BayesianNetwork
from genzoo.data.networks import NETWORKS, network_spec, sample_network

ATOL = 1e-10


# --- networks and brute force


def random_spec(seed: int, n_vars: int = 8, max_parents: int = 3) -> dict:
    """A random DAG over v0..v{n-1} (a random topological order) with random CPDs."""
    rng = np.random.default_rng(seed)
    names = [f"v{i}" for i in rng.permutation(n_vars)]
    states = {v: [f"s{k}" for k in range(rng.integers(2, 4))] for v in names}
    parents = {}
    for i, v in enumerate(names):
        k = min(i, rng.integers(0, max_parents + 1))
        parents[v] = [names[j] for j in rng.choice(i, size=k, replace=False)]
    cpds = {
        v: rng.dirichlet(np.ones(len(states[v])), size=[len(states[p]) for p in parents[v]])
        .transpose(-1, *range(len(parents[v])))
        .copy()
        for v in names
    }
    edges = [(p, v) for v in names for p in parents[v]]
    order = sorted(names)  # a variable order that is not topological
    return {"states": {v: states[v] for v in order}, "edges": edges, "cpds": cpds,
            "parents": parents}  # fmt: skip


def spec_of(name: str) -> dict:
    return random_spec(0) if name == "random" else network_spec(name)


def brute_joint(bn: BayesianNetwork) -> np.ndarray:
    """P(all variables), axes in `variables_` order, by enumerating every joint state."""
    names = bn.variables_
    cards = [len(bn.states_[v]) for v in names]
    joint = np.zeros(cards)
    for state in itertools.product(*(range(c) for c in cards)):
        at = dict(zip(names, state, strict=True))
        p = 1.0
        for v in names:
            p *= bn.cpds_[v][(at[v], *(at[u] for u in bn.parents_[v]))]
        joint[state] = p
    return joint


def brute_posterior(bn, joint, query: list[str], evidence: dict) -> np.ndarray:
    """P(query | evidence) from the enumerated joint, axes in `query` order."""
    names = bn.variables_
    index = tuple(bn.states_[v].index(evidence[v]) if v in evidence else slice(None) for v in names)
    reduced = joint[index]
    kept = [v for v in names if v not in evidence]
    summed = reduced.sum(axis=tuple(i for i, v in enumerate(kept) if v not in query))
    order = [v for v in kept if v in query]
    table = np.transpose(summed, [order.index(v) for v in query])
    return table / table.sum()


NETWORK_NAMES = ["asia", "sprinkler", "animals", "random"]


@pytest.fixture(scope="module", params=NETWORK_NAMES)
def network(request):
    bn = BayesianNetwork.from_spec(spec_of(request.param))
    return request.param, bn, brute_joint(bn)


def _cases(bn, joint, rng, n: int = 12):
    """(query, evidence) pairs: evidence drawn from the model, so it is possible."""
    names = bn.variables_
    rows = bn.sample(n, random_state=int(rng.integers(1000)))
    for k in range(n):
        n_evidence = int(rng.integers(0, min(3, len(names) - 1) + 1))
        chosen = list(rng.permutation(names))
        evidence = {v: rows[v].iloc[k] for v in chosen[:n_evidence]}
        rest = chosen[n_evidence:]
        query = rest[: int(rng.integers(1, min(3, len(rest)) + 1))]
        yield query, evidence


# --- the built-in networks


def test_specs_are_normalised_and_sampled_as_categories():
    for name in NETWORKS:
        spec = network_spec(name)
        for v, cpd in spec["cpds"].items():
            assert cpd.shape == (
                len(spec["states"][v]),
                *(len(spec["states"][p]) for p in spec["parents"][v]),
            )
            np.testing.assert_allclose(cpd.sum(0), 1.0)
        X = sample_network(name, 50, random_state=0)
        assert list(X.columns) == list(spec["states"])
        for v in X.columns:
            assert isinstance(X[v].dtype, pd.CategoricalDtype)
            assert list(X[v].cat.categories) == spec["states"][v]
    assert network_spec("asia") is not network_spec("asia")
    with pytest.raises(ValueError, match="asia"):
        network_spec("alarm")


def test_asia_tables_equal_pgmpy_example_model():
    utils = pytest.importorskip("pgmpy.utils")
    try:
        reference = utils.get_example_model("asia")
    except Exception as err:  # the example may be unavailable offline
        pytest.skip(f"pgmpy's asia is unavailable: {err}")
    spec = network_spec("asia")
    for cpd in reference.get_cpds():
        v = cpd.variable
        assert cpd.variables[1:] == spec["parents"][v] or set(cpd.variables[1:]) == set(
            spec["parents"][v]
        )
        order = [cpd.variables.index(u) for u in [v, *spec["parents"][v]]]
        values = cpd.values.transpose(order)
        index = [
            [cpd.state_names[u].index(s) for s in spec["states"][u]]
            for u in [v, *spec["parents"][v]]
        ]
        np.testing.assert_allclose(values[np.ix_(*index)], spec["cpds"][v], atol=1e-12)


def test_animals_is_the_seed_table():
    bn = BayesianNetwork.from_spec(network_spec("animals"))
    post = bn.query("label", {"covering": "fur", "legs": "4", "tail": "yes"})
    assert post.set_index("label")["probability"].to_dict() == pytest.approx(
        {"Cat": 0.5, "Dog": 0.5, "Bird": 0.0, "Snake": 0.0}
    )
    assert bn.map_query(["covering", "legs", "tail", "beak"], {"label": "Bird"}) == {
        "covering": "feathers", "legs": "2", "tail": "no", "beak": "yes",
    }  # fmt: skip


# --- exact inference against enumeration


def test_queries_equal_brute_force(network):
    name, bn, joint = network
    rng = np.random.default_rng(1)
    for query, evidence in _cases(bn, joint, rng):
        result = bn.query(query, evidence)
        assert list(result.columns) == [*query, "probability"]
        expected = brute_posterior(bn, joint, query, evidence)
        codes = [result[v].cat.codes.to_numpy() for v in query]
        np.testing.assert_allclose(
            result["probability"], expected[tuple(codes)], atol=ATOL, err_msg=name
        )
        assert len(result) == expected.size


def test_marginal_queries_equal_brute_force(network):
    _, bn, joint = network
    names = bn.variables_
    evidence = {names[0]: bn.sample(1, random_state=2)[names[0]].iloc[0]}
    result = bn.query(names[1:], evidence, joint=False)
    for v in names[1:]:
        part = result[result["variable"] == v]
        assert list(part["state"]) == bn.states_[v]
        expected = brute_posterior(bn, joint, [v], evidence)
        np.testing.assert_allclose(part["probability"], expected, atol=ATOL)


def test_batched_evidence_equals_one_query_per_row(network):
    _, bn, joint = network
    names = bn.variables_
    rows = bn.sample(25, random_state=3)
    evidence = rows[names[:2]].set_index(pd.RangeIndex(100, 125))
    evidence = evidence.astype(object)
    evidence.iloc[4, 0] = None  # this row leaves the first variable unobserved
    query = names[2:4] if len(names) > 3 else names[2:]
    batched = bn.query(query, evidence)
    assert list(batched.columns) == ["query", *query, "probability"]
    for label, row in evidence.iterrows():
        given = {v: s for v, s in row.items() if s is not None and s == s}
        single = bn.query(query, given)
        part = batched[batched["query"] == label]
        np.testing.assert_allclose(part["probability"], single["probability"], atol=ATOL)
        expected = brute_posterior(bn, joint, query, given).reshape(-1)
        np.testing.assert_allclose(part["probability"], expected, atol=ATOL)


def _assignment_probability(bn, joint, assignment: dict, evidence: dict) -> float:
    """P(assignment, evidence) from the joint, summing the other variables."""
    names = bn.variables_
    given = {**assignment, **evidence}
    index = tuple(bn.states_[v].index(given[v]) if v in given else slice(None) for v in names)
    return float(np.sum(joint[index]))


def test_map_equals_brute_force_argmax(network):
    _, bn, joint = network
    rng = np.random.default_rng(4)
    for query, evidence in _cases(bn, joint, rng, n=8):
        # marginal MAP over the query variables
        result = bn.map_query(query, evidence)
        table = brute_posterior(bn, joint, query, evidence)
        p_evidence = _assignment_probability(bn, joint, {}, evidence)
        found = _assignment_probability(bn, joint, result, evidence) / p_evidence
        assert found == pytest.approx(table.max(), abs=ATOL)
        # most probable explanation of every other variable
        mpe = bn.map_query(evidence=evidence)
        assert set(mpe) == set(bn.variables_) - set(evidence)
        best = joint[tuple(
            bn.states_[v].index(evidence[v]) if v in evidence else slice(None)
            for v in bn.variables_
        )].max()  # fmt: skip
        assert _assignment_probability(bn, joint, mpe, evidence) == pytest.approx(best, abs=ATOL)


def test_batched_map_equals_one_query_per_row(network):
    _, bn, joint = network
    names = bn.variables_
    evidence = bn.sample(10, random_state=5)[names[:1]]
    batched = bn.map_query(names[1:3], evidence)
    assert list(batched.columns) == ["query", *names[1:3]]
    for k, (_, row) in enumerate(evidence.iterrows()):
        single = bn.map_query(names[1:3], dict(row))
        got = {v: batched[v].iloc[k] for v in names[1:3]}
        p_got = _assignment_probability(bn, joint, got, dict(row))
        assert p_got == pytest.approx(_assignment_probability(bn, joint, single, dict(row)))


def test_log_prob_equals_enumeration(network):
    _, bn, joint = network
    X = bn.sample(200, random_state=6)
    codes = tuple(X[v].cat.codes.to_numpy() for v in bn.variables_)
    np.testing.assert_allclose(bn.log_prob(X), np.log(joint[codes]), atol=ATOL)
    # columns in another order, and plain strings instead of categories
    shuffled = X[X.columns[::-1]].astype(str)
    np.testing.assert_allclose(bn.log_prob(shuffled), np.log(joint[codes]), atol=ATOL)


def test_zero_probability_rows_give_minus_infinity():
    bn = BayesianNetwork.from_spec(network_spec("animals"))
    row = pd.DataFrame([{"covering": "fur", "legs": "2", "tail": "yes", "beak": "no",
                         "label": "Cat"}])  # fmt: skip
    assert bn.log_prob(row)[0] == -np.inf
    with pytest.raises(ValueError, match="probability zero"):
        bn.query("label", {"covering": "fur", "legs": "2"})


# --- the lean path (as_frame=False) and the compiled plans


def test_lean_path_equals_frames_and_brute_force(network):
    _, bn, joint = network
    rng = np.random.default_rng(7)
    for query, evidence in _cases(bn, joint, rng):
        expected = brute_posterior(bn, joint, query, evidence)
        probs = bn.query(query, evidence, as_frame=False)
        assert probs.shape == tuple(len(bn.states_[v]) for v in query)
        np.testing.assert_allclose(probs, expected, atol=ATOL)
        frame = bn.query(query, evidence)
        np.testing.assert_array_equal(frame["probability"], probs.reshape(-1))
        marginals = bn.query(query, evidence, joint=False, as_frame=False)
        assert list(marginals) == query
        for k, v in enumerate(query):
            summed = expected.sum(axis=tuple(j for j in range(len(query)) if j != k))
            np.testing.assert_allclose(marginals[v], summed, atol=ATOL)


def test_lean_batched_path_equals_frames_and_brute_force(network):
    _, bn, joint = network
    names = bn.variables_
    evidence = bn.sample(12, random_state=8)[names[:2]].astype(object)
    evidence.iloc[3, 1] = None  # soft evidence: this row leaves the variable unobserved
    query = [names[-1]]
    probs = bn.query(query, evidence, as_frame=False)
    assert probs.shape == (12, len(bn.states_[query[0]]))
    frame = bn.query(query, evidence)
    np.testing.assert_array_equal(frame["probability"], probs.reshape(-1))
    for k, (_, row) in enumerate(evidence.iterrows()):
        given = {v: s for v, s in row.items() if s is not None and s == s}
        np.testing.assert_allclose(probs[k], brute_posterior(bn, joint, query, given), atol=ATOL)
    marginals = bn.query(query, evidence, joint=False, as_frame=False)
    np.testing.assert_array_equal(marginals[query[0]], probs)


def test_lean_path_refuses_bad_input():
    bn = BayesianNetwork.from_spec(network_spec("sprinkler"))
    with pytest.raises(ValueError, match="evidence names unknown variable.*snow"):
        bn.query("rain", {"snow": "T"}, as_frame=False)
    with pytest.raises(ValueError, match="variables names unknown variable.*snow"):
        bn.query("snow", as_frame=False)
    with pytest.raises(ValueError, match="unknown state 'maybe'; its states are"):
        bn.query("rain", {"cloudy": "maybe"}, as_frame=False)
    with pytest.raises(ValueError, match="unknown state 2"):
        bn.query("rain", {"cloudy": 2}, as_frame=False)
    with pytest.raises(ValueError, match="unknown state"):
        bn.query("rain", {"cloudy": ["T"]}, as_frame=False)  # unhashable
    with pytest.raises(ValueError, match="unseen in training"):
        bn.query("rain", pd.DataFrame({"cloudy": ["T", "maybe"]}), as_frame=False)
    with pytest.raises(ValueError, match=r"\['rain'\] are both queried and given"):
        bn.query("rain", {"rain": "T"}, as_frame=False)
    with pytest.raises(ValueError, match="both queried and given"):
        bn.query("rain", pd.DataFrame({"rain": ["T", "F"]}), as_frame=False)
    with pytest.raises(ValueError, match="repeats a variable"):
        bn.query(["rain", "rain"], as_frame=False)
    animals = BayesianNetwork.from_spec(network_spec("animals"))
    with pytest.raises(ValueError, match="probability zero"):
        animals.query("label", {"covering": "fur", "legs": "2"}, as_frame=False)


def test_replaced_or_edited_tables_are_used():
    bn = BayesianNetwork.from_spec(network_spec("sprinkler"))
    evidence = {"wet_grass": "T"}
    before = bn.query("rain", evidence, as_frame=False)  # compiles and caches the plan
    bn.cpds_["cloudy"] = np.array([0.9, 0.1])  # a new table
    after = bn.query("rain", evidence, as_frame=False)
    np.testing.assert_allclose(after, brute_posterior(bn, brute_joint(bn), ["rain"], evidence))
    assert np.abs(after - before).max() > 1e-3
    bn.cpds_["rain"][:] = bn.cpds_["rain"][::-1].copy()  # the same table, edited in place
    edited = bn.query("rain", evidence, as_frame=False)
    np.testing.assert_allclose(edited, brute_posterior(bn, brute_joint(bn), ["rain"], evidence))


def test_larger_random_network_equals_brute_force():
    # 12 variables of up to 3 states: buckets fuse, and the batched plan orders its own
    spec = random_spec(3, n_vars=12, max_parents=4)
    bn = BayesianNetwork.from_spec(spec)
    joint = brute_joint(bn)
    rng = np.random.default_rng(9)
    rows = bn.sample(6, random_state=10)
    names = bn.variables_
    for k in range(6):
        chosen = list(rng.permutation(names))
        evidence = {v: rows[v].iloc[k] for v in chosen[:3]}
        query = chosen[3:5]
        expected = brute_posterior(bn, joint, query, evidence)
        np.testing.assert_allclose(bn.query(query, evidence, as_frame=False), expected, atol=ATOL)
    given = sorted(chosen[:3])
    batched = bn.query(query, rows[given], as_frame=False)
    for k in range(6):
        expected = brute_posterior(bn, joint, query, dict(rows[given].iloc[k]))
        np.testing.assert_allclose(batched[k], expected, atol=ATOL)


def test_many_children_exceed_one_einsum():
    # a root with 40 children: its bucket holds more factors than one einsum takes
    names = ["root"] + [f"c{i}" for i in range(40)]
    rng = np.random.default_rng(0)
    spec = {
        "states": {v: ["a", "b"] for v in names},
        "edges": [("root", v) for v in names[1:]],
        "cpds": {v: rng.dirichlet([1, 1], size=2).T.copy() for v in names[1:]},
        "parents": {v: ([] if v == "root" else ["root"]) for v in names},
    }
    spec["cpds"]["root"] = np.array([0.3, 0.7])
    bn = BayesianNetwork.from_spec(spec)
    evidence = {v: "ab"[i % 2] for i, v in enumerate(names[1:39])}
    likelihood = np.array([0.3, 0.7])
    for v in names[1:39]:
        likelihood = likelihood * spec["cpds"][v][bn.states_[v].index(evidence[v])]
    expected = likelihood / likelihood.sum()
    np.testing.assert_allclose(bn.query("root", evidence, as_frame=False), expected, atol=ATOL)
    joint = bn.query(["c38", "c39"], evidence, as_frame=False)
    children = spec["cpds"]["c38"], spec["cpds"]["c39"]
    np.testing.assert_allclose(joint, np.einsum("r,ar,br->ab", expected, *children), atol=ATOL)
    frame = pd.DataFrame([evidence, evidence])
    np.testing.assert_allclose(bn.query("root", frame, as_frame=False), [expected] * 2, atol=ATOL)


def test_min_fill_order_equals_the_plain_greedy_rule():
    from genzoo.bayesnet._factors import min_fill_order

    def plain(scopes, eliminate_vars):  # recompute every cost at every step
        near = {}
        for scope in scopes:
            for v in scope:
                near.setdefault(v, set()).update(set(scope) - {v})
        left, order = set(eliminate_vars), []
        while left:

            def cost(v):
                ns = sorted(near.get(v, ()))
                fill = sum(b not in near[a] for i, a in enumerate(ns) for b in ns[i + 1 :])
                return fill, len(ns), v

            best = min(left, key=cost)
            for a in near.get(best, ()):
                near[a] |= near[best] - {a}
                near[a].discard(best)
            near.pop(best, None)
            left.discard(best)
            order.append(best)
        return order

    for seed in range(20):
        spec = random_spec(seed, n_vars=15, max_parents=3)
        index = {v: i for i, v in enumerate(spec["states"])}
        scopes = [(index[v], *(index[p] for p in spec["parents"][v])) for v in spec["states"]]
        keep = set(np.random.default_rng(seed).choice(15, size=3, replace=False).tolist())
        hidden = [v for v in range(15) if v not in keep]
        assert min_fill_order(scopes, hidden) == plain(scopes, hidden)


def test_big_network_does_not_underflow():
    # a chain of 400 variables: P(evidence) underflows float64, the posterior must not
    names = [f"x{i}" for i in range(400)]
    cpd = np.array([[0.999, 0.001], [0.001, 0.999]])
    spec = {
        "states": {v: ["a", "b"] for v in names},
        "edges": list(itertools.pairwise(names)),
        "cpds": {v: (np.array([0.5, 0.5]) if i == 0 else cpd) for i, v in enumerate(names)},
        "parents": {v: ([] if i == 0 else [names[i - 1]]) for i, v in enumerate(names)},
    }
    bn = BayesianNetwork.from_spec(spec)
    evidence = {v: "ab"[i % 2] for i, v in enumerate(names) if i % 4 == 0 and i < 396}
    result = bn.query("x399", evidence)
    assert np.isfinite(result["probability"]).all()
    assert result["probability"].sum() == pytest.approx(1.0)
    # x396 is clamped by nothing; x392 = "a" (392 % 8 == 0) and the chain keeps it
    assert result["probability"].iloc[0] > 0.98
    lean = bn.query("x399", evidence, as_frame=False)
    np.testing.assert_array_equal(lean, result["probability"])
    rows = pd.DataFrame([evidence] * 3)
    batched = bn.query("x399", rows, as_frame=False)
    np.testing.assert_allclose(batched, [result["probability"]] * 3, atol=ATOL)


# --- parameters


@pytest.fixture(scope="module")
def asia_data():
    return sample_network("asia", 5000, random_state=11)


def _true_edges():
    return tuple(network_spec("asia")["edges"])


def test_ml_parameters_are_recovered(asia_data):
    spec = network_spec("asia")
    bn = BayesianNetwork(_true_edges()).fit(asia_data)
    for v in bn.variables_:
        assert bn.parents_[v] == spec["parents"][v]
        # standard errors from the counts of each parent state
        if spec["parents"][v]:
            counts = asia_data.groupby(spec["parents"][v], observed=False).size().to_numpy()
        else:
            counts = np.array(len(asia_data))
        true = spec["cpds"][v]
        se = np.sqrt(true * (1 - true) / np.maximum(counts.reshape(true.shape[1:]), 1))
        seen = counts.reshape(true.shape[1:]) > 0
        assert (np.abs(bn.cpds_[v] - true)[:, seen] <= 5 * se[:, seen] + 1e-12).all(), v


@pytest.mark.parametrize(
    "params, pgmpy_args",
    [
        ({"estimator": "mle"}, None),
        ({"estimator": "dirichlet", "pseudo_count": 2.5}, {"prior_type": "dirichlet",
                                                           "pseudo_counts": 2.5}),
        ({"estimator": "bdeu", "equivalent_sample_size": 7.0}, {"prior_type": "BDeu",
                                                                "equivalent_sample_size": 7}),
    ],
    ids=["mle", "dirichlet", "bdeu"],
)  # fmt: skip
def test_parameters_equal_pgmpy(asia_data, params, pgmpy_args):
    estimators = pytest.importorskip("pgmpy.estimators")
    models = pytest.importorskip("pgmpy.models")
    data = asia_data.iloc[:300].astype(str)  # small: some parent states are unseen
    bn = BayesianNetwork(_true_edges(), states=network_spec("asia")["states"], **params)
    bn.fit(data)
    reference = models.DiscreteBayesianNetwork(list(_true_edges()))
    names = {v: network_spec("asia")["states"][v] for v in bn.variables_}
    if pgmpy_args is None:
        est = estimators.MaximumLikelihoodEstimator(reference, data, state_names=names)
        cpds = {c.variable: c for c in est.get_parameters()}
    else:
        est = estimators.BayesianEstimator(reference, data, state_names=names)
        cpds = {c.variable: c for c in est.get_parameters(**pgmpy_args)}
    for v in bn.variables_:
        cpd = cpds[v]
        order = [cpd.variables.index(u) for u in [v, *bn.parents_[v]]]
        values = cpd.values.transpose(order)
        index = [[cpd.state_names[u].index(s) for s in bn.states_[u]] for u in [v, *bn.parents_[v]]]
        np.testing.assert_allclose(bn.cpds_[v], values[np.ix_(*index)], atol=ATOL, err_msg=v)


def test_states_fix_order_and_add_unseen_states():
    X = pd.DataFrame({"a": ["x", "y", "x", "x"], "b": ["u", "u", "v", "u"]})
    bn = BayesianNetwork((("a", "b"),), states={"a": ["y", "x", "z"]}).fit(X)
    assert bn.states_ == {"a": ["y", "x", "z"], "b": ["u", "v"]}
    np.testing.assert_allclose(bn.cpds_["a"], [0.25, 0.75, 0.0])
    np.testing.assert_allclose(bn.cpds_["b"][:, 2], [0.5, 0.5])  # unseen parent state: uniform
    table = bn.cpd("b")
    assert list(table.columns) == ["u", "v"] and table.loc["x", "u"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="not in states"):
        BayesianNetwork(states={"a": ["x"]}).fit(X)


def test_arrays_get_generated_column_names():
    X = sample_network("sprinkler", 500, random_state=0)
    codes = np.stack([X[v].cat.codes.to_numpy() for v in X.columns], axis=1)
    bn = BayesianNetwork((("x0", "x1"), ("x0", "x2"), ("x1", "x3"), ("x2", "x3"))).fit(codes)
    assert bn.variables_ == ["x0", "x1", "x2", "x3"] and bn.states_["x0"] == [0, 1]
    named = BayesianNetwork(tuple(network_spec("sprinkler")["edges"])).fit(X)
    np.testing.assert_allclose(bn.log_prob(codes), named.log_prob(X), atol=ATOL)
    assert list(bn.sample(3, random_state=0).columns) == ["x0", "x1", "x2", "x3"]


# --- sampling


def test_sample_frequencies_match_the_joint():
    bn = BayesianNetwork.from_spec(network_spec("sprinkler"))
    joint = brute_joint(bn)
    n = 20_000
    X = bn.sample(n, random_state=0)
    codes = tuple(X[v].cat.codes.to_numpy() for v in bn.variables_)
    observed = np.zeros(joint.shape)
    np.add.at(observed, codes, 1)
    expected = n * joint
    positive = expected > 0
    assert observed[~positive].sum() == 0
    chi2 = ((observed - expected)[positive] ** 2 / expected[positive]).sum()
    assert chi2 < stats.chi2.ppf(1 - 1e-4, positive.sum() - 1)


def test_likelihood_weighting_matches_exact_posterior():
    bn = BayesianNetwork.from_spec(network_spec("asia"))
    evidence = {"xray": "yes", "smoke": "no"}
    exact = bn.query(["lung", "tub", "bronc"], evidence, joint=False)
    n = 20_000
    particles, weights = bn.sample(n, evidence=evidence, random_state=0, return_weights=True)
    assert weights.sum() == pytest.approx(1.0) and (particles["xray"] == "yes").all()
    ess = 1.0 / np.sum(weights**2)
    resampled = bn.sample(n, evidence=evidence, random_state=1)
    assert (resampled["smoke"] == "no").all()
    for _, row in exact.iterrows():
        p = row["probability"]
        weighted = weights[(particles[row["variable"]] == row["state"]).to_numpy()].sum()
        assert abs(weighted - p) < 5 * np.sqrt(p * (1 - p) / ess) + 1e-3
        drawn = (resampled[row["variable"]] == row["state"]).mean()
        assert abs(drawn - p) < 5 * np.sqrt(p * (1 - p) / ess) + 5 * np.sqrt(p * (1 - p) / n)


# --- missing values


def test_em_with_missing_values_recovers_the_complete_data_fit(asia_data):
    rng = np.random.default_rng(0)
    holes = asia_data.astype(object).mask(rng.random(asia_data.shape) < 0.1)
    with pytest.raises(ValueError, match="missing"):
        BayesianNetwork(_true_edges()).fit(holes)
    complete = BayesianNetwork(_true_edges()).fit(asia_data)
    em = BayesianNetwork(_true_edges(), missing="em", states=network_spec("asia")["states"])
    em.fit(holes)
    assert em.n_iter_ > 1 and em.converged_
    for v in em.variables_:
        assert np.abs(em.cpds_[v] - complete.cpds_[v]).max() < 0.05, v
    # EM also runs after learning the structure from the complete rows
    learned = BayesianNetwork(missing="em", max_iter=5).fit(holes)
    assert np.isfinite(learned.score(asia_data))


def test_em_expected_counts_equal_brute_force():
    from genzoo.bayesnet._factors import expected_counts

    bn = BayesianNetwork.from_spec(network_spec("sprinkler"))
    joint = brute_joint(bn)
    cpds, parents = bn._indexed()
    codes = np.array([[0, -1, 1, -1], [-1, -1, -1, 1], [1, 0, 1, 1], [-1, 1, -1, 0]])
    counts, loglik = expected_counts(cpds, parents, [2, 2, 2, 2], codes)
    expected = [np.zeros(c.shape) for c in counts]
    total = 0.0
    for row in codes:
        index = tuple(slice(None) if c < 0 else c for c in row)
        weights = np.zeros(joint.shape)
        weights[index] = joint[index]
        total += np.log(weights.sum())
        weights /= weights.sum()
        for v in range(4):
            family = [v, *parents[v]]
            marginal = weights.sum(axis=tuple(u for u in range(4) if u not in family))
            expected[v] += np.transpose(marginal, np.argsort(np.argsort(family)))
    for got, want in zip(counts, expected, strict=True):
        np.testing.assert_allclose(got, want, atol=ATOL)
    assert loglik == pytest.approx(total, abs=1e-9)


# --- bad input


def test_bad_input_is_refused_clearly():
    X = sample_network("sprinkler", 200, random_state=0)
    with pytest.raises(ValueError, match="cycle: cloudy -> rain -> cloudy"):
        BayesianNetwork((("cloudy", "rain"), ("rain", "cloudy"))).fit(X)
    with pytest.raises(ValueError, match="not columns"):
        BayesianNetwork((("cloudy", "snow"),)).fit(X)
    bn = BayesianNetwork.from_spec(network_spec("sprinkler"))
    with pytest.raises(ValueError, match="unknown variable.*snow"):
        bn.query("rain", {"snow": "T"})
    with pytest.raises(ValueError, match="unknown state 'maybe'"):
        bn.query("rain", {"cloudy": "maybe"})
    with pytest.raises(ValueError, match="unseen in training"):
        bn.query("rain", pd.DataFrame({"cloudy": ["T", "maybe"]}))
    with pytest.raises(ValueError, match="both queried and given"):
        bn.query("rain", {"rain": "T"})
    with pytest.raises(ValueError, match="unknown variable"):
        bn.query("snow")
    unseen = X.astype(str)
    unseen.loc[5, "rain"] = "drizzle"
    with pytest.raises(ValueError, match="column 'rain' has the value 'drizzle'"):
        bn.log_prob(unseen)
    with pytest.raises(ValueError, match="missing column.*wet_grass"):
        bn.log_prob(X.drop(columns="wet_grass"))
    with pytest.raises(ValueError, match="unexpected column.*snow"):
        bn.log_prob(X.assign(snow="T"))
    with pytest.raises(ValueError, match="evidence of sample must be a dict"):
        bn.sample(3, evidence=X.iloc[:2])
    holes = X.astype(object)
    holes.iloc[3, 1] = None
    with pytest.raises(ValueError, match="missing values in column.*sprinkler"):
        bn.log_prob(holes)
    with pytest.raises(ValueError, match="estimator"):
        BayesianNetwork(estimator="bayes").fit(X)
