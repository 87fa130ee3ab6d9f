"""Inside chart parsing of a PCFG in Chomsky normal form, and batches of sentences.

The chart holds log inside probabilities of every span and symbol of every sentence in the
batch. The one Python loop is over span lengths l; each step combines, for all spans, all
split points and all binary rules at once (gathering the children's scores through padded
per-parent rule tables), then applies the closure of the unary rules in every cell: the sum
over unary chains (I - U)^-1. Sentences shorter than the batch's longest are padded with
impossible words, so their spans past the end stay -inf. Viterbi parsing is in `_viterbi`.

The inside pass is differentiable: with rule log-probabilities theta as leaves, the gradient
of the summed log-likelihood is each rule's expected count (the outside pass of inside-outside
done by autograd; Eisner 2016, "Inside-outside and forward-backward algorithms are just
backprop"). Log-sum-exp is written so that cells with no parse give zero, not NaN, gradients.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

__all__ = [
    "SentenceBatch",
    "cnf_to_torch",
    "inside",
    "make_batches",
    "sum_weights",
]

_NEG_INF = -math.inf
# Elements of the largest intermediate tensor of one batch (float64: 8 bytes each).
_BATCH_ELEMENTS = 2**22
# A batch's fixed cost per span length (a dozen tensor operations) is about that of this many
# elements of chart work on a CPU, and its setup about that of this many span lengths;
# `_length_groups` weighs them against padding.
_STEP_ELEMENTS = 2**14
_SETUP_STEPS = 4


@dataclass
class SentenceBatch:
    """Sentences of similar length as padded word indices (B, n), their lengths, and their
    positions `index` in the caller's list."""

    words: torch.Tensor
    lengths: torch.Tensor
    index: np.ndarray

    def __len__(self) -> int:
        return len(self.index)


