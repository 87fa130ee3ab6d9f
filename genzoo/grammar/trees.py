"""Bracketed parse trees: reading, writing, and conversion to Chomsky normal form and back.

A tree is written as in the Penn Treebank, ``(S (NP (Det the) (N dog)) (VP (V barks)))``: a
label and its children in parentheses, words as bare tokens. In Python it is a nested tuple
``(label, children)`` whose children are trees or words (str), so trees hash, compare and
format without a class of their own.

The Chomsky-normal-form conversion follows NLTK's conventions (Tree.chomsky_normal_form with
right factoring, and collapse_unary with collapsePOS=True): a node with more than two
children A -> B C D becomes A -> B A|<C-D>, A|<C-D> -> C D, and a unary chain A -> B -> C
becomes one node labelled A+B+C. `from_cnf` undoes both.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

__all__ = [
    "Tree",
    "format_tree",
    "from_cnf",
    "parse_tree",
    "read_trees",
    "to_cnf",
    "tree_depth",
    "tree_productions",
    "tree_to_tokens",
]

Tree = tuple  # (label: str, children: tuple[Tree | str, ...])

_TOKEN = re.compile(r"\(|\)|[^\s()]+")
_UNARY_JOIN = "+"
_FACTOR_OPEN, _FACTOR_CLOSE = "|<", ">"


# --- reading and writing


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _tree_tokens(text: str) -> Iterator[re.Match]:
    return _TOKEN.finditer(text)


def read_trees(text: str, *, source: str = "text") -> list[Tree]:
    """Return every bracketed tree in `text`, in order; trees may span lines.

    A tree whose root has no label and exactly one child tree, ``( (S ...) )`` as in the Penn
    Treebank's files, is unwrapped. Raises ValueError naming `source` and the line for
    unbalanced brackets, a word outside any tree, or a node without a label or children.
    """
    trees: list[Tree] = []
    stack: list[tuple[str | None, list, int]] = []  # (label, children, line it opened on)
    expect_label = False
    for match in _tree_tokens(text):
        token, pos = match.group(), match.start()
        if token == "(":
            if expect_label:  # "((": an unlabelled node, as the Penn Treebank's wrapper
                stack[-1] = (None, stack[-1][1], stack[-1][2])
            stack.append(("", [], _line_of(text, pos)))
            expect_label = True
        elif token == ")":
            if not stack:
                raise ValueError(
                    f"{source}: unbalanced brackets: ')' on line {_line_of(text, pos)} closes "
                    "no open bracket (malformed tree)."
                )
            label, children, line = stack.pop()
            if expect_label or label is None and not children:
                raise ValueError(f"{source}: malformed tree: an empty node '()' on line {line}.")
            expect_label = False
            if label is None:
                if len(children) != 1 or isinstance(children[0], str):
                    raise ValueError(
                        f"{source}: malformed tree on line {line}: a node without a label "
                        "must wrap exactly one tree."
                    )
                node = children[0]
            elif not children:
                raise ValueError(
                    f"{source}: malformed tree on line {line}: node {label!r} has no children."
                )
            else:
                node = (label, tuple(children))
            if stack:
                stack[-1][1].append(node)
            else:
                trees.append(node)
        elif expect_label:
            stack[-1] = (token, stack[-1][1], stack[-1][2])
            expect_label = False
        elif stack:
            stack[-1][1].append(token)
        else:
            raise ValueError(
                f"{source}: malformed tree: word {token!r} on line {_line_of(text, pos)} is "
                "outside any bracket."
            )
    if stack:
        raise ValueError(
            f"{source}: unbalanced brackets: the tree opened on line {stack[0][2]} is never "
            "closed (malformed tree)."
        )
    return trees


def parse_tree(text: str, *, name: str = "tree") -> Tree:
    """Return the one bracketed tree in `text`; ValueError naming `name` otherwise."""
    if not isinstance(text, str):
        raise ValueError(f"{name} must be a bracketed tree string; got {type(text).__name__}.")
    trees = read_trees(text, source=name)
    if len(trees) != 1:
        raise ValueError(f"{name} must hold exactly one tree; it holds {len(trees)}.")
    return trees[0]


def format_tree(tree: Tree) -> str:
    """Return `tree` as one bracketed line, ``(S (NP (Det the) (N dog)) ...)``."""
    parts: list[str] = []

    def write(node):
        if isinstance(node, str):
            parts.append(node)
            return
        parts.append("(" + node[0])
        for child in node[1]:
            parts.append(" ")
            write(child)
        parts.append(")")

    write(tree)
    return "".join(parts)


def _as_tree(tree) -> Tree:
    return parse_tree(tree) if isinstance(tree, str) else tree


def tree_to_tokens(tree: str | Tree) -> list[str]:
    """Return the words of `tree` (a bracketed string or nested tuple), left to right.

    Examples
    --------
    >>> tree_to_tokens("(S (NP (Det the) (N dog)) (VP (V barks)))")
    ['the', 'dog', 'barks']
    """
    out: list[str] = []

    def walk(node):
        for child in node[1]:
            if isinstance(child, str):
                out.append(child)
            else:
                walk(child)

    walk(_as_tree(tree))
    return out


def tree_depth(tree: str | Tree) -> int:
    """Return the number of labelled nodes on the longest path from the root to a word.

    A preterminal over a word, ``(N dog)``, has depth 1 (NLTK's ``Tree.height()`` minus one).
    """

    def depth(node) -> int:
        return 1 + max((depth(c) for c in node[1] if not isinstance(c, str)), default=0)

    return depth(_as_tree(tree))


def tree_productions(tree: str | Tree) -> list[tuple[str, tuple]]:
    """Return the rules `tree` uses, top-down: (lhs, rhs) with rhs items (is_word, symbol)."""
    out = []

    def walk(node):
        out.append(
            (
                node[0],
                tuple((isinstance(c, str), c if isinstance(c, str) else c[0]) for c in node[1]),
            )
        )
        for child in node[1]:
            if not isinstance(child, str):
                walk(child)

    walk(_as_tree(tree))
    return out


# --- Chomsky normal form


def _check_cnf_label(label: str) -> None:
    if _UNARY_JOIN in label or _FACTOR_OPEN in label:
        raise ValueError(
            f"tree label {label!r} contains {_UNARY_JOIN!r} or {_FACTOR_OPEN!r}, which mark "
            "collapsed unary chains and binarised nodes in normal form; rename it first."
        )


def _right_factor(label: str, names: list[str], children: list) -> tuple:
    """Children of A as A -> B A|<C-D-...>, the factored node built recursively.

    `names` are the children's labels before their unary chains were collapsed, as NLTK
    factors first and collapses after.
    """
    if len(children) <= 2:
        return tuple(children)
    rest = _right_factor(label, names[1:], children[1:])
    return (children[0], (f"{label}{_FACTOR_OPEN}{'-'.join(names[1:])}{_FACTOR_CLOSE}", rest))


def _cnf(node: Tree) -> Tree:
    label, children = node
    _check_cnf_label(label)
    if any(isinstance(c, str) for c in children):
        if len(children) > 1:
            raise ValueError(
                f"to_cnf: node {label!r} mixes words and constituents or has several words; "
                "give each word a preterminal first."
            )
        return node
    if len(children) == 1:  # collapse the unary chain into this node's label
        child = _cnf(children[0])
        return (f"{label}{_UNARY_JOIN}{child[0]}", child[1])
    names = [c[0] for c in children]
    return (label, _right_factor(label, names, [_cnf(c) for c in children]))


def to_cnf(tree: str | Tree) -> str | Tree:
    """Return `tree` in Chomsky normal form, as NLTK writes it (right factoring).

    Nodes with more than two children are right-factored into ``A|<C-D>`` nodes and unary
    chains (down to the preterminal) are collapsed into ``A+B`` labels, so every node has two
    constituents or one word. A string in gives a string out.

    Examples
    --------
    >>> to_cnf("(S (NP (N dogs)) (VP (V chase) (NP (N cats)) (PP (P in) (NP (N parks)))))")
    '(S (NP+N dogs) (VP (V chase) (VP|<NP-PP> (NP+N cats) (PP (P in) (NP+N parks)))))'
    """
    out = _cnf(_as_tree(tree))
    return format_tree(out) if isinstance(tree, str) else out


def _uncnf(node) -> list:
    """The original nodes a normal-form node stands for (a factored node: several)."""
    if isinstance(node, str):
        return [node]
    label, children = node
    children = [piece for c in children for piece in _uncnf(c)]
    if _FACTOR_OPEN in label and label.endswith(_FACTOR_CLOSE):
        return children
    chain = label.split(_UNARY_JOIN)
    out = (chain[-1], tuple(children))
    for parent in reversed(chain[:-1]):
        out = (parent, (out,))
    return [out]


def from_cnf(tree: str | Tree) -> str | Tree:
    """Undo `to_cnf`: splice factored nodes into their parents and expand unary chains.

    Examples
    --------
    >>> tree = "(S (NP (N dogs)) (VP (V chase) (NP (N cats)) (PP (P in) (NP (N parks)))))"
    >>> from_cnf(to_cnf(tree)) == tree
    True
    """
    nodes = _uncnf(_as_tree(tree))
    if len(nodes) != 1 or isinstance(nodes[0], str):
        raise ValueError("from_cnf: the root of a normal-form tree cannot be a factored node.")
    return format_tree(nodes[0]) if isinstance(tree, str) else nodes[0]
