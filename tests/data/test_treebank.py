"""The English PCFG, treebanks sampled from it, and the bracketed treebank reader."""

from __future__ import annotations

import pytest

from genzoo.data.treebank import ENGLISH_GRAMMAR, load_treebank, make_treebank
from genzoo.grammar import PCFG
from genzoo.grammar.trees import tree_depth, tree_to_tokens


def test_make_treebank_is_reproducible_and_covers_the_grammar():
    trees = make_treebank(200, random_state=0)
    assert trees == make_treebank(200, random_state=0)
    assert trees != make_treebank(200, random_state=1)
    assert all(t.startswith("(S ") and tree_depth(t) <= 25 for t in trees)
    grammar = PCFG.from_string(ENGLISH_GRAMMAR)
    # A few hundred trees show every rule and word, so a fit on them parses held-out text.
    fitted = PCFG().fit(trees)
    assert sorted(fitted.terminals_) == sorted(grammar.terminals_)
    assert len(fitted.rule_probs_) == len(grammar.rule_probs_)
    with pytest.raises(ValueError, match="n_trees"):
        make_treebank(0)


def test_load_treebank_reads_penn_style_files(tmp_path):
    path = tmp_path / "wsj_0001.mrg"
    path.write_text(
        "( (S \n    (NP-SBJ (NNP Pierre) (NNP Vinken) )\n    (VP (MD will)\n"
        "      (VP (VB join) (NP (-NONE- *T*-1) ))))\n)\n"
        "( (S (NP-SBJ (-NONE- *)) (VP (VBZ is) (ADJP (JJ good))) (. .)) )\n"
    )
    trees = load_treebank(path)
    assert trees == [
        "(S (NP-SBJ (NNP Pierre) (NNP Vinken)) (VP (MD will) (VP (VB join))))",
        "(S (VP (VBZ is) (ADJP (JJ good))) (. .))",
    ]
    assert tree_to_tokens(trees[1]) == ["is", "good", "."]
    assert len(load_treebank(path, drop_traces=False)[1].split("-NONE-")) == 2
    model = PCFG().fit(trees)
    assert model.nonterminals_[0] == "S"


def test_load_treebank_errors(tmp_path):
    bad = tmp_path / "bad.mrg"
    bad.write_text("(S (NP (N dog))\n(VP (V barks))")
    with pytest.raises(ValueError, match=r"bad.mrg.*unbalanced brackets.*line 1"):
        load_treebank(bad)
    with pytest.raises(FileNotFoundError):
        load_treebank(tmp_path / "missing.mrg")
    empty = tmp_path / "empty.mrg"
    empty.write_text("\n")
    with pytest.raises(ValueError, match="no trees"):
        load_treebank(empty)
