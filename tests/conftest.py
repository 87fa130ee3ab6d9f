"""Shared fixtures: fixed seeds, tiny datasets, and the registered models' fixtures.

`Fixture` hides how each kind of data is passed to a model (labels for conditional models,
`lengths` for sequences, DataFrames for tables), so the conformance suite is written once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pytest
import torch

import genzoo
import genzoo._validation
from genzoo.data import Dataset
from genzoo.data import load as load_dataset
from genzoo.data.kinds import kind_of

_SAVED_DEVICE = pytest.StashKey[str | None]()


def pytest_addoption(parser):
    parser.addoption(
        "--device",
        default=None,
        help="device that models with device='auto' use: cpu, cuda, cuda:N (sets GENZOO_DEVICE)",
    )


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "cpu_stream(reason): compares with a CPU-only peer or an exact CPU random stream, so "
        "it runs on the CPU whatever --device says",
    )
    device = config.getoption("--device")
    if device:
        os.environ["GENZOO_DEVICE"] = device  # subprocesses of the tests inherit it
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:  # several workers each spinning every core's threads run far slower
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    # Before any fixture of the test is built (module-scoped ones included), so tests marked
    # cpu_stream fit on the CPU: device='auto' means GENZOO_DEVICE.
    item.stash[_SAVED_DEVICE] = os.environ.get("GENZOO_DEVICE")
    if item.get_closest_marker("cpu_stream") is not None:
        os.environ["GENZOO_DEVICE"] = "cpu"


def pytest_runtest_teardown(item, nextitem):
    saved = item.stash.get(_SAVED_DEVICE, None)
    if saved is None:
        os.environ.pop("GENZOO_DEVICE", None)
    else:
        os.environ["GENZOO_DEVICE"] = saved


def on_gpu() -> bool:
    """Whether the suite runs its models on a GPU (--device cuda, or CUDA present)."""
    return genzoo._validation.resolve_device("auto").type == "cuda"


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@dataclass
class Fixture:
    """A registered model's small dataset, and how to hand any part of it to the model.

    How each kind of data goes to a model lives in `genzoo.data.kinds`; `conditional` says
    whether the model under test takes labels (a variant may differ from its entry).
    """

    entry: object
    data: Dataset
    conditional: bool | None = None

    def __post_init__(self):
        if self.conditional is None:
            self.conditional = self.entry.conditional

    @property
    def kind(self) -> str:
        return self.data.kind

    @property
    def data_kind(self):
        return kind_of(self.data)

    def X(self, part: str = "train"):
        return getattr(self.data, f"X_{part}")

    def labels(self, part: str = "train"):
        return getattr(self.data, f"y_{part}")

    def lengths(self, part: str = "train"):
        return getattr(self.data, f"lengths_{part}")

    def fit_args(self, part: str = "train", X=None) -> tuple[tuple, dict]:
        """Arguments of fit (and log_prob) for a part of the data, or for a replacement X."""
        return self.data_kind.fit_args(
            self.data, part, conditional=self.conditional,
            second_domain=self.entry.cls.second_domain, X=X,
        )  # fmt: skip

    def fit(self, model, part: str = "train"):
        args, kwargs = self.fit_args(part)
        return model.fit(*args, **kwargs)

    def log_prob(self, model, part: str = "test", X=None) -> np.ndarray:
        """Unconditional log_prob of a part (or of X with that part's lengths)."""
        X = self.X(part) if X is None else X
        return model.log_prob(X, **self.data_kind.eval_kwargs(self.data, part))

    def n_items(self, part: str = "test") -> int:
        return self.data_kind.n_items(self.data, part)

    def halves(self, model, part: str = "test") -> np.ndarray:
        """log_prob of the first and second half of a part, concatenated."""
        halves = self.data_kind.halves(self.data, part)
        return np.concatenate([model.log_prob(X, **kwargs) for X, kwargs in halves])

    def assert_samples(self, model, samples, n: int):
        """Samples have the training data's shape (per item), a numeric dtype and are finite."""
        problem = self.data_kind.sample_problem(samples, self.X(), n)
        assert problem is None, problem


def fixture_data(entry, dataset: str | None = None) -> Dataset:
    """The small dataset a registered model's conformance tests run on."""
    name = dataset or entry.fixture_dataset
    data = load_dataset(name, n_samples=entry.fixture_size, random_state=0)
    if entry.data_kind == "vectors" and data.kind in ("images", "counts"):
        data = data.as_vectors()
    return data


def fitted_model(entry, variant=None, **overrides):
    """A fresh model of `entry` (in `variant`'s setting), fitted on its fixture data with its
    fast params."""
    params = {**entry.test_params, **(variant.params if variant else {}), **overrides}
    model = genzoo.make(entry.name, **params)
    data = fixture_data(entry, variant.fixture_dataset if variant else None)
    fixture = Fixture(entry, data, conditional=model.conditional)
    return fixture.fit(model), fixture
