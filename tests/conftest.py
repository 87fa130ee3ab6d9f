"""Shared fixtures: fixed seeds, tiny datasets, and the registered models' fixtures.

`Fixture` hides how each kind of data is passed to a model (labels for conditional models,
`lengths` for sequences, DataFrames for tables), so the conformance suite is written once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

import genzoo
from genzoo.data import Dataset
from genzoo.data import load as load_dataset


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@dataclass
class Fixture:
    """A registered model's small dataset, and how to hand any part of it to the model."""

    entry: object
    data: Dataset

    @property
    def kind(self) -> str:
        return self.data.kind

    def X(self, part: str = "train"):
        return getattr(self.data, f"X_{part}")

    def labels(self, part: str = "train"):
        return getattr(self.data, f"y_{part}")

    def lengths(self, part: str = "train"):
        return getattr(self.data, f"lengths_{part}")

    def fit_args(self, part: str = "train", X=None) -> tuple[tuple, dict]:
        """Arguments of fit (and log_prob) for a part of the data, or for a replacement X.

        Sentences with known trees are fitted on the trees (maximum likelihood).
        """
        if X is None and self.kind == "sentences" and self.data.trees_train is not None:
            X = getattr(self.data, f"trees_{part}")
        X = self.X(part) if X is None else X
        kwargs = {}
        if self.kind == "sequences":
            kwargs["lengths"] = self.lengths(part)
        if self.entry.conditional:
            return (X, self.labels(part)), kwargs
        return (X,), kwargs

    def fit(self, model, part: str = "train"):
        args, kwargs = self.fit_args(part)
        return model.fit(*args, **kwargs)

    def log_prob(self, model, part: str = "test", X=None) -> np.ndarray:
        """Unconditional log_prob of a part (or of X with that part's lengths)."""
        X = self.X(part) if X is None else X
        if self.kind == "sequences":
            return model.log_prob(X, lengths=self.lengths(part))
        return model.log_prob(X)

    def n_items(self, part: str = "test") -> int:
        return len(self.lengths(part)) if self.kind == "sequences" else len(self.X(part))

    def halves(self, model, part: str = "test") -> np.ndarray:
        """log_prob of the first and second half of a part, concatenated."""
        X = self.X(part)
        if self.kind == "sequences":
            lengths = self.lengths(part)
            cut, steps = len(lengths) // 2, int(np.sum(lengths[: len(lengths) // 2]))
            first = model.log_prob(X[:steps], lengths=lengths[:cut])
            second = model.log_prob(X[steps:], lengths=lengths[cut:])
            return np.concatenate([first, second])
        half = len(X) // 2
        return np.concatenate([model.log_prob(X[:half]), model.log_prob(X[half:])])

    def assert_samples(self, model, samples, n: int):
        """Samples have the training data's shape (per item), a numeric dtype and are finite."""
        if self.kind == "table":
            assert list(samples.columns) == list(self.X().columns) and len(samples) == n
            return
        if self.kind == "sentences":
            assert isinstance(samples, list) and len(samples) == n
            assert all(isinstance(s, list) and s for s in samples)
            assert all(isinstance(t, str) for s in samples for t in s)
            return
        assert isinstance(samples, np.ndarray) and samples.dtype.kind in "fiu"
        if self.kind == "sequences":
            assert samples.ndim == 3 and samples.shape[0] == n
            assert samples.shape[2] == self.X().shape[1]
        else:
            assert samples.shape == (n, *self.X().shape[1:])
        assert np.isfinite(samples).all()


def fixture_data(entry) -> Dataset:
    """The small dataset a registered model's conformance tests run on."""
    data = load_dataset(entry.fixture_dataset, n_samples=entry.fixture_size, random_state=0)
    if entry.data_kind == "vectors" and data.kind in ("images", "counts"):
        data = data.as_vectors()
    return data


def fitted_model(entry, **overrides):
    """A fresh model of `entry`, fitted on its fixture data with its fast params."""
    fixture = Fixture(entry, fixture_data(entry))
    model = genzoo.make(entry.name, **{**entry.test_params, **overrides})
    return fixture.fit(model), fixture
