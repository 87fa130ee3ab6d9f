"""Saving and loading: safetensors plus JSON, never pickle, clear errors on bad files."""

from __future__ import annotations

import json
import pickle
import struct

import numpy as np
import pytest
from safetensors.numpy import save_file

import genzoo
from genzoo import GaussianMixture
from genzoo.io import FORMAT_VERSION, read_metadata


@pytest.fixture(scope="module")
def model():
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(size=(100, 2)), rng.normal(size=(100, 2)) + 5])
    return GaussianMixture(2, means_init=np.array([[0.0, 0.0], [5.0, 5.0]]), random_state=3).fit(X)


def _rewrite_metadata(path, edit):
    """Rewrite a saved file's JSON header with `edit(meta)` applied, keeping its tensors."""
    from safetensors import safe_open

    with safe_open(str(path), framework="np") as f:
        arrays = {k: f.get_tensor(k) for k in f.keys()}
        meta = json.loads(f.metadata()["genzoo"])
    arrays = edit(meta, arrays) or arrays
    save_file(arrays, str(path), metadata={"genzoo": json.dumps(meta)})


def test_array_params_and_metadata_round_trip(model, tmp_path):
    path = tmp_path / "gmm.safetensors"
    model.save(path)
    meta = read_metadata(path)
    assert meta["model"] == "gmm" and meta["format_version"] == FORMAT_VERSION
    assert meta["genzoo_version"] == genzoo.__version__
    loaded = genzoo.load(path)
    np.testing.assert_array_equal(loaded.means_init, model.means_init)
    assert loaded.random_state == 3 and loaded.converged_ == model.converged_
    assert loaded.lower_bounds_ == model.lower_bounds_


def test_newer_format_version_is_refused(model, tmp_path):
    path = tmp_path / "gmm.safetensors"
    model.save(path)
    _rewrite_metadata(path, lambda meta, arrays: meta.update(format_version=FORMAT_VERSION + 1))
    with pytest.raises(ValueError, match="newer|Upgrade genzoo"):
        genzoo.load(path)


def test_missing_tensor_is_named(model, tmp_path):
    path = tmp_path / "gmm.safetensors"
    model.save(path)
    _rewrite_metadata(
        path, lambda meta, arrays: {k: v for k, v in arrays.items() if k != "fitted.means_"}
    )
    with pytest.raises(ValueError, match="means_"):
        genzoo.load(path)


def test_unknown_model_name_is_refused(model, tmp_path):
    path = tmp_path / "gmm.safetensors"
    model.save(path)
    _rewrite_metadata(path, lambda meta, arrays: meta.update(model="os.system"))
    with pytest.raises(ValueError, match="unknown model"):
        genzoo.load(path)


def test_a_pickle_is_never_unpickled(tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.safetensors"
    path.write_bytes(pickle.dumps(Exploit()))
    with pytest.raises(ValueError, match="not a safetensors file"):
        genzoo.load(path)
    folder = tmp_path / "evil_run"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(pickle.dumps(Exploit()))
    with pytest.raises(ValueError):
        genzoo.load(folder)
    assert not marker.exists()


def test_plain_safetensors_without_genzoo_metadata(tmp_path):
    path = tmp_path / "plain.safetensors"
    save_file({"x": np.zeros(3)}, str(path))
    with pytest.raises(ValueError, match="not a saved genzoo model"):
        genzoo.load(path)


def test_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="no saved genzoo model"):
        genzoo.load(tmp_path / "nothing")


def test_saved_file_is_plain_safetensors(model, tmp_path):
    model.save(tmp_path / "run")
    raw = (tmp_path / "run" / "model.safetensors").read_bytes()
    (header_len,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + header_len])
    assert "genzoo" in header["__metadata__"]
    assert {v["dtype"] for k, v in header.items() if k != "__metadata__"} <= {"F64", "I64"}


def test_unfitted_model_cannot_be_saved(tmp_path):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        GaussianMixture(2).save(tmp_path / "x")


def _fitted_entry(meta) -> dict:
    return meta["fitted"]["__dict__"]


