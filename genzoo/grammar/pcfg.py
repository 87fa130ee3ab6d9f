"""Probabilistic context-free grammar: rules from text, maximum likelihood from a treebank,
inside-outside EM from raw sentences, exact sentence likelihoods and Viterbi parses.

The model keeps the grammar as written (any rule lengths, unary rules, words inside longer
rules) and parses its Chomsky normal form (see `_rules.compile_cnf`): long rules are
right-factored and unary rules are applied as a closure in every chart cell, so best trees
come back in the original grammar. Inside (`_cky`) and Viterbi (`_viterbi`) run batched
over sentences and all spans of one length at a time. Inside-outside is EM on expected rule
counts, the gradient of the inside log-likelihood (training/em.py sums them over batches
and processes).
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pandas as pd
import torch

from genzoo._validation import (
    MAX_ITERATIONS,
    MAX_ROWS,
    MAX_WIDTH,
    Interval,
    check_size,
    validate_params,
)
from genzoo.base import GenerativeModel
from genzoo.grammar._cky import cnf_to_torch, inside, make_batches, sum_weights
from genzoo.grammar._input import check_collection, check_tokens
from genzoo.grammar._rules import (
    check_grammar,
    compile_cnf,
    count_rules,
    format_grammar,
    full_grammar,
    map_rare_words,
    parse_grammar,
    relative_frequencies,
    rhs_text,
    rule_arrays,
    rule_m_step,
    rules_from_arrays,
)
from genzoo.grammar._sampler import sample_trees
from genzoo.grammar._viterbi import CHART_CELLS, CPU_BATCH_ELEMENTS, best_trees, viterbi_tables
from genzoo.grammar.trees import format_tree, parse_tree, tree_to_tokens
from genzoo.registry import register
from genzoo.training.distributed import counts_across_processes
from genzoo.training.em import best_em_run

__all__ = ["PCFG"]

_MAX_DEPTH = 500  # labelled nodes from the root to a word in a sampled tree
_ARRAYS = ("nonterminals", "terminals", "rule_lhs", "rule_rhs", "rule_probs")


# --- the model


@register(
    "pcfg",
    family="grammar",
    data_kind="sentences",
    default_dataset="treebank",
    fixture_dataset="treebank",
    fixture_size=200,
    test_params={"random_state": 0},
    quick_params={"random_state": 0},
    zoo_params={"random_state": 0},
)
class PCFG(GenerativeModel):
    """Probabilistic context-free grammar over sentences (lists of str tokens).

    `fit` takes either bracketed trees (a treebank), estimating each rule's probability by
    its relative frequency (maximum likelihood), or raw sentences, running inside-outside EM
    from a seed grammar or from every binary rule over `n_nonterminals` symbols. A grammar
    written by hand comes from `PCFG.from_string` in NLTK's format. `log_prob` sums over all
    trees of a sentence (inside algorithm); `parse` finds the best tree (Viterbi CKY).

    Parameters
    ----------
    grammar : str, PCFG or None, default=None
        A seed grammar in NLTK's text format (``"S -> NP VP [1.0] ..."``), or a PCFG made by
        `from_string` or fitted. EM on sentences starts from its rules and probabilities; on
        trees its rules join the observed ones (useful with `smoothing`). sklearn's `clone`
        copies only a PCFG's parameters, so pass text where models are cloned.
    n_nonterminals : int or None, default=None
        For EM on sentences without a seed: the number of nonterminals (the start symbol and
        X1, X2, ...), with every binary rule A -> B C and every rule A -> word over the
        training words, from random probabilities drawn with `random_state`.
    start : str or None, default=None
        Start symbol; None takes the seed's, else the trees' common root label (trees with
        another root are then read as start -> root), else "S".
    smoothing : float, default=0.0
        Pseudo-count added to every rule's count (additive, or Dirichlet MAP, smoothing).
    unknown_word : str or None, default=None
        With None, a word outside the grammar raises ValueError. With a token such as
        "<unk>", training words seen fewer than `min_count` times become that token, and so
        do unknown words at query time (parsed trees show the original words).
    min_count : int, default=2
        See `unknown_word`.
    max_iter : int, default=100
        Most EM iterations.
    tol : float, default=1e-4
        EM stops when the mean log-likelihood per sentence (nats) gains less than this.
    batch_size : int or None, default=None
        Sentences per chart batch; None bounds each batch's memory to about 32 MiB.
    random_state : int or None, default=None
        Seeds EM's random start and, unless `sample` gets its own, sampling.
    verbose : int, default=0
        Show a progress bar of EM iterations when > 0.
    device : str, default="auto"

    Attributes
    ----------
    nonterminals_ : ndarray of str, (N,), the start symbol first
    terminals_ : ndarray of str, (V,), the words, sorted
    rule_lhs_ : ndarray of int64, (R,), each rule's left-hand side (index into nonterminals_)
    rule_rhs_ : ndarray of int64, (R, L), right-hand sides: 0..N-1 nonterminals, N..N+V-1
        words, -1 padding
    rule_probs_ : ndarray of float64, (R,)
    n_iter_ : int, EM iterations (0 for maximum likelihood on trees or a grammar from text)
    converged_ : bool
    lower_bound_ : float, mean log-likelihood per training item (nats): of the trees for
        maximum likelihood, of the sentences at the last E-step for EM
    lower_bounds_ : list of float, its value at every EM iteration

    Examples
    --------
    >>> from genzoo.grammar import PCFG
    >>> g = PCFG.from_string('''
    ...     S -> NP VP [1.0]
    ...     NP -> 'dogs' [0.6] | 'cats' [0.4]
    ...     VP -> V NP [0.7] | 'bark' [0.3]
    ...     V -> 'chase' [1.0]''')
    >>> tree, log_p = g.parse(["dogs", "chase", "cats"])
    >>> tree, round(float(np.exp(log_p)), 3)
    ('(S (NP dogs) (VP (V chase) (NP cats)))', 0.168)
    >>> len(g.sample(5, random_state=0))
    5
    """

    likelihood_kind = "exact"
    fitted_attributes = (
        "nonterminals_",
        "terminals_",
        "rule_lhs_",
        "rule_rhs_",
        "rule_probs_",
        "n_iter_",
        "converged_",
        "lower_bound_",
        "lower_bounds_",
    )
    data_kind = "sentences"
    _parameter_constraints = {
        "n_nonterminals": [Interval(int, 1, MAX_WIDTH), None],
        "smoothing": [Interval(float, 0, None)],
        "min_count": [Interval(int, 1, MAX_ITERATIONS)],
        "max_iter": [Interval(int, 1, MAX_ITERATIONS)],
        "tol": [Interval(float, 0, None)],
        "batch_size": [Interval(int, 1, MAX_ROWS), None],
        "random_state": ["random_state"],
        "verbose": [Interval(int, 0, None)],
        "device": ["device"],
    }

    def __init__(
        self,
        grammar=None,
        *,
        n_nonterminals: int | None = None,
        start: str | None = None,
        smoothing: float = 0.0,
        unknown_word: str | None = None,
        min_count: int = 2,
        max_iter: int = 100,
        tol: float = 1e-4,
        batch_size: int | None = None,
        random_state: int | None = None,
        verbose: int = 0,
        device: str = "auto",
    ):
        self.grammar = grammar
        self.n_nonterminals = n_nonterminals
        self.start = start
        self.smoothing = smoothing
        self.unknown_word = unknown_word
        self.min_count = min_count
        self.max_iter = max_iter
        self.tol = tol
        self.batch_size = batch_size
        self.random_state = random_state
        self.verbose = verbose
        self.device = device

    # --- grammars as text

    @classmethod
    def from_string(cls, text: str, **params) -> PCFG:
        """Return a model holding the grammar `text` in NLTK's format, ready to use.

        ``A -> B C [0.5] | 'word' [0.5]``: words quoted, one or more alternatives per line
        with their probabilities, ``#`` comments, ``%start X`` (else the first rule's
        left-hand side starts). Each nonterminal's probabilities must sum to one (within
        1e-6). `params` are constructor arguments; `grammar` is set to `text`, so a `fit` on
        sentences runs EM from this grammar.
        """
        model = cls(grammar=text, **params)
        validate_params(model, model._parameter_constraints)
        model._check_params()
        start, rules = model._seed()
        model._commit(model._attributes(rule_arrays(start, rules)) | _no_fit_history())
        return model

    def to_string(self) -> str:
        """Return the grammar in NLTK's text format (`from_string` reads it back exactly)."""
        self._check_fitted()
        return format_grammar(str(self.nonterminals_[0]), self._rules())

    def rules(self) -> pd.DataFrame:
        """Return the rules as a DataFrame with columns lhs, rhs (in the text format), prob."""
        self._check_fitted()
        rules = self._rules()
        return pd.DataFrame({
            "lhs": [lhs for lhs, _, _ in rules],
            "rhs": [rhs_text(rhs) for _, rhs, _ in rules],
            "prob": [p for _, _, p in rules],
        })  # fmt: skip

    def _rules(self) -> list:
        return rules_from_arrays(*(getattr(self, f"{k}_") for k in _ARRAYS))

    # --- input

    def _check_params(self) -> None:
        for name in ("start", "unknown_word"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value.split() == [value]):
                raise ValueError(
                    f"{name} of PCFG must be None or a str without spaces; got {value!r}."
                )
        if self.grammar is not None and not isinstance(self.grammar, (str, PCFG)):
            raise ValueError(
                f"grammar of PCFG must be None, a grammar string or a PCFG; got "
                f"{type(self.grammar).__name__}."
            )
        if self.grammar is not None and self.n_nonterminals is not None:
            raise ValueError("give grammar (a seed) or n_nonterminals, not both.")

    def _seed(self) -> tuple[str, list] | None:
        """The seed grammar as (start, rules), checked; None without one."""
        grammar = self.grammar
        if grammar is None:
            return None
        if isinstance(grammar, PCFG):
            if hasattr(grammar, "rule_probs_"):
                start, rules = str(grammar.nonterminals_[0]), grammar._rules()
            elif isinstance(grammar.grammar, str):
                start, rules = parse_grammar(grammar.grammar)
            else:
                raise ValueError(
                    "grammar is an unfitted PCFG (sklearn's clone drops fitted rules); pass "
                    "its text, grammar=model.to_string(), instead."
                )
        else:
            start, rules = parse_grammar(grammar)
        check_grammar(start, rules)
        if self.start is not None and self.start != start:
            if self.start not in {lhs for lhs, _, _ in rules}:
                raise ValueError(f"start={self.start!r} is an unknown nonterminal of grammar.")
            start = self.start
        return start, rules

    def _prepare(self, X, *, lengths=None, reset: bool = False):
        """At fit: ("trees", parsed trees) or ("sentences", token lists); afterwards the
        sentences as word indices of the fitted grammar (unknown words refused)."""
        if lengths is not None:
            raise ValueError("lengths applies to sequences; PCFG takes sentences.")
        if reset:
            X = check_collection(X, "sentences (lists of str tokens) or bracketed trees")
            if all(isinstance(x, str) for x in X):
                return "trees", [parse_tree(x, name=f"X[{i}]") for i, x in enumerate(X)]
            return "sentences", [check_tokens(x, f"X[{i}]") for i, x in enumerate(X)]
        return self._encode(self._check_sentences(X), self._tables["vocabulary"])

    def _check_sentences(self, X) -> list[list[str]]:
        X = check_collection(X, "sentences (lists of str tokens)")
        return [check_tokens(x, f"X[{i}]") for i, x in enumerate(X)]

    def _to_device(self, encoded: list[np.ndarray]) -> list[np.ndarray]:
        return encoded  # batches of sentences go to the device in `_log_prob`

    def _encode(self, sentences: list, vocabulary: dict, name: str = "X") -> list[np.ndarray]:
        """Word indices of each sentence; unknown words map to `unknown_word` or raise.

        Errors name sentence i as X[i], or as `name` itself when that is not "X".
        """
        unknown = vocabulary.get(self.unknown_word) if self.unknown_word is not None else None
        out = []
        for i, sentence in enumerate(sentences):
            try:
                out.append(np.array([vocabulary[w] for w in sentence], dtype=np.int64))
            except KeyError:
                if unknown is None:
                    where = f"{name}[{i}]" if name == "X" else name
                    self._unknown_word_error(sentence, vocabulary, where)
                out.append(np.array([vocabulary.get(w, unknown) for w in sentence]))
        return out

    def _unknown_word_error(self, sentence, vocabulary, where: str):
        word = next(w for w in sentence if w not in vocabulary)
        hint = (
            "set unknown_word (say '<unk>') to map unknown words"
            if self.unknown_word is None
            else f"unknown_word={self.unknown_word!r} is not a word of the grammar either"
        )
        raise ValueError(
            f"{where} has unknown word {word!r} (token {sentence.index(word)}): it is not one "
            f"of the grammar's {len(vocabulary)} words; {hint}."
        )

    # --- fit

    def _fit(self, X, y, gen) -> dict:
        kind, items = X
        if kind == "trees":
            return self._fit_trees(items)
        return self._fit_sentences(items, gen)

    def _fit_trees(self, trees: list) -> dict:
        """Relative frequencies of the rules in the trees (and the seed's, if any)."""
        seed = self._seed()
        start = self.start or (seed[0] if seed else None)
        if start is None:
            roots = sorted({t[0] for t in trees})
            if len(roots) > 1:
                raise ValueError(
                    f"X: the trees have {len(roots)} different root labels "
                    f"({', '.join(roots[:5])}); pass start= to name the start symbol."
                )
            start = roots[0]
        trees = [t if t[0] == start else (start, (t,)) for t in trees]
        if self.unknown_word is not None:
            trees = map_rare_words(trees, self.unknown_word, self.min_count)
        counts = count_rules(trees)
        extra = [(lhs, rhs) for lhs, rhs, _ in seed[1]] if seed else []
        rules = relative_frequencies(counts, extra, self.smoothing)
        check_grammar(start, rules, name="the estimated grammar")
        log_p = {(lhs, rhs): math.log(p) for lhs, rhs, p in rules}
        mean = sum(c * log_p[key] for key, c in counts.items()) / len(trees)
        return self._attributes(rule_arrays(start, rules)) | _no_fit_history(mean)

    def _initial_grammar(self, sentences: list, gen):
        """(start, rules, word-mapped sentences) for EM: the seed's or a random full grammar."""
        seed = self._seed()
        if seed is not None:
            return *seed, sentences
        if self.n_nonterminals is None:
            raise ValueError(
                "fitting on sentences (token lists) needs a seed grammar= or n_nonterminals=; "
                "to fit by maximum likelihood, pass bracketed trees."
            )
        # Under torch.distributed every process must start from the same grammar, so the
        # vocabulary and which words are rare come from the counts over all shards.
        counts = counts_across_processes(Counter(w for s in sentences for w in s))
        if self.unknown_word is not None:
            rare = {w for w, c in counts.items() if c < self.min_count}
            sentences = [[self.unknown_word if w in rare else w for w in s] for s in sentences]
            counts = {self.unknown_word if w in rare else w: c for w, c in counts.items()}
        words = sorted(set(counts) | set(filter(None, [self.unknown_word])))
        start = self.start or "S"
        symbols = [start] + [f"X{i}" for i in range(1, self.n_nonterminals)]
        n_rules = len(symbols) ** 2 + len(words)
        weights = torch.rand(len(symbols), n_rules, generator=gen, dtype=torch.float64,
                             device=gen.device).cpu().numpy() + 0.5  # fmt: skip
        rules = full_grammar(symbols, words, weights / weights.sum(1, keepdims=True))
        return start, rules, sentences

    def _fit_sentences(self, sentences: list, gen) -> dict:
        """Inside-outside EM from the seed grammar or a random one over n_nonterminals."""
        start, rules, sentences = self._initial_grammar(sentences, gen)
        arrays = rule_arrays(start, rules)
        tables = self._tables_of(arrays)
        encoded = self._encode(sentences, tables["vocabulary"])
        batches = make_batches(encoded, tables["cnf_np"], self._device(),
                               batch_size=self.batch_size, grad=True)  # fmt: skip
        params = {"log_probs": tables["log_probs"], "cnf": tables["cnf"],
                  "rule_lhs": tables["cnf"]["rule_lhs"]}  # fmt: skip
        for batch in batches:
            with torch.no_grad():
                log_p = inside(batch, tables["cnf"], tables["sum"])
            if not bool(torch.isfinite(log_p).all()):
                bad = int(batch.index[int(torch.argmin(torch.isfinite(log_p).int()))])
                raise ValueError(f"X[{bad}] has no parse under the seed grammar; EM cannot fit it.")
        result = best_em_run(self, batches, lambda: params, max_iter=self.max_iter, tol=self.tol,
                             verbose=self.verbose, name="PCFG inside-outside")  # fmt: skip
        arrays["rule_probs"] = torch.exp(result.params["log_probs"]).cpu().numpy()
        return self._attributes(arrays) | {
            "n_iter_": result.n_iter,
            "converged_": result.converged,
            "lower_bound_": result.lower_bound,
            "lower_bounds_": result.history,
        }

    # --- EM hooks

    def _e_step(self, params: dict, batch) -> tuple[dict, torch.Tensor]:
        """Expected rule counts of one batch, d log-likelihood / d log rule probability."""
        theta = params["log_probs"].detach().requires_grad_(True)
        with torch.enable_grad():
            log_lik = inside(batch, params["cnf"], sum_weights(params["cnf"], theta)).sum()
            (counts,) = torch.autograd.grad(log_lik, theta)
        return {"counts": counts}, log_lik.detach()

    def _m_step(self, stats: dict, params: dict) -> dict:
        N = int(params["rule_lhs"].max()) + 1
        new = rule_m_step(stats["counts"], params["log_probs"], params["rule_lhs"], N,
                          self.smoothing)  # fmt: skip
        return {**params, "log_probs": new}

    # --- fitted state

    def _attributes(self, arrays: dict) -> dict:
        """The fitted attributes of a grammar's arrays."""
        return {f"{k}_": arrays[k] for k in _ARRAYS}

    def _tables_of(self, arrays: dict) -> dict:
        """Normal form, vocabulary and rule weights of the grammar, on the model's device."""
        N, V = len(arrays["nonterminals"]), len(arrays["terminals"])
        cnf_np = compile_cnf(arrays["rule_lhs"], arrays["rule_rhs"], N, V)
        device = self._device()
        cnf = cnf_to_torch(cnf_np, device)
        cnf["rule_lhs"] = torch.as_tensor(arrays["rule_lhs"], device=device)
        with np.errstate(divide="ignore"):
            theta = np.log(arrays["rule_probs"])
        log_probs = torch.as_tensor(theta, device=device)
        labels = [str(s) for s in arrays["nonterminals"]] + [
            f"<factored {k}>" for k in range(cnf_np["n_cnf"] - N)
        ]
        with torch.no_grad():
            sums = sum_weights(cnf, log_probs)
        return {
            "cnf": cnf,
            "cnf_np": cnf_np,
            "log_probs": log_probs,
            "sum": sums,
            "max": viterbi_tables(cnf_np, theta, labels, 0, device),
            "vocabulary": {str(w): i for i, w in enumerate(arrays["terminals"])},
        }

    def _on_fitted(self) -> None:
        """The chart tables (`_tables`), once the rule arrays are checked to be consistent."""
        N, V = len(self.nonterminals_), len(self.terminals_)
        lhs, rhs, probs = self.rule_lhs_, self.rule_rhs_, self.rule_probs_
        if not (len(lhs) == len(rhs) == len(probs) and rhs.ndim == 2 and len(lhs)):
            raise ValueError("rule_lhs_, rule_rhs_ and rule_probs_ must describe the same rules")
        if lhs.min() < 0 or lhs.max() >= N or rhs.min() < -1 or rhs.max() >= N + V:
            raise ValueError("the rules refer to symbols beyond the grammar's symbols")
        if probs.min() < 0 or probs.max() > 1:
            raise ValueError("rule_probs_ must be probabilities in [0, 1]")
        fitted = {k: getattr(self, f"{k}_") for k in _ARRAYS}
        self._set_fitted({"_tables": self._tables_of(fitted)})

    # --- likelihood and parsing

    def _log_prob(self, X: list[np.ndarray]) -> torch.Tensor:
        """Exact log P(sentence) of each encoded sentence by the inside algorithm, (n,)."""
        tables, device = self._tables, self._device()
        budget = CPU_BATCH_ELEMENTS if torch.device(device).type == "cpu" else None
        out = torch.empty(len(X), dtype=torch.float64)
        for batch in make_batches(X, tables["cnf_np"], device, batch_size=self.batch_size,
                                  budget=budget):  # fmt: skip
            out[torch.as_tensor(batch.index)] = inside(batch, tables["cnf"], tables["sum"]).cpu()
        return out

    def parse(self, tokens) -> tuple[str | None, float]:
        """Return the most probable tree of one sentence (bracketed) and its log-probability.

        Ties go to the first rule and split found. A sentence with no parse gives
        (None, -inf).
        """
        self._check_fitted()
        trees, log_probs = self._parse([check_tokens(tokens, "tokens")], "tokens")
        return trees[0], float(log_probs[0])

    def parse_batch(self, sentences) -> tuple[list[str | None], np.ndarray]:
        """Return the best tree of each sentence and its log-probability, (n_sentences,)."""
        self._check_fitted()
        return self._parse(self._check_sentences(sentences), "X")

    @torch.no_grad()
    def _parse(self, sentences: list, name: str):
        tables = self._tables
        if name == "tokens":  # one sentence: its errors name "tokens", not "X[0]"
            encoded = self._encode([sentences[0]], tables["vocabulary"], name="tokens")
        else:
            encoded = self._encode(sentences, tables["vocabulary"])
        t, device = tables["max"], self._device()
        budget = CPU_BATCH_ELEMENTS if torch.device(device).type == "cpu" else None
        batches = make_batches(
            encoded, tables["cnf_np"], device, batch_size=self.batch_size, width=t["width"],
            budget=budget, pad=len(tables["vocabulary"]),
        )  # fmt: skip
        return best_trees(batches, encoded, sentences, t, budget=CHART_CELLS)

    # --- sampling

    def sample(
        self,
        n_samples: int = 1,
        *,
        y=None,
        random_state: int | None = None,
        max_depth: int = 30,
        return_trees: bool = False,
    ):
        """Draw `n_samples` sentences (lists of str tokens) by top-down expansion.

        Derivations deeper than `max_depth` labelled nodes (root to word, a preterminal
        counting one; at most 500) are rejected and drawn again: the samples follow the
        grammar's distribution conditioned on that depth. `random_state` (else the
        constructor's) seeds the draw: an int gives the same samples on every call. With
        `return_trees`, also return each sentence's tree as a bracketed string.
        """
        max_depth = check_size(max_depth, "max_depth", high=_MAX_DEPTH)
        return self._draw_samples(
            n_samples, y=y, random_state=random_state, max_depth=max_depth,
            return_trees=return_trees,
        )  # fmt: skip

    def _sample_item_bytes(self, *, max_depth: int, return_trees: bool) -> int:
        # a sentence's tree of Python tuples and its token list, at a few dozen nodes
        return 4096 if return_trees else 2048

    def _sample(self, n_samples: int, y, gen, *, max_depth: int, return_trees: bool):
        names = [str(s) for s in self.nonterminals_] + [str(s) for s in self.terminals_]
        trees = sample_trees(
            self.rule_lhs_, self.rule_rhs_, self.rule_probs_, names, n_samples,
            n_nonterminals=len(self.nonterminals_), max_depth=max_depth, gen=gen,
        )  # fmt: skip
        return (trees, trees) if return_trees else trees

    def _to_output(self, samples):
        """Trees as token lists; with return_trees, also as bracketed strings."""
        if isinstance(samples, tuple):
            return [tree_to_tokens(t) for t in samples[0]], [format_tree(t) for t in samples[1]]
        return [tree_to_tokens(t) for t in samples]


def _no_fit_history(lower_bound: float | None = None) -> dict:
    return {"n_iter_": 0, "converged_": True, "lower_bound_": lower_bound, "lower_bounds_": []}
