"""PCFG against NLTK: Viterbi parsing (ViterbiParser) and inside probabilities.

200 sentences of 6-15 words sampled from a 32-rule English grammar with unary rules (a
chain NP -> NPb -> Nom -> N), a three-child rule and a four-child rule with a word inside
(VP -> Vd NP 'to' NP), so genzoo parses the grammar's Chomsky normal form and converts its
trees back. The grammar is built so that different trees of a sentence never use the same
multiset of rules: best trees are unique and both libraries must return the same ones.
genzoo parses all sentences in one `parse_batch` call; NLTK's ViterbiParser parses them one
by one. Inside probabilities are compared with the sum over all parses that NLTK's
InsideChartParser enumerates (on the shorter sentences, where enumerating is cheap).

Both run on one core (`--threads`, default 1): NLTK is pure Python, and the chart's tensors
are small enough that more threads mostly add synchronisation. Times are the best of
`--repeats` runs for genzoo and of two for NLTK.

`--sweep` times Viterbi parsing over three workload sizes spanning two orders of magnitude
(sentence counts) on three grammars of different shape: the grammar above; a textbook toy
grammar of 13 rules (the PP-attachment grammar of the NLTK book, where NLTK's cost per
span is smallest, so genzoo's fixed cost per call weighs most); and a grammar of unary
chains over a 96-word lexicon with ambiguous words (128 rules). Both libraries parse the
same sentences, genzoo and NLTK runs interleaved (NLTK's repeated up to `--repeats` times
where a run takes under half a second, genzoo's best of three each time); the best-tree
log-probabilities must agree at every size, and the trees wherever the best one is unique
(`same_or_tied`: genzoo's tree is NLTK's or has its log-probability).

    python benchmarks/pcfg_vs_nltk.py [--repeats 10] [--threads 1] [--json out.json]
    python benchmarks/pcfg_vs_nltk.py --sweep [--repeats 3] [--json out.json]
"""

from __future__ import annotations

import json
import math
import platform
import time

import numpy as np
import torch
from _timing import benchmark_parser, report_sweep, timed  # benchmarks/ is on the path
from nltk.grammar import PCFG as NLTKPCFG
from nltk.parse import InsideChartParser, ViterbiParser

from genzoo.data.treebank import TIE_FREE_GRAMMAR
from genzoo.grammar import PCFG
from genzoo.grammar.trees import tree_to_tokens

N_SENTENCES, MIN_WORDS, MAX_WORDS = 200, 6, 15
# Inside probabilities are checked against enumerated parses of sentences up to this long.
INSIDE_WORDS = 10

GRAMMAR = TIE_FREE_GRAMMAR


def make_sentences(seed: int = 0) -> list[list[str]]:
    """N_SENTENCES distinct-seeded sentences of MIN_WORDS to MAX_WORDS words."""
    trees = PCFG.from_string(GRAMMAR, device="cpu").sample(
        20 * N_SENTENCES, random_state=seed, max_depth=40, return_trees=True
    )[1]
    sentences = [tree_to_tokens(t) for t in trees]
    chosen = [s for s in sentences if MIN_WORDS <= len(s) <= MAX_WORDS][:N_SENTENCES]
    assert len(chosen) == N_SENTENCES
    return chosen


def nltk_tree_string(tree) -> str:
    if isinstance(tree, str):
        return tree
    return "(" + tree.label() + " " + " ".join(nltk_tree_string(c) for c in tree) + ")"


def parse_nltk(parser, sentences):
    trees, log_probs = [], []
    for sentence in sentences:
        tree = next(parser.parse(sentence))
        trees.append(nltk_tree_string(tree))
        log_probs.append(math.log(tree.prob()))
    return trees, np.array(log_probs)


def inside_nltk(grammar, sentences) -> np.ndarray:
    parser = InsideChartParser(grammar)
    return np.array([math.log(sum(t.prob() for t in parser.parse(s))) for s in sentences])