def _nested(depth: int):
    value = 1
    for _ in range(depth):
        value = {"__dict__": {"a": value}}
    return value


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda meta, arrays: _fitted_entry(meta).update(x=1), "'x' is not a fitted attribute"),
        # a fitted value named like a method, a dunder or a class setting must not replace it
        (lambda meta, arrays: _fitted_entry(meta).update(_log_prob=1), "'_log_prob' is not a"),
        (lambda meta, arrays: _fitted_entry(meta).update(score_=1), "'score_' is not a"),
        (lambda meta, arrays: _fitted_entry(meta).update(__class__=1), "'__class__' is not a"),
        (
            lambda meta, arrays: _fitted_entry(meta).update(
                _parameter_constraints={"__dict__": {}}
            ),
            "'_parameter_constraints' is not a",
        ),
        (lambda meta, arrays: meta["params"]["__dict__"].update(bogus=1), "no parameter 'bogus'"),
        (lambda meta, arrays: meta["params"]["__dict__"].update(n_components=0), "n_components"),
        (lambda meta, arrays: meta["params"].update(bogus=1), "malformed entry"),
        (lambda meta, arrays: meta.update(model=["gmm"]), "malformed 'model'"),
        (lambda meta, arrays: meta.update(fitted="means_"), "malformed 'fitted'"),
        (lambda meta, arrays: _fitted_entry(meta).update(means_={"__pickle__": 1}), "unrecognised"),
        (lambda meta, arrays: _fitted_entry(meta).update(n_iter_=_nested(40)), "nests deeper"),
        (
            lambda meta, arrays: arrays.update({"fitted.means_": np.zeros((5, 2))}),
            "n_components",
        ),
        (
            lambda meta, arrays: arrays.update({"fitted.means_": np.full((2, 2), np.nan)}),
            "NaN",
        ),
        (
            lambda meta, arrays: arrays.update({"fitted.means_": np.zeros((2, 2), np.int8)}),
            "dtype int8",
        ),
        (
            lambda meta, arrays: arrays.update({"fitted.weights_": np.array([np.inf, 0.0])}),
            "NaN or \\+inf",
        ),
    ],
    ids=[
        "unknown-name", "method-name", "public-method-name", "dunder", "constraints",
        "unknown-param", "bad-param", "extra-key", "model-name", "fitted-entry", "unknown-tag",
        "deep-nesting", "shape", "nan-tensor", "int8-tensor", "inf-tensor",
    ],
)  # fmt: skip
def test_crafted_files_give_value_errors(model, tmp_path, edit, message):
    path = tmp_path / "gmm.safetensors"
    model.save(path)
    _rewrite_metadata(path, edit)
    with pytest.raises(ValueError, match=message):
        genzoo.load(path)
    assert type(GaussianMixture._parameter_constraints) is dict  # the class is untouched


def test_truncated_file_is_named(model, tmp_path):
    path = tmp_path / "gmm.safetensors"
    model.save(path)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        genzoo.load(path)


def test_a_fault_during_save_keeps_the_old_file(model, tmp_path, monkeypatch):
    import genzoo.io

    path = tmp_path / "gmm.safetensors"
    model.save(path)
    before = path.read_bytes()

    def half_then_fail(arrays, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(before[: len(before) // 2])
        raise KeyboardInterrupt  # as if killed halfway through writing

    monkeypatch.setattr(genzoo.io, "save_file", half_then_fail)
    with pytest.raises(KeyboardInterrupt):
        GaussianMixture(3, random_state=0).fit(np.random.default_rng(0).normal(size=(30, 2))).save(
            path
        )
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gmm.safetensors"]
    assert genzoo.load(path).n_components == 2


def test_nested_fitted_models_round_trip(tmp_path):
    from genzoo import GenerativeClassifier

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 2)), np.repeat(["a", "b"], 30)
    clf = GenerativeClassifier(GaussianMixture(1), random_state=0).fit(X, y)
    clf.save(tmp_path / "clf")
    loaded = genzoo.load(tmp_path / "clf")
    assert [type(m) for m in loaded.estimators_] == [GaussianMixture, GaussianMixture]
    np.testing.assert_array_equal(loaded.log_prob(X, y), clf.log_prob(X, y))
    np.testing.assert_array_equal(loaded.classes_, clf.classes_)


def test_device_objects_are_saved_as_names(tmp_path):
    import torch

    rng = np.random.default_rng(1)
    fitted = GaussianMixture(2, device=torch.device("cpu"), random_state=0).fit(
        rng.normal(size=(50, 2))
    )
    fitted.save(tmp_path / "m")
    assert genzoo.load(tmp_path / "m").device == "cpu"
