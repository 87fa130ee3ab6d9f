"""The protocol every registered model keeps (DESIGN.md, STYLE.md section 10).

A model joins by registering itself with a fixture dataset and fast params; nothing here
names a particular model.
"""

from __future__ import annotations

import copy
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

ENTRIES = list_models()
IDS = [e.name for e in ENTRIES]
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module", params=ENTRIES, ids=IDS)
def fitted(request):
    entry = request.param
    model, data = fitted_model(entry)
    return entry, model, data


def _snapshot(model) -> dict:
    return copy.deepcopy(vars(model))


def _assert_equal(a, b, where: str):
    assert type(a) is type(b), where
    if isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            _assert_equal(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_equal(x, y, f"{where}[{i}]")
    else:
        assert a == b or (a != a and b != b), where  # NaN equals NaN here


def _assert_same_state(before: dict, after: dict):
    _assert_equal(before, after, "vars(model)")


def test_registry_entry_is_complete(fitted):
    entry, model, _ = fitted
    assert entry.cls.__doc__ and "Examples" in entry.cls.__doc__
    assert entry.likelihood_kind in ("exact", "lower_bound", "estimate", None)
    assert isinstance(genzoo.make(entry.name), entry.cls)
    assert getattr(genzoo, entry.cls.__name__) is entry.cls


def test_fit_returns_self_and_adds_only_fitted_attributes(fitted):
    entry, _, data = fitted
    model = genzoo.make(entry.name, **entry.test_params)
    params_before = dict(vars(model))
    assert model.fit(data.X_train) is model
    for name in set(vars(model)) - set(params_before):
        assert name.endswith("_") or name.startswith("_"), name
    for name, value in params_before.items():
        assert vars(model)[name] is value, f"fit changed constructor argument {name}"


def test_sample_shape_dtype_finite(fitted):
    _, model, data = fitted
    samples = model.sample(7)
    assert isinstance(samples, np.ndarray)
    assert samples.shape == (7, *data.X_train.shape[1:])
    assert samples.dtype.kind == "f"
    assert np.isfinite(samples).all()


def test_seeded_sample_is_reproducible(fitted):
    _, model, _ = fitted
    a = model.sample(10, random_state=3)
    np.testing.assert_array_equal(a, model.sample(10, random_state=3))
    assert not np.array_equal(a, model.sample(10, random_state=4))


def test_log_prob_shape_finite_and_score_is_its_mean(fitted):
    entry, model, data = fitted
    X = data.X_test
    if entry.likelihood_kind is None:
        with pytest.raises(genzoo.LikelihoodUnavailable, match=type(model).__name__):
            model.log_prob(X)
        with pytest.raises(genzoo.LikelihoodUnavailable):
            model.score(X)
        return
    log_prob = model.log_prob(X)
    assert log_prob.shape == (len(X),)
    assert log_prob.dtype == np.float64
    assert np.isfinite(log_prob).all()
    assert model.score(X) == pytest.approx(log_prob.mean(), rel=1e-12)


def test_log_prob_of_batch_equals_its_halves(fitted):
    entry, model, data = fitted
    if entry.likelihood_kind is None:
        pytest.skip("no likelihood: checked by the LikelihoodUnavailable test")
    X = data.X_test
    half = len(X) // 2
    joined = np.concatenate([model.log_prob(X[:half]), model.log_prob(X[half:])])
    np.testing.assert_allclose(model.log_prob(X), joined, rtol=1e-10, atol=1e-10)


def test_public_methods_leave_the_model_unchanged(fitted):
    entry, model, data = fitted
    before = _snapshot(model)
    model.sample(5, random_state=0)
    model.sample(5)
    if entry.likelihood_kind is not None:
        model.log_prob(data.X_test)
        model.score(data.X_test)
    _assert_same_state(before, _snapshot(model))


def _assert_no_pickle(path: Path):
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    assert files
    for file in files:
        raw = file.read_bytes()
        assert not raw.startswith(b"\x80"), f"{file} starts like a pickle"
        assert not raw.startswith(b"PK"), f"{file} is a zip archive (torch.save format)"
        if file.suffix == ".safetensors":
            (header_len,) = struct.unpack("<Q", raw[:8])
            header = json.loads(raw[8 : 8 + header_len])
            dtypes = {v["dtype"] for k, v in header.items() if k != "__metadata__"}
            assert dtypes <= {"F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL"}


@pytest.mark.parametrize("as_file", [False, True], ids=["folder", "file"])
def test_save_load_round_trip_without_pickle(fitted, tmp_path, as_file):
    entry, model, data = fitted
    path = tmp_path / ("model.safetensors" if as_file else "run")
    model.save(path)
    _assert_no_pickle(path)
    loaded = genzoo.load(path)
    assert type(loaded) is type(model)
    assert loaded.get_params().keys() == model.get_params().keys()
    if entry.likelihood_kind is not None:
        np.testing.assert_array_equal(loaded.log_prob(data.X_test), model.log_prob(data.X_test))
    np.testing.assert_array_equal(loaded.sample(6, random_state=5), model.sample(6, random_state=5))


def test_clone_and_params_round_trip(fitted):
    _, model, _ = fitted
    params = model.get_params()
    twin = clone(model)
    assert twin.get_params().keys() == params.keys()
    for key, value in params.items():
        other = twin.get_params()[key]
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(other, value)
        else:
            assert other == value
    assert not any(k.endswith("_") and not k.startswith("_") for k in vars(twin))
    assert twin.set_params(random_state=123) is twin
    assert twin.random_state == 123


def test_unfitted_model_raises_not_fitted(fitted):
    entry, _, data = fitted
    model = genzoo.make(entry.name, **entry.test_params)
    with pytest.raises(NotFittedError):
        model.sample(3)
    if entry.likelihood_kind is not None:
        with pytest.raises(NotFittedError):
            model.log_prob(data.X_test)


def _bad_inputs(X: np.ndarray):
    nan, inf = X.copy(), X.copy()
    nan.flat[3] = np.nan
    inf.flat[5] = np.inf
    strings = np.array(X, dtype=object)
    strings.flat[0] = "a"
    return [
        ("NaN", nan, "NaN"),
        ("inf", inf, "infinity"),
        ("empty", X[:0], "empty"),
        ("strings", strings, "numeric"),
        ("text", "not data", "X"),
    ]


@pytest.mark.parametrize("case", ["NaN", "inf", "empty", "strings", "text"])
def test_bad_fit_input_raises_value_error_and_keeps_the_fit(fitted, case):
    entry, model, data = fitted
    ((_, X_bad, message),) = [b for b in _bad_inputs(data.X_train) if b[0] == case]
    before = _snapshot(model)
    with pytest.raises(ValueError, match=message):
        model.fit(X_bad)
    _assert_same_state(before, _snapshot(model))


def test_bad_log_prob_input(fitted):
    entry, model, data = fitted
    if entry.likelihood_kind is None:
        pytest.skip("no likelihood")
    X = data.X_test
    wrong = np.concatenate([X.reshape(len(X), -1), X.reshape(len(X), -1)[:, :1]], axis=1)
    with pytest.raises(ValueError, match="X has"):
        model.log_prob(wrong)
    nan = X.copy()
    nan.flat[0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.log_prob(nan)
    with pytest.raises(ValueError, match="empty"):
        model.log_prob(X[:0])


def test_bad_sample_count(fitted):
    _, model, _ = fitted
    for bad in (0, -1, 2.5, "3"):
        with pytest.raises(ValueError, match="n_samples"):
            model.sample(bad)


def test_labels_only_for_conditional_models(fitted):
    _, model, _ = fitted
    if not model.conditional:
        with pytest.raises(ValueError, match="not a conditional model"):
            model.sample(3, y=np.zeros(3, dtype=int))


def test_fewer_samples_than_components(fitted):
    entry, model, data = fitted
    k = model.get_params().get("n_components")
    if not isinstance(k, int) or k < 2:
        pytest.skip("the model has no n_components above 1")
    before = _snapshot(model)
    with pytest.raises(ValueError, match="n_components"):
        model.fit(data.X_train[: k - 1])
    _assert_same_state(before, _snapshot(model))


def test_dataframe_input_is_one_array(fitted):
    pd = pytest.importorskip("pandas")
    entry, model, data = fitted
    if entry.data_kind != "vectors":
        pytest.skip("DataFrames hold vectors")
    frame = pd.DataFrame(data.X_train, columns=[f"f{i}" for i in range(data.X_train.shape[1])])
    refit = clone(model).fit(frame)
    if entry.likelihood_kind is not None:
        test_frame = pd.DataFrame(data.X_test, columns=frame.columns)
        np.testing.assert_allclose(refit.log_prob(test_frame), refit.log_prob(data.X_test))


def test_torch_tensor_input_gives_numpy_output(fitted):
    entry, model, data = fitted
    if entry.likelihood_kind is None:
        pytest.skip("no likelihood")
    X = torch.as_tensor(data.X_test)
    np.testing.assert_allclose(model.log_prob(X), model.log_prob(data.X_test))


def test_invalid_constructor_argument_is_named(fitted):
    entry, _, data = fitted
    model = genzoo.make(entry.name, **entry.test_params)
    model.set_params(random_state="seed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="random_state"):
            model.fit(data.X_train)
