"""The bars corpus: its topics are bars, its documents have the asked length and frequencies."""

import numpy as np
import pytest

from genzoo.data.bars import bars_topics, make_bars


def test_topics_are_the_rows_and_columns_of_the_grid():
    topics = bars_topics(5)
    assert topics.shape == (10, 25)
    np.testing.assert_allclose(topics.sum(1), 1.0)
    grid = topics.reshape(10, 5, 5)
    for i in range(5):
        np.testing.assert_allclose(grid[i, i], 0.2)  # horizontal bar i is row i
        np.testing.assert_allclose(grid[5 + i, :, i], 0.2)  # vertical bar i is column i
    assert (topics > 0).sum() == 50


def test_documents_have_the_asked_length_and_are_reproducible():
    X, topics = make_bars(300, doc_length=40, random_state=7)
    assert X.shape == (300, 25) and X.dtype == np.float64
    assert (X.sum(1) == 40).all() and (X == np.round(X)).all()
    np.testing.assert_array_equal(X, make_bars(300, doc_length=40, random_state=7)[0])
    assert not np.array_equal(X, make_bars(300, doc_length=40, random_state=8)[0])
    np.testing.assert_array_equal(topics, bars_topics(5))


def test_word_frequencies_match_the_generative_model():
    n, length = 4000, 100
    X, _ = make_bars(n, doc_length=length, random_state=0)
    # E[theta] is uniform over the 10 bars and each pixel lies on 2 of them: uniform words
    frequency = X.sum(0) / (n * length)
    se = np.sqrt(0.04 * 0.96 / (n * length) * 20)  # Dirichlet(1) mixing inflates the variance
    np.testing.assert_allclose(frequency, 1 / 25, atol=5 * se)
    # small alpha: each document shows few bars, so most of its pixels are empty
    sparse, _ = make_bars(500, doc_length=100, alpha=0.05, random_state=0)
    assert (sparse > 0).mean() < (X > 0).mean()


def test_other_sizes_and_bad_arguments():
    X, topics = make_bars(5, size=3, random_state=0)
    assert X.shape == (5, 9) and topics.shape == (6, 9)
    for kwargs, name in [({"n_docs": 0}, "n_docs"), ({"doc_length": 0}, "doc_length"),
                         ({"alpha": 0.0}, "alpha"), ({"size": 0}, "size")]:  # fmt: skip
        args = {"n_docs": 3, **kwargs}
        with pytest.raises(ValueError, match=name):
            make_bars(args.pop("n_docs"), **args)
