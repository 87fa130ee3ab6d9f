"""Bracketed trees: reading, writing, depth, and the Chomsky-normal-form round trip."""

from __future__ import annotations

import pytest

from genzoo.data.treebank import make_treebank
from genzoo.grammar.trees import (
    format_tree,
    from_cnf,
    parse_tree,
    read_trees,
    to_cnf,
    tree_depth,
    tree_productions,
    tree_to_tokens,
)

WIDE = (
    "(S (NP (NP (Det the) (N dog)) (PP (P in) (NP (N parks)))) "
    "(VP (V gave) (NP (N bones)) (P to) (NP (Name Rex))))"
)


def _is_cnf(node) -> bool:
    children = node[1]
    if len(children) == 1:
        return isinstance(children[0], str)
    return len(children) == 2 and all(not isinstance(c, str) and _is_cnf(c) for c in children)


@pytest.mark.parametrize("tree", [WIDE, *make_treebank(40, random_state=0)])
def test_cnf_round_trip(tree):
    binary = to_cnf(tree)
    assert _is_cnf(parse_tree(binary))
    assert tree_to_tokens(binary) == tree_to_tokens(tree)
    assert from_cnf(binary) == tree


def test_cnf_labels_follow_nltk():
    assert to_cnf("(A (B (C (D x))) (E y) (F z) (G w))") == (
        "(A (B+C+D x) (A|<E-F-G> (E y) (A|<F-G> (F z) (G w))))"
    )
    nltk_tree = pytest.importorskip("nltk.tree")
    tree = nltk_tree.Tree.fromstring(WIDE)
    tree.chomsky_normal_form(factor="right")
    tree.collapse_unary(collapsePOS=True, collapseRoot=True)
    assert to_cnf(WIDE) == _nltk_string(tree)


def _nltk_string(tree) -> str:
    if isinstance(tree, str):
        return tree
    return f"({tree.label()} {' '.join(_nltk_string(c) for c in tree)})"


def test_cnf_rejects_what_it_cannot_undo():
    with pytest.raises(ValueError, match="mixes words"):
        to_cnf("(S (V go) home)")
    with pytest.raises(ValueError, match="contains"):
        to_cnf("(S (NP+X a) (VP b))")


def test_reading_writing_and_measuring():
    text = "( (S (NP (N dogs))\n   (VP (V bark))) )\n(S (X y))"
    trees = read_trees(text)
    assert [format_tree(t) for t in trees] == ["(S (NP (N dogs)) (VP (V bark)))", "(S (X y))"]
    assert tree_depth(trees[0]) == 3 and tree_depth("(N dog)") == 1
    assert tree_productions("(S (A a) b)") == [
        ("S", ((False, "A"), (True, "b"))),
        ("A", ((True, "a"),)),
    ]
    with pytest.raises(ValueError, match="line 3"):
        read_trees("(S\n(A a)\n)))")
    with pytest.raises(ValueError, match="opened on line 2"):
        read_trees("(S a)\n(S (A b)")
