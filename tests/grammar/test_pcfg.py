"""PCFG: brute-force enumeration of parses, recovered rule probabilities, EM, NLTK."""

from __future__ import annotations

import math
from collections import Counter, defaultdict

import numpy as np
import pytest
from scipy.special import logsumexp

import genzoo
from genzoo.data.treebank import ENGLISH_GRAMMAR, TIE_FREE_GRAMMAR, make_treebank
from genzoo.grammar import PCFG
from genzoo.grammar.trees import parse_tree, tree_depth, tree_productions, tree_to_tokens

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

# Ambiguous, with a unary chain (NP -> Nom -> N), a three-child rule, a word inside a rule,
# and a word of three categories ('fish').
SMALL = """\
S -> NP VP [0.8] | VP [0.2]
NP -> NP PP [0.2] | Det N [0.5] | Nom [0.3]
Nom -> N [0.6] | Adj Nom [0.4]
VP -> V NP [0.5] | VP PP [0.2] | V NP PP [0.1] | V 'to' NP [0.1] | V [0.1]
PP -> P NP [1.0]
Det -> 'the' [1.0]
N -> 'fish' [0.5] | 'people' [0.3] | 'tanks' [0.2]
Adj -> 'fish' [1.0]
V -> 'fish' [0.4] | 'saw' [0.4] | 'went' [0.2]
P -> 'with' [0.7] | 'to' [0.3]
"""

# Different trees of a sentence never use the same multiset of rules: best trees are unique.
UNIQUE = TIE_FREE_GRAMMAR


# --- brute force: every derivation of a sentence, by recursion over the rules


def _rules_by_lhs(model) -> dict:
    out = defaultdict(list)
    for lhs, rhs, p in model._rules():
        out[lhs].append((rhs, p))
    return out


def _derivations(rules, symbol, words):
    """(log-probability, tree) of every derivation of `words` from `symbol` (no unary cycles)."""
    for rhs, p in rules[symbol]:
        for log_p, children in _match(rules, rhs, words):
            yield math.log(p) + log_p, (symbol, children)


def _match(rules, rhs, words):
    if not rhs:
        if not words:
            yield 0.0, ()
        return
    (is_word, symbol), rest = rhs[0], rhs[1:]
    for cut in range(1, len(words) - len(rest) + 1):
        if is_word:
            heads = [(0.0, symbol)] if cut == 1 and words[0] == symbol else []
        else:
            heads = list(_derivations(rules, symbol, words[:cut]))
        for log_p, head in heads:
            for log_q, tail in _match(rules, rest, words[cut:]):
                yield log_p + log_q, (head, *tail)


def _format(node) -> str:
    if isinstance(node, str):
        return node
    return f"({node[0]} {' '.join(_format(c) for c in node[1])})"


SENTENCES = [
    "fish fish fish".split(),
    "people fish tanks".split(),
    "the people saw fish with tanks".split(),
    "people went to the tanks with fish".split(),
    "fish people fish fish".split(),
    "saw".split(),
    "the fish saw the people with the tanks to fish".split(),
    "the the".split(),  # no parse
]


@pytest.fixture(scope="module")
def small():
    return PCFG.from_string(SMALL)


def test_inside_equals_sum_over_enumerated_parses(small):
    rules = _rules_by_lhs(small)
    expected = [logsumexp([lp for lp, _ in _derivations(rules, "S", s)] or [-np.inf])
                for s in SENTENCES]  # fmt: skip
    np.testing.assert_allclose(small.log_prob(SENTENCES), expected, rtol=0, atol=1e-10)
    assert np.isneginf(small.log_prob([["the", "the"]])[0])


