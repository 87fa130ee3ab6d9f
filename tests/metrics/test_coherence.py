"""Topic coherence against brute-force counts over documents, and on the bars topics."""

import itertools
import math

import numpy as np
import pytest
import scipy.sparse

from genzoo.data.bars import make_bars
from genzoo.metrics.coherence import topic_coherence


def brute_force(tops, X, measure):
    present = np.asarray(X) > 0
    n = len(present)

    def D(*words):
        return int(np.all(present[:, list(words)], axis=1).sum())

    scores = []
    for top in tops:
        values = []
        for i, j in itertools.combinations(range(len(top)), 2):  # j ranked before i: j < i
            wj, wi = top[i], top[j]
            if measure == "umass":
                values.append(math.log((D(wi, wj) + 1) / D(wj)))
            else:
                p = D(wi, wj) / n + 1e-12
                values.append(math.log(p / (D(wi) / n * D(wj) / n)) / -math.log(p))
        scores.append(np.mean(values))
    return np.array(scores)


@pytest.mark.parametrize("measure", ["umass", "npmi"])
def test_equals_brute_force_counts(measure):
    rng = np.random.default_rng(0)
    X = rng.poisson(0.7, size=(60, 12)) * (rng.random((60, 12)) < 0.6)
    X[0] = 1  # every word occurs in some document
    tops = [[3, 1, 7, 0], [5, 2, 11, 9, 8], [4, 6]]
    expected = brute_force(tops, X, measure)
    np.testing.assert_allclose(topic_coherence(tops, X, measure=measure), expected, rtol=1e-12)
    sparse = topic_coherence(tops, scipy.sparse.csr_matrix(X), measure=measure)
    np.testing.assert_allclose(sparse, expected, rtol=1e-12)


def test_topic_word_matrix_takes_its_top_words():
    rng = np.random.default_rng(1)
    X = rng.poisson(1.0, size=(40, 8))
    topic_word = rng.dirichlet(np.ones(8), size=3)
    tops = [list(np.argsort(-t)[:4]) for t in topic_word]
    np.testing.assert_allclose(
        topic_coherence(topic_word, X, top_n=4), topic_coherence(tops, X, top_n=4)
    )


def test_true_bars_are_more_coherent_than_shuffled_words():
    X, topics = make_bars(500, alpha=0.1, random_state=0)
    rng = np.random.default_rng(0)
    shuffled = [list(rng.permutation(25)[:5]) for _ in range(10)]
    for measure in ("umass", "npmi"):
        true = topic_coherence(topics, X, top_n=5, measure=measure)
        random = topic_coherence(shuffled, X, top_n=5, measure=measure)
        assert true.min() > random.mean()
    assert (topic_coherence(topics, X, top_n=5, measure="npmi") <= 1).all()


def test_absent_words_and_bad_arguments():
    X = np.array([[1, 1, 0], [1, 0, 0]])
    assert topic_coherence([[0, 2]], X, measure="npmi")[0] == -1.0
    assert np.isfinite(topic_coherence([[2, 0]], X, measure="umass")).all()
    with pytest.raises(ValueError, match="measure"):
        topic_coherence([[0, 1]], X, measure="cv")
    with pytest.raises(ValueError, match="top_n"):
        topic_coherence([[0, 1]], X, top_n=1)
    with pytest.raises(ValueError, match="out of range"):
        topic_coherence([[0, 5]], X)
    with pytest.raises(ValueError, match="columns"):
        topic_coherence(np.ones((2, 4)) / 4, X)
    with pytest.raises(ValueError, match="twice"):
        topic_coherence([[1, 1]], X)
