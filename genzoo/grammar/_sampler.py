"""Top-down sampling of derivations from a PCFG, with a depth limit by rejection."""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["sample_trees"]

# A draw with more nodes than this is rejected too, so a grammar that rarely stops cannot
# exhaust memory before reaching the depth limit.
MAX_NODES = 10_000
_MAX_ROUNDS = 100


def _choice_tables(rule_lhs, rule_probs, n_nonterminals: int):
    """Per nonterminal, its rules of positive probability (N, M) and their cumulative
    probabilities normalised to end at one, padded with rule -1 and cdf 1."""
    rules = [np.flatnonzero((rule_lhs == a) & (rule_probs > 0)) for a in range(n_nonterminals)]
    width = max(len(r) for r in rules)
    table = np.full((n_nonterminals, width), -1, dtype=np.int64)
    cdf = np.ones((n_nonterminals, width))
    for a, r in enumerate(rules):
        if len(r):
            table[a, : len(r)] = r
            cdf[a, : len(r)] = np.cumsum(rule_probs[r]) / rule_probs[r].sum()
            cdf[a, len(r) - 1] = 1.0
    return table, cdf, np.array([max(len(r), 1) for r in rules])


def _draw_round(m: int, tables, rule_rhs, N: int, start: int, max_depth: int, gen):
    """Expand m derivations level by level; return (accepted draws, rule of each node,
    children of each node).

    Nodes are numbered as they are made; children[node, slot] is the node of the slot-th
    right-hand-side item when that is a nonterminal. Nodes of rejected draws may stay unset.
    """
    table, cdf, counts = tables
    ids, rules_made, children_made = [], [], []
    frontier = np.arange(m)  # node ids; the first m nodes are the roots
    frontier_tree, frontier_symbol = np.arange(m), np.full(m, start)
    n_nodes, sizes = m, np.ones(m, dtype=np.int64)
    rejected = np.zeros(m, dtype=bool)
    for _ in range(max_depth):
        u = torch.rand(len(frontier), generator=gen, dtype=torch.float64, device=gen.device)
        u = u.cpu().numpy()
        slot = np.minimum((u[:, None] >= cdf[frontier_symbol]).sum(1), counts[frontier_symbol] - 1)
        rules = table[frontier_symbol, slot]
        if (rules < 0).any():
            raise ValueError("a nonterminal on a derivation has no rule of positive probability.")
        rhs = rule_rhs[rules]  # (F, L)
        is_child = (rhs >= 0) & (rhs < N)
        children = np.full(rhs.shape, -1, dtype=np.int64)
        children[is_child] = n_nodes + np.arange(int(is_child.sum()))
        ids.append(frontier)
        rules_made.append(rules)
        children_made.append(children)
        frontier = children[is_child]
        frontier_tree = np.broadcast_to(frontier_tree[:, None], rhs.shape)[is_child]
        frontier_symbol = rhs[is_child]
        n_nodes += len(frontier)
        sizes += np.bincount(frontier_tree, minlength=m)
        rejected |= sizes > MAX_NODES
        keep = ~rejected[frontier_tree]  # stop growing oversized draws
        frontier, frontier_tree, frontier_symbol = (
            frontier[keep],
            frontier_tree[keep],
            frontier_symbol[keep],
        )
        if len(frontier) == 0:
            break
    rejected[frontier_tree] = True  # unfinished at the depth limit
    ids = np.concatenate(ids)
    node_rule = np.full(n_nodes, -1, dtype=np.int64)
    node_rule[ids] = np.concatenate(rules_made)
    node_children = np.full((n_nodes, rule_rhs.shape[1]), -1, dtype=np.int64)
    node_children[ids] = np.concatenate(children_made)
    return np.flatnonzero(~rejected), node_rule, node_children


@torch.no_grad()
def sample_trees(
    rule_lhs: np.ndarray,
    rule_rhs: np.ndarray,
    rule_probs: np.ndarray,
    names: list[str],
    n_samples: int,
    *,
    n_nonterminals: int,
    start: int = 0,
    max_depth: int,
    gen: torch.Generator,
) -> list[tuple]:
    """Draw `n_samples` trees by top-down expansion, as nested tuples.

    Each level of all pending derivations is expanded at once: one uniform per open node picks
    its rule by inverse CDF. Derivations deeper than `max_depth` (labelled nodes on a path
    from the root to a word) or larger than `MAX_NODES` nodes are rejected and drawn again, so
    the trees follow the grammar's distribution conditioned on the limit. Symbols are numbered
    as in `rule_arrays`: nonterminals first, then words; `names` spells them.
    """
    N = n_nonterminals
    tables = _choice_tables(rule_lhs, rule_probs, N)
    out: list[tuple] = []
    drawn = accepted = 0
    for _ in range(_MAX_ROUNDS):
        pending = n_samples - len(out)
        rate = accepted / drawn if drawn else 1.0
        m = min(max(pending, math.ceil(1.1 * pending / max(rate, 1e-3))), 100 * n_samples)
        ok, node_rule, node_children = _draw_round(m, tables, rule_rhs, N, start, max_depth, gen)
        drawn, accepted = drawn + m, accepted + len(ok)
        for root in ok[:pending].tolist():
            out.append(_build(root, node_rule, node_children, rule_lhs, rule_rhs, names, N))
        if len(out) == n_samples:
            return out
    raise ValueError(
        f"max_depth={max_depth} is too small for this grammar: only {accepted} of {drawn} "
        f"draws were at most {max_depth} deep (and at most {MAX_NODES} nodes); raise max_depth."
    )


def _build(node: int, node_rule, node_children, rule_lhs, rule_rhs, names, N: int) -> tuple:
    rule = node_rule[node]
    children = []
    for slot, symbol in enumerate(rule_rhs[rule].tolist()):
        if symbol < 0:
            break
        if symbol >= N:
            children.append(names[symbol])
        else:
            child = int(node_children[node, slot])
            children.append(_build(child, node_rule, node_children, rule_lhs, rule_rhs, names, N))
    return (names[rule_lhs[rule]], tuple(children))
