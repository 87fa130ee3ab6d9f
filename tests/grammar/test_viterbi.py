"""Viterbi parsing with unary chains folded into the tables: best trees against brute force."""

from __future__ import annotations

import itertools
import math
from functools import cache

import numpy as np
import pytest

from genzoo.grammar import PCFG
from genzoo.grammar._cky import _length_groups, make_batches
from genzoo.grammar._viterbi import best_chains
from genzoo.grammar.trees import tree_productions, tree_to_tokens

WORDS = ("a", "b", "c")


def _random_grammar(seed: int) -> str:
    """A random grammar with unary rules (cycles included), three-child rules, words inside
    longer rules, a rule of probability zero, and words of several parents."""
    rng = np.random.default_rng(seed)
    symbols = ["S", "A", "B", "C"]
    lines = []
    for lhs in symbols:
        rhs = {f"{rng.choice(symbols)} {rng.choice(symbols)}" for _ in range(3)}
        rhs |= {str(rng.choice([s for s in symbols if s != lhs])) for _ in range(2)}
        rhs |= {f"'{w}'" for w in rng.choice(WORDS, 2, replace=False)}
        rhs.add(f"{rng.choice(symbols)} '{rng.choice(WORDS)}' {rng.choice(symbols)}")
        rhs = sorted(rhs)
        probs = rng.dirichlet(np.ones(len(rhs)))
        probs[0] = 0.0 if lhs == "C" else probs[0]  # a rule that can never be used
        probs /= probs.sum()
        probs[-1] = 1.0 - probs[:-1].sum()
        alternatives = [f"{r} [{float(p)!r}]" for r, p in zip(rhs, probs, strict=True)]
        lines.append(f"{lhs} -> " + " | ".join(alternatives))
    return "\n".join(lines) + "\n"


def _brute_force_best(model, words: tuple) -> float:
    """The best derivation's log-probability by recursion over spans and every rule, with
    unary chains followed until they stop improving (cycles only lose probability)."""
    rules = [(lhs, rhs, math.log(p)) for lhs, rhs, p in model._rules() if p > 0]
    symbols = {lhs for lhs, _, _ in rules}

    @cache
    def best(symbol, i, j, depth):
        if depth > 2 * len(symbols):  # a longer unary chain repeats a symbol
            return -math.inf
        out = -math.inf
        for lhs, rhs, log_p in rules:
            if lhs == symbol:
                out = max(out, log_p + match(rhs, i, j, depth + 1 if len(rhs) == 1 else 0))
        return out

    def match(rhs, i, j, depth):
        (is_word, symbol), rest = rhs[0], rhs[1:]
        if not rest:
            if is_word:
                return 0.0 if j == i + 1 and words[i] == symbol else -math.inf
            return best(symbol, i, j, depth)
        out = -math.inf
        for cut in range(i + 1, j - len(rest) + 1):
            head = (0.0 if cut == i + 1 and words[i] == symbol else -math.inf) if is_word \
                else best(symbol, i, cut, 0)  # fmt: skip
            if head > -math.inf:
                out = max(out, head + match(rest, cut, j, 0))
        return out

    return best("S", 0, len(words), 0)


@pytest.mark.parametrize("seed", range(6))
def test_best_trees_equal_brute_force_on_random_grammars(seed):
    model = PCFG.from_string(_random_grammar(seed))
    sentences = [list(s) for n in (1, 2, 3, 4) for s in itertools.product(WORDS, repeat=n)]
    sentences = sentences[:: 1 + seed % 3]
    trees, log_probs = model.parse_batch(sentences)
    rules = {(lhs, rhs): math.log(p) for lhs, rhs, p in model._rules() if p > 0}
    for sentence, tree, log_p in zip(sentences, trees, log_probs, strict=True):
        assert log_p == pytest.approx(_brute_force_best(model, tuple(sentence)), abs=1e-10)
        if tree is None:
            assert log_p == -np.inf
            continue
        assert tree_to_tokens(tree) == sentence
        # the tree is a derivation of the grammar with the reported log-probability
        assert sum(rules[rule] for rule in tree_productions(tree)) == pytest.approx(log_p)


