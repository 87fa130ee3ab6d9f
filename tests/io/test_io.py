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
        path, lambda meta, arrays: {k: v for k, v in arrays.items() if k != "state.means_"}
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


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda meta, arrays: meta.update(values={"__dict__": {"x": 1}}), "not a valid fitted"),
        (lambda meta, arrays: meta["params"]["__dict__"].update(bogus=1), "no parameter 'bogus'"),
        (lambda meta, arrays: meta["params"]["__dict__"].update(n_components=0), "n_components"),
        (lambda meta, arrays: meta["params"].update(bogus=1), "malformed entry"),
        (lambda meta, arrays: meta.update(model=["gmm"]), "malformed 'model'"),
        (lambda meta, arrays: meta.update(state="means_"), "malformed 'state'"),
        (
            lambda meta, arrays: arrays.update({"state.means_": np.zeros((5, 2))}),
            "n_components",
        ),
    ],
    ids=["dunder", "unknown-param", "bad-param", "extra-key", "model-name", "state-list", "shape"],
)
def test_crafted_files_give_value_errors(model, tmp_path, edit, message):
    path = tmp_path / "gmm.safetensors"
    model.save(path)
    _rewrite_metadata(path, edit)
    with pytest.raises(ValueError, match=message):
        genzoo.load(path)


def test_device_objects_are_saved_as_names(tmp_path):
    import torch

    rng = np.random.default_rng(1)
    fitted = GaussianMixture(2, device=torch.device("cpu"), random_state=0).fit(
        rng.normal(size=(50, 2))
    )
    fitted.save(tmp_path / "m")
    assert genzoo.load(tmp_path / "m").device == "cpu"
