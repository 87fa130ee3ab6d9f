"""A small English PCFG, treebanks sampled from it, and a reader for bracketed treebank files.

`ENGLISH_GRAMMAR` covers determiners, adjectives, nouns, names, pronouns, verbs and
prepositions, with prepositional phrases attaching to noun or verb phrases (so sentences are
ambiguous), a ditransitive-style three-child rule, and unary rules including a chain
(NP -> Nom -> N). Every rule is used often enough that a few hundred sampled trees show all
of them and all of the words.
"""

from __future__ import annotations

import numbers
import os
from pathlib import Path

__all__ = ["ENGLISH_GRAMMAR", "TIE_FREE_GRAMMAR", "load_treebank", "make_treebank"]

ENGLISH_GRAMMAR = """\
# A small English grammar in NLTK's format: rules with their probabilities, words quoted.
S -> NP VP [1.0]
NP -> Det Nom [0.5] | Name [0.15] | Pro [0.1] | Nom [0.1] | NP PP [0.15]
Nom -> Adj Nom [0.3] | N [0.7]
VP -> V NP [0.45] | V [0.2] | V NP PP [0.15] | VP PP [0.2]
PP -> P NP [1.0]
Det -> 'the' [0.5] | 'a' [0.3] | 'every' [0.2]
Adj -> 'big' [0.4] | 'old' [0.35] | 'red' [0.25]
N -> 'dog' [0.25] | 'cat' [0.2] | 'man' [0.2] | 'park' [0.15] | 'telescope' [0.2]
Name -> 'John' [0.6] | 'Mary' [0.4]
Pro -> 'she' [0.5] | 'it' [0.5]
V -> 'saw' [0.35] | 'chased' [0.25] | 'walked' [0.25] | 'slept' [0.15]
P -> 'with' [0.4] | 'in' [0.35] | 'near' [0.25]
"""

# Unambiguous about the best tree: no two trees of a sentence use the same multiset of rules, so
# Viterbi parsers must agree tree for tree (the PCFG tests and the benchmark against NLTK).
TIE_FREE_GRAMMAR = """\
S -> NP VP [0.9] | VP [0.1]
NP -> NPb [0.69] | NPb PP [0.31]
NPb -> Det Nom [0.71] | Nom [0.13] | Name [0.16]
Nom -> Adj Nom [0.23] | N [0.77]
VP -> V NP [0.41] | Vi [0.18] | VP PP [0.17] | V NP PP [0.14] | Vd NP 'to' NP [0.1]
PP -> P NPb [1.0]
Det -> 'the' [0.62] | 'a' [0.38]
Adj -> 'big' [0.56] | 'old' [0.44]
N -> 'dog' [0.29] | 'cat' [0.23] | 'man' [0.27] | 'telescope' [0.21]
Name -> 'John' [0.57] | 'Mary' [0.43]
V -> 'saw' [0.58] | 'chased' [0.42]
Vi -> 'slept' [0.55] | 'walked' [0.45]
Vd -> 'gave' [1.0]
P -> 'with' [0.59] | 'in' [0.41]
"""


def make_treebank(
    n_trees: int, *, grammar: str = ENGLISH_GRAMMAR, max_depth: int = 25, random_state=None
) -> list[str]:
    """Draw `n_trees` parse trees from a PCFG, as bracketed strings.

    Parameters
    ----------
    n_trees : int
        Number of trees.
    grammar : str, default=ENGLISH_GRAMMAR
        A PCFG in NLTK's text format.
    max_depth : int, default=25
        Trees deeper than this (labelled nodes from the root to a word) are rejected and
        drawn again; for the English grammar fewer than 1 in 1000 are.
    random_state : int or None
        Seed of the draw.

    Examples
    --------
    >>> from genzoo.grammar.trees import tree_to_tokens
    >>> trees = make_treebank(3, random_state=0)
    >>> len(trees), all(t.startswith("(S ") for t in trees)
    (3, True)
    >>> isinstance(tree_to_tokens(trees[0]), list)
    True
    """
    from genzoo.grammar import PCFG

    if isinstance(n_trees, bool) or not isinstance(n_trees, numbers.Integral) or n_trees < 1:
        raise ValueError(f"n_trees must be a positive int, got {n_trees!r}")
    model = PCFG.from_string(grammar, device="cpu")
    return model.sample(n_trees, random_state=random_state, max_depth=max_depth, return_trees=True)[
        1
    ]


def load_treebank(path: str | os.PathLike, *, drop_traces: bool = True) -> list[str]:
    """Read the bracketed (Penn Treebank style) trees of a file, one string per tree.

    Trees may span lines and several may share one; a tree wrapped in an unlabelled
    bracket, ``( (S ...) )``, is unwrapped. With `drop_traces`, empty elements (nodes
    labelled ``-NONE-``) are removed, and so are the constituents left empty. Raises
    ValueError naming the file and line for unbalanced brackets or a malformed tree.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "wsj.mrg"
    >>> _ = path.write_text("( (S (NP-SBJ (-NONE- *)) (VP (VB go) (ADVP (RB home)))))\\n")
    >>> load_treebank(path)
    ['(S (VP (VB go) (ADVP (RB home))))']
    """
    from genzoo.grammar.trees import format_tree, read_trees

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no treebank file at {path}")
    trees = read_trees(path.read_text(encoding="utf-8"), source=str(path))
    if drop_traces:
        trees = [t for t in (_drop_traces(t) for t in trees) if t is not None]
    if not trees:
        raise ValueError(f"{path} holds no trees.")
    return [format_tree(t) for t in trees]


def _drop_traces(node):
    """The tree without -NONE- nodes and the constituents they leave empty (None if empty)."""
    if isinstance(node, str):
        return node
    if node[0] == "-NONE-":
        return None
    children = tuple(c for c in (_drop_traces(c) for c in node[1]) if c is not None)
    return (node[0], children) if children else None
