"""Grammar rules: NLTK's text format, rule tables as arrays, and the Chomsky normal form.

A rule is ``(lhs, rhs, prob)`` with rhs a tuple of ``(is_word, symbol)`` items, so that a
nonterminal and a word of the same spelling stay apart. The fitted model keeps its rules as
arrays: symbol names (string arrays) and integer tables, which `compile_cnf` turns into the
binary, unary and lexical rule tables the chart parser reads.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict

import numpy as np
import torch

from genzoo.grammar.trees import Tree, tree_to_tokens

__all__ = [
    "check_grammar",
    "compile_cnf",
    "count_rules",
    "format_grammar",
    "full_grammar",
    "map_rare_words",
    "parse_grammar",
    "relative_frequencies",
    "rule_arrays",
    "rhs_text",
    "rule_m_step",
    "rules_from_arrays",
]

# Rule probabilities given by hand must sum to one per left-hand side within this.
PROB_TOLERANCE = 1e-6
_GRAMMAR_TOKEN = re.compile(
    r"""\s*(?:(?P<arrow>->)|(?P<bar>\|)|\[(?P<prob>[^\]]*)\]|'(?P<sq>[^']*)'|"(?P<dq>[^"]*)"|"""
    r"""(?P<sym>[^\s'"|\[\]]+)|(?P<bad>\S))"""
)


# --- the text format