def main():
    parser = benchmark_parser(__doc__)
    parser.set_defaults(repeats=10)
    parser.add_argument("--threads", type=int, default=1, help="torch threads for genzoo")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.sweep:
        sweep(args.repeats, args.json)
        return
    sentences = make_sentences()
    model = PCFG.from_string(GRAMMAR, device="cpu")
    grammar = NLTKPCFG.fromstring(GRAMMAR)
    viterbi = ViterbiParser(grammar)
    model.parse_batch(sentences[:20])  # warm-up: first-call overheads in torch

    t_nltk, (trees_nltk, lp_nltk) = timed(lambda: parse_nltk(viterbi, sentences), 2)
    t_gz, (trees_gz, lp_gz) = timed(lambda: model.parse_batch(sentences), args.repeats)
    t_inside, inside_gz = timed(lambda: model.log_prob(sentences), args.repeats)
    short = [s for s in sentences if len(s) <= INSIDE_WORDS]
    inside_ref = inside_nltk(grammar, short)
    inside_short = model.log_prob(short)

    figures = {
        "sentences": N_SENTENCES,
        "nltk_sentences_per_s": N_SENTENCES / t_nltk,
        "genzoo_sentences_per_s": N_SENTENCES / t_gz,
        "speedup": t_nltk / t_gz,
        "max_abs_diff_viterbi_log_prob": float(np.max(np.abs(lp_gz - lp_nltk))),
        "identical_trees": float(
            np.mean([a == b for a, b in zip(trees_gz, trees_nltk, strict=True)])
        ),
        "genzoo_inside_sentences_per_s": N_SENTENCES / t_inside,
        "inside_sentences_checked": len(short),
        "max_abs_diff_inside_log_prob": float(np.max(np.abs(inside_short - inside_ref))),
        "threads": torch.get_num_threads(),
    }
    words = sum(len(s) for s in sentences)
    print(
        f"PCFG Viterbi parsing: {N_SENTENCES} sentences of {MIN_WORDS}-{MAX_WORDS} words "
        f"({words} words), {len(grammar.productions())} rules; {figures['threads']} threads, "
        f"{platform.processor() or platform.machine()}"
    )
    print(f"{'library':<28}{'seconds':>9}{'sentences/s':>13}{'x NLTK':>9}")
    print(f"{'NLTK ViterbiParser':<28}{t_nltk:>9.3f}{N_SENTENCES / t_nltk:>13.1f}{1.0:>9.1f}")
    print(f"{'genzoo parse_batch':<28}{t_gz:>9.3f}{N_SENTENCES / t_gz:>13.1f}{t_nltk / t_gz:>9.1f}")
    print(
        f"{'genzoo log_prob (inside)':<28}{t_inside:>9.3f}{N_SENTENCES / t_inside:>13.1f}"
        f"{t_nltk / t_inside:>9.1f}"
    )
    print(
        f"best trees identical: {figures['identical_trees']:.3f}; max |log p| difference of "
        f"best trees: {figures['max_abs_diff_viterbi_log_prob']:.2e}"
    )
    print(
        f"inside log-probabilities vs the sum over NLTK InsideChartParser's parses "
        f"({len(short)} sentences of at most {INSIDE_WORDS} words): max |difference| "
        f"{figures['max_abs_diff_inside_log_prob']:.2e}"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=2)


# --- the sweep

# The NLTK book's PP-attachment grammar with probabilities: 13 rules, the fewest NLTK tries
# per span, so its parses are cheapest and genzoo's fixed cost per call weighs most.
TEXTBOOK_GRAMMAR = """\
S -> NP VP [1.0]
PP -> P NP [1.0]
NP -> Det N [0.4] | Det N PP [0.2] | 'I' [0.4]
VP -> V NP [0.6] | VP PP [0.4]
Det -> 'an' [0.5] | 'my' [0.5]
N -> 'elephant' [0.5] | 'pajamas' [0.5]
V -> 'shot' [1.0]
P -> 'in' [1.0]
"""


def unary_lexicon_grammar(seed: int = 2) -> str:
    """Unary chains up to six deep (S -> S1 -> S2 -> VP -> VP1 -> VP2 -> Vi) over nine word
    classes of 5-30 words, ten words both nouns and verbs: 128 rules, 96 words."""
    rng = np.random.default_rng(seed)
    lines = [
        "S -> NP VP [0.8] | S1 [0.2]", "S1 -> S2 [0.5] | VP [0.5]", "S2 -> VP [1.0]",
        "NP -> NP1 [0.5] | Det NP1 [0.3] | NP PP [0.2]", "NP1 -> NP2 [0.6] | Adj NP1 [0.4]",
        "NP2 -> NP3 [0.7] | Name [0.3]", "NP3 -> NP4 [1.0]", "NP4 -> N [0.8] | Pro [0.2]",
        "VP -> VP1 [0.5] | V NP [0.3] | VP PP [0.2]", "VP1 -> VP2 [0.6] | Adv VP1 [0.4]",
        "VP2 -> Vi [1.0]", "PP -> P NP [1.0]",
    ]  # fmt: skip
    classes = {"Det": 5, "Adj": 10, "Name": 10, "N": 30, "Pro": 5, "V": 20, "Vi": 10, "Adv": 8,
               "P": 8}  # fmt: skip
    for name, size in classes.items():
        words = [f"{name.lower()}{i}" for i in range(size)]
        if name in ("N", "V"):  # ten words are both nouns and verbs
            words[:10] = [f"w{i}" for i in range(10)]
        probs = 0.5 * rng.dirichlet(np.ones(size)) + 0.5 / size
        probs[-1] = 1.0 - probs[:-1].sum()
        lines.append(f"{name} -> " + " | ".join(
            f"'{w}' [{p:.12f}]" for w, p in zip(words, probs, strict=True)))  # fmt: skip
    return "\n".join(lines) + "\n"