def _length_groups(sorted_lengths: np.ndarray, n_rules: int, fits) -> list[tuple[int, int]]:
    """Runs [lo, hi) of the length-sorted sentences of least estimated work, each cut into
    batches of `fits(n)`: _STEP_ELEMENTS per span length (and setup) of a batch, plus n^3 / 6
    splits times the rules for each sentence padded to the run's longest, n (an exact
    dynamic programme over the distinct lengths, in plain Python: there are few)."""
    values, first = np.unique(sorted_lengths, return_index=True)
    values, first = values.tolist(), first.tolist()
    ends = first[1:] + [len(sorted_lengths)]
    best, cut = [0.0], [0]
    for j, n in enumerate(values):
        per_sentence, most = n**3 / 6 * (n_rules + 1), fits(n)
        per_batch = _STEP_ELEMENTS * (n + _SETUP_STEPS)
        costs = [best[i] + -(-(ends[j] - first[i]) // most) * per_batch
                 + (ends[j] - first[i]) * per_sentence for i in range(j + 1)]  # fmt: skip
        cut.append(min(range(j + 1), key=costs.__getitem__))
        best.append(costs[cut[-1]])
    groups, j = [], len(values)
    while j:
        groups.append((first[cut[j]], ends[j - 1]))
        j = cut[j]
    return groups[::-1]


def make_batches(
    encoded: list[np.ndarray],
    cnf: dict,
    device,
    *,
    batch_size=None,
    grad=False,
    width=0,
    budget=None,
    pad=0,
):
    """Sentences (arrays of word indices) sorted by length into padded batches.

    Lengths are grouped to balance each batch's fixed cost per span length against padding
    (`_length_groups`). Without `batch_size`, a batch's chart and largest intermediate stay
    within `budget` elements, by default 2^22 (a gradient pass keeps every span length's, so
    it is cut by the sentence length); `width` is the widest per-cell table of the pass, if
    wider than the rules. Shorter sentences are padded with the word index `pad`.
    """
    lengths_all = np.array([len(s) for s in encoded])
    order = np.argsort(lengths_all, kind="stable")
    sorted_lengths = lengths_all[order]
    n_cnf, n_rules = cnf["n_cnf"], len(cnf["bin_lhs"])
    Q = max(len(cnf["bin_parents"]), len(cnf["lex_parents"]))

    def fits(n: int) -> int:
        """Sentences of length n per batch within the memory bound."""
        if batch_size is not None:
            return batch_size
        per_sentence = (n * n // 4 + 1) * max(n_rules, n_cnf) + n * (n_cnf * Q + n * n_cnf + width)
        return max(1, (budget or _BATCH_ELEMENTS) // (per_sentence * (n if grad else 1)))

    batches = []
    for lo, hi in _length_groups(sorted_lengths, n_rules, fits):
        size = fits(int(sorted_lengths[hi - 1]))
        for i in range(lo, hi, size):
            batches.append(_padded(encoded, order[i : min(i + size, hi)], device, pad))
    return batches


def _padded(encoded: list[np.ndarray], index: np.ndarray, device, pad: int) -> SentenceBatch:
    lengths = np.array([len(encoded[j]) for j in index])
    words = np.full((len(index), lengths.max()), pad, dtype=np.int64)
    for row, j in enumerate(index):
        words[row, : lengths[row]] = encoded[j]
    as_tensor = torch.as_tensor
    return SentenceBatch(as_tensor(words, device=device), as_tensor(lengths, device=device), index)


def cnf_to_torch(cnf: dict, device) -> dict:
    """The `compile_cnf` tables as tensors on `device`, plus gather indices for the chart.

    The binary rules get one more, impossible, rule at the end (index R_bin): `slots_flat`
    (R_max * P,) indexes each parent's rules slot-major, padding pointing to it. `heads` are
    the symbols with unary rules: only their cells need the unary closure; every other
    symbol's cell is its own. `cells_lex` and `cells_bin` (C,) say where each symbol's cell
    comes from in [parents' scores (Q), heads' closures (H), -inf].
    """
    out = {}
    for key, value in cnf.items():
        out[key] = torch.as_tensor(value, device=device) if isinstance(value, np.ndarray) else value
    out["lex_col"] = torch.searchsorted(out["lex_parents"], out["lex_lhs"])
    n_rules = len(cnf["bin_lhs"])
    slots = out["bin_slots"]
    out["slots_flat"] = torch.where(slots >= 0, slots, n_rules).reshape(-1)
    for side in ("left", "right"):
        out[f"bin_{side}_padded"] = torch.cat([out[f"bin_{side}"], out[f"bin_{side}"].new_zeros(1)])
    heads = np.unique(cnf["un_lhs"])
    out["heads"] = torch.as_tensor(heads, device=device)
    for kind in ("lex", "bin"):
        parents = cnf[f"{kind}_parents"]
        source = np.full(cnf["n_cnf"], len(parents) + len(heads))
        source[parents] = np.arange(len(parents))
        source[heads] = len(parents) + np.arange(len(heads))
        out[f"cells_{kind}"] = torch.as_tensor(source, device=device)
    return out


# --- rule weights from rule log-probabilities


def _rule_log_probs(theta, rule) -> torch.Tensor:
    """theta of each table entry's original rule; 0 (probability one) where rule is -1."""
    return torch.where(rule >= 0, theta[rule.clamp_min(0)], theta.new_zeros(()))


def _binary_and_lexical(cnf: dict, theta) -> dict:
    bin_logp = _rule_log_probs(theta, cnf["bin_rule"])
    lex = theta.new_full((cnf["n_terminals"], len(cnf["lex_parents"])), _NEG_INF)
    lex = lex.index_put((cnf["lex_word"], cnf["lex_col"]), _rule_log_probs(theta, cnf["lex_rule"]))
    bin_logp = torch.cat([bin_logp, bin_logp.new_full((1,), _NEG_INF)])  # the impossible rule
    return {"bin_logp": bin_logp[:, None], "lex": lex}  # (R_bin + 1, 1), (V, Lp)


def _chains(cnf: dict, closure) -> dict:
    """The closure from each head symbol to each parent, (1, H, Q, 1) per rule kind."""
    heads = cnf["heads"]
    return {
        f"chains_{kind}": closure[heads][:, cnf[f"{kind}_parents"]][None, :, :, None]
        for kind in ("lex", "bin")
    }


def _unary_matrix(cnf: dict, theta) -> torch.Tensor:
    C = cnf["n_cnf"]
    U = theta.new_zeros(C, C)
    return U.index_put((cnf["un_lhs"], cnf["un_child"]), torch.exp(theta[cnf["un_rule"]]))


def sum_weights(cnf: dict, theta: torch.Tensor) -> dict:
    """Tables for the inside pass from rule log-probs theta (R,); differentiable in theta.

    closure (C, C) is log sum over unary chains A =>* B of their probabilities, summed as
    (I + U)(I + U^2)(I + U^4)... until the powers underflow to zero (exact and non-negative,
    unlike a matrix inverse).
    """
    U = _unary_matrix(cnf, theta)
    S = torch.eye(len(U), dtype=U.dtype, device=U.device)
    power = U
    for _ in range(64):
        if not bool((power > 0).any()):
            break
        S = S + power @ S
        power = power @ power
    else:
        raise ValueError(
            "the unary rules form a cycle of probability one (A -> B -> A only), so the "
            "grammar's probabilities do not sum to one."
        )
    positive = S > 0
    closure = torch.where(positive, torch.log(torch.where(positive, S, torch.ones_like(S))),
                          S.new_full((), _NEG_INF))  # fmt: skip
    return {**_binary_and_lexical(cnf, theta), "closure": closure, **_chains(cnf, closure)}


# --- inside


def _logsumexp(x: torch.Tensor, dim: int) -> torch.Tensor:
    """log sum exp over `dim`; -inf where all terms are, with zero (not NaN) gradients there."""
    if not x.requires_grad:
        return torch.logsumexp(x, dim)
    shift = x.detach().amax(dim, keepdim=True)
    shift = torch.where(torch.isfinite(shift), shift, torch.zeros_like(shift))
    total = torch.exp(x - shift).sum(dim)
    some = total > 0
    out = torch.log(torch.where(some, total, torch.ones_like(total))) + shift.squeeze(dim)
    return torch.where(some, out, out.new_full((), _NEG_INF))


def _leaves(batch: SentenceBatch, lex) -> torch.Tensor:
    """log P(parent -> word) of each position and lexical parent, (n, Lp, B); -inf on padding."""
    n = batch.words.shape[1]
    padded = torch.arange(n, device=lex.device)[:, None] >= batch.lengths  # (n, B)
    leaf = lex[batch.words.T].masked_fill(padded[..., None], _NEG_INF)  # (n, B, Lp)
    return leaf.permute(0, 2, 1)


class _Chart:
    """Scores of every span and symbol, batch-minor, held twice so children are slices.

    by_start[i, l, A, b] is the span of length l starting at i; by_end[e, n - l, A, b] the
    span of length l ending at e. For the I spans of length l, the left children at splits
    k = 1..l-1 are by_start[:I, 1:l] and the right ones by_end[l:l+I, n-l+1:], both
    (I, K, C, B) in the same split order.
    """

    def __init__(self, n: int, C: int, B: int, like: torch.Tensor):
        self.n = n
        # Children and roots are read only from spans inside the padded length n, each
        # written before it is read: no need to initialise.
        self.by_start = like.new_empty((n, n + 1, C, B))
        self.by_end = like.new_empty((n + 1, n, C, B))

    def children(self, length: int):
        n_spans = self.n - length + 1
        left = self.by_start[:n_spans, 1:length]
        right = self.by_end[length : length + n_spans, self.n - length + 1 :]
        return left, right

    def write(self, length: int, cells: torch.Tensor) -> None:
        """Store the (I, C, B) scores of all spans of `length`."""
        self.by_start[: self.n - length + 1, length] = cells
        self.by_end[length:, self.n - length] = cells

    def roots(self, lengths: torch.Tensor, start: int) -> torch.Tensor:
        rows = torch.arange(len(lengths), device=lengths.device)
        return self.by_start[0, lengths, start, rows]


def _rule_scores(cnf: dict, w: dict, left, right) -> torch.Tensor:
    """Score of every binary rule (and the impossible one) at every split of every span,
    (I, K, R_bin + 1, B)."""
    scores = left.index_select(2, cnf["bin_left_padded"])
    scores = scores + right.index_select(2, cnf["bin_right_padded"])
    return scores + w["bin_logp"]


def _by_parent(per_rule: torch.Tensor, cnf: dict) -> torch.Tensor:
    """Per-rule scores (I, R_bin + 1, B) as (I, R_max, P, B) rule slots of each parent."""
    n_spans, _, B = per_rule.shape
    P = len(cnf["bin_parents"])
    return per_rule.index_select(1, cnf["slots_flat"]).view(n_spans, -1, P, B)


def _with_unary(pre, kind: str, cnf: dict, w: dict):
    """Cells (I, C, B) from the scores pre (I, Q, B) of the parents of one rule kind ("lex"
    or "bin"): each parent's own score, and for the head symbols the sum over unary chains."""
    n_spans, _, B = pre.shape
    parts = [pre]
    if len(cnf["heads"]):
        parts.append(_logsumexp(pre[:, None] + w[f"chains_{kind}"], 2))  # over (I, H, Q, B)
    parts.append(pre.new_full((n_spans, 1, B), _NEG_INF))
    return torch.cat(parts, 1).index_select(1, cnf[f"cells_{kind}"])


def inside(batch: SentenceBatch, cnf: dict, w: dict, start: int = 0) -> torch.Tensor:
    """log P(sentence) of each sentence of the batch summed over all its trees, (B,)."""
    B, n = batch.words.shape
    leaf = _leaves(batch, w["lex"])
    chart = _Chart(n, cnf["n_cnf"], B, leaf)
    chart.write(1, _with_unary(leaf, "lex", cnf, w))
    for length in range(2, n + 1 if len(cnf["bin_parents"]) else 1):
        per_rule = _logsumexp(_rule_scores(cnf, w, *chart.children(length)), 1)  # over splits
        pre = _logsumexp(_by_parent(per_rule, cnf), 1)  # (I, P, B): over each parent's rules
        chart.write(length, _with_unary(pre, "bin", cnf, w))
    return chart.roots(batch.lengths, start)