def test_viterbi_equals_best_enumerated_parse(small):
    rules = _rules_by_lhs(small)
    trees, log_probs = small.parse_batch(SENTENCES)
    for sentence, tree, log_p in zip(SENTENCES, trees, log_probs, strict=True):
        parses = sorted(_derivations(rules, "S", sentence), key=lambda x: -x[0])
        if not parses:
            assert tree is None and log_p == -np.inf
            continue
        assert log_p == pytest.approx(parses[0][0], abs=1e-10)
        if len(parses) == 1 or parses[1][0] < parses[0][0] - 1e-9:  # a unique best tree
            assert tree == _format(parses[0][1])
        assert tree_to_tokens(tree) == sentence


def test_unary_cycle_is_summed_in_closed_form():
    # P_A(a) = 0.5 + 0.5 P_B(a) and P_B(a) = 0.4 P_A(a), so P(a) = 0.5 / 0.8.
    g = PCFG.from_string("S -> A [1.0]\nA -> B [0.5] | 'a' [0.5]\nB -> A [0.4] | 'b' [0.6]")
    assert g.log_prob([["a"]])[0] == pytest.approx(math.log(0.625), abs=1e-12)
    assert g.log_prob([["b"]])[0] == pytest.approx(math.log(0.6 * 0.5 / 0.8), abs=1e-12)
    assert g.parse(["b"]) == ("(S (A (B b)))", pytest.approx(math.log(0.3)))


def test_parse_batch_equals_parse_one_by_one(small):
    trees, log_probs = small.parse_batch(SENTENCES[:-1])
    for sentence, tree, log_p in zip(SENTENCES[:-1], trees, log_probs, strict=True):
        assert small.parse(sentence) == (tree, log_p)
    assert small.parse(["the", "the"]) == (None, -np.inf)


# --- estimation


def _probs(model) -> dict:
    return {(lhs, rhs): p for lhs, rhs, p in model._rules()}


def test_maximum_likelihood_recovers_rule_probabilities():
    trees = make_treebank(20_000, random_state=0, max_depth=60)
    fitted, true = _probs(PCFG().fit(trees)), _probs(PCFG.from_string(ENGLISH_GRAMMAR))
    assert fitted.keys() == true.keys()
    assert max(abs(fitted[k] - true[k]) for k in true) < 0.02


def test_maximum_likelihood_counts_and_smoothing():
    trees = ["(S (A a) (B b))", "(S (A a) (A a))", "(S (B b) (B b))", "(S (A a))"]
    fitted = _probs(PCFG().fit(trees))
    assert fitted[("S", ((False, "A"), (False, "B")))] == pytest.approx(0.25)
    assert fitted[("S", ((False, "A"),))] == pytest.approx(0.25)
    seed = "S -> A B [0.5] | B A [0.5]\nA -> 'a' [1.0]\nB -> 'b' [1.0]"
    smoothed = _probs(PCFG(seed, smoothing=1.0).fit(trees))
    # S: 4 observed rules of one count each and the unseen seed rule S -> B A, plus 1 each.
    assert smoothed[("S", ((False, "B"), (False, "A")))] == pytest.approx(1 / 9)
    assert smoothed[("S", ((False, "A"), (False, "B")))] == pytest.approx(2 / 9)


def test_trees_with_several_roots_need_a_start_symbol():
    trees = ["(S (A a))", "(FRAG (A a))", "(S (A a))"]
    with pytest.raises(ValueError, match="root labels.*start="):
        PCFG().fit(trees)
    fitted = _probs(PCFG(start="ROOT").fit(trees))
    assert fitted[("ROOT", ((False, "S"),))] == pytest.approx(2 / 3)


def _brute_force_em_step(model, sentences) -> dict:
    """Rule probabilities after one EM step: expected counts by enumerating all parses."""
    rules = _rules_by_lhs(model)
    counts = Counter()
    for sentence in sentences:
        parses = list(_derivations(rules, "S", sentence))
        total = logsumexp([lp for lp, _ in parses])
        for log_p, tree in parses:
            for rule, n in Counter(tree_productions(tree)).items():
                counts[rule] += n * math.exp(log_p - total)
    totals = Counter()
    for (lhs, _), c in counts.items():
        totals[lhs] += c
    return {(lhs, rhs): c / totals[lhs] for (lhs, rhs), c in counts.items()}


