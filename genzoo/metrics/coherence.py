"""Topic coherence: how often a topic's top words occur in the same documents.

Both measures count documents: D(w) is the number of documents holding word w, D(w, v) the
number holding both. `topic_coherence` computes them for the union of all topics' top words
with one sparse product, so its cost is that of reading X once.
"""

from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse

__all__ = ["topic_coherence"]

_EPS = 1e-12  # added to co-occurrence probabilities in NPMI, so unseen pairs score near -1


def _top_words(topics, top_n: int, n_words: int) -> list[np.ndarray]:
    """Each topic's top words as column indices, most probable first."""
    if isinstance(top_n, bool) or not isinstance(top_n, numbers.Integral) or top_n < 2:
        raise ValueError(f"top_n must be an int >= 2; got {top_n!r}.")
    if isinstance(topics, np.ndarray) and topics.ndim == 2 and topics.dtype.kind == "f":
        if topics.shape[1] != n_words:
            raise ValueError(f"topic_word has {topics.shape[1]} words but X has {n_words} columns.")
        return list(np.argsort(-topics, axis=1, kind="stable")[:, :top_n])
    try:
        lists = [np.asarray(t)[:top_n] for t in topics]
    except TypeError:
        raise ValueError("topics must be a (K, n_words) array or lists of word indices.") from None
    for t in lists:
        if t.ndim != 1 or t.dtype.kind not in "iu" or len(t) < 2:
            raise ValueError(
                "each topic's top words must be at least 2 integer column indices of X."
            )
        if t.min() < 0 or t.max() >= n_words:
            raise ValueError(f"top word index out of range for X with {n_words} columns.")
        if len(np.unique(t)) != len(t):
            raise ValueError("a topic lists the same top word twice.")
    return lists


def _npmi(joint, single_i, single_j, n_docs: int) -> np.ndarray:
    """NPMI of word pairs from document counts; -1 for a pair with a word absent from X."""
    absent = (single_i == 0) | (single_j == 0)
    p_i, p_j = np.maximum(single_i, 1) / n_docs, np.maximum(single_j, 1) / n_docs
    p_joint = joint / n_docs + _EPS
    pmi = np.log(p_joint / (p_i * p_j))
    denominator = -np.log(p_joint)
    with np.errstate(divide="ignore", invalid="ignore"):
        # words in every document: P(w_i, w_j) = 1, perfectly associated
        npmi = np.where(denominator > _EPS, pmi / denominator, 1.0)
    return np.where(absent, -1.0, np.clip(npmi, -1.0, 1.0))


def topic_coherence(topics, X, *, top_n: int = 10, measure: str = "umass") -> np.ndarray:
    """Return the coherence of each topic's top words in the documents X, shape (K,).

    Parameters
    ----------
    topics : array of shape (K, n_words), or K sequences of column indices
        A topic-word matrix (its `top_n` most probable words are taken, as
        `LatentDirichletAllocation.topic_word_`) or each topic's top words, most probable first.
    X : array-like or scipy.sparse matrix of shape (n_documents, n_words)
        Word counts of the reference documents; only whether a count is > 0 matters.
    top_n : int, default=10
    measure : {"umass", "npmi"}, default="umass"
        "umass" (Mimno et al. 2011): the mean over word pairs i > j (by rank) of
        log((D(w_i, w_j) + 1) / D(w_j)) (D(w_j) taken as 1 for a word absent from X);
        higher is better. "npmi" (Bouma 2009; Aletras and Stevenson
        2013): the mean over all pairs of log(P(w_i, w_j) / (P(w_i) P(w_j))) / -log P(w_i, w_j),
        with P from document frequencies (and 1e-12 added to P(w_i, w_j)); in [-1, 1], higher
        is better, -1 for a pair with a word absent from X.

    Examples
    --------
    >>> X = np.array([[1, 1, 0, 0], [2, 1, 0, 0], [0, 0, 3, 1], [0, 1, 1, 1]])
    >>> topic_coherence([[0, 1], [2, 3]], X).round(3)
    array([0.405, 0.405])
    >>> topic_coherence([[0, 1], [0, 3]], X, measure="npmi").round(3)
    array([ 0.415, -0.95 ])
    """
    if measure not in ("umass", "npmi"):
        raise ValueError(f"measure must be 'umass' or 'npmi'; got {measure!r}.")
    if scipy.sparse.issparse(X):
        X = scipy.sparse.csr_matrix(X)
    else:
        X = np.asarray(X)
        if X.dtype.kind not in "biuf":
            raise ValueError(f"X must hold numeric counts; got dtype {X.dtype}.")
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(f"X must have shape (n_documents, n_words) with documents; got {X.shape}.")
    tops = _top_words(topics, top_n, X.shape[1])
    words, index = np.unique(np.concatenate(tops), return_inverse=True)
    present = scipy.sparse.csr_matrix(X[:, words] > 0, dtype=np.float64)  # (n_docs, U)
    co = (present.T @ present).toarray()  # D(w, v), diagonal D(w)
    n_docs = X.shape[0]
    scores, start = [], 0
    for top in tops:
        idx = index[start : start + len(top)]
        start += len(top)
        joint = co[np.ix_(idx, idx)]  # (n, n) in rank order
        single = np.diag(joint)
        i, j = np.tril_indices(len(idx), k=-1)  # pairs with i ranked after j
        if measure == "umass":
            values = np.log((joint[i, j] + 1.0) / np.maximum(single[j], 1.0))
        else:
            values = _npmi(joint[i, j], single[i], single[j], n_docs)
        scores.append(values.mean())
    return np.asarray(scores, dtype=np.float64)