def sample_sentences(grammar: str, n: int, seed: int = 0) -> list[list[str]]:
    """n sentences of MIN_WORDS to MAX_WORDS words drawn from the grammar."""
    model = PCFG.from_string(grammar, device="cpu")
    out, draw = [], 0
    while len(out) < n:
        trees = model.sample(4 * n, random_state=seed + draw, max_depth=40, return_trees=True)
        out += [s for s in map(tree_to_tokens, trees[1]) if MIN_WORDS <= len(s) <= MAX_WORDS]
        draw += 1
    return out[:n]


def _tree_log_prob(tree: str, log_probs: dict) -> float:
    """log-probability of a bracketed tree under NLTK's rule probabilities."""
    from nltk import Tree

    return sum(log_probs[p.lhs(), p.rhs()] for p in Tree.fromstring(tree).productions())


def _agreement(trees_gz, lp_gz, trees_nltk, lp_nltk, log_probs: dict) -> dict:
    """Max |log p| difference; shares of trees identical and identical-or-tied (genzoo's
    tree has NLTK's best log-probability)."""
    same = np.array([a == b for a, b in zip(trees_gz, trees_nltk, strict=True)])
    tied = [abs(_tree_log_prob(a, log_probs) - lp) < 1e-9
            for a, lp, s in zip(trees_gz, lp_nltk, same, strict=True) if not s]  # fmt: skip
    return {
        "max_dlogp": float(np.max(np.abs(lp_gz - lp_nltk))),
        "same_trees": float(same.mean()),
        "same_or_tied": float((same.sum() + sum(tied)) / len(same)),
    }


SWEEP = (  # name, grammar, sentence counts of MIN_WORDS-MAX_WORDS words
    ("tie-free", TIE_FREE_GRAMMAR, (50, 500, 5000)),
    ("textbook", TEXTBOOK_GRAMMAR, (50, 500, 5000)),
    ("unary+lexicon", None, (10, 100, 1000)),  # NLTK takes ~10 ms a sentence
)


def sweep(repeats: int, json_path: str | None):
    """genzoo's parse_batch against NLTK's ViterbiParser over sizes and grammars."""
    rows = []
    for name, grammar, sizes in SWEEP:
        grammar = grammar or unary_lexicon_grammar()
        model = PCFG.from_string(grammar, device="cpu")
        nltk_grammar = NLTKPCFG.fromstring(grammar)
        viterbi = ViterbiParser(nltk_grammar)
        log_probs = {(p.lhs(), p.rhs()): math.log(p.prob()) for p in nltk_grammar.productions()}
        everything = sample_sentences(grammar, max(sizes))
        model.parse_batch(everything[:20])  # warm-up: first-call overheads in torch
        for size in sizes:
            sentences = everything[:size]
            t_gz, t_nltk, rounds = np.inf, np.inf, 0
            while rounds < 1 or (rounds < repeats and t_nltk < 0.5):  # interleaved
                start = time.perf_counter()
                trees_nltk, lp_nltk = parse_nltk(viterbi, sentences)
                t_nltk = min(t_nltk, time.perf_counter() - start)
                t, (trees_gz, lp_gz) = timed(lambda s=sentences, m=model: m.parse_batch(s), 3)
                t_gz, rounds = min(t_gz, t), rounds + 1
            rows.append({
                "workload": f"{name} {size}x{MIN_WORDS}-{MAX_WORDS}w",
                "genzoo_s": t_gz,
                "peer_s": t_nltk,
                "x_nltk": t_nltk / t_gz,
                **_agreement(trees_gz, lp_gz, trees_nltk, lp_nltk, log_probs),
            })  # fmt: skip
    report_sweep(
        f"PCFG Viterbi parsing against NLTK ViterbiParser ({torch.get_num_threads()} torch "
        f"threads; x_nltk = NLTK time / genzoo time, target >= 50)",
        rows, "NLTK", json_path,
    )  # fmt: skip


if __name__ == "__main__":
    main()
