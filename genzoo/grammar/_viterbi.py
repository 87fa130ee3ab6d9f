"""Viterbi CKY: the best tree of each sentence of a batch, as bracketed text.

The grammar's unary rules are folded into its tables once (`viterbi_tables`): the best unary
chain from every symbol A down to every symbol P (max-plus Floyd-Warshall) turns each binary
rule P -> L R into candidates "A over P -> L R" of weight chain(A, P) + log p(rule), and each
lexical rule P -> w into a per-word table of every symbol's best chain down to w. A chart
cell is then one max over its symbol's candidates, with no unary pass per cell.

`viterbi_chart` fills the chart one span length at a time, all spans of all sentences at
once: about ten tensor operations per length, so a batch's fixed cost grows with its longest
sentence only. The chart (start, length, symbol, batch) is held once: in its (start, length)
grid, span (i + k, l - k) lies k * n cells past (i, l), so the right children of all spans
are one strided view, as the left ones are a slice. Sentences are batched by length to fit
a core's cache on a CPU (`make_batches`).

No back-pointers are kept (torch's max with indices over a middle dimension is many times
slower than without): the chart also keeps each binary rule's best score over its splits,
and `best_trees` recomputes, for the nodes of the best trees only, which candidate and which
split gave each cell its score (the same sums in the same order, so the same maxima and the
first of tied ones), for all sentences at once, one numpy step per tree level. It then
writes the brackets word by word.
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = [
    "CHART_CELLS",
    "CPU_BATCH_ELEMENTS",
    "best_chains",
    "best_trees",
    "viterbi_chart",
    "viterbi_tables",
]

_NEG_INF = -math.inf
# On a CPU, a batch's chart and largest intermediate (float64) are kept within a core's L2
# cache (2 MiB on current servers): past it, each sentence takes three times as long.
CPU_BATCH_ELEMENTS = 2**18
# Charts kept for the trees at a time (float64 cells: 128 MiB).
CHART_CELLS = 2**24


# --- tables, once per grammar


def _rule_log_probs(theta: np.ndarray, rule: np.ndarray) -> np.ndarray:
    """theta of each table entry's original rule; 0 (probability one) where rule is -1."""
    return np.where(rule >= 0, theta[np.maximum(rule, 0)], 0.0)


