"""The registry, parameter constraints and input checks shared by every model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import genzoo
from genzoo._validation import Interval, Options, check_array, check_n_samples, make_generator
from genzoo.base import GenerativeModel


def test_make_and_list_models():
    model = genzoo.make("gmm", n_components=4)
    assert isinstance(model, genzoo.GaussianMixture) and model.n_components == 4
    entries = {e.name: e for e in genzoo.list_models()}
    assert entries["gmm"].family == "mixture"
    assert entries["gmm"].likelihood_kind == "exact"
    assert entries["gmm"].data_kind == "vectors"
    assert entries["gmm"].default_dataset in genzoo.data.list_datasets()
    mixtures = genzoo.list_models(family="mixture")
    assert "gmm" in [e.name for e in mixtures] and {e.family for e in mixtures} == {"mixture"}
    assert [e.name for e in mixtures] == sorted(e.name for e in mixtures)


def test_unknown_model_suggests_close_names():
    with pytest.raises(genzoo.UnknownModelError, match="Did you mean gmm"):
        genzoo.make("gmn")
    with pytest.raises(ValueError, match="unknown model"):
        genzoo.make("no-such-model")


def test_unknown_parameter_is_named():
    with pytest.raises(ValueError, match="no parameter 'n_clusters'"):
        genzoo.make("gmm", n_clusters=3)


def test_interval_and_options():
    assert Interval(int, 1, None).accepts(3)
    assert not Interval(int, 1, None).accepts(3.5)
    assert not Interval(int, 1, None).accepts(True)
    assert not Interval(float, 0, 1, closed="right").accepts(0.0)
    assert Interval(float, 0, 1, closed="right").accepts(1)
    assert "[1, inf)" in str(Interval(int, 1, None))
    assert Options("a", "b").accepts("a") and not Options("a", "b").accepts("c")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([[1.0, np.nan]], "NaN"),
        ([[1.0, np.inf]], "infinity"),
        (np.zeros((0, 2)), "empty"),
        ([["a", "b"]], "numeric"),
        ([1.0, 2.0], "shape"),
        ([[1.0], [2.0, 3.0]], "rectangular|numeric"),
        ("text", "string"),
    ],
)
def test_check_array_names_the_problem(value, message):
    with pytest.raises(ValueError, match=message):
        check_array(value, name="X")


def test_check_array_accepts_tensors_and_lists():
    np.testing.assert_array_equal(check_array(torch.ones(2, 3)), np.ones((2, 3)))
    assert check_array([[1, 2]]).dtype == np.float64


def test_generators_are_seeded_locally():
    state = torch.random.get_rng_state()
    a = torch.rand(3, generator=make_generator(7))
    b = torch.rand(3, generator=make_generator(7))
    torch.testing.assert_close(a, b)
    assert not torch.equal(
        torch.rand(3, generator=make_generator(None)), torch.rand(3, generator=make_generator(None))
    )
    assert torch.equal(state, torch.random.get_rng_state())  # global RNG untouched
    with pytest.raises(ValueError, match="random_state"):
        make_generator(np.random.RandomState(0))
    assert check_n_samples(np.int64(4)) == 4


def test_a_model_must_declare_what_its_likelihood_is():
    with pytest.raises(TypeError, match="_log_prob"):

        class Broken(GenerativeModel):  # claims a likelihood without computing one
            likelihood_kind = "exact"

    with pytest.raises(TypeError, match="no_likelihood_reason"):

        class Silent(GenerativeModel):
            likelihood_kind = None


@pytest.mark.cpu_stream("checks the marker itself")
def test_cpu_stream_marker_keeps_auto_on_the_cpu():
    import os

    from genzoo._validation import resolve_device

    assert os.environ["GENZOO_DEVICE"] == "cpu"
    assert resolve_device("auto").type == "cpu"


def test_genzoo_device_says_what_auto_means(monkeypatch):
    from genzoo._validation import resolve_device

    monkeypatch.setenv("GENZOO_DEVICE", "cpu")
    assert resolve_device("auto").type == "cpu"
    monkeypatch.setenv("GENZOO_DEVICE", "tpu")
    with pytest.raises(ValueError, match="GENZOO_DEVICE='tpu'"):
        resolve_device("auto")


def _pretend_cuda(monkeypatch):
    """Make CUDA look present to device resolution, as on a machine with a GPU, without
    touching one (the tests only ask where a fit would go)."""
    import genzoo._validation

    monkeypatch.delenv("GENZOO_DEVICE", raising=False)
    monkeypatch.setattr(genzoo._validation, "_cuda_available", lambda: True)


def test_auto_keeps_small_fits_on_the_cpu_where_a_gpu_would_be_slower(monkeypatch):
    from genzoo import GaussianMixture

    _pretend_cuda(monkeypatch)
    X = np.random.default_rng(0).normal(size=(200, 2))
    model = GaussianMixture(2, device="auto", random_state=0).fit(X)
    assert model._device().type == "cpu"  # one EM iteration here is far below the crossover
    assert np.isfinite(model.score(X))


def test_auto_chooses_cuda_once_an_iteration_pays_for_it(monkeypatch):
    from genzoo import GaussianMixture

    _pretend_cuda(monkeypatch)
    X = np.random.default_rng(0).normal(size=(200, 2))
    model = GaussianMixture(2, device="auto")
    data = model._prepare(X, reset=True)
    assert model._fit_flops(data) < model.cuda_min_flops
    with model._fit_device_for(data):
        assert model._device().type == "cpu"
    model.cuda_min_flops = 0.0
    with model._fit_device_for(data):
        assert model._device().type == "cuda"
    # a fit that raises leaves the earlier choice
    with pytest.raises(RuntimeError, match="boom"), model._fit_device_for(data):
        model.cuda_min_flops = float("inf")
        raise RuntimeError("boom")
    assert model._device().type == "cuda"


def test_genzoo_device_overrides_the_size_rule(monkeypatch):
    from genzoo import GaussianMixture

    _pretend_cuda(monkeypatch)
    monkeypatch.setenv("GENZOO_DEVICE", "cuda")
    model = GaussianMixture(2, device="auto")
    data = model._prepare(np.zeros((10, 2)), reset=True)
    with model._fit_device_for(data):
        assert model._device().type == "cuda"


def test_neural_models_count_a_training_step():
    from genzoo import VAE

    X = np.random.default_rng(0).normal(size=(50, 2))
    small, wide = VAE(hidden=(8,), batch_size=16), VAE(hidden=(512, 512), batch_size=16)
    assert 0 < small._fit_flops(X) < wide._fit_flops(X)
