"""Shared fixtures: fixed seeds, tiny datasets, and the registered models' fixtures."""

from __future__ import annotations

import numpy as np
import pytest

import genzoo
from genzoo.data import load as load_dataset


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def fixture_data(entry):
    """The small dataset a registered model's conformance tests run on."""
    data = load_dataset(entry.fixture_dataset, n_samples=entry.fixture_size, random_state=0)
    if entry.data_kind == "vectors" and data.kind == "images":
        data = data.as_vectors()
    return data


def fitted_model(entry, **overrides):
    """A fresh model of `entry`, fitted on its fixture data with its fast params."""
    params = {**entry.test_params, **overrides}
    data = fixture_data(entry)
    return genzoo.make(entry.name, **params).fit(data.X_train), data
