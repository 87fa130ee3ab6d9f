"""The protocol every registered model keeps (DESIGN.md, STYLE.md section 10).

A model joins by registering itself with a fixture dataset and fast params; nothing here
names a particular model. `tests.conftest.Fixture` passes each kind of data the right way.
"""

from __future__ import annotations

import copy
import inspect
import json
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

import genzoo
from genzoo.registry import list_models
from tests.conftest import fitted_model

# Every registered model with its test params, and again in each of its test variants.
CASES = [(e, v) for e in list_models() for v in (None, *e.test_variants)]
IDS = [e.name if v is None else f"{e.name}-{v.name}" for e, v in CASES]
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module", params=CASES, ids=IDS)
def fitted(request):
    entry, variant = request.param
    model, fixture = fitted_model(entry, variant)
    return entry, model, fixture


def _fresh(entry, model):
    """An unfitted model with the same params as `model` (its variant's)."""
    return genzoo.make(entry.name, **model.get_params(deep=False))


# --- comparing states and samples


def _snapshot(model) -> dict:
    return copy.deepcopy(vars(model))


def _assert_equal(a, b, where: str):
    assert type(a) is type(b), where
    if isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    elif hasattr(a, "equals"):  # pandas objects
        assert a.equals(b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            _assert_equal(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_equal(x, y, f"{where}[{i}]")
    elif hasattr(a, "get_params") and hasattr(a, "__dict__"):  # nested models
        _assert_equal(vars(a), vars(b), where)
    else:
        assert a == b or (a != a and b != b), where  # NaN equals NaN here


def _assert_same_state(before: dict, after: dict):
    _assert_equal(before, after, "vars(model)")


def _same_samples(a, b) -> bool:
    if hasattr(a, "equals"):
        return a.equals(b)
    if isinstance(a, list):  # sentences
        return a == b
    return np.array_equal(a, b)


# --- the protocol


def test_registry_entry_is_complete(fitted):
    entry, model, _ = fitted
    assert entry.cls.__doc__ and "Examples" in entry.cls.__doc__
    assert entry.likelihood_kind in ("exact", "lower_bound", "estimate", None)
    assert isinstance(genzoo.make(entry.name), entry.cls)
    assert getattr(genzoo, entry.cls.__name__) is entry.cls


def test_fit_returns_self_and_adds_only_fitted_attributes(fitted):
    entry, fitted_one, fixture = fitted
    model = _fresh(entry, fitted_one)
    params_before = dict(vars(model))
    assert fixture.fit(model) is model
    for name in set(vars(model)) - set(params_before):
        assert name.endswith("_") or name.startswith("_"), name
    for name, value in params_before.items():
        assert vars(model)[name] is value, f"fit changed constructor argument {name}"


def test_sample_shape_dtype_finite(fitted):
    _, model, fixture = fitted
    fixture.assert_samples(model, model.sample(7), 7)


def test_seeded_sample_is_reproducible(fitted):
    _, model, _ = fitted
    a = model.sample(10, random_state=3)
    assert _same_samples(a, model.sample(10, random_state=3))
    assert not _same_samples(a, model.sample(10, random_state=4))


def test_log_prob_shape_finite_and_score_is_its_mean(fitted):
    entry, model, fixture = fitted
    if model.likelihood_kind is None:
        with pytest.raises(genzoo.LikelihoodUnavailable, match=type(model).__name__):
            fixture.log_prob(model)
        return
    log_prob = fixture.log_prob(model)
    assert log_prob.shape == (fixture.n_items("test"),)
    assert log_prob.dtype == np.float64
    assert np.isfinite(log_prob).all()
    args, kwargs = fixture.fit_args("test", X=fixture.X("test"))
    score_args = args[:1] if fixture.conditional else args
    assert model.score(*score_args, **kwargs) == pytest.approx(log_prob.mean(), rel=1e-12)


def test_log_prob_of_batch_equals_its_halves(fitted):
    entry, model, fixture = fitted
    if model.likelihood_kind is None:
        pytest.skip("no likelihood: checked by the LikelihoodUnavailable test")
    np.testing.assert_allclose(
        fixture.log_prob(model), fixture.halves(model), rtol=1e-10, atol=1e-10
    )


def test_public_methods_leave_the_model_unchanged(fitted):
    entry, model, fixture = fitted
    before = _snapshot(model)
    model.sample(5, random_state=0)
    model.sample(5)
    if model.likelihood_kind is not None:
        fixture.log_prob(model)
        args, kwargs = fixture.fit_args("test", X=fixture.X("test"))
        model.score(*args, **kwargs)
    _assert_same_state(before, _snapshot(model))


def test_conditional_models_take_labels(fitted):
    entry, model, fixture = fitted
    if not fixture.conditional:
        with pytest.raises(ValueError, match="not a conditional model"):
            model.sample(3, y=np.zeros(3, dtype=int))
        return
    label = model.classes_[0]
    fixture.assert_samples(model, model.sample(4, y=label), 4)
    fixture.assert_samples(model, model.sample(4, y=[label] * 4), 4)
    if model.likelihood_kind is not None:
        X, y = fixture.X("test"), fixture.labels("test")
        joint = model.log_prob(X, y)
        assert joint.shape == (len(X),) and np.isfinite(joint).all()
        assert (joint <= model.log_prob(X) + 1e-9).all()  # P(X, y) <= P(X)
    with pytest.raises(ValueError, match="unseen"):
        model.sample(2, y=["no such class", "no such class"])
    with pytest.raises(ValueError, match="only one class"):
        clone(model).fit(fixture.X(), np.zeros(len(fixture.X()), dtype=int))


def _assert_no_pickle(path: Path):
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    assert files
    for file in files:
        raw = file.read_bytes()
        assert not raw.startswith(b"PK"), f"{file} is a zip archive (torch.save format)"
        if file.suffix != ".safetensors":
            assert not raw.startswith(b"\x80"), f"{file} starts like a pickle"
        else:  # an 8-byte header length, then a JSON header: no room for a pickle
            (header_len,) = struct.unpack("<Q", raw[:8])
            header = json.loads(raw[8 : 8 + header_len])
            dtypes = {v["dtype"] for k, v in header.items() if k != "__metadata__"}
            numeric = {"F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL"}
            assert dtypes <= numeric


@pytest.mark.parametrize("as_file", [False, True], ids=["folder", "file"])
def test_save_load_round_trip_without_pickle(fitted, tmp_path, as_file):
    entry, model, fixture = fitted
    path = tmp_path / ("model.safetensors" if as_file else "run")
    model.save(path)
    _assert_no_pickle(path)
    loaded = genzoo.load(path)
    assert type(loaded) is type(model)
    assert loaded.get_params().keys() == model.get_params().keys()
    if model.likelihood_kind is not None:
        np.testing.assert_array_equal(fixture.log_prob(loaded), fixture.log_prob(model))
    assert _same_samples(loaded.sample(6, random_state=5), model.sample(6, random_state=5))


def test_clone_and_params_round_trip(fitted):
    _, model, _ = fitted
    params = model.get_params(deep=False)
    twin = clone(model)
    assert twin.get_params(deep=False).keys() == params.keys()
    for key, value in params.items():
        other = twin.get_params(deep=False)[key]
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(other, value)
        elif hasattr(value, "get_params"):
            assert type(other) is type(value) and other.get_params() == value.get_params()
        else:
            assert other == value
    assert not any(k.endswith("_") and not k.startswith("_") for k in vars(twin))
    assert twin.set_params(random_state=123) is twin
    assert twin.random_state == 123


def test_unfitted_model_raises_not_fitted(fitted):
    entry, fitted_one, fixture = fitted
    model = _fresh(entry, fitted_one)
    with pytest.raises(NotFittedError):
        model.sample(3)
    if model.likelihood_kind is not None:
        with pytest.raises(NotFittedError):
            fixture.log_prob(model)


BAD_CASES = ["NaN", "inf", "empty", "strings", "text", "negative", "missing", "malformed"]


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_fit_input_raises_value_error_and_keeps_the_fit(fitted, case):
    entry, model, fixture = fitted
    cases = fixture.data_kind.bad_inputs(fixture.X())
    if case not in cases:
        pytest.skip(f"{case} does not apply to {fixture.kind} data")
    X_bad, message = cases[case]
    args, kwargs = fixture.fit_args("train", X=X_bad)
    if fixture.kind == "sequences" and case in ("empty", "text"):
        kwargs = {}
    if fixture.conditional and case in ("empty", "text"):
        args = (X_bad, fixture.labels()[:0] if case == "empty" else fixture.labels())
    before = _snapshot(model)
    with pytest.raises(ValueError, match=message):
        model.fit(*args, **kwargs)
    _assert_same_state(before, _snapshot(model))


def test_bad_log_prob_input(fitted):
    entry, model, fixture = fitted
    if model.likelihood_kind is None:
        pytest.skip("no likelihood")
    wrong, message = fixture.data_kind.wrong_features(fixture.X("test"))
    with pytest.raises(ValueError, match=message):
        fixture.log_prob(model, X=wrong)
    if fixture.kind not in ("table", "sentences"):
        nan = fixture.X("test").copy()
        nan.flat[0] = np.nan
        with pytest.raises(ValueError, match="NaN"):
            fixture.log_prob(model, X=nan)


def test_bad_sample_count(fitted):
    _, model, _ = fitted
    for bad in (0, -1, 2.5, "3"):
        with pytest.raises(ValueError, match="n_samples|n_sequences"):
            model.sample(bad)


def test_fewer_samples_than_components(fitted):
    entry, model, fixture = fitted
    k = model.get_params().get("n_components")
    # Only a mixture's components need a sample each; an RBM's n_components (hidden units, as
    # scikit-learn names them) may exceed the sample count.
    if entry.family != "mixture" or not isinstance(k, int) or k < 2 or fixture.kind != "vectors":
        pytest.skip("the model has no mixture components (n_components above 1) over vectors")
    before = _snapshot(model)
    with pytest.raises(ValueError, match="n_components"):
        model.fit(fixture.X()[: k - 1])
    _assert_same_state(before, _snapshot(model))


def test_dataframe_and_tensor_input(fitted):
    pd = pytest.importorskip("pandas")
    entry, model, fixture = fitted
    if fixture.kind not in ("vectors", "counts") or model.likelihood_kind is None:
        pytest.skip("DataFrames and tensors stand for vectors here")
    columns = [f"f{i}" for i in range(fixture.X().shape[1])]
    args, kwargs = fixture.fit_args("train", X=pd.DataFrame(fixture.X(), columns=columns))
    refit = clone(model).fit(*args, **kwargs)
    expected = refit.log_prob(fixture.X("test"))
    np.testing.assert_allclose(refit.log_prob(pd.DataFrame(fixture.X("test"))), expected)
    np.testing.assert_allclose(refit.log_prob(torch.as_tensor(fixture.X("test"))), expected)


def test_invalid_constructor_argument_is_named(fitted):
    entry, fitted_one, fixture = fitted
    model = _fresh(entry, fitted_one)
    model.set_params(random_state="seed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="random_state"):
            fixture.fit(model)


# --- issue 11: declared state, bounded sizes, overflow, every method checked


def test_fit_sets_only_declared_fitted_attributes(fitted):
    _, model, _ = fitted
    declared = set(type(model).fitted_attributes)
    public = {k for k in vars(model) if k.endswith("_") and not k.startswith("_")}
    assert public <= declared, f"undeclared fitted attributes: {sorted(public - declared)}"
    assert set(model._fitted_state()) <= declared


def test_impossible_sample_size_is_refused_with_its_memory(fitted):
    _, model, _ = fitted
    name = "n_sequences" if "n_sequences" in inspect.signature(model.sample).parameters else None
    with pytest.raises(ValueError, match="would need about .* free on"):
        model.sample(2**31 - 1)
    with pytest.raises(ValueError, match=f"{name or 'n_samples'} must be a positive int at most"):
        model.sample(2**31)


def test_huge_finite_input_is_refused(fitted):
    entry, model, fixture = fitted
    if fixture.kind in ("table", "sentences"):
        pytest.skip(f"{fixture.kind} data hold no numbers to overflow")
    args, kwargs = fixture.fit_args("train", X=np.asarray(fixture.X(), dtype=np.float64) * 1e300)
    before = _snapshot(model)
    with pytest.raises(ValueError, match="X"):
        clone(model).fit(*args, **kwargs)
    _assert_same_state(before, _snapshot(model))


def _methods_taking_X(model) -> list[str]:
    skip = {"fit", "partial_fit", "fit_transform", "sample", "score", "log_prob"}
    skip |= {"set_params", "get_params", "set_output"}
    # A question about the model, answered before fit too (X informs a VAE's "auto").
    skip |= {"likelihood_support"}
    names = []
    for name, function in inspect.getmembers(type(model), inspect.isfunction):
        parameters = list(inspect.signature(function).parameters)
        if not name.startswith("_") and name not in skip and parameters[1:2] == ["X"]:
            names.append(name)
    return names


def test_every_method_of_X_checks_fitted_state_and_input(fitted):
    entry, model, fixture = fitted
    methods = _methods_taking_X(model)
    if not methods:
        pytest.skip("no public method beyond the protocol takes X")
    kwargs = fixture.data_kind.eval_kwargs(fixture.data, "test")
    fresh = _fresh(entry, model)
    wrong, message = fixture.data_kind.wrong_features(fixture.X("test"))
    for name in methods:
        with pytest.raises(NotFittedError):
            getattr(fresh, name)(fixture.X("test"), **kwargs)
        if fixture.kind not in ("table", "sentences"):
            with pytest.raises(ValueError, match=message):
                getattr(model, name)(wrong)
            nan = np.array(fixture.X("test"), dtype=np.float64)
            nan.flat[0] = np.nan
            with pytest.raises(ValueError, match="NaN"):
                getattr(model, name)(nan, **kwargs)
