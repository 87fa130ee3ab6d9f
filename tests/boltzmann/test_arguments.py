"""Arguments of the Boltzmann machines: every size is bounded by a ValueError that names it,
bad input is refused on the host before any device work, and the DBM's device and dtype."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genzoo.boltzmann.dbm import DBM
from genzoo.boltzmann.dbn import DBN
from genzoo.boltzmann.rbm import RBM

TOO_MANY_UNITS = 2**16 + 1
TOO_MANY_ROWS = 2**20 + 1
TOO_MANY_STEPS = 10**6 + 1


@pytest.fixture(scope="module")
def X():
    return (np.random.default_rng(0).random((40, 6)) < 0.5).astype(np.float64)


@pytest.fixture(scope="module")
def fitted(X):
    settings = dict(n_iter=1, batch_size=10, sample_burn_in=2, random_state=0)
    return {
        "rbm": RBM(4, **settings).fit(X),
        "dbn": DBN((4, 3), **settings, n_posterior_samples=3).fit(X),
        "dbm": DBM((4, 3), **settings, pretrain_iter=1, n_chains=5).fit(X),
    }


MODELS = {"rbm": lambda: RBM(4), "dbn": lambda: DBN((4, 3)), "dbm": lambda: DBM((4, 3))}


# --- sizes


@pytest.mark.parametrize(
    "model, param, value",
    [
        ("rbm", "n_components", TOO_MANY_UNITS),
        ("rbm", "batch_size", TOO_MANY_ROWS),
        ("rbm", "n_chains", TOO_MANY_ROWS),
        ("rbm", "k", TOO_MANY_STEPS),
        ("rbm", "sample_burn_in", TOO_MANY_STEPS),
        ("rbm", "n_ais_chains", TOO_MANY_ROWS),
        ("rbm", "n_ais_betas", 10**7 + 1),
        ("dbn", "hidden_layer_sizes", (4, TOO_MANY_UNITS)),
        ("dbn", "batch_size", TOO_MANY_ROWS),
        ("dbn", "k", TOO_MANY_STEPS),
        ("dbn", "sample_burn_in", TOO_MANY_STEPS),
        ("dbn", "n_posterior_samples", 10**5 + 1),
        ("dbn", "n_ais_chains", TOO_MANY_ROWS),
        ("dbn", "n_ais_betas", 10**7 + 1),
        ("dbm", "hidden_layer_sizes", (4, TOO_MANY_UNITS)),
        ("dbm", "batch_size", TOO_MANY_ROWS),
        ("dbm", "n_chains", TOO_MANY_ROWS),
        ("dbm", "n_gibbs_steps", TOO_MANY_STEPS),
        ("dbm", "n_mean_field", TOO_MANY_STEPS),
        ("dbm", "sample_burn_in", TOO_MANY_STEPS),
        ("dbm", "n_ais_chains", TOO_MANY_ROWS),
        ("dbm", "n_ais_betas", 10**7 + 1),
        ("dbm", "n_chains", 0),
        ("dbm", "device", "tpu"),
        ("dbm", "dtype", "float16"),
    ],
)
def test_too_large_sizes_are_refused_at_fit_by_name(X, model, param, value):
    with pytest.raises(ValueError, match=param):
        MODELS[model]().set_params(**{param: value}).fit(X)


@pytest.mark.parametrize("model", ["rbm", "dbn", "dbm"])
def test_sample_refuses_too_many_samples_and_sizes_set_after_fit(fitted, model):
    estimator = fitted[model]
    with pytest.raises(ValueError, match="n_samples"):
        estimator.sample(2**30)
    with pytest.raises(ValueError, match="n_samples"):
        estimator.sample(0)
    estimator.set_params(sample_burn_in=TOO_MANY_STEPS)
    try:
        with pytest.raises(ValueError, match="sample_burn_in"):
            estimator.sample(2)
    finally:
        estimator.set_params(sample_burn_in=2)
    assert estimator.sample(2).shape == (2, 6)


def test_dbn_samples_with_its_own_burn_in(fitted):
    """The DBN's sample_burn_in sets the sweeps, not the one its top layer was fitted with."""
    dbn, top = fitted["dbn"], fitted["dbn"].rbms_[-1]
    before = dbn.sample(20, random_state=1)
    try:
        top.set_params(sample_burn_in=50)
        np.testing.assert_array_equal(dbn.sample(20, random_state=1), before)
        dbn.set_params(sample_burn_in=50)
        assert not np.array_equal(dbn.sample(20, random_state=1), before)
    finally:
        top.set_params(sample_burn_in=2)
        dbn.set_params(sample_burn_in=2)


