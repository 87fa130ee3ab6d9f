"""Save and load models without pickle.

A saved model is one safetensors file: its tensors (fitted arrays, and array-valued constructor
arguments) plus a JSON document in the file's header holding the registry name, the
constructor's params, the fitted attributes (nested dicts, lists, strings and numbers, arrays
and tensors by reference, fitted sub-models with their own params and state), the genzoo
version and the file-format version. Loading parses JSON and raw tensors only, instantiates
only registered classes and restores only the attributes a class declares as fitted, so an
untrusted file cannot run code or replace a method. Files are written under a temporary name
and renamed into place, so an interrupted save leaves the old file or the new one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

from genzoo._files import atomic_write
from genzoo._version import __version__

__all__ = ["FORMAT_VERSION", "MODEL_FILE", "load", "read_metadata", "save"]

# 2: one recursive "fitted" entry; 1 (still read): "values" plus dotted "state" arrays.
FORMAT_VERSION = 2
MODEL_FILE = "model.safetensors"  # the file inside a saved folder
_META_KEY = "genzoo"
_MAX_DEPTH = 8  # nesting of dicts, lists and sub-models in a file


def _model_file(path: Path) -> Path:
    return path if path.suffix == ".safetensors" else path / MODEL_FILE


# --- JSON encoding of params and fitted values


def _encode(value, key: str, arrays: dict[str, np.ndarray], *, fitted: bool = False):
    """JSON-able form of `value`; arrays are moved into `arrays` and referenced by key.

    With `fitted`, a model inside `value` is written with its fitted state; otherwise (a
    constructor argument such as a meta-model's estimator) with its params only.
    """
    if isinstance(value, np.ndarray) and value.dtype.kind in "UO":
        # label arrays of strings or objects: safetensors holds numbers only
        items = value.tolist()
        if not all(v is None or isinstance(v, (bool, int, float, str)) for v in value.flat):
            raise TypeError(f"{key}: only arrays of numbers or strings can be saved")
        kind = "object" if value.dtype.kind == "O" else "str"
        return {"__strings__": {"items": items, "shape": list(value.shape), "dtype": kind}}
    if isinstance(value, np.ndarray):
        arrays[key] = np.ascontiguousarray(value)
        return {"__array__": key}
    if isinstance(value, torch.Tensor):
        arrays[key] = np.ascontiguousarray(value.detach().cpu().numpy())
        return {"__tensor__": key}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (tuple, list)):
        items = [_encode(v, f"{key}.{i}", arrays, fitted=fitted) for i, v in enumerate(value)]
        return {"__tuple__": items} if isinstance(value, tuple) else items
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError(f"{key}: only dicts with string keys can be saved")
        return {
            "__dict__": {
                k: _encode(v, f"{key}.{k}", arrays, fitted=fitted) for k, v in value.items()
            }
        }
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, torch.device):
        return str(value)
    if getattr(type(value), "_registry_name", None) and hasattr(value, "get_params"):
        spec = {
            "name": type(value)._registry_name,
            "params": _encode(value.get_params(deep=False), f"{key}.params", arrays),
        }
        if fitted and value._is_fitted():
            spec["fitted"] = _encode(value._fitted_state(), f"{key}.fitted", arrays, fitted=True)
        return {"__model__": spec}
    raise TypeError(f"{key}: a {type(value).__name__} cannot be saved")


class _Decoder:
    """Turns a file's JSON back into values: arrays and tensors by reference, sub-models
    rebuilt through the registry, nesting bounded."""

    def __init__(self, arrays: dict[str, np.ndarray], source: Path, device):
        self.arrays, self.source, self.device = arrays, source, device

    def __call__(self, value, depth: int = 0):
        if depth > _MAX_DEPTH:
            raise ValueError(f"{self.source}: its metadata nests deeper than {_MAX_DEPTH} levels.")
        if isinstance(value, list):
            return [self(v, depth + 1) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) != 1:
            raise ValueError(f"{self.source}: malformed entry {sorted(value)} in its metadata.")
        ((tag, spec),) = value.items()
        if tag in ("__array__", "__tensor__"):
            array = self._array(spec)
            return torch.tensor(array, device=self.device) if tag == "__tensor__" else array
        if tag == "__strings__" and isinstance(spec, dict):
            dtype = object if spec.get("dtype") == "object" else None
            return np.array(spec.get("items"), dtype=dtype).reshape(spec.get("shape"))
        if tag == "__model__" and isinstance(spec, dict):
            return self._model(spec, depth)
        if tag == "__tuple__" and isinstance(spec, list):
            return tuple(self(v, depth + 1) for v in spec)
        if tag == "__dict__" and isinstance(spec, dict):
            return {str(k): self(v, depth + 1) for k, v in spec.items()}
        raise ValueError(f"{self.source}: unrecognised entry {tag!r} in its metadata.")

    def _array(self, key) -> np.ndarray:
        if not isinstance(key, str) or key not in self.arrays:
            raise ValueError(f"{self.source} is missing tensor {key!r}; the file is incomplete.")
        return self.arrays[key]

    def _model(self, spec: dict, depth: int):
        model = _build(spec.get("name"), self(spec.get("params"), depth + 1), self.source)
        if "fitted" in spec:
            state = self(spec["fitted"], depth + 1)
            _restore(model, state, spec.get("name"), self.source)
        return model


def _build(name, params, source: Path):
    """A registered model from its name and params, the params checked by its constraints."""
    from genzoo.registry import make

    if not isinstance(params, dict):
        raise ValueError(f"{source}: its metadata has malformed params for {name!r}.")
    model = make(name, **params)  # unknown models and parameters are ValueErrors
    model._validate_params()
    return model


def _restore(model, state, name, source: Path) -> None:
    if not isinstance(state, dict):
        raise ValueError(f"{source}: the fitted state of {name!r} is malformed.")
    try:
        model._load_fitted(state)
    except (AttributeError, KeyError, TypeError, IndexError, RuntimeError, ValueError) as err:
        raise ValueError(f"{source}: the saved state does not fit {name}: {err}") from None


# --- public API


def save(model, path: str | os.PathLike) -> Path:
    """Write a fitted `model` to `path`: a folder, or one file if `path` ends in .safetensors.

    The file is written under a temporary name and renamed into place. Returns its path.
    """
    name = type(model)._registry_name
    if name is None:
        raise TypeError(f"{type(model).__name__} is not registered, so it cannot be loaded back")
    arrays: dict[str, np.ndarray] = {}
    meta = {
        "format_version": FORMAT_VERSION,
        "genzoo_version": __version__,
        "model": name,
        "params": _encode(model.get_params(deep=False), "param", arrays),
        "fitted": _encode(model._fitted_state(), "fitted", arrays, fitted=True),
    }
    target = _model_file(Path(path))
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(target) as temporary:
        save_file(arrays, str(temporary), metadata={_META_KEY: json.dumps(meta)})
    return target


def read_metadata(path: str | os.PathLike) -> dict:
    """Return the JSON metadata of a saved model without building it."""
    target = _model_file(Path(path))
    if not target.is_file():
        raise FileNotFoundError(f"no saved genzoo model at {path} (looked for {target}).")
    try:
        with safe_open(str(target), framework="np") as f:
            header = f.metadata() or {}
    except (SafetensorError, OSError) as err:
        raise ValueError(
            f"{target} is not a safetensors file, or it is truncated or corrupt: {err}"
        ) from None
    if _META_KEY not in header:
        raise ValueError(f"{target} is a safetensors file but not a saved genzoo model.")
    try:
        meta = json.loads(header[_META_KEY])
    except (json.JSONDecodeError, RecursionError) as err:
        raise ValueError(f"{target}: its genzoo metadata is not valid JSON ({err}).") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{target}: its genzoo metadata is malformed.")
    version = meta.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version > FORMAT_VERSION:
        raise ValueError(
            f"{target} was written in genzoo file format {version} by genzoo "
            f"{meta.get('genzoo_version')}; this genzoo ({__version__}) reads format "
            f"{FORMAT_VERSION} and older. Upgrade genzoo to load it."
        )
    expected = {"model": str, "params": dict}
    if version == 1:
        expected |= {"values": (dict, type(None)), "state": list}
    else:
        expected |= {"fitted": dict}
    for key, kind in expected.items():
        if not isinstance(meta.get(key), kind):
            raise ValueError(f"{target}: its genzoo metadata has a malformed {key!r} entry.")
    return meta


def load(path: str | os.PathLike):
    """Rebuild a model written by `save`; never unpickles.

    Only registered classes are built, their params pass the constraints, and only the
    attributes the class declares as fitted are restored, checked for dtype and NaN.
    """
    meta = read_metadata(path)
    target = _model_file(Path(path))
    try:
        with safe_open(str(target), framework="np") as f:
            arrays = {key: f.get_tensor(key) for key in f.keys()}
    except (SafetensorError, OSError) as err:
        raise ValueError(f"{target}: its tensors cannot be read (truncated?): {err}") from None
    decode = _Decoder(arrays, target, device=None)
    model = _build(meta["model"], decode(meta["params"]), target)
    decode.device = model._device()
    if meta["format_version"] == 1:
        state = _legacy_state(model, meta, arrays, decode, target)
    else:
        state = decode(meta["fitted"])
    _restore(model, state, meta["model"], target)
    return model


def _legacy_state(model, meta: dict, arrays: dict, decode, target: Path) -> dict:
    """The fitted attributes of a format-1 file: "values" plus arrays named state.<name>."""
    missing = [k for k in meta["state"] if f"state.{k}" not in arrays]
    if missing:
        raise ValueError(
            f"{target} is missing tensor(s) {', '.join(map(repr, missing))}; the file is "
            "incomplete or was edited."
        )
    values = decode(meta["values"]) or {}
    state = {k: arrays[f"state.{k}"] for k in meta["state"]}
    try:
        return model._from_legacy_state(state, values)
    except (AttributeError, KeyError, TypeError, IndexError, ValueError) as err:
        raise ValueError(
            f"{target}: its format-1 state does not fit {meta['model']}: {err}"
        ) from None
