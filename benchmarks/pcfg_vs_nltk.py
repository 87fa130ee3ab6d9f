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

    python benchmarks/pcfg_vs_nltk.py [--repeats 10] [--threads 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import platform

import numpy as np
import torch
from _timing import timed  # benchmarks/ is on the path when run as a script
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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1, help="torch threads for genzoo")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
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


if __name__ == "__main__":
    main()