# --- input checked on the host


def _no_device(self):
    raise AssertionError("a device was asked for before the input was validated")


BAD_INPUTS = {
    "fractions": lambda X: X * 0.5,
    "out of range": lambda X: X * 2.0 - 3.0,
    "NaN": lambda X: np.where(np.arange(X.size).reshape(X.shape) == 3, np.nan, X),
    "infinity": lambda X: np.where(np.arange(X.size).reshape(X.shape) == 3, np.inf, X),
    "wrong features": lambda X: X[:, :4],
}
ENTRY_POINTS = {
    "rbm": [
        "fit",
        "partial_fit",
        "log_prob",
        "score",
        "transform",
        "free_energy",
        "gibbs",
        "pseudo_likelihood",
    ],
    "dbn": ["fit", "log_prob", "score", "transform"],
    "dbm": ["fit", "log_prob", "score", "transform"],
}
CASES = [
    (model, method, bad)
    for model, methods in ENTRY_POINTS.items()
    for method in methods
    for bad in BAD_INPUTS
    if not (method == "fit" and bad == "wrong features")  # fit sets the number of features
]


@pytest.mark.parametrize("model, method, bad", CASES)
def test_bad_input_is_refused_before_any_device_work(fitted, X, monkeypatch, model, method, bad):
    estimator = fitted[model]
    if method == "fit":
        estimator = MODELS[model]()
    for cls in (RBM, DBN, DBM):
        monkeypatch.setattr(cls, "_device", _no_device)
    with pytest.raises(ValueError, match="X "):
        getattr(estimator, method)(BAD_INPUTS[bad](X))


# --- the DBM's device and dtype


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dbm_trains_and_samples_in_its_dtype_and_reproduces_a_seed(X, dtype):
    settings = dict(n_iter=2, pretrain_iter=1, batch_size=10, n_chains=5, sample_burn_in=3)
    model = DBM((4, 3), **settings, device="cpu", dtype=dtype, random_state=0).fit(X)
    again = DBM((4, 3), **settings, device="cpu", dtype=dtype, random_state=0).fit(X)
    for a, b in zip(model.weights_ + model.biases_, again.weights_ + again.biases_, strict=True):
        np.testing.assert_array_equal(a, b)
    samples = model.sample(4, random_state=1)
    assert samples.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(samples, again.sample(4, random_state=1))
    assert model.log_prob(X).dtype == np.float64
    assert model.transform(X).dtype == np.float64


def test_dbm_device_defaults_to_auto():
    params = DBM().get_params()
    assert params["device"] == "auto" and params["dtype"] == "float32"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_dbm_on_cuda_matches_its_own_seed_and_the_cpu_bound(X):
    settings = dict(n_iter=2, pretrain_iter=1, batch_size=10, n_chains=5, sample_burn_in=3)
    model = DBM((4, 3), **settings, device="cuda", random_state=0).fit(X)
    again = DBM((4, 3), **settings, device="cuda", random_state=0).fit(X)
    np.testing.assert_array_equal(model.weights_[0], again.weights_[0])
    np.testing.assert_array_equal(model.sample(4, random_state=1), again.sample(4, random_state=1))
    # The same weights give the same bound on either device: only the arithmetic differs.
    on_cpu = DBM((4, 3), **settings, device="cpu")
    on_cpu.__dict__.update({k: v for k, v in vars(model).items() if k.endswith("_")})
    np.testing.assert_allclose(on_cpu.log_prob(X), model.log_prob(X), rtol=1e-10)