def best_chains(cnf: dict, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best unary chain A =>* P: its log-probability (C, C), 0 on the diagonal (the empty
    chain), and `next_hop[A, P]`, the symbol after A on it (max-plus Floyd-Warshall; any
    cycle has probability below one, so it never helps)."""
    C = cnf["n_cnf"]
    best = np.full((C, C), _NEG_INF)
    np.maximum.at(best, (cnf["un_lhs"], cnf["un_child"]), theta[cnf["un_rule"]])
    np.fill_diagonal(best, 0.0)
    next_hop = np.where(np.isfinite(best), np.arange(C)[None, :], -1)
    for m in range(C):
        through = best[:, m : m + 1] + best[m : m + 1, :]
        better = through > best
        best = np.where(better, through, best)
        next_hop = np.where(better, next_hop[:, m : m + 1], next_hop)
    return best, next_hop


def _first_best(group: np.ndarray, value: np.ndarray, *tie_keys) -> np.ndarray:
    """Indices of the best value per group; ties go to the smallest tie keys."""
    order = np.lexsort((*reversed(tie_keys), -value, group))
    first = np.ones(len(order), dtype=bool)
    first[1:] = group[order][1:] != group[order][:-1]
    return order[first]


def _binary_candidates(cnf: dict, theta: np.ndarray, chains: np.ndarray) -> dict:
    """Candidates (S_max, A) per chart parent A: binary rule, bottom symbol P, weight."""
    bin_lhs = cnf["bin_lhs"]
    weight_r = _rule_log_probs(theta, cnf["bin_rule"])
    top, rule = np.nonzero(np.isfinite(chains[:, bin_lhs]) & np.isfinite(weight_r))
    bottom = bin_lhs[rule]
    weight = chains[top, bottom] + weight_r[rule]
    order = np.lexsort((rule, bottom, top))  # first P, then its rules: ties as ever
    top, rule, bottom, weight = top[order], rule[order], bottom[order], weight[order]
    parents, first, count = np.unique(top, return_index=True, return_counts=True)
    column = np.searchsorted(parents, top)
    slot = np.arange(len(top)) - first[column]
    S = max(int(count.max(initial=0)), 1)
    table_rule = np.zeros((S, len(parents)), dtype=np.int64)  # padding: any rule, weight -inf
    table_weight = np.full((S, len(parents)), _NEG_INF)
    table_bottom = np.full((S, len(parents)), -1, dtype=np.int64)
    table_rule[slot, column], table_weight[slot, column] = rule, weight
    table_bottom[slot, column] = bottom
    return {"parents": parents, "rule": table_rule, "weight": table_weight,
            "bottom": table_bottom}  # fmt: skip


def _lexical_candidates(cnf: dict, theta: np.ndarray, chains: np.ndarray, pos: np.ndarray):
    """Per word and chart position, the best chain down to a lexical rule: its log-prob
    (V + 1, C), the last row -inf for padding, and the rule's parent P (V, C)."""
    V, C = cnf["n_terminals"], cnf["n_cnf"]
    lex_lhs, lex_word = cnf["lex_lhs"], cnf["lex_word"]
    weight_r = _rule_log_probs(theta, cnf["lex_rule"])
    top, rule = np.nonzero(np.isfinite(chains[:, lex_lhs]) & np.isfinite(weight_r))
    weight = chains[top, lex_lhs[rule]] + weight_r[rule]
    keep = _first_best(lex_word[rule] * C + top, weight, lex_lhs[rule])
    word, column = lex_word[rule[keep]], pos[top[keep]]
    best = np.full((V + 1, C), _NEG_INF)
    bottom = np.full((V, C), -1, dtype=np.int64)
    best[word, column] = weight[keep]
    bottom[word, column] = lex_lhs[rule[keep]]
    return best, bottom


def _bracket_texts(cnf: dict, chains, next_hop, labels: list[str]):
    """For every chain A =>* P: its opening brackets "(A (B (P " and their count; empty for
    a factored symbol or a word preterminal, whose children belong to their parent."""
    C = cnf["n_cnf"]
    opens = np.full((C, C), "", dtype=object)
    closes = np.zeros((C, C), dtype=np.int64)
    silent = (cnf["kind"] == 1) | (cnf["word"] >= 0)
    for top, bottom in zip(*np.nonzero(np.isfinite(chains)), strict=True):
        if silent[bottom]:
            continue
        chain = [int(top)]
        while chain[-1] != bottom:
            chain.append(int(next_hop[chain[-1], bottom]))
        opens[top, bottom] = "".join(f"({labels[s]} " for s in chain)
        closes[top, bottom] = len(chain)
    return opens, closes


def viterbi_tables(cnf: dict, theta: np.ndarray, labels: list[str], start: int, device) -> dict:
    """Everything Viterbi needs of a grammar in normal form `cnf` (`compile_cnf`'s arrays)
    with rule log-probabilities theta (R,): candidate tables as tensors on `device`, and the
    numpy tables that turn back-pointers into bracketed trees.

    Chart positions put the binary candidates' parents first (so a length's cells are one
    slice); `pos[s]` is symbol s's position and `symbol[p]` the symbol at position p.
    """
    chains, next_hop = best_chains(cnf, theta)
    binary = _binary_candidates(cnf, theta, chains)
    C, A = cnf["n_cnf"], len(binary["parents"])
    symbol = np.concatenate([binary["parents"], np.setdiff1d(np.arange(C), binary["parents"])])
    pos = np.empty(C, dtype=np.int64)
    pos[symbol] = np.arange(C)
    lex_best, lex_bottom = _lexical_candidates(cnf, theta, chains, pos)
    opens, closes = _bracket_texts(cnf, chains, next_hop, labels)
    S = binary["rule"].shape[0]

    def tensor(x, dtype=None):
        return torch.as_tensor(np.ascontiguousarray(x), dtype=dtype, device=device)

    return {
        "n_parents": A,
        "width": S * A,  # per-cell candidates, for the batches' memory bound
        "start": int(pos[start]),
        "left": tensor(pos[cnf["bin_left"]]),
        "right": tensor(pos[cnf["bin_right"]]),
        "candidate_rule": tensor(binary["rule"].reshape(-1)),  # (S * A,) slot-major
        "candidate_weight": tensor(binary["weight"][:, :, None], torch.float64),  # (S, A, 1)
        "slot_weight": binary["weight"],
        "lex_best": tensor(lex_best, torch.float64),  # (V + 1, C)
        # numpy, for the trees
        "n_slots": S,
        "symbol": symbol,
        "rule_left": pos[cnf["bin_left"]],
        "rule_right": pos[cnf["bin_right"]],
        "slot_rule": binary["rule"],
        "slot_bottom": binary["bottom"],
        "lex_bottom": lex_bottom,
        "opens": opens,
        "closes": closes,
        "chains": chains,
        "next_hop": next_hop,
    }


# --- the chart


def _rule_offsets(n: int, R: int, B: int) -> np.ndarray:
    """Where each span length l's (I, R, B) best-split scores start in a batch's block of
    them, at[l] for l = 0, 1, ..., n + 1; at[n + 1] is the block's size."""
    at = np.zeros(n + 2, dtype=np.int64)
    at[3:] = np.cumsum([(n - length + 1) * R * B for length in range(2, n + 1)])
    return at


@torch.no_grad()
def viterbi_chart(words: torch.Tensor, t: dict, out: torch.Tensor) -> None:
    """Fill `out` with the Viterbi chart of sentences `words` (B, n), padded with the word
    index V (no parent emits it).

    `out` holds the chart, the best score of every span by (start, length, symbol,
    sentence), (n, n + 1, C, B), then per span length l the best score of each binary rule
    over its splits, (I, R, B) at `_rule_offsets`. Scores come from max without arg-max
    (the fast reduction); `best_trees` recomputes the few arg-maxes its trees need.
    """
    B, n = words.shape
    C, A, S, R = t["lex_best"].shape[1], t["n_parents"], t["n_slots"], len(t["left"])
    chart = out[: n * (n + 1) * C * B].view(n, n + 1, C, B)
    chart[:, 1] = t["lex_best"][words.T].transpose(1, 2)  # (n, C, B)
    # Parents' cells are written before they are read and column 0 is never read, so only
    # the other symbols' cells of longer spans need -inf.
    chart[:, 2:, A:] = _NEG_INF
    rules = out[chart.numel() :]
    at = _rule_offsets(n, R, B).tolist()
    s0, s1 = chart.stride(0), chart.stride(1)
    for length in range(2, n + 1 if A else 1):
        n_spans, n_splits = n - length + 1, length - 1
        left = chart[:n_spans, 1:length]  # (I, K, C, B): spans (i, k)
        right = chart.as_strided((n_spans, n_splits, C, B), (s0, s0 - s1, B, 1),
                                 out.storage_offset() + s0 + (length - 1) * s1)  # fmt: skip
        scores = left.index_select(2, t["left"])
        scores += right.index_select(2, t["right"])  # (I, K, R, B)
        per_rule = rules[at[length] : at[length + 1]].view(n_spans, R, B)
        torch.amax(scores, 1, out=per_rule)  # over splits
        candidates = per_rule.index_select(1, t["candidate_rule"]).view(n_spans, S, A, B)
        candidates += t["candidate_weight"]
        torch.amax(candidates, 1, out=chart[:n_spans, length, :A])  # (I, A, B)


# --- trees


class _Charts:
    """The charts (and best-split scores) of several batches in one flat buffer, so that
    `best_trees` follows all their sentences' trees at once. Batch j's block starts at
    `base[j]`; its cell (i, l, x, b) lies `((i * (n[j] + 1) + l) * C + x) * size[j] + b`
    into it, and rule r's score over span (i, l) `rules[j, l] + (i * R + r) * size[j] + b`.
    """

    def __init__(self, batches: list, C: int, R: int, device):
        self.batches = batches
        self.n = np.array([b.words.shape[1] for b in batches])
        self.size = np.array([len(b) for b in batches])
        self.rules = np.zeros((len(batches), self.n.max() + 2), dtype=np.int64)
        for j, (n, B) in enumerate(zip(self.n.tolist(), self.size.tolist(), strict=True)):
            self.rules[j, : n + 2] = _rule_offsets(n, R, B) + n * (n + 1) * C * B
        cells = self.rules[np.arange(len(batches)), self.n + 1]
        self.base = np.cumsum(cells) - cells
        self.rules += self.base[:, None]
        self.buffer = torch.empty(int(cells.sum()), dtype=torch.float64, device=device)
        self.cells = cells

    def out(self, j: int) -> torch.Tensor:
        return self.buffer[self.base[j] : self.base[j] + self.cells[j]]


def _chunks(batches: list, C: int, budget: int) -> list[list]:
    """Consecutive batches whose charts hold at most `budget` cells together (or one)."""
    chunks, total = [[]], 0
    for batch in batches:
        cells = batch.words.shape[1] ** 2 * C * len(batch)
        if chunks[-1] and total + cells > budget:
            chunks.append([])
            total = 0
        chunks[-1].append(batch)
        total += cells
    return chunks


def _best_candidates(charts: _Charts, flat: np.ndarray, nodes: np.ndarray, t: dict):
    """For inner nodes (rows batch, row in it, sentence, start, length, top symbol's chart
    position): the best binary rule, its bottom symbol and its split, as the chart chose
    them (the same sums in the same order, so the same maxima and the first of tied ones)."""
    j, b, _, i, length, top = nodes
    C, R = len(t["symbol"]), len(t["rule_left"])
    size, origin, width = charts.size[j], charts.base[j] + b, charts.n[j] + 1
    rules = t["slot_rule"].T[top]  # (m, S)
    at = charts.rules[j, length] + i * R * size + b
    per_rule = flat[at[:, None] + rules * size[:, None]]
    slot = np.argmax(per_rule + t["slot_weight"].T[top], 1)
    rule = rules[np.arange(len(slot)), slot]
    span = length[:, None]
    k = np.arange(1, int(length.max()))  # (K,)
    valid = k < span
    k = np.minimum(k, span - 1)  # (m, K)
    # Cell (i', l', x) of a node's sentence is ((i' * width + l') * C + x) * size + origin.
    size, origin, first = size[:, None], origin[:, None], (i * width)[:, None]
    left = ((first + k) * C + t["rule_left"][rule][:, None]) * size + origin
    right = (first + span + k * (width[:, None] - 1)) * C + t["rule_right"][rule][:, None]
    x = flat[left] + flat[right * size + origin]
    split = np.argmax(np.where(valid, x, _NEG_INF), 1) + 1
    return rule, t["slot_bottom"][slot, top], split


def _nodes(charts: _Charts, flat: np.ndarray, roots: np.ndarray, words, t: dict):
    """Every chart node of the best trees, found one tree level at a time for all sentences
    from their `roots` (rows batch, row in it, sentence, 0, length, start's position): rows
    sentence, start, length, the top symbol's chart position and the bottom symbol. `words`
    gives a sentence's word at a start: words[0][sentence] + start indexes words[1]."""
    frontier, inner, leaves = roots, [], []
    while frontier.shape[1]:
        is_leaf = frontier[4] == 1
        leaves.append(frontier[:, is_leaf])
        frontier = frontier[:, ~is_leaf]
        if not frontier.shape[1]:
            break
        rule, bottom, k = _best_candidates(charts, flat, frontier, t)
        inner.append(np.concatenate([frontier[2:], bottom[None]]))
        children = np.concatenate([frontier, frontier], 1)
        m = len(k)
        children[3, m:] += k
        children[4, :m], children[4, m:] = k, frontier[4] - k
        children[5, :m], children[5, m:] = t["rule_left"][rule], t["rule_right"][rule]
        frontier = children
    leaves = np.concatenate(leaves, 1)[2:]
    bottom = t["lex_bottom"][words[1][words[0][leaves[0]] + leaves[1]], leaves[3]]
    return np.concatenate(inner + [np.concatenate([leaves, bottom[None]])], 1)


def _texts(nodes, sentences: list, lengths: np.ndarray, t: dict) -> dict:
    """Bracketed text of each parsed sentence, from its nodes.

    Each node covers a run of words, so the text is the words in order, each preceded by the
    opening brackets of the nodes that start at it (outermost first) and followed by a
    closing bracket for each node that ends at it.
    """
    g, i, length, top, bottom = nodes
    top = t["symbol"][top]
    parsed = np.unique(g)
    counts = lengths[parsed]
    first_word = np.cumsum(counts) - counts  # of each parsed sentence, in their words
    at = first_word[np.searchsorted(parsed, g)] + i  # each node's first word
    order = np.lexsort((-length, at))  # a leaf starts at each word, so no group is empty
    starts = np.flatnonzero(np.diff(at[order], prepend=-1))
    opens = np.add.reduceat(t["opens"][top[order], bottom[order]], starts)
    closes = np.bincount(at + length - 1, t["closes"][top, bottom], len(opens)).astype(np.int64)
    brackets = np.array([")" * c for c in range(closes.max() + 1)], dtype=object)[closes]
    tokens = np.empty(len(opens), dtype=object)
    tokens[:] = [w for j in parsed.tolist() for w in sentences[j]]
    text = (opens + tokens + brackets).tolist()
    return {
        j: " ".join(text[a : a + count])
        for j, a, count in zip(parsed.tolist(), first_word.tolist(), counts.tolist(), strict=True)
    }


def best_trees(batches: list, encoded: list, sentences: list, t: dict, *, budget: int):
    """The best tree of each sentence of `batches` (`make_batches` of the word indices
    `encoded` of `sentences`) as a bracketed string in the original grammar, None where it
    has no parse; and its log-probability, (n_sentences,). Charts are kept for at most
    `budget` cells at a time."""
    C = len(t["symbol"])
    lengths = np.array([len(e) for e in encoded])
    words = (np.cumsum(lengths) - lengths, np.concatenate(encoded))
    trees: list = [None] * len(sentences)
    log_probs = np.full(len(sentences), _NEG_INF)
    for chunk in _chunks(batches, C, budget):
        charts = _Charts(chunk, C, len(t["rule_left"]), chunk[0].words.device)
        for j, batch in enumerate(chunk):
            viterbi_chart(batch.words, t, charts.out(j))
        flat = charts.buffer.cpu().numpy()
        j = np.concatenate([np.full(len(batch), k) for k, batch in enumerate(chunk)])
        b = np.concatenate([np.arange(len(batch)) for batch in chunk])
        g = np.concatenate([batch.index for batch in chunk])
        start = np.full(len(g), t["start"])
        log_probs[g] = flat[charts.base[j] + (lengths[g] * C + start) * charts.size[j] + b]
        parsed = np.isfinite(log_probs[g])
        if parsed.any():
            roots = np.stack([j, b, g, np.zeros_like(g), lengths[g], start])[:, parsed]
            nodes = _nodes(charts, flat, roots, words, t)
            for k, text in _texts(nodes, sentences, lengths, t).items():
                trees[k] = text
    return trees, log_probs
