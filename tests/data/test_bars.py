"""The bars corpus: its topics are bars, its documents have the asked length and frequencies."""

import numpy as np
import pytest

from genzoo.data import load
from genzoo.data.bars import bars_topics, binary_bars_log_prob, make_bars, make_binary_bars


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


# --- the binary bars problem


def test_binary_bars_are_unions_of_the_drawn_bars():
    X, bars = make_binary_bars(500, size=4, bar_prob=0.3, random_state=0)
    assert X.shape == (500, 16) and bars.shape == (500, 8)
    images = X.reshape(-1, 4, 4).astype(bool)
    rows, columns = bars[:, :4], bars[:, 4:]
    expected = rows[:, :, None] | columns[:, None, :]
    np.testing.assert_array_equal(images, expected)
    assert abs(bars.mean() - 0.3) < 0.03
    np.testing.assert_array_equal(
        make_binary_bars(5, random_state=1)[0], make_binary_bars(5, random_state=1)[0]
    )


def test_binary_bars_log_prob_is_a_distribution_matching_the_draws():
    size, p = 3, 0.25
    # every image of a 3x3 grid: the log-probabilities sum to one
    images = ((np.arange(2**9)[:, None] >> np.arange(9)) & 1).astype(float)
    log_p = binary_bars_log_prob(images, size=size, bar_prob=p)
    assert np.isclose(np.exp(log_p[np.isfinite(log_p)]).sum(), 1.0, atol=1e-12)
    # the empty image needs every bar off; the full grid is any pattern covering it
    assert np.isclose(log_p[0], 6 * np.log(1 - p))
    # frequencies of drawn images agree with the exact probabilities
    X, _ = make_binary_bars(200_000, size=size, bar_prob=p, random_state=0)
    keys, counts = np.unique(X @ (1 << np.arange(9)), return_counts=True)
    exact = np.exp(log_p[keys.astype(int)])
    assert np.all(np.abs(counts / len(X) - exact) < 5 * np.sqrt(exact / len(X)) + 1e-4)
    # an image no bars can make (a single pixel) has probability zero
    assert binary_bars_log_prob(np.eye(9)[:1], size=size, bar_prob=p)[0] == -np.inf


def test_binary_bars_dataset_and_bad_arguments():
    data = load("bars_binary", n_samples=40)
    assert (
        data.kind == "vectors" and data.X_train.shape == (40, 25) and data.image_shape == (1, 5, 5)
    )
    assert np.isfinite(binary_bars_log_prob(data.X_test)).all()
    with pytest.raises(ValueError, match="bar_prob"):
        make_binary_bars(5, bar_prob=1.0)
    with pytest.raises(ValueError, match="shape"):
        binary_bars_log_prob(np.zeros((2, 24)))
    with pytest.raises(ValueError, match="at most 8"):
        binary_bars_log_prob(np.zeros((2, 81)), size=9)