def test_one_inside_outside_step_equals_enumerated_expected_counts(small):
    sentences = SENTENCES[:-1]
    stepped = _probs(PCFG(SMALL, max_iter=1).fit(sentences))
    expected = _brute_force_em_step(small, sentences)
    for key, p in stepped.items():
        assert p == pytest.approx(expected.get(key, 0.0), abs=1e-10), key


def test_inside_outside_never_decreases_the_likelihood():
    sentences = [tree_to_tokens(t) for t in make_treebank(60, random_state=2)]
    flat = "\n".join(
        f"{lhs} -> " + " | ".join(f"{r} [{1 / len(g):.17g}]" for r in g["rhs"])
        for lhs, g in PCFG.from_string(ENGLISH_GRAMMAR).rules().groupby("lhs", sort=False)
    ).replace("[1]", "[1.0]")
    seeded = PCFG(flat, start="S", max_iter=8, tol=0.0).fit(sentences)
    assert np.diff(seeded.lower_bounds_).min() > -1e-9
    assert seeded.score(sentences) >= seeded.lower_bounds_[-1] - 1e-9
    random = PCFG(n_nonterminals=4, max_iter=8, tol=0.0, random_state=0).fit(sentences[:30])
    assert np.diff(random.lower_bounds_).min() > -1e-9
    assert random.lower_bounds_[-1] > random.lower_bounds_[0]


def test_em_from_nonterminals_is_reproducible_and_uses_unknown_word():
    sentences = [tree_to_tokens(t) for t in make_treebank(20, random_state=3)]
    a = PCFG(n_nonterminals=3, max_iter=3, random_state=1, unknown_word="<unk>", smoothing=0.1)
    b = PCFG(n_nonterminals=3, max_iter=3, random_state=1, unknown_word="<unk>", smoothing=0.1)
    a.fit(sentences)
    np.testing.assert_array_equal(a.rule_probs_, b.fit(sentences).rule_probs_)
    assert "<unk>" in a.terminals_ and len(a.nonterminals_) == 3
    assert np.isfinite(a.log_prob([["zebra", "zebra"]])).all()


# --- sampling


def test_sampling_respects_max_depth_and_is_reproducible():
    g = PCFG.from_string(ENGLISH_GRAMMAR)
    sentences, trees = g.sample(300, random_state=1, max_depth=6, return_trees=True)
    assert max(tree_depth(t) for t in trees) <= 6
    assert [tree_to_tokens(t) for t in trees] == sentences
    assert g.sample(300, random_state=1, max_depth=6) == sentences
    assert g.sample(300, random_state=2, max_depth=6) != sentences
    assert np.isfinite(g.log_prob(sentences)).all()


def test_samples_follow_the_grammar_conditioned_on_the_depth():
    g = PCFG.from_string(
        "S -> NP VP [1.0]\nNP -> 'dogs' [0.6] | 'cats' [0.4]\nVP -> V NP [0.7] | 'bark' [0.3]\n"
        "V -> 'chase' [1.0]"
    )
    n = 4000
    sentences = g.sample(n, random_state=0)
    share = Counter(" ".join(s) for s in sentences)["dogs bark"] / n
    assert share == pytest.approx(0.18, abs=4 * math.sqrt(0.18 * 0.82 / n))
    shallow = g.sample(n, random_state=0, max_depth=2)  # only S -> NP 'bark' fits
    share = Counter(" ".join(s) for s in shallow)["dogs bark"] / n
    assert {len(s) for s in shallow} == {2}
    assert share == pytest.approx(0.6, abs=4 * math.sqrt(0.6 * 0.4 / n))
    with pytest.raises(ValueError, match="max_depth"):
        g.sample(3, max_depth=1)


# --- the text format, unknown words and bad input