def _strip_comment(line: str) -> str:
    """The line without a '#' comment (a '#' inside quotes is part of a word)."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#":
            return line[:i]
    return line


def _alternatives(tokens: list, where: str, lhs: str) -> list[tuple[tuple, float]]:
    """Right-hand sides with their probabilities from the tokens after '->'."""
    out, rhs = [], []
    expect_bar = False
    for kind, value in tokens:
        if expect_bar and kind != "bar":
            raise ValueError(
                f"{where}: expected '|' or the end of the line after [prob], got {value!r}."
            )
        if kind == "bar":
            if not expect_bar:
                raise ValueError(f"{where}: an alternative of {lhs!r} has no probability [p].")
            expect_bar = False
        elif kind == "prob":
            try:
                prob = float(value)
            except ValueError:
                raise ValueError(f"{where}: [{value}] is not a probability.") from None
            if not 0.0 <= prob <= 1.0:
                raise ValueError(f"{where}: probability [{value}] is outside [0, 1].")
            if not rhs:
                raise ValueError(
                    f"{where}: {lhs!r} has an empty right-hand side; epsilon rules are not "
                    "supported."
                )
            out.append((tuple(rhs), prob))
            rhs, expect_bar = [], True
        elif kind == "arrow":
            raise ValueError(f"{where}: malformed rule: a second '->'.")
        else:
            rhs.append((kind == "word", value))
    if rhs or not expect_bar:
        raise ValueError(
            f"{where}: malformed rule: an alternative of {lhs!r} has no probability [p]."
        )
    return out


def _tokenize_line(line: str, where: str) -> list[tuple[str, str]]:
    tokens = []
    for match in _GRAMMAR_TOKEN.finditer(line):
        kind = match.lastgroup
        if kind == "bad":
            raise ValueError(f"{where}: malformed rule: unexpected {match.group(kind)!r}.")
        value = match.group(kind)
        tokens.append(("word" if kind in ("sq", "dq") else kind, value))
    return tokens


def parse_grammar(text: str, *, name: str = "grammar") -> tuple[str, list]:
    """Return (start symbol, rules) from a PCFG in NLTK's format.

    One or more ``LHS -> rhs [p] | rhs [p]`` per line; words in single or double quotes;
    ``#`` starts a comment; a line starting with ``|`` continues the previous rule; and
    ``%start X`` names the start symbol (else the first rule's left-hand side).
    """
    if not isinstance(text, str):
        raise ValueError(f"{name} must be a grammar string; got {type(text).__name__}.")
    start, rules, lhs = None, [], None
    for number, raw in enumerate(text.splitlines(), 1):
        line = _strip_comment(raw).strip()
        where = f"{name} line {number}"
        if not line:
            continue
        if line.startswith("%start"):
            parts = line.split()
            if len(parts) != 2:
                raise ValueError(f"{where}: malformed directive {line!r}; write '%start S'.")
            start = parts[1]
            continue
        tokens = _tokenize_line(line, where)
        if tokens[0][0] == "bar":
            if lhs is None:
                raise ValueError(f"{where}: malformed rule: '|' continues no rule.")
            tokens = tokens[1:]
        elif len(tokens) >= 2 and tokens[0][0] == "sym" and tokens[1][0] == "arrow":
            lhs, tokens = tokens[0][1], tokens[2:]
        else:
            raise ValueError(f"{where}: malformed rule {line!r}; expected 'LHS -> RHS [prob]'.")
        rules += [(lhs, rhs, p) for rhs, p in _alternatives(tokens, where, lhs)]
    if not rules:
        raise ValueError(f"{name} has no rules.")
    return (rules[0][0] if start is None else start), rules


def _quote(word: str) -> str:
    if "'" not in word:
        return f"'{word}'"
    if '"' not in word:
        return f'"{word}"'
    raise ValueError(f"word {word!r} holds both quote characters and cannot be written.")


def _writable(symbol: str) -> str:
    if not re.fullmatch(r"[^\s'\"|\[\]]+", symbol) or symbol == "->":
        raise ValueError(f"nonterminal {symbol!r} cannot be written in the grammar text format.")
    return symbol


def rhs_text(rhs: tuple) -> str:
    """A right-hand side as the text format writes it: words quoted, symbols bare."""
    return " ".join(_quote(s) if is_word else _writable(s) for is_word, s in rhs)


def format_grammar(start: str, rules: list) -> str:
    """Return the rules in NLTK's format, one line per left-hand side, start symbol first."""
    by_lhs: dict[str, list] = defaultdict(list)
    for lhs, rhs, prob in rules:
        by_lhs[lhs].append(f"{rhs_text(rhs)} [{prob!r}]")
    order = [start] + [lhs for lhs in by_lhs if lhs != start]
    return "\n".join(f"{_writable(lhs)} -> {' | '.join(by_lhs[lhs])}" for lhs in order) + "\n"


def check_grammar(start: str, rules: list, *, name: str = "grammar", check_sums: bool = True):
    """Raise ValueError for duplicate rules, unknown nonterminals, or sums that are not 1."""
    seen, sums = set(), defaultdict(float)
    for lhs, rhs, prob in rules:
        if (lhs, rhs) in seen:
            shown = " ".join(_quote(s) if w else s for w, s in rhs)
            raise ValueError(f"{name}: the rule {lhs} -> {shown} is given twice.")
        seen.add((lhs, rhs))
        sums[lhs] += prob
    if start not in sums:
        raise ValueError(
            f"{name}: the start symbol {start!r} is an unknown nonterminal (no rules)."
        )
    for lhs, rhs, _ in rules:
        for is_word, symbol in rhs:
            if not is_word and symbol not in sums:
                raise ValueError(
                    f"{name}: unknown nonterminal {symbol!r} in a rule of {lhs!r}: it has no "
                    "rules of its own (quote it if it is a word)."
                )
    if not any(w for _, rhs, _ in rules for w, _ in rhs):
        raise ValueError(f"{name} has no rules with words (lexical rules such as N -> 'dog').")
    if check_sums:
        for lhs, total in sums.items():
            if abs(total - 1.0) > PROB_TOLERANCE:
                raise ValueError(
                    f"{name}: the probabilities of the rules of {lhs!r} sum to {total:.9g}, "
                    f"not 1 (tolerance {PROB_TOLERANCE:g})."
                )


# --- rules as arrays


def rule_arrays(start: str, rules: list) -> dict[str, np.ndarray]:
    """Symbol names and rule tables of a grammar, as the model stores them.

    nonterminals (N,) with the start symbol first, the others sorted; terminals (V,) sorted;
    rule_lhs (R,); rule_rhs (R, L), symbols numbered nonterminals 0..N-1 then words
    N..N+V-1, -1 padding; rule_probs (R,). Rules are ordered by left-hand side, then as given.
    """
    nonterminals = [start] + sorted({lhs for lhs, _, _ in rules} - {start})
    terminals = sorted({s for _, rhs, _ in rules for w, s in rhs if w})
    index = {s: i for i, s in enumerate(nonterminals)}
    rules = sorted(rules, key=lambda rule: index[rule[0]])
    word_index = {s: len(nonterminals) + i for i, s in enumerate(terminals)}
    width = max(len(rhs) for _, rhs, _ in rules)
    rhs_table = np.full((len(rules), width), -1, dtype=np.int64)
    for r, (_, rhs, _) in enumerate(rules):
        rhs_table[r, : len(rhs)] = [word_index[s] if w else index[s] for w, s in rhs]
    return {
        "nonterminals": np.array(nonterminals, dtype=str),
        "terminals": np.array(terminals, dtype=str),
        "rule_lhs": np.array([index[lhs] for lhs, _, _ in rules], dtype=np.int64),
        "rule_rhs": rhs_table,
        "rule_probs": np.array([p for _, _, p in rules], dtype=np.float64),
    }


def rules_from_arrays(nonterminals, terminals, rule_lhs, rule_rhs, rule_probs) -> list:
    """The (lhs, rhs, prob) rules of the arrays `rule_arrays` makes."""
    N = len(nonterminals)
    names = [str(s) for s in nonterminals] + [str(s) for s in terminals]
    return [
        (names[lhs], tuple((s >= N, names[s]) for s in rhs if s >= 0), float(p))
        for lhs, rhs, p in zip(
            rule_lhs.tolist(), rule_rhs.tolist(), rule_probs.tolist(), strict=True
        )
    ]


def count_rules(trees: list[Tree]) -> Counter:
    """How often each (lhs, rhs) rule is used in the trees."""
    counts: Counter = Counter()

    def walk(node):
        counts[(node[0], tuple((isinstance(c, str), c if isinstance(c, str) else c[0])
                               for c in node[1]))] += 1  # fmt: skip
        for child in node[1]:
            if not isinstance(child, str):
                walk(child)

    for tree in trees:
        walk(tree)
    return counts


# --- estimation


def map_rare_words(trees: list, unknown_word: str, min_count: int) -> list:
    """Trees with every word seen fewer than `min_count` times replaced by `unknown_word`."""
    counts = Counter(w for t in trees for w in tree_to_tokens(t))
    rare = {w for w, c in counts.items() if c < min_count}

    def walk(node):
        return (node[0], tuple((unknown_word if c in rare else c) if isinstance(c, str)
                               else walk(c) for c in node[1]))  # fmt: skip

    return [walk(t) for t in trees] if rare else trees


def relative_frequencies(counts: dict, extra_rules=(), smoothing: float = 0.0) -> list:
    """Rules with probabilities (count + smoothing) / total per left-hand side, sorted.

    `extra_rules` (lhs, rhs) take part with zero counts, so smoothing gives them mass; rules
    left at zero probability are dropped.
    """
    keys = set(counts) | set(extra_rules)
    totals: Counter = Counter()
    for lhs, rhs in keys:
        totals[lhs] += counts.get((lhs, rhs), 0) + smoothing
    rules = []
    for lhs, rhs in sorted(keys):
        prob = (counts.get((lhs, rhs), 0) + smoothing) / totals[lhs]
        if prob > 0:
            rules.append((lhs, rhs, prob))
    return rules


def full_grammar(symbols: list[str], words: list[str], probs: np.ndarray) -> list:
    """Every binary rule A -> B C over `symbols` and every rule A -> word, with probabilities
    probs (n_symbols, n_symbols**2 + n_words), rows in that rule order."""
    rhs = [((False, b), (False, c)) for b in symbols for c in symbols]
    rhs += [((True, w),) for w in words]
    return [(a, r, float(probs[i, j])) for i, a in enumerate(symbols) for j, r in enumerate(rhs)]


def rule_m_step(counts, log_probs, rule_lhs, n_nonterminals: int, smoothing: float):
    """New rule log-probabilities from expected counts (R,); a nonterminal with no expected
    use keeps its old probabilities."""
    counts = counts + smoothing
    totals = counts.new_zeros(n_nonterminals).index_add_(0, rule_lhs, counts)[rule_lhs]
    new = torch.log(counts) - torch.log(totals.clamp_min(torch.finfo(counts.dtype).tiny))
    return torch.where(totals > 0, new, log_probs)


# --- Chomsky normal form of the rule tables


def compile_cnf(rule_lhs, rule_rhs, n_nonterminals: int, n_terminals: int) -> dict:
    """Binary, unary and lexical rule tables of the grammar's Chomsky normal form.

    Long rules are right-factored, A -> B C D into A -> B A|<C-D> (the original rule's
    probability) and A|<C-D> -> C D (probability one); a word inside a longer rule gets a
    preterminal of its own that emits it with probability one. Unary rules stay unary: the
    chart applies their closure in every cell. Symbols 0..N-1 are the grammar's
    nonterminals, then the factored symbols, then the word preterminals. Each table row
    names the original rule whose probability it carries (-1 for probability one).
    """
    N = n_nonterminals
    names = list(range(N))  # a factored symbol's key; a preterminal's word index
    kind = [0] * N  # 0 original, 1 factored, 2 word preterminal
    new_symbol: dict = {}
    binary, unary, lexical = [], [], []

    def symbol(key, k: int, make_rules=None) -> int:
        if key not in new_symbol:
            new_symbol[key] = len(names)
            names.append(key)
            kind.append(k)
            if make_rules is not None:
                make_rules(new_symbol[key])
        return new_symbol[key]

    def preterminal(word: int) -> int:
        return symbol(("word", word), 2, lambda s: lexical.append((s, word, -1)))

    for r, (lhs, rhs) in enumerate(zip(rule_lhs.tolist(), rule_rhs.tolist(), strict=True)):
        rhs = [s for s in rhs if s >= 0]
        if len(rhs) == 1:
            if rhs[0] >= N:
                lexical.append((lhs, rhs[0] - N, r))
            else:
                unary.append((lhs, rhs[0], r))
            continue
        items = tuple(s if s < N else preterminal(s - N) for s in rhs)
        parent, source = lhs, r
        for i in range(len(items) - 1):
            tail = items[i + 1 :]
            if len(tail) == 1:
                binary.append((parent, items[i], tail[0], source))
                break
            key = ("factor", lhs, tail)
            exists = key in new_symbol
            child = symbol(key, 1)
            binary.append((parent, items[i], child, source))
            if exists:  # the factored symbol's rules were made by an earlier rule
                break
            parent, source = child, -1
    return _tables(len(names), np.array(kind), names, N, n_terminals, binary, unary, lexical)


def _tables(n_cnf, kind, keys, N, V, binary, unary, lexical) -> dict:
    """The rule lists as arrays; binary rules also as slots per parent: (R_max, P) indices
    into the binary list, -1 padding."""
    binary = np.array(binary, dtype=np.int64).reshape(-1, 4)
    unary = np.array(unary, dtype=np.int64).reshape(-1, 3)
    lexical = np.array(lexical, dtype=np.int64).reshape(-1, 3)
    bin_parents = np.unique(binary[:, 0])
    per_parent = [np.flatnonzero(binary[:, 0] == p) for p in bin_parents]
    slots = np.full((max((len(r) for r in per_parent), default=1), len(bin_parents)), -1)
    for j, rows in enumerate(per_parent):
        slots[: len(rows), j] = rows
    word = np.full(n_cnf, -1, dtype=np.int64)
    word[kind == 2] = [key[1] for key, k in zip(keys, kind, strict=True) if k == 2]

    def column(table, j):
        return np.ascontiguousarray(table[:, j])

    return {
        "n_cnf": n_cnf,
        "n_nonterminals": N,
        "n_terminals": V,
        "kind": kind.astype(np.int64),
        "word": word,
        "bin_lhs": column(binary, 0),
        "bin_left": column(binary, 1),
        "bin_right": column(binary, 2),
        "bin_rule": column(binary, 3),
        "bin_parents": bin_parents,
        "bin_slots": slots.astype(np.int64),
        "lex_parents": np.unique(lexical[:, 0]),
        "lex_lhs": column(lexical, 0),
        "lex_word": column(lexical, 1),
        "lex_rule": column(lexical, 2),
        "un_lhs": column(unary, 0),
        "un_child": column(unary, 1),
        "un_rule": column(unary, 2),
    }