def test_parses_do_not_depend_on_batching():
    model = PCFG.from_string(_random_grammar(1))
    rng = np.random.default_rng(0)
    sentences = [list(rng.choice(WORDS, rng.integers(1, 9))) for _ in range(40)]
    expected = model.parse_batch(sentences)
    for batch_size in (1, 3, 7):
        model.set_params(batch_size=batch_size)
        trees, log_probs = model.parse_batch(sentences)
        assert trees == expected[0]
        np.testing.assert_array_equal(log_probs, expected[1])


def test_best_unary_chains_equal_enumerated_paths():
    model = PCFG.from_string(_random_grammar(2))
    cnf, theta = model._tables["cnf_np"], np.log(model.rule_probs_)
    chains, next_hop = best_chains(cnf, theta)
    C = cnf["n_cnf"]
    edges = {}
    for lhs, child, rule in zip(cnf["un_lhs"], cnf["un_child"], cnf["un_rule"], strict=True):
        edges[lhs, child] = max(edges.get((lhs, child), -math.inf), theta[rule])

    def simple_paths(a, seen, log_p):  # (end, log-probability) of every simple path from a
        yield a, log_p
        for (x, y), w in edges.items():
            if x == a and y not in seen:
                yield from simple_paths(y, seen | {y}, log_p + w)

    for a in range(C):
        best = np.full(C, -math.inf)
        for end, log_p in simple_paths(a, {a}, 0.0):
            best[end] = max(best[end], log_p)
        np.testing.assert_allclose(chains[a], best, rtol=0, atol=1e-12)
        for b in np.flatnonzero(np.isfinite(best)):
            if b != a:
                assert (a, next_hop[a, b]) in edges


def test_length_groups_are_the_cheapest_partition():
    lengths = np.sort(np.random.default_rng(0).integers(2, 12, 30))
    groups = _length_groups(lengths, 5, lambda n: 8)
    assert groups[0][0] == 0 and groups[-1][1] == len(lengths)
    assert all(a[1] == b[0] for a, b in zip(groups[:-1], groups[1:], strict=True))
    # each cut falls between distinct lengths
    assert all(lengths[lo - 1] < lengths[lo] for lo, _ in groups[1:])

    def cost(runs):
        from genzoo.grammar._cky import _SETUP_STEPS, _STEP_ELEMENTS

        total = 0.0
        for lo, hi in runs:
            n = lengths[hi - 1]
            total += -(-(hi - lo) // 8) * _STEP_ELEMENTS * (n + _SETUP_STEPS)
            total += (hi - lo) * n**3 / 6 * 6
        return total

    cuts = [i for i in range(1, len(lengths)) if lengths[i - 1] < lengths[i]]
    best = min(
        cost(list(zip([0, *chosen], [*chosen, len(lengths)], strict=True)))
        for k in range(len(cuts) + 1)
        for chosen in itertools.combinations(cuts, k)
    )
    assert cost(groups) == pytest.approx(best)


def test_batches_hold_every_sentence_once_and_pad_with_the_given_word():
    model = PCFG.from_string(_random_grammar(0))
    encoded = [np.arange(n) % 3 for n in np.random.default_rng(1).integers(1, 20, 50)]
    batches = make_batches(encoded, model._tables["cnf_np"], "cpu", budget=2**12, pad=3)
    assert sorted(i for b in batches for i in b.index) == list(range(50))
    for batch in batches:
        for row, i in enumerate(batch.index):
            words = batch.words[row].numpy()
            np.testing.assert_array_equal(words[: len(encoded[i])], encoded[i])
            assert (words[len(encoded[i]) :] == 3).all()