def test_from_string_and_to_string_round_trip(small):
    text = small.to_string()
    again = PCFG.from_string(text)
    assert again.to_string() == text
    assert again._rules() == small._rules()
    np.testing.assert_array_equal(again.log_prob(SENTENCES), small.log_prob(SENTENCES))
    written = PCFG.from_string(
        "# comment\n%start Top\nX -> 'x' [1.0]\nTop -> X \"it's\" [0.25]  # a word with '\n"
        "  | X [0.75]\n"
    )
    assert written.nonterminals_[0] == "Top"
    assert written.log_prob([["x", "it's"]])[0] == pytest.approx(math.log(0.25))
    assert PCFG.from_string(written.to_string())._rules() == written._rules()
    assert list(written.rules().columns) == ["lhs", "rhs", "prob"]


@pytest.mark.parametrize(
    "text, message",
    [
        ("S -> NP VP", "no probability"),
        ("S NP VP [1.0]", "malformed rule"),
        ("S -> 'a' [0.5]", "sum to 0.5"),
        ("S -> 'a' [0.5] | 'b' [0.4999]", "sum to"),
        ("S -> NP [1.0]", "unknown nonterminal 'NP'"),
        ("S -> [1.0]", "epsilon"),
        ("S -> 'a' [1.5]", "outside"),
        ("S -> 'a' [x]", "not a probability"),
        ("S -> 'a' [0.5]\nS -> 'a' [0.5]", "given twice"),
        ("", "no rules"),
    ],
)
def test_malformed_grammars_raise(text, message):
    with pytest.raises(ValueError, match=message):
        PCFG.from_string(text)


def test_probabilities_within_tolerance_are_accepted():
    PCFG.from_string("S -> 'a' [0.3333333] | 'b' [0.6666667]")


def test_unknown_word_raises_unless_mapped():
    g = PCFG.from_string(ENGLISH_GRAMMAR)
    with pytest.raises(ValueError, match=r"X\[1\] has unknown word 'zebra'.*unknown_word"):
        g.log_prob([["John", "slept"], ["the", "zebra", "slept"]])
    with pytest.raises(ValueError, match="tokens has unknown word 'zebra'"):
        g.parse(["the", "zebra", "slept"])
    trees = make_treebank(40, random_state=0) + ["(S (NP (Det the) (Nom (N gnu))) (VP (V slept)))"]
    model = PCFG(unknown_word="<unk>").fit(trees)  # 'gnu', seen once, trains N -> '<unk>'
    assert "gnu" not in model.terminals_
    assert "<unk>" in model.terminals_
    assert np.isfinite(model.log_prob([["the", "zebra", "slept"]])[0])
    tree, log_p = model.parse(["the", "zebra", "slept"])
    assert tree_to_tokens(tree) == ["the", "zebra", "slept"] and np.isfinite(log_p)
    no_rare = PCFG(unknown_word="<unk>", min_count=1).fit(trees[:-1])
    with pytest.raises(ValueError, match="not a word of the grammar either"):
        no_rare.log_prob([["zebra"]])


@pytest.mark.parametrize(
    "X, message",
    [
        ([], "empty"),
        ("the dog barks", "string"),
        (["the dog barks"], r"X\[0\] must be a list of str tokens"),
        ([["the", 3]], r"X\[0\]\[1\] must be a non-empty str"),
        ([["the"], []], r"X\[1\] is an empty sentence"),
        (42, "X must be a list"),
    ],
)
def test_bad_sentences_raise(X, message):
    with pytest.raises(ValueError, match=message):
        PCFG.from_string(ENGLISH_GRAMMAR).log_prob(X)


@pytest.mark.parametrize(
    "X, message",
    [
        (["(S (NP the"], "unbalanced"),
        (["(S (NP the))) "], "unbalanced"),
        (["(S (NP the) dog)", "()"], r"X\[1\].*empty node"),
        (["(S)"], "no children"),
        (["(S a) (S b)"], "exactly one tree"),
        ([["a"], "(S a)"], r"X\[1\] must be a list"),
        (["word"], "outside any bracket"),
    ],
)
def test_malformed_trees_raise_and_keep_the_fit(X, message):
    model = PCFG().fit(["(S (A a))"])
    before = model.to_string()
    with pytest.raises(ValueError, match=message):
        model.fit(X)
    assert model.to_string() == before


