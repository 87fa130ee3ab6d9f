"""Each kind of data knows how it goes to a model (genzoo.data.kinds)."""

from __future__ import annotations

import numpy as np
import pytest

from genzoo.data import load
from genzoo.data.kinds import KINDS, get_kind, kind_of

DATASETS = ["moons", "digits", "digits_counts", "casino", "asia", "treebank"]


@pytest.mark.parametrize("name", DATASETS)
def test_halves_cover_the_part_and_items_are_counted(name):
    data = load(name, n_samples=40, random_state=0)
    kind = kind_of(data)
    assert kind.name == data.kind
    halves = kind.halves(data, "test")
    n_rows = sum(len(X) for X, _ in halves)
    assert n_rows == len(data.X_test)
    if data.kind == "sequences":
        assert sum(len(kw["lengths"]) for _, kw in halves) == kind.n_items(data, "test")
    else:
        assert n_rows == kind.n_items(data, "test")


def test_fit_args_hand_labels_trees_and_lengths():
    casino = load("casino", n_samples=10, random_state=0)
    args, kwargs = kind_of(casino).fit_args(casino)
    assert args == (casino.X_train,) and kwargs["lengths"] is casino.lengths_train
    treebank = load("treebank", n_samples=20, random_state=0)
    args, _ = kind_of(treebank).fit_args(treebank)
    assert args[0] is treebank.trees_train
    digits = load("digits", n_samples=30, random_state=0)
    args, _ = kind_of(digits).fit_args(digits, conditional=True)
    assert args[1] is digits.y_train


def test_tokens_per_kind():
    casino = load("casino", n_samples=10, random_state=0)
    assert kind_of(casino).n_tokens(casino) == len(casino.X_test)
    counts = load("digits_counts", n_samples=30, random_state=0)
    assert kind_of(counts).n_tokens(counts) == int(counts.X_test.sum())
    assert kind_of(load("moons", n_samples=30, random_state=0)).n_tokens(None) is None


def test_sample_problems_are_named():
    X = np.zeros((5, 3))
    assert get_kind("vectors").sample_problem(np.zeros((4, 3)), X, 4) is None
    assert "shape" in get_kind("vectors").sample_problem(np.zeros((4, 2)), X, 4)
    assert "NaN" in get_kind("vectors").sample_problem(np.full((4, 3), np.nan), X, 4)
    assert get_kind("sentences").sample_problem([["a"], ["b"]], None, 2) is None
    assert get_kind("sentences").sample_problem([["a"], []], None, 2)


def test_unknown_kind_is_named():
    with pytest.raises(ValueError, match="kind must be one of"):
        get_kind("graphs")
    assert set(KINDS) == {"vectors", "images", "counts", "sequences", "table", "sentences"}