def test_bad_parameters_raise():
    with pytest.raises(ValueError, match="n_nonterminals"):
        PCFG().fit([["a", "b"]])
    with pytest.raises(ValueError, match="not both"):
        PCFG(SMALL, n_nonterminals=3).fit([["fish"]])
    with pytest.raises(ValueError, match="no parse under the seed"):
        PCFG(SMALL).fit([["the", "the"]])
    with pytest.raises(ValueError, match="start='Nope'"):
        PCFG(SMALL, start="Nope").fit([["fish"]])
    with pytest.raises(ValueError, match="unknown_word"):
        PCFG(unknown_word="two words").fit(["(S a)"])
    with pytest.raises(ValueError, match="unfitted PCFG"):
        PCFG(PCFG()).fit([["a"]])


def test_a_fitted_pcfg_seeds_em():
    seed = PCFG.from_string(SMALL)
    sentences = SENTENCES[:3]
    a = PCFG(seed, max_iter=2).fit(sentences)
    b = PCFG(SMALL, max_iter=2).fit(sentences)
    np.testing.assert_allclose(a.rule_probs_, b.rule_probs_, rtol=0, atol=1e-12)


# --- saving, and NLTK


def test_save_load_round_trip(tmp_path, small):
    small.save(tmp_path / "pcfg")
    loaded = genzoo.load(tmp_path / "pcfg")
    assert loaded.to_string() == small.to_string()
    np.testing.assert_array_equal(loaded.log_prob(SENTENCES), small.log_prob(SENTENCES))
    assert loaded.parse_batch(SENTENCES)[0] == small.parse_batch(SENTENCES)[0]
    assert loaded.sample(20, random_state=4) == small.sample(20, random_state=4)


def _nltk_string(tree) -> str:
    if isinstance(tree, str):
        return tree
    return f"({tree.label()} {' '.join(_nltk_string(c) for c in tree)})"


def test_viterbi_and_inside_equal_nltk():
    nltk_grammar = pytest.importorskip("nltk.grammar")
    nltk_parse = pytest.importorskip("nltk.parse")
    ours = PCFG.from_string(UNIQUE)
    theirs = nltk_grammar.PCFG.fromstring(UNIQUE)
    sentences = [s for s in ours.sample(200, random_state=0) if 4 <= len(s) <= 9][:12]
    sentences.append("John gave Mary to the big dog with a telescope".split())
    trees, log_probs = ours.parse_batch(sentences)
    viterbi, inside = nltk_parse.ViterbiParser(theirs), nltk_parse.InsideChartParser(theirs)
    for sentence, tree, log_p in zip(sentences, trees, log_probs, strict=True):
        best = next(viterbi.parse(sentence))
        assert tree == _nltk_string(best)
        assert log_p == pytest.approx(math.log(best.prob()), abs=1e-9)
        total = math.log(sum(t.prob() for t in inside.parse(sentence)))
        assert ours.log_prob([sentence])[0] == pytest.approx(total, abs=1e-9)


def test_trees_of_the_treebank_parse_back():
    trees = make_treebank(30, random_state=5)
    g = PCFG.from_string(ENGLISH_GRAMMAR)
    parsed, log_probs = g.parse_batch([tree_to_tokens(t) for t in trees])
    for tree, best, log_p in zip(trees, parsed, log_probs, strict=True):
        assert tree_to_tokens(best) == tree_to_tokens(tree)
        used = sum(math.log(_probs(g)[rule]) for rule in tree_productions(parse_tree(tree)))
        assert log_p >= used - 1e-12  # the best tree is at least as likely as the true one
